//! `modprobe -c --json`: the configuration and the alias and symbol indexes as one JSON
//! document (an rkmod extension; the field table is JSON OUTPUT in modprobe(8)).
//!
//! The document holds what the text form prints, in the same order: the modprobe.d
//! directives (each kind in the order the text lists it), then the entries of
//! `modules.alias.bin` and `modules.symbols.bin` in kmod's `index_dump` order. Names,
//! patterns and commands are bytes; one that is not UTF-8 is shown with U+FFFD.

use kmodcore::config::{Config, Names};
use kmodcore::index::IndexError;
use kmodcore::moddir::{IndexKind, ModuleDir};
use serde::Serialize;

use crate::json::text;

/// The whole `modprobe -c --json` document.
#[derive(Serialize)]
pub(super) struct ConfigDocument {
    /// `blacklist NAME`, in file order.
    blacklist: Vec<String>,
    /// `install MODULE COMMAND...`.
    install: Vec<Command>,
    /// `remove MODULE COMMAND...`.
    remove: Vec<Command>,
    /// `alias PATTERN MODULE`.
    aliases: Vec<AliasEntry>,
    /// `options MODULE OPTIONS...`.
    options: Vec<OptionsEntry>,
    /// `softdep MODULE pre: ... post: ...`.
    softdeps: Vec<SoftdepEntry>,
    /// `weakdep MODULE NAMES...`.
    weakdeps: Vec<WeakdepEntry>,
    /// The dumped indexes.
    indexes: Indexes,
}

/// An install or remove command.
#[derive(Serialize)]
struct Command {
    /// The module (pattern) it is for.
    module: String,
    /// The shell command.
    command: String,
}

/// A configured alias.
#[derive(Serialize)]
struct AliasEntry {
    /// The alias pattern.
    alias: String,
    /// The module it names.
    module: String,
}

/// An `options` line.
#[derive(Serialize)]
struct OptionsEntry {
    /// The module.
    module: String,
    /// Its options, as written.
    options: String,
}

/// A `softdep` line.
#[derive(Serialize)]
struct SoftdepEntry {
    /// The module (pattern).
    module: String,
    /// Modules loaded before it.
    pre: Vec<String>,
    /// Modules loaded after it.
    post: Vec<String>,
}

/// A `weakdep` line.
#[derive(Serialize)]
struct WeakdepEntry {
    /// The module (pattern).
    module: String,
    /// Its weak dependencies.
    weakdeps: Vec<String>,
}

/// The index dumps the text form appends after the configuration.
#[derive(Serialize)]
struct Indexes {
    /// `modules.alias.bin`: modalias patterns and their modules (empty when there is none).
    aliases: Vec<AliasEntry>,
    /// `modules.symbols.bin`: `symbol:NAME` keys and the modules exporting them.
    symbols: Vec<AliasEntry>,
}

fn names(names: &Names<'_>) -> Vec<String> {
    names.iter().map(text).collect()
}

/// What went wrong reading an index: modprobe's message, as the text form words it.
#[derive(Debug)]
pub(super) struct IndexFailure(pub String);

/// The entries of one index (none when the directory has no such index).
fn index_entries(dir: &ModuleDir, kind: IndexKind) -> Result<Vec<AliasEntry>, IndexFailure> {
    let index = match dir.index(kind) {
        Ok(Some(index)) => index,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(IndexFailure(e.to_string())),
    };
    let corrupt = |e: IndexError| IndexFailure(format!("{}: {e}", dir.index_path(kind).display()));
    index
        .iter()
        .map(|entry| {
            entry.map_err(corrupt).map(|entry| AliasEntry {
                alias: text(&entry.key),
                module: text(&entry.value),
            })
        })
        .collect()
}

/// The `modprobe -c --json` document for `config` and the indexes of `dir`.
pub(super) fn config_document(
    config: &Config,
    dir: &ModuleDir,
) -> Result<ConfigDocument, IndexFailure> {
    let command = |c: kmodcore::config::ModCommand<'_>| Command {
        module: text(c.module),
        command: text(c.command),
    };
    Ok(ConfigDocument {
        blacklist: config.blacklisted().map(text).collect(),
        install: config.install_commands().map(command).collect(),
        remove: config.remove_commands().map(command).collect(),
        aliases: config
            .aliases()
            .map(|a| AliasEntry {
                alias: text(a.pattern),
                module: text(a.module),
            })
            .collect(),
        options: config
            .options()
            .map(|o| OptionsEntry {
                module: text(o.module),
                options: text(o.options),
            })
            .collect(),
        softdeps: config
            .softdeps()
            .map(|s| SoftdepEntry {
                module: text(s.module),
                pre: names(&s.pre),
                post: names(&s.post),
            })
            .collect(),
        weakdeps: config
            .weakdeps()
            .map(|w| WeakdepEntry {
                module: text(w.module),
                weakdeps: names(&w.weak),
            })
            .collect(),
        indexes: Indexes {
            aliases: index_entries(dir, IndexKind::Alias)?,
            symbols: index_entries(dir, IndexKind::Symbols)?,
        },
    })
}
