//! Argument handling shared by the tools: kmod-style option errors and the version text.

use std::ffi::OsString;

use clap::{Arg, ArgAction, Command};

/// The kmod release whose behaviour rkmod follows.
pub const KMOD_COMPAT_VERSION: &str = "34";

/// What `--version` prints: kmod's first line (scripts parse the version number from its
/// third word) with rkmod's own version after it, then the feature line.
pub fn version_text() -> String {
    format!(
        "kmod version {KMOD_COMPAT_VERSION} (rkmod {})\n+ZSTD +XZ +ZLIB +LIBCRYPTO -EXPERIMENTAL",
        env!("CARGO_PKG_VERSION")
    )
}

/// Parses `args` with `command`, turning clap's errors into getopt's wording on stderr and
/// exit code 1, as kmod's tools do. `Err(code)` means: exit with this code now (help and
/// version were printed, or an error was).
pub fn parse(
    mut command: clap::Command,
    tool: &str,
    args: Vec<OsString>,
) -> Result<clap::ArgMatches, i32> {
    let raw = args.clone();
    // `_mut` keeps the definition for the error messages below without cloning it up front.
    let result = command.try_get_matches_from_mut(args);
    let definition = command;
    match result {
        Ok(matches) => Ok(matches),
        Err(err) => {
            use clap::error::{ContextKind, ContextValue, ErrorKind};
            match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = err.print();
                    Err(0)
                }
                kind => {
                    let arg = match err.get(ContextKind::InvalidArg) {
                        Some(ContextValue::String(s)) => s.clone(),
                        _ => String::new(),
                    };
                    let message = match kind {
                        ErrorKind::UnknownArgument if arg.starts_with("--") => {
                            format!("unrecognized option '{arg}'")
                        }
                        ErrorKind::UnknownArgument => {
                            format!("invalid option -- '{}'", arg.trim_start_matches('-'))
                        }
                        ErrorKind::InvalidValue | ErrorKind::NoEquals
                            if arg.starts_with("--") && !typed_short(&definition, &raw, &arg) =>
                        {
                            format!(
                                "option '{}' requires an argument",
                                arg.split(' ').next().unwrap_or(&arg)
                            )
                        }
                        ErrorKind::InvalidValue | ErrorKind::NoEquals => format!(
                            "option requires an argument -- '{}'",
                            short_of(&definition, &arg).unwrap_or_else(|| arg
                                .trim_start_matches('-')
                                .chars()
                                .next()
                                .unwrap_or('?'))
                        ),
                        _ => err
                            .to_string()
                            .trim_end()
                            .trim_start_matches("error: ")
                            .to_string(),
                    };
                    eprintln!("{tool}: {message}");
                    Err(1)
                }
            }
        }
    }
}

/// The short flag of the option clap names as `--long <VALUE>` in an error.
fn short_of(command: &clap::Command, arg: &str) -> Option<char> {
    let long = arg.trim_start_matches("--").split(' ').next()?;
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(clap::Arg::get_short)
}

/// Whether the option clap complains about (named `--long <VALUE>`) was last typed in its
/// short form (`-C`, or at the end of a cluster like `-qC`): getopt words its message after
/// the form that was typed.
fn typed_short(command: &clap::Command, args: &[OsString], arg: &str) -> bool {
    let Some(short) = short_of(command, arg) else {
        return false;
    };
    let long = arg
        .trim_start_matches("--")
        .split(' ')
        .next()
        .unwrap_or_default();
    for raw in args.iter().skip(1).rev() {
        let raw = raw.to_string_lossy();
        if raw == "--" {
            break;
        }
        if let Some(name) = raw.strip_prefix("--") {
            if !name.is_empty() && long.starts_with(name.split('=').next().unwrap_or(name)) {
                return false;
            }
        } else if let Some(cluster) = raw.strip_prefix('-') {
            if cluster.ends_with(short) {
                return true;
            }
        }
    }
    false
}

/// A `-X`/`--NAME` switch: set when given, with no value.
pub fn flag(name: &'static str, short: char, help: &'static str) -> Arg {
    Arg::new(name)
        .short(short)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

/// `-v`/`--verbose`, counted: each one given raises the verbosity by one.
pub fn verbose(help: &'static str) -> Arg {
    Arg::new("verbose")
        .short('v')
        .long("verbose")
        .action(ArgAction::Count)
        .help(help)
}

/// `arg` made a switch whose every occurrence is recorded, with no default value.
///
/// clap gives `SetTrue` and `Count` switches a default value, and fills the defaults in at
/// every parse: for modprobe's thirty switches that was a third of the work of a
/// `modprobe --show-depends` run outside the kernel (a value parsed, stored and freed for
/// each switch not given). A switch made here has no value unless given, and `indices_of`
/// lists where it was (one index per occurrence, in command-line order, like every option's).
pub fn occurrences(arg: Arg) -> Arg {
    arg.action(ArgAction::Append)
        .num_args(0)
        .default_missing_value("")
        .value_parser(clap::builder::ValueParser::os_string())
}

/// The `-s`/`--syslog`, `-v`/`--verbose` and `-V`/`--version` options that insmod, rmmod and
/// lsmod share, worded as kmod words them.
pub fn logging_and_version_args(command: Command) -> Command {
    command
        .arg(flag("syslog", 's', "print to syslog, not stderr"))
        .arg(verbose("enables more messages"))
        .arg(flag("version", 'V', "show version"))
}
