//! Matching a wildcard pattern that grows one byte at a time, for the wildcard walk of an alias
//! index.
//!
//! The walk builds each stored pattern byte by byte on its way down the trie and asks, at every
//! node with values, whether the pattern so far matches the key. [`Reach`] answers that
//! without matching from the start each time: it is the set of key positions that the pattern
//! so far can have consumed the key up to, kept as one bit per position. A byte of pattern
//! moves the set forward (a literal or `?`), or fills it up to the end of the key (`*`); the
//! pattern matches when the end of the key is in the set. An empty set means no longer
//! pattern can match either, so the walk skips the rest of that subtree: most of an alias
//! index is patterns for other devices, and they fail within a few bytes.
//!
//! This is exact for patterns made of literals, `?` and `*` (the shell semantics, which
//! glibc's `fnmatch` with no flags follows for them). A pattern with a bracket expression, a
//! backslash, a NUL or a byte outside ASCII is handed back ([`Reach::step`] returns `None`),
//! and the walk matches it with [`crate::fnmatch`] as kmod does. Keys longer than
//! [`MAX_KEY`] bytes are never tracked.

/// The longest key tracked with a [`Reach`] (one bit per position, 0 to this, inclusive).
pub(super) const MAX_KEY: usize = 255;

/// A set of positions 0..=[`MAX_KEY`].
type Bits = [u64; 4];

fn shifted_up(bits: Bits) -> Bits {
    let mut out = [0u64; 4];
    let mut carry = 0;
    for (o, word) in out.iter_mut().zip(bits) {
        *o = (word << 1) | carry;
        carry = word >> 63;
    }
    out
}

fn and(a: Bits, b: Bits) -> Bits {
    let mut out = a;
    for (o, w) in out.iter_mut().zip(b) {
        *o &= w;
    }
    out
}

fn is_empty(bits: &Bits) -> bool {
    bits.iter().all(|&w| w == 0)
}

fn with_bit(mut bits: Bits, at: usize) -> Bits {
    if let Some(word) = bits.get_mut(at / 64) {
        *word |= 1 << (at % 64);
    }
    bits
}

fn has_bit(bits: &Bits, at: usize) -> bool {
    bits.get(at / 64).is_some_and(|w| w & (1 << (at % 64)) != 0)
}

/// Positions `from..=to` (empty when `from > to`; `to` at most [`MAX_KEY`]).
fn range(from: usize, to: usize) -> Bits {
    let mut out = [0u64; 4];
    for (i, word) in out.iter_mut().enumerate() {
        let (lo, hi) = (i * 64, i * 64 + 63);
        if from > hi || to < lo || from > to {
            continue;
        }
        let start = from.max(lo) - lo;
        let end = to.min(hi) - lo;
        let high = if end == 63 {
            u64::MAX
        } else {
            (1u64 << (end + 1)) - 1
        };
        *word = high & (u64::MAX << start);
    }
    out
}

/// For one key: where each byte occurs.
pub(super) struct KeyMasks {
    /// Bit `i` of entry `b`: the key's byte `i` is `b` (ASCII only).
    by_byte: Box<[Bits; 128]>,
    /// Positions 0..len-1: a byte to consume.
    any: Bits,
    len: usize,
}

impl KeyMasks {
    /// The key's length.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The masks of `key`; `None` when it is longer than [`MAX_KEY`].
    pub(super) fn new(key: &[u8]) -> Option<KeyMasks> {
        if key.len() > MAX_KEY {
            return None;
        }
        let mut by_byte = Box::new([[0u64; 4]; 128]);
        for (i, &b) in key.iter().enumerate() {
            if let Some(mask) = by_byte.get_mut(usize::from(b)) {
                *mask = with_bit(*mask, i);
            }
        }
        let any = if key.is_empty() {
            [0; 4]
        } else {
            range(0, key.len() - 1)
        };
        Some(KeyMasks {
            by_byte,
            any,
            len: key.len(),
        })
    }
}

/// The key positions an empty pattern has reached from position `start`, and so on byte by
/// byte (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reach(Bits);

impl Reach {
    /// Matching starts at key position `start`.
    pub(super) fn at(start: usize) -> Reach {
        Reach(with_bit([0; 4], start))
    }

    /// The set after one more pattern byte; `None` for a byte this cannot track.
    pub(super) fn step(self, masks: &KeyMasks, byte: u8) -> Option<Reach> {
        let next = match byte {
            b'*' => match self.0.iter().position(|&w| w != 0) {
                None => self.0,
                Some(word) => {
                    let low =
                        word * 64 + self.0.get(word).map_or(0, |w| w.trailing_zeros()) as usize;
                    range(low, masks.len)
                }
            },
            b'?' => shifted_up(and(self.0, masks.any)),
            b'[' | b'\\' | 0 => return None,
            _ => shifted_up(and(self.0, *masks.by_byte.get(usize::from(byte))?)),
        };
        Some(Reach(next))
    }

    /// Whether no longer pattern can match.
    pub(super) fn is_dead(&self) -> bool {
        is_empty(&self.0)
    }

    /// Whether the pattern so far matches the whole key.
    pub(super) fn matches(&self, masks: &KeyMasks) -> bool {
        has_bit(&self.0, masks.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fnmatch::fnmatch;

    fn reach_match(pattern: &[u8], key: &[u8], start: usize) -> Option<bool> {
        let masks = KeyMasks::new(key)?;
        let mut reach = Reach::at(start);
        for &b in pattern {
            reach = reach.step(&masks, b)?;
        }
        Some(reach.matches(&masks))
    }

    /// Against the fnmatch every other matcher is checked against, on patterns and keys made
    /// of the bytes that matter: every pattern of up to 5 bytes over `a b * ?` against every
    /// key of up to 4 bytes over `a b`.
    #[test]
    fn agrees_with_fnmatch_exhaustively() {
        fn all(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
            let mut out = vec![Vec::new()];
            let mut last = vec![Vec::new()];
            for _ in 0..max {
                let mut next = Vec::new();
                for s in &last {
                    for &c in alphabet {
                        let mut t = s.clone();
                        t.push(c);
                        next.push(t);
                    }
                }
                out.extend(next.iter().cloned());
                last = next;
            }
            out
        }
        let patterns = all(b"ab*?", 5);
        let keys = all(b"ab", 4);
        for pattern in &patterns {
            for key in &keys {
                assert_eq!(
                    reach_match(pattern, key, 0),
                    Some(fnmatch(pattern, key)),
                    "{:?} against {:?}",
                    String::from_utf8_lossy(pattern),
                    String::from_utf8_lossy(key)
                );
            }
        }
    }

    #[test]
    fn real_aliases_and_suffix_starts() {
        let key = b"pci:v00008086d000010D3sv00001028sd00000000bc02sc00i00";
        assert_eq!(
            reach_match(b"pci:v00008086d000010D3sv*sd*bc*sc*i*", key, 0),
            Some(true)
        );
        assert_eq!(reach_match(b"pci:v*d*sv*sd*bc03sc*i*", key, 0), Some(false));
        // Starting inside the key, as the walk does below a matched prefix.
        assert_eq!(reach_match(b"*sv*sd*", key, 14), Some(true));
        assert_eq!(
            reach_match(b"[ab]", b"a", 0),
            None,
            "brackets are handed back"
        );
        assert_eq!(
            reach_match(b"\\*", b"*", 0),
            None,
            "escapes are handed back"
        );
        assert_eq!(reach_match(b"a", &[b'a'; 256], 0), None, "a key too long");
        let full = [b'x'; 255];
        assert_eq!(reach_match(b"*x", &full, 0), Some(true));
        assert_eq!(reach_match(b"*y", &full, 0), Some(false));
    }

    #[test]
    fn ranges_are_bit_runs() {
        for (from, to) in [
            (0, 0),
            (0, 63),
            (0, 64),
            (5, 200),
            (63, 64),
            (64, 255),
            (0, 255),
            (7, 3),
        ] {
            let slow = (from..=to).fold([0; 4], with_bit);
            assert_eq!(range(from, to), slow, "{from}..={to}");
        }
    }

    #[test]
    fn a_dead_reach_stays_dead() {
        let masks = KeyMasks::new(b"usb:v1234").unwrap();
        let reach = Reach::at(0).step(&masks, b'p').unwrap();
        assert!(reach.is_dead());
        assert!(reach.step(&masks, b'*').unwrap().is_dead());
    }
}
