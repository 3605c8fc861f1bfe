//! `insmod`: insert one module file into the kernel, with parameters, as kmod's insmod does.
//!
//! `insmod [options] FILE [PARAM...]`: FILE is a path (never looked up by name); the
//! parameters are joined into the kernel's parameter string, a value with a space being
//! quoted. Loading goes through [`kmodcore::kernel::insert_module`]: `finit_module`, with
//! in-kernel decompression when the kernel supports the file's format, and otherwise
//! userspace decompression and `init_module`.
//!
//! Deliberate differences from kmod are listed in [`DIFFERENCES`].

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use clap::{Arg, ArgAction, Command};
use kmodcore::kernel::hint::InsertContext;
use kmodcore::kernel::{self, InsertFlags, Kernel, LoadPath, NixKernel};

use crate::kmsg;
use crate::logger::{Logger, Priority};

const TOOL: &str = "insmod";

/// Deliberate differences from kmod, for the man page.
pub const DIFFERENCES: &[&str] = &[
    "When the kernel refuses a module, the error line ends with what the refusal most likely means, in parentheses: the module already loaded, module loading disabled by /proc/sys/kernel/modules_disabled, the kernel the module was built for, a missing symbol, a rejected signature.",
    "A file that cannot be decompressed is reported with the decoder's reason.",
    "--version prints \"kmod version 34 (rkmod VERSION)\" so that scripts reading kmod's version keep working.",
];

/// insmod's command-line definition.
pub fn command() -> Command {
    let command = Command::new(TOOL)
        .about("Insert a module into the Linux kernel")
        .override_usage("insmod [options] filename [module options]")
        .disable_version_flag(true)
        .infer_long_args(true)
        .arg(
            Arg::new("force")
                .short('f')
                .long("force")
                .action(ArgAction::SetTrue)
                .help("DANGEROUS: forces a module load, may cause data corruption and crash your machine. Implies --force-modversion and --force-vermagic"),
        )
        .arg(
            Arg::new("force-modversion")
                .long("force-modversion")
                .action(ArgAction::SetTrue)
                .help("Ignore module's version"),
        )
        .arg(
            Arg::new("force-vermagic")
                .long("force-vermagic")
                .action(ArgAction::SetTrue)
                .help("Ignore module's version magic"),
        );
    crate::cli::logging_and_version_args(command)
        .arg(
            Arg::new("filename")
                .value_name("FILENAME")
                .value_parser(clap::value_parser!(OsString))
                .help("The module file"),
        )
        .arg(
            Arg::new("params")
                .value_name("PARAM")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Append)
                .help("Module parameters, as name=value"),
        )
}

/// insmod's options as plain data.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How to force the load.
    pub force: InsertFlags,
    /// Log to syslog (`-s`).
    pub syslog: bool,
    /// How many `-v`.
    pub verbose: u8,
    /// The module file.
    pub filename: Option<OsString>,
    /// The parameters, one per argument.
    pub params: Vec<OsString>,
}

impl Options {
    fn from_matches(m: &clap::ArgMatches) -> Options {
        let force = m.get_flag("force");
        Options {
            force: InsertFlags {
                force_modversion: force || m.get_flag("force-modversion"),
                force_vermagic: force || m.get_flag("force-vermagic"),
            },
            syslog: m.get_flag("syslog"),
            verbose: m.get_count("verbose"),
            filename: m.get_one::<OsString>("filename").cloned(),
            params: m
                .get_many::<OsString>("params")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
        }
    }
}

/// Runs insmod with `args` (argv, starting with the program name) and returns the exit code.
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
    execute(&options, &NixKernel::new(), &log)
}

/// Does what `options` ask of `kernel`, reporting through `log`; returns the exit code.
pub fn execute(options: &Options, kernel: &dyn Kernel, log: &Logger) -> i32 {
    let Some(filename) = &options.filename else {
        log.error("missing filename.");
        return 1;
    };
    let shown = String::from_utf8_lossy(filename.as_bytes()).into_owned();
    if filename.as_bytes() == b"-" {
        log.error("this tool does not support loading from stdin!");
        return 1;
    }
    let path = Path::new(filename);
    // kmod first makes a module object from the path, which needs the file to exist.
    if let Err(e) = kmodcore::fs::stat(path) {
        log.error(&format!(
            "could not load module {shown}: {}",
            kmodcore::fs::strerror(e.raw_os_error().unwrap_or(libc_eio()))
        ));
        return 1;
    }
    let params = kernel::join_params(options.params.iter().map(|p| p.as_bytes()));
    let name = kmodcore::modname::name_from_path(filename.as_bytes());
    match kernel::insert_module(kernel, path, &params, options.force) {
        Ok(how) => {
            let how = match how {
                LoadPath::Finit => "finit_module",
                LoadPath::FinitCompressed => {
                    "finit_module with MODULE_INIT_COMPRESSED_FILE (the kernel decompressed it)"
                }
                LoadPath::Init => "init_module (read and decompressed here)",
            };
            log.log(Priority::Debug, &format!("inserted {shown} with {how}"));
            0
        }
        Err(err) => {
            let errno = err.errno();
            log.info(&format!(
                "Failed to insert module '{shown}': {}",
                kmodcore::fs::strerror(errno)
            ));
            let ctx = InsertContext {
                path: Some(path),
                name: &name,
                params: &params,
            };
            let text = kmsg::with_hint(
                kmsg::insmod_strerror(errno),
                kmsg::insert_detail(kernel, &err, &ctx),
            );
            log.error(&format!("could not insert module {shown}: {text}"));
            1
        }
    }
}

const fn libc_eio() -> i32 {
    5
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmodcore::kernel::{Call, Errno, FakeKernel, Syscall};

    fn options(file: &Path, params: &[&str]) -> Options {
        Options {
            filename: Some(file.as_os_str().to_owned()),
            params: params.iter().map(OsString::from).collect(),
            ..Options::default()
        }
    }

    fn module(dir: &Path, name: &str) -> std::path::PathBuf {
        let path = dir.join(format!("{name}.ko"));
        let image = testkit::ModuleSpec::new(name)
            .info("vermagic", "6.1.0-fake SMP mod_unload ")
            .info("parmtype", "n:int")
            .build();
        std::fs::write(&path, image).unwrap();
        path
    }

    #[test]
    fn loads_with_joined_params() {
        let dir = tempfile::tempdir().unwrap();
        let path = module(dir.path(), "m");
        let kernel = FakeKernel::new();
        let log = Logger::memory(TOOL, 0);
        let code = execute(&options(&path, &["n=1", "s=a b"]), &kernel, &log);
        assert_eq!((code, log.captured().as_str()), (0, ""));
        let log = Logger::memory(TOOL, 4);
        assert_eq!(
            execute(
                &options(&path, &[]),
                &FakeKernel::new().without_finit(),
                &log
            ),
            0
        );
        assert_eq!(
            log.captured(),
            format!(
                "insmod: DEBUG: inserted {} with init_module (read and decompressed here)\n",
                path.display()
            )
        );
        assert!(
            matches!(&kernel.calls()[0], Call::Finit { params, .. } if params == b"n=1 s=\"a b\"")
        );
    }

    #[test]
    fn errors_in_kmod_words_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = module(dir.path(), "m");
        let shown = path.display();
        let kernel = FakeKernel::new();
        let log = Logger::memory(TOOL, 0);
        kernel.fail(Syscall::FinitModule, None, Errno::ENOENT);
        assert_eq!(execute(&options(&path, &[]), &kernel, &log), 1);
        assert_eq!(
            log.captured(),
            format!("insmod: ERROR: could not insert module {shown}: Unknown symbol in module (a symbol the module needs is not exported by the kernel or by a loaded module: load its dependencies first (modprobe does), see dmesg)\n")
        );

        let log = Logger::memory(TOOL, 0);
        assert_eq!(execute(&options(&path, &[]), &kernel, &log), 0);
        assert_eq!(execute(&options(&path, &[]), &kernel, &log), 1);
        assert_eq!(
            log.captured(),
            format!("insmod: ERROR: could not insert module {shown}: File exists (a module named m is already loaded)\n")
        );
    }

    #[test]
    fn missing_arguments_and_files() {
        let kernel = FakeKernel::new();
        let log = Logger::memory(TOOL, 0);
        assert_eq!(execute(&Options::default(), &kernel, &log), 1);
        assert_eq!(execute(&options(Path::new("-"), &[]), &kernel, &log), 1);
        assert_eq!(
            execute(&options(Path::new("/nonexistent/x.ko"), &[]), &kernel, &log),
            1
        );
        assert_eq!(
            log.captured(),
            "insmod: ERROR: missing filename.\n\
             insmod: ERROR: this tool does not support loading from stdin!\n\
             insmod: ERROR: could not load module /nonexistent/x.ko: No such file or directory\n"
        );
        assert!(kernel.calls().is_empty());
    }

    #[test]
    fn force_means_both_flags() {
        let m = command()
            .try_get_matches_from(["insmod", "-f", "x.ko", "a=1"])
            .unwrap();
        let o = Options::from_matches(&m);
        assert!(o.force.force_modversion && o.force.force_vermagic);
        let m = command()
            .try_get_matches_from(["insmod", "x.ko", "--force-vermagic", "a=1", "b"])
            .unwrap();
        let o = Options::from_matches(&m);
        assert!(!o.force.force_modversion && o.force.force_vermagic);
        assert_eq!(o.params, [OsString::from("a=1"), OsString::from("b")]);
    }
}
