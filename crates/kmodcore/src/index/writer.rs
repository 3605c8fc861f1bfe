//! Writing an index, byte for byte as kmod 34's depmod does.
//!
//! kmod builds its trie incrementally, splitting nodes as keys arrive. The trie it ends with
//! depends only on the set of keys (a compressed trie is unique), and the value lists only on
//! the insertion rule, so [`IndexBuilder`] keeps a sorted map of key to values and builds the
//! nodes at write time: each node takes the longest prefix its keys share, except the root,
//! which never has one. Nodes are then laid out in pre-order.

use std::collections::HashMap;
use std::io::Write;

use rustc_hash::FxBuildHasher;

use super::{Index, IndexEntry};
use super::{
    IndexError, FLAG_CHILDREN, FLAG_PREFIX, FLAG_VALUES, HEADER_LEN, MAGIC, MAX_KEY_LEN,
    OFFSET_MASK, VERSION,
};

/// Builds an index in memory and writes it in kmod's format.
///
/// The builder appends every key and value to one byte arena and records each insertion as
/// a small fixed-size entry; keys are sorted only once, when the file is laid out. A hash
/// of (key, value) finds duplicates as they are inserted, without a map of owned keys.
///
/// ```
/// use kmodcore::index::{Index, IndexBuilder};
/// let mut builder = IndexBuilder::new();
/// builder.insert(b"snd_hda_intel", b"kernel/sound/snd-hda-intel.ko:", 7).unwrap();
/// let bytes = builder.to_bytes().unwrap();
/// let index = Index::from_bytes(bytes).unwrap();
/// assert_eq!(index.get_first(b"snd_hda_intel").unwrap().unwrap().priority, 7);
/// ```
#[derive(Debug, Clone, Default)]
pub struct IndexBuilder {
    /// Every key and value, concatenated.
    arena: Vec<u8>,
    /// One per insertion, in insertion order.
    entries: Vec<Entry>,
    /// Hash of (key, value) to the latest entry with that hash.
    by_pair: HashMap<u64, u32, FxBuildHasher>,
    /// Per entry: the previous entry with the same (key, value) hash, or [`NO_ENTRY`].
    same_hash: Vec<u32>,
}

/// The end of a [`IndexBuilder::same_hash`] chain.
const NO_ENTRY: u32 = u32::MAX;

/// One inserted value: where its key and value lie in the arena, and its rank among the
/// values of its key (lower is written first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    key: (u32, u32),
    value: (u32, u32),
    priority: u32,
    /// depmod's rule as one number: priority in the high half, and for equal priorities the
    /// later insertion first (see [`IndexBuilder::insert`]); or the stored position, for
    /// [`IndexBuilder::from_index`].
    rank: u64,
}

impl IndexBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` under `key` with `priority`, following depmod's rule: the value goes
    /// before the first value of `key` whose priority is equal or higher.
    ///
    /// Returns whether `key` already held an identical value (depmod then warns about a
    /// duplicate, with `-w`, but keeps both, as this does).
    ///
    /// Keys and values must be 7-bit ASCII without NUL ([`IndexError::NonAscii`],
    /// [`IndexError::NulByte`]: depmod stops on the former), and keys at most
    /// [`super::MAX_KEY_LEN`] bytes long.
    pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) -> Result<bool, IndexError> {
        check_string(key)?;
        check_string(value)?;
        if key.len() > MAX_KEY_LEN {
            return Err(IndexError::KeyTooLong { len: key.len() });
        }
        let seq = u32::try_from(self.entries.len()).map_err(|_| IndexError::TooLarge)?;
        let rank = (u64::from(priority) << 32) | u64::from(u32::MAX - seq);
        let duplicate = self.push(key, value, priority, rank)?;
        Ok(duplicate)
    }

    /// Appends one entry; whether an earlier entry has the same key and value.
    fn push(
        &mut self,
        key: &[u8],
        value: &[u8],
        priority: u32,
        rank: u64,
    ) -> Result<bool, IndexError> {
        let seq = u32::try_from(self.entries.len()).map_err(|_| IndexError::TooLarge)?;
        let key_span = append(&mut self.arena, key)?;
        let value_span = append(&mut self.arena, value)?;
        let hash = pair_hash(key, value);
        let mut previous = self.by_pair.insert(hash, seq).unwrap_or(NO_ENTRY);
        self.same_hash.push(previous);
        self.entries.push(Entry {
            key: key_span,
            value: value_span,
            priority,
            rank,
        });
        while previous != NO_ENTRY {
            let Some(entry) = self.entries.get(previous as usize) else {
                break;
            };
            if self.bytes(entry.key) == key && self.bytes(entry.value) == value {
                return Ok(true);
            }
            previous = self
                .same_hash
                .get(previous as usize)
                .copied()
                .unwrap_or(NO_ENTRY);
        }
        Ok(false)
    }

    /// A builder holding exactly what `index` holds, values in their stored order (which
    /// [`IndexBuilder::insert`] could not always reproduce from a file written by something else).
    pub fn from_index<B: super::Source>(index: &Index<B>) -> Result<Self, IndexError> {
        let mut builder = IndexBuilder::new();
        for entry in index.iter() {
            let IndexEntry {
                key,
                priority,
                value,
            } = entry?;
            check_string(&key)?;
            check_string(&value)?;
            let rank = builder.entries.len() as u64;
            builder.push(&key, &value, priority, rank)?;
        }
        Ok(builder)
    }

    /// How many distinct keys were inserted.
    pub fn key_count(&self) -> usize {
        self.grouped().1.len()
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The values stored under `key`, in the order they will be written.
    pub fn values(&self, key: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
        let mut found: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| self.bytes(e.key) == key)
            .collect();
        found.sort_unstable_by_key(|e| e.rank);
        found.into_iter().map(|e| (e.priority, self.bytes(e.value)))
    }

    /// The bytes of an arena span.
    fn bytes(&self, (start, len): (u32, u32)) -> &[u8] {
        let start = start as usize;
        self.arena
            .get(start..start + len as usize)
            .unwrap_or_default()
    }

    /// The values sorted by key, then in the order they are written, and one group per key
    /// (the key and the range of its values).
    fn grouped(&self) -> (Vec<Value<'_>>, Vec<KeyGroup<'_>>) {
        // Keys are compared by eight bytes after the prefix they all share first (a number
        // compare; keys hold no NUL, so zero padding keeps the order), then in full.
        let first = self.entries.first().map_or(&[][..], |e| self.bytes(e.key));
        let shared = self.entries.iter().fold(first.len(), |shared, e| {
            let key = self.bytes(e.key);
            shared.min(first.iter().zip(key).take_while(|(a, b)| a == b).count())
        });
        let head = |key: &[u8]| {
            let mut word = [0u8; 8];
            for (to, from) in word.iter_mut().zip(key.get(shared..).unwrap_or_default()) {
                *to = *from;
            }
            u64::from_be_bytes(word)
        };
        let keys: Vec<(&[u8], u64)> = self
            .entries
            .iter()
            .map(|e| (self.bytes(e.key), e.rank))
            .collect();
        let mut order: Vec<(u64, u32)> = keys
            .iter()
            .zip(0u32..)
            .map(|(&(key, _), i)| (head(key), i))
            .collect();
        let full = |i: u32| keys.get(i as usize).copied().unwrap_or_default();
        order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| full(a.1).cmp(&full(b.1))));
        let mut groups: Vec<KeyGroup<'_>> = Vec::new();
        let mut values = Vec::with_capacity(order.len());
        for (i, &(_, at)) in order.iter().enumerate() {
            let (key, _) = full(at);
            match groups.last_mut() {
                Some((last, range)) if *last == key => range.end = i + 1,
                _ => groups.push((key, i..i + 1)),
            }
            if let Some(e) = self.entries.get(at as usize) {
                values.push((e.priority, self.bytes(e.value)));
            }
        }
        (values, groups)
    }

    /// The index file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let (values, groups) = self.grouped();
        let keys: Vec<KeyValues<'_>> = groups
            .into_iter()
            .map(|(key, range)| (key, values.get(range).unwrap_or_default()))
            .collect();
        let nodes = layout(&keys)?;
        let total = nodes
            .iter()
            .try_fold(HEADER_LEN, |acc, n| acc.checked_add(n.size));
        let total = total.ok_or(IndexError::TooLarge)?;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        let root_word = nodes.first().map_or(Ok(0), node_word)?;
        out.extend_from_slice(&root_word.to_be_bytes());
        for node in &nodes {
            if !node.prefix.is_empty() {
                out.extend_from_slice(node.prefix);
                out.push(0);
            }
            if let (Some(&(first, _)), Some(&(last, _))) =
                (node.children.first(), node.children.last())
            {
                out.push(first);
                out.push(last);
                let mut children = node.children.iter().peekable();
                for ch in first..=last {
                    let word = match children.next_if(|(c, _)| *c == ch) {
                        Some(&(_, child)) => {
                            let child = nodes.get(child).ok_or(IndexError::TooLarge)?;
                            node_word(child)?
                        }
                        None => 0,
                    };
                    out.extend_from_slice(&word.to_be_bytes());
                }
            }
            if let Some(values) = node.values {
                let count = u32::try_from(values.len()).map_err(|_| IndexError::TooLarge)?;
                out.extend_from_slice(&count.to_be_bytes());
                for &(priority, value) in values {
                    out.extend_from_slice(&priority.to_be_bytes());
                    out.extend_from_slice(value);
                    out.push(0);
                }
            }
        }
        Ok(out)
    }

    /// Writes the index file to `out`. An index too large for the format is an
    /// [`std::io::ErrorKind::InvalidInput`] error wrapping [`IndexError::TooLarge`].
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        let bytes = self
            .to_bytes()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        out.write_all(&bytes)
    }
}

/// Two builders are equal when they would write the same keys with the same values in the
/// same order (however they were inserted).
impl PartialEq for IndexBuilder {
    fn eq(&self, other: &Self) -> bool {
        self.grouped() == other.grouped()
    }
}

impl Eq for IndexBuilder {}

/// Appends `bytes` to the arena; their span.
fn append(arena: &mut Vec<u8>, bytes: &[u8]) -> Result<(u32, u32), IndexError> {
    let start = u32::try_from(arena.len()).map_err(|_| IndexError::TooLarge)?;
    let len = u32::try_from(bytes.len()).map_err(|_| IndexError::TooLarge)?;
    arena.extend_from_slice(bytes);
    Ok((start, len))
}

/// A hash of a (key, value) pair, to find duplicate insertions.
fn pair_hash(key: &[u8], value: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = FxBuildHasher.build_hasher();
    hasher.write(key);
    hasher.write_u8(0);
    hasher.write(value);
    hasher.finish()
}

/// Builds the compressed trie, nodes in pre-order (the order they are written in), each
/// with its size and file offset. Each node takes the longest prefix its keys share, except
/// the root, which never has one.
fn layout<'k>(keys: &[KeyValues<'k>]) -> Result<Vec<PlannedNode<'k>>, IndexError> {
    let mut nodes: Vec<PlannedNode<'k>> = Vec::new();
    // Work items: a run of keys sharing their first `depth` bytes, and the parent link.
    let mut work = vec![Work {
        keys,
        depth: 0,
        parent: None,
    }];
    while let Some(Work {
        keys: group,
        depth,
        parent,
    }) = work.pop()
    {
        let index = nodes.len();
        if let Some((parent, ch)) = parent {
            let parent = nodes.get_mut(parent).ok_or(IndexError::TooLarge)?;
            parent.children.push((ch, index));
        }
        // The node's prefix: nothing for the root, else what all its keys share.
        let (Some(&(first_key, _)), Some(&(last_key, _))) = (group.first(), group.last()) else {
            // Only the root of an empty index has no keys.
            nodes.push(PlannedNode::default());
            continue;
        };
        let end = if parent.is_none() {
            depth
        } else {
            let a = first_key.get(depth..).unwrap_or_default();
            let b = last_key.get(depth..).unwrap_or_default();
            depth + a.iter().zip(b).take_while(|(x, y)| x == y).count()
        };
        let prefix = first_key.get(depth..end).unwrap_or_default();
        // Keys are sorted, so a key ending here is the first of the run.
        let (values, rest) = match group.split_first() {
            Some((&(key, values), rest)) if key.len() == end => (Some(values), rest),
            _ => (None, group),
        };
        // Split the rest by their next byte; push in reverse so the lowest pops first.
        let first_child = work.len();
        let mut remaining = rest;
        while let Some(&(key, _)) = remaining.first() {
            let ch = key.get(end).copied().unwrap_or(0);
            let len = remaining
                .iter()
                .take_while(|(k, _)| k.get(end) == Some(&ch))
                .count()
                .max(1);
            let (run, tail) = remaining.split_at(len.min(remaining.len()));
            work.push(Work {
                keys: run,
                depth: end + 1,
                parent: Some((index, ch)),
            });
            remaining = tail;
        }
        work.get_mut(first_child..).unwrap_or_default().reverse();
        nodes.push(PlannedNode {
            prefix,
            values,
            children: Vec::new(),
            size: 0,
            offset: 0,
        });
    }
    // Sizes, then offsets: in pre-order each node starts where the previous one ended.
    let mut offset = HEADER_LEN;
    for node in &mut nodes {
        node.size = node.compute_size().ok_or(IndexError::TooLarge)?;
        node.offset = offset;
        offset = offset.checked_add(node.size).ok_or(IndexError::TooLarge)?;
    }
    if u32::try_from(offset).map_or(true, |end| end > OFFSET_MASK) {
        return Err(IndexError::TooLarge);
    }
    Ok(nodes)
}

/// A value to write: (priority, value).
type Value<'k> = (u32, &'k [u8]);

/// A key and the range of its values in the sorted list of [`Value`]s.
type KeyGroup<'k> = (&'k [u8], std::ops::Range<usize>);

/// A key and its values, (priority, value) in the order they will be written.
type KeyValues<'k> = (&'k [u8], &'k [(u32, &'k [u8])]);

/// A run of sorted keys waiting to become a node.
struct Work<'s, 'k> {
    keys: &'s [KeyValues<'k>],
    depth: usize,
    parent: Option<(usize, u8)>,
}

/// A node of the trie being written.
#[derive(Default)]
struct PlannedNode<'k> {
    prefix: &'k [u8],
    values: Option<&'k [(u32, &'k [u8])]>,
    /// (character, node index), in character order.
    children: Vec<(u8, usize)>,
    size: usize,
    offset: usize,
}

impl PlannedNode<'_> {
    fn compute_size(&self) -> Option<usize> {
        let mut size = 0usize;
        if !self.prefix.is_empty() {
            size = size.checked_add(self.prefix.len())?.checked_add(1)?;
        }
        if let (Some(&(first, _)), Some(&(last, _))) = (self.children.first(), self.children.last())
        {
            let slots = usize::from(last.checked_sub(first)?) + 1;
            size = size.checked_add(2)?.checked_add(slots.checked_mul(4)?)?;
        }
        if let Some(values) = self.values {
            size = size.checked_add(4)?;
            for (_, value) in values {
                size = size
                    .checked_add(4)?
                    .checked_add(value.len())?
                    .checked_add(1)?;
            }
        }
        Some(size)
    }
}

/// The node word pointing at `node`: its offset and the flags of the fields it has.
fn node_word(node: &PlannedNode<'_>) -> Result<u32, IndexError> {
    let mut word = u32::try_from(node.offset).map_err(|_| IndexError::TooLarge)?;
    if word > OFFSET_MASK {
        return Err(IndexError::TooLarge);
    }
    if !node.prefix.is_empty() {
        word |= FLAG_PREFIX;
    }
    if node.values.is_some() {
        word |= FLAG_VALUES;
    }
    if !node.children.is_empty() {
        word |= FLAG_CHILDREN;
    }
    Ok(word)
}

/// [`node_word`] for a node at `offset` with no fields, for the unit tests.
#[cfg(test)]
pub(super) fn node_word_for_test(offset: usize) -> Result<u32, IndexError> {
    node_word(&PlannedNode {
        offset,
        ..PlannedNode::default()
    })
}

/// Keys and values are 7-bit ASCII with no NUL.
fn check_string(s: &[u8]) -> Result<(), IndexError> {
    for &byte in s {
        if byte == 0 {
            return Err(IndexError::NulByte);
        }
        if !byte.is_ascii() {
            return Err(IndexError::NonAscii { byte });
        }
    }
    Ok(())
}
