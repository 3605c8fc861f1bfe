//! The layout of a module directory (`/lib/modules/KVER`): where module directories live, and
//! the names of the files in one, for every reader and writer of them.
//!
//! depmod writes the text indexes ([`DEP`], [`ALIAS`], ...) and the binary ones
//! ([`IndexKind`]) from the modules and its inputs ([`ORDER`], [`BUILTIN`],
//! [`BUILTIN_MODINFO`]), which the kernel's build installs. modprobe, modinfo and the library
//! read the binary indexes, [`SOFTDEP`] and [`WEAKDEP`] (as configuration) and
//! [`BUILTIN_MODINFO`]; `kmod static-nodes` reads [`DEVNAME`]. While rkmod's depmod publishes
//! a new set of files it keeps a [`JOURNAL`], which readers look for to read one generation.

/// The default root of module directories.
pub const MODULE_DIRECTORY: &str = "/lib/modules";

/// `modules.dep`: each module's dependencies.
pub const DEP: &str = "modules.dep";
/// `modules.alias`: the modules' aliases.
pub const ALIAS: &str = "modules.alias";
/// `modules.softdep`: the modules' soft dependencies, read as configuration.
pub const SOFTDEP: &str = "modules.softdep";
/// `modules.weakdep`: the modules' weak dependencies, read as configuration.
pub const WEAKDEP: &str = "modules.weakdep";
/// `modules.symbols`: which module exports each symbol.
pub const SYMBOLS: &str = "modules.symbols";
/// `modules.devname`: the device nodes modules provide, for `kmod static-nodes`.
pub const DEVNAME: &str = "modules.devname";
/// `modules.order`: the order of the modules in the kernel's build (depmod's input).
pub const ORDER: &str = "modules.order";
/// `modules.builtin`: the modules built into the kernel (depmod's input).
pub const BUILTIN: &str = "modules.builtin";
/// `modules.builtin.modinfo`: the `.modinfo` of the built-in modules.
pub const BUILTIN_MODINFO: &str = "modules.builtin.modinfo";

/// The journal rkmod's depmod keeps while it replaces the files of a module directory (see
/// `depmod::atomic`); readers that find it wait for one generation.
pub const JOURNAL: &str = ".rkmod-depmod.journal";

/// The binary indexes depmod writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// `modules.dep.bin`: module name to its modules.dep line.
    Dep,
    /// `modules.alias.bin`: alias pattern to module name.
    Alias,
    /// `modules.symbols.bin`: `symbol:NAME` to the exporting module.
    Symbols,
    /// `modules.builtin.bin`: builtin module names.
    Builtin,
    /// `modules.builtin.alias.bin`: alias of a builtin module to its name.
    BuiltinAlias,
}

impl IndexKind {
    /// The index's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            IndexKind::Dep => "modules.dep.bin",
            IndexKind::Alias => "modules.alias.bin",
            IndexKind::Symbols => "modules.symbols.bin",
            IndexKind::Builtin => "modules.builtin.bin",
            IndexKind::BuiltinAlias => "modules.builtin.alias.bin",
        }
    }

    /// Every index, in the order of [`IndexKind::slot`].
    pub(crate) const ALL: [IndexKind; 5] = [
        IndexKind::Dep,
        IndexKind::Alias,
        IndexKind::Symbols,
        IndexKind::Builtin,
        IndexKind::BuiltinAlias,
    ];

    /// The index's place in [`IndexKind::ALL`].
    pub(crate) fn slot(self) -> usize {
        self as usize
    }
}

/// The files depmod writes, in the order kmod writes them.
pub const OUTPUT_FILES: [&str; 11] = [
    DEP,
    "modules.dep.bin",
    ALIAS,
    "modules.alias.bin",
    SOFTDEP,
    WEAKDEP,
    SYMBOLS,
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
    DEVNAME,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every binary index is among depmod's outputs, and `slot` numbers `ALL` in order.
    #[test]
    fn indexes_are_outputs() {
        for (i, kind) in IndexKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.slot(), i);
            assert!(OUTPUT_FILES.contains(&kind.file_name()), "{kind:?}");
        }
    }
}
