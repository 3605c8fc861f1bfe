// SPDX-License-Identifier: LGPL-2.1-or-later
//! The lists read from a module's file: its modinfo records (`kmod_module_get_info`), the
//! symbol versions it was built against (`_get_versions`), the symbols it exports
//! (`_get_symbols`) and the symbols it needs (`_get_dependency_symbols`), each with its entry
//! accessors and free function. What goes in each list, and every error, is kmodcore's.
//!
//! As in kmod, each function takes an empty list pointer and returns the number of entries or
//! a negative errno; accessors give NULL (or 0) for a NULL entry. kmod `assert`s that the list
//! pointer is empty; rkmod returns `-EINVAL` instead of aborting the caller.

use std::ffi::{c_char, c_int, CString};
use std::os::unix::ffi::OsStrExt;
use std::ptr;

use kmodcore::depmod::symbols::dependency_symbols;
use kmodcore::kernel::Errno;
use kmodcore::module::info::{module_details, InfoEntry};
use kmodcore::module::symbols::{exports, modversions};
use kmodcore::module::ModuleFile;

use crate::ctx::Ctx;
use crate::list::{self, KmodList};
use crate::module::{parts, Module};
use crate::{c_string, error_errno, guard, neg};

/// One modinfo record.
struct Info {
    key: CString,
    value: CString,
}

/// A symbol with a CRC (a version record or an export).
struct Symbol {
    crc: u64,
    name: CString,
}

/// A symbol the module needs.
struct DependencySymbol {
    crc: u64,
    /// kmod's `enum kmod_symbol_bind`: `'U'` or `'W'`.
    bind: u8,
    name: CString,
}

/// kmod's `KMOD_SYMBOL_UNDEF` and `KMOD_SYMBOL_WEAK`.
const BIND_UNDEF: u8 = b'U';
const BIND_WEAK: u8 = b'W';

/// Opens the module's file (`-ENOENT` when it has none).
fn open_file(m: &Module, c: &Ctx) -> Result<ModuleFile, c_int> {
    let path = m.path(c).ok_or(neg(Errno::ENOENT))?;
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path.as_bytes()));
    ModuleFile::open(path).map_err(|e| error_errno(&e))
}

/// The shared part of the four list functions: kmod's `-ENOENT` for NULL arguments, the
/// empty-list check, then `read` with the module and its context; its items become the list.
///
/// # Safety
/// `module` is NULL or live; `out` is NULL or valid.
unsafe fn fill<T>(
    module: *const Module,
    out: *mut *mut KmodList,
    read: impl FnOnce(&Module, &Ctx) -> Result<Vec<T>, c_int>,
) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return neg(Errno::ENOENT);
        };
        if out.is_null() {
            return neg(Errno::ENOENT);
        }
        // SAFETY: non-NULL and valid.
        if unsafe { !(*out).is_null() } {
            return neg(Errno::EINVAL);
        }
        match read(m, c) {
            Ok(items) => {
                let count = c_int::try_from(items.len()).unwrap_or(c_int::MAX);
                // SAFETY: non-NULL and valid.
                unsafe { *out = list::from_boxed(items) };
                count
            }
            Err(errno) => errno,
        }
    })
}

/// The module's modinfo list: for a builtin module its records in modules.builtin.modinfo,
/// else its file's `.modinfo` records, build-id and signature fields, in kmod's order.
fn info_entries(m: &Module, c: &Ctx) -> Result<Vec<InfoEntry>, c_int> {
    let builtin = c.resolver().is_builtin(m.id).unwrap_or(false);
    if builtin {
        let records = c.resolver().module_dir().builtin_modinfo(m.name.as_bytes());
        return match records {
            Ok(Some(records)) => Ok(records),
            Ok(None) => Err(neg(Errno::ENOENT)),
            Err(e) => Err(error_errno(&e)),
        };
    }
    let file = open_file(m, c)?;
    let elf = file.elf_or_errno().map_err(|errno| -errno)?;
    if !elf.has_modinfo() {
        return Err(neg(Errno::ENODATA));
    }
    Ok(module_details(&elf, file.contents()).entries())
}

/// `kmod_module_get_info`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_info(
    module: *const Module,
    out: *mut *mut KmodList,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe {
        fill(module, out, |m, c| {
            let entries = info_entries(m, c)?;
            Ok(entries
                .into_iter()
                .map(|entry| Info {
                    key: c_string(&entry.key),
                    value: c_string(&entry.value),
                })
                .collect())
        })
    }
}

/// `kmod_module_info_get_key`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_info_get_key(entry: *const KmodList) -> *const c_char {
    // SAFETY: NULL or an entry of an info list.
    guard(ptr::null(), || {
        unsafe { list::boxed::<Info>(entry) }.map_or(ptr::null(), |i| i.key.as_ptr())
    })
}

/// `kmod_module_info_get_value`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_info_get_value(entry: *const KmodList) -> *const c_char {
    // SAFETY: NULL or an entry of an info list.
    guard(ptr::null(), || {
        unsafe { list::boxed::<Info>(entry) }.map_or(ptr::null(), |i| i.value.as_ptr())
    })
}

/// `kmod_module_info_free_list`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_info_free_list(list: *mut KmodList) {
    // SAFETY: NULL or an info list.
    guard((), || unsafe { list::free_boxed::<Info>(list) })
}

/// Turns kmodcore's `(crc, name)` pairs into list items.
fn symbols(pairs: Vec<(u64, Vec<u8>)>) -> Vec<Symbol> {
    pairs
        .into_iter()
        .map(|(crc, name)| Symbol {
            crc,
            name: c_string(&name),
        })
        .collect()
}

/// `kmod_module_get_versions`: the `__versions` records.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_versions(
    module: *const Module,
    out: *mut *mut KmodList,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe {
        fill(module, out, |m, c| {
            let file = open_file(m, c)?;
            let elf = file.elf_or_errno().map_err(|errno| -errno)?;
            modversions(&elf).map(symbols).map_err(neg)
        })
    }
}

/// `kmod_module_version_get_symbol`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_version_get_symbol(entry: *const KmodList) -> *const c_char {
    // SAFETY: NULL or an entry of a versions list.
    guard(ptr::null(), || {
        unsafe { list::boxed::<Symbol>(entry) }.map_or(ptr::null(), |s| s.name.as_ptr())
    })
}

/// `kmod_module_version_get_crc`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_version_get_crc(entry: *const KmodList) -> u64 {
    // SAFETY: NULL or an entry of a versions list.
    guard(0, || {
        unsafe { list::boxed::<Symbol>(entry) }.map_or(0, |s| s.crc)
    })
}

/// `kmod_module_versions_free_list`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_versions_free_list(list: *mut KmodList) {
    // SAFETY: NULL or a versions list.
    guard((), || unsafe { list::free_boxed::<Symbol>(list) })
}

/// `kmod_module_get_symbols`: the symbols the module exports.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_symbols(
    module: *const Module,
    out: *mut *mut KmodList,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe {
        fill(module, out, |m, c| {
            let file = open_file(m, c)?;
            let elf = file.elf_or_errno().map_err(|errno| -errno)?;
            exports(&elf).map(symbols).map_err(neg)
        })
    }
}

/// `kmod_module_symbol_get_symbol`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_symbol_get_symbol(entry: *const KmodList) -> *const c_char {
    // SAFETY: NULL or an entry of a symbols list.
    guard(ptr::null(), || {
        unsafe { list::boxed::<Symbol>(entry) }.map_or(ptr::null(), |s| s.name.as_ptr())
    })
}

/// `kmod_module_symbol_get_crc`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_symbol_get_crc(entry: *const KmodList) -> u64 {
    // SAFETY: NULL or an entry of a symbols list.
    guard(0, || {
        unsafe { list::boxed::<Symbol>(entry) }.map_or(0, |s| s.crc)
    })
}

/// `kmod_module_symbols_free_list`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_symbols_free_list(list: *mut KmodList) {
    // SAFETY: NULL or a symbols list.
    guard((), || unsafe { list::free_boxed::<Symbol>(list) })
}

/// `kmod_module_get_dependency_symbols`: the symbols the module needs, with the CRC it was
/// built against and whether the reference is weak.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_dependency_symbols(
    module: *const Module,
    out: *mut *mut KmodList,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe {
        fill(module, out, |m, c| {
            let file = open_file(m, c)?;
            let needed = dependency_symbols(file.contents()).map_err(|errno| -errno)?;
            Ok(needed
                .into_iter()
                .map(|symbol| DependencySymbol {
                    crc: symbol.crc,
                    bind: if symbol.weak { BIND_WEAK } else { BIND_UNDEF },
                    name: c_string(&symbol.name),
                })
                .collect())
        })
    }
}

/// `kmod_module_dependency_symbol_get_symbol`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_dependency_symbol_get_symbol(
    entry: *const KmodList,
) -> *const c_char {
    // SAFETY: NULL or an entry of a dependency-symbols list.
    guard(ptr::null(), || {
        unsafe { list::boxed::<DependencySymbol>(entry) }.map_or(ptr::null(), |s| s.name.as_ptr())
    })
}

/// `kmod_module_dependency_symbol_get_crc`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_dependency_symbol_get_crc(entry: *const KmodList) -> u64 {
    // SAFETY: NULL or an entry of a dependency-symbols list.
    guard(0, || {
        unsafe { list::boxed::<DependencySymbol>(entry) }.map_or(0, |s| s.crc)
    })
}

/// `kmod_module_dependency_symbol_get_bind`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_dependency_symbol_get_bind(entry: *const KmodList) -> c_int {
    // SAFETY: NULL or an entry of a dependency-symbols list.
    guard(0, || {
        unsafe { list::boxed::<DependencySymbol>(entry) }.map_or(0, |s| c_int::from(s.bind))
    })
}

/// `kmod_module_dependency_symbols_free_list`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_dependency_symbols_free_list(list: *mut KmodList) {
    // SAFETY: NULL or a dependency-symbols list.
    guard((), || unsafe { list::free_boxed::<DependencySymbol>(list) })
}
