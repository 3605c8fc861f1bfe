// SPDX-License-Identifier: LGPL-2.1-or-later
//! `struct kmod_ctx`: a module directory, its configuration, kmodcore's resolver over them,
//! the pool of live module objects, and the context's logging.

use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;

use kmodcore::config::Config;
use kmodcore::kernel::real::NixKernel;
use kmodcore::kernel::Errno;
use kmodcore::moddir::{IndexKind, ModuleDir};
use kmodcore::resolve::{ModId, Resolver};
use kmodcore::stamp::ConfigStamps;

use crate::log::{self, LogFn, Sink};
use crate::module::Module;

/// Counts a running probe off when it ends, panicking or not.
struct ProbeRunning<'a>(&'a Cell<u32>);

impl Drop for ProbeRunning<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// A library context.
pub struct Ctx {
    refcount: Cell<u32>,
    /// Borrows `config` and `dir`, which are boxed and outlive it: it is declared first, so it
    /// is dropped first.
    resolver: RefCell<Resolver<'static>>,
    config: Box<Config>,
    /// Replaced only by [`Ctx::unload`], which points the resolver at the new box first.
    dir: RefCell<Box<ModuleDir>>,
    /// The configuration paths read, for `kmod_validate_resources`.
    config_stamps: ConfigStamps,
    dirname: CString,
    kernel: NixKernel,
    /// The live module objects by record (kmod's pool): one object per record while any
    /// reference to it lasts.
    pool: RefCell<FxHashMap<ModId, *mut Module>>,
    /// How many probes are running (a callback may start another). While one is, no record
    /// is freed or forgotten: the runs hold their ids.
    probes: Cell<u32>,
    sink: Cell<Sink>,
    priority: Cell<c_int>,
    userdata: Cell<*const c_void>,
}

impl Ctx {
    /// The resolver, borrowed for one call.
    pub(crate) fn resolver(&self) -> std::cell::RefMut<'_, Resolver<'static>> {
        self.resolver.borrow_mut()
    }

    /// The resolver, unless a call further up the stack is using it (a callback calling back
    /// into the library).
    pub(crate) fn resolver_if_idle(
        &self,
    ) -> Result<std::cell::RefMut<'_, Resolver<'static>>, std::cell::BorrowMutError> {
        self.resolver.try_borrow_mut()
    }

    /// Runs `probe` with the resolver lent to it, for kmodcore's probe to borrow one question
    /// at a time (`probe::Lend`): the probe's callbacks may call back into the library
    /// between its questions. The records stay pinned until `probe` returns.
    pub(crate) fn lend_to_probe<T>(
        &self,
        probe: impl FnOnce(&RefCell<Resolver<'static>>) -> T,
    ) -> T {
        self.probes.set(self.probes.get().saturating_add(1));
        let _running = ProbeRunning(&self.probes);
        probe(&self.resolver)
    }

    /// Whether records must be kept: a probe is running and holds their ids.
    pub(crate) fn records_pinned(&self) -> bool {
        self.probes.get() > 0
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
    pub(crate) fn pool(&self) -> &RefCell<FxHashMap<ModId, *mut Module>> {
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

    /// Closes the indexes (`kmod_unload_resources`): the resolver moves to a fresh
    /// [`ModuleDir`] for the same directory, which opens each index again when a lookup needs
    /// it. Nothing happens while a probe runs (a probe callback calling back in).
    pub(crate) fn unload(&self) {
        if self.records_pinned() {
            return;
        }
        let Ok(mut resolver) = self.resolver.try_borrow_mut() else {
            return;
        };
        let Ok(mut dir) = self.dir.try_borrow_mut() else {
            return;
        };
        let fresh = Box::new(ModuleDir::new(dir.path()).with_mapped_indexes());
        // SAFETY: the box is owned by the context from the line after next until it is
        // replaced here again or the context is dropped (after the resolver, declared first);
        // the resolver stops using the old box before it is dropped below.
        let fresh_ref: &'static ModuleDir = unsafe { &*(&*fresh as *const ModuleDir) };
        resolver.set_module_dir(fresh_ref);
        let old = std::mem::replace(&mut *dir, fresh);
        drop(resolver);
        drop(old);
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
        let watched: Vec<PathBuf> = if config_paths.is_null() {
            kmodcore::config::DEFAULT_CONFIG_DIRS
                .iter()
                .map(PathBuf::from)
                .collect()
        } else {
            paths.clone()
        };
        let config_stamps = ConfigStamps::take(&watched);
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
        let dir = Box::new(ModuleDir::new(&dir_path).with_mapped_indexes());
        // SAFETY: both boxes are owned by the context and never moved out or replaced while
        // it lives; the resolver, declared first, is dropped before them.
        let (config_ref, dir_ref): (&'static Config, &'static ModuleDir) =
            unsafe { (&*(&*config as *const Config), &*(&*dir as *const ModuleDir)) };
        let ctx = Box::new(Ctx {
            refcount: Cell::new(1),
            resolver: RefCell::new(Resolver::new(dir_ref, config_ref)),
            config,
            dir: RefCell::new(dir),
            config_stamps,
            dirname: CString::new(dir_path.as_os_str().as_bytes()).unwrap_or_default(),
            kernel: NixKernel::new(),
            pool: RefCell::new(FxHashMap::default()),
            probes: Cell::new(0),
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

/// `kmod_load_resources`: opens every index now. As kmod, it fails with the first index that
/// cannot be opened, in kmod's order (modules.builtin.alias.bin may be missing), and then
/// closes them all again; the lookups still work, opening each index when they need it.
#[no_mangle]
pub unsafe extern "C" fn kmod_load_resources(ctx: *mut Ctx) -> c_int {
    // SAFETY: NULL or live.
    crate::guard(-(Errno::ENOMEM as c_int), || {
        let Some(c) = (unsafe { ctx_ref(ctx) }) else {
            return -(Errno::ENOENT as c_int);
        };
        let failed = {
            let Ok(dir) = c.dir.try_borrow() else {
                return -(Errno::EBUSY as c_int);
            };
            dir.open_all();
            let required = KMOD_INDEXES
                .into_iter()
                .filter(|&kind| kind != IndexKind::BuiltinAlias);
            required.filter_map(|kind| dir.index_errno(kind)).next()
        };
        match failed {
            Some(errno) => {
                c.unload();
                -errno
            }
            None => 0,
        }
    })
}

/// `kmod_unload_resources`.
#[no_mangle]
pub unsafe extern "C" fn kmod_unload_resources(ctx: *mut Ctx) {
    // SAFETY: NULL or live.
    crate::guard((), || {
        if let Some(c) = unsafe { ctx_ref(ctx) } {
            c.unload();
        }
    })
}

/// `kmod_validate_resources`: `KMOD_RESOURCES_MUST_RECREATE` (2) when a configuration path
/// changed, `KMOD_RESOURCES_MUST_RELOAD` (1) when an open index was replaced, else
/// `KMOD_RESOURCES_OK` (0).
#[no_mangle]
pub unsafe extern "C" fn kmod_validate_resources(ctx: *mut Ctx) -> c_int {
    // SAFETY: NULL or live.
    crate::guard(2, || {
        let Some(c) = (unsafe { ctx_ref(ctx) }) else {
            return 2;
        };
        if c.config_stamps.changed() {
            return 2;
        }
        match c.dir.try_borrow() {
            Ok(dir) if dir.indexes_changed() => 1,
            Ok(_) => 0,
            Err(_) => 1,
        }
    })
}

/// kmod's `enum kmod_index`, by value.
const KMOD_INDEXES: [IndexKind; 5] = [
    IndexKind::Dep,
    IndexKind::Alias,
    IndexKind::Symbols,
    IndexKind::BuiltinAlias,
    IndexKind::Builtin,
];

/// `kmod_dump_index`: writes every key and value of an index to `fd` as `KEY VALUE` lines
/// (`alias KEY VALUE` for the alias and symbol indexes), as `modprobe -c` shows them.
#[no_mangle]
pub unsafe extern "C" fn kmod_dump_index(ctx: *mut Ctx, kind: c_int, fd: c_int) -> c_int {
    // SAFETY: NULL or live.
    crate::guard(-(Errno::ENOMEM as c_int), || {
        let Some(c) = (unsafe { ctx_ref(ctx) }) else {
            return -(Errno::ENOSYS as c_int);
        };
        let Some(kind) = usize::try_from(kind).ok().and_then(|k| KMOD_INDEXES.get(k)) else {
            return -(Errno::ENOENT as c_int);
        };
        let Ok(dir) = c.dir.try_borrow() else {
            return -(Errno::ENOSYS as c_int);
        };
        let Ok(Some(index)) = dir.index(*kind) else {
            return -(Errno::ENOSYS as c_int);
        };
        if fd < 0 {
            // kmod's writes fail with EBADF, and it returns 0 all the same.
            return 0;
        }
        // SAFETY: the caller's open descriptor, borrowed for this call and never closed here.
        let file = std::mem::ManuallyDrop::new(unsafe {
            <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd)
        });
        let mut out = std::io::BufWriter::new(&*file);
        let alias_prefix = matches!(kind, IndexKind::Alias | IndexKind::Symbols);
        // As in kmod, a failed write is not reported.
        let _ = index.dump(&mut out, alias_prefix);
        let _ = std::io::Write::flush(&mut out);
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_index(dir: &Path, name: &str, key: &[u8], value: &[u8]) {
        let mut builder = kmodcore::index::IndexBuilder::new();
        builder.insert(key, value, 0).unwrap();
        let temp = dir.join("index.tmp");
        std::fs::write(&temp, builder.to_bytes().unwrap()).unwrap();
        std::fs::rename(&temp, dir.join(name)).unwrap();
    }

    /// An index replaced by a file with the same modification time and size (a `cp -p` of
    /// another generation) must be reloaded: kmod compares times only and misses it; rkmod
    /// compares the inode too (libkmod's README DIFFERENCES).
    #[test]
    fn a_replaced_index_with_the_same_time_must_be_reloaded() {
        let dir =
            std::env::temp_dir().join(format!("rkmod-libkmod-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_index(&dir, "modules.dep.bin", b"a", b"kernel/a.ko:");
        let dirname = CString::new(dir.as_os_str().as_bytes()).unwrap();
        let none: [*const c_char; 1] = [ptr::null()];
        unsafe {
            let ctx = kmod_new(dirname.as_ptr(), none.as_ptr());
            assert!(!ctx.is_null());
            // Only modules.dep.bin exists: loading fails on modules.alias.bin, and unloads.
            assert_eq!(kmod_load_resources(ctx), -(Errno::ENOENT as c_int));
            assert_eq!(
                kmod_validate_resources(ctx),
                0,
                "nothing loaded, nothing to reload"
            );
            (*ctx).dir.borrow().open_all();
            assert_eq!(kmod_validate_resources(ctx), 0);
            let index = dir.join("modules.dep.bin");
            let modified = std::fs::metadata(&index).unwrap().modified().unwrap();
            write_index(&dir, "modules.dep.bin", b"b", b"kernel/b.ko:");
            std::fs::File::options()
                .write(true)
                .open(&index)
                .unwrap()
                .set_modified(modified)
                .unwrap();
            assert_eq!(
                kmod_validate_resources(ctx),
                1,
                "KMOD_RESOURCES_MUST_RELOAD"
            );
            kmod_unload_resources(ctx);
            assert_eq!(kmod_validate_resources(ctx), 0);
            assert!(kmod_unref(ctx).is_null());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
