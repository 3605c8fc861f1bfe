//! modprobe's arguments: the clap definition, `MODPROBE_OPTIONS`, and the parsing of both
//! into plain data ([`Options`]), which the session then acts on.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, Command};
use kmodcore::resolve::probe::ProbeFlags;

use crate::report;

use super::TOOL;

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
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("With -c or -D, print the configuration and indexes, or the load plan, as one JSON document (rkmod extension)"),
        )
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
    /// `--json`: with `-c` or `-D`, print one JSON document instead of the text.
    pub json: bool,
}

const DEFAULT_VERBOSE: i32 = 4;
pub(super) const LOG_CRIT: i32 = 2;
pub(super) const LOG_WARNING: i32 = 4;

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
pub(super) fn parse_wait(text: &[u8]) -> Option<u64> {
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
pub(super) enum Parsed {
    Run(Box<Options>),
    Exit(i32),
}

/// Parses `argv` with the words of `env` (MODPROBE_OPTIONS) in front of its arguments.
pub(super) fn parse(argv: Vec<OsString>, env: Option<OsString>) -> Parsed {
    parse_with(argv, env, true)
}

/// [`parse`], reading a plain command line without clap when `plain` allows it.
fn parse_with(argv: Vec<OsString>, env: Option<OsString>, plain: bool) -> Parsed {
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
    let plain = (plain && env_count == 0)
        .then(|| read_plain(&args))
        .flatten();
    let (events, rest, env_end) = match plain {
        // No MODPROBE_OPTIONS and nothing but plainly spelled options: no clap needed.
        Some(plain) => (plain.events, plain.rest, 0),
        _ => {
            let from_env_only = (env_count > 0).then(|| args[..=env_count].to_vec());
            let matches = match crate::cli::parse(command(), TOOL, args) {
                Ok(m) => m,
                Err(code) => return Parsed::Exit(code),
            };
            let rest = Rest {
                parallel: matches.get_one::<u16>("parallel").copied(),
                json: matches.get_flag("json"),
                args: matches
                    .get_many::<OsString>("args")
                    .map(|v| v.cloned().collect())
                    .unwrap_or_default(),
            };
            // An option whose index is past this one came from the command line, not from
            // MODPROBE_OPTIONS (whose words come first).
            let env_end = from_env_only.map_or(0, last_index);
            (ordered_events(&matches), rest, env_end)
        }
    };
    let mut o = Options {
        verbose: DEFAULT_VERBOSE,
        log_level: LOG_CRIT,
        kernel_request,
        ..Options::default()
    };
    // Options whose effect depends on their order are replayed in command-line order.
    let mut replay = Replay::default();
    for (index, id, value) in events {
        let from_cmdline = index > env_end;
        if let Some(code) = apply(&mut o, &mut replay, id, value, from_cmdline) {
            return Parsed::Exit(code);
        }
    }
    finish(&mut o, replay, rest, env);
    Parsed::Run(Box::new(o))
}

/// What the command line holds besides the replayed options.
struct Rest {
    /// `--parallel[=N]`.
    parallel: Option<u16>,
    /// `--json`.
    json: bool,
    /// The module names and parameters.
    args: Vec<OsString>,
}

/// A command line read without clap: its option occurrences in order, and the rest.
struct Plain {
    events: Vec<Event>,
    rest: Rest,
}

/// modprobe's options as [`command`] spells them: id, short flag, long names (visible and
/// hidden aliases included), and whether it takes a value. `--json` and `--parallel` are left
/// to clap. A test checks this table against [`command`].
const SPELLINGS: &[(&str, Option<char>, &[&str], bool)] = &[
    ("all", Some('a'), &["all"], false),
    ("remove", Some('r'), &["remove"], false),
    ("remove-holders", None, &["remove-holders"], false),
    ("remove-dependencies", None, &["remove-dependencies"], false),
    ("wait", Some('w'), &["wait"], true),
    ("first-time", None, &["first-time"], false),
    (
        "ignore-install",
        Some('i'),
        &["ignore-install", "ignore-remove"],
        false,
    ),
    ("use-blacklist", Some('b'), &["use-blacklist"], false),
    ("force", Some('f'), &["force"], false),
    ("force-modversion", None, &["force-modversion"], false),
    ("force-vermagic", None, &["force-vermagic"], false),
    ("show-alias", Some('R'), &["show-alias"], false),
    ("resolve-alias", None, &["resolve-alias"], false),
    ("show-depends", Some('D'), &["show-depends"], false),
    ("show-config", Some('c'), &["show-config"], false),
    ("showconfig", None, &["showconfig"], false),
    ("show-modversions", None, &["show-modversions"], false),
    ("dump-modversions", None, &["dump-modversions"], false),
    ("show-exports", None, &["show-exports"], false),
    ("dry-run", Some('n'), &["dry-run"], false),
    ("show", None, &["show"], false),
    ("config", Some('C'), &["config"], true),
    ("dirname", Some('d'), &["dirname"], true),
    ("set-version", Some('S'), &["set-version"], true),
    ("syslog", Some('s'), &["syslog"], false),
    ("quiet", Some('q'), &["quiet"], false),
    ("verbose", Some('v'), &["verbose"], false),
    ("version", Some('V'), &["version"], false),
];

/// Reads a command line made only of options spelled out in full (`-qD`, `-d DIR`, `-dDIR`,
/// `--dirname DIR`, `--show-depends`), then the module arguments (or `--` and anything):
/// the form of nearly every run, by udev, the kernel and initramfs builders. Building clap's
/// definition and parsing with it costs a fifth of a `modprobe --show-depends` run. `None`
/// for anything else (help, errors, abbreviations, `--opt=value`, values that look like
/// options, options after a module argument), which clap then reads; a test checks that the
/// two readings agree.
fn read_plain(args: &[OsString]) -> Option<Plain> {
    // Indices only order the events: each word gets room for the flags of its cluster.
    const WIDTH: usize = 1 << 12;
    let long = |name: &[u8]| {
        SPELLINGS
            .iter()
            .find(|(_, _, longs, _)| longs.iter().any(|l| l.as_bytes() == name))
    };
    let short = |c: u8| {
        SPELLINGS
            .iter()
            .find(|(_, s, _, _)| s.is_some_and(|s| u32::from(s) == u32::from(c)))
    };
    let mut events: Vec<Event> = Vec::new();
    let mut positional: Vec<OsString> = Vec::new();
    let mut words = args.iter().enumerate().skip(1);
    while let Some((at, word)) = words.next() {
        let bytes = word.as_bytes();
        let index = at.checked_mul(WIDTH)?;
        if bytes == b"--" {
            positional.extend(words.by_ref().map(|(_, w)| w.clone()));
            break;
        }
        if !bytes.starts_with(b"-") {
            if bytes.is_empty() {
                return None;
            }
            positional.push(word.clone());
            continue;
        }
        if !positional.is_empty() || bytes.len() < 2 {
            return None;
        }
        // A value for an option: the next word, which must not look like an option.
        let next_value =
            |words: &mut std::iter::Skip<std::iter::Enumerate<std::slice::Iter<'_, OsString>>>| {
                let (_, value) = words.next()?;
                let v = value.as_bytes();
                (!v.is_empty() && !v.starts_with(b"-")).then(|| value.clone())
            };
        if let Some(name) = bytes.strip_prefix(b"--") {
            let &(id, _, _, takes_value) = long(name)?;
            let value = if takes_value {
                Some(next_value(&mut words)?)
            } else {
                None
            };
            events.push((index, id, value));
            continue;
        }
        let cluster = bytes.get(1..)?;
        for (i, &c) in cluster.iter().enumerate() {
            let &(id, _, _, takes_value) = short(c)?;
            let index = index.checked_add(i)?;
            if i >= WIDTH - 1 {
                return None;
            }
            if !takes_value {
                events.push((index, id, None));
                continue;
            }
            let attached = cluster.get(i + 1..).unwrap_or_default();
            let value = if attached.is_empty() {
                next_value(&mut words)?
            } else if attached.starts_with(b"=") {
                return None;
            } else {
                OsString::from_vec(attached.to_vec())
            };
            events.push((index, id, Some(value)));
            break;
        }
    }
    events.sort_by_key(|(index, _, _)| *index);
    Some(Plain {
        events,
        rest: Rest {
            parallel: None,
            json: false,
            args: positional,
        },
    })
}

/// One option occurrence: its index among the arguments, its id, and its value if it takes
/// one.
type Event = (usize, &'static str, Option<OsString>);

/// Every occurrence of an option in `matches`, in command-line order.
fn ordered_events(matches: &clap::ArgMatches) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
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
    events
}

/// What the replayed options decided besides [`Options`] itself.
#[derive(Default)]
struct Replay {
    /// This run's own `-C`, `-s`, `-q` and `-v`, for nested runs.
    own: Vec<OsString>,
    /// `-r` (or `--remove-holders`).
    remove: bool,
    /// `-c`.
    show_config: bool,
    /// `--show-modversions`.
    modversions: bool,
    /// `--show-exports`.
    exports: bool,
}

/// Applies one option occurrence (`from_cmdline`: not from MODPROBE_OPTIONS); `Some(code)`
/// when the run must exit now.
fn apply(
    o: &mut Options,
    r: &mut Replay,
    id: &str,
    value: Option<OsString>,
    from_cmdline: bool,
) -> Option<i32> {
    match id {
        "wait" | "config" | "dirname" | "set-version" | "syslog" | "quiet" | "verbose"
        | "version" => apply_setting(o, r, id, value, from_cmdline),
        _ => {
            apply_action(o, r, id);
            None
        }
    }
}

/// Applies an option that chooses what to do or how (`-r`, `-f`, `-D`, ...). One arm per
/// option: a table, best read whole.
fn apply_action(o: &mut Options, r: &mut Replay, id: &str) {
    match id {
        "all" => {
            o.all = true;
            o.log_level = LOG_WARNING;
        }
        "remove" => r.remove = true,
        "remove-dependencies" | "remove-holders" => {
            if id == "remove-dependencies" {
                o.deprecated.push("--remove-dependencies is deprecated and scheduled for removal; use --remove-holders");
            }
            o.flags.remove_holders = true;
            r.remove = true;
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
            r.show_config = true;
        }
        "dump-modversions" | "show-modversions" => {
            if id == "dump-modversions" {
                o.deprecated.push("--dump-modversions is deprecated and scheduled for removal; use --show-modversions");
            }
            r.modversions = true;
        }
        "show-exports" => r.exports = true,
        "show" | "dry-run" => {
            if id == "show" {
                o.deprecated
                    .push("--show is deprecated and scheduled for removal; use --dry-run");
            }
            o.flags.dry_run = true;
            o.show = true;
        }
        _ => {}
    }
}

/// Applies an option that carries a setting (`-w`, `-C`, `-d`, `-S`) or the logging options
/// (`-s`, `-q`, `-v`, `-V`); `Some(code)` when the run must exit now.
fn apply_setting(
    o: &mut Options,
    r: &mut Replay,
    id: &str,
    value: Option<OsString>,
    from_cmdline: bool,
) -> Option<i32> {
    match id {
        "wait" => {
            let text = value.unwrap_or_default();
            match parse_wait(text.as_bytes()) {
                Some(msec) => o.flags.wait = Duration::from_millis(msec),
                None => {
                    report::error(
                        TOOL,
                        &format!("unexpected wait value '{}'.", text.to_string_lossy()),
                    );
                    return Some(1);
                }
            }
        }
        "config" => {
            let path = value.unwrap_or_default();
            if from_cmdline {
                r.own.push(OsString::from("-C"));
                r.own.push(path.clone());
            }
            o.config_paths.push(PathBuf::from(path));
        }
        "dirname" => o.root = value,
        "set-version" => o.kernel_version = value,
        "syslog" => {
            o.syslog = true;
            if from_cmdline {
                r.own.push(OsString::from("-s"));
            }
        }
        "quiet" => {
            o.verbose = 0;
            if from_cmdline {
                r.own.push(OsString::from("-q"));
            }
        }
        "verbose" => {
            o.verbose = o.verbose.saturating_add(1);
            if from_cmdline {
                r.own.push(OsString::from("-v"));
            }
        }
        "version" => {
            for warning in &o.deprecated {
                report::warning(TOOL, warning);
            }
            println!("{}", crate::cli::version_text());
            return Some(0);
        }
        _ => {}
    }
    None
}

/// Settles what the replayed options leave open: the mode, `-v`'s effect on showing, the
/// arguments, and the options for nested runs.
fn finish(o: &mut Options, r: Replay, rest: Rest, env: Option<OsString>) {
    o.mode = if r.show_config {
        Mode::ShowConfig
    } else if r.modversions {
        Mode::ShowModversions
    } else if r.exports {
        Mode::ShowExports
    } else if r.remove {
        Mode::Remove
    } else {
        Mode::Insert
    };
    if o.verbose > DEFAULT_VERBOSE {
        o.show = true;
    }
    o.parallel = rest.parallel;
    o.json = rest.json;
    o.args = rest.args;
    let mut nested = env.unwrap_or_default();
    for option in r.own {
        if !nested.is_empty() {
            nested.push(" ");
        }
        nested.push(option);
    }
    o.nested_options = nested;
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

    /// The table the plain reader uses spells every option as clap's definition does.
    #[test]
    fn spellings_match_the_clap_definition() {
        let command = command();
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "json" | "parallel" | "args") {
                continue;
            }
            let &(_, short, longs, takes_value) = SPELLINGS
                .iter()
                .find(|(i, _, _, _)| *i == id)
                .unwrap_or_else(|| panic!("{id} missing from SPELLINGS"));
            assert_eq!(arg.get_short(), short, "{id}");
            let mut names: Vec<&str> = arg.get_long().into_iter().collect();
            names.extend(arg.get_all_aliases().unwrap_or_default());
            assert_eq!(names, longs, "{id}");
            assert_eq!(
                arg.get_action().takes_values()
                    && arg.get_num_args().map_or(true, |n| n.takes_values()),
                takes_value,
                "{id}"
            );
        }
        assert_eq!(SPELLINGS.len() + 3, command.get_arguments().count());
    }

    /// Wherever the plain reader accepts a command line, it reads it as clap does.
    #[test]
    fn plain_reading_agrees_with_clap() {
        let lines: &[&[&str]] = &[
            &["-d", "/r", "-S", "6.1", "--show-depends", "usb-storage"],
            &["-D", "-d/r", "-S6.1", "pci:v00008086d000010D3sv*"],
            &["-q", "--", "snd-hda-intel"],
            &["-q", "--", "-weird"],
            &["-qD", "x", "a=1", "b=2"],
            &["-qv", "-v", "-s", "x"],
            &["--quiet", "--syslog", "--verbose", "x"],
            &["-R", "x"],
            &["-r", "-w", "100", "x"],
            &["-rw100", "x"],
            &["-a", "-b", "-i", "x", "y"],
            &["--ignore-remove", "-r", "x"],
            &[
                "-n",
                "-f",
                "--force-modversion",
                "--force-vermagic",
                "--first-time",
                "x",
            ],
            &["--show", "x"],
            &["--dry-run", "--showconfig"],
            &["-c", "-C", "/etc/m.conf", "-C/e2"],
            &[
                "--config",
                "/c",
                "--dirname",
                "/d",
                "--set-version",
                "5",
                "x",
            ],
            &["--show-modversions", "/m.ko"],
            &["--dump-modversions", "/m.ko"],
            &["--show-exports", "/m.ko"],
            &["--remove-holders", "x"],
            &["--remove-dependencies", "x"],
            &["--resolve-alias", "x"],
            &[
                "--show-alias",
                "--show-depends",
                "--show-config",
                "--use-blacklist",
                "--all",
                "--remove",
                "x",
            ],
            &["-d", "/r", "-d", "/s", "x"],
            &["x"],
            &[],
        ];
        for line in lines {
            let argv: Vec<OsString> = std::iter::once("modprobe")
                .chain(line.iter().copied())
                .map(OsString::from)
                .collect();
            assert!(read_plain(&argv).is_some(), "not read plainly: {line:?}");
            let plain = format!("{:?}", run_options(parse(argv.clone(), None)));
            let clap = format!("{:?}", run_options(parse_with(argv, None, false)));
            assert_eq!(plain, clap, "{line:?}");
        }
        // Left to clap: help, mistakes, abbreviations, `=` forms, option-like values, options
        // after a module, the rkmod-only options.
        for line in [
            &["-h"][..],
            &["--help"],
            &["-x"],
            &["--show-dep", "x"],
            &["--dirname=/r", "x"],
            &["-d=/r", "x"],
            &["-d", "-q", "x"],
            &["-d"],
            &["x", "-q"],
            &["--json", "-c"],
            &["--parallel", "x"],
            &["-", "x"],
            &[""],
        ] {
            let argv: Vec<OsString> = std::iter::once("modprobe")
                .chain(line.iter().copied())
                .map(OsString::from)
                .collect();
            assert!(read_plain(&argv).is_none(), "read plainly: {line:?}");
        }
    }

    fn run_options(parsed: Parsed) -> Option<Options> {
        match parsed {
            Parsed::Run(o) => Some(*o),
            Parsed::Exit(_) => None,
        }
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
