//! rkmod's integration tests: one test binary, a temp-dir harness, and the compatibility suite
//! that runs kmod and rkmod side by side on real Debian module trees.
//!
//! Each module is one file, named after the tool it tests (`depmod_*`, `modinfo_*`,
//! `modprobe_*`, `kernel_tools` for lsmod and `kmod`); `tests/README.md` has the map, and the
//! fast command for the edit-compile-test loop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

mod cli;
mod clients;
mod corrupt_input;
mod depmod_cli;
mod depmod_crash;
mod depmod_fixtures;
mod docs;
mod fuzz_regressions;
mod hostile_names;
mod kernel_tools;
mod modinfo_fixtures;
mod modprobe_fixtures;
mod real;
mod verify_cli;
