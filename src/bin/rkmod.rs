//! The rkmod multicall binary: dispatches on the name it was called by (a link named
//! `modprobe`, `modinfo`, ...) or, called as `rkmod`, on its first argument.
//!
//! The binary has its own C `main` instead of Rust's start-up code: `modprobe` runs once for
//! every module an initramfs builder or udev asks about, and the standard start-up (reading
//! /proc/self/maps to find the main thread's stack guard, an alternate signal stack, checks on
//! file descriptors 0-2, ignoring SIGPIPE) cost a tenth of such a run. Without it the process
//! starts as a C program does, as kmod's tools do: SIGPIPE keeps the disposition the parent
//! gave it (so `rkmod modinfo ... | head -1` ends on SIGPIPE, like kmod), and a stack overflow
//! is a plain SIGSEGV. The arguments still come from `std::env::args_os` (glibc hands them to
//! the standard library before `main`), and every path out goes through
//! `std::process::exit`, which flushes standard output.
#![no_main]
#![deny(unsafe_code)]

use std::ffi::OsString;
use std::path::Path;

fn usage() -> String {
    let mut text = String::from(
        "rkmod: the Linux kernel module tools, in Rust\n\nUsage: rkmod TOOL [ARGS...]\n       TOOL [ARGS...]   (called through a link named after the tool)\n\nTools:\n",
    );
    for (name, about) in rkmod::TOOLS {
        text.push_str(&format!("  {name:<10}{about}\n"));
    }
    text.push_str("\nrkmod --version prints the version; TOOL --help shows a tool's options.\n");
    text.push_str("rkmod --install-links [--force] DIR makes DIR/TOOL links to this binary.\n");
    text
}

/// The process entry point, called by the C library's start-up code.
#[allow(unsafe_code)] // `no_mangle` counts as unsafe code: it defines the C symbol `main`.
#[no_mangle]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    run()
}

/// Dispatches to the tool named by argv[0] or by the first argument, and exits with its code.
fn run() -> ! {
    let args: Vec<OsString> = std::env::args_os().collect();
    let called_as = args
        .first()
        .map(Path::new)
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if called_as != "rkmod" {
        if let Some(code) = rkmod::run_tool(&called_as, args.clone()) {
            std::process::exit(code);
        }
    }
    let Some(first) = args.get(1).map(|a| a.to_string_lossy().into_owned()) else {
        eprint!("{}", usage());
        std::process::exit(1);
    };
    match first.as_str() {
        "-h" | "--help" | "help" => {
            print!("{}", usage());
            std::process::exit(0);
        }
        "-V" | "--version" => {
            println!("{}", rkmod::cli::version_text());
            std::process::exit(0);
        }
        "--install-links" => {
            let rest: Vec<OsString> = args.iter().skip(2).cloned().collect();
            std::process::exit(rkmod::links::run(&rest));
        }
        _ => {}
    }
    match rkmod::run_tool(&first, args.into_iter().skip(1).collect()) {
        Some(code) => std::process::exit(code),
        None => {
            eprintln!("rkmod: unknown tool '{first}'; run 'rkmod --help' for the list");
            std::process::exit(1);
        }
    }
}

/// Static glibc's start-up asks for the program's own directory (`$ORIGIN`, for `dlopen`
/// search paths) by reading /proc/self/exe. rkmod never loads shared objects, so it answers
/// "unknown", as glibc itself does when /proc is not mounted.
#[cfg(target_feature = "crt-static")]
#[allow(unsafe_code)]
#[no_mangle]
extern "C" fn _dl_get_origin() -> *const std::ffi::c_char {
    usize::MAX as *const std::ffi::c_char
}
