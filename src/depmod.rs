//! `depmod`: generate modules.dep and the module index files, byte for byte as kmod does.
//!
//! The arguments become a plain [`Options`] value; [`kmodcore::depmod::generate`] does the
//! work and returns kmod's messages as data, which [`kmodcore::depmod::messages`] words as
//! kmod does and this module prints; the files
//! are then published as one set through [`kmodcore::depmod::atomic::Staging`], each file
//! written out as soon as it is rendered (or printed, `-n`).
//!
//! Deliberate differences from kmod are listed in [`DIFFERENCES`].

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use clap::{Arg, ArgAction, Command};
use kmodcore::depmod::atomic::{self, CommitError, Stage};
use kmodcore::depmod::cache::{self, CacheOutcome, CacheSettings, PendingCache};
use kmodcore::depmod::config::DEFAULT_CONFIG_DIRS;
use kmodcore::depmod::messages::{self, FatalLevel};
use kmodcore::depmod::{
    self as engine, Diagnostic, Fatal, Generated, KernelSymbolSource, Level, LinkOptions, Settings,
};

use crate::cli::flag;
use crate::report;

const TOOL: &str = "depmod";

/// kmod's `PATH_MAX`: longer module directory paths are refused.
const PATH_MAX: usize = 4096;

/// Deliberate differences from kmod, for the man page.
pub const DIFFERENCES: &[&str] = &[
    "The eleven files are published as one set: each is written to a temporary file and synced with fsync, and only when all of them are complete are they renamed into place, after a journal of the renames is synced to disk. A failure (a full disk, a read-only directory) leaves the previous files untouched and exits with status 1; the next run completes the renames of a run killed half-way through them (from the journal) and deletes the temporaries of a run killed earlier. Two rkmod depmod runs on one directory take turns (a lock on the directory). kmod renames each file as soon as it is written, never calls fsync, can publish a truncated index when the disk is full, and leaves its temporary files behind when killed.",
    "A module that cannot be read is reported once, as \"failed to load symbols from FILE: REASON\"; kmod may also print the decompressor's message once per attempt. A module with an out-of-range section header string index is reported the same way; kmod aborts on an assertion.",
    "A directory that contains itself through symbolic links is entered once and reported, and directories nested more than 64 levels deep are not entered; kmod recurses until it runs out of file descriptors.",
    "Where kmod's dependency cycle report never ends (a cycle reachable from the module it starts from that does not pass through that module: kmod prints ever longer \"Cycle detected\" lines until the disk is full, a kmod bug), rkmod does not walk around that cycle again: it reports each cycle through the starting module once and goes on. Where kmod's report would overflow its stack and abort, rkmod stops exploring from that module and says so.",
    "Messages about a directory entry that cannot be examined or opened name the directory by path rather than by file descriptor number.",
    ".ko.gz, .ko.xz and .ko.zst modules are always recognised; kmod recognises each only when built with its library.",
    "depmod keeps what it extracted from each module (symbols, CRCs, aliases, softdeps, weakdeps) in a cache, ROOT/var/cache/rkmod/depmod/VERSION, where ROOT is the -o root, else the -b root, else /, and on the next run reads only the modules whose file changed (by device, inode, size, mode, mtime and ctime to the nanosecond; files changed less than 2 seconds before a run are not cached). The outputs are the same bytes with or without it. Without -b and -o the directory is created; under another root the cache is used only if ROOT/var/cache/rkmod/depmod exists. A damaged, truncated or foreign cache is ignored and rebuilt (-v says so, and prints how many modules were read from their files); -n reads the cache but does not write it; --no-cache neither reads nor writes it. kmod has no cache and has no --no-cache option.",
    "The options are kmod 34's: -m is --moduledir and -o is --outdir. kmod 30 to 33 accepted -m (--map), -q, -r and -u as ignored, deprecated options, which are now errors as with kmod 34; kmod 30 had no -o.",
];

/// depmod's command-line definition.
pub fn command() -> Command {
    Command::new(TOOL)
        .about("Generate modules.dep and map files")
        .override_usage(
            "depmod -[aA] [options] [forced_version]\n       depmod [options] VERSION FILE...",
        )
        .after_help("If no arguments (except options) are given, \"depmod -a\" is assumed.")
        .disable_version_flag(true)
        .infer_long_args(true)
        .arg(flag("all", 'a', "Probe all modules"))
        .arg(flag(
            "quick",
            'A',
            "Only does the work if there's a new module",
        ))
        .arg(flag("errsyms", 'e', "Report not supplied symbols"))
        .arg(
            Arg::new("show")
                .short('n')
                .long("show")
                .visible_alias("dry-run")
                .action(ArgAction::SetTrue)
                .help("Write the dependency file on stdout only"),
        )
        .arg(value(
            "symbol-prefix",
            'P',
            "CHAR",
            "Architecture symbol prefix",
        ))
        .arg(
            Arg::new("config")
                .short('C')
                .long("config")
                .value_name("PATH")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Append)
                .help("Read configuration from PATH"),
        )
        .arg(crate::cli::verbose("Enable verbose mode"))
        .arg(flag("warn", 'w', "Warn on duplicates"))
        .arg(flag("version", 'V', "show version"))
        .arg(value("basedir", 'b', "DIR", "Root path (default: /)"))
        .arg(value(
            "moduledir",
            'm',
            "DIR",
            "Module directory (default: /lib/modules)",
        ))
        .arg(value(
            "outdir",
            'o',
            "DIR",
            "Output root path (default: same as <basedir>)",
        ))
        .arg(value(
            "filesyms",
            'F',
            "FILE",
            "Use the file instead of the current kernel symbols",
        ))
        .arg(value(
            "symvers",
            'E',
            "FILE",
            "Use Module.symvers file to check symbol versions",
        ))
        .arg(
            Arg::new("no-cache")
                .long("no-cache")
                .action(ArgAction::SetTrue)
                .help("Read every module; neither read nor write the module cache"),
        )
        .arg(
            Arg::new("args")
                .value_name("VERSION [FILE]")
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Append)
                .help("Kernel version, then (optionally) the only module files to index"),
        )
}

fn value(name: &'static str, short: char, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .short(short)
        .long(name)
        .value_name(value_name)
        .value_parser(clap::value_parser!(OsString))
        .action(ArgAction::Set)
        .help(help)
}

/// depmod's options as plain data.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-a`.
    pub all: bool,
    /// `-A`.
    pub quick: bool,
    /// `-b` (as given).
    pub basedir: Option<OsString>,
    /// `-m`.
    pub moduledir: Option<OsString>,
    /// `-o` (as given).
    pub outdir: Option<OsString>,
    /// `-C`, in order.
    pub config: Vec<OsString>,
    /// `-E`.
    pub symvers: Option<OsString>,
    /// `-F`.
    pub system_map: Option<OsString>,
    /// `-e`.
    pub errsyms: bool,
    /// `-v`, counted.
    pub verbose: u8,
    /// `-n`.
    pub show: bool,
    /// `-P` (as given; must be one byte).
    pub symbol_prefix: Option<OsString>,
    /// `-w`.
    pub warn: bool,
    /// `-V`.
    pub version: bool,
    /// `--no-cache`.
    pub no_cache: bool,
    /// The positional arguments: a kernel version, then module files.
    pub args: Vec<OsString>,
}

impl Options {
    fn from_matches(m: &clap::ArgMatches) -> Options {
        let one = |id: &str| m.get_one::<OsString>(id).cloned();
        Options {
            all: m.get_flag("all"),
            quick: m.get_flag("quick"),
            basedir: one("basedir"),
            moduledir: one("moduledir"),
            outdir: one("outdir"),
            config: m
                .get_many::<OsString>("config")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
            symvers: one("symvers"),
            system_map: one("filesyms"),
            errsyms: m.get_flag("errsyms"),
            verbose: m.get_count("verbose"),
            show: m.get_flag("show"),
            symbol_prefix: one("symbol-prefix"),
            warn: m.get_flag("warn"),
            version: m.get_flag("version"),
            no_cache: m.get_flag("no-cache"),
            args: m
                .get_many::<OsString>("args")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
        }
    }
}

/// Where messages go, with kmod's verbosity rules.
struct Log {
    verbose: u8,
}

impl Log {
    fn line(&self, level: &str, message: &[u8]) {
        let mut line = Vec::with_capacity(message.len() + 24);
        line.extend_from_slice(TOOL.as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(level.as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(message);
        line.push(b'\n');
        let _ = std::io::stderr().lock().write_all(&line);
    }

    fn fatal(&self, message: &[u8]) {
        self.line("FATAL", message);
    }

    fn error(&self, message: &[u8]) {
        self.line("ERROR", message);
    }

    fn diagnostic(&self, out: &mut report::Output, d: &Diagnostic) {
        let message = messages::describe(d);
        match d.level() {
            Level::Error => self.line("ERROR", &message),
            Level::Warning => self.line("WARNING", &message),
            Level::Info if self.verbose >= 2 => self.line("INFO", &message),
            Level::Info => {}
            Level::Verbose if self.verbose >= 1 => {
                out.write(&message);
                out.write(b"\n");
            }
            Level::Verbose => {}
        }
    }
}

/// Concatenates byte pieces.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The C library's text for an errno value, as bytes.
fn strerror(errno: i32) -> Vec<u8> {
    kmodcore::fs::strerror(errno).into_bytes()
}

fn path_bytes(path: &std::path::Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// `sscanf(version, "%u.%u") == 2`.
fn is_version_number(version: &[u8]) -> bool {
    fn unsigned(text: &[u8]) -> Option<&[u8]> {
        let mut rest = text;
        while rest.first().is_some_and(|b| b.is_ascii_whitespace()) {
            rest = rest.get(1..)?;
        }
        if matches!(rest.first(), Some(b'+') | Some(b'-')) {
            rest = rest.get(1..)?;
        }
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        (digits > 0).then(|| rest.get(digits..)).flatten()
    }
    unsigned(version)
        .and_then(|rest| rest.strip_prefix(b"."))
        .and_then(unsigned)
        .is_some()
}

/// kmod's `path_make_absolute_cwd`.
fn absolute(path: &OsStr) -> Vec<u8> {
    let bytes = path.as_bytes();
    if bytes.first() == Some(&b'/') {
        return bytes.to_vec();
    }
    let mut out = std::env::current_dir()
        .map(PathBuf::into_os_string)
        .unwrap_or_default()
        .into_vec();
    out.push(b'/');
    out.extend_from_slice(bytes);
    out
}

fn module_dir(root: &[u8], moduledir: &[u8], kver: &[u8]) -> Vec<u8> {
    cat(&[root, b"/", moduledir, b"/", kver])
}

/// Runs depmod with `args` (argv, starting with the program name) and returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let matches = match crate::cli::parse(command(), TOOL, args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let options = Options::from_matches(&matches);
    if options.version {
        println!("{}", crate::cli::version_text());
        return 0;
    }
    let log = Log {
        verbose: options.verbose,
    };
    let dirs = match locate(&options, &log) {
        Ok(dirs) => dirs,
        Err(code) => return code,
    };
    let all = options.all || dirs.files.is_empty();
    let mut out = report::Output::new();
    let mut diagnostics = Vec::new();
    if options.quick {
        if options.show {
            return 0;
        }
        let fresh = engine::scan::up_to_date(&dirs.dirname, &mut diagnostics);
        for d in diagnostics.drain(..) {
            log.diagnostic(&mut out, &d);
        }
        if fresh {
            return 0;
        }
    }
    let settings = settings(&options, &log, &dirs, all);
    generate_and_publish(
        &options,
        &log,
        &mut out,
        diagnostics,
        &settings,
        &dirs.outdir,
    )
}

/// Where depmod reads and writes, from the options: the kernel version and module files given,
/// the roots, and the module directories.
struct Dirs {
    /// `-P`.
    prefix: Option<u8>,
    /// The kernel version.
    kver: Vec<u8>,
    /// The module files named after the version.
    files: Vec<Vec<u8>>,
    /// The `-b` root, absolute (empty: `/`).
    root: Vec<u8>,
    /// The `-o` root, absolute.
    out_root: Option<Vec<u8>>,
    /// The module directory read.
    dirname: Vec<u8>,
    /// The module directory written.
    outdir: Vec<u8>,
}

/// Works out [`Dirs`] from `options`; `Err(code)` (after a message on `log`) when they are
/// unusable.
fn locate(options: &Options, log: &Log) -> Result<Dirs, i32> {
    let prefix = match &options.symbol_prefix {
        None => None,
        Some(p) => match p.as_bytes() {
            [c] => Some(*c),
            _ => {
                log.fatal(b"-P only takes a single char");
                return Err(1);
            }
        },
    };

    let mut positional = options.args.iter();
    let kver: Vec<u8> = match positional.next() {
        Some(v) if !is_version_number(v.as_bytes()) => {
            log.error(&cat(&[b"Bad version passed ", v.as_bytes()]));
            return Err(1);
        }
        Some(v) => v.as_bytes().to_vec(),
        None => match nix::sys::utsname::uname() {
            Ok(u) => u.release().as_bytes().to_vec(),
            Err(e) => {
                log.fatal(format!("uname() failed: {}", e.desc()).as_bytes());
                return Err(1);
            }
        },
    };
    let files: Vec<Vec<u8>> = positional.map(|f| f.as_bytes().to_vec()).collect();

    let root = options.basedir.as_deref().map(absolute).unwrap_or_default();
    let out_root = options.outdir.as_deref().map(absolute);
    let moduledir_arg = options
        .moduledir
        .as_deref()
        .map(|m| m.as_bytes().to_vec())
        .unwrap_or_else(|| kmodcore::moddir::MODULE_DIRECTORY.as_bytes().to_vec());
    let moduledir: &[u8] = {
        let start = moduledir_arg
            .iter()
            .position(|&b| b != b'/')
            .unwrap_or(moduledir_arg.len());
        moduledir_arg.get(start..).unwrap_or_default()
    };
    let dirname = module_dir(&root, moduledir, &kver);
    let outdir = module_dir(out_root.as_deref().unwrap_or(&root), moduledir, &kver);
    for (dir, base) in [
        (&dirname, &root),
        (&outdir, out_root.as_ref().unwrap_or(&root)),
    ] {
        if dir.len() >= PATH_MAX {
            log.error(&cat(&[
                b"Bad directory ",
                base,
                b"/",
                moduledir,
                b"/",
                &kver,
                b": path too long",
            ]));
            return Err(1);
        }
    }
    Ok(Dirs {
        prefix,
        kver,
        files,
        root,
        out_root,
        dirname,
        outdir,
    })
}

/// The engine's settings for `options` and `dirs` (`all`: index every module).
fn settings(options: &Options, log: &Log, dirs: &Dirs, all: bool) -> Settings {
    let (prefix, root, out_root, kver) = (dirs.prefix, &dirs.root, &dirs.out_root, &dirs.kver);
    let mut link = LinkOptions {
        prefix,
        check_symvers: options.symvers.is_some(),
        print_unknown: options.errsyms,
        verbose: options.verbose >= 1,
    };
    let kernel_symbols = if let Some(symvers) = &options.symvers {
        Some(KernelSymbolSource::Symvers(PathBuf::from(symvers)))
    } else if let Some(map) = &options.system_map {
        Some(KernelSymbolSource::SystemMap(PathBuf::from(map)))
    } else {
        if link.print_unknown {
            log.line("WARNING", b"-e needs -E or -F");
            link.print_unknown = false;
        }
        None
    };
    let config_paths: Vec<PathBuf> = if options.config.is_empty() {
        DEFAULT_CONFIG_DIRS.iter().map(PathBuf::from).collect()
    } else {
        options.config.iter().map(PathBuf::from).collect()
    };
    let cache = (!options.no_cache)
        .then(|| {
            // The output root decides, so that `-o` runs never touch the source tree.
            let cache_root = out_root.as_deref().unwrap_or(root);
            CacheSettings {
                path: cache::location(cache_root, kver),
                write: !options.show,
                create_dir: options.basedir.is_none() && options.outdir.is_none(),
            }
        })
        .filter(cache::usable_dir);
    Settings {
        dirname: dirs.dirname.clone(),
        kernel_version: kver.clone(),
        config_paths,
        files: (!all).then_some(dirs.files.clone()),
        kernel_symbols,
        link,
        warn_duplicates: options.warn,
        cache,
    }
}

/// Generates the files, prints them (`-n`) or publishes them in `outdir`, and reports what
/// happened; returns the exit code.
fn generate_and_publish(
    options: &Options,
    log: &Log,
    out: &mut report::Output,
    mut diagnostics: Vec<Diagnostic>,
    settings: &Settings,
    outdir: &[u8],
) -> i32 {
    let target = PathBuf::from(OsStr::from_bytes(outdir));
    // Publishing starts before the analysis: the directory is locked and what a killed
    // earlier run left is finished before anything can fail, and each file is written out
    // (and its fsync started) as soon as it is rendered.
    let staging = if options.show {
        None
    } else {
        match atomic::Staging::begin(&target) {
            Ok(staging) => Some(staging),
            Err(e) => {
                report_commit_error(log, outdir, &e);
                return 1;
            }
        }
    };
    let stage = staging
        .as_ref()
        .map(|staging| move |name: &'static str, bytes: &[u8]| staging.stage(name, bytes));
    let sink: Option<kmodcore::depmod::outputs::Sink<'_>> = stage.as_ref().map(|f| f as _);
    let generated = engine::generate(settings, options.show, &mut diagnostics, sink);
    for d in &diagnostics {
        log.diagnostic(out, d);
    }
    let Generated {
        files,
        cache,
        cache_stored,
    } = match generated {
        Ok(generated) => generated,
        Err(fatal) => {
            report_fatal(log, &fatal);
            return 1;
        }
    };
    if let Some(cache) = &cache {
        report_cache(log, cache);
        if let Some(result) = cache_stored {
            report_store(log, cache, result);
        }
    }
    if options.show {
        for file in &files {
            out.write(&file.bytes);
        }
        out.flush();
        return 0;
    }
    out.flush();
    let Some(staging) = staging else {
        return 0;
    };
    let code = match staging.publish(&files) {
        Ok(_) => 0,
        Err(e) => {
            report_commit_error(log, outdir, &e);
            1
        }
    };
    // The process ends right after this: its memory goes back to the system at once, without
    // first freeing the outputs and the cache's thousands of buffers one by one and unmapping
    // the old cache (about a millisecond of a run with the cache warm).
    std::mem::forget((files, cache, diagnostics));
    code
}

/// `-v`: what the module cache gave this run.
fn report_cache(log: &Log, cache: &PendingCache) {
    if log.verbose == 0 {
        return;
    }
    let path = path_bytes(&cache.settings.path);
    let what = match &cache.outcome {
        CacheOutcome::Missing => "none yet: every module read from its file".to_string(),
        CacheOutcome::Read { used, modules } => format!(
            "{} of {modules} modules read from their files",
            modules - used
        ),
        CacheOutcome::Ignored(problem) => format!("ignored ({problem}): rebuilt"),
    };
    log.line("INFO", &cat(&[b"cache ", path, b": ", what.as_bytes()]));
}

/// Reports how writing the module cache back went; a failure only costs the next run its
/// speed (`-v` says so).
fn report_store(log: &Log, cache: &PendingCache, result: std::io::Result<bool>) {
    let path = path_bytes(&cache.settings.path);
    match result {
        Ok(true) => {}
        Ok(false) if log.verbose > 0 => log.line(
            "INFO",
            &cat(&[
                b"cache ",
                path,
                b": being written by another run; left to it",
            ]),
        ),
        Err(e) if log.verbose > 0 => log.line(
            "INFO",
            &cat(&[
                b"cache ",
                path,
                b": not written: ",
                &strerror(e.raw_os_error().unwrap_or(5)),
            ]),
        ),
        _ => {}
    }
}

/// Reports what stopped depmod, in kmod's words.
fn report_fatal(log: &Log, fatal: &Fatal) {
    match messages::fatal_message(fatal) {
        Some((FatalLevel::Fatal, message)) => log.fatal(&message),
        Some((FatalLevel::Error, message)) => log.error(&message),
        None => {}
    }
}

fn report_commit_error(log: &Log, outdir: &[u8], e: &CommitError) {
    let reason = e
        .source
        .raw_os_error()
        .map_or_else(|| e.source.to_string().into_bytes(), strerror);
    let path = path_bytes(&e.path);
    let message = match e.stage {
        Stage::CreateDir => {
            log.fatal(&cat(&[
                b"could not create directory ",
                outdir,
                b": ",
                &reason,
            ]));
            return;
        }
        Stage::OpenDir => {
            log.fatal(&cat(&[
                b"could not open directory ",
                outdir,
                b": ",
                &reason,
            ]));
            return;
        }
        Stage::CreateTemp => cat(&[
            b"Could not create temporary file at '",
            outdir,
            b"': ",
            &reason,
        ]),
        Stage::Write => cat(&[b"Could not write index '", path, b"': ", &reason]),
        Stage::Journal => cat(&[
            b"Could not write the publication journal '",
            path,
            b"': ",
            &reason,
        ]),
        Stage::Recover => cat(&[
            b"Could not clean up after an earlier run at '",
            path,
            b"': ",
            &reason,
        ]),
        Stage::Publish => cat(&[b"Could not publish the indexes at '", path, b"': ", &reason]),
    };
    log.error(&message);
    if matches!(e.stage, Stage::CreateTemp | Stage::Write | Stage::Journal) {
        log.error(&cat(&[b"no index was changed in ", outdir]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_as_sscanf_reads_them() {
        assert!(is_version_number(b"6.1.0-47-amd64"));
        assert!(is_version_number(b" 5.10"));
        assert!(is_version_number(b"-1.+2x"));
        assert!(!is_version_number(b"6"));
        assert!(!is_version_number(b"6."));
        assert!(!is_version_number(b"v6.1"));
        assert!(!is_version_number(b"/lib/modules/x.ko"));
    }
}
