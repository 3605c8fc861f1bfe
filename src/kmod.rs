//! `kmod`: kmod's own commands, `list` and `static-nodes`, and its help and version.
//!
//! `kmod [-h|-V] COMMAND [OPTIONS]`, where COMMAND is `help`, `list` (lsmod's output) or
//! `static-nodes`. Options are read only up to the command, which gets the rest.
//!
//! `kmod static-nodes [--format=human|tmpfiles|devname] [--output=FILE]` reads
//! `/lib/modules/$(uname -r)/modules.devname`, whose lines are `MODULE DEVNAME TMAJ:MIN` (T is
//! `c` or `b`), and writes them in the chosen format, for the device nodes that must exist
//! before the module loads (systemd writes them with `--format=tmpfiles` into
//! `/run/tmpfiles.d/static-nodes.conf`). Lines are read and matched exactly as kmod reads them
//! (`fgets` into a 4096-byte buffer, then `sscanf("%s %s %c%u:%u")`), so that malformed files
//! give kmod's output too.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};

use crate::report::Output;
use kmodcore::layout::MODULE_DIRECTORY;

/// kmod's commands, with their help lines.
const COMMANDS: &[(&str, &str)] = &[
    ("help", "show help message"),
    ("list", "list currently loaded modules"),
    (
        "static-nodes",
        "output the static-node information installed with the currently running kernel",
    ),
];

/// The tools kmod also is, when called by their names.
const COMPAT: &[&str] = &["lsmod", "rmmod", "insmod", "modinfo", "modprobe", "depmod"];

/// Deliberate differences from kmod, for the man page.
pub const DIFFERENCES: &[&str] = &[
    "static-nodes reads a modules.devname that is a FIFO or a device as empty, where kmod would block reading it.",
    "--version prints \"kmod version 34 (rkmod VERSION)\" so that scripts reading kmod's version keep working.",
];

/// kmod's command-line definition, for the man page and completions; `kmod` itself parses its
/// arguments as kmod does (options only before the command).
pub fn command() -> Command {
    let mut cmd = Command::new("kmod")
        .about("Manage kernel modules: list, load, unload, etc")
        .override_usage("kmod [options] command [command_options]")
        .disable_version_flag(true)
        // `help` is one of kmod's commands, below.
        .disable_help_subcommand(true)
        .arg(crate::cli::flag("version", 'V', "show version"));
    for (name, about) in COMMANDS {
        let sub = match *name {
            "list" => crate::lsmod::command_named("list"),
            "static-nodes" => static_nodes_command(),
            _ => Command::new(*name),
        };
        cmd = cmd.subcommand(sub.about(*about));
    }
    cmd
}

fn help_text() -> String {
    let mut text = String::from(
        "kmod - Manage kernel modules: list, load, unload, etc\nUsage:\n\tkmod [options] command [command_options]\n\nOptions:\n\t-V, --version     show version\n\t-h, --help        show this help\n\nCommands:\n",
    );
    for (name, help) in COMMANDS {
        text.push_str(&format!("  {name:<12} {help}\n"));
    }
    text.push_str("\nkmod also handles gracefully if called from following symlinks:\n");
    for name in COMPAT {
        text.push_str(&format!("  {name:<12} compat {name} command\n"));
    }
    text
}

fn print_stdout(text: &str) {
    let mut out = Output::new();
    out.write(text.as_bytes());
    out.flush();
}

/// kmod's own option `arg` (`-h`, `-V`, `--help`, `--version`, or an error); the exit code.
fn own_option(arg: &str) -> i32 {
    let help = || {
        print_stdout(&help_text());
        0
    };
    let version = || {
        println!("{}", crate::cli::version_text());
        0
    };
    if let Some(long) = arg.strip_prefix("--") {
        // Long options may be abbreviated, as getopt_long allows.
        let matching: Vec<&str> = ["help", "version"]
            .into_iter()
            .filter(|o| o.starts_with(long))
            .collect();
        return match matching.as_slice() {
            ["help"] => help(),
            ["version"] => version(),
            _ => {
                eprintln!("kmod: unrecognized option '{arg}'");
                1
            }
        };
    }
    // Both short options end the run, so only the first letter counts.
    match arg.chars().nth(1) {
        Some('h') => help(),
        Some('V') => version(),
        other => {
            eprintln!("kmod: invalid option -- '{}'", other.unwrap_or('?'));
            1
        }
    }
}

/// Runs kmod with `args` (argv, starting with the program name) and returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let mut rest = args.into_iter().skip(1).peekable();
    // kmod's own options come before the command (getopt with "+hV"). Each of them ends the
    // run (help, version, or an error), so only the first argument can be one.
    if let Some(arg) = rest.peek() {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            rest.next();
        } else if bytes.starts_with(b"-") && bytes != b"-" {
            return own_option(&String::from_utf8_lossy(bytes));
        }
    }
    let Some(command) = rest.next() else {
        eprintln!("missing command");
        print_stdout(&help_text());
        return 1;
    };
    let mut sub_args = vec![command.clone()];
    sub_args.extend(rest);
    match command.as_bytes() {
        b"help" => {
            print_stdout(&help_text());
            0
        }
        b"list" => crate::lsmod::run_as("kmod", "list", sub_args),
        b"static-nodes" => static_nodes(sub_args),
        other => {
            eprintln!("invalid command '{}'", String::from_utf8_lossy(other));
            print_stdout(&help_text());
            1
        }
    }
}

/// An output format of `static-nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `human`: a readable description.
    Human,
    /// `tmpfiles`: systemd's tmpfiles.d lines.
    Tmpfiles,
    /// `devname`: the modules.devname format again.
    Devname,
}

/// The formats, with their names and help lines, in kmod's order.
const FORMATS: &[(Format, &str, &str)] = &[
    (
        Format::Human,
        "human",
        "(default) a human readable format. Do not parse.",
    ),
    (
        Format::Tmpfiles,
        "tmpfiles",
        "the tmpfiles.d(5) format used by systemd-tmpfiles.",
    ),
    (Format::Devname, "devname", "the modules.devname format."),
];

fn static_nodes_command() -> Command {
    Command::new("static-nodes")
        .override_usage("kmod static-nodes [options]")
        .disable_help_flag(true)
        .infer_long_args(true)
        .arg(
            Arg::new("format")
                .short('f')
                .long("format")
                .value_name("FORMAT")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Append)
                .help("choose format to use: see \"Formats\""),
        )
        .arg(
            Arg::new("output")
                .short('o')
                .long("output")
                .value_name("FILE")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Set)
                .help("write output to file"),
        )
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::SetTrue)
                .help("show this help"),
        )
        // kmod ignores arguments that are not options.
        .arg(
            Arg::new("ignored")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Append)
                .hide(true),
        )
}

fn static_nodes_help() -> String {
    let mut text = String::from(
        "Usage:\n\tkmod static-nodes [options]\n\nkmod static-nodes outputs the static-node information of the currently running kernel.\n\nOptions:\n\t-f, --format FORMAT  choose format to use: see \"Formats\"\n\t-o, --output FILE    write output to file\n\t-h, --help           show this help\n\nFormats:\n",
    );
    for (_, name, description) in FORMATS {
        text.push_str(&format!("\t{name:<12} {description}\n"));
    }
    text
}

/// `static-nodes`' options as plain data.
#[derive(Debug, Clone)]
pub struct StaticNodesOptions {
    /// The output format.
    pub format: Format,
    /// The output file (stdout when `None`).
    pub output: Option<PathBuf>,
}

/// Runs `kmod static-nodes` with `args` (starting with `static-nodes`); returns the exit code.
pub fn static_nodes(args: Vec<OsString>) -> i32 {
    let matches = match crate::cli::parse(static_nodes_command(), "kmod", args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    // Options act in command-line order, as getopt hands them over: -h before a bad format
    // shows the help, after it comes too late.
    let help_at = matches
        .get_flag("help")
        .then(|| matches.index_of("help"))
        .flatten();
    let mut format = Format::Human;
    let values = matches.get_many::<OsString>("format").into_iter().flatten();
    let indices = matches.indices_of("format").into_iter().flatten();
    for (value, index) in values.zip(indices) {
        if help_at.is_some_and(|h| h < index) {
            break;
        }
        match FORMATS
            .iter()
            .find(|(_, name, _)| name.as_bytes() == value.as_bytes())
        {
            Some((f, _, _)) => format = *f,
            None => {
                eprintln!(
                    "Unknown format: '{}'.",
                    String::from_utf8_lossy(value.as_bytes())
                );
                print_stdout(&static_nodes_help());
                return 1;
            }
        }
    }
    if help_at.is_some() {
        print_stdout(&static_nodes_help());
        return 0;
    }
    let options = StaticNodesOptions {
        format,
        output: matches.get_one::<OsString>("output").map(PathBuf::from),
    };
    let release = match nix::sys::utsname::uname() {
        Ok(uts) => uts.release().to_os_string(),
        Err(_) => {
            eprintln!("Error: uname failed!");
            return 1;
        }
    };
    let shown = format!(
        "{MODULE_DIRECTORY}/{}/modules.devname",
        String::from_utf8_lossy(release.as_bytes())
    );
    let input = Path::new(MODULE_DIRECTORY)
        .join(&release)
        .join(kmodcore::layout::DEVNAME);
    execute_static_nodes(&options, &input, &shown)
}

/// Reads modules.devname at `input` (named `shown` in messages) and writes it as `options`
/// say; returns the exit code.
pub fn execute_static_nodes(options: &StaticNodesOptions, input: &Path, shown: &str) -> i32 {
    let bytes = match kmodcore::devname::read(input) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("Warning: {shown} not found - ignoring");
            return 0;
        }
        Err(e) => {
            eprintln!("Error: could not open {shown} - {}", os_error_text(&e));
            return 1;
        }
    };
    let (rendered, errors) = render_static_nodes(&bytes, options.format);
    let mut failed = false;
    for line in &errors {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(b"Error: invalid devname entry: ");
        let _ = err.write_all(line);
        failed = true;
    }
    match &options.output {
        None => {
            let mut out = Output::new();
            out.write(&rendered);
            out.flush();
        }
        Some(path) => {
            let shown_out = String::from_utf8_lossy(path.as_os_str().as_bytes()).into_owned();
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                if let Err(e) = create_parents(parent) {
                    eprintln!(
                        "Error: could not create parent directory for {shown_out} - {}.",
                        os_error_text(&e)
                    );
                    return 1;
                }
            }
            let written = std::fs::File::create(path).and_then(|mut f| f.write_all(&rendered));
            if let Err(e) = written {
                eprintln!(
                    "Error: could not create {shown_out} - {}",
                    os_error_text(&e)
                );
                return 1;
            }
        }
    }
    i32::from(failed)
}

fn create_parents(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
    {
        // std reports a non-directory in the way as EEXIST; kmod, as "Not a directory".
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(
            std::io::Error::from_raw_os_error(nix::errno::Errno::ENOTDIR as i32),
        ),
        other => other,
    }
}

fn os_error_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => kmodcore::fs::strerror(errno),
        None => e.to_string(),
    }
}

/// Renders modules.devname `bytes` in `format`; also returns the lines kmod rejects (each as
/// read, newline included), to be reported as invalid.
pub fn render_static_nodes(bytes: &[u8], format: Format) -> (Vec<u8>, Vec<&[u8]>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for entry in kmodcore::devname::entries(bytes) {
        let e = match entry {
            Ok(e) => e,
            Err(record) => {
                errors.push(record);
                continue;
            }
        };
        match format {
            Format::Human => {
                out.extend_from_slice(b"Module: ");
                out.extend_from_slice(e.module);
                out.extend_from_slice(b"\n\tDevice node: /dev/");
                out.extend_from_slice(e.devname);
                let kind = if e.kind == b'c' { "character" } else { "block" };
                out.extend_from_slice(
                    format!(
                        "\n\t\tType: {kind} device\n\t\tMajor: {}\n\t\tMinor: {}\n",
                        e.major, e.minor
                    )
                    .as_bytes(),
                );
            }
            Format::Tmpfiles => {
                if let Some(slash) = e.devname.iter().rposition(|&b| b == b'/') {
                    out.extend_from_slice(b"d /dev/");
                    out.extend_from_slice(e.devname.get(..slash).unwrap_or_default());
                    out.extend_from_slice(b" 0755 - - -\n");
                }
                out.push(e.kind);
                out.extend_from_slice(b"! /dev/");
                out.extend_from_slice(e.devname);
                out.extend_from_slice(format!(" 0600 - - - {}:{}\n", e.major, e.minor).as_bytes());
            }
            Format::Devname => {
                out.extend_from_slice(e.module);
                out.push(b' ');
                out.extend_from_slice(e.devname);
                out.push(b' ');
                out.push(e.kind);
                out.extend_from_slice(format!("{}:{}\n", e.major, e.minor).as_bytes());
            }
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_formats() {
        let input = b"# comment\nfuse fuse c10:229\nloop loop-control c10:237\nsnd_timer snd/timer c116:33\nbad line\n";
        let (human, errors) = render_static_nodes(input, Format::Human);
        assert_eq!(errors, [&b"bad line\n"[..]]);
        assert!(String::from_utf8(human).unwrap().starts_with(
            "Module: fuse\n\tDevice node: /dev/fuse\n\t\tType: character device\n\t\tMajor: 10\n\t\tMinor: 229\n"
        ));
        let (tmpfiles, _) = render_static_nodes(input, Format::Tmpfiles);
        assert_eq!(
            String::from_utf8(tmpfiles).unwrap(),
            "c! /dev/fuse 0600 - - - 10:229\nc! /dev/loop-control 0600 - - - 10:237\nd /dev/snd 0755 - - -\nc! /dev/snd/timer 0600 - - - 116:33\n"
        );
        let (devname, _) = render_static_nodes(input, Format::Devname);
        assert_eq!(
            String::from_utf8(devname).unwrap(),
            "fuse fuse c10:229\nloop loop-control c10:237\nsnd_timer snd/timer c116:33\n"
        );
    }

    #[test]
    fn help_lists_commands_and_formats() {
        let help = help_text();
        assert!(help.contains("  static-nodes output the static-node information"));
        assert!(help.contains("  depmod       compat depmod command\n"));
        assert!(static_nodes_help().ends_with("\tdevname      the modules.devname format.\n"));
    }
}
