//! depmod: scan a module directory, work out dependencies, and write kmod's index files,
//! byte for byte as the newest kmod's depmod writes them.
//!
//! The pipeline, one submodule per step:
//!
//! 1. [`config`]: read depmod.d (`search`, `override`, `external`, `exclude`);
//! 2. [`scan`]: walk the module directory (or take the files named on the command line),
//!    settle duplicate names, and put the modules in kmod's order ([`order`] is kmod's hash
//!    table order, `modules.order` moves listed modules first);
//! 3. [`symbols`]: read every module in parallel (exports, imports, aliases, softdeps), and the
//!    kernel's symbols from `System.map`/`Module.symvers` when given;
//! 4. [`graph`]: resolve symbols to dependencies, number them, report cycles;
//! 5. [`outputs`]: render the eleven files in memory (in parallel);
//! 6. [`atomic`]: publish them as a set, or not at all.
//!
//! [`generate`] runs steps 1 to 5. Nothing here prints: what kmod would log comes back as
//! [`Diagnostic`]s, in kmod's order, and what makes kmod stop as a [`Fatal`]; [`messages`]
//! words them as kmod does, and the `depmod` tool prints them.
//!
//! Memory stays proportional to what the indexes need: a module's image is dropped as soon as
//! its symbols and aliases are copied out (one per worker thread at a time).

pub mod atomic;
pub mod cache;
pub mod config;
pub mod ere;
pub mod graph;
pub mod messages;
pub mod order;
pub mod outputs;
pub mod scan;
pub mod symbols;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use rayon::prelude::*;

pub use graph::LinkOptions;
pub use outputs::OutputFile;
pub use symbols::{KernelSymbols, LoadError};

/// Where the kernel's own symbols come from (`-F` or `-E`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelSymbolSource {
    /// `-F System.map`.
    SystemMap(PathBuf),
    /// `-E Module.symvers` (which also turns on CRC checks).
    Symvers(PathBuf),
}

/// What to index and how.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The module directory to scan (`BASEDIR/MODULEDIR/VERSION`, as kmod builds it).
    pub dirname: Vec<u8>,
    /// The kernel version (for depmod.d patterns).
    pub kernel_version: Vec<u8>,
    /// The configuration paths, highest precedence first (depmod.d directories or files).
    pub config_paths: Vec<PathBuf>,
    /// `None`: scan everything (`-a`, the default). `Some`: only these absolute paths.
    pub files: Option<Vec<Vec<u8>>>,
    /// `-F` / `-E`.
    pub kernel_symbols: Option<KernelSymbolSource>,
    /// Symbol resolution and reporting options.
    pub link: LinkOptions,
    /// `-w`: warn about duplicate index entries.
    pub warn_duplicates: bool,
    /// The module cache to read (and write back), if any.
    pub cache: Option<cache::CacheSettings>,
}

/// What [`generate`] produced.
#[derive(Debug)]
pub struct Generated {
    /// The output files, in kmod's order.
    pub files: Vec<OutputFile>,
    /// What the module cache gave the run; `None` without a cache.
    pub cache: Option<cache::PendingCache>,
    /// How writing the cache back went, when it needed writing: it is written while the
    /// outputs are made (it holds what each module file contains, right whether or not the
    /// outputs are then published, and it is replaced by a rename). `Ok(false)`: another run
    /// was writing it.
    pub cache_stored: Option<std::io::Result<bool>>,
}

/// How serious a [`Diagnostic`] is, which decides where and whether kmod shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `depmod: ERROR: ...`
    Error,
    /// `depmod: WARNING: ...`
    Warning,
    /// `depmod: INFO: ...`, shown with `-vv` only.
    Info,
    /// Printed on standard output with `-v` (the dependency listing).
    Verbose,
}

/// Something kmod's depmod would log, without stopping. Paths and names are bytes.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnostic {
    /// A configuration file could not be read.
    ConfigUnreadable {
        /// The file.
        path: PathBuf,
        /// The errno.
        error: i32,
    },
    /// A configuration directory could not be listed.
    ConfigDirUnreadable {
        /// The directory.
        path: PathBuf,
        /// The errno.
        error: i32,
    },
    /// An unknown or incomplete configuration line.
    ConfigBadLine {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: u32,
        /// Its first word.
        command: Vec<u8>,
    },
    /// An `override`/`external` line for another kernel.
    ConfigKernelMismatch {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: u32,
        /// `override kernel` or `external directory`.
        what: &'static str,
        /// The kernel pattern.
        pattern: Vec<u8>,
    },
    /// `include` or `make_map_files`, which kmod does not implement.
    ConfigNotImplemented {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: u32,
        /// The command.
        command: Vec<u8>,
    },
    /// A file in a configuration directory without the `.conf` suffix.
    ConfigNotConf {
        /// The directory.
        dir: PathBuf,
        /// The file name.
        name: Vec<u8>,
    },
    /// A configuration directory entry that cannot be examined.
    ConfigCannotStat {
        /// The directory.
        dir: PathBuf,
        /// The entry.
        name: Vec<u8>,
    },
    /// A directory inside a configuration directory.
    ConfigSubdirectory {
        /// The directory.
        dir: PathBuf,
        /// The entry.
        name: Vec<u8>,
    },
    /// A directory to scan could not be opened or read.
    ScanDirUnreadable {
        /// The directory.
        path: Vec<u8>,
        /// The errno.
        error: i32,
    },
    /// A directory entry that is neither a file nor a directory.
    ScanUnsupportedType {
        /// The entry's path.
        path: Vec<u8>,
        /// Its file type bits (`st_mode & S_IFMT`).
        mode: u32,
    },
    /// A directory entry that cannot be examined (a dangling symbolic link, say).
    ScanStatFailed {
        /// The directory.
        dir: Vec<u8>,
        /// The entry.
        name: Vec<u8>,
        /// The errno.
        error: i32,
    },
    /// A subdirectory that cannot be opened.
    ScanOpenFailed {
        /// The directory.
        dir: Vec<u8>,
        /// The entry.
        name: Vec<u8>,
        /// The errno.
        error: i32,
    },
    /// A directory that contains itself (through symbolic links); not entered again.
    ScanLoop {
        /// The path where the loop closes.
        path: Vec<u8>,
    },
    /// A directory nested more than [`scan::MAX_SCAN_DEPTH`] levels deep; not entered.
    ScanTooDeep {
        /// The directory.
        path: Vec<u8>,
    },
    /// A module named twice on the command line, with the same path.
    HashAddUnique {
        /// The module name.
        key: Vec<u8>,
        /// The errno (`EEXIST`).
        error: i32,
    },
    /// A module named twice on the command line, with different paths.
    ModuleExistsWithOtherPath {
        /// The module name.
        name: Vec<u8>,
        /// The second path.
        new_path: Vec<u8>,
        /// The first path.
        old_path: Vec<u8>,
    },
    /// The module directory could not be opened to read an input file.
    InputDirUnreadable {
        /// The directory.
        dir: Vec<u8>,
        /// The errno.
        error: i32,
    },
    /// `modules.order`, `modules.builtin` or `modules.builtin.modinfo` could not be read.
    InputUnreadable {
        /// The file name.
        name: &'static str,
        /// The directory.
        dir: Vec<u8>,
        /// The errno.
        error: i32,
    },
    /// `modules.order` has a line without a newline: the order is not applied.
    OrderCorrupted {
        /// The module directory.
        dir: Vec<u8>,
        /// The line number.
        line: usize,
    },
    /// `-A`: modules.dep could not be examined.
    DepfileStatFailed {
        /// The module directory.
        dir: Vec<u8>,
        /// The errno.
        error: i32,
    },
    /// A module whose symbols could not be read (reported once per module).
    LoadSymbolsFailed {
        /// The module file.
        path: Vec<u8>,
        /// Why.
        error: LoadError,
    },
    /// `-e`: a module needs a symbol nobody provides.
    UnknownSymbol {
        /// The module file.
        path: Vec<u8>,
        /// The symbol.
        symbol: Vec<u8>,
    },
    /// `-e -E`: a module was built against another version of a symbol.
    VersionMismatch {
        /// The module file.
        path: Vec<u8>,
        /// The symbol.
        symbol: Vec<u8>,
    },
    /// `-v`: a dependency found.
    Needs {
        /// The module file.
        path: Vec<u8>,
        /// The symbol.
        symbol: Vec<u8>,
        /// The file of the module that provides it.
        owner: Vec<u8>,
    },
    /// A malformed `System.map` line.
    SymbolFileBadLine {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: u32,
        /// The line (including its newline, if any).
        text: Vec<u8>,
    },
    /// A `Module.symvers` CRC that is not a hexadecimal number.
    SymversBadVersion {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: u32,
        /// The CRC field.
        version: Vec<u8>,
        /// Whether the number was out of range (else: not a number).
        overflow: bool,
    },
    /// A dependency cycle, as module names from the starting module back to it.
    Cycle {
        /// The names along the cycle, the first repeated at the end.
        modules: Vec<Vec<u8>>,
    },
    /// rkmod stopped walking cycles from this module where kmod would loop forever or abort.
    CycleSearchStopped {
        /// The starting module.
        start: Vec<u8>,
    },
    /// The closing line of a cycle report.
    CycleCount {
        /// Distinct modules on the reported cycles.
        modules: usize,
    },
    /// `-w`: a module's dependency line stored twice.
    DuplicateDeps {
        /// The line.
        line: Vec<u8>,
    },
    /// An alias with an unmatched `[` or `]`, left out of the alias index.
    UnmatchedBracket {
        /// The alias as written.
        alias: Vec<u8>,
    },
    /// `-w`: an alias listed twice for one module.
    DuplicateAlias {
        /// The normalised alias.
        alias: Vec<u8>,
        /// The module.
        module: Vec<u8>,
    },
    /// `-w`: a symbol stored twice.
    DuplicateSymbol {
        /// The `symbol:` key.
        key: Vec<u8>,
        /// The module.
        module: Vec<u8>,
    },
    /// A `modules.builtin` line that does not start with a letter.
    BuiltinBadLine {
        /// The line (with its newline).
        line: Vec<u8>,
    },
    /// A `modules.builtin.modinfo` field longer than kmod's buffer.
    BuiltinFieldTooLong {
        /// What was read of it.
        partial: Vec<u8>,
    },
    /// A module with a `devname:` alias but no `char-major-`/`block-major-` alias.
    DevnameWithoutNumbers {
        /// The module.
        module: Vec<u8>,
        /// The device name.
        devname: Vec<u8>,
    },
}

impl Diagnostic {
    /// The level kmod logs this at.
    pub fn level(&self) -> Level {
        use Diagnostic::*;
        match self {
            ConfigKernelMismatch { .. } | ConfigNotImplemented { .. } | ConfigNotConf { .. } => {
                Level::Info
            }
            Needs { .. } => Level::Verbose,
            InputDirUnreadable { .. }
            | InputUnreadable { .. }
            | UnknownSymbol { .. }
            | VersionMismatch { .. }
            | DuplicateDeps { .. }
            | UnmatchedBracket { .. }
            | DuplicateAlias { .. }
            | DuplicateSymbol { .. }
            | BuiltinFieldTooLong { .. }
            | CycleSearchStopped { .. } => Level::Warning,
            _ => Level::Error,
        }
    }
}

/// What stops depmod before anything is written (kmod: a fatal message or exit code 1).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// The module directory cannot be read.
    #[error("could not search modules: errno {error}")]
    SearchFailed {
        /// The errno.
        error: i32,
    },
    /// A module file on the command line is not an absolute path.
    #[error("not an absolute path")]
    NotAbsolute {
        /// The argument.
        path: Vec<u8>,
    },
    /// A module file on the command line cannot be used.
    #[error("could not create module: errno {error}")]
    CreateFailed {
        /// The argument.
        path: Vec<u8>,
        /// The errno.
        error: i32,
    },
    /// A module on the command line repeats a name.
    #[error("could not add module: errno {error}")]
    AddFailed {
        /// The argument.
        path: Vec<u8>,
        /// The errno.
        error: i32,
    },
    /// `-F`/`-E` names a file that cannot be read.
    #[error("could not load kernel symbols: errno {error}")]
    KernelSymbols {
        /// The file.
        path: PathBuf,
        /// The errno.
        error: i32,
    },
    /// Dependency cycles (already reported as diagnostics).
    #[error("{modules} modules in dependency cycles")]
    Cycles {
        /// Distinct modules on the cycles.
        modules: usize,
    },
    /// A key or value of a binary index is not 7-bit ASCII.
    #[error("bad character {byte:#x} in an index")]
    IndexCharacter {
        /// The offending byte.
        byte: u8,
        /// The key or value containing it.
        string: Vec<u8>,
    },
    /// Another index error (an index too large for the format, say).
    #[error("index: {error}")]
    Index {
        /// What went wrong.
        error: crate::index::IndexError,
    },
}

/// Runs depmod's analysis and renders its outputs (all eleven files, or with `to_stdout`
/// only the text ones), handing each to `sink` as soon as it is rendered (see
/// [`outputs::render`]). Diagnostics are appended in the order kmod logs them.
pub fn generate(
    settings: &Settings,
    to_stdout: bool,
    diagnostics: &mut Vec<Diagnostic>,
    sink: Option<outputs::Sink<'_>>,
) -> Result<Generated, Fatal> {
    let prefix = settings.link.prefix;
    let kernel = match &settings.kernel_symbols {
        None => None,
        Some(source) => {
            let (path, loaded) = match source {
                KernelSymbolSource::SystemMap(path) => (
                    path,
                    KernelSymbols::from_system_map(path, prefix, diagnostics),
                ),
                KernelSymbolSource::Symvers(path) => {
                    (path, KernelSymbols::from_symvers(path, prefix, diagnostics))
                }
            };
            Some(loaded.map_err(|e| Fatal::KernelSymbols {
                path: path.clone(),
                error: e.raw_os_error().unwrap_or(5),
            })?)
        }
    };
    // The old cache is read first: the walk takes each module's key only when there are
    // entries to compare it with (a first run reads every file and stats it once, opened).
    let old_cache = settings
        .cache
        .as_ref()
        .map(|c| cache::OldCache::read(&c.path));
    let identity = cache::identity();
    let decoded = old_cache.as_ref().map(|old| old.decode(&identity));
    let want_keys = decoded
        .as_ref()
        .is_some_and(|(entries, _)| !entries.is_empty());
    let found = match &settings.files {
        None => {
            let config = config::DepmodConfig::load(
                &settings.config_paths,
                &settings.kernel_version,
                diagnostics,
            );
            scan::scan_tree(&settings.dirname, &config, want_keys, diagnostics)?
        }
        Some(files) => scan::from_files(&settings.dirname, files, diagnostics)?,
    };
    let ordered = scan::order_modules(found, &settings.dirname, diagnostics);
    let (modules, pending) = match (&settings.cache, &old_cache, decoded) {
        (Some(cache), Some(old), Some(decoded)) => {
            let (modules, pending) =
                read_modules_cached(ordered, cache, settings.files.is_none(), old, decoded);
            (modules, Some(pending))
        }
        _ => (read_modules(ordered), None),
    };
    let (files, cache_stored) = std::thread::scope(|scope| {
        // The cache is written beside the linking and rendering, from the same modules.
        let store = pending.as_ref().filter(|p| p.needs_store()).map(|pending| {
            let modules = &modules;
            scope.spawn(move || pending.store_with(|i| modules.get(i).map(|m| &m.symbols)))
        });
        let files = link_and_render(
            settings,
            &modules,
            kernel.as_ref(),
            to_stdout,
            diagnostics,
            sink,
        );
        let stored = store.map(|s| {
            s.join()
                .unwrap_or_else(|_| Err(std::io::Error::other("cache writer failed")))
        });
        (files, stored)
    });
    Ok(Generated {
        files: files?,
        cache: pending,
        cache_stored,
    })
}

/// Resolves the modules' symbols and renders the outputs.
fn link_and_render(
    settings: &Settings,
    modules: &[graph::Module],
    kernel: Option<&KernelSymbols>,
    to_stdout: bool,
    diagnostics: &mut Vec<Diagnostic>,
    sink: Option<outputs::Sink<'_>>,
) -> Result<Vec<OutputFile>, Fatal> {
    let linked = graph::link(modules, kernel, settings.link, diagnostics)
        .map_err(|c| Fatal::Cycles { modules: c.modules })?;
    let inputs = outputs::Inputs {
        modules,
        linked: &linked,
        dirname: &settings.dirname,
        warn_duplicates: settings.warn_duplicates,
    };
    outputs::render(&inputs, to_stdout, diagnostics, sink)
}

/// Reads every module file in parallel, keeping depmod's order.
pub fn read_modules(found: Vec<scan::FoundModule>) -> Vec<graph::Module> {
    found
        .into_par_iter()
        .map(|found| {
            let symbols = symbols::read_module(Path::new(OsStr::from_bytes(&found.path)));
            graph::Module { found, symbols }
        })
        .collect()
}

/// [`read_modules`] through the module cache: a module whose file has the key its cache
/// entry records is taken from the cache, every other one is read. `old` is the cache file
/// as read before the scan, `decoded` its entries (and why none, if it was unusable).
/// `whole_tree`: the run saw every module, so entries of modules it did not see are dropped
/// (else they are kept).
pub fn read_modules_cached(
    found: Vec<scan::FoundModule>,
    settings: &cache::CacheSettings,
    whole_tree: bool,
    old: &cache::OldCache,
    decoded: (cache::Entries<'_>, Option<cache::CacheProblem>),
) -> (Vec<graph::Module>, cache::PendingCache) {
    use cache::{CacheOutcome, FileKey, Stored};
    let start = cache::now_seconds();
    let (entries, problem) = decoded;
    let read: Vec<(graph::Module, Stored)> = found
        .into_par_iter()
        .map(|found| {
            let path = Path::new(OsStr::from_bytes(&found.path));
            if !entries.is_empty() {
                // The scan's key, else a look-up of the path.
                let key = found
                    .key
                    .or_else(|| crate::fs::stat(path).ok().map(FileKey::of));
                if let Some(key) = key {
                    if let Some((symbols, stored)) = entries.get(&found.path, &key) {
                        return (graph::Module { found, symbols }, stored);
                    }
                }
            }
            let (symbols, meta) = symbols::read_module_with_stat(path);
            let stored = match meta {
                Some(meta) if symbols.load_error.is_none() => {
                    let key = FileKey::of(&meta);
                    if key.settled(start) {
                        Stored::Extracted { key }
                    } else {
                        Stored::Skip
                    }
                }
                _ => Stored::Skip,
            };
            (graph::Module { found, symbols }, stored)
        })
        .collect();
    let used = read
        .iter()
        .filter(|(_, s)| matches!(s, Stored::Reused { .. }))
        .count();
    let fresh = read
        .iter()
        .filter(|(_, s)| matches!(s, Stored::Extracted { .. }))
        .count();
    let mut modules = Vec::with_capacity(read.len());
    let mut stored = Vec::with_capacity(read.len());
    for (module, entry) in read {
        stored.push((module.found.path.clone(), entry));
        modules.push(module);
    }
    // Entries of the old cache this run did not use.
    let seen: rustc_hash::FxHashSet<&[u8]> =
        stored.iter().map(|(path, _)| path.as_slice()).collect();
    let unseen = entries.unseen(&seen);
    let dropped = if whole_tree { unseen.len() } else { 0 };
    let kept: Vec<(Vec<u8>, Stored)> = if whole_tree { Vec::new() } else { unseen };
    drop(seen);
    stored.extend(kept);
    let outcome = match problem {
        Some(problem) => CacheOutcome::Ignored(problem),
        None if old.bytes.is_empty() => CacheOutcome::Missing,
        None => CacheOutcome::Read {
            used,
            modules: modules.len(),
        },
    };
    let changed = fresh > 0 || dropped > 0 || matches!(outcome, CacheOutcome::Ignored(_));
    drop(entries);
    let pending = cache::PendingCache::new(
        settings.clone(),
        outcome,
        Arc::clone(&old.bytes),
        stored,
        changed,
    );
    (modules, pending)
}
