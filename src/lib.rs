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
pub mod json;
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
        depmod::command(),
        insmod::command(),
        rmmod::command(),
        lsmod::command(),
        kmod::command(),
    ]
}

/// The multicall front's command-line definition, for its man page and completions: the
/// binary itself dispatches by hand (`src/bin/rkmod.rs`), on the name it was called by or on
/// its first argument, and accepts exactly what this describes.
pub fn multicall_command() -> clap::Command {
    use clap::{Arg, ArgAction};
    let mut command = clap::Command::new("rkmod")
        .about("the Linux kernel module tools in one binary")
        .override_usage(
            "rkmod TOOL [ARGS...]\n       TOOL [ARGS...]\n       rkmod --install-links [--force] DIR",
        )
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .arg(
            Arg::new("install-links")
                .long("install-links")
                .value_name("DIR")
                .value_parser(clap::value_parser!(std::path::PathBuf))
                .value_hint(clap::ValueHint::DirPath)
                .action(ArgAction::Set)
                .help("Make DIR/TOOL a symbolic link to this binary for every tool, creating DIR if needed"),
        )
        .arg(
            Arg::new("force")
                .short('f')
                .long("force")
                .requires("install-links")
                .action(ArgAction::SetTrue)
                .help("With --install-links, replace files that are in the way"),
        )
        .arg(crate::cli::flag("version", 'V', "Print the version"))
        .subcommand(clap::Command::new("help").about("Print the list of tools"));
    for tool in commands() {
        command = command.subcommand(tool);
    }
    command
}

/// Where the multicall front itself differs from kmod's own multicall binary, for its man
/// page.
pub const MULTICALL_DIFFERENCES: &[&str] = &[
    "kmod is one binary too, but called as `kmod` it runs only its own commands (`list`, `static-nodes`, `help`); the other tools exist only as links. `rkmod TOOL ARGS` runs any tool without a link.",
    "`rkmod --install-links DIR` lays the links down itself; kmod leaves that to the build system.",
    "Called by a name that is not a tool's, rkmod acts as `rkmod` and takes the tool from its first argument; kmod exits with status 1 without a message.",
];

/// Where a tool deliberately behaves differently from kmod, and why: printed in its man page.
pub fn differences(tool: &str) -> Option<&'static [&'static str]> {
    match tool {
        "modinfo" => Some(modinfo::DIFFERENCES),
        "modprobe" => Some(modprobe::DIFFERENCES),
        "depmod" => Some(depmod::DIFFERENCES),
        "insmod" => Some(insmod::DIFFERENCES),
        "rmmod" => Some(rmmod::DIFFERENCES),
        "lsmod" => Some(lsmod::DIFFERENCES),
        "kmod" => Some(kmod::DIFFERENCES),
        "rkmod" => Some(MULTICALL_DIFFERENCES),
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
