// SPDX-License-Identifier: LGPL-2.1-or-later
//! `struct kmod_ctx`: a module directory, its configuration, kmodcore's resolver over them,
//! the pool of live module objects, and the context's logging.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;

use kmodcore::config::Config;
use kmodcore::kernel::real::NixKernel;
use kmodcore::moddir::ModuleDir;
use kmodcore::resolve::{ModId, Resolver};

use crate::log::{self, LogFn, Sink};
use crate::module::Module;

/// A library context.
pub struct Ctx {
    refcount: Cell<u32>,
    /// Borrows `config` and `dir`, which are boxed and outlive it: it is declared first, so it
    /// is dropped first.
    resolver: RefCell<Resolver<'static>>,
    config: Box<Config>,
    dir: Box<ModuleDir>,
    dirname: CString,
    kernel: NixKernel,
    /// The live module objects by record (kmod's pool): one object per record while any
    /// reference to it lasts.
    pool: RefCell<HashMap<ModId, *mut Module>>,
    sink: Cell<Sink>,
    priority: Cell<c_int>,
    userdata: Cell<*const c_void>,
}

impl Ctx {
    /// The resolver, borrowed for one call.
    pub(crate) fn resolver(&self) -> std::cell::RefMut<'_, Resolver<'static>> {
        self.resolver.borrow_mut()
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The kernel.
    pub(crate) fn kernel(&self) -> &NixKernel {
        &self.kernel
    }

    /// The pool of live module objects.
    pub(crate) fn pool(&self) -> &RefCell<HashMap<ModId, *mut Module>> {
        &self.pool
    }

    /// Logs `message` from libkmod function `func` at `priority`, if the context's priority
    /// lets it through.
    pub(crate) fn log(&self, priority: c_int, func: &str, message: &str) {
        if priority <= self.priority.get() {
            log::emit(self.sink.get(), priority, func, message);
        }
    }

    /// Logs the problems the resolver noted since the last call.
    pub(crate) fn log_notices(&self) {
        let notices = self.resolver().take_notices();
        for notice in notices {
            self.log(log::LOG_ERR, notice.kmod_function(), &notice.message());
        }
    }

    /// Takes one more reference.
    pub(crate) fn take_ref(&self) {
        self.refcount.set(self.refcount.get().saturating_add(1));
    }
}

/// The directory `kmod_new` uses: `dirname` as given, or /lib/modules/RELEASE.
fn module_directory(dirname: Option<&[u8]>) -> Option<PathBuf> {
    if let Some(dirname) = dirname {
        return Some(PathBuf::from(std::ffi::OsStr::from_bytes(dirname)));
    }
    let release = nix::sys::utsname::uname().ok()?.release().to_os_string();
    Some(Path::new(kmodcore::layout::MODULE_DIRECTORY).join(release))
}

/// `kmod_new`.
#[no_mangle]
pub unsafe extern "C" fn kmod_new(
    dirname: *const c_char,
    config_paths: *const *const c_char,
) -> *mut Ctx {
    crate::guard(ptr::null_mut(), || {
        // SAFETY: NULL or a C string (kmod's contract).
        let dirname = unsafe { crate::c_bytes(dirname) };
        let Some(dir_path) = module_directory(dirname) else {
            return ptr::null_mut();
        };
        let mut paths = Vec::new();
        if !config_paths.is_null() {
            let mut i = 0;
            loop {
                // SAFETY: a NULL-terminated array of C strings (kmod's contract).
                let entry = unsafe { *config_paths.add(i) };
                // SAFETY: as above.
                let Some(path) = (unsafe { crate::c_bytes(entry) }) else {
                    break;
                };
                paths.push(PathBuf::from(std::ffi::OsStr::from_bytes(path)));
                i += 1;
            }
        }
        let sink = Sink::Stderr;
        let mut priority = log::LOG_ERR;
        if let Some(env) = std::env::var_os("KMOD_LOG") {
            priority = log::parse_priority(env.as_bytes());
        }
        // kmod without config paths reads its default directories; with an empty array, none.
        let (config, warnings) = if config_paths.is_null() {
            kmodcore::resolve::load_config(&dir_path, &[], Path::new("/"))
        } else if paths.is_empty() {
            kmodcore::resolve::load_config(
                &dir_path,
                &[PathBuf::from("/nonexistent/rkmod-no-config")],
                Path::new("/"),
            )
        } else {
            kmodcore::resolve::load_config(&dir_path, &paths, Path::new("/"))
        };
        let config = Box::new(config);
        let dir = Box::new(ModuleDir::new(&dir_path));
        // SAFETY: both boxes are owned by the context and never moved out or replaced while
        // it lives; the resolver, declared first, is dropped before them.
        let (config_ref, dir_ref): (&'static Config, &'static ModuleDir) =
            unsafe { (&*(&*config as *const Config), &*(&*dir as *const ModuleDir)) };
        let ctx = Box::new(Ctx {
            refcount: Cell::new(1),
            resolver: RefCell::new(Resolver::new(dir_ref, config_ref)),
            config,
            dir,
            dirname: CString::new(dir_path.as_os_str().as_bytes()).unwrap_or_default(),
            kernel: NixKernel::new(),
            pool: RefCell::new(HashMap::new()),
            sink: Cell::new(sink),
            priority: Cell::new(priority),
            userdata: Cell::new(ptr::null()),
        });
        for warning in warnings {
            ctx.log(log::LOG_ERR, "kmod_config_parse", &warning.to_string());
        }
        Box::into_raw(ctx)
    })
}

/// The context behind a pointer.
///
/// # Safety
/// `ctx` is NULL or a live context.
pub(crate) unsafe fn ctx_ref<'a>(ctx: *const Ctx) -> Option<&'a Ctx> {
    // SAFETY: the caller's contract.
    unsafe { ctx.as_ref() }
}

/// Drops one reference; frees the context with the last.
///
/// # Safety
/// `ctx` is a live context, not used by the caller afterwards when this returns true.
pub(crate) unsafe fn release(ctx: *mut Ctx) -> bool {
    // SAFETY: live, by the contract.
    let Some(c) = (unsafe { ctx.as_ref() }) else {
        return false;
    };
    let count = c.refcount.get().saturating_sub(1);
    c.refcount.set(count);
    if count > 0 {
        return false;
    }
    // SAFETY: made by Box::into_raw in kmod_new; this was the last reference.
    drop(unsafe { Box::from_raw(ctx) });
    true
}

/// `kmod_ref`.
#[no_mangle]
pub unsafe extern "C" fn kmod_ref(ctx: *mut Ctx) -> *mut Ctx {
    crate::guard(ptr::null_mut(), || {
        // SAFETY: NULL or live.
        if let Some(c) = unsafe { ctx_ref(ctx) } {
            c.take_ref();
        }
        ctx
    })
}

/// `kmod_unref`.
#[no_mangle]
pub unsafe extern "C" fn kmod_unref(ctx: *mut Ctx) -> *mut Ctx {
    crate::guard(ptr::null_mut(), || {
        // SAFETY: NULL or live; not used after the last reference.
        if ctx.is_null() || unsafe { release(ctx) } {
            ptr::null_mut()
        } else {
            ctx
        }
    })
}

/// `kmod_set_userdata`.
#[no_mangle]
pub unsafe extern "C" fn kmod_set_userdata(ctx: *mut Ctx, userdata: *const c_void) {
    // SAFETY: NULL or live.
    crate::guard((), || {
        if let Some(c) = unsafe { ctx_ref(ctx) } {
            c.userdata.set(userdata);
        }
    })
}

/// `kmod_get_userdata`.
#[no_mangle]
pub unsafe extern "C" fn kmod_get_userdata(ctx: *const Ctx) -> *mut c_void {
    // SAFETY: NULL or live.
    crate::guard(ptr::null_mut(), || match unsafe { ctx_ref(ctx) } {
        Some(c) => c.userdata.get().cast_mut(),
        None => ptr::null_mut(),
    })
}

/// `kmod_set_log_priority`.
#[no_mangle]
pub unsafe extern "C" fn kmod_set_log_priority(ctx: *mut Ctx, priority: c_int) {
    // SAFETY: NULL or live.
    crate::guard((), || {
        if let Some(c) = unsafe { ctx_ref(ctx) } {
            c.priority.set(priority);
        }
    })
}

/// `kmod_get_log_priority`.
#[no_mangle]
pub unsafe extern "C" fn kmod_get_log_priority(ctx: *const Ctx) -> c_int {
    // SAFETY: NULL or live.
    crate::guard(-1, || match unsafe { ctx_ref(ctx) } {
        Some(c) => c.priority.get(),
        None => -1,
    })
}

/// `kmod_set_log_fn`.
#[no_mangle]
pub unsafe extern "C" fn kmod_set_log_fn(
    ctx: *mut Ctx,
    log_fn: Option<LogFn>,
    data: *const c_void,
) {
    // SAFETY: NULL or live.
    crate::guard((), || {
        if let Some(c) = unsafe { ctx_ref(ctx) } {
            c.sink.set(match log_fn {
                Some(f) => Sink::Client(f, data.cast_mut()),
                None => Sink::Discard,
            });
        }
    })
}

/// `kmod_get_dirname`.
#[no_mangle]
pub unsafe extern "C" fn kmod_get_dirname(ctx: *const Ctx) -> *const c_char {
    // SAFETY: NULL or live.
    crate::guard(ptr::null(), || match unsafe { ctx_ref(ctx) } {
        Some(c) => c.dirname.as_ptr(),
        None => ptr::null(),
    })
}

/// `kmod_load_resources`: opens every index now.
#[no_mangle]
pub unsafe extern "C" fn kmod_load_resources(ctx: *mut Ctx) -> c_int {
    // SAFETY: NULL or live.
    crate::guard(-(kmodcore::kernel::Errno::ENOMEM as c_int), || {
        let Some(c) = (unsafe { ctx_ref(ctx) }) else {
            return -(kmodcore::kernel::Errno::ENOENT as c_int);
        };
        c.dir.open_all();
        0
    })
}
