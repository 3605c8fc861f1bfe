//! kmod's hash-table iteration order, which decides the order of two of depmod's outputs.
//!
//! kmod's depmod keeps its modules (by name) and its symbols (by name) in chained hash tables
//! and, in two places, simply walks those tables:
//!
//! - the module list starts in the walk order of the module table (512 buckets); modules that
//!   `modules.order` lists are then moved to the front, the rest keep that order;
//! - `modules.symbols` is written in the walk order of the symbol table (2048 buckets).
//!
//! A walk visits the buckets in ascending index and, within a bucket, the keys in ascending
//! byte order (each bucket is a sorted array). The bucket of a key is its hash masked with
//! `buckets - 1`; the hash is Paul Hsieh's "SuperFastHash" seeded with the key length:
//!
//! ```text
//! h = len
//! for each 4-byte chunk [a b c d]:     h += le16(a b); t = (le16(c d) << 11) ^ h;
//!                                      h = (h << 16) ^ t; h += h >> 11
//! 3 bytes left [a b c]:                h += le16(a b); h ^= h << 16; h ^= c << 18; h += h >> 11
//! 2 bytes left [a b]:                  h += le16(a b); h ^= h << 11; h += h >> 17
//! 1 byte left  [a]:                    h += (char)a;   h ^= h << 10; h += h >> 1
//! then: h ^= h << 3; h += h >> 5; h ^= h << 4; h += h >> 17; h ^= h << 25; h += h >> 6
//! ```
//!
//! All arithmetic is 32-bit and wrapping. The 16-bit reads use the machine's byte order, and in
//! the one-byte case the byte is a C `char`, signed on x86: both follow the host, as kmod does,
//! so that rkmod orders its output exactly like the kmod built for the same machine.

use std::ffi::c_char;

/// The number of buckets of depmod's module table.
pub const MODULE_BUCKETS: u32 = 512;

/// The number of buckets of depmod's symbol table.
pub const SYMBOL_BUCKETS: u32 = 2048;

fn read16(bytes: &[u8], at: usize) -> u32 {
    let pair = [
        bytes.get(at).copied().unwrap_or(0),
        bytes.get(at + 1).copied().unwrap_or(0),
    ];
    u32::from(u16::from_ne_bytes(pair))
}

/// kmod's SuperFastHash of `key` (see the module documentation).
pub fn superfast_hash(key: &[u8]) -> u32 {
    // kmod takes the length as an unsigned int; keys longer than that do not occur.
    let len = u32::try_from(key.len()).unwrap_or(u32::MAX);
    let mut hash = len;
    let mut chunks = key.chunks_exact(4);
    for chunk in chunks.by_ref() {
        hash = hash.wrapping_add(read16(chunk, 0));
        let tmp = (read16(chunk, 2) << 11) ^ hash;
        hash = (hash << 16) ^ tmp;
        hash = hash.wrapping_add(hash >> 11);
    }
    let rest = chunks.remainder();
    match rest.len() {
        3 => {
            hash = hash.wrapping_add(read16(rest, 0));
            hash ^= hash << 16;
            hash ^= u32::from(rest.get(2).copied().unwrap_or(0)) << 18;
            hash = hash.wrapping_add(hash >> 11);
        }
        2 => {
            hash = hash.wrapping_add(read16(rest, 0));
            hash ^= hash << 11;
            hash = hash.wrapping_add(hash >> 17);
        }
        1 => {
            // A C `char`, sign-extended where char is signed (x86), as kmod adds it.
            let byte = rest.first().copied().unwrap_or(0);
            #[allow(clippy::unnecessary_cast)]
            let as_char = byte as c_char as i32 as u32;
            hash = hash.wrapping_add(as_char);
            hash ^= hash << 10;
            hash = hash.wrapping_add(hash >> 1);
        }
        _ => {}
    }
    hash ^= hash << 3;
    hash = hash.wrapping_add(hash >> 5);
    hash ^= hash << 4;
    hash = hash.wrapping_add(hash >> 17);
    hash ^= hash << 25;
    hash = hash.wrapping_add(hash >> 6);
    hash
}

/// The bucket of `key` in a kmod hash table of `buckets` buckets (a power of two).
pub fn bucket(key: &[u8], buckets: u32) -> u32 {
    superfast_hash(key) & buckets.wrapping_sub(1)
}

/// `items` in the walk order of a kmod hash table of `buckets` buckets holding their keys:
/// by bucket, then by key bytes. Keys are expected to be distinct, as in a hash table.
pub fn sort_in_hash_order<T>(items: Vec<T>, buckets: u32, key: impl Fn(&T) -> &[u8]) -> Vec<T> {
    let order = {
        let keys: Vec<&[u8]> = items.iter().map(&key).collect();
        hash_order(&keys, buckets)
    };
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// The positions of `keys` in hash-table walk order. The buckets are counted out first (one
/// pass, no comparisons), so that only the few keys sharing a bucket are compared. Not
/// generic (and not inlined), so that each caller's instance of [`sort_in_hash_order`] is a
/// small loop.
#[inline(never)]
fn hash_order(keys: &[&[u8]], buckets: u32) -> Vec<usize> {
    let of: Vec<usize> = keys.iter().map(|k| bucket(k, buckets) as usize).collect();
    // starts[b]: where bucket b begins in the output (after the prefix sum).
    let mut starts = vec![0usize; buckets as usize + 1];
    for &b in &of {
        if let Some(count) = starts.get_mut(b + 1) {
            *count += 1;
        }
    }
    for b in 1..starts.len() {
        let before = starts.get(b - 1).copied().unwrap_or(0);
        if let Some(start) = starts.get_mut(b) {
            *start += before;
        }
    }
    let mut next = starts.clone();
    let mut order = vec![0usize; keys.len()];
    for (i, &b) in of.iter().enumerate() {
        if let Some(at) = next.get_mut(b) {
            if let Some(slot) = order.get_mut(*at) {
                *slot = i;
            }
            *at += 1;
        }
    }
    for range in starts.windows(2) {
        let (Some(&from), Some(&to)) = (range.first(), range.get(1)) else {
            continue;
        };
        if let Some(run) = order.get_mut(from..to) {
            if run.len() > 1 {
                run.sort_unstable_by(|&a, &b| keys.get(a).cmp(&keys.get(b)));
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by kmod's own `hash_superfast` (shared/hash.c), compiled on x86-64.
    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    fn hash_matches_kmod() {
        let cases: [(&[u8], u32); 12] = [
            (b"", 0),
            (b"a", 291415938),
            (b"ab", 1366002500),
            (b"abc", 3535673738),
            (b"abcd", 3671636187),
            (b"abcde", 1374488366),
            (b"e1000e", 1109782235),
            (b"usb_storage", 2677747627),
            (b"snd_hda_codec_realtek", 439105066),
            (b"symbol:printk", 3624000770),
            (&[0xe9], 1776944832),
            (&[b'a', b'b', 0xff], 1629428164),
        ];
        for (key, expected) in cases {
            assert_eq!(superfast_hash(key), expected, "{key:?}");
        }
    }

    #[test]
    fn hash_is_deterministic_and_length_sensitive() {
        assert_eq!(superfast_hash(b"e1000e"), superfast_hash(b"e1000e"));
        assert_ne!(superfast_hash(b"a"), superfast_hash(b"a\0"));
        // Every remainder length goes through its own branch.
        let hashes: Vec<u32> = (0..9).map(|n| superfast_hash(&b"abcdefghi"[..n])).collect();
        for (i, a) in hashes.iter().enumerate() {
            for b in hashes.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn counted_buckets_match_a_comparison_sort() {
        let names: Vec<Vec<u8>> = (0..3000)
            .map(|i| format!("sym_{i}_x").into_bytes())
            .collect();
        for buckets in [1, 2, 512, 2048] {
            let mut expected = names.clone();
            expected.sort_by(|a, b| bucket(a, buckets).cmp(&bucket(b, buckets)).then(a.cmp(b)));
            let got = sort_in_hash_order(names.clone(), buckets, |n| n);
            assert_eq!(got, expected, "{buckets} buckets");
        }
        assert!(sort_in_hash_order(Vec::<Vec<u8>>::new(), 4, |n| n).is_empty());
    }

    #[test]
    fn walk_order_is_bucket_then_bytes() {
        let names: Vec<&[u8]> = vec![b"zeta", b"alpha", b"beta", b"gamma", b"delta"];
        let names = sort_in_hash_order(names, 4, |n| n);
        for pair in names.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let (ba, bb) = (bucket(a, 4), bucket(b, 4));
            assert!(ba < bb || (ba == bb && a < b), "{a:?} before {b:?}");
        }
    }
}
