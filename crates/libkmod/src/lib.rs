// SPDX-License-Identifier: LGPL-2.1-or-later
//! libkmod.so.2 over kmodcore: kmod's C API, for udev, systemd and dracut.
//!
//! This crate only translates: C handles to kmodcore's records, C strings to byte strings,
//! kmodcore's results to kmod's return conventions (a negative errno, or NULL), and lists to
//! `struct kmod_list` chains. Every decision about modules is kmodcore's.
//!
//! # The boundary
//! - Every exported function runs its body inside `guard`: a Rust panic never unwinds into C
//!   (the library is built with `panic = "unwind"` for that reason; see scripts/build-libkmod),
//!   it becomes the function's error value.
//! - NULL arguments get kmod's answer (`-ENOENT`, `-EINVAL` or NULL, function by function).
//! - Objects are reference-counted and owned as kmod's are: a module holds a reference to its
//!   context, a list holds one to each module in it.
//! - A context is used by one thread at a time, as kmod's (it is not locked).
//!
//! `unsafe` is allowed in this crate only, and only where a C pointer is turned into a Rust
//! reference or back; each such place says why it holds.

#![allow(unsafe_code)]
// The exported functions are documented by the C header (include/libkmod.h).
#![allow(clippy::missing_safety_doc)]

pub mod config_iter;
pub mod ctx;
pub mod list;
mod log;
pub mod module;
pub mod module_file;
pub mod module_kernel;

use std::ffi::{c_char, c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use ctx::Ctx;
pub use list::KmodList;
pub use module::Module;

/// How many panics [`guard`] has turned into error values in this process.
static CAUGHT_PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs `body`, turning a panic into `fallback` so that it never crosses into C.
pub(crate) fn guard<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        CAUGHT_PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        fallback
    })
}

/// How many panics the library has caught at its boundary: for the fuzz target, to which a
/// caught panic is a bug all the same (not exported to C).
#[doc(hidden)]
pub fn caught_panics() -> usize {
    CAUGHT_PANICS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The bytes of a C string argument; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn c_bytes<'a>(ptr: *const c_char) -> Option<&'a [u8]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: non-NULL, and NUL-terminated by the caller's contract.
        Some(unsafe { CStr::from_ptr(ptr) }.to_bytes())
    }
}

/// A C string of `bytes`, cut at the first NUL: names, paths and configuration values never
/// hold one (they come from C strings and NUL-separated files), so cutting beats failing.
pub(crate) fn c_string(bytes: &[u8]) -> std::ffi::CString {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    std::ffi::CString::new(bytes.get(..end).unwrap_or_default()).unwrap_or_default()
}

/// A negative errno, kmod's error return.
pub(crate) fn neg(errno: kmodcore::kernel::Errno) -> c_int {
    -(errno as c_int)
}

/// The errno of a kmodcore error, as kmod would return it.
pub(crate) fn error_errno(error: &kmodcore::Error) -> c_int {
    -error.errno()
}

/// The errno of a resolution error.
pub(crate) fn resolve_errno(error: &kmodcore::resolve::ResolveError) -> c_int {
    use kmodcore::kernel::Errno;
    use kmodcore::resolve::ResolveError;
    match error {
        ResolveError::Core(e) => error_errno(e),
        ResolveError::TooManyModules => neg(Errno::ENOMEM),
        ResolveError::PathConflict { .. } => neg(Errno::EEXIST),
        _ => neg(Errno::ELOOP),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr;

    #[test]
    fn a_panic_becomes_the_fallback() {
        let value = guard(-22, || -> c_int { panic!("hostile input") });
        assert_eq!(value, -22);
    }

    #[test]
    fn null_arguments_get_kmods_answers() {
        unsafe {
            let mut module = ptr::null_mut();
            assert_eq!(
                module::kmod_module_new_from_name(ptr::null_mut(), c"x".as_ptr(), &mut module),
                -2
            );
            assert!(module::kmod_module_get_name(ptr::null()).is_null());
            assert!(module::kmod_module_get_path(ptr::null()).is_null());
            assert!(module::kmod_module_get_dependencies(ptr::null()).is_null());
            assert_eq!(module::kmod_module_get_initstate(ptr::null()), -2);
            assert!(ctx::kmod_unref(ptr::null_mut()).is_null());
            assert_eq!(ctx::kmod_get_log_priority(ptr::null()), -1);
            assert!(list::kmod_list_next(ptr::null(), ptr::null()).is_null());
            assert_eq!(module::kmod_module_unref_list(ptr::null_mut()), 0);
        }
    }

    #[test]
    fn modules_are_pooled_and_hold_their_context() {
        let dir = std::env::temp_dir();
        let dirname = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        let none: [*const c_char; 1] = [ptr::null()];
        unsafe {
            let ctx = ctx::kmod_new(dirname.as_ptr(), none.as_ptr());
            assert!(!ctx.is_null());
            let (mut a, mut b) = (ptr::null_mut(), ptr::null_mut());
            assert_eq!(
                module::kmod_module_new_from_name(ctx, c"snd-hda".as_ptr(), &mut a),
                0
            );
            assert_eq!(
                module::kmod_module_new_from_name(ctx, c"snd_hda".as_ptr(), &mut b),
                0
            );
            assert_eq!(a, b, "one object per module name");
            assert_eq!(CStr::from_ptr(module::kmod_module_get_name(a)), c"snd_hda");
            // The context outlives its last user reference while modules hold it.
            assert_eq!(ctx::kmod_unref(ctx), ctx);
            assert_eq!(module::kmod_module_unref(a), a);
            assert!(module::kmod_module_unref(b).is_null());
        }
    }
}
