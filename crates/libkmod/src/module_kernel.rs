// SPDX-License-Identifier: LGPL-2.1-or-later
//! A module in the running kernel: loading it (`kmod_module_insert_module`), unloading it
//! (`kmod_module_remove_module`) and the addresses of its sections (`kmod_module_get_sections`).
//! The system calls and the reading of `/sys` are kmodcore's.

use std::ffi::{c_char, c_int, c_uint, c_ulong, CString};
use std::os::unix::ffi::OsStrExt;
use std::ptr;

use kmodcore::fs::strerror;
use kmodcore::kernel::{self, DeleteFlags, Errno, InsertFlags, KernelError};

use crate::list::{self, KmodList};
use crate::log::{LOG_ERR, LOG_INFO};
use crate::module::{parts, Module};
use crate::{c_string, guard, neg};

/// `KMOD_INSERT_FORCE_VERMAGIC` and `KMOD_INSERT_FORCE_MODVERSION`.
const INSERT_FORCE_VERMAGIC: c_uint = 0x1;
const INSERT_FORCE_MODVERSION: c_uint = 0x2;
/// `KMOD_REMOVE_FORCE` (`O_TRUNC`) and `KMOD_REMOVE_NOLOG`.
const REMOVE_FORCE: c_uint = 0o1000;
const REMOVE_NOLOG: c_uint = 0x1;

/// `kmod_module_insert_module`: loads the module's file with `options`, through
/// `finit_module` when the kernel can read the file as it is, else `init_module`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_insert_module(
    module: *mut Module,
    flags: c_uint,
    options: *const c_char,
) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return neg(Errno::ENOENT);
        };
        let Some(path) = m.path(c) else {
            let name = String::from_utf8_lossy(m.name.as_bytes());
            let message = format!("could not find module by name='{name}'");
            c.log(LOG_ERR, "kmod_module_insert_module", &message);
            return neg(Errno::ENOENT);
        };
        // SAFETY: NULL or a C string.
        let params = unsafe { crate::c_bytes(options) }.unwrap_or_default();
        let force = InsertFlags {
            force_vermagic: flags & INSERT_FORCE_VERMAGIC != 0,
            force_modversion: flags & INSERT_FORCE_MODVERSION != 0,
        };
        let file = std::path::Path::new(std::ffi::OsStr::from_bytes(path.as_bytes()));
        match kernel::insert_module(c.kernel(), file, params, force) {
            Ok(_) => 0,
            Err(error) => {
                let errno = error.errno();
                if let KernelError::Strip { .. } = error {
                    let message =
                        format!("Failed to strip version information: {}", strerror(errno));
                    c.log(LOG_ERR, "do_init_module", &message);
                }
                let message = format!(
                    "Failed to insert module '{}': {}",
                    file.display(),
                    strerror(errno)
                );
                c.log(LOG_INFO, "kmod_module_insert_module", &message);
                -errno
            }
        }
    })
}

/// `kmod_module_remove_module`: unloads the module without waiting (`KMOD_REMOVE_NOWAIT` is
/// always on, as in kmod); `KMOD_REMOVE_FORCE` forces, `KMOD_REMOVE_NOLOG` keeps a failure
/// out of the log.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_remove_module(module: *mut Module, flags: c_uint) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return neg(Errno::ENOENT);
        };
        let force = DeleteFlags {
            force: flags & REMOVE_FORCE != 0,
        };
        match kernel::remove_module(c.kernel(), m.name.as_bytes(), force) {
            Ok(()) => 0,
            Err(error) => {
                let errno = error.errno();
                if flags & REMOVE_NOLOG == 0 {
                    let name = String::from_utf8_lossy(m.name.as_bytes());
                    let message = format!("could not remove '{name}': {}", strerror(errno));
                    c.log(LOG_ERR, "kmod_module_remove_module", &message);
                }
                -errno
            }
        }
    })
}

/// One section of a loaded module.
struct Section {
    address: c_ulong,
    name: CString,
}

/// `kmod_module_get_sections`: the loaded module's sections and addresses, NULL (and a log
/// line naming the file) when they cannot be read.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_sections(module: *const Module) -> *mut KmodList {
    guard(ptr::null_mut(), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return ptr::null_mut();
        };
        match c.kernel().sections(m.name.as_bytes()) {
            Ok(sections) => list::from_boxed(sections.into_iter().map(|s| Section {
                address: s.address,
                name: c_string(&s.name),
            })),
            Err(error) => {
                c.log(LOG_ERR, "kmod_module_get_sections", &error.to_string());
                ptr::null_mut()
            }
        }
    })
}

/// `kmod_module_section_get_name`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_section_get_name(entry: *const KmodList) -> *const c_char {
    // SAFETY: NULL or an entry of a sections list.
    guard(ptr::null(), || {
        unsafe { list::boxed::<Section>(entry) }.map_or(ptr::null(), |s| s.name.as_ptr())
    })
}

/// `kmod_module_section_get_address`: `(unsigned long)-1` for a NULL entry.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_section_get_address(entry: *const KmodList) -> c_ulong {
    // SAFETY: NULL or an entry of a sections list.
    guard(c_ulong::MAX, || {
        unsafe { list::boxed::<Section>(entry) }.map_or(c_ulong::MAX, |s| s.address)
    })
}

/// `kmod_module_section_free_list`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_section_free_list(list: *mut KmodList) {
    // SAFETY: NULL or a sections list.
    guard((), || unsafe { list::free_boxed::<Section>(list) })
}
