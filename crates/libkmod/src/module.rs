// SPDX-License-Identifier: LGPL-2.1-or-later
//! `struct kmod_module`: a reference-counted handle on one of the resolver's module records,
//! with the strings the C API hands out cached in it (they live as long as the handle).

use std::cell::{Cell, OnceCell};
use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use kmodcore::kernel::{Errno, InitState, Kernel};
use kmodcore::resolve::command::{
    expand_for_display, CommandRunner, CommandStatus, ShellCommand, ShellRunner,
};
use kmodcore::resolve::probe::{self, BlacklistRule, Inserted, ProbeError, ProbeFlags};
use kmodcore::resolve::probe::{Report, Reporter, Shown};
use kmodcore::resolve::ModId;

use crate::ctx::{self, Ctx};
use crate::list::{self, KmodList};
use crate::log::LOG_ERR;
use crate::{c_string, guard, neg, resolve_errno};

/// A module handle.
pub struct Module {
    pub(crate) ctx: *mut Ctx,
    pub(crate) id: ModId,
    refcount: Cell<u32>,
    pub(crate) name: CString,
    /// Made by `kmod_module_new_from_path` (its file is not modules.dep's).
    given_path: Cell<bool>,
    path: OnceCell<Option<CString>>,
    options: OnceCell<Option<CString>>,
    install: OnceCell<Option<CString>>,
    remove: OnceCell<Option<CString>>,
}

impl Module {
    /// The module's file, from modules.dep when not known yet (`kmod_module_get_path`).
    /// While a probe runs (a callback asking), a path not known yet is `None` and is looked
    /// up on a later call.
    pub(crate) fn path(&self, c: &Ctx) -> Option<&CString> {
        if let Some(path) = self.path.get() {
            return path.as_ref();
        }
        let path = c.resolver_if_idle().ok()?.path(self.id);
        c.log_notices();
        let path = path
            .ok()
            .flatten()
            .map(|p| c_string(p.as_os_str().as_bytes()));
        self.path.get_or_init(|| path).as_ref()
    }
}

fn c_ptr(value: &Option<CString>) -> *const c_char {
    value.as_ref().map_or(ptr::null(), |v| v.as_ptr())
}

/// The live handle of record `id`, with one more reference, or a new one. `name` is the
/// record's name (passed in, so that this works while the resolver is borrowed).
fn handle(ctx: *mut Ctx, id: ModId, name: &[u8]) -> *mut Module {
    // SAFETY: `ctx` is a live context (every caller holds it).
    let Some(c) = (unsafe { ctx::ctx_ref(ctx) }) else {
        return ptr::null_mut();
    };
    if let Some(&existing) = c.pool().borrow().get(&id) {
        // SAFETY: pooled handles are live (removed from the pool when freed).
        unsafe {
            (*existing)
                .refcount
                .set((*existing).refcount.get().saturating_add(1))
        };
        return existing;
    }
    c.take_ref();
    let module = Box::into_raw(Box::new(Module {
        ctx,
        id,
        refcount: Cell::new(1),
        name: c_string(name),
        given_path: Cell::new(false),
        path: OnceCell::new(),
        options: OnceCell::new(),
        install: OnceCell::new(),
        remove: OnceCell::new(),
    }));
    c.pool().borrow_mut().insert(id, module);
    module
}

/// The handle of record `id`, its name read from the resolver.
fn handle_of(c: &Ctx, ctx: *mut Ctx, id: ModId) -> *mut Module {
    let name = c.resolver().name(id).to_vec();
    handle(ctx, id, &name)
}

/// A list of handles for `ids`.
fn module_list(c: &Ctx, ctx: *mut Ctx, ids: &[ModId]) -> *mut KmodList {
    list::from_items(ids.iter().map(|&id| handle_of(c, ctx, id).cast::<c_void>()))
}

/// The module and its context behind a pointer.
///
/// # Safety
/// `module` is NULL or a live handle.
pub(crate) unsafe fn parts<'a>(module: *const Module) -> Option<(&'a Module, &'a Ctx)> {
    // SAFETY: the caller's contract; a handle keeps its context alive.
    let m = unsafe { module.as_ref() }?;
    let c = unsafe { ctx::ctx_ref(m.ctx) }?;
    Some((m, c))
}

/// Drops one reference of a handle.
///
/// # Safety
/// `module` is NULL or a live handle, not used by the caller after its last reference.
unsafe fn unref(module: *mut Module) -> *mut Module {
    // SAFETY: the caller's contract.
    let Some(m) = (unsafe { module.as_ref() }) else {
        return ptr::null_mut();
    };
    let count = m.refcount.get().saturating_sub(1);
    m.refcount.set(count);
    if count > 0 {
        return module;
    }
    let ctx = m.ctx;
    // SAFETY: the handle's context is live while the handle is.
    if let Some(c) = unsafe { ctx::ctx_ref(ctx) } {
        c.pool().borrow_mut().remove(&m.id);
        // kmod frees the module, and a later one of that name takes its file from modules.dep
        // again: forget a file given by path. Now and then the records no handle holds are
        // freed too, as kmod's are with their last reference (the pool holds every id the
        // library keeps between calls). Neither while a probe runs: a probe callback
        // dropping its last reference, with the run's ids in hand.
        let idle = if c.records_pinned() {
            None
        } else {
            c.resolver_if_idle().ok()
        };
        if let Some(mut resolver) = idle {
            if m.given_path.get() {
                resolver.forget(m.id);
            }
            if resolver.collect_due() {
                if let Ok(pool) = c.pool().try_borrow() {
                    resolver.collect(pool.keys().copied());
                }
            }
        }
    }
    // SAFETY: made by Box::into_raw in `handle`; this was its last reference.
    drop(unsafe { Box::from_raw(module) });
    // SAFETY: the reference the handle held.
    unsafe { ctx::release(ctx) };
    ptr::null_mut()
}

/// `kmod_module_ref`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_ref(module: *mut Module) -> *mut Module {
    guard(ptr::null_mut(), || {
        // SAFETY: NULL or live.
        if let Some(m) = unsafe { module.as_ref() } {
            m.refcount.set(m.refcount.get().saturating_add(1));
        }
        module
    })
}

/// `kmod_module_unref`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_unref(module: *mut Module) -> *mut Module {
    // SAFETY: NULL or live.
    guard(ptr::null_mut(), || unsafe { unref(module) })
}

/// `kmod_module_unref_list`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_unref_list(list: *mut KmodList) -> c_int {
    guard(0, || {
        // SAFETY: a module list; each entry holds a reference.
        unsafe {
            list::free(list, |data| {
                unref(data.cast::<Module>());
            })
        };
        0
    })
}

/// `kmod_module_get_module`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_module(entry: *const KmodList) -> *mut Module {
    // SAFETY: NULL or an entry of a module list.
    guard(ptr::null_mut(), || unsafe {
        kmod_module_ref(list::data(entry).cast::<Module>())
    })
}

/// The part the three single-module constructors share: kmod's `-ENOENT` for a NULL context,
/// argument or result pointer; then `find` with the context and the argument's bytes, whose
/// record (if any) becomes a new handle in `*out`. `find` returns a negative errno itself.
///
/// # Safety
/// `ctx` is NULL or live, `arg` NULL or a C string, `out` NULL or valid.
unsafe fn new_one(
    ctx: *mut Ctx,
    arg: *const c_char,
    out: *mut *mut Module,
    find: impl FnOnce(&Ctx, &[u8]) -> Result<Option<ModId>, c_int>,
) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        // SAFETY: NULL or live / a C string (the caller's contract).
        let (Some(c), Some(arg)) = (unsafe { ctx::ctx_ref(ctx) }, unsafe { crate::c_bytes(arg) })
        else {
            return neg(Errno::ENOENT);
        };
        if out.is_null() {
            return neg(Errno::ENOENT);
        }
        match find(c, arg) {
            Ok(Some(id)) => {
                // SAFETY: `out` is non-NULL and valid.
                unsafe { *out = handle_of(c, ctx, id) };
                0
            }
            Ok(None) => 0,
            Err(errno) => errno,
        }
    })
}

/// `kmod_module_new_from_name`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_new_from_name(
    ctx: *mut Ctx,
    name: *const c_char,
    out: *mut *mut Module,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe {
        new_one(ctx, name, out, |c, name| {
            c.resolver()
                .module(name)
                .map(Some)
                .map_err(|e| resolve_errno(&e))
        })
    }
}

/// `kmod_module_new_from_name_lookup`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_new_from_name_lookup(
    ctx: *mut Ctx,
    name: *const c_char,
    out: *mut *mut Module,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe {
        new_one(ctx, name, out, |c, name| {
            c.resolver()
                .lookup_name(name)
                .map_err(|e| resolve_errno(&e))
        })
    }
}

/// `kmod_module_new_from_path`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_new_from_path(
    ctx: *mut Ctx,
    path: *const c_char,
    out: *mut *mut Module,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe {
        let ret = new_one(ctx, path, out, |c, path| {
            let path = Path::new(std::ffi::OsStr::from_bytes(path));
            // A module of that name that no handle holds any more is kmod's freed module: its
            // file (from modules.dep or another path) no longer counts.
            let name = kmodcore::modname::name_from_path(path.as_os_str().as_bytes());
            let record = c.resolver().module(&name);
            if let Ok(id) = record {
                if !c.pool().borrow().contains_key(&id) {
                    c.resolver().forget(id);
                }
            }
            let found = c.resolver().from_path(path);
            c.log_notices();
            found.map(Some).map_err(|e| resolve_errno(&e))
        });
        // SAFETY: `out` holds a live handle when the call succeeded.
        if let Some(m) = (ret == 0 && !out.is_null())
            .then(|| (*out).as_ref())
            .flatten()
        {
            m.given_path.set(true);
        }
        ret
    }
}

/// `kmod_module_new_from_lookup`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_new_from_lookup(
    ctx: *mut Ctx,
    alias: *const c_char,
    out: *mut *mut KmodList,
) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        // SAFETY: NULL or live / a C string.
        let (Some(c), Some(alias)) = (unsafe { ctx::ctx_ref(ctx) }, unsafe {
            crate::c_bytes(alias)
        }) else {
            return neg(Errno::ENOENT);
        };
        // SAFETY: `out` is checked for NULL before it is read.
        if out.is_null() || unsafe { !(*out).is_null() } {
            c.log(
                LOG_ERR,
                "kmod_module_new_from_lookup",
                "An empty list is needed to create lookup",
            );
            return neg(Errno::ENOSYS);
        }
        if kmodcore::modname::normalize_alias(alias).is_none() {
            return neg(Errno::EINVAL);
        }
        let found = c.resolver().lookup(alias);
        c.log_notices();
        match found {
            Ok(ids) => {
                // SAFETY: non-NULL.
                unsafe { *out = module_list(c, ctx, &ids) };
                0
            }
            Err(e) => resolve_errno(&e),
        }
    })
}

/// `kmod_module_new_from_loaded`: a handle for every module in /proc/modules.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_new_from_loaded(
    ctx: *mut Ctx,
    out: *mut *mut KmodList,
) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        // SAFETY: NULL or live.
        let Some(c) = (unsafe { ctx::ctx_ref(ctx) }) else {
            return neg(Errno::ENOENT);
        };
        if out.is_null() {
            return neg(Errno::ENOENT);
        }
        let loaded = match c.kernel().loaded_modules() {
            Ok(loaded) => loaded,
            Err(e) => {
                c.log(
                    LOG_ERR,
                    "kmod_module_new_from_loaded",
                    &format!("could not open /proc/modules: {e}"),
                );
                return crate::error_errno(&e);
            }
        };
        let mut ids = Vec::with_capacity(loaded.len());
        for module in &loaded {
            match c.resolver().module(&module.name) {
                Ok(id) => ids.push(id),
                Err(e) => return resolve_errno(&e),
            }
        }
        // SAFETY: non-NULL.
        unsafe { *out = module_list(c, ctx, &ids) };
        0
    })
}

/// `kmod_module_get_name`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_name(module: *const Module) -> *const c_char {
    // SAFETY: NULL or live.
    guard(ptr::null(), || match unsafe { module.as_ref() } {
        Some(m) => m.name.as_ptr(),
        None => ptr::null(),
    })
}

/// `kmod_module_get_path`: the module's file, from modules.dep when not known yet.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_path(module: *const Module) -> *const c_char {
    guard(ptr::null(), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return ptr::null();
        };
        m.path(c).map_or(ptr::null(), |p| p.as_ptr())
    })
}

/// `kmod_module_get_options`: the configured options for the module, NULL when none.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_options(module: *const Module) -> *const c_char {
    guard(ptr::null(), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return ptr::null();
        };
        c_ptr(m.options.get_or_init(|| {
            let options = c.resolver().options(m.id);
            (!options.is_empty()).then(|| c_string(&options))
        }))
    })
}

/// `kmod_module_get_install_commands`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_install_commands(module: *const Module) -> *const c_char {
    guard(ptr::null(), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return ptr::null();
        };
        c_ptr(
            m.install
                .get_or_init(|| c.resolver().install_command(m.id).map(|cmd| c_string(&cmd))),
        )
    })
}

/// `kmod_module_get_remove_commands`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_remove_commands(module: *const Module) -> *const c_char {
    guard(ptr::null(), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return ptr::null();
        };
        c_ptr(
            m.remove
                .get_or_init(|| c.resolver().remove_command(m.id).map(|cmd| c_string(&cmd))),
        )
    })
}

/// `kmod_module_get_dependencies`: the modules it needs, in load order.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_dependencies(module: *const Module) -> *mut KmodList {
    guard(ptr::null_mut(), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return ptr::null_mut();
        };
        let deps = c.resolver().dependencies(m.id);
        c.log_notices();
        match deps {
            Ok(ids) => module_list(c, m.ctx, &ids),
            Err(_) => ptr::null_mut(),
        }
    })
}

/// `kmod_module_get_softdeps`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_softdeps(
    module: *const Module,
    pre: *mut *mut KmodList,
    post: *mut *mut KmodList,
) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return neg(Errno::ENOENT);
        };
        // SAFETY: both checked for NULL before they are read.
        if pre.is_null() || post.is_null() || unsafe { !(*pre).is_null() || !(*post).is_null() } {
            return neg(Errno::EINVAL);
        }
        let found = c.resolver().softdeps(m.id);
        c.log_notices();
        match found {
            Ok((before, after)) => {
                // SAFETY: non-NULL.
                unsafe {
                    *pre = module_list(c, m.ctx, &before);
                    *post = module_list(c, m.ctx, &after);
                }
                0
            }
            Err(e) => resolve_errno(&e),
        }
    })
}

/// `kmod_module_get_weakdeps`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_weakdeps(
    module: *const Module,
    weak: *mut *mut KmodList,
) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return neg(Errno::ENOENT);
        };
        // SAFETY: checked for NULL before it is read.
        if weak.is_null() || unsafe { !(*weak).is_null() } {
            return neg(Errno::EINVAL);
        }
        let found = c.resolver().weakdeps(m.id);
        c.log_notices();
        match found {
            Ok(ids) => {
                // SAFETY: non-NULL.
                unsafe { *weak = module_list(c, m.ctx, &ids) };
                0
            }
            Err(e) => resolve_errno(&e),
        }
    })
}

/// `kmod_module_apply_filter`: the modules of `input` that are not blacklisted
/// (`KMOD_FILTER_BLACKLIST`) and not builtin (`KMOD_FILTER_BUILTIN`).
#[no_mangle]
pub unsafe extern "C" fn kmod_module_apply_filter(
    ctx: *const Ctx,
    filter: c_uint,
    input: *const KmodList,
    output: *mut *mut KmodList,
) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        if ctx.is_null() || output.is_null() {
            return neg(Errno::ENOENT);
        }
        // SAFETY: a module list of this context.
        let modules = unsafe { list::items(input) };
        let mut kept = Vec::new();
        for data in modules {
            // SAFETY: entries of a module list are live handles.
            let Some((m, c)) = (unsafe { parts(data.cast::<Module>()) }) else {
                continue;
            };
            let mut resolver = c.resolver();
            if filter & 0x1 != 0 && resolver.is_blacklisted(m.id) {
                continue;
            }
            if filter & 0x2 != 0 && resolver.is_builtin(m.id).unwrap_or(false) {
                continue;
            }
            drop(resolver);
            // SAFETY: live; the new list takes a reference.
            kept.push(unsafe { kmod_module_ref(data.cast::<Module>()) }.cast::<c_void>());
        }
        // SAFETY: non-NULL.
        unsafe { *output = list::from_items(kept) };
        0
    })
}

/// `kmod_module_get_filtered_blacklist`: `kmod_module_apply_filter` with the blacklist.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_filtered_blacklist(
    ctx: *const Ctx,
    input: *const KmodList,
    output: *mut *mut KmodList,
) -> c_int {
    // SAFETY: forwarded as given.
    unsafe { kmod_module_apply_filter(ctx, 0x1, input, output) }
}

/// `kmod_module_initstate_str`.
#[no_mangle]
pub extern "C" fn kmod_module_initstate_str(state: c_uint) -> *const c_char {
    match state {
        0 => c"builtin".as_ptr(),
        1 => c"live".as_ptr(),
        2 => c"coming".as_ptr(),
        3 => c"going".as_ptr(),
        _ => ptr::null(),
    }
}

/// `kmod_module_get_initstate`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_initstate(module: *const Module) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return neg(Errno::ENOENT);
        };
        if c.resolver().is_builtin(m.id).unwrap_or(false) {
            return 0;
        }
        match c.kernel().initstate(m.name.as_bytes()) {
            Ok(Some(InitState::Live)) => 1,
            Ok(Some(InitState::Coming)) => 2,
            Ok(Some(InitState::Going)) => 3,
            Ok(None) => neg(Errno::ENOENT),
            Err(errno) => neg(errno),
        }
    })
}

/// `kmod_module_get_refcnt`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_refcnt(module: *const Module) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return neg(Errno::ENOENT);
        };
        match c.kernel().refcnt(m.name.as_bytes()) {
            Ok(n) => c_int::try_from(n).unwrap_or(c_int::MAX),
            Err(errno) => neg(errno),
        }
    })
}

/// `kmod_module_get_size`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_size(module: *const Module) -> std::ffi::c_long {
    guard(neg(Errno::ENOMEM).into(), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return neg(Errno::ENOENT).into();
        };
        match c.kernel().coresize(m.name.as_bytes()) {
            Ok(n) => n,
            Err(errno) => neg(errno).into(),
        }
    })
}

/// `kmod_module_get_holders`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_holders(module: *const Module) -> *mut KmodList {
    guard(ptr::null_mut(), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return ptr::null_mut();
        };
        let names = match c.kernel().holders(m.name.as_bytes()) {
            Ok(names) => names,
            Err(errno) => {
                // kmod's message, for a module that is not loaded (or built in) too.
                let dir = c
                    .kernel()
                    .root()
                    .join("sys/module")
                    .join(std::ffi::OsStr::from_bytes(m.name.as_bytes()))
                    .join("holders");
                let message = format!(
                    "could not open '{}': {}",
                    dir.display(),
                    kmodcore::fs::strerror(errno as c_int)
                );
                c.log(LOG_ERR, "kmod_module_get_holders", &message);
                return ptr::null_mut();
            }
        };
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            match c.resolver().module(&name) {
                Ok(id) => ids.push(id),
                Err(_) => return ptr::null_mut(),
            }
        }
        module_list(c, m.ctx, &ids)
    })
}

/// A client's `print_action`.
type PrintAction = unsafe extern "C" fn(module: *mut Module, install: bool, options: *const c_char);
/// A client's `run_install`.
type RunInstall =
    unsafe extern "C" fn(module: *mut Module, cmdline: *const c_char, data: *mut c_void) -> c_int;

/// Hands kmodcore's reports to the client's `print_action` and the context's log.
struct CallbackReporter<'a> {
    ctx: *mut Ctx,
    c: &'a Ctx,
    print_action: Option<PrintAction>,
}

impl CallbackReporter<'_> {
    /// Hands one step to `print_action`. `path`: the module's file when the report knows it
    /// (`Some(None)`: it has none); `command`: its install command, for an install step.
    fn action(
        &self,
        module: ModId,
        name: &[u8],
        path: Option<Option<&[u8]>>,
        command: Option<&[u8]>,
        options: &[u8],
    ) {
        let Some(print_action) = self.print_action else {
            return;
        };
        let handle = handle(self.ctx, module, name);
        if let Some(m) = unsafe { handle.as_ref() } {
            // What the report knows is filled in now: the answers a print_action most often
            // asks for then cost no lookup.
            if let Some(path) = path {
                let _ = m.path.set(path.map(c_string));
            }
            if let Some(command) = command {
                let _ = m.install.set(Some(c_string(command)));
            }
        }
        let install = command.is_some();
        let options = c_string(options);
        // SAFETY: the client's function, with a live handle and a C string that outlive the
        // call.
        unsafe { print_action(handle, install, options.as_ptr()) };
        // SAFETY: the reference taken above.
        unsafe { unref(handle) };
    }
}

impl Reporter for CallbackReporter<'_> {
    fn report(&mut self, report: Report<'_>) -> ControlFlow<()> {
        match report {
            Report::Show(Shown::Insmod {
                module,
                name,
                path,
                options,
            }) => self.action(module, &name, Some(Some(&path)), None, &options),
            Report::Show(Shown::Install {
                module,
                name,
                command,
                options,
            }) => self.action(module, &name, None, Some(&command), &options),
            Report::Show(
                Shown::Builtin {
                    module,
                    name,
                    options,
                }
                | Shown::NoFile {
                    module,
                    name,
                    options,
                },
            ) => self.action(module, &name, Some(None), None, &options),
            Report::Show(_) => {}
            Report::Message(level, text) => {
                // Level's values are syslog's priorities.
                let priority = level as c_int;
                self.c.log(priority, probe_message_function(&text), &text);
            }
            Report::LoadFailed { .. } => {}
        }
        ControlFlow::Continue(())
    }
}

/// The function of kmod's library that logs a message of a probe, from the message's
/// wording: kmod logs where the step failed (the load, the install command, a softdep
/// lookup), and a client's log function is handed that name.
fn probe_message_function(text: &str) -> &'static str {
    const BY_PREFIX: &[(&str, &str)] = &[
        (
            "could not find module by name=",
            "kmod_module_insert_module",
        ),
        ("Failed to insert module ", "kmod_module_insert_module"),
        ("Error running ", "command_do"),
        ("Could not run ", "command_do"),
        ("failed to lookup dependency ", "lookup_dep"),
        ("kmod_module '", "kmod_module_new_from_path"),
    ];
    BY_PREFIX
        .iter()
        .find(|(prefix, _)| text.starts_with(prefix))
        .map_or("kmod_module_probe_insert_module", |&(_, function)| function)
}

/// Runs install commands through the client's `run_install`, or rkmod's shell runner.
struct CallbackRunner {
    ctx: *mut Ctx,
    run_install: Option<RunInstall>,
    data: *mut c_void,
    fallback: ShellRunner,
}

impl CommandRunner for CallbackRunner {
    fn run(&mut self, command: &ShellCommand) -> std::io::Result<CommandStatus> {
        let Some(run_install) = self.run_install else {
            return self.fallback.run(command);
        };
        let Some(id) = command.record else {
            return Ok(CommandStatus::Exited(-1));
        };
        let handle = handle(self.ctx, id, &command.module);
        let cmdline = c_string(&expand_for_display(&command.configured, &command.options));
        // SAFETY: the client's function with a live handle and string.
        let status = unsafe { run_install(handle, cmdline.as_ptr(), self.data) };
        // SAFETY: the reference taken above.
        unsafe { unref(handle) };
        Ok(CommandStatus::Exited(status))
    }
}

/// `kmod_module_probe_insert_module`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_probe_insert_module(
    module: *mut Module,
    flags: c_uint,
    extra_options: *const c_char,
    run_install: Option<RunInstall>,
    data: *const c_void,
    print_action: Option<PrintAction>,
) -> c_int {
    guard(neg(Errno::ENOMEM), || {
        // SAFETY: NULL or live.
        let Some((m, c)) = (unsafe { parts(module) }) else {
            return neg(Errno::ENOENT);
        };
        let probe_flags = ProbeFlags {
            force_vermagic: flags & 0x1 != 0,
            force_modversion: flags & 0x2 != 0,
            ignore_command: flags & 0x4 != 0,
            ignore_loaded: flags & 0x8 != 0,
            dry_run: flags & 0x10 != 0,
            first_time: flags & 0x20 != 0,
            blacklist_all: flags & 0x10000 != 0,
            use_blacklist: flags & 0x20000 != 0,
            keep_blacklisted_aliases: flags & 0x40000 == 0,
            ..ProbeFlags::default()
        };
        // SAFETY: NULL or a C string.
        let extra = unsafe { crate::c_bytes(extra_options) };
        let mut reporter = CallbackReporter {
            ctx: m.ctx,
            c,
            print_action,
        };
        let mut runner = CallbackRunner {
            ctx: m.ctx,
            run_install,
            data: data.cast_mut(),
            fallback: ShellRunner::default(),
        };
        let result = c.lend_to_probe(|resolver| {
            probe::insert(
                resolver,
                c.kernel(),
                &mut runner,
                m.id,
                probe_flags,
                extra,
                &mut reporter,
            )
        });
        c.log_notices();
        match result {
            Ok(Inserted::Done | Inserted::AlreadyLoaded) => 0,
            Ok(Inserted::Blacklisted(BlacklistRule::AliasOnly)) => 0x40000,
            Ok(Inserted::Blacklisted(BlacklistRule::All)) => 0x10000,
            Ok(Inserted::Blacklisted(BlacklistRule::Requested)) => 0x20000,
            Err(ProbeError::Errno(errno)) => neg(errno),
            Err(ProbeError::Resolve(e)) => resolve_errno(&e),
            Err(_) => neg(Errno::EINVAL),
        }
    })
}
