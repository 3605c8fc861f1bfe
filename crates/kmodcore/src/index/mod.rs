//! kmod's binary trie index, the `modules.*.bin` files: reading, searching and writing.
//!
//! depmod writes the binary indexes beside their text twins so that modprobe can look a name up
//! without parsing megabytes of text. Each maps string keys to lists of string values:
//!
//! | file | key | values |
//! |---|---|---|
//! | `modules.dep.bin` | module name | its `modules.dep` line |
//! | `modules.alias.bin` | alias *pattern* | module name |
//! | `modules.symbols.bin` | `symbol:NAME` | module name |
//! | `modules.builtin.bin` | builtin module name | `""` |
//! | `modules.builtin.alias.bin` | alias of a builtin module | module name |
//!
//! [`Index`] reads them (from memory, or from an [`IndexFile`] read piece by piece as a lookup
//! needs it; every offset checked) and
//! [`IndexBuilder`] writes them, byte for byte as the newest kmod's depmod does.
//!
//! # Format
//!
//! All integers are 32-bit **big-endian**. The file starts with a 12-byte header:
//!
//! ```text
//! offset 0   u32 magic    0xB007F457 ("BOOTFAST")
//! offset 4   u32 version  0x00020001: major 2 in the high half, minor 1 in the low half
//! offset 8   u32 root     node word of the root node
//! ```
//!
//! Readers accept any minor version with major 2, as kmod does. A *node word* packs a file
//! offset and the list of fields present at that offset:
//!
//! ```text
//!  31   30   29   28  27                                   0
//! +----+----+----+----+--------------------------------------+
//! | P  | V  | C  | -- |        node offset (28 bits)         |
//! +----+----+----+----+--------------------------------------+
//!  P = 0x80000000  the node has a prefix
//!  V = 0x40000000  the node has values
//!  C = 0x20000000  the node has children
//! ```
//!
//! An offset of 0 means "no node". A node is a compressed (Patricia) trie node; its fields
//! follow each other with no padding, and absent fields take no space at all:
//!
//! ```text
//! [P] prefix     bytes, NUL-terminated     more key bytes consumed by this node
//! [C] first      u8                        lowest child character (< 128)
//!     last       u8                        highest child character (< 128, >= first)
//!     children   u32 x (last - first + 1)  node words, indexed by character - first; 0 = none
//! [V] count      u32                       number of values
//!     values     count x { u32 priority, bytes value NUL-terminated }
//! ```
//!
//! A key is spelled by the path from the root: at each node its prefix, then (to go down) the
//! character of the child chosen. The root never has a prefix. Values are kept sorted by
//! ascending priority; kmod's depmod inserts a new value before the first one of equal or
//! higher priority, so equal priorities come out newest first. The priority is the module's
//! position in depmod's module order (0 in the builtin indexes). Keys and values are 7-bit
//! ASCII without NUL; depmod refuses anything else.
//!
//! Example: the keys `ask`, `ate`, `on`, `once`, `one` give
//!
//! ```text
//! (root) --a--> "" --s--> "k" *
//!   |              `-t--> "e" *
//!   `-----o--> "n" * --c--> "e" *
//!                    `-e--> ""  *        (* = node with values)
//! ```
//!
//! Layout: kmod 34 and later write the nodes in **pre-order**, each node followed by its
//! children's subtrees in character order, so the root sits at offset 12. kmod 30 (Debian 12)
//! wrote the same nodes in post-order, children first and the root last. Readers follow the node
//! words and accept both; [`IndexBuilder`] writes pre-order.
//!
//! # Searching
//!
//! - [`Index::get_first`] is kmod's `index_search` (the first value stored at exactly a key),
//!   used for `modules.dep.bin` and `modules.builtin.bin`.
//! - [`Index::search_wildcard`] is kmod's `index_searchwild`: stored keys are shell patterns
//!   (matched with [`crate::fnmatch`]), and the result order is kmod's, which depends on how it
//!   walks the trie. See that method.
//! - [`Index::iter`] and [`Index::dump`] list everything in kmod's `index_dump` order
//!   (`modprobe -c`, `modprobe --show-config`).
//!
//! # Hostile files
//!
//! Every offset and length read from the file is checked against its size, and reading errors
//! are reported as [`IndexError`] rather than skipped. Traversals are iterative, keys are capped
//! at [`MAX_KEY_LEN`] bytes, and a traversal that visits more nodes than the file could hold as
//! a tree (a node shared by two parents, or a loop) stops with [`IndexError::Loop`].

mod glob;
mod reader;
mod source;
mod writer;

pub use reader::{Index, Iter};
pub use source::{IndexFile, Source, MAX_PIECES, SMALL_FILE};
pub use writer::IndexBuilder;

/// The magic number that starts every index file ("BOOTFAST").
pub const MAGIC: u32 = 0xB007_F457;

/// The format version written by depmod: major 2, minor 1.
pub const VERSION: u32 = 0x0002_0001;

/// The major version readers require (the high 16 bits of the version word).
pub const VERSION_MAJOR: u32 = 2;

/// The size of the header: magic, version and the root node word.
pub const HEADER_LEN: usize = 12;

/// Node word flag: the node has a prefix.
const FLAG_PREFIX: u32 = 0x8000_0000;
/// Node word flag: the node has values.
const FLAG_VALUES: u32 = 0x4000_0000;
/// Node word flag: the node has children.
const FLAG_CHILDREN: u32 = 0x2000_0000;
/// The offset part of a node word.
const OFFSET_MASK: u32 = 0x0FFF_FFFF;

/// Child characters are 7-bit: `first` and `last` must be below this.
const CHILD_LIMIT: u8 = 128;

/// The longest key (in bytes) this module reads or writes.
///
/// kmod has no explicit limit, but its keys are bounded in practice: module names (56 bytes),
/// aliases (normalised into a `PATH_MAX` buffer, 4096 bytes) and `symbol:` plus a kernel symbol
/// name (`KSYM_NAME_LEN`, 512 bytes). The bound keeps a corrupt file from growing a key
/// without end; it also bounds the depth of every traversal, since each level adds at least one
/// byte.
pub const MAX_KEY_LEN: usize = 65536;

/// A value stored in an index, with its priority.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexValue {
    /// The value's priority: the module's position in depmod's order (0 in builtin indexes).
    /// Lower sorts first.
    pub priority: u32,
    /// The value, as stored (no NUL).
    pub value: Vec<u8>,
}

/// One (key, value) pair of an index, as [`Index::iter`] lists them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    /// The full key.
    pub key: Vec<u8>,
    /// The value's priority.
    pub priority: u32,
    /// The value.
    pub value: Vec<u8>,
}

/// What is wrong with an index file, or with what was given to [`IndexBuilder`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The file does not start with [`MAGIC`].
    #[error("bad magic {found:#010x} (expected {MAGIC:#010x})")]
    BadMagic {
        /// The first word of the file.
        found: u32,
    },
    /// The file's major version is not [`VERSION_MAJOR`].
    #[error("unsupported version {found:#010x} (major {VERSION_MAJOR} expected)")]
    BadVersion {
        /// The version word of the file.
        found: u32,
    },
    /// A field runs past the end of the file.
    #[error("truncated at offset {offset}")]
    Truncated {
        /// Where the field that does not fit starts.
        offset: usize,
    },
    /// A node word points into the header or past the end of the file.
    #[error("node offset {target} out of range (in the node word at {at})")]
    OffsetOutOfRange {
        /// The offset the node word names.
        target: u32,
        /// Where the node word is (8 for the root word).
        at: usize,
    },
    /// A node's child character range is empty or not 7-bit.
    #[error("bad child range {first}..={last} in the node at {offset}")]
    BadChildRange {
        /// The node's offset.
        offset: usize,
        /// Its first child character.
        first: u8,
        /// Its last child character.
        last: u8,
    },
    /// A node names itself as its own child.
    #[error("the node at {offset} is its own child")]
    SelfReference {
        /// The node's offset.
        offset: usize,
    },
    /// A traversal visited more nodes than the file can hold as a tree: some node is shared by
    /// two parents, or the nodes form a loop.
    #[error("nodes form a loop or are shared (at the node at {offset})")]
    Loop {
        /// The node being visited when the limit was hit.
        offset: usize,
    },
    /// A key grew longer than [`MAX_KEY_LEN`] while walking the trie.
    #[error("key longer than {MAX_KEY_LEN} bytes at the node at {offset}")]
    TooDeep {
        /// The node being visited.
        offset: usize,
    },
    /// A key given to the builder is longer than [`MAX_KEY_LEN`].
    #[error("key of {len} bytes is longer than {MAX_KEY_LEN}")]
    KeyTooLong {
        /// The key's length.
        len: usize,
    },
    /// A key or value given to the builder has a byte outside 7-bit ASCII; kmod's depmod
    /// refuses these ("only 7-bit ASCII is supported").
    #[error("bad character {byte:#04x}: only 7-bit ASCII is supported")]
    NonAscii {
        /// The offending byte.
        byte: u8,
    },
    /// A key or value given to the builder contains a NUL byte, which the format cannot store.
    #[error("NUL byte in a key or value")]
    NulByte,
    /// Reading the index file failed (an I/O error, not a format error).
    #[error("read error at offset {offset}: {}", std::io::Error::from_raw_os_error(*errno))]
    Read {
        /// Where the read started.
        offset: usize,
        /// The system's error number (0 when there was none).
        errno: i32,
    },
    /// The trie is too large for the format's 28-bit offsets (256 MiB).
    #[error("index too large for 28-bit offsets")]
    TooLarge,
}

#[cfg(test)]
mod tests;
