//! From a request to a load plan: which modules a name stands for, what they need, in which
//! order they go in, with which options, and which configured commands replace them.
//!
//! This is the part of libkmod that `modprobe` drives, redone over [`ModuleDir`] and
//! [`Config`]. A [`Resolver`] keeps a pool of module records, as libkmod does, keyed by the
//! module's name and the alias it was reached through (libkmod's `name\alias` key): a module
//! reached through two different aliases is two records, each with its own alias-specific
//! options and blacklist handling, exactly as in kmod.
//!
//! # What a module record knows
//! - its **file**, from modules.dep (or the path given on the command line), and its
//!   **dependencies**: the rest of its modules.dep line, turned into load order (the line lists
//!   the most dependent module first);
//! - whether it is **builtin** (modules.builtin.bin, or the builtin alias index it came from);
//! - its **options**: every `options` entry for its name or for its alias, in configuration
//!   order, the kernel command line's last (see [`Config::module_options`]);
//! - its **install** and **remove** commands: the first configuration line whose pattern
//!   matches its name, unless the lookup itself found the module through a command written for
//!   exactly that name;
//! - its **softdeps** and **weakdeps**: the first matching `softdep`/`weakdep` line only (kmod
//!   issue #33, reproduced), each name resolved through the whole lookup chain. These come
//!   from the configuration files and from modules.softdep/modules.weakdep, which depmod copies
//!   from each module's own `softdep`/`weakdep` modinfo field; like libkmod, the module file
//!   itself is not read for them.
//!
//! # The probe list ([`Resolver::probe_list`])
//! kmod's order, reproduced with its quirks:
//! 1. The requested module is marked visited; each of its dependencies, in load order, comes
//!    with its softdeps around it: the pre-softdeps (each one probed recursively, with its own
//!    dependencies and softdeps), then the dependency, then its post-softdeps.
//! 2. Then the module itself the same way, unless `-i` was given: then it comes alone.
//! 3. A module that gets a softdep this way has its install command ignored (kmod issue #446,
//!    reproduced): [`ProbeStep::ignore_command`].
//! 4. Only modules that went through step 1 as "probed" are marked visited, so a dependency
//!    shared by a softdep module and the requested module appears twice, as in kmod. Loading
//!    skips the second one as already loaded; `--show-depends` prints it twice, as kmod does.
//! 5. The requested module and its dependencies are *required*: a failure there stops the run.
//!    A failure of a module that is only a softdep is ignored.
//!
//! Recursion is bounded by [`MAX_PROBE_DEPTH`]; every module is visited once, so softdep
//! cycles end by themselves, and a pathological chain deeper than the bound is an error
//! ([`ResolveError::TooDeep`]) rather than a stack overflow.
//!
//! Names are only ever looked up in the indexes and the configuration: no path is ever built
//! from a requested name. A request becomes a file only through modules.dep, or through
//! [`Resolver::from_path`] when the caller decided (as `modprobe` does for arguments starting
//! with `/` or `./`) that the argument is a path.

pub mod command;
pub mod parallel;
pub mod probe;

use rustc_hash::FxHashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::{Config, Names};
use crate::error::Error;
use crate::lookup::{self, ExactCommand, Source};
use crate::moddir::{DepEntry, ModuleDir};
use crate::modname;

/// How deep the probe list may recurse through softdeps (each level is a softdep of a module
/// of the level above). kmod has no bound; real configurations use one or two levels.
pub const MAX_PROBE_DEPTH: usize = 256;

/// The most module records one resolver creates. Every record comes from a name in an index
/// or in the configuration, so this is far beyond any real tree (about 6000 modules); it only
/// bounds the work on a hostile configuration.
pub const MAX_MODULES: usize = 1 << 20;

/// The fewest live records at which [`Resolver::collect_due`] says a collection is due: below
/// it the records cost less memory than collecting them is worth.
pub const MIN_COLLECT: usize = 16;

/// A module record of a [`Resolver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModId(u32);

impl ModId {
    /// The record's number in its resolver, below the highest number of records that lived
    /// at once, so it can key a table kept beside the resolver. The number of a record freed
    /// by [`Resolver::collect`] goes to the next record made.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Errors of resolution that are not errors of a file.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Reading an index or a module file failed.
    #[error(transparent)]
    Core(#[from] Error),
    /// Softdeps nest deeper than [`MAX_PROBE_DEPTH`].
    #[error("softdeps of {module} nest deeper than {MAX_PROBE_DEPTH} levels")]
    TooDeep {
        /// The module at which the bound was hit.
        module: String,
    },
    /// More than [`MAX_MODULES`] module records.
    #[error("more than {MAX_MODULES} modules involved")]
    TooManyModules,
    /// [`Resolver::from_path`] was given another file for a module whose file is known
    /// (kmod: `EEXIST`); the [`Notice::ConflictingPath`] logged says which.
    #[error("module {module} already exists with a different path")]
    PathConflict {
        /// The module's name.
        module: String,
    },
}

/// The result type of resolution.
pub type ResolveResult<T> = std::result::Result<T, ResolveError>;

/// A problem that libkmod logs and then carries on from; kept as data, because kmodcore never
/// prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A softdep name could not be looked up (it is not a valid alias, or an index is
    /// corrupt); the softdep is skipped. kmod: `failed to lookup dependency '%s', continuing
    /// anyway.`
    SoftdepLookupFailed {
        /// The name as written in the softdep line.
        name: Vec<u8>,
    },
    /// A modules.dep line names a module file whose name another record already has with a
    /// different path; the dependency list of the module is dropped, as in kmod.
    ConflictingPath {
        /// The module name.
        name: Vec<u8>,
        /// The path already known.
        old: Vec<u8>,
        /// The path in modules.dep.
        new: Vec<u8>,
    },
}

impl Notice {
    /// libkmod's wording (without the `libkmod: ERROR: FUNCTION: ` prefix or a newline).
    pub fn message(&self) -> String {
        match self {
            Notice::SoftdepLookupFailed { name } => format!(
                "failed to lookup dependency '{}', continuing anyway.",
                String::from_utf8_lossy(name)
            ),
            Notice::ConflictingPath { name, old, new } => format!(
                "kmod_module '{}' already exists with different path: new-path='{}' old-path='{}'",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(new),
                String::from_utf8_lossy(old)
            ),
        }
    }

    /// The libkmod function that logs it.
    pub fn kmod_function(&self) -> &'static str {
        match self {
            Notice::SoftdepLookupFailed { .. } => "lookup_dep",
            Notice::ConflictingPath { .. } => "kmod_module_new_from_path",
        }
    }
}

/// One module record. Its strings are boxed slices, not vectors: a record is made once and
/// its strings never grow, so the spare capacity and the third word would be waste.
#[derive(Debug, Clone)]
struct Node {
    name: Box<[u8]>,
    alias: Option<Box<[u8]>>,
    path: Option<Box<[u8]>>,
    /// Dependencies in load order, once read from modules.dep.
    deps: Option<Box<[ModId]>>,
    builtin: Option<bool>,
    /// Install and remove commands, once looked up (`Some(None)`: there is none).
    install: Option<Option<Box<[u8]>>>,
    remove: Option<Option<Box<[u8]>>>,
    visited: bool,
    required: bool,
    ignore_command: bool,
}

impl Node {
    fn new(name: Box<[u8]>, alias: Option<Box<[u8]>>) -> Node {
        Node {
            name,
            alias,
            path: None,
            deps: None,
            builtin: None,
            install: None,
            remove: None,
            visited: false,
            required: false,
            ignore_command: false,
        }
    }
}

/// One entry of a probe list: a module, and the flags the probe gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeStep {
    /// The module.
    pub module: ModId,
    /// Whether it is the requested module or one of its dependencies: its failure stops the
    /// run. A module that is only a softdep is not required.
    pub required: bool,
    /// Whether its install command is ignored: with `-i` for the requested module, or because
    /// it has softdeps (kmod issue #446).
    pub ignore_command: bool,
}

/// Resolves requests against a module directory and a configuration (libkmod's context and
/// its module pool).
///
/// Records are kept until [`Resolver::collect`] frees those its caller no longer holds (the
/// tools never call it: a run makes a few hundred records at most; libkmod does, as kmod frees
/// a module with its last reference, so that a long-lived context such as udev's does not
/// keep a record for every module it was ever asked about).
#[derive(Debug)]
pub struct Resolver<'a> {
    dir: &'a ModuleDir,
    config: &'a Config,
    /// The records by number; `None` is a slot freed by [`Resolver::collect`], listed in
    /// `free`.
    nodes: Vec<Option<Node>>,
    free: Vec<u32>,
    /// The records by [`record_key`] of their name and alias.
    /// FxHash: no per-process random keys (std's would read a thread-local, which in a
    /// shared library costs a `__tls_get_addr` call and the page of code it lives on).
    by_key: FxHashMap<Box<[u8]>, ModId>,
    /// The number of live records at which [`Resolver::collect_due`] says yes.
    collect_at: usize,
    notices: Vec<Notice>,
    /// What an id of no live record reads as (see `node`).
    empty: Node,
}

/// The key of a record in [`Resolver`]'s map: the name's length (4 bytes, little-endian), the
/// name, then the alias after a 1 when there is one. The length keeps every (name, alias) pair
/// apart whatever bytes they hold (kmod's `name\alias` would not).
fn record_key(name: &[u8], alias: Option<&[u8]>) -> Vec<u8> {
    let len = u32::try_from(name.len()).unwrap_or(u32::MAX);
    let mut key = Vec::with_capacity(5 + name.len() + alias.map_or(0, <[u8]>::len));
    key.extend_from_slice(&len.to_le_bytes());
    key.extend_from_slice(name);
    if let Some(alias) = alias {
        key.push(1);
        key.extend_from_slice(alias);
    }
    key
}

impl<'a> Resolver<'a> {
    /// A resolver over `dir` and `config`. Nothing is read yet.
    pub fn new(dir: &'a ModuleDir, config: &'a Config) -> Resolver<'a> {
        Resolver {
            dir,
            config,
            nodes: Vec::new(),
            free: Vec::new(),
            by_key: FxHashMap::default(),
            collect_at: MIN_COLLECT,
            notices: Vec::new(),
            empty: Node::new(Box::default(), None),
        }
    }

    /// The module directory.
    pub fn module_dir(&self) -> &'a ModuleDir {
        self.dir
    }

    /// Reads from `dir` from now on (libkmod's `kmod_unload_resources`: the indexes are
    /// closed, and opened again by the lookups that need them). Records resolved already keep
    /// what they found, as kmod's module objects keep theirs.
    pub fn set_module_dir(&mut self, dir: &'a ModuleDir) {
        self.dir = dir;
    }

    /// The configuration.
    pub fn config(&self) -> &'a Config {
        self.config
    }

    /// Takes the problems logged since the last call, in order.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    fn node(&self, id: ModId) -> &Node {
        // Ids are only made by `intern` and stay live while their holders say so (see
        // `collect`); an id of a freed record reads as an empty one rather than panic.
        match self.nodes.get(id.index()) {
            Some(Some(node)) => node,
            _ => &self.empty,
        }
    }

    fn node_mut(&mut self, id: ModId) -> Option<&mut Node> {
        self.nodes.get_mut(id.index()).and_then(Option::as_mut)
    }

    /// The record for (`name`, `alias`), created when new.
    fn intern(&mut self, name: Vec<u8>, alias: Option<Vec<u8>>) -> ResolveResult<ModId> {
        let key = record_key(&name, alias.as_deref());
        if let Some(&id) = self.by_key.get(key.as_slice()) {
            return Ok(id);
        }
        let node = Node::new(name.into_boxed_slice(), alias.map(Vec::into_boxed_slice));
        let id = match self.free.pop() {
            Some(slot) => {
                let id = ModId(slot);
                match self.nodes.get_mut(id.index()) {
                    Some(entry) => *entry = Some(node),
                    None => return Err(ResolveError::TooManyModules),
                }
                id
            }
            None => {
                let slot = u32::try_from(self.nodes.len())
                    .ok()
                    .filter(|&n| (n as usize) < MAX_MODULES)
                    .ok_or(ResolveError::TooManyModules)?;
                self.nodes.push(Some(node));
                ModId(slot)
            }
        };
        self.by_key.insert(key.into_boxed_slice(), id);
        Ok(id)
    }

    /// The number of live records.
    fn live(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// Whether [`Resolver::collect`] is worth calling: the live records have doubled since
    /// the last collection (and number at least [`MIN_COLLECT`]). Collecting only then keeps
    /// its cost, a pass over the records, in proportion to the records made.
    pub fn collect_due(&self) -> bool {
        self.live() >= self.collect_at
    }

    /// Frees every record that is neither one of `roots` nor reachable from one through the
    /// dependencies read from modules.dep (kmod: a module holds references on its
    /// dependencies). The caller passes every id it still holds: the ids of freed records are
    /// given to new records, so a freed id kept by the caller would name another module.
    pub fn collect(&mut self, roots: impl IntoIterator<Item = ModId>) {
        let mut keep = vec![false; self.nodes.len()];
        let mut stack: Vec<ModId> = roots.into_iter().collect();
        while let Some(id) = stack.pop() {
            match keep.get_mut(id.index()) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            if let Some(deps) = &self.node(id).deps {
                stack.extend(deps.iter().copied());
            }
        }
        for (index, (slot, &kept)) in self.nodes.iter_mut().zip(&keep).enumerate() {
            if kept {
                continue;
            }
            let Some(node) = slot.take() else {
                continue;
            };
            self.by_key
                .remove(record_key(&node.name, node.alias.as_deref()).as_slice());
            // `index` is below `nodes.len()`, which `intern` keeps below MAX_MODULES.
            self.free.push(u32::try_from(index).unwrap_or(u32::MAX));
        }
        self.collect_at = MIN_COLLECT.max(2 * self.live());
    }

    /// The record of the module called `name` (no alias), created when new, as libkmod's
    /// `kmod_module_new_from_name`: the name ends at its first `.` (and after 4095 bytes),
    /// dashes become underscores; nothing is read.
    pub fn module(&mut self, name: &[u8]) -> ResolveResult<ModId> {
        let stem = name.split(|&b| b == b'.').next().unwrap_or_default();
        let stem = stem.get(..stem.len().min(4095)).unwrap_or_default();
        self.intern(modname::normalize_name(stem), None)
    }

    /// The record of a module by name through modules.dep and the builtin indexes only
    /// (libkmod's `kmod_module_new_from_name_lookup`); `None` when no file or builtin entry
    /// has that name.
    pub fn lookup_name(&mut self, name: &[u8]) -> ResolveResult<Option<ModId>> {
        let Some(found) = lookup::lookup_name(self.dir, name)? else {
            return Ok(None);
        };
        self.lookup_found(vec![found])
            .map(|ids| ids.into_iter().next())
    }

    /// Resolves a request through kmod's lookup chain (see [`crate::lookup`]); every match, in
    /// kmod's order. An empty list means not found; an invalid request (unbalanced brackets,
    /// too long) is `Error::NotFound`.
    pub fn lookup(&mut self, request: &[u8]) -> ResolveResult<Vec<ModId>> {
        let found = lookup::lookup(self.dir, self.config, request)?;
        self.lookup_found(found)
    }

    /// The records of what a lookup found.
    fn lookup_found(&mut self, found: Vec<lookup::Found>) -> ResolveResult<Vec<ModId>> {
        let mut ids = Vec::with_capacity(found.len());
        for f in found {
            // libkmod creates module-name records through modname_normalize, which turns
            // dashes into underscores; names from the indexes are normalised already.
            let id = self.intern(f.name, f.alias)?;
            match f.source {
                Source::Builtin | Source::BuiltinAlias => {
                    if let Some(node) = self.node_mut(id) {
                        node.builtin = Some(true);
                    }
                }
                Source::ModDep => {
                    self.load_deps(id)?;
                }
                Source::Command => {
                    if let Some(node) = self.node_mut(id) {
                        match f.command {
                            Some(ExactCommand::Install(cmd)) => {
                                node.install = Some(Some(cmd.into()))
                            }
                            Some(ExactCommand::Remove(cmd)) => node.remove = Some(Some(cmd.into())),
                            None => {}
                        }
                    }
                }
                Source::ConfigAlias | Source::Symbols | Source::Alias => {}
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// The record of a module file given by path, as `modprobe /path/to/x.ko` or
    /// `modprobe ./x.ko` (kmod 31 and later) does: the module's name comes from the file name;
    /// its dependencies, options and softdeps from that name. `path` is made absolute against
    /// the current directory. The file must exist (its metadata is read, as kmod stats it).
    pub fn from_path(&mut self, path: &Path) -> ResolveResult<ModId> {
        let absolute = absolute_path(path);
        crate::fs::stat(&absolute).map_err(|e| Error::io(&absolute, e))?;
        let bytes: Box<[u8]> = absolute.as_os_str().as_bytes().into();
        let name = modname::name_from_path(path.as_os_str().as_bytes());
        if name.is_empty() {
            return Err(Error::NotFound {
                name: path.display().to_string(),
            }
            .into());
        }
        let id = self.intern(name.clone(), None)?;
        let node = self.node_mut(id).ok_or(ResolveError::TooManyModules)?;
        match &node.path {
            None => node.path = Some(bytes),
            Some(old) if *old == bytes => {}
            Some(old) => {
                let notice = Notice::ConflictingPath {
                    name: name.clone(),
                    old: old.to_vec(),
                    new: bytes.into_vec(),
                };
                self.notices.push(notice);
                return Err(ResolveError::PathConflict {
                    module: String::from_utf8_lossy(&name).into_owned(),
                });
            }
        }
        node.builtin = Some(false);
        Ok(id)
    }

    /// Forgets what record `id` learnt from files and lookups (its path, dependencies, builtin
    /// state and commands), keeping its name and alias: the next question about it reads the
    /// indexes again. libkmod calls this when the last handle on a module goes, since kmod
    /// frees such a module and a later one of the same name starts afresh (another path may
    /// then be given for it).
    pub fn forget(&mut self, id: ModId) {
        if let Some(node) = self.node_mut(id) {
            let fresh = Node::new(std::mem::take(&mut node.name), node.alias.take());
            *node = fresh;
        }
    }

    /// A module's name.
    pub fn name(&self, id: ModId) -> &[u8] {
        &self.node(id).name
    }

    /// The alias a module was reached through, if any.
    pub fn alias(&self, id: ModId) -> Option<&[u8]> {
        self.node(id).alias.as_deref()
    }

    /// Reads the module's modules.dep line once: its file (unless known already) and its
    /// dependencies.
    fn load_deps(&mut self, id: ModId) -> ResolveResult<()> {
        if self.node(id).deps.is_some() {
            return Ok(());
        }
        let entry = self.dir.dep_entry(&self.node(id).name)?;
        let Some(DepEntry { path, deps }) = entry else {
            if let Some(node) = self.node_mut(id) {
                node.deps = Some(Box::default());
            }
            return Ok(());
        };
        let full = self.dep_path(&path);
        if let Some(node) = self.node_mut(id) {
            if node.path.is_none() {
                node.path = Some(full);
            }
        }
        // modules.dep lists the most dependent module first; libkmod prepends each one, so
        // its list is the reverse: load order.
        let mut list = Vec::with_capacity(deps.len());
        for dep in deps.iter().rev() {
            let dep_full = self.dep_path(dep);
            let dep_name = modname::name_from_path(dep);
            let dep_id = self.intern(dep_name.clone(), None)?;
            let node = self.node_mut(dep_id).ok_or(ResolveError::TooManyModules)?;
            match &node.path {
                None => {
                    node.path = Some(dep_full);
                    node.builtin = Some(false);
                }
                Some(old) if *old == dep_full => node.builtin = Some(false),
                Some(old) => {
                    let old = old.to_vec();
                    self.notices.push(Notice::ConflictingPath {
                        name: dep_name,
                        old,
                        new: dep_full.into_vec(),
                    });
                    list.clear();
                    break;
                }
            }
            list.push(dep_id);
        }
        if let Some(node) = self.node_mut(id) {
            node.deps = Some(list.into_boxed_slice());
        }
        Ok(())
    }

    fn dep_path(&self, rel: &[u8]) -> Box<[u8]> {
        self.dir
            .module_path(rel)
            .into_os_string()
            .into_vec_bytes()
            .into_boxed_slice()
    }

    /// The module's file: from the path it was created with, or from modules.dep. `None` for
    /// a module without a file (builtin, or known only by an alias or a command).
    pub fn path(&mut self, id: ModId) -> ResolveResult<Option<PathBuf>> {
        if self.node(id).path.is_none() {
            self.load_deps(id)?;
        }
        Ok(self
            .node(id)
            .path
            .as_ref()
            .map(|p| PathBuf::from(OsStr::from_bytes(p))))
    }

    /// The module's dependencies, in load order (the modules that must be loaded before it).
    pub fn dependencies(&mut self, id: ModId) -> ResolveResult<Vec<ModId>> {
        self.load_deps(id)?;
        Ok(self.node(id).deps.as_deref().unwrap_or_default().to_vec())
    }

    /// Whether the module is builtin: marked so by the lookup that found it, or listed in
    /// modules.builtin.bin.
    pub fn is_builtin(&mut self, id: ModId) -> ResolveResult<bool> {
        if let Some(builtin) = self.node(id).builtin {
            return Ok(builtin);
        }
        let builtin = self.dir.is_builtin(&self.node(id).name)?;
        if let Some(node) = self.node_mut(id) {
            node.builtin = Some(builtin);
        }
        Ok(builtin)
    }

    /// The options for the module: every non-empty `options` string for its name or its
    /// alias, joined with spaces; empty when there are none.
    pub fn options(&self, id: ModId) -> Vec<u8> {
        let node = self.node(id);
        self.config
            .module_options(&node.name, node.alias.as_deref())
    }

    /// The module's install command, if any.
    pub fn install_command(&mut self, id: ModId) -> Option<Vec<u8>> {
        if let Some(cmd) = &self.node(id).install {
            return cmd.as_deref().map(<[u8]>::to_vec);
        }
        let cmd = self.config.install_command(&self.node(id).name);
        let owned = cmd.map(<[u8]>::to_vec);
        if let Some(node) = self.node_mut(id) {
            node.install = Some(cmd.map(Box::from));
        }
        owned
    }

    /// The module's remove command, if any.
    pub fn remove_command(&mut self, id: ModId) -> Option<Vec<u8>> {
        if let Some(cmd) = &self.node(id).remove {
            return cmd.as_deref().map(<[u8]>::to_vec);
        }
        let cmd = self.config.remove_command(&self.node(id).name);
        let owned = cmd.map(<[u8]>::to_vec);
        if let Some(node) = self.node_mut(id) {
            node.remove = Some(cmd.map(Box::from));
        }
        owned
    }

    /// Whether the module's name is blacklisted (exact comparison, as kmod).
    pub fn is_blacklisted(&self, id: ModId) -> bool {
        self.config.is_blacklisted(&self.node(id).name)
    }

    /// Resolves the names of a softdep or weakdep list, every match of each, in order. A name
    /// that cannot be looked up is skipped with a [`Notice`].
    fn lookup_names(&mut self, names: Names<'_>) -> ResolveResult<Vec<ModId>> {
        let mut out = Vec::new();
        for name in names.iter() {
            match self.lookup(name) {
                Ok(ids) => out.extend(ids),
                Err(ResolveError::Core(_)) => {
                    self.notices.push(Notice::SoftdepLookupFailed {
                        name: name.to_vec(),
                    });
                }
                Err(other) => return Err(other),
            }
        }
        Ok(out)
    }

    /// The module's softdeps `(pre, post)`, from the first matching `softdep` line only (kmod
    /// issue #33), each name resolved through the lookup chain.
    pub fn softdeps(&mut self, id: ModId) -> ResolveResult<(Vec<ModId>, Vec<ModId>)> {
        let config = self.config;
        let Some(softdep) = config.softdeps_for(&self.node(id).name) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let pre = self.lookup_names(softdep.pre)?;
        let post = self.lookup_names(softdep.post)?;
        Ok((pre, post))
    }

    /// The module's weakdeps, from the first matching `weakdep` line only. kmod never loads
    /// them; they are for tools that build initramfs images.
    pub fn weakdeps(&mut self, id: ModId) -> ResolveResult<Vec<ModId>> {
        let config = self.config;
        let Some(weakdep) = config.weakdeps_for(&self.node(id).name) else {
            return Ok(Vec::new());
        };
        self.lookup_names(weakdep.weak)
    }

    /// The modules to load for `top`, in order, with kmod's flags (see the module
    /// documentation). `ignore_command` is `-i`: the requested module comes without its
    /// softdeps and install command.
    pub fn probe_list(
        &mut self,
        top: ModId,
        ignore_command: bool,
    ) -> ResolveResult<Vec<ProbeStep>> {
        for node in self.nodes.iter_mut().flatten() {
            node.visited = false;
            node.required = false;
        }
        let mut list = Vec::new();
        self.probe(top, true, ignore_command, 0, &mut list)?;
        Ok(list
            .into_iter()
            .map(|module| {
                let node = self.node(module);
                ProbeStep {
                    module,
                    required: node.required,
                    ignore_command: node.ignore_command,
                }
            })
            .collect())
    }

    fn probe(
        &mut self,
        id: ModId,
        required: bool,
        ignore_command: bool,
        depth: usize,
        list: &mut Vec<ModId>,
    ) -> ResolveResult<()> {
        if self.node(id).visited {
            return Ok(());
        }
        if depth >= MAX_PROBE_DEPTH {
            return Err(ResolveError::TooDeep {
                module: String::from_utf8_lossy(&self.node(id).name).into_owned(),
            });
        }
        if let Some(node) = self.node_mut(id) {
            node.visited = true;
        }
        let deps = self.dependencies(id)?;
        if required {
            // Marked before any softdep can reach these modules.
            for &m in std::iter::once(&id).chain(deps.iter()) {
                if let Some(node) = self.node_mut(m) {
                    node.required = true;
                }
            }
        }
        for dep in deps {
            self.with_softdeps(dep, depth, list)?;
        }
        if ignore_command {
            list.push(id);
            if let Some(node) = self.node_mut(id) {
                node.ignore_command = true;
            }
            Ok(())
        } else {
            self.with_softdeps(id, depth, list)
        }
    }

    /// Appends `id` with its pre-softdeps probed before it and its post-softdeps after it.
    fn with_softdeps(
        &mut self,
        id: ModId,
        depth: usize,
        list: &mut Vec<ModId>,
    ) -> ResolveResult<()> {
        let (pre, post) = self.softdeps(id)?;
        for &m in &pre {
            self.probe(m, false, false, depth + 1, list)?;
        }
        list.push(id);
        let has_softdeps = !pre.is_empty() || !post.is_empty();
        if let Some(node) = self.node_mut(id) {
            node.ignore_command = has_softdeps;
        }
        for &m in &post {
            self.probe(m, false, false, depth + 1, list)?;
        }
        Ok(())
    }
}

/// How many bytes of `/proc/cmdline` libkmod reads.
pub const KERNEL_CMDLINE_MAX: u64 = 4095;

/// Reads the configuration the way libkmod's `kmod_new` does: the `config_paths` (the
/// default modprobe.d directories when empty), `modules.softdep` and `modules.weakdep` of
/// `module_dir`, and the kernel command line from `SYSROOT/proc/cmdline` (`sysroot` is `/`
/// except in tests). Problems come back as warnings; nothing fails.
pub fn load_config(
    module_dir: &Path,
    config_paths: &[PathBuf],
    sysroot: &Path,
) -> (Config, Vec<crate::config::ConfigWarning>) {
    use std::io::Read;
    let mut sources = if config_paths.is_empty() {
        crate::config::ConfigSources::new()
    } else {
        crate::config::ConfigSources::from_paths(config_paths.iter().cloned())
    };
    sources = sources.with_module_dir(module_dir);
    let cmdline = std::fs::File::open(sysroot.join("proc/cmdline")).and_then(|file| {
        // /proc files report no size; one page holds any real command line in one read.
        let mut out = Vec::with_capacity(4096);
        file.take(KERNEL_CMDLINE_MAX).read_to_end(&mut out)?;
        Ok(out)
    });
    if let Ok(cmdline) = cmdline {
        sources = sources.with_kernel_cmdline(cmdline);
    }
    Config::load(&sources)
}

/// `path` made absolute against the current directory, textually (no `..` folding, no
/// symlinks resolved), as kmod's `path_make_absolute_cwd` does.
pub fn absolute_path(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let mut bytes = std::env::current_dir()
        .map(|d| d.into_os_string().into_vec_bytes())
        .unwrap_or_default();
    bytes.push(b'/');
    bytes.extend_from_slice(path.as_os_str().as_bytes());
    PathBuf::from(OsStr::from_bytes(&bytes))
}

trait IntoVecBytes {
    fn into_vec_bytes(self) -> Vec<u8>;
}

impl IntoVecBytes for std::ffi::OsString {
    fn into_vec_bytes(self) -> Vec<u8> {
        use std::os::unix::ffi::OsStringExt;
        self.into_vec()
    }
}

#[cfg(test)]
mod tests;
