//! `rmmod`: remove modules from the kernel, as kmod's rmmod does.
//!
//! `rmmod [options] NAME...`: each argument is a module name, or the path of a module file
//! (an argument naming an existing file stands for the module that file would be). Unless
//! forced, a module is first checked: builtin, not loaded, or in use (it has holders or a
//! non-zero use count) stops its removal with kmod's message. The unload itself never waits.
//! Every argument is tried; the exit code is 1 if any failed.
//!
//! Deliberate differences from kmod are listed in [`DIFFERENCES`].

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use clap::{Arg, ArgAction, Command};
use kmodcore::kernel::{self, DeleteFlags, Errno, InitState, Kernel, NixKernel};
use kmodcore::moddir::ModuleDir;

use crate::kmsg;
use crate::logger::Logger;
use kmodcore::fs::strerror;

const TOOL: &str = "rmmod";

/// Deliberate differences from kmod, for the man page.
pub const DIFFERENCES: &[&str] = &[
    "A builtin module that has parameters (so a /sys/module directory, but no use count and no holders) is reported as builtin even when modules.builtin is missing; kmod reports \"Module unloading is not supported\".",
    "When the kernel refuses an unload, the error line ends with what the refusal most likely means, in parentheses (in use, still initialising, unloading disabled by /proc/sys/kernel/modules_disabled).",
    "A name that could not be a module name (empty, longer than 255 bytes, or containing '/') is reported as not loaded without being looked up in /sys.",
    "--version prints \"kmod version 34 (rkmod VERSION)\" so that scripts reading kmod's version keep working.",
];

/// rmmod's command-line definition.
pub fn command() -> Command {
    let command = Command::new(TOOL)
        .about("Remove a module from the Linux kernel")
        .override_usage("rmmod [options] modulename ...")
        .disable_version_flag(true)
        .infer_long_args(true)
        .arg(
            Arg::new("force")
                .short('f')
                .long("force")
                .action(ArgAction::SetTrue)
                .help("DANGEROUS: forces a module unload and may crash your machine"),
        );
    crate::cli::logging_and_version_args(command).arg(
        Arg::new("modules")
            .value_name("MODULE")
            .value_parser(clap::value_parser!(OsString))
            .action(ArgAction::Append)
            .help("Module names, or module files"),
    )
}

/// rmmod's options as plain data.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Skip the checks and unload with `O_TRUNC` (`-f`).
    pub force: bool,
    /// Log to syslog (`-s`).
    pub syslog: bool,
    /// How many `-v`.
    pub verbose: u8,
    /// The modules.
    pub modules: Vec<OsString>,
}

impl Options {
    fn from_matches(m: &clap::ArgMatches) -> Options {
        Options {
            force: m.get_flag("force"),
            syslog: m.get_flag("syslog"),
            verbose: m.get_count("verbose"),
            modules: m
                .get_many::<OsString>("modules")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
        }
    }
}

/// Runs rmmod with `args` (argv, starting with the program name) and returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let matches = match crate::cli::parse(command(), TOOL, args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if matches.get_flag("version") {
        println!("{}", crate::cli::version_text());
        return 0;
    }
    let options = Options::from_matches(&matches);
    let log = Logger::new(TOOL, options.syslog, options.verbose);
    let kernel = NixKernel::new();
    let release = kernel.release().unwrap_or_default();
    let dir = ModuleDir::for_kernel(Path::new(""), &String::from_utf8_lossy(&release));
    execute(&options, &kernel, &dir, &log)
}

/// The name an argument stands for: an existing file's module name, or the argument itself,
/// normalised as kmod normalises names.
fn module_name(arg: &OsString) -> Vec<u8> {
    if kmodcore::fs::stat(Path::new(arg)).is_ok() {
        kmodcore::modname::name_from_path(arg.as_bytes())
    } else {
        kernel::normalize_module_name(arg.as_bytes())
    }
}

/// Why a module may not be removed (kmod's checks, in kmod's order); `Ok` to go ahead.
fn check_in_use(kernel: &dyn Kernel, dir: &ModuleDir, name: &[u8], log: &Logger) -> Result<(), ()> {
    let shown = String::from_utf8_lossy(name);
    if dir.is_builtin(name).unwrap_or(false) {
        log.error(&format!("Module {shown} is builtin."));
        return Err(());
    }
    let state = match kernel.initstate(name) {
        Ok(Some(state)) => state,
        Ok(None) | Err(_) => {
            log.error(&format!("Module {shown} is not currently loaded"));
            return Err(());
        }
    };
    let refcnt = kernel.refcnt(name);
    match kernel.holders(name) {
        Ok(holders) if !holders.is_empty() => {
            let mut list = String::new();
            for holder in &holders {
                list.push(' ');
                list.push_str(&String::from_utf8_lossy(&kernel::normalize_module_name(
                    holder,
                )));
            }
            log.error(&format!("Module {shown} is in use by:{list}"));
            return Err(());
        }
        Ok(_) => {}
        // Only builtin modules have a /sys/module directory with neither holders nor refcnt.
        Err(Errno::ENOENT) if state == InitState::Coming && refcnt == Err(Errno::ENOENT) => {
            log.error(&format!("Module {shown} is builtin."));
            return Err(());
        }
        Err(errno) => log.error(&format!(
            "could not open '/sys/module/{shown}/holders': {}",
            strerror(errno as i32)
        )),
    }
    match refcnt {
        Ok(count) if count > 0 => {
            log.error(&format!("Module {shown} is in use"));
            Err(())
        }
        Ok(_) => Ok(()),
        Err(Errno::ENOENT) => {
            log.error("Module unloading is not supported");
            Err(())
        }
        Err(errno) => {
            // kmod reports a value that does not parse; other failures only fail.
            if errno == Errno::EINVAL {
                log.error(&format!(
                    "could not read integer from '/sys/module/{shown}/refcnt': '{}'",
                    strerror(errno as i32)
                ));
            }
            Err(())
        }
    }
}

/// Does what `options` ask of `kernel` (builtin modules are looked up in `dir`), reporting
/// through `log`; returns the exit code.
pub fn execute(options: &Options, kernel: &dyn Kernel, dir: &ModuleDir, log: &Logger) -> i32 {
    if options.modules.is_empty() {
        log.error("missing module name.");
        return 1;
    }
    let mut failed = false;
    for arg in &options.modules {
        let name = module_name(arg);
        let shown_arg = String::from_utf8_lossy(arg.as_bytes());
        let shown = String::from_utf8_lossy(&name);
        if !kernel::valid_module_name(&name) {
            log.error(&format!("Module {shown} is not currently loaded"));
            failed = true;
            continue;
        }
        if !options.force && check_in_use(kernel, dir, &name, log).is_err() {
            failed = true;
            continue;
        }
        log.info(&format!("removing module {shown}"));
        let flags = DeleteFlags {
            force: options.force,
        };
        if let Err(err) = kernel::remove_module(kernel, &name, flags) {
            let text = strerror(err.errno());
            // kmod prints libkmod's line, then its own.
            log.error(&format!("could not remove '{shown}': {text}"));
            let text = kmsg::with_hint(text, kmsg::remove_detail(kernel, &err, &name));
            log.error(&format!("could not remove module {shown_arg}: {text}"));
            failed = true;
        }
    }
    i32::from(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmodcore::kernel::{Call, FakeKernel, FakeModule, Syscall};

    fn run_with(kernel: &FakeKernel, force: bool, names: &[&str]) -> (i32, String) {
        let dir = tempfile::tempdir().unwrap();
        let moddir = ModuleDir::new(dir.path());
        let log = Logger::memory(TOOL, 0);
        let options = Options {
            force,
            modules: names.iter().map(OsString::from).collect(),
            ..Options::default()
        };
        let code = execute(&options, kernel, &moddir, &log);
        (code, log.captured())
    }

    #[test]
    fn removes_several_and_reports_each() {
        let kernel = FakeKernel::new()
            .with_module(FakeModule::live("a"))
            .with_module(FakeModule::live("b_c"))
            .with_module(FakeModule::live("used").held_by(&["user"]))
            .with_module(FakeModule::live("user"));
        let (code, err) = run_with(&kernel, false, &["a", "used", "b-c", "missing"]);
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "rmmod: ERROR: Module used is in use by: user\n\
             rmmod: ERROR: Module missing is not currently loaded\n"
        );
        assert!(!kernel.is_loaded("a"));
        assert!(!kernel.is_loaded("b_c"));
        assert!(kernel.is_loaded("used"));
        let deletes: Vec<Call> = kernel.calls();
        assert_eq!(deletes.len(), 2);
    }

    #[test]
    fn in_use_by_count_and_force() {
        let mut held = FakeModule::live("held");
        held.refcnt = 2;
        let kernel = FakeKernel::new().with_module(held);
        let (code, err) = run_with(&kernel, false, &["held"]);
        assert_eq!(
            (code, err.as_str()),
            (1, "rmmod: ERROR: Module held is in use\n")
        );
        assert!(kernel.calls().is_empty());
        let (code, err) = run_with(&kernel, true, &["held"]);
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(
            kernel.calls(),
            [Call::Delete {
                name: b"held".to_vec(),
                flags: DeleteFlags { force: true }
            }]
        );
    }

    #[test]
    fn kernel_refusal_prints_both_lines_with_a_hint() {
        let kernel = FakeKernel::new().with_module(FakeModule::live("a"));
        kernel.fail(Syscall::DeleteModule, Some("a"), Errno::EBUSY);
        let (code, err) = run_with(&kernel, false, &["a"]);
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "rmmod: ERROR: could not remove 'a': Device or resource busy\n\
             rmmod: ERROR: could not remove module a: Device or resource busy (a is still initialising or being removed, or cannot be unloaded (no exit function))\n"
        );
    }

    #[test]
    fn hostile_names_are_not_looked_up() {
        let kernel = FakeKernel::new();
        let (code, err) = run_with(&kernel, true, &["../no-such-dir/x", "a/b"]);
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "rmmod: ERROR: Module  is not currently loaded\n\
             rmmod: ERROR: Module a/b is not currently loaded\n"
        );
        let (_, err) = run_with(&kernel, false, &[]);
        assert_eq!(err, "rmmod: ERROR: missing module name.\n");
        assert!(kernel.calls().is_empty());
    }

    #[test]
    fn builtin_module_with_parameters() {
        // /sys/module/NAME exists (parameters), but no initstate, refcnt or holders.
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("sys/module/printk/parameters")).unwrap();
        let kernel = kmodcore::kernel::NixKernel::with_root(root.path());
        let dir = ModuleDir::new(root.path());
        let log = Logger::memory(TOOL, 0);
        let options = Options {
            modules: vec!["printk".into()],
            ..Options::default()
        };
        assert_eq!(execute(&options, &kernel, &dir, &log), 1);
        assert_eq!(log.captured(), "rmmod: ERROR: Module printk is builtin.\n");
    }
}
