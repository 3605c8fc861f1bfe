//! rkmod: the module tools (modinfo, modprobe, depmod, insmod, rmmod, lsmod, kmod) as one
//! multicall program.
//!
//! Each tool is a module with a `command()` (its clap definition, which also feeds the man
//! pages and completions) and a `run()` that parses arguments into plain data, asks
//! [`kmodcore`] for the answer, and prints it. [`report`] turns errors into kmod's wording and
//! exit codes (every tool exits 0 or 1).
#![forbid(unsafe_code)]

pub mod cli;
pub mod depmod;
pub mod insmod;
pub mod kmod;
pub mod kmsg;
pub mod links;
pub mod logger;
pub mod lsmod;
pub mod modinfo;
pub mod modprobe;
pub mod parallel;
pub mod report;
pub mod rmmod;

use std::ffi::OsString;

/// The tools this binary provides, by the name it can be called as.
pub const TOOLS: &[(&str, &str)] = &[
    ("modinfo", "show information about a kernel module"),
    (
        "modprobe",
        "add and remove modules, with their dependencies",
    ),
    ("depmod", "generate modules.dep and the module indexes"),
    ("insmod", "insert a module file into the kernel"),
    ("rmmod", "remove a module from the kernel"),
    ("lsmod", "show the loaded modules"),
    ("kmod", "kmod's own commands: list, static-nodes"),
];

/// The clap definitions of the tools, by name: the single source of their help text, man
/// pages and completions.
pub fn commands() -> Vec<clap::Command> {
    vec![
        modinfo::command(),
        modprobe::command(),
        insmod::command(),
        rmmod::command(),
        lsmod::command(),
        kmod::command(),
    ]
}

/// Where a tool deliberately behaves differently from kmod, and why: printed in its man page.
pub fn differences(tool: &str) -> Option<&'static [&'static str]> {
    match tool {
        "modinfo" => Some(modinfo::DIFFERENCES),
        "modprobe" => Some(modprobe::DIFFERENCES),
        "insmod" => Some(insmod::DIFFERENCES),
        "rmmod" => Some(rmmod::DIFFERENCES),
        "lsmod" => Some(lsmod::DIFFERENCES),
        "kmod" => Some(kmod::DIFFERENCES),
        _ => None,
    }
}

/// Runs the tool named `tool` with `args` (which start with the tool's name, like argv), and
/// returns the process exit code.
pub fn run_tool(tool: &str, args: Vec<OsString>) -> Option<i32> {
    match tool {
        "modinfo" => Some(modinfo::run(args)),
        "modprobe" => Some(modprobe::run(args)),
        "depmod" => Some(depmod::run(args)),
        "insmod" => Some(insmod::run(args)),
        "rmmod" => Some(rmmod::run(args)),
        "lsmod" => Some(lsmod::run(args)),
        "kmod" => Some(kmod::run(args)),
        _ => None,
    }
}
