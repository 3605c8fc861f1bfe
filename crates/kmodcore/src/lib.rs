//! kmodcore: the library behind rkmod, a Rust reimplementation of the Linux kmod toolchain.
//!
//! It reads and writes everything the module tools deal with: module files (compressed or not,
//! their ELF sections and appended signatures), kmod's binary indexes and text index files,
//! the configuration in `modprobe.d`/`depmod.d`, and the kernel's interface. It never prints
//! and never exits: the tools in the `rkmod` binary do that.
//!
//! Every byte read from disk is treated as hostile: no slicing with file-derived bounds, every
//! allocation capped by the input size, every recursion bounded.
//!
//! `unsafe` is denied everywhere but in two fenced modules: [`mmap`], which maps files, and
//! `kernel::glibc`, which calls the C library's `init_module` and `delete_module`.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod config;
pub mod depmod;
pub mod devname;
pub mod error;
pub mod fnmatch;
pub mod fs;
pub mod index;
pub mod kernel;
pub mod layout;
pub mod lookup;
pub mod mmap;
pub mod moddir;
pub mod modname;
pub mod module;
pub mod resolve;
pub mod stamp;

pub use error::{Error, Result};
