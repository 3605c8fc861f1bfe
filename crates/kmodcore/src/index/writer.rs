//! Writing an index, byte for byte as kmod 34's depmod does.
//!
//! kmod builds its trie incrementally, splitting nodes as keys arrive. The trie it ends with
//! depends only on the set of keys (a compressed trie is unique), and the value lists only on
//! the insertion rule, so [`IndexBuilder`] keeps a sorted map of key to values and builds the
//! nodes at write time: each node takes the longest prefix its keys share, except the root,
//! which never has one. Nodes are then laid out in pre-order.

use std::collections::BTreeMap;
use std::io::Write;

use super::{Index, IndexEntry};
use super::{
    IndexError, FLAG_CHILDREN, FLAG_PREFIX, FLAG_VALUES, HEADER_LEN, MAGIC, MAX_KEY_LEN,
    OFFSET_MASK, VERSION,
};

/// Builds an index in memory and writes it in kmod's format.
///
/// ```
/// use kmodcore::index::{Index, IndexBuilder};
/// let mut builder = IndexBuilder::new();
/// builder.insert(b"snd_hda_intel", b"kernel/sound/snd-hda-intel.ko:", 7).unwrap();
/// let bytes = builder.to_bytes().unwrap();
/// let index = Index::from_bytes(bytes).unwrap();
/// assert_eq!(index.get_first(b"snd_hda_intel").unwrap().unwrap().priority, 7);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexBuilder {
    keys: BTreeMap<Vec<u8>, Vec<(u32, Vec<u8>)>>,
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
        let values = self.keys.entry(key.to_vec()).or_default();
        let duplicate = values.iter().any(|(_, v)| v == value);
        let at = values.partition_point(|(p, _)| *p < priority);
        values.insert(at, (priority, value.to_vec()));
        Ok(duplicate)
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
            builder.keys.entry(key).or_default().push((priority, value));
        }
        Ok(builder)
    }

    /// How many distinct keys were inserted.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The values stored under `key`, in the order they will be written.
    pub fn values(&self, key: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
        self.keys
            .get(key)
            .into_iter()
            .flatten()
            .map(|(p, v)| (*p, v.as_slice()))
    }

    /// The index file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let nodes = self.layout()?;
        let total = nodes
            .iter()
            .try_fold(HEADER_LEN, |acc, n| acc.checked_add(n.size));
        let total = total.ok_or(IndexError::TooLarge)?;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        let root_word = nodes.first().map_or(Ok(0), |root| node_word(root))?;
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
                for (priority, value) in values {
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

    /// Builds the compressed trie, nodes in pre-order (the order they are written in), each
    /// with its size and file offset.
    fn layout(&self) -> Result<Vec<PlannedNode<'_>>, IndexError> {
        let keys: Vec<KeyValues<'_>> = self
            .keys
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        let mut nodes: Vec<PlannedNode<'_>> = Vec::new();
        // Work items: a run of keys sharing their first `depth` bytes, and the parent link.
        let mut work = vec![Work {
            keys: keys.as_slice(),
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
            let (Some(&(first_key, _)), Some(&(last_key, _))) = (group.first(), group.last())
            else {
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
            let mut runs = Vec::new();
            let mut remaining = rest;
            while let Some(&(key, _)) = remaining.first() {
                let ch = key.get(end).copied().unwrap_or(0);
                let len = remaining
                    .iter()
                    .take_while(|(k, _)| k.get(end) == Some(&ch))
                    .count()
                    .max(1);
                let (run, tail) = remaining.split_at(len.min(remaining.len()));
                runs.push((ch, run));
                remaining = tail;
            }
            for (ch, run) in runs.into_iter().rev() {
                work.push(Work {
                    keys: run,
                    depth: end + 1,
                    parent: Some((index, ch)),
                });
            }
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
}

/// A key and its values, (priority, value) in the order they will be written.
type KeyValues<'k> = (&'k [u8], &'k [(u32, Vec<u8>)]);

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
    values: Option<&'k [(u32, Vec<u8>)]>,
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
