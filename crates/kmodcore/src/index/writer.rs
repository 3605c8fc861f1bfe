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
    /// Set by [`IndexBuilder::without_duplicate_check`]: `by_pair` and `same_hash` stay empty.
    unchecked: bool,
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

    /// An empty builder that does not look for duplicates: [`IndexBuilder::insert`] then
    /// always returns `false`, and saves a hash and a table entry per insertion (depmod
    /// needs the answer only to warn about duplicates, `-w`). The file is the same.
    pub fn without_duplicate_check() -> Self {
        IndexBuilder {
            unchecked: true,
            ..Self::default()
        }
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
        let entry = Entry {
            key: key_span,
            value: value_span,
            priority,
            rank,
        };
        if self.unchecked {
            self.entries.push(entry);
            return Ok(false);
        }
        let hash = pair_hash(key, value);
        let mut previous = self.by_pair.insert(hash, seq).unwrap_or(NO_ENTRY);
        self.same_hash.push(previous);
        self.entries.push(entry);
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
        let keys: Vec<(&[u8], u64)> = self
            .entries
            .iter()
            .map(|e| (self.bytes(e.key), e.rank))
            .collect();
        let order = sorted_order(&keys);
        let mut groups: Vec<KeyGroup<'_>> = Vec::new();
        let mut values = Vec::with_capacity(order.len());
        for (i, &at) in order.iter().enumerate() {
            let key = keys.get(at as usize).map_or(&[][..], |&(key, _)| key);
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
        // Every key and value byte once, plus room for the node fields.
        let estimate = self.arena.len() + self.entries.len() * 16 + HEADER_LEN;
        emit(&keys, estimate)
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

/// The order of `keys` (each with its rank): by key, then by rank. Keys hold no NUL, so
/// comparing them eight bytes at a time as big-endian numbers, zero-padded, is comparing them
/// as byte strings; a run of keys that tie on a word is sorted again by the next word (after
/// the prefix all keys share). Iterative, and a run's depth grows by eight bytes a step up to
/// [`MAX_KEY_LEN`].
fn sorted_order(keys: &[(&[u8], u64)]) -> Vec<u32> {
    let first = keys.first().map_or(&[][..], |&(key, _)| key);
    let shared = keys.iter().fold(first.len(), |shared, &(key, _)| {
        shared.min(first.iter().zip(key).take_while(|(a, b)| a == b).count())
    });
    let key = |i: u32| keys.get(i as usize).map_or(&[][..], |&(key, _)| key);
    let rank = |i: u32| keys.get(i as usize).map_or(0, |&(_, rank)| rank);
    let mut order: Vec<(u64, u32)> = (0u32..)
        .zip(keys)
        .map(|(i, &(k, _))| (word_at(k, shared), i))
        .collect();
    // Runs of `order` still to sort: start, end, and the depth their words were taken at.
    let mut runs = vec![(0, order.len(), shared)];
    while let Some((start, end, depth)) = runs.pop() {
        let Some(run) = order.get_mut(start..end) else {
            continue;
        };
        run.sort_unstable_by_key(|&(word, _)| word);
        let mut at = 0;
        while let Some(&(word, _)) = run.get(at) {
            let tied = run.get_mut(at..).unwrap_or_default();
            let ties = tied.iter().take_while(|&&(w, _)| w == word).count();
            let tied = tied.get_mut(..ties).unwrap_or_default();
            if ties > 1 && word & 0xff != 0 && depth < MAX_KEY_LEN {
                // All of them go on past this word: compare the next one.
                for (w, i) in tied.iter_mut() {
                    *w = word_at(key(*i), depth + 8);
                }
                runs.push((start + at, start + at + ties, depth + 8));
            } else if ties > 1 {
                // The same key: its values in the order they are written.
                tied.sort_unstable_by_key(|&(_, i)| rank(i));
            }
            at += ties;
        }
    }
    order.into_iter().map(|(_, i)| i).collect()
}

/// Eight bytes of `key` from `depth` as a big-endian number, zero-padded past its end.
fn word_at(key: &[u8], depth: usize) -> u64 {
    let rest = key.get(depth..).unwrap_or_default();
    if let Some(whole) = rest.first_chunk::<8>() {
        return u64::from_be_bytes(*whole);
    }
    let mut word = [0u8; 8];
    for (to, from) in word.iter_mut().zip(rest) {
        *to = *from;
    }
    u64::from_be_bytes(word)
}

/// A run of sorted keys waiting to become a node: `keys[start..end]` share their first
/// `depth` bytes, and the node's word goes at `slot` in the output.
struct Work {
    start: usize,
    end: usize,
    depth: usize,
    slot: usize,
}

/// Writes the file: the header, then the compressed trie of `keys` (sorted, distinct) in
/// pre-order, straight into the bytes, with `estimate` bytes reserved. A node's children come
/// after it, so its child slots are written as zeros and filled in as each child is placed.
fn emit(keys: &[KeyValues<'_>], estimate: usize) -> Result<Vec<u8>, IndexError> {
    let mut out = Vec::with_capacity(estimate);
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&VERSION.to_be_bytes());
    let root_slot = out.len();
    out.extend_from_slice(&0u32.to_be_bytes());
    let mut work = vec![Work {
        start: 0,
        end: keys.len(),
        depth: 0,
        slot: root_slot,
    }];
    // The current node's children, reused from node to node.
    let mut children: Vec<Work> = Vec::new();
    while let Some(node) = work.pop() {
        let word = emit_node(&mut out, keys, &node, node.slot == root_slot, &mut children)?;
        patch(&mut out, node.slot, word)?;
        // In reverse, so that the lowest character is laid out first.
        work.extend(children.drain(..).rev());
    }
    if u32::try_from(out.len()).map_or(true, |end| end > OFFSET_MASK) {
        return Err(IndexError::TooLarge);
    }
    Ok(out)
}

/// Appends one node and returns its word; its children go to `children`, in character
/// order. The node takes the longest prefix its keys share, except the root, which never
/// has one.
fn emit_node(
    out: &mut Vec<u8>,
    keys: &[KeyValues<'_>],
    node: &Work,
    is_root: bool,
    children: &mut Vec<Work>,
) -> Result<u32, IndexError> {
    let offset = out.len();
    let group = keys.get(node.start..node.end).unwrap_or_default();
    let (Some(&(first_key, _)), Some(&(last_key, _))) = (group.first(), group.last()) else {
        // Only the root of an empty index has no keys.
        return node_word(offset, 0);
    };
    let depth = node.depth;
    let end = if is_root {
        depth
    } else {
        let a = first_key.get(depth..).unwrap_or_default();
        let b = last_key.get(depth..).unwrap_or_default();
        depth + common_prefix(a, b)
    };
    // Keys are sorted, so a key ending here is the first of the run.
    let values = group
        .first()
        .filter(|&&(key, _)| key.len() == end)
        .map(|&(_, values)| values);
    let mut flags = 0;
    let prefix = first_key.get(depth..end).unwrap_or_default();
    if !prefix.is_empty() {
        out.extend_from_slice(prefix);
        out.push(0);
        flags |= FLAG_PREFIX;
    }
    let rest = node.start + usize::from(values.is_some())..node.end;
    children.clear();
    // The children's characters: the next byte of the first and of the last key.
    let next_byte = |i: usize| keys.get(i).and_then(|&(key, _)| key.get(end)).copied();
    let (low, high) = if rest.is_empty() {
        (None, None)
    } else {
        (next_byte(rest.start), next_byte(rest.end - 1))
    };
    if let (Some(low), Some(high)) = (low, high) {
        out.push(low);
        out.push(high);
        let base = out.len();
        let slots = usize::from(high.checked_sub(low).ok_or(IndexError::TooLarge)?) + 1;
        out.resize(base + slots * 4, 0);
        split_children(keys, rest, end, (base, low), children);
        flags |= FLAG_CHILDREN;
    }
    if let Some(values) = values {
        let count = u32::try_from(values.len()).map_err(|_| IndexError::TooLarge)?;
        out.extend_from_slice(&count.to_be_bytes());
        for &(priority, value) in values {
            out.extend_from_slice(&priority.to_be_bytes());
            out.extend_from_slice(value);
            out.push(0);
        }
        flags |= FLAG_VALUES;
    }
    node_word(offset, flags)
}

/// Splits `keys[range]` (sorted, each longer than `at`) by their byte at `at` into
/// `children`, in character order; the child slots start at `slots.0`, the first for the
/// character `slots.1`.
fn split_children(
    keys: &[KeyValues<'_>],
    range: std::ops::Range<usize>,
    at: usize,
    (base, low): (usize, u8),
    children: &mut Vec<Work>,
) {
    let byte = |i: usize| keys.get(i).and_then(|&(key, _)| key.get(at)).copied();
    let mut i = range.start;
    while i < range.end {
        let ch = byte(i);
        // The bytes at `at` rise through the sorted run: the next child starts at the first
        // key with a higher one.
        let rest = keys.get(i + 1..range.end).unwrap_or_default();
        let stop = i + 1 + rest.partition_point(|&(key, _)| key.get(at).copied() == ch);
        let index = usize::from(ch.unwrap_or(low).saturating_sub(low));
        children.push(Work {
            start: i,
            end: stop,
            depth: at + 1,
            slot: base + index * 4,
        });
        i = stop;
    }
}

/// The length of the longest prefix `a` and `b` share, compared eight bytes at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut at = 0;
    while let (Some(x), Some(y)) = (
        a.get(at..).and_then(<[u8]>::first_chunk::<8>),
        b.get(at..).and_then(<[u8]>::first_chunk::<8>),
    ) {
        let diff = u64::from_be_bytes(*x) ^ u64::from_be_bytes(*y);
        if diff != 0 {
            return at + (diff.leading_zeros() / 8) as usize;
        }
        at += 8;
    }
    let tail = a.get(at..).unwrap_or_default();
    at + tail
        .iter()
        .zip(b.get(at..).unwrap_or_default())
        .take_while(|(x, y)| x == y)
        .count()
}

/// Writes a node word into its slot.
fn patch(out: &mut [u8], slot: usize, word: u32) -> Result<(), IndexError> {
    let to = out.get_mut(slot..slot + 4).ok_or(IndexError::TooLarge)?;
    to.copy_from_slice(&word.to_be_bytes());
    Ok(())
}

/// The node word for a node at `offset` with the fields `flags` says it has.
fn node_word(offset: usize, flags: u32) -> Result<u32, IndexError> {
    let word = u32::try_from(offset).map_err(|_| IndexError::TooLarge)?;
    if word > OFFSET_MASK {
        return Err(IndexError::TooLarge);
    }
    Ok(word | flags)
}

/// [`node_word`] for a node at `offset` with no fields, for the unit tests.
#[cfg(test)]
pub(super) fn node_word_for_test(offset: usize) -> Result<u32, IndexError> {
    node_word(offset, 0)
}

/// A value to write: (priority, value).
type Value<'k> = (u32, &'k [u8]);

/// A key and the range of its values in the sorted list of [`Value`]s.
type KeyGroup<'k> = (&'k [u8], std::ops::Range<usize>);

/// A key and its values, (priority, value) in the order they will be written.
type KeyValues<'k> = (&'k [u8], &'k [(u32, &'k [u8])]);

/// Whether `s` is 7-bit ASCII with no NUL, eight bytes at a time: a byte of a word is NUL or
/// above 0x7f exactly when the word or the word minus 0x01 in every byte has its high bit
/// set there (a borrow only starts at a NUL byte, which is caught anyway).
fn is_plain_ascii(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let words = s.chunks_exact(8);
    let tail = words.remainder();
    let bad = |w: &[u8]| {
        let w = <[u8; 8]>::try_from(w).map_or(HIGHS, u64::from_le_bytes);
        (w | w.wrapping_sub(ONES)) & HIGHS != 0
    };
    !words.into_iter().any(bad) && tail.iter().all(|&b| b != 0 && b < 0x80)
}

/// Keys and values are 7-bit ASCII with no NUL.
fn check_string(s: &[u8]) -> Result<(), IndexError> {
    if is_plain_ascii(s) {
        return Ok(());
    }
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
