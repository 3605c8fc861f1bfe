//! The C library's own `init_module(2)` and `delete_module(2)` functions: the second place in
//! kmodcore where `unsafe` is allowed, for these two foreign calls only.
//!
//! `nix` makes both calls with `syscall(2)`; kmod calls the C library's functions of these
//! names, and `LD_PRELOAD` interposers (kmod's testsuite, which fakes a kernel) wrap those.
//! glibc has exported both since 2.2.5. (`finit_module` has no C library function in glibc
//! 2.36; kmod and `nix` both make it with `syscall(2)`, which interposers wrap as well.)
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr};

use nix::errno::Errno;

extern "C" {
    #[link_name = "init_module"]
    fn c_init_module(image: *const c_void, len: c_ulong, params: *const c_char) -> c_int;
    #[link_name = "delete_module"]
    fn c_delete_module(name: *const c_char, flags: c_uint) -> c_int;
}

/// `init_module(image, len, params)`: loads a module from its image in memory.
pub(crate) fn init_module(image: &[u8], params: &CStr) -> Result<(), Errno> {
    let len = c_ulong::try_from(image.len()).map_err(|_| Errno::EFBIG)?;
    // SAFETY: `image` is valid for reads of `len` bytes and `params` is a NUL-terminated
    // string, both for the whole call; the kernel copies what it needs and keeps no pointer.
    let rc = unsafe { c_init_module(image.as_ptr().cast(), len, params.as_ptr()) };
    Errno::result(rc).map(drop)
}

/// `delete_module(name, flags)`: unloads the module `name`.
pub(crate) fn delete_module(name: &CStr, flags: c_uint) -> Result<(), Errno> {
    // SAFETY: `name` is a NUL-terminated string valid for the whole call.
    let rc = unsafe { c_delete_module(name.as_ptr(), flags) };
    Errno::result(rc).map(drop)
}
