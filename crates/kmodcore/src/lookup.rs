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
    /// The module names of configuration aliases whose pattern matches `name`, in order.
    fn alias_targets(&self, name: &[u8]) -> Vec<Vec<u8>>;
    /// Whether an `install` or `remove` command is configured for exactly `name`.
    fn has_command(&self, name: &[u8]) -> bool;
}

/// An empty configuration: no aliases, no commands.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoConfig;

impl LookupConfig for NoConfig {
    fn alias_targets(&self, _name: &[u8]) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn has_command(&self, _name: &[u8]) -> bool {
        false
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

fn found(names: Vec<Vec<u8>>, source: Source) -> Vec<Found> {
    names
        .into_iter()
        .map(|name| Found { name, source })
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
    let targets = config.alias_targets(&name);
    if !targets.is_empty() {
        return Ok(found(targets, Source::ConfigAlias));
    }
    if !name.contains(&b':') && dir.dep_entry(&name)?.is_some() {
        return Ok(found(vec![name], Source::ModDep));
    }
    if name.starts_with(b"symbol:") {
        if let Some(names) = dir.wildcard_lookup(IndexKind::Symbols, &name)? {
            if !names.is_empty() {
                return Ok(found(names, Source::Symbols));
            }
        }
    }
    if config.has_command(&name) {
        return Ok(found(vec![name], Source::Command));
    }
    if let Some(names) = dir.wildcard_lookup(IndexKind::Alias, &name)? {
        if !names.is_empty() {
            return Ok(found(names, Source::Alias));
        }
    }
    if dir.is_builtin(&name)? {
        return Ok(found(vec![name], Source::Builtin));
    }
    if let Some(names) = dir.wildcard_lookup(IndexKind::BuiltinAlias, &name)? {
        return Ok(found(names, Source::BuiltinAlias));
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
        }));
    }
    if dir.is_builtin(&name)? {
        return Ok(Some(Found {
            name,
            source: Source::Builtin,
        }));
    }
    Ok(dir
        .wildcard_lookup(IndexKind::BuiltinAlias, &name)?
        .and_then(|names| names.into_iter().next())
        .map(|name| Found {
            name,
            source: Source::BuiltinAlias,
        }))
}
