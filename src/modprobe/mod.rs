//! `modprobe`: add and remove modules with their dependencies, and answer questions about
//! what that would do, as kmod's modprobe does.
//!
//! The arguments (with `MODPROBE_OPTIONS` from the environment in front of them) are parsed
//! into [`Options`]; the configuration and the module directory are read as libkmod's
//! `kmod_new` reads them; [`kmodcore::resolve`] resolves each request and plans the work, and
//! carries it out through the kernel. These files only turn the outcome into kmod's output.
//!
//! Test-only: the environment variable `RKMOD_SYSROOT` names a directory read instead of `/`
//! for `/proc` and `/sys` (the kernel command line, module states, in-kernel decompression),
//! so that tests can control what modprobe sees of the running kernel. Nothing else changes;
//! the module system calls still go to the real kernel.
//!
//! Deliberate differences from kmod are listed in [`DIFFERENCES`].
//!
//! The code is split by job: `args` parses the command line into plain data, `session`
//! acts on it, `output` holds where messages go and how they are printed.

mod args;
mod json;
mod output;
mod parallel;
mod plan;
mod session;

use std::ffi::OsString;
use std::path::PathBuf;

use kmodcore::kernel::NixKernel;
use kmodcore::moddir::ModuleDir;

pub use args::{command, split_env_options, Mode, Options};
pub use output::print_config_warnings;

use args::{parse, Parsed};
use output::{stderr_usable, Log};
use session::{module_dir_path, Session};

use crate::report;

const TOOL: &str = "modprobe";

/// The environment variable that carries options into nested modprobe runs.
pub const MODPROBE_OPTIONS: &str = "MODPROBE_OPTIONS";

/// The environment variable that counts how deeply install and remove commands have nested
/// (a command that runs modprobe, which runs a command, ...).
pub const DEPTH_ENV: &str = "RKMOD_MODPROBE_DEPTH";

/// How deeply install and remove commands may nest. kmod has no bound: an install command
/// that runs `modprobe` for its own module recurses until the system gives out.
pub const MAX_COMMAND_DEPTH: u32 = 32;

/// The test-only variable naming the root under which `/proc` and `/sys` are read.
pub const SYSROOT_ENV: &str = "RKMOD_SYSROOT";

/// Deliberate differences from kmod, for the man page.
pub const DIFFERENCES: &[&str] = &[
    "`modprobe -c` prints a softdep with both lists as \"softdep X pre: A post: B\", with a space before \"post:\"; kmod (30 to 34) omits it and prints \"softdep X pre: Apost: B\", which does not read back as the same softdep.",
    "Install and remove commands get the options in the environment variable CMDLINE_OPTS, and each $CMDLINE_OPTS in the command is turned into a reference to it, so option text can never run as shell code. kmod pastes the text into the command. The visible difference: a quoted value (opt=\"a b\") reaches the command as two words.",
    "Install and remove commands may nest (a command running modprobe, which runs a command) at most 32 deep, counted in the environment variable RKMOD_MODPROBE_DEPTH; the next level fails with \"install and remove commands nest deeper than 32 levels\". kmod recurses without end when a command runs modprobe for its own module.",
    "MODPROBE_OPTIONS handed to install and remove commands carries the received value plus this run's own -C, -q, -v and -s options once; kmod appends every option again at each level, so the variable doubles with each nested modprobe.",
    "The kernel's own call, `modprobe -q -- NAME`, never treats NAME as a file, even when it starts with / or ./ (kmod 31 and later do).",
    "When modules.dep.bin is missing, a request that is not found gets a hint to run depmod; a corrupt index is an error naming the file (kmod treats it as missing).",
    "--json (with -c or --show-depends) is an rkmod extension (see JSON OUTPUT).",
    "An install or remove command killed by a signal is a failure; kmod counts it as success.",
    "`modprobe -r -w MSEC` of a module still in use when the time runs out prints \"could not remove 'm': Resource temporarily unavailable\" and exits 1. kmod (30 to 34) exits 0 silently with the module still loaded when its last sleep ends exactly on the deadline, and spins forever when the sleep overshoots it (its backoff halves a zero interval until the clock goes back).",
    "`modprobe -r --remove-holders m`, when removing a holder already took m out as an unused dependency, exits 0; kmod then tries to remove m again and fails with \"could not remove 'm': No such file or directory\", exit 1, although the module is gone.",
    "A failed load is explained in parentheses after kmod's message: for example, that the module was built for another kernel, that module loading is disabled, or that its signature was rejected.",
    "--parallel[=N] (rkmod only) loads independent modules at the same time; see PARALLEL LOADING. Without it, modprobe behaves as kmod's.",
    "--version prints \"kmod version 34 (rkmod VERSION)\".",
];

/// Runs modprobe with `args` (argv, starting with the program name) and returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let options = match parse(args, std::env::var_os(MODPROBE_OPTIONS)) {
        Parsed::Run(o) => *o,
        Parsed::Exit(code) => return code,
    };
    for warning in &options.deprecated {
        report::warning(TOOL, warning);
    }
    let syslog = options.syslog || !stderr_usable();
    if options.mode != Mode::ShowConfig && options.args.is_empty() {
        report::error(TOOL, "missing parameters. See -h.");
        return 1;
    }
    let dir_path = match module_dir_path(&options) {
        Ok(p) => p,
        Err(message) => {
            report::error(TOOL, &message);
            return 1;
        }
    };
    let sysroot = std::env::var_os(SYSROOT_ENV).map(PathBuf::from);
    let kernel = match &sysroot {
        Some(root) => NixKernel::with_root(root),
        None => NixKernel::new(),
    };
    let (config, warnings) =
        kmodcore::resolve::load_config(&dir_path, &options.config_paths, kernel.root());
    print_config_warnings(&warnings);

    let dir = ModuleDir::new(&dir_path);
    // All indexes from one depmod generation, as kmod's kmod_load_resources does.
    dir.open_all();
    let log = Log {
        verbose: options.verbose,
        syslog,
    };
    let mut session = Session {
        options: &options,
        log,
        out: report::Output::new(),
        dir: &dir,
        dir_path: &dir_path,
        kernel: &kernel,
        hint: None,
        plan: None,
    };
    let ok = session.dispatch(&config);
    session.out.flush();
    // The process exits right after this returns. Freeing the configuration, the parsed
    // options and the indexes' pieces one allocation (and one close) at a time would only
    // delay that exit, by a measurable part of a `--show-depends` run, so they are left to it
    // (as compilers leave their trees to the exit).
    std::mem::forget(session);
    std::mem::forget(dir);
    std::mem::forget(config);
    std::mem::forget(options);
    i32::from(!ok)
}
