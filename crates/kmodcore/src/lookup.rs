//! From a requested string to the modules it names, in kmod's order of sources.
//!
//! A request is normalised (`-` becomes `_` outside `[...]`), then the sources are asked in
//! turn, and the first that yields anything wins:
//!
//! 1. configuration `alias` lines (wildcard match, every match);
//! 2. modules.dep.bin, by exact name (skipped when the request contains `:`);
//! 3. modules.symbols.bin, for `symbol:` requests only;
//! 4. configuration `install`/`remove` lines naming exactly this module;
//! 5. modules.alias.bin (wildcard match, every match);
//! 6. modules.builtin.bin, by exact name;
//! 7. modules.builtin.alias.bin (wildcard match).
//!
//! Names are only ever looked up: nothing here builds a path from a request.

use crate::error::{Error, Result};
use crate::moddir::{IndexKind, ModuleDir};
use crate::modname;

/// The longest request kmod handles (`PATH_MAX - 1`). kmod silently truncates longer ones;
/// rkmod rejects them instead.
pub const MAX_REQUEST_LEN: usize = 4095;

/// What a lookup needs from the modprobe configuration.
pub trait LookupConfig {
    /// The configuration aliases whose pattern matches `name`, in order, each as
    /// `(pattern, module)`. libkmod remembers the pattern as the alias the module was reached
    /// through, and `options` given for that pattern apply to the module.
    fn alias_matches(&self, name: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)>;
    /// The first `install` command written for exactly `name`, or failing that the first
    /// `remove` command written for exactly `name`.
    fn exact_command(&self, name: &[u8]) -> Option<ExactCommand>;
}

/// A command that a configuration gives for exactly one name (see
/// [`LookupConfig::exact_command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExactCommand {
    /// An `install` command.
    Install(Vec<u8>),
    /// A `remove` command (there is no `install` command for the name).
    Remove(Vec<u8>),
}

/// An empty configuration: no aliases, no commands.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoConfig;

impl LookupConfig for NoConfig {
    fn alias_matches(&self, _name: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        Vec::new()
    }
    fn exact_command(&self, _name: &[u8]) -> Option<ExactCommand> {
        None
    }
}

impl LookupConfig for crate::config::Config {
    fn alias_matches(&self, name: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.alias_entries_matching(name)
            .into_iter()
            .map(|alias| (alias.pattern.to_vec(), alias.module.to_vec()))
            .collect()
    }
    fn exact_command(&self, name: &[u8]) -> Option<ExactCommand> {
        if let Some(command) = self.install_command_exact(name) {
            return Some(ExactCommand::Install(command.to_vec()));
        }
        self.remove_command_exact(name)
            .map(|command| ExactCommand::Remove(command.to_vec()))
    }
}

/// Which source a lookup was answered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A configuration `alias` line.
    ConfigAlias,
    /// modules.dep.bin.
    ModDep,
    /// modules.symbols.bin.
    Symbols,
    /// A configuration `install` or `remove` command.
    Command,
    /// modules.alias.bin.
    Alias,
    /// modules.builtin.bin.
    Builtin,
    /// modules.builtin.alias.bin.
    BuiltinAlias,
}

/// One module a request resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The module's name.
    pub name: Vec<u8>,
    /// The source that named it.
    pub source: Source,
    /// The alias the module was reached through, as libkmod records it: the pattern of a
    /// configuration alias, or the (normalised) request for the index aliases, `symbol:` and
    /// builtin aliases. `None` when the request named the module itself.
    ///
    /// It matters twice: `options` given for the alias apply to the module, and a blacklisted
    /// module reached through an alias is not loaded.
    pub alias: Option<Vec<u8>>,
    /// For [`Source::Command`]: the command that made the name exist.
    pub command: Option<ExactCommand>,
}

impl Found {
    /// Whether the source says the module is builtin.
    pub fn is_builtin(&self) -> bool {
        matches!(self.source, Source::Builtin | Source::BuiltinAlias)
    }
}

/// Normalises a request as kmod does for lookups; an invalid one (unbalanced brackets, too
/// long) gives `None`.
pub fn normalize_request(request: &[u8]) -> Option<Vec<u8>> {
    if request.len() > MAX_REQUEST_LEN || request.contains(&0) {
        return None;
    }
    modname::normalize_alias(request)
}

fn found(names: Vec<Vec<u8>>, source: Source, alias: Option<&[u8]>) -> Vec<Found> {
    names
        .into_iter()
        .map(|name| Found {
            name,
            source,
            alias: alias.map(<[u8]>::to_vec),
            command: None,
        })
        .collect()
}

/// Resolves `request` through every source in kmod's order (see the module documentation).
///
/// An empty result means not found. An invalid request is `Error::NotFound`.
pub fn lookup(dir: &ModuleDir, config: &dyn LookupConfig, request: &[u8]) -> Result<Vec<Found>> {
    let Some(name) = normalize_request(request) else {
        return Err(Error::NotFound {
            name: String::from_utf8_lossy(request).into_owned(),
        });
    };
    let matches = config.alias_matches(&name);
    if !matches.is_empty() {
        return Ok(matches
            .into_iter()
            .map(|(pattern, module)| Found {
                name: module,
                source: Source::ConfigAlias,
                alias: Some(pattern),
                command: None,
            })
            .collect());
    }
    if !name.contains(&b':') && dir.dep_entry(&name)?.is_some() {
        return Ok(found(vec![name], Source::ModDep, None));
    }
    if name.starts_with(b"symbol:") {
        if let Some(names) = dir.wildcard_lookup(IndexKind::Symbols, &name)? {
            if !names.is_empty() {
                return Ok(found(names, Source::Symbols, Some(&name)));
            }
        }
    }
    if let Some(command) = config.exact_command(&name) {
        return Ok(vec![Found {
            name,
            source: Source::Command,
            alias: None,
            command: Some(command),
        }]);
    }
    if let Some(names) = dir.wildcard_lookup(IndexKind::Alias, &name)? {
        if !names.is_empty() {
            return Ok(found(names, Source::Alias, Some(&name)));
        }
    }
    if dir.is_builtin(&name)? {
        return Ok(found(vec![name], Source::Builtin, None));
    }
    if let Some(names) = dir.wildcard_lookup(IndexKind::BuiltinAlias, &name)? {
        return Ok(found(names, Source::BuiltinAlias, Some(&name)));
    }
    Ok(Vec::new())
}

/// Resolves a module *name* only (modinfo `-m`): modules.dep.bin, then modules.builtin.bin,
/// then modules.builtin.alias.bin. The name is normalised up to its first `.`, as kmod does.
pub fn lookup_name(dir: &ModuleDir, name: &[u8]) -> Result<Option<Found>> {
    let stem = match name.iter().position(|&b| b == b'.') {
        Some(dot) => name.get(..dot).unwrap_or_default(),
        None => name,
    };
    if stem.len() > MAX_REQUEST_LEN {
        return Ok(None);
    }
    let name = modname::normalize_name(stem);
    if !name.contains(&b':') && dir.dep_entry(&name)?.is_some() {
        return Ok(Some(Found {
            name,
            source: Source::ModDep,
            alias: None,
            command: None,
        }));
    }
    if dir.is_builtin(&name)? {
        return Ok(Some(Found {
            name,
            source: Source::Builtin,
            alias: None,
            command: None,
        }));
    }
    Ok(dir
        .wildcard_lookup(IndexKind::BuiltinAlias, &name)?
        .and_then(|names| names.into_iter().next())
        .map(|found| Found {
            name: found,
            source: Source::BuiltinAlias,
            alias: Some(name.clone()),
            command: None,
        }))
}
