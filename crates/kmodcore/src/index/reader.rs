//! Reading an index: node decoding with checked offsets, and kmod's three searches.
//!
//! Nodes are decoded on demand straight from the index's bytes, which a [`Source`] hands out as
//! the walk reaches them; nothing is copied until a value is returned. Every traversal is a
//! loop with an explicit stack, so a deep or corrupt trie cannot overflow the call stack.

use std::fmt;
use std::io::Write;
use std::path::Path;

use super::glob::{KeyMasks, Reach};
use super::source::{IndexFile, Source};
use super::{
    IndexEntry, IndexError, IndexValue, CHILD_LIMIT, FLAG_CHILDREN, FLAG_PREFIX, FLAG_VALUES,
    HEADER_LEN, MAGIC, MAX_KEY_LEN, OFFSET_MASK, VERSION_MAJOR,
};
use crate::error::{Error, Result};
use crate::fnmatch::{fnmatch, is_wildcard_byte};

/// The smallest a value can be on disk: its priority and the NUL of an empty string.
const MIN_VALUE_LEN: usize = 5;

/// How many bytes of a node, or of a value, are asked for first: most are shorter. A longer
/// one is asked for again, twice as long each time.
const FIRST_ASK: usize = 256;

/// An open binary index over its bytes: an [`IndexFile`], or any byte buffer.
pub struct Index<B> {
    bytes: B,
    root: u32,
}

impl<B> fmt::Debug for Index<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("root", &format_args!("{:#010x}", self.root))
            .finish_non_exhaustive()
    }
}

impl Index<IndexFile> {
    /// Opens the index file at `path`, checking its header; the rest is read as lookups need
    /// it (see [`IndexFile`]).
    ///
    /// An I/O failure (a missing file included) is [`Error::Io`]; a path that is not a regular
    /// file is [`Error::NotRegularFile`]; a bad header is [`Error::Index`].
    pub fn open(path: &Path) -> Result<Index<IndexFile>> {
        // Opened without blocking and checked to be a regular file: a FIFO in its place must
        // not hang the reader.
        let (file, len) = crate::fs::open_regular_file(path)?;
        Index::from_bytes(IndexFile::new(file, len)).map_err(|source| Error::index(path, source))
    }
}

impl<B: Source> Index<B> {
    /// Wraps the bytes of an index, checking its header: the magic and the major version. The
    /// root node is read by the first look-up, as kmod's `index_mm_open` leaves it: an index
    /// written by an older depmod keeps its root at the end of the file, and a client that never
    /// looks anything up in it (udev, in modules.symbols.bin) then maps no page of it but the
    /// first.
    pub fn from_bytes(bytes: B) -> Result<Self, IndexError> {
        let data = bytes.bytes_from(0, HEADER_LEN)?;
        let magic = read_u32(data, 0)?;
        if magic != MAGIC {
            return Err(IndexError::BadMagic { found: magic });
        }
        let version = read_u32(data, 4)?;
        if version >> 16 != VERSION_MAJOR {
            return Err(IndexError::BadVersion { found: version });
        }
        let root = read_u32(data, 8)?;
        let target = root & OFFSET_MASK;
        // Where the root is can be checked without reading it.
        if target != 0 && (target < HEADER_LEN as u32 || u64::from(target) > bytes.size() as u64) {
            return Err(IndexError::OffsetOutOfRange { target, at: 8 });
        }
        Ok(Index { bytes, root })
    }

    /// Where the index's bytes come from.
    pub fn source(&self) -> &B {
        &self.bytes
    }

    fn view(&self) -> View<'_> {
        View {
            src: &self.bytes,
            size: self.bytes.size(),
            root: self.root,
        }
    }

    /// All values stored at exactly `key`, in stored order (ascending priority).
    ///
    /// Like kmod, the key ends at its first NUL byte, and a byte outside 7-bit ASCII never
    /// matches.
    pub fn get(&self, key: &[u8]) -> Result<Vec<IndexValue>, IndexError> {
        match self.view().find(until_nul(key))? {
            Some(node) => node.values().map(|v| v.map(to_value)).collect(),
            None => Ok(Vec::new()),
        }
    }

    /// The first value stored at exactly `key`: what kmod's `index_search` returns.
    pub fn get_first(&self, key: &[u8]) -> Result<Option<IndexValue>, IndexError> {
        match self.view().find(until_nul(key))? {
            Some(node) => node.values().next().transpose().map(|v| v.map(to_value)),
            None => Ok(None),
        }
    }

    /// The values of every stored key that, read as a shell pattern, matches `key`: kmod's
    /// `index_searchwild`, used for `modules.alias.bin` and `modules.builtin.alias.bin`.
    ///
    /// The walk is kmod's. It follows `key` down the trie byte by byte. At each node on the
    /// way it first searches, in this order, the subtrees under the children `*`, `?` and `[`:
    /// each such subtree is walked children first (in character order) then the node itself,
    /// and a node with values contributes them if its key, from the wildcard on, matches the
    /// rest of `key` under [`fnmatch`]. A node whose own prefix holds one of those three
    /// characters is handled the same way from that character on. When `key` is used up, the
    /// node reached contributes its values as an exact match.
    ///
    /// Each contribution adds its values one by one, in stored order, into a list kept sorted
    /// by ascending priority, each value going before the first one of equal or higher
    /// priority. So the result is sorted by priority, and among equal priorities the value
    /// added last comes first. Duplicates are kept.
    ///
    /// Like kmod, `key` ends at its first NUL byte; its non-ASCII bytes can only be matched by
    /// a wildcard.
    pub fn search_wildcard(&self, key: &[u8]) -> Result<Vec<IndexValue>, IndexError> {
        self.search_wildcard_with(key, true)
    }

    /// [`Index::search_wildcard`] without skipping subtrees (every pattern matched with
    /// `fnmatch`, as kmod does): the reference the pruning walk is tested against.
    #[cfg(test)]
    pub(crate) fn search_wildcard_unpruned(
        &self,
        key: &[u8],
    ) -> Result<Vec<IndexValue>, IndexError> {
        self.search_wildcard_with(key, false)
    }

    fn search_wildcard_with(&self, key: &[u8], prune: bool) -> Result<Vec<IndexValue>, IndexError> {
        let view = self.view();
        let key = until_nul(key);
        let mut found = Found::default();
        let Some(mut node) = view.root()? else {
            return Ok(Vec::new());
        };
        let masks = if prune { KeyMasks::new(key) } else { None };
        let masks = masks.as_ref();
        let mut rest = key;
        loop {
            for (j, &pc) in node.prefix.iter().enumerate() {
                if is_wildcard_byte(pc) {
                    let subkey = rest.get(j..).unwrap_or_default();
                    view.match_subtree(node, j, &[], subkey, masks, &mut found)?;
                    return Ok(found.into_sorted());
                }
                if !byte_matches(pc, rest.get(j)) {
                    return Ok(found.into_sorted());
                }
            }
            rest = rest.get(node.prefix.len()..).unwrap_or_default();
            for wildcard in [b'*', b'?', b'['] {
                if let Some(child) = view.child(&node, wildcard)? {
                    view.match_subtree(child, 0, &[wildcard], rest, masks, &mut found)?;
                }
            }
            let Some((&ch, after)) = rest.split_first() else {
                found.add_all(&node)?;
                return Ok(found.into_sorted());
            };
            match view.child(&node, ch)? {
                Some(child) => node = child,
                None => return Ok(found.into_sorted()),
            }
            rest = after;
        }
    }

    /// Every (key, value) pair, in kmod's `index_dump` order: a node's values (in stored order)
    /// before its children's, children in character order. Keys come out in byte order.
    pub fn iter(&self) -> Iter<'_> {
        let view = self.view();
        // A walk over everything reads everything: at once, not piece by piece.
        let root = self.bytes.load_all().and_then(|()| view.root());
        let (stack, error) = match root {
            Ok(Some(root)) => (
                vec![Frame {
                    node: root,
                    next_child: u16::from(root.first),
                    restore: 0,
                    values_done: false,
                }],
                None,
            ),
            Ok(None) => (Vec::new(), None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let key = stack
            .first()
            .map(|frame| frame.node.prefix.to_vec())
            .unwrap_or_default();
        let error = match stack.first() {
            Some(frame) if key.len() > MAX_KEY_LEN => Some(IndexError::TooDeep {
                offset: frame.node.offset,
            }),
            _ => error,
        };
        Iter {
            view,
            stack,
            key,
            pending: None,
            error,
            visits: 1,
        }
    }

    /// Writes every (key, value) pair as `KEY VALUE` lines in [`Index::iter`] order, each line
    /// prefixed with `alias ` if `alias_prefix` is set: kmod's `index_dump`, which
    /// `modprobe -c` prints.
    ///
    /// A corrupt index is reported as an [`std::io::ErrorKind::InvalidData`] error wrapping the
    /// [`IndexError`], after the lines before the corruption were written.
    pub fn dump(&self, out: &mut dyn Write, alias_prefix: bool) -> std::io::Result<()> {
        for entry in self.iter() {
            let entry =
                entry.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            if alias_prefix {
                out.write_all(b"alias ")?;
            }
            out.write_all(&entry.key)?;
            out.write_all(b" ")?;
            out.write_all(&entry.value)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// An iterator over an index's (key, value) pairs; see [`Index::iter`].
///
/// After an error it returns `None`.
pub struct Iter<'a> {
    view: View<'a>,
    stack: Vec<Frame<'a>>,
    key: Vec<u8>,
    pending: Option<Values<'a>>,
    error: Option<IndexError>,
    visits: usize,
}

impl fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("depth", &self.stack.len())
            .finish_non_exhaustive()
    }
}

/// A node being walked: which child comes next, and how long the key was before it.
struct Frame<'a> {
    node: Node<'a>,
    next_child: u16,
    restore: usize,
    values_done: bool,
}

impl Iterator for Iter<'_> {
    type Item = Result<IndexEntry, IndexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            self.stack.clear();
            self.pending = None;
            return Some(Err(e));
        }
        match self.advance() {
            Ok(entry) => entry.map(Ok),
            Err(e) => {
                self.stack.clear();
                self.pending = None;
                Some(Err(e))
            }
        }
    }
}

impl Iter<'_> {
    fn advance(&mut self) -> Result<Option<IndexEntry>, IndexError> {
        loop {
            if let Some(values) = &mut self.pending {
                match values.next() {
                    Some(value) => {
                        let (priority, value) = value?;
                        return Ok(Some(IndexEntry {
                            key: self.key.clone(),
                            priority,
                            value: value.to_vec(),
                        }));
                    }
                    None => self.pending = None,
                }
            }
            let Some(frame) = self.stack.last_mut() else {
                return Ok(None);
            };
            if !frame.values_done {
                frame.values_done = true;
                self.pending = Some(frame.node.values());
                continue;
            }
            if frame.next_child <= u16::from(frame.node.last) {
                let Ok(ch) = u8::try_from(frame.next_child) else {
                    return Ok(None);
                };
                frame.next_child += 1;
                let Some(child) = self.view.child(&frame.node, ch)? else {
                    continue;
                };
                self.visits += 1;
                if self.visits > self.view.node_budget() {
                    return Err(IndexError::Loop {
                        offset: child.offset,
                    });
                }
                let restore = self.key.len();
                self.key.push(ch);
                self.key.extend_from_slice(child.prefix);
                if self.key.len() > MAX_KEY_LEN {
                    return Err(IndexError::TooDeep {
                        offset: child.offset,
                    });
                }
                self.stack.push(Frame {
                    node: child,
                    next_child: u16::from(child.first),
                    restore,
                    values_done: false,
                });
            } else {
                let restore = frame.restore;
                self.stack.pop();
                self.key.truncate(restore);
            }
        }
    }
}

/// The bytes of an index, its size and its root word: where all decoding happens.
#[derive(Clone, Copy)]
struct View<'a> {
    src: &'a dyn Source,
    size: usize,
    root: u32,
}

/// A decoded node header. Values are decoded lazily by [`Node::values`].
#[derive(Clone, Copy)]
struct Node<'a> {
    /// Where the node starts.
    offset: usize,
    /// Its prefix (empty when absent).
    prefix: &'a [u8],
    /// Its child range; `first > last` (128..=0) when it has no children.
    first: u8,
    last: u8,
    /// The child words, 4 bytes per character from `first` to `last`.
    children: &'a [u8],
    /// Where the child words start (for error offsets).
    children_at: usize,
    /// Its number of values, and where they start.
    value_count: u32,
    values_at: usize,
    view: View<'a>,
}

impl<'a> View<'a> {
    /// How many nodes a tree in this file can have at most: the root plus one per child word.
    fn node_budget(&self) -> usize {
        self.size.saturating_sub(HEADER_LEN) / 4 + 1
    }

    /// The root node, or `None` when the root word is 0 (an index with nothing in it).
    fn root(&self) -> Result<Option<Node<'a>>, IndexError> {
        self.node(self.root, 8, None)
    }

    /// Decodes the node a node word names. `at` is where the word is; `parent` is the offset
    /// of the node that holds it.
    fn node(
        &self,
        word: u32,
        at: usize,
        parent: Option<usize>,
    ) -> Result<Option<Node<'a>>, IndexError> {
        let target = word & OFFSET_MASK;
        if target == 0 {
            return Ok(None);
        }
        let offset =
            usize::try_from(target).map_err(|_| IndexError::OffsetOutOfRange { target, at })?;
        if offset < HEADER_LEN || offset > self.size {
            return Err(IndexError::OffsetOutOfRange { target, at });
        }
        if parent == Some(offset) {
            return Err(IndexError::SelfReference { offset });
        }
        // The node's fixed part must be in one slice.
        self.decode_at(offset, FIRST_ASK, |data| self.decode(word, offset, data))
            .map(Some)
    }

    /// Runs `decode` on the bytes from `pos` on, `first` of them at least, asking the source
    /// for more (twice as many each time) while `decode` finds them truncated and the slice
    /// does not reach the end of the index; once it does, a truncation is the index's.
    fn decode_at<T>(
        &self,
        pos: usize,
        first: usize,
        decode: impl Fn(&'a [u8]) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let mut want = first;
        loop {
            let data = self.src.bytes_from(pos, want)?;
            match decode(data) {
                Err(IndexError::Truncated { .. }) if data.len() < self.size.saturating_sub(pos) => {
                    want = data.len().saturating_mul(2).max(FIRST_ASK);
                }
                decoded => return decoded,
            }
        }
    }

    /// Decodes the node at `offset` that `word` names from `data`, its bytes from there on.
    /// Errors name offsets in the index.
    fn decode(&self, word: u32, offset: usize, data: &'a [u8]) -> Result<Node<'a>, IndexError> {
        let at = |pos: usize| Cursor {
            data,
            base: offset,
            pos,
        };
        let mut pos = 0;
        let prefix = if word & FLAG_PREFIX != 0 {
            let s = at(pos).cstr()?;
            pos = after(pos, s.len() + 1)?;
            s
        } else {
            &[]
        };
        let (first, last, children, children_at) = if word & FLAG_CHILDREN != 0 {
            let first = at(pos).u8()?;
            let last = at(after(pos, 1)?).u8()?;
            if first > last || last >= CHILD_LIMIT {
                return Err(IndexError::BadChildRange {
                    offset,
                    first,
                    last,
                });
            }
            let children_at = after(pos, 2)?;
            let len = (usize::from(last - first) + 1) * 4;
            let children = at(children_at).bytes(len)?;
            pos = after(children_at, len)?;
            (first, last, children, offset + children_at)
        } else {
            (CHILD_LIMIT, 0, &[][..], offset + pos)
        };
        let (value_count, values_at) = if word & FLAG_VALUES != 0 {
            let count = at(pos).u32()?;
            let values_at = offset + after(pos, 4)?;
            // Each value takes at least MIN_VALUE_LEN bytes: a count the rest of the file
            // cannot hold is a truncation (and must not drive an allocation).
            let room = self.size.saturating_sub(values_at) / MIN_VALUE_LEN;
            if usize::try_from(count).map_or(true, |c| c > room) {
                return Err(IndexError::Truncated {
                    offset: offset + pos,
                });
            }
            (count, values_at)
        } else {
            (0, offset + pos)
        };
        Ok(Node {
            offset,
            prefix,
            first,
            last,
            children,
            children_at,
            value_count,
            values_at,
            view: *self,
        })
    }

    /// The NUL-terminated string at `pos`, without its NUL.
    fn cstr(&self, pos: usize) -> Result<&'a [u8], IndexError> {
        self.decode_at(pos, FIRST_ASK, |data| Cursor::start(data, pos).cstr())
    }

    /// The big-endian u32 at `pos`.
    fn u32(&self, pos: usize) -> Result<u32, IndexError> {
        self.decode_at(pos, 4, |data| Cursor::start(data, pos).u32())
    }

    /// The child of `node` for character `ch`, if there is one.
    fn child(&self, node: &Node<'a>, ch: u8) -> Result<Option<Node<'a>>, IndexError> {
        if ch < node.first || ch > node.last {
            return Ok(None);
        }
        let slot = usize::from(ch - node.first) * 4;
        let at = after(node.children_at, slot)?;
        let word = node
            .children
            .get(slot..slot + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or(IndexError::Truncated { offset: at })?;
        self.node(word, at, Some(node.offset))
    }

    /// Follows `key` exactly from the root (kmod's `index_search` walk).
    fn find(&self, key: &[u8]) -> Result<Option<Node<'a>>, IndexError> {
        let Some(mut node) = self.root()? else {
            return Ok(None);
        };
        let mut rest = key;
        loop {
            for (j, &pc) in node.prefix.iter().enumerate() {
                if !byte_matches(pc, rest.get(j)) {
                    return Ok(None);
                }
            }
            rest = rest.get(node.prefix.len()..).unwrap_or_default();
            let Some((&ch, after)) = rest.split_first() else {
                return Ok(Some(node));
            };
            match self.child(&node, ch)? {
                Some(child) => node = child,
                None => return Ok(None),
            }
            rest = after;
        }
    }

    /// kmod's level-3 wildcard walk: every node of the subtree at `start` (children first, in
    /// character order, then the node) whose pattern matches `subkey` contributes its values.
    /// The pattern of a node is `lead`, then `start`'s prefix from byte `skip` on, then the
    /// characters and prefixes on the way down.
    ///
    /// `subkey` is the end of the key `masks` describe (`None`: a key too long to track).
    /// While the patterns are plain (see [`super::glob`]), a [`Reach`] follows them down and
    /// a subtree that no pattern in it can match is skipped; below a byte it cannot track, the
    /// pattern is matched with `fnmatch` at each node with values, as in kmod. The values found
    /// are the same either way, in the same order.
    fn match_subtree(
        &self,
        start: Node<'a>,
        skip: usize,
        lead: &[u8],
        subkey: &[u8],
        masks: Option<&KeyMasks>,
        found: &mut Found,
    ) -> Result<(), IndexError> {
        let mut pattern = lead.to_vec();
        pattern.extend_from_slice(start.prefix.get(skip..).unwrap_or_default());
        if pattern.len() > MAX_KEY_LEN {
            return Err(IndexError::TooDeep {
                offset: start.offset,
            });
        }
        let reach = masks.and_then(|masks| {
            let begin = Reach::at(masks.len().checked_sub(subkey.len())?);
            advance(Some(begin), masks, &pattern)
        });
        if reach.is_some_and(|r| r.is_dead()) {
            return Ok(());
        }
        let mut stack = vec![WildFrame {
            node: start,
            next_child: u16::from(start.first),
            restore: 0,
            reach,
        }];
        let mut visits = 1usize;
        while let Some(frame) = stack.last_mut() {
            if frame.next_child <= u16::from(frame.node.last) {
                let Ok(ch) = u8::try_from(frame.next_child) else {
                    break;
                };
                frame.next_child += 1;
                if !frame.node.has_child(ch) {
                    continue;
                }
                // A child whose first byte already rules out every pattern below it is not
                // even decoded.
                let after_ch = match (frame.reach, masks) {
                    (Some(reach), Some(masks)) => reach.step(masks, ch),
                    _ => None,
                };
                if after_ch.is_some_and(|r| r.is_dead()) {
                    continue;
                }
                let Some(child) = self.child(&frame.node, ch)? else {
                    continue;
                };
                visits += 1;
                if visits > self.node_budget() {
                    return Err(IndexError::Loop {
                        offset: child.offset,
                    });
                }
                let child_reach = masks.and_then(|masks| advance(after_ch, masks, child.prefix));
                if child_reach.is_some_and(|r| r.is_dead()) {
                    continue;
                }
                let restore = pattern.len();
                pattern.push(ch);
                pattern.extend_from_slice(child.prefix);
                if pattern.len() > MAX_KEY_LEN {
                    return Err(IndexError::TooDeep {
                        offset: child.offset,
                    });
                }
                stack.push(WildFrame {
                    node: child,
                    next_child: u16::from(child.first),
                    restore,
                    reach: child_reach,
                });
            } else {
                let node = frame.node;
                let restore = frame.restore;
                let matched = match (frame.reach, masks) {
                    (Some(reach), Some(masks)) => reach.matches(masks),
                    _ => fnmatch(&pattern, subkey),
                };
                stack.pop();
                if node.value_count > 0 && matched {
                    found.add_all(&node)?;
                }
                pattern.truncate(restore);
            }
        }
        Ok(())
    }
}

/// One node on the way down a wildcard subtree, with what its pattern has reached (`None`:
/// matched with `fnmatch` instead).
struct WildFrame<'a> {
    node: Node<'a>,
    next_child: u16,
    restore: usize,
    reach: Option<Reach>,
}

/// `reach` after the pattern bytes `bytes`; `None` once a byte cannot be tracked.
fn advance(reach: Option<Reach>, masks: &KeyMasks, bytes: &[u8]) -> Option<Reach> {
    bytes
        .iter()
        .try_fold(reach?, |reach, &byte| reach.step(masks, byte))
}

impl<'a> Node<'a> {
    /// Whether the node's child word for `ch` names a child (a cheap look before decoding it;
    /// a word that is present but bad is left for [`View::child`] to report).
    fn has_child(&self, ch: u8) -> bool {
        if ch < self.first || ch > self.last {
            return false;
        }
        let slot = usize::from(ch - self.first) * 4;
        match self.children.get(slot..slot + 4) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]) & OFFSET_MASK != 0,
            _ => true,
        }
    }

    /// The node's values, decoded one by one.
    fn values(&self) -> Values<'a> {
        Values {
            view: self.view,
            pos: self.values_at,
            left: self.value_count,
        }
    }
}

/// Decodes a node's values: (priority, value) pairs.
struct Values<'a> {
    view: View<'a>,
    pos: usize,
    left: u32,
}

impl<'a> Iterator for Values<'a> {
    type Item = Result<(u32, &'a [u8]), IndexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = (|| {
            let priority = self.view.u32(self.pos)?;
            let at = after(self.pos, 4)?;
            let value = self.view.cstr(at)?;
            self.pos = after(at, value.len() + 1)?;
            Ok((priority, value))
        })();
        if item.is_err() {
            self.left = 0;
        }
        Some(item)
    }
}

/// The values collected by a wildcard search, in the order kmod adds them.
#[derive(Default)]
struct Found {
    values: Vec<(u32, Vec<u8>)>,
}

impl Found {
    fn add_all(&mut self, node: &Node<'_>) -> Result<(), IndexError> {
        for value in node.values() {
            let (priority, value) = value?;
            self.values.push((priority, value.to_vec()));
        }
        Ok(())
    }

    /// kmod inserts each value before the first one of equal or higher priority: that is a
    /// sort by priority in which, among equals, the later addition comes first.
    fn into_sorted(self) -> Vec<IndexValue> {
        let mut numbered: Vec<(usize, (u32, Vec<u8>))> =
            self.values.into_iter().enumerate().collect();
        numbered.sort_by(|(ia, (pa, _)), (ib, (pb, _))| pa.cmp(pb).then(ib.cmp(ia)));
        numbered
            .into_iter()
            .map(|(_, (priority, value))| IndexValue { priority, value })
            .collect()
    }
}

/// Whether a stored key byte matches a query byte the way kmod's C comparison does: a stored
/// byte outside 7-bit ASCII never matches (kmod compares it unsigned against a signed `char`).
fn byte_matches(stored: u8, query: Option<&u8>) -> bool {
    stored < 0x80 && query == Some(&stored)
}

fn to_value((priority, value): (u32, &[u8])) -> IndexValue {
    IndexValue {
        priority,
        value: value.to_vec(),
    }
}

fn read_u32(data: &[u8], pos: usize) -> Result<u32, IndexError> {
    Cursor { data, base: 0, pos }.u32()
}

/// A position in a slice of an index that starts at offset `base`: reads at `pos` in the
/// slice, and names `base + pos` when a field does not fit.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    data: &'a [u8],
    base: usize,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// At the start of `data`, which starts at offset `base` of the index.
    fn start(data: &'a [u8], base: usize) -> Cursor<'a> {
        Cursor { data, base, pos: 0 }
    }

    fn truncated(&self) -> IndexError {
        IndexError::Truncated {
            offset: self.base.saturating_add(self.pos),
        }
    }

    fn u8(&self) -> Result<u8, IndexError> {
        self.data.get(self.pos).copied().ok_or(self.truncated())
    }

    fn u32(&self) -> Result<u32, IndexError> {
        self.bytes(4)?
            .try_into()
            .map(u32::from_be_bytes)
            .map_err(|_| self.truncated())
    }

    /// The next `len` bytes.
    fn bytes(&self, len: usize) -> Result<&'a [u8], IndexError> {
        self.pos
            .checked_add(len)
            .and_then(|end| self.data.get(self.pos..end))
            .ok_or(self.truncated())
    }

    /// The NUL-terminated string here, without its NUL.
    fn cstr(&self) -> Result<&'a [u8], IndexError> {
        let rest = self.data.get(self.pos..).ok_or(self.truncated())?;
        let len = rest.iter().position(|&b| b == 0).ok_or(self.truncated())?;
        rest.get(..len).ok_or(self.truncated())
    }
}

/// `pos + len`, or a truncation error at `pos` when that overflows.
fn after(pos: usize, len: usize) -> Result<usize, IndexError> {
    pos.checked_add(len)
        .ok_or(IndexError::Truncated { offset: pos })
}

/// The part of `s` before its first NUL byte.
fn until_nul(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(end) => s.get(..end).unwrap_or_default(),
        None => s,
    }
}
