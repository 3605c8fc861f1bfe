//! `modprobe`: add and remove modules with their dependencies, and answer questions about
//! what that would do, as kmod's modprobe does.
//!
//! The arguments (with `MODPROBE_OPTIONS` from the environment in front of them) are parsed
//! into [`Options`]; the configuration and the module directory are read as libkmod's
//! `kmod_new` reads them; [`kmodcore::resolve`] resolves each request and plans the work, and
//! carries it out through the kernel. This file only turns the outcome into kmod's output.
//!
//! Test-only: the environment variable `RKMOD_SYSROOT` names a directory read instead of `/`
//! for `/proc` and `/sys` (the kernel command line, module states, in-kernel decompression),
//! so that tests can control what modprobe sees of the running kernel. Nothing else changes;
//! the module system calls still go to the real kernel.
//!
//! Deliberate differences from kmod are listed in [`DIFFERENCES`].

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::ops::ControlFlow;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Arg, ArgAction, Command};
use kmodcore::config::{Config, ConfigWarning};
use kmodcore::kernel::{Kernel, NixKernel};
use kmodcore::moddir::{IndexKind, ModuleDir, MODULE_DIRECTORY};
use kmodcore::module::ModuleFile;
use kmodcore::resolve::command::{CommandRunner, CommandStatus, ShellCommand, ShellRunner};
use kmodcore::resolve::probe::{self, Inserted, Level, ProbeError, ProbeFlags, Report, Reporter};
use kmodcore::resolve::{ModId, ResolveError, Resolver};

use crate::report;

mod parallel;

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

/// syslog's facility for daemons, which kmod logs to with `-s`.
const LOG_DAEMON: u8 = 3 << 3;

/// Deliberate differences from kmod, for the man page.
pub const DIFFERENCES: &[&str] = &[
    "`modprobe -c` prints a softdep with both lists as \"softdep X pre: A post: B\", with a space before \"post:\"; kmod (30 to 34) omits it and prints \"softdep X pre: Apost: B\", which does not read back as the same softdep.",
    "Install and remove commands get the options in the environment variable CMDLINE_OPTS, and each $CMDLINE_OPTS in the command is turned into a reference to it, so option text can never run as shell code. kmod pastes the text into the command. The visible difference: a quoted value (opt=\"a b\") reaches the command as two words.",
    "Install and remove commands may nest (a command running modprobe, which runs a command) at most 32 deep, counted in the environment variable RKMOD_MODPROBE_DEPTH; the next level fails with \"install and remove commands nest deeper than 32 levels\". kmod recurses without end when a command runs modprobe for its own module.",
    "MODPROBE_OPTIONS handed to install and remove commands carries the received value plus this run's own -C, -q, -v and -s options once; kmod appends every option again at each level, so the variable doubles with each nested modprobe.",
    "The kernel's own call, `modprobe -q -- NAME`, never treats NAME as a file, even when it starts with / or ./ (kmod 31 and later do).",
    "When modules.dep.bin is missing, a request that is not found gets a hint to run depmod; a corrupt index is an error naming the file (kmod treats it as missing).",
    "An install or remove command killed by a signal is a failure; kmod counts it as success.",
    "`modprobe -r -w MSEC` of a module still in use when the time runs out prints \"could not remove 'm': Resource temporarily unavailable\" and exits 1. kmod (30 to 34) exits 0 silently with the module still loaded when its last sleep ends exactly on the deadline, and spins forever when the sleep overshoots it (its backoff halves a zero interval until the clock goes back).",
    "`modprobe -r --remove-holders m`, when removing a holder already took m out as an unused dependency, exits 0; kmod then tries to remove m again and fails with \"could not remove 'm': No such file or directory\", exit 1, although the module is gone.",
    "A failed load is explained in parentheses after kmod's message: for example, that the module was built for another kernel, that module loading is disabled, or that its signature was rejected.",
    "--parallel[=N] (rkmod only) loads independent modules at the same time; see PARALLEL LOADING. Without it, modprobe behaves as kmod's.",
    "--version prints \"kmod version 34 (rkmod VERSION)\".",
];

/// modprobe's command-line definition.
pub fn command() -> Command {
    let flag = |id: &'static str, short: Option<char>, long: &'static str, help: &'static str| {
        let mut arg = crate::cli::occurrences(Arg::new(id).long(long).help(help));
        if let Some(short) = short {
            arg = arg.short(short);
        }
        arg
    };
    let value = |id: &'static str,
                 short: char,
                 long: &'static str,
                 name: &'static str,
                 help: &'static str| {
        Arg::new(id)
            .short(short)
            .long(long)
            .value_name(name)
            .value_parser(clap::value_parser!(OsString))
            .action(ArgAction::Append)
            .help(help)
    };
    Command::new(TOOL)
        .about("Add and remove modules from the Linux kernel")
        .override_usage(
            "modprobe [options] [-i] [-b] modulename [module parameters...]\n       \
             modprobe [options] -a [-i] [-b] modulename [modulename...]\n       \
             modprobe [options] -r [-i] modulename [modulename...]\n       \
             modprobe [options] -c\n       \
             modprobe [options] --show-modversions filename",
        )
        .disable_version_flag(true)
        .infer_long_args(true)
        .arg(flag("all", Some('a'), "all", "Consider every argument a module to insert or remove (-r)"))
        .arg(flag("remove", Some('r'), "remove", "Remove modules instead of inserting"))
        .arg(flag("remove-holders", None, "remove-holders", "Also remove the modules holding the module (implies -r)"))
        .arg(flag("remove-dependencies", None, "remove-dependencies", "Deprecated: use --remove-holders").hide(true))
        .arg(value("wait", 'w', "wait", "MSEC", "With -r, keep trying for up to MSEC while the module is in use"))
        .arg(flag("first-time", None, "first-time", "Fail if the module is already inserted or removed"))
        .arg(crate::cli::occurrences(
            Arg::new("ignore-install")
                .short('i')
                .long("ignore-install")
                .visible_alias("ignore-remove")
                .help("Ignore install and remove commands (and softdeps) of the named module"),
        ))
        .arg(flag("use-blacklist", Some('b'), "use-blacklist", "Apply the blacklist to modules named directly too"))
        .arg(flag("force", Some('f'), "force", "Force insertion or removal (implies --force-modversion and --force-vermagic)"))
        .arg(flag("force-modversion", None, "force-modversion", "Ignore the module's symbol versions"))
        .arg(flag("force-vermagic", None, "force-vermagic", "Ignore the module's version magic"))
        .arg(flag("show-alias", Some('R'), "show-alias", "Print the modules an alias resolves to and exit"))
        .arg(flag("resolve-alias", None, "resolve-alias", "Deprecated: use --show-alias").hide(true))
        .arg(flag("show-depends", Some('D'), "show-depends", "Print the module's dependencies and exit"))
        .arg(flag("show-config", Some('c'), "show-config", "Print the configuration and exit"))
        .arg(flag("showconfig", None, "showconfig", "Deprecated: use --show-config").hide(true))
        .arg(flag("show-modversions", None, "show-modversions", "Print the symbol versions a module needs and exit"))
        .arg(flag("dump-modversions", None, "dump-modversions", "Deprecated: use --show-modversions").hide(true))
        .arg(flag("show-exports", None, "show-exports", "Print the symbols a module exports and exit"))
        .arg(flag("dry-run", Some('n'), "dry-run", "Do everything but insert or remove modules, and print it"))
        .arg(flag("show", None, "show", "Deprecated: use --dry-run").hide(true))
        .arg(value("config", 'C', "config", "FILE", "Read FILE (a file or directory) instead of the default configuration"))
        .arg(value("dirname", 'd', "dirname", "DIR", "Use DIR as the file system root for /lib/modules"))
        .arg(value("set-version", 'S', "set-version", "VERSION", "Use VERSION instead of $(uname -r)"))
        .arg(flag("syslog", Some('s'), "syslog", "Print messages to syslog instead of stderr"))
        .arg(flag("quiet", Some('q'), "quiet", "Print no messages"))
        .arg(flag("verbose", Some('v'), "verbose", "Print more messages"))
        .arg(flag("version", Some('V'), "version", "Show the version"))
        .arg(
            Arg::new("parallel")
                .long("parallel")
                .value_name("N")
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("0")
                .value_parser(clap::value_parser!(u16))
                .help("Load independent modules at the same time, with N threads (default: the number of CPUs); not with -r"),
        )
        .arg(
            Arg::new("args")
                .value_name("MODULE")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Append)
                .help("Modules (names, aliases, or paths starting with / or ./), then module parameters"),
        )
}

/// What modprobe was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Insert the first argument with the others as its parameters (or every argument with
    /// `-a`).
    #[default]
    Insert,
    /// Remove the modules (`-r`).
    Remove,
    /// Print the configuration (`-c`).
    ShowConfig,
    /// Print a module's symbol versions (`--show-modversions`).
    ShowModversions,
    /// Print a module's exported symbols (`--show-exports`).
    ShowExports,
}

/// modprobe's options as plain data.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// What to do.
    pub mode: Mode,
    /// Every argument is a module (`-a`).
    pub all: bool,
    /// Only print what the names resolve to (`-R`).
    pub lookup_only: bool,
    /// Print what is done or would be done (`-D`, `-n`, or `-v`).
    pub show: bool,
    /// The resolver's flags.
    pub flags: ProbeFlags,
    /// The verbosity as a syslog level: messages of this importance or higher are printed.
    /// 4 (warnings) by default, 0 with `-q`, one more per `-v`.
    pub verbose: i32,
    /// The level of modprobe's own `FATAL` messages: critical, or a warning with `-a`.
    pub log_level: i32,
    /// Messages go to syslog (`-s`).
    pub syslog: bool,
    /// Configuration paths (`-C`); the defaults when empty.
    pub config_paths: Vec<PathBuf>,
    /// The root (`-d`).
    pub root: Option<OsString>,
    /// The kernel version (`-S`).
    pub kernel_version: Option<OsString>,
    /// The arguments.
    pub args: Vec<OsString>,
    /// The command line is the kernel's own `modprobe -q -- NAME`: the name is never a path.
    pub kernel_request: bool,
    /// Options for nested modprobe runs: what `MODPROBE_OPTIONS` held, plus this run's own
    /// `-C`, `-q`, `-v` and `-s`.
    pub nested_options: OsString,
    /// Deprecation warnings, in command-line order.
    pub deprecated: Vec<&'static str>,
    /// `--parallel[=N]`: load with this many threads (0: the number of CPUs); off when `None`.
    pub parallel: Option<u16>,
}

const DEFAULT_VERBOSE: i32 = 4;
const LOG_CRIT: i32 = 2;
const LOG_WARNING: i32 = 4;

/// Splits `MODPROBE_OPTIONS` as kmod does: at every space (two spaces make an empty
/// argument), with `"` or `'` quoting. A quoted argument ends at its closing quote; a quote
/// inside an argument is removed with its partner.
pub fn split_env_options(value: &[u8]) -> Vec<OsString> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut started_with_quote = false;
    let mut quote: Option<u8> = None;
    let mut pending = false;
    for &b in value {
        match quote {
            None if b == b' ' => {
                out.push(std::mem::take(&mut current));
                pending = false;
            }
            None if b == b'"' || b == b'\'' => {
                started_with_quote = current.is_empty() && !pending;
                quote = Some(b);
                pending = true;
            }
            None => {
                current.push(b);
                pending = true;
            }
            Some(q) if b == q => {
                quote = None;
                if started_with_quote {
                    // The argument ends at its closing quote; what follows starts another.
                    out.push(std::mem::take(&mut current));
                    pending = false;
                }
                started_with_quote = false;
            }
            Some(_) => {
                current.push(b);
                pending = true;
            }
        }
    }
    if quote.is_some() {
        // An unclosed quote stays part of the argument, as kmod leaves it.
        let mut with_quote = Vec::new();
        if let Some(q) = quote {
            with_quote.push(q);
        }
        with_quote.extend_from_slice(&current);
        if started_with_quote {
            current = with_quote;
        } else {
            // The quote sat somewhere inside: put it back where it was.
            current = rebuild_unclosed(value);
        }
        out.push(current);
    } else if pending || !current.is_empty() {
        out.push(current);
    }
    out.into_iter().map(OsString::from_vec).collect()
}

/// The last argument of `value` as written, for an unclosed quote (kmod leaves it untouched).
fn rebuild_unclosed(value: &[u8]) -> Vec<u8> {
    // The last argument starts after the last space outside quotes.
    let mut start = 0;
    let mut quote: Option<u8> = None;
    for (i, &b) in value.iter().enumerate() {
        match quote {
            None if b == b' ' => start = i + 1,
            None if b == b'"' || b == b'\'' => quote = Some(b),
            Some(q) if b == q => quote = None,
            _ => {}
        }
    }
    let tail = value.get(start..).unwrap_or_default();
    // Remove every closed pair of quotes in the tail, keep the unclosed one.
    let mut out = Vec::new();
    let mut quote: Option<(u8, usize)> = None;
    for &b in tail {
        match quote {
            None if b == b'"' || b == b'\'' => {
                quote = Some((b, out.len()));
                out.push(b);
            }
            Some((q, at)) if b == q => {
                out.remove(at);
                quote = None;
            }
            _ => out.push(b),
        }
    }
    out
}

/// Parses C's `strtoul(text, &end, 0)` as `-w` does: leading blanks, an optional sign, a
/// `0x`/`0` base prefix; the whole text must be consumed. A minus sign wraps, as in C.
fn parse_wait(text: &[u8]) -> Option<u64> {
    let mut rest = text;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b' ' || (b'\t'..=b'\r').contains(&b) {
            rest = tail;
        } else {
            break;
        }
    }
    let negative = match rest.first() {
        Some(b'-') => {
            rest = rest.get(1..).unwrap_or_default();
            true
        }
        Some(b'+') => {
            rest = rest.get(1..).unwrap_or_default();
            false
        }
        _ => false,
    };
    let (radix, digits) = if (rest.starts_with(b"0x") || rest.starts_with(b"0X"))
        && rest.get(2).is_some_and(u8::is_ascii_hexdigit)
    {
        (16, rest.get(2..).unwrap_or_default())
    } else if rest.starts_with(b"0") {
        (8, rest)
    } else {
        (10, rest)
    };
    if digits.is_empty() || text.is_empty() {
        return None;
    }
    let text = std::str::from_utf8(digits).ok()?;
    let value = u64::from_str_radix(text, radix).ok()?;
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// The highest index clap gives any option or argument of `args` (the program name, then the
/// words of MODPROBE_OPTIONS), parsed on their own: everything after them on the full command
/// line has a higher one. 0 when they do not parse alone (a last option whose value is the
/// first word of the command line): then every option counts as the command line's, as all
/// do in kmod.
fn last_index(args: Vec<OsString>) -> usize {
    let mut command = command();
    let Ok(matches) = command.try_get_matches_from_mut(args) else {
        return 0;
    };
    command
        .get_arguments()
        .filter_map(|arg| matches.indices_of(arg.get_id().as_str()))
        .flatten()
        .max()
        .unwrap_or(0)
}

/// What parsing decided: go on with these options, or exit now with this code.
enum Parsed {
    Run(Box<Options>),
    Exit(i32),
}

/// Parses `argv` with the words of `env` (MODPROBE_OPTIONS) in front of its arguments.
fn parse(argv: Vec<OsString>, env: Option<OsString>) -> Parsed {
    let from_env = env
        .as_ref()
        .map(|v| split_env_options(v.as_bytes()))
        .unwrap_or_default();
    let env_count = from_env.len();
    let kernel_request = argv.len() == 4
        && argv.get(1).is_some_and(|a| a == "-q")
        && argv.get(2).is_some_and(|a| a == "--");
    let mut args = Vec::with_capacity(argv.len() + env_count);
    let mut rest = argv.into_iter();
    args.push(rest.next().unwrap_or_else(|| OsString::from(TOOL)));
    args.extend(from_env);
    args.extend(rest);
    let from_env_only = (env_count > 0).then(|| args[..=env_count].to_vec());

    let matches = match crate::cli::parse(command(), TOOL, args) {
        Ok(m) => m,
        Err(code) => return Parsed::Exit(code),
    };
    // An option whose index is past this one came from the command line, not from
    // MODPROBE_OPTIONS (whose words come first).
    let env_end = from_env_only.map_or(0, last_index);
    let mut o = Options {
        verbose: DEFAULT_VERBOSE,
        log_level: LOG_CRIT,
        kernel_request,
        ..Options::default()
    };
    // Options whose effect depends on their order are replayed in command-line order.
    let mut events: Vec<(usize, &'static str, Option<OsString>)> = Vec::new();
    for id in [
        "all",
        "remove",
        "remove-holders",
        "remove-dependencies",
        "first-time",
        "ignore-install",
        "use-blacklist",
        "force",
        "force-modversion",
        "force-vermagic",
        "show-alias",
        "resolve-alias",
        "show-depends",
        "show-config",
        "showconfig",
        "show-modversions",
        "dump-modversions",
        "show-exports",
        "dry-run",
        "show",
        "syslog",
        "quiet",
        "verbose",
        "version",
    ] {
        for index in matches.indices_of(id).into_iter().flatten() {
            events.push((index, id, None));
        }
    }
    for id in ["wait", "config", "dirname", "set-version"] {
        if let (Some(values), Some(indices)) =
            (matches.get_many::<OsString>(id), matches.indices_of(id))
        {
            for (value, index) in values.zip(indices) {
                events.push((index, id, Some(value.clone())));
            }
        }
    }
    events.sort_by_key(|(index, _, _)| *index);
    let mut own = Vec::new();
    let mut remove = false;
    let mut show_config = false;
    let mut modversions = false;
    let mut exports = false;
    for (index, id, value) in events {
        let from_cmdline = index > env_end;
        match id {
            "all" => {
                o.all = true;
                o.log_level = LOG_WARNING;
            }
            "remove" => remove = true,
            "remove-dependencies" | "remove-holders" => {
                if id == "remove-dependencies" {
                    o.deprecated.push("--remove-dependencies is deprecated and scheduled for removal; use --remove-holders");
                }
                o.flags.remove_holders = true;
                remove = true;
            }
            "wait" => {
                let text = value.unwrap_or_default();
                match parse_wait(text.as_bytes()) {
                    Some(msec) => o.flags.wait = Duration::from_millis(msec),
                    None => {
                        report::error(
                            TOOL,
                            &format!("unexpected wait value '{}'.", text.to_string_lossy()),
                        );
                        return Parsed::Exit(1);
                    }
                }
            }
            "first-time" => o.flags.first_time = true,
            "ignore-install" => o.flags.ignore_command = true,
            "use-blacklist" => o.flags.use_blacklist = true,
            "force" => {
                o.flags.force_modversion = true;
                o.flags.force_vermagic = true;
                o.flags.force_remove = true;
            }
            "force-modversion" => o.flags.force_modversion = true,
            "force-vermagic" => o.flags.force_vermagic = true,
            "show-depends" => {
                o.flags.ignore_loaded = true;
                o.flags.dry_run = true;
                o.show = true;
            }
            "resolve-alias" | "show-alias" => {
                if id == "resolve-alias" {
                    o.deprecated.push(
                        "--resolve-alias is deprecated and scheduled for removal; use --show-alias",
                    );
                }
                o.lookup_only = true;
            }
            "showconfig" | "show-config" => {
                if id == "showconfig" {
                    o.deprecated.push(
                        "--showconfig is deprecated and scheduled for removal; use --show-config",
                    );
                }
                show_config = true;
            }
            "dump-modversions" | "show-modversions" => {
                if id == "dump-modversions" {
                    o.deprecated.push("--dump-modversions is deprecated and scheduled for removal; use --show-modversions");
                }
                modversions = true;
            }
            "show-exports" => exports = true,
            "show" | "dry-run" => {
                if id == "show" {
                    o.deprecated
                        .push("--show is deprecated and scheduled for removal; use --dry-run");
                }
                o.flags.dry_run = true;
                o.show = true;
            }
            "config" => {
                let path = value.unwrap_or_default();
                if from_cmdline {
                    own.push(OsString::from("-C"));
                    own.push(path.clone());
                }
                o.config_paths.push(PathBuf::from(path));
            }
            "dirname" => o.root = value,
            "set-version" => o.kernel_version = value,
            "syslog" => {
                o.syslog = true;
                if from_cmdline {
                    own.push(OsString::from("-s"));
                }
            }
            "quiet" => {
                o.verbose = 0;
                if from_cmdline {
                    own.push(OsString::from("-q"));
                }
            }
            "verbose" => {
                o.verbose = o.verbose.saturating_add(1);
                if from_cmdline {
                    own.push(OsString::from("-v"));
                }
            }
            "version" => {
                for warning in &o.deprecated {
                    report::warning(TOOL, warning);
                }
                println!("{}", crate::cli::version_text());
                return Parsed::Exit(0);
            }
            _ => {}
        }
    }
    o.mode = if show_config {
        Mode::ShowConfig
    } else if modversions {
        Mode::ShowModversions
    } else if exports {
        Mode::ShowExports
    } else if remove {
        Mode::Remove
    } else {
        Mode::Insert
    };
    if o.verbose > DEFAULT_VERBOSE {
        o.show = true;
    }
    o.parallel = matches.get_one::<u16>("parallel").copied();
    o.args = matches
        .get_many::<OsString>("args")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let mut nested = env.unwrap_or_default();
    for option in own {
        if !nested.is_empty() {
            nested.push(" ");
        }
        nested.push(option);
    }
    o.nested_options = nested;
    Parsed::Run(Box::new(o))
}

/// Where modprobe's messages go: stderr as `modprobe: LEVEL: text`, or syslog.
struct Log {
    verbose: i32,
    syslog: bool,
}

impl Log {
    fn level_name(level: i32) -> String {
        match level {
            2 => "FATAL".into(),
            3 => "ERROR".into(),
            4 => "WARNING".into(),
            5 => "NOTICE".into(),
            6 => "INFO".into(),
            7 => "DEBUG".into(),
            other => format!("LOG-{other:03}"),
        }
    }

    /// Prints a message of `level` when the verbosity allows it; returns whether it did.
    fn print(&self, level: i32, text: &str) -> bool {
        if level > self.verbose {
            return false;
        }
        let line = format!("{}: {}", Self::level_name(level), text);
        if self.syslog {
            to_syslog(level, &line);
        } else {
            let _ = writeln!(std::io::stderr().lock(), "{TOOL}: {line}");
        }
        true
    }
}

/// Sends one message to the system log socket, as `openlog(modprobe, LOG_CONS, LOG_DAEMON)`
/// would: when the logger cannot be reached, to the console instead, never to stderr.
fn to_syslog(level: i32, line: &str) {
    let priority = i32::from(LOG_DAEMON) + level.clamp(0, 7);
    let message = format!("<{priority}>{TOOL}: {line}");
    let sent = std::os::unix::net::UnixDatagram::unbound()
        .and_then(|socket| socket.send_to(message.as_bytes(), "/dev/log"));
    if sent.is_err() {
        if let Ok(mut console) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
            let _ = writeln!(console, "{TOOL}: {line}\r");
        }
    }
}

/// The module directory kmod uses: `ROOT/lib/modules/KVER` when `-d` or `-S` is given, else
/// `/lib/modules/$(uname -r)`, made absolute.
fn module_dir_path(options: &Options) -> Result<PathBuf, String> {
    let release = || {
        nix::sys::utsname::uname()
            .map(|u| u.release().to_os_string())
            .map_err(|e| format!("uname() failed: {}", report::strerror(e as i32)))
    };
    let mut path = Vec::new();
    if options.root.is_some() || options.kernel_version.is_some() {
        let kver = match &options.kernel_version {
            Some(k) => k.clone(),
            None => release()?,
        };
        path.extend_from_slice(options.root.as_deref().unwrap_or_default().as_bytes());
        path.extend_from_slice(MODULE_DIRECTORY.as_bytes());
        path.push(b'/');
        path.extend_from_slice(kver.as_bytes());
        if path.len() >= 4096 {
            return Err(format!(
                "bad directory {}{MODULE_DIRECTORY}/{}: path too long",
                options
                    .root
                    .as_deref()
                    .unwrap_or_default()
                    .to_string_lossy(),
                kver.to_string_lossy()
            ));
        }
    } else {
        path.extend_from_slice(MODULE_DIRECTORY.as_bytes());
        path.push(b'/');
        path.extend_from_slice(release()?.as_bytes());
    }
    Ok(kmodcore::resolve::absolute_path(Path::new(
        OsStr::from_bytes(&path),
    )))
}

/// Prints configuration warnings as libkmod does while its context is created, before any
/// tool sets up its own logging: `libkmod: ERROR: FUNCTION: MESSAGE`.
pub fn print_config_warnings(warnings: &[ConfigWarning]) {
    let mut err = std::io::stderr().lock();
    for w in warnings {
        let mut line = b"libkmod: ERROR: ".to_vec();
        line.extend_from_slice(w.kmod_function().as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(&w.message());
        line.push(b'\n');
        let _ = err.write_all(&line);
    }
}

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

/// Whether stderr is open; kmod logs to syslog when it is not.
fn stderr_usable() -> bool {
    use std::os::fd::AsRawFd;
    nix::sys::stat::fstat(std::io::stderr().as_raw_fd()).is_ok()
}

/// One modprobe run's state.
struct Session<'a> {
    options: &'a Options,
    log: Log,
    out: report::Output,
    dir: &'a ModuleDir,
    dir_path: &'a Path,
    kernel: &'a NixKernel,
    /// An explanation for the last failed load, printed after kmod's message.
    hint: Option<String>,
}

/// What a step of the run ended with: go on, or stop now (a FATAL message was printed).
type Step<T> = Result<T, Stop>;

/// The run must end now, unsuccessfully.
struct Stop;

impl Session<'_> {
    /// Prints one of modprobe's own `LOG()` messages: FATAL (ending the run) by default, a
    /// warning with `-a`.
    fn fatal(&mut self, text: &str) -> Step<()> {
        let level = self.options.log_level;
        self.out.flush();
        if self.log.print(level, text) && level <= LOG_CRIT {
            return Err(Stop);
        }
        Ok(())
    }

    fn error(&mut self, text: &str) {
        self.out.flush();
        self.log.print(3, text);
    }

    fn dispatch(&mut self, config: &Config) -> bool {
        match self.options.mode {
            Mode::ShowConfig => self.show_config(config),
            Mode::ShowModversions | Mode::ShowExports => {
                let mut resolver = Resolver::new(self.dir, config);
                let arg = self.options.args.first().cloned().unwrap_or_default();
                self.show_symbols(&mut resolver, &arg).unwrap_or(false)
            }
            Mode::Remove => {
                let mut resolver = Resolver::new(self.dir, config);
                let mut ok = true;
                for arg in self.options.args.clone() {
                    match self.remove(&mut resolver, &arg) {
                        Ok(true) => {}
                        Ok(false) => ok = false,
                        Err(Stop) => return false,
                    }
                }
                ok
            }
            Mode::Insert => {
                let mut resolver = Resolver::new(self.dir, config);
                let args = self.options.args.clone();
                if let Some(threads) = self.parallel_threads() {
                    return self.insert_parallel(&mut resolver, &args, threads);
                }
                if self.options.all {
                    let mut ok = true;
                    for arg in &args {
                        match self.insert(&mut resolver, arg, None) {
                            Ok(true) => {}
                            Ok(false) => ok = false,
                            Err(Stop) => return false,
                        }
                    }
                    ok
                } else {
                    let (first, params) = args
                        .split_first()
                        .map_or((OsString::new(), &[][..]), |(f, p)| (f.clone(), p));
                    let extra = (!params.is_empty()).then(|| {
                        kmodcore::kernel::join_params(params.iter().map(|p| p.as_bytes()))
                    });
                    self.insert(&mut resolver, &first, extra.as_deref())
                        .unwrap_or(false)
                }
            }
        }
    }

    fn show_config(&mut self, config: &Config) -> bool {
        self.out.write(&config.render_modprobe_c());
        self.out
            .write(b"\n# End of configuration files. Dumping indexes now:\n\n");
        self.out.flush();
        for kind in [IndexKind::Alias, IndexKind::Symbols] {
            match self.dir.index(kind) {
                Ok(Some(index)) => {
                    let mut buf = Vec::new();
                    let result = index.dump(&mut buf, true);
                    self.out.write(&buf);
                    if let Err(e) = result {
                        self.out.flush();
                        self.error(&format!("{}: {e}", self.dir.index_path(kind).display()));
                        return false;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.error(&e.to_string());
                    return false;
                }
            }
        }
        true
    }

    /// Whether an argument names a module file: it starts with `/` or `./` (kmod 31 and
    /// later), and the command line is not the kernel's own request.
    fn is_path(&self, arg: &OsStr) -> bool {
        let bytes = arg.as_bytes();
        !self.options.kernel_request && (bytes.starts_with(b"/") || bytes.starts_with(b"./"))
    }

    /// Resolves an argument as kmod's `module_new_from_any` does, printing its message when
    /// nothing is found. `Ok(None)`: not found (reported).
    fn resolve_any(
        &mut self,
        resolver: &mut Resolver<'_>,
        arg: &OsStr,
    ) -> Step<Option<Vec<ModId>>> {
        if self.is_path(arg) {
            return match resolver.from_path(Path::new(arg)) {
                Ok(id) => Ok(Some(vec![id])),
                Err(e) => {
                    let reason = match &e {
                        ResolveError::Core(core) => report::strerror(core.errno()),
                        other => other.to_string(),
                    };
                    self.fatal(&format!(
                        "Failed to get module from path {}: {reason}",
                        arg.to_string_lossy()
                    ))?;
                    Ok(None)
                }
            };
        }
        match resolver.lookup(arg.as_bytes()) {
            Ok(ids) if !ids.is_empty() => Ok(Some(ids)),
            Ok(_) | Err(ResolveError::Core(kmodcore::Error::NotFound { .. })) => {
                self.not_found_hint();
                self.fatal(&format!(
                    "Module {} not found in directory {}",
                    arg.to_string_lossy(),
                    self.dir_path.display()
                ))?;
                Ok(None)
            }
            Err(e) => {
                self.index_error(&e);
                Ok(None)
            }
        }
    }

    /// kmod says nothing when modules.dep.bin is missing; rkmod adds a hint before the "not
    /// found" message.
    fn not_found_hint(&mut self) {
        let path = self.dir.index_path(IndexKind::Dep);
        // Opened without blocking: a FIFO in its place must not hang the run.
        let problem = match kmodcore::module::open_regular_file(&path) {
            Ok((_, 0)) => "empty file".to_string(),
            Ok(_) => return,
            Err(kmodcore::Error::Io { source, .. }) => {
                report::strerror(source.raw_os_error().unwrap_or(5))
            }
            Err(_) => "not a regular file".to_string(),
        };
        let text = format!(
            "{}: {problem} (run depmod to create the module indexes)",
            path.display()
        );
        self.log.print(LOG_WARNING, &text);
    }

    fn index_error(&mut self, e: &dyn std::fmt::Display) {
        self.error(&format!("{e} (run depmod to rebuild the module indexes)"));
    }

    fn insert(
        &mut self,
        resolver: &mut Resolver<'_>,
        arg: &OsStr,
        extra: Option<&[u8]>,
    ) -> Step<bool> {
        let Some(ids) = self.resolve_any(resolver, arg)? else {
            return Ok(false);
        };
        let mut ok = true;
        for id in ids {
            ok = self.insert_one(resolver, id, extra)?;
        }
        Ok(ok)
    }

    fn insert_one(
        &mut self,
        resolver: &mut Resolver<'_>,
        id: ModId,
        extra: Option<&[u8]>,
    ) -> Step<bool> {
        let name = String::from_utf8_lossy(resolver.name(id)).into_owned();
        if self.options.lookup_only {
            let mut line = resolver.name(id).to_vec();
            line.push(b'\n');
            self.out.write(&line);
            return Ok(true);
        }
        let mut runner = NestedRunner::new(self.options);
        self.hint = None;
        let result = {
            let mut reporter = SessionReporter { session: self };
            probe::insert(
                resolver,
                reporter.session.kernel,
                &mut runner,
                id,
                reporter.session.options.flags,
                extra,
                &mut reporter,
            )
        };
        self.insert_outcome(&name, result)
    }

    /// Reports how inserting module `name` ended, as kmod words it.
    fn insert_outcome(&mut self, name: &str, result: Result<Inserted, ProbeError>) -> Step<bool> {
        match result {
            Ok(Inserted::Done | Inserted::AlreadyLoaded | Inserted::Blacklisted) => Ok(true),
            Err(ProbeError::Stopped) => Err(Stop),
            Err(ProbeError::Errno(errno)) => {
                let text = match errno {
                    nix::errno::Errno::EEXIST => "Module already in kernel".to_string(),
                    nix::errno::Errno::ENOENT => {
                        "Unknown symbol in module, or unknown parameter (see dmesg)".to_string()
                    }
                    other => report::strerror(other as i32),
                };
                let mut message = format!("could not insert '{name}': {text}");
                if let Some(hint) = self.hint.take() {
                    message.push_str(" (");
                    message.push_str(&hint);
                    message.push(')');
                }
                self.error(&message);
                Ok(false)
            }
            Err(ProbeError::Resolve(e)) => {
                self.index_error(&e);
                Ok(false)
            }
            Err(other) => {
                self.error(&format!("could not insert '{name}': {other}"));
                Ok(false)
            }
        }
    }

    fn remove(&mut self, resolver: &mut Resolver<'_>, arg: &OsStr) -> Step<bool> {
        let ids = match resolver.lookup(arg.as_bytes()) {
            Ok(ids) => ids,
            Err(ResolveError::Core(kmodcore::Error::NotFound { .. })) => Vec::new(),
            Err(e) => {
                self.index_error(&e);
                return Ok(false);
            }
        };
        if ids.is_empty() {
            self.not_found_hint();
            self.fatal(&format!("Module {} not found.", arg.to_string_lossy()))?;
            return Ok(false);
        }
        let mut runner = NestedRunner::new(self.options);
        for id in ids {
            let result = {
                let mut reporter = SessionReporter { session: self };
                probe::remove(
                    resolver,
                    reporter.session.kernel,
                    &mut runner,
                    id,
                    reporter.session.options.flags,
                    &mut reporter,
                )
            };
            match result {
                Ok(()) => {}
                Err(ProbeError::Stopped) => return Err(Stop),
                Err(ProbeError::Errno(_)) => return Ok(false),
                Err(ProbeError::Resolve(e)) => {
                    self.index_error(&e);
                    return Ok(false);
                }
                Err(other) => {
                    self.error(&other.to_string());
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// `--show-modversions` and `--show-exports`.
    fn show_symbols(&mut self, resolver: &mut Resolver<'_>, arg: &OsStr) -> Step<bool> {
        let Some(ids) = self.resolve_any(resolver, arg)? else {
            return Ok(false);
        };
        let exports = self.options.mode == Mode::ShowExports;
        let mut ok = true;
        for id in ids {
            let name = String::from_utf8_lossy(resolver.name(id)).into_owned();
            let listed = match resolver.path(id) {
                Ok(Some(path)) => symbol_list(&path, exports),
                Ok(None) => Err(nix::errno::Errno::ENOENT),
                Err(e) => {
                    self.index_error(&e);
                    ok = false;
                    continue;
                }
            };
            match listed {
                Ok(list) => {
                    let mut text = Vec::new();
                    for (crc, symbol) in list {
                        text.extend_from_slice(format!("0x{crc:08x}\t").as_bytes());
                        text.extend_from_slice(&symbol);
                        text.push(b'\n');
                    }
                    self.out.write(&text);
                    ok = true;
                }
                Err(errno) => {
                    let what = if exports { "symbols" } else { "modversions" };
                    self.fatal(&format!(
                        "could not get {what} of {name}: {}",
                        report::strerror(errno as i32)
                    ))?;
                    ok = false;
                }
            }
        }
        Ok(ok)
    }
}

/// The `(crc, symbol)` pairs of a module's `__versions` (imports) or exports, as kmod lists
/// them, or the errno kmod fails with.
fn symbol_list(path: &Path, exports: bool) -> Result<Vec<(u64, Vec<u8>)>, nix::errno::Errno> {
    use nix::errno::Errno;
    let file = ModuleFile::open(path).map_err(|e| Errno::from_raw(e.errno()))?;
    let elf = file.elf().map_err(|_| Errno::EINVAL)?;
    if exports {
        kmodcore::module::symbols::exports(&elf)
    } else {
        kmodcore::module::symbols::modversions(&elf)
    }
}

/// Routes the resolver's reports to the session's output and log.
struct SessionReporter<'s, 'a> {
    session: &'s mut Session<'a>,
}

impl Reporter for SessionReporter<'_, '_> {
    fn report(&mut self, report: Report<'_>) -> ControlFlow<()> {
        let s = &mut *self.session;
        match report {
            Report::Show(shown) => {
                if s.options.show {
                    s.out.write(&shown.line());
                }
            }
            Report::Message(level, text) => {
                let level = match level {
                    Level::Critical => s.options.log_level,
                    other => other as i32,
                };
                s.out.flush();
                if s.log.print(level, &text) && level <= LOG_CRIT {
                    return ControlFlow::Break(());
                }
            }
            Report::LoadFailed {
                name,
                path,
                params,
                error,
            } => {
                if let Some(errno) = error.kernel_errno() {
                    let context = kmodcore::kernel::hint::InsertContext {
                        path: Some(path),
                        name,
                        params,
                    };
                    s.hint = kmodcore::kernel::hint::insert_hint(
                        s.kernel as &dyn Kernel,
                        errno,
                        &context,
                    );
                } else {
                    s.hint = Some(error.to_string());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Runs install and remove commands through `/bin/sh`, passing on `MODPROBE_OPTIONS` and
/// counting the nesting depth.
struct NestedRunner {
    shell: ShellRunner,
    depth: u32,
}

impl NestedRunner {
    fn new(options: &Options) -> NestedRunner {
        let depth = std::env::var(DEPTH_ENV)
            .ok()
            .and_then(|d| d.parse::<u32>().ok())
            .unwrap_or(0);
        let mut shell = ShellRunner::default();
        shell.env.push((
            DEPTH_ENV.into(),
            (depth.saturating_add(1)).to_string().into(),
        ));
        if !options.nested_options.is_empty() {
            shell
                .env
                .push((MODPROBE_OPTIONS.into(), options.nested_options.clone()));
        }
        NestedRunner { shell, depth }
    }
}

impl CommandRunner for NestedRunner {
    fn run(&mut self, command: &ShellCommand) -> std::io::Result<CommandStatus> {
        if self.depth >= MAX_COMMAND_DEPTH {
            return Err(std::io::Error::other(format!(
                "install and remove commands nest deeper than {MAX_COMMAND_DEPTH} levels ({DEPTH_ENV}); \
                 a command probably runs modprobe for its own module"
            )));
        }
        self.shell.run(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        split_env_options(s.as_bytes())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn env_options_split_like_kmod() {
        assert_eq!(split("-q -b"), ["-q", "-b"]);
        assert_eq!(split("-q  -b"), ["-q", "", "-b"]);
        // A trailing space ends the last argument and starts none (kmod pushes only when
        // something follows).
        assert_eq!(split("-b "), ["-b"]);
        assert_eq!(split(""), Vec::<String>::new());
        assert_eq!(split("-C \"/a b\" -q"), ["-C", "/a b", "", "-q"]);
        assert_eq!(split("-C\"/a b\"x -q"), ["-C/a bx", "-q"]);
        assert_eq!(split("'-q'"), ["-q"]);
    }

    /// The options of a run's own command line (`-C`, `-q`, `-v`, `-s`) go on to nested runs
    /// after what MODPROBE_OPTIONS held; the environment's own are not repeated, whether they
    /// came alone, clustered (`-qs`), or as a value in the next word (`-C DIR`).
    #[test]
    fn nested_options_add_only_the_command_line_s_own() {
        let nested = |env: Option<&str>, args: &[&str]| {
            let argv = std::iter::once("modprobe").chain(args.iter().copied());
            match parse(argv.map(OsString::from).collect(), env.map(OsString::from)) {
                Parsed::Run(options) => options.nested_options.to_string_lossy().into_owned(),
                Parsed::Exit(code) => panic!("exit {code} for {env:?} {args:?}"),
            }
        };
        assert_eq!(nested(None, &["-q", "x"]), "-q");
        assert_eq!(nested(Some("-b"), &["-C", "/c", "x"]), "-b -C /c");
        assert_eq!(nested(Some("-qs"), &["-v", "x"]), "-qs -v");
        assert_eq!(nested(Some("-vv -s"), &["x"]), "-vv -s");
        assert_eq!(
            nested(Some("-C /e -q"), &["-bv", "-C/c", "x"]),
            "-C /e -q -v -C /c"
        );
        assert_eq!(
            nested(Some("-n"), &["--quiet", "--syslog", "x"]),
            "-n -q -s"
        );
        // A last option whose value is the command line's first word: as in kmod, the
        // options then all count as the command line's.
        assert_eq!(nested(Some("-q -C"), &["/c", "x"]), "-q -C -q -C /c");
    }

    #[test]
    fn wait_values_parse_like_strtoul() {
        assert_eq!(parse_wait(b"1000"), Some(1000));
        assert_eq!(parse_wait(b"0x10"), Some(16));
        assert_eq!(parse_wait(b"010"), Some(8));
        assert_eq!(parse_wait(b" 5"), Some(5));
        assert_eq!(parse_wait(b""), None);
        assert_eq!(parse_wait(b"5ms"), None);
        assert_eq!(parse_wait(b"-1"), Some(u64::MAX));
        assert_eq!(parse_wait(b"99999999999999999999999"), None);
    }
}
