//! Unit tests of the index reader and writer.
//!
//! The golden files in `testdata/index/` were written by kmod's own depmod (development head
//! and kmod 30) from a few synthetic modules, with what kmod's modprobe printed for them; see
//! that directory's README and `tests/index_golden.rs`, which regenerates them.

use std::collections::HashMap;
use std::path::PathBuf;

use super::*;
use crate::modname;

const BINS: [&str; 5] = [
    "modules.dep.bin",
    "modules.alias.bin",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
];

fn golden(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/index")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn golden_index(layout: &str, bin: &str) -> Index<Vec<u8>> {
    Index::from_bytes(golden(&format!("{layout}/{bin}"))).unwrap()
}

fn text_lines(name: &str) -> Vec<Vec<u8>> {
    golden(&format!("modules/{name}"))
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .map(<[u8]>::to_vec)
        .collect()
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The (key, value, priority) triples depmod inserted into each index, in its insertion order,
/// reconstructed from the text files it wrote (which do not depend on the binary format).
fn depmod_entries(bin: &str) -> Vec<(Vec<u8>, Vec<u8>, u32)> {
    let dep = text_lines("modules.dep");
    // A module's priority is its position in depmod's order, which modules.dep follows.
    let position: HashMap<Vec<u8>, u32> = dep
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let colon = line.iter().position(|&b| b == b':').unwrap();
            (modname::name_from_path(&line[..colon]), i as u32)
        })
        .collect();
    let aliases = |file: &str| -> Vec<(Vec<u8>, Vec<u8>, u32)> {
        text_lines(file)
            .iter()
            .filter_map(|line| {
                let mut w = line.splitn(3, |&b| b == b' ');
                assert_eq!(w.next(), Some(&b"alias"[..]));
                let key = modname::normalize_alias(w.next().unwrap())?;
                let module = w.next().unwrap().to_vec();
                let priority = position[&module];
                Some((key, module, priority))
            })
            .collect()
    };
    match bin {
        "modules.dep.bin" => dep
            .iter()
            .map(|line| {
                let colon = line.iter().position(|&b| b == b':').unwrap();
                let name = modname::name_from_path(&line[..colon]);
                let priority = position[&name];
                (name, line.clone(), priority)
            })
            .collect(),
        "modules.alias.bin" => aliases("modules.alias"),
        "modules.symbols.bin" => aliases("modules.symbols"),
        "modules.builtin.bin" => text_lines("modules.builtin")
            .iter()
            .map(|line| (modname::name_from_path(line), Vec::new(), 0))
            .collect(),
        "modules.builtin.alias.bin" => golden("modules/modules.builtin.modinfo")
            .split(|&b| b == 0)
            .filter_map(|record| {
                let dot = record.iter().position(|&b| b == b'.')?;
                let rest = &record[dot + 1..];
                let value = rest.strip_prefix(b"alias=")?;
                Some((modname::normalize_alias(value)?, record[..dot].to_vec(), 0))
            })
            .collect(),
        other => panic!("{other}"),
    }
}

fn build(entries: &[(Vec<u8>, Vec<u8>, u32)]) -> IndexBuilder {
    let mut builder = IndexBuilder::new();
    for (key, value, priority) in entries {
        builder.insert(key, value, *priority).unwrap();
    }
    builder
}

#[test]
fn writer_reproduces_kmod_head_bytes() {
    for bin in BINS {
        let entries = depmod_entries(bin);
        assert!(!entries.is_empty(), "{bin}");
        let bytes = build(&entries).to_bytes().unwrap();
        assert!(
            bytes == golden(&format!("head/{bin}")),
            "{bin} differs from kmod head's"
        );
        let mut written = Vec::new();
        build(&entries).write_to(&mut written).unwrap();
        assert_eq!(written, bytes);
    }
}

#[test]
fn empty_index_is_kmod_heads() {
    // kmod head's depmod writes an index with no keys as the header and an empty root at 12.
    let expected = [0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1, 0, 0, 0, 0x0c];
    let bytes = IndexBuilder::new().to_bytes().unwrap();
    assert_eq!(bytes, expected);
    let index = Index::from_bytes(bytes).unwrap();
    assert_eq!(index.iter().count(), 0);
    assert_eq!(index.get(b"").unwrap(), vec![]);
    assert_eq!(index.search_wildcard(b"x").unwrap(), vec![]);
}

#[test]
fn both_layouts_read_the_same() {
    for bin in BINS {
        let head = golden_index("head", bin);
        let old = golden_index("kmod30", bin);
        let a: Vec<_> = head.iter().map(Result::unwrap).collect();
        let b: Vec<_> = old.iter().map(Result::unwrap).collect();
        assert_eq!(a, b, "{bin}");
        // Every inserted value is found at its key.
        for (key, value, priority) in depmod_entries(bin) {
            let values = head.get(&key).unwrap();
            assert!(
                values.contains(&IndexValue { priority, value }),
                "{bin}: {}",
                s(&key)
            );
            assert_eq!(old.get(&key).unwrap(), values);
            assert_eq!(head.get_first(&key).unwrap().as_ref(), values.first());
        }
    }
}

/// modprobe's lookup chain for a string with no config: modules.dep.bin by name, then
/// modules.alias.bin, then modules.builtin.bin, then modules.builtin.alias.bin.
fn resolve(layout: &str, query: &[u8]) -> Vec<Vec<u8>> {
    let query = modname::normalize_alias(query).unwrap();
    if golden_index(layout, "modules.dep.bin")
        .get_first(&query)
        .unwrap()
        .is_some()
    {
        return vec![query];
    }
    let found = golden_index(layout, "modules.alias.bin")
        .search_wildcard(&query)
        .unwrap();
    if !found.is_empty() {
        return found.into_iter().map(|v| v.value).collect();
    }
    if golden_index(layout, "modules.builtin.bin")
        .get_first(&query)
        .unwrap()
        .is_some()
    {
        return vec![query];
    }
    let found = golden_index(layout, "modules.builtin.alias.bin")
        .search_wildcard(&query)
        .unwrap();
    found.into_iter().map(|v| v.value).collect()
}

#[test]
fn wildcard_search_agrees_with_modprobe_resolve_alias() {
    let cases = golden("resolve.txt");
    let mut count = 0;
    for line in cases.split(|&b| b == b'\n') {
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let tab = line.iter().position(|&b| b == b'\t').unwrap();
        let (query, expected) = (&line[..tab], &line[tab + 1..]);
        let expected: Vec<String> = expected
            .split(|&b| b == b' ')
            .filter(|w| !w.is_empty())
            .map(s)
            .collect();
        for layout in ["head", "kmod30"] {
            let got: Vec<String> = resolve(layout, query).iter().map(|v| s(v)).collect();
            assert_eq!(got, expected, "{layout}: {}", s(query));
        }
        count += 1;
    }
    assert!(count >= 20);
}

#[test]
fn dump_agrees_with_modprobe_showconfig() {
    for layout in ["head", "kmod30"] {
        let mut out = Vec::new();
        golden_index(layout, "modules.alias.bin")
            .dump(&mut out, true)
            .unwrap();
        golden_index(layout, "modules.symbols.bin")
            .dump(&mut out, true)
            .unwrap();
        assert_eq!(s(&out), s(&golden("showconfig.txt")), "{layout}");
    }
    let mut plain = Vec::new();
    golden_index("head", "modules.builtin.bin")
        .dump(&mut plain, false)
        .unwrap();
    assert!(plain.starts_with(b"aes_generic \n"));
}

#[test]
fn insertion_follows_depmods_rule() {
    // From the golden files: `dup_alias` was inserted for modules 1, 0 and 3 (in that order)
    // and `crypto_aes` twice at priority 0, aes_generic first.
    let alias = golden_index("head", "modules.alias.bin");
    let dup: Vec<_> = alias
        .get(b"dup_alias")
        .unwrap()
        .into_iter()
        .map(|v| (v.priority, s(&v.value)))
        .collect();
    assert_eq!(
        dup,
        [
            (0, "beta_two".into()),
            (1, "alpha".into()),
            (3, "delta".into())
        ]
    );
    let builtin = golden_index("head", "modules.builtin.alias.bin");
    let aes: Vec<_> = builtin
        .get(b"crypto_aes")
        .unwrap()
        .into_iter()
        .map(|v| s(&v.value))
        .collect();
    assert_eq!(aes, ["crypto_null", "aes_generic"]);

    let mut builder = IndexBuilder::new();
    assert!(!builder.insert(b"k", b"a", 5).unwrap());
    assert!(!builder.insert(b"k", b"b", 3).unwrap());
    assert!(!builder.insert(b"k", b"c", 5).unwrap());
    assert!(builder.insert(b"k", b"a", 9).unwrap());
    let order: Vec<_> = builder.values(b"k").map(|(p, v)| (p, s(v))).collect();
    assert_eq!(
        order,
        [
            (3, "b".into()),
            (5, "c".into()),
            (5, "a".into()),
            (9, "a".into())
        ]
    );
}

/// A deterministic pseudo-random generator for the round-trip tests.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

#[test]
fn round_trip() {
    let mut rng = Lcg(7);
    let alphabet = b"ab*?[]-_:0z";
    let mut builder = IndexBuilder::new();
    let mut inserted: Vec<(Vec<u8>, Vec<u8>, u32)> = Vec::new();
    // Half the keys start with a long stem, so that many tie on their first words (the writer
    // sorts eight bytes at a time).
    let stems: [&[u8]; 4] = [b"", b"pci:v0000", b"pci:v00008086d", b"usb:v*p*d*dc"];
    for _ in 0..2000 {
        let len = rng.next() % 9;
        let mut key: Vec<u8> = stems[rng.next() % stems.len()].to_vec();
        key.extend((0..len).map(|_| alphabet[rng.next() % alphabet.len()]));
        let value = format!("v{}", rng.next() % 50).into_bytes();
        let priority = (rng.next() % 6) as u32;
        builder.insert(&key, &value, priority).unwrap();
        inserted.push((key, value, priority));
    }
    let bytes = builder.to_bytes().unwrap();
    let index = Index::from_bytes(bytes.clone()).unwrap();
    // Values per key: depmod's rule applied in insertion order.
    let mut expected: std::collections::BTreeMap<Vec<u8>, Vec<(u32, Vec<u8>)>> = Default::default();
    for (key, value, priority) in &inserted {
        let list = expected.entry(key.clone()).or_default();
        let at = list
            .iter()
            .position(|(p, _)| p >= priority)
            .unwrap_or(list.len());
        list.insert(at, (*priority, value.clone()));
    }
    for (key, values) in &expected {
        let got: Vec<_> = index
            .get(key)
            .unwrap()
            .into_iter()
            .map(|v| (v.priority, v.value))
            .collect();
        assert_eq!(&got, values, "{}", s(key));
    }
    let listed: Vec<_> = index.iter().map(Result::unwrap).collect();
    let flat: Vec<_> = expected
        .iter()
        .flat_map(|(k, vs)| {
            vs.iter().map(move |(p, v)| IndexEntry {
                key: k.clone(),
                priority: *p,
                value: v.clone(),
            })
        })
        .collect();
    assert_eq!(listed, flat);
    assert_eq!(
        IndexBuilder::from_index(&index)
            .unwrap()
            .to_bytes()
            .unwrap(),
        bytes
    );
    assert_eq!(index.get(b"not there").unwrap(), vec![]);
    assert_eq!(index.get_first(b"zzzzzz").unwrap(), None);
}

#[test]
fn wildcard_search_is_fnmatch_over_stored_keys() {
    // Whatever kmod's walk order, the set of results is every value whose key matches.
    let mut rng = Lcg(11);
    let alphabet = b"ab*?[]!-";
    let mut builder = IndexBuilder::new();
    let mut keys = Vec::new();
    for i in 0..400 {
        let len = 1 + rng.next() % 6;
        let key: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.next() % alphabet.len()])
            .collect();
        builder
            .insert(&key, format!("m{i}").as_bytes(), (i % 37) as u32)
            .unwrap();
        keys.push((key, format!("m{i}"), (i % 37) as u32));
    }
    let index = Index::from_bytes(builder.to_bytes().unwrap()).unwrap();
    for _ in 0..300 {
        let len = rng.next() % 7;
        let query: Vec<u8> = (0..len).map(|_| b"ab-*"[rng.next() % 4]).collect();
        let got = index.search_wildcard(&query).unwrap();
        let mut got_set: Vec<_> = got.iter().map(|v| s(&v.value)).collect();
        // kmod finds a key twice when the query itself spells a wildcard child (`*`, `?`, `[`)
        // that the exact walk then follows too.
        got_set.sort();
        got_set.dedup();
        let mut want: Vec<_> = keys
            .iter()
            .filter(|(k, _, _)| crate::fnmatch::fnmatch(k, &query) || *k == query)
            .map(|(_, v, _)| v.clone())
            .collect();
        want.sort();
        assert_eq!(got_set, want, "{}", s(&query));
        assert!(got.windows(2).all(|w| w[0].priority <= w[1].priority));
    }
}

#[test]
fn query_bytes_outside_ascii_and_nul() {
    let mut builder = IndexBuilder::new();
    builder.insert(b"abc", b"exact", 1).unwrap();
    builder.insert(b"ab*", b"star", 2).unwrap();
    let index = Index::from_bytes(builder.to_bytes().unwrap()).unwrap();
    // A non-ASCII byte never follows an edge, but a wildcard can match it.
    assert_eq!(index.get(b"ab\xe9").unwrap(), vec![]);
    let found: Vec<_> = index
        .search_wildcard(b"ab\xe9")
        .unwrap()
        .into_iter()
        .map(|v| v.value)
        .collect();
    assert_eq!(found, [b"star".to_vec()]);
    // Like a C string, the key ends at NUL.
    assert_eq!(
        index.get_first(b"abc\0def").unwrap().unwrap().value,
        b"exact"
    );
}

// ---- Writer errors ----

#[test]
fn error_non_ascii() {
    let mut b = IndexBuilder::new();
    assert_eq!(
        b.insert(b"caf\xc3\xa9", b"x", 0),
        Err(IndexError::NonAscii { byte: 0xc3 })
    );
    assert_eq!(
        b.insert(b"key", b"\x80", 0),
        Err(IndexError::NonAscii { byte: 0x80 })
    );
    assert!(b.is_empty());
}

#[test]
fn error_nul_byte() {
    let mut b = IndexBuilder::new();
    assert_eq!(b.insert(b"a\0b", b"x", 0), Err(IndexError::NulByte));
    assert_eq!(b.insert(b"ab", b"x\0", 0), Err(IndexError::NulByte));
}

#[test]
fn bad_bytes_found_at_every_position() {
    // The check reads eight bytes at a time: a bad byte in any lane, or in the tail, is
    // found, and ASCII next to it (0x01, 0x7f) is not mistaken for one.
    for len in 1..20 {
        let mut b = IndexBuilder::without_duplicate_check();
        let plain: Vec<u8> = (0..len).map(|i| [0x01, 0x7f, b'a'][i % 3]).collect();
        assert_eq!(b.insert(&plain, b"v", 0), Ok(false));
        for at in 0..len {
            for (bad, error) in [
                (0u8, IndexError::NulByte),
                (0x80, IndexError::NonAscii { byte: 0x80 }),
                (0xff, IndexError::NonAscii { byte: 0xff }),
            ] {
                let mut key = plain.clone();
                if let Some(byte) = key.get_mut(at) {
                    *byte = bad;
                }
                assert_eq!(b.insert(&key, b"v", 0), Err(error), "len {len} at {at}");
            }
        }
    }
}

#[test]
fn unchecked_builder_writes_the_same_file() {
    let entries: [(&[u8], &[u8], u32); 5] = [
        (b"a", b"x", 1),
        (b"a", b"x", 1),
        (b"ab", b"y", 0),
        (b"b", b"z", 2),
        (b"a", b"w", 0),
    ];
    let mut checked = IndexBuilder::new();
    let mut unchecked = IndexBuilder::without_duplicate_check();
    let found: Vec<bool> = entries
        .iter()
        .map(|&(k, v, p)| checked.insert(k, v, p).unwrap())
        .collect();
    assert_eq!(found, [false, true, false, false, false]);
    for &(k, v, p) in &entries {
        assert_eq!(unchecked.insert(k, v, p), Ok(false));
    }
    assert_eq!(checked.to_bytes().unwrap(), unchecked.to_bytes().unwrap());
}

#[test]
fn error_key_too_long() {
    let mut b = IndexBuilder::new();
    let key = vec![b'k'; MAX_KEY_LEN + 1];
    assert_eq!(
        b.insert(&key, b"x", 0),
        Err(IndexError::KeyTooLong {
            len: MAX_KEY_LEN + 1
        })
    );
    assert!(b.insert(&key[1..], b"x", 0).is_ok());
}

// ---- Reader errors: hand-made files ----

/// A file with the given root word and body (the body starts at offset 12).
fn file(root: u32, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MAGIC.to_be_bytes());
    f.extend_from_slice(&VERSION.to_be_bytes());
    f.extend_from_slice(&root.to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn be(w: u32) -> [u8; 4] {
    w.to_be_bytes()
}

#[test]
fn error_bad_magic() {
    let mut f = file(0, &[]);
    f[3] = 0x58;
    assert_eq!(
        Index::from_bytes(f).unwrap_err(),
        IndexError::BadMagic { found: 0xB007_F458 }
    );
    // The first, version-less format of module-init-tools.
    let old = [0xb0, 0x07, 0xfa, 0x57, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(
        Index::from_bytes(old.to_vec()),
        Err(IndexError::BadMagic { .. })
    ));
}

#[test]
fn error_bad_version() {
    let mut f = file(0, &[]);
    f[4..8].copy_from_slice(&be(0x0001_0001));
    assert_eq!(
        Index::from_bytes(f).unwrap_err(),
        IndexError::BadVersion { found: 0x0001_0001 }
    );
    // Any minor version of major 2 is accepted, as kmod does.
    let mut f = file(0, &[]);
    f[4..8].copy_from_slice(&be(0x0002_0007));
    assert!(Index::from_bytes(f).is_ok());
}

#[test]
fn error_truncated() {
    assert_eq!(
        Index::from_bytes(vec![0xb0, 0x07]).unwrap_err(),
        IndexError::Truncated { offset: 0 }
    );
    assert_eq!(
        Index::from_bytes(file(0, &[])[..10].to_vec()).unwrap_err(),
        IndexError::Truncated { offset: 8 }
    );
    // A prefix with no NUL.
    let f = file(12 | FLAG_PREFIX, b"abc");
    assert_eq!(
        first_lookup(f).unwrap_err(),
        IndexError::Truncated { offset: 12 }
    );
    // A child array running past the end.
    let f = file(12 | FLAG_CHILDREN, &[b'a', b'c', 0, 0]);
    assert_eq!(
        first_lookup(f).unwrap_err(),
        IndexError::Truncated { offset: 14 }
    );
    // A value count the file cannot hold.
    let mut body = be(1000).to_vec();
    body.extend_from_slice(&be(0));
    body.push(0);
    let f = file(12 | FLAG_VALUES, &body);
    assert_eq!(
        first_lookup(f).unwrap_err(),
        IndexError::Truncated { offset: 12 }
    );
    // A value with no NUL, found when the values are read.
    let mut body = be(1).to_vec();
    body.extend_from_slice(&be(0));
    body.extend_from_slice(b"xy");
    let index = Index::from_bytes(file(12 | FLAG_VALUES, &body)).unwrap();
    assert_eq!(
        index.get(b"").unwrap_err(),
        IndexError::Truncated { offset: 20 }
    );
    assert_eq!(
        index.iter().next().unwrap().unwrap_err(),
        IndexError::Truncated { offset: 20 }
    );
}

/// Opens an index and looks a key up: the root node is read then, not at the open.
fn first_lookup(bytes: Vec<u8>) -> Result<(), IndexError> {
    Index::from_bytes(bytes)?.get(b"a").map(drop)
}

#[test]
fn the_root_node_is_read_by_the_first_lookup_not_at_the_open() {
    // As kmod's index_mm_open: only the header is read at the open.
    let f = file(12 | FLAG_PREFIX, b"abc");
    let index = Index::from_bytes(f).unwrap();
    assert_eq!(
        index.get(b"a").unwrap_err(),
        IndexError::Truncated { offset: 12 }
    );
}

#[test]
fn error_offset_out_of_range() {
    // Root past the end.
    let f = file(100 | FLAG_VALUES, &[]);
    assert_eq!(
        Index::from_bytes(f).unwrap_err(),
        IndexError::OffsetOutOfRange { target: 100, at: 8 }
    );
    // A child pointing into the header.
    let mut body = vec![b'a', b'a'];
    body.extend_from_slice(&be(4 | FLAG_VALUES));
    let index = Index::from_bytes(file(12 | FLAG_CHILDREN, &body)).unwrap();
    assert_eq!(
        index.get(b"a").unwrap_err(),
        IndexError::OffsetOutOfRange { target: 4, at: 14 }
    );
    assert!(matches!(
        index.iter().next(),
        Some(Err(IndexError::OffsetOutOfRange { .. }))
    ));
}

#[test]
fn error_bad_child_range() {
    let f = file(12 | FLAG_CHILDREN, &[b'z', b'a', 0, 0, 0, 0]);
    assert_eq!(
        first_lookup(f).unwrap_err(),
        IndexError::BadChildRange {
            offset: 12,
            first: b'z',
            last: b'a'
        }
    );
    let f = file(12 | FLAG_CHILDREN, &[0x80, 0x80, 0, 0, 0, 0]);
    assert!(matches!(
        first_lookup(f),
        Err(IndexError::BadChildRange { .. })
    ));
}

#[test]
fn error_self_reference() {
    // The root's child `a` is the root itself.
    let mut body = vec![b'a', b'a'];
    body.extend_from_slice(&be(12 | FLAG_CHILDREN));
    let index = Index::from_bytes(file(12 | FLAG_CHILDREN, &body)).unwrap();
    assert_eq!(
        index.get(b"aaaa").unwrap_err(),
        IndexError::SelfReference { offset: 12 }
    );
    assert_eq!(
        index.search_wildcard(b"a").unwrap_err(),
        IndexError::SelfReference { offset: 12 }
    );
    let all: Vec<_> = index.iter().collect();
    assert_eq!(all, vec![Err(IndexError::SelfReference { offset: 12 })]);
}

#[test]
fn error_loop() {
    // Node A (root, at 12) has child `a` -> B (at 18); B has child `*` -> A.
    let mut body = vec![b'a', b'a'];
    body.extend_from_slice(&be(18 | FLAG_CHILDREN));
    body.extend_from_slice(b"**");
    body.extend_from_slice(&be(12 | FLAG_CHILDREN));
    let index = Index::from_bytes(file(12 | FLAG_CHILDREN, &body)).unwrap();
    assert!(matches!(
        index.iter().last(),
        Some(Err(IndexError::Loop { .. }))
    ));
    // The wildcard walk skips patterns the key rules out ("*a..." against "bc"), so it meets
    // the loop only when the key leads into it.
    assert!(matches!(
        index.search_wildcard(b"aaa"),
        Err(IndexError::Loop { .. })
    ));
    assert_eq!(index.search_wildcard(b"abc").unwrap(), vec![]);
    // An exact search cannot loop: it consumes the key.
    assert_eq!(index.get(b"a*a*a").unwrap(), vec![]);

    // Sharing without a loop: a chain of nodes whose two children are both the next node.
    // Walking it would take 2^20 steps; the node budget stops it.
    let depth = 20;
    let mut body = Vec::new();
    for i in 0..depth {
        let next = 12 + 10 * (i + 1);
        let flags = if i + 1 == depth {
            FLAG_VALUES
        } else {
            FLAG_CHILDREN
        };
        body.extend_from_slice(b"ab");
        body.extend_from_slice(&be(next | flags));
        body.extend_from_slice(&be(next | flags));
    }
    body.extend_from_slice(&be(1));
    body.extend_from_slice(&be(0));
    body.push(0);
    let index = Index::from_bytes(file(12 | FLAG_CHILDREN, &body)).unwrap();
    assert!(matches!(
        index.iter().last(),
        Some(Err(IndexError::Loop { .. }))
    ));
    assert!(index.search_wildcard(b"*").is_ok());
    let mut star = body.clone();
    star[0] = b'*';
    star[1] = b'*';
    let index = Index::from_bytes(file(12 | FLAG_CHILDREN, &star)).unwrap();
    // A short key rules out the patterns below `*a` and `*b` at once; a key too long for the
    // pruning walk (see index/glob.rs) walks everything, and the node budget stops it.
    assert_eq!(index.search_wildcard(b"x").unwrap(), vec![]);
    assert!(matches!(
        index.search_wildcard(&[b'x'; 300]),
        Err(IndexError::Loop { .. })
    ));
    // The exact walk of a key through the chain is fine.
    let key = vec![b'a'; depth as usize];
    assert_eq!(
        Index::from_bytes(file(12 | FLAG_CHILDREN, &body))
            .unwrap()
            .get(&key)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn error_too_deep() {
    let mut body = vec![b'k'; MAX_KEY_LEN + 1];
    body.push(0);
    body.extend_from_slice(&be(1));
    body.extend_from_slice(&be(0));
    body.push(0);
    let index = Index::from_bytes(file(12 | FLAG_PREFIX | FLAG_VALUES, &body)).unwrap();
    assert_eq!(
        index.iter().next().unwrap().unwrap_err(),
        IndexError::TooDeep { offset: 12 }
    );
    // A wildcard walk of a too-long pattern stops the same way.
    let mut body = vec![b'*'];
    body.extend_from_slice(&vec![b'k'; MAX_KEY_LEN + 1]);
    body.push(0);
    body.extend_from_slice(&be(1));
    body.extend_from_slice(&be(0));
    body.push(0);
    let index = Index::from_bytes(file(12 | FLAG_PREFIX | FLAG_VALUES, &body)).unwrap();
    assert_eq!(
        index.search_wildcard(b"k").unwrap_err(),
        IndexError::TooDeep { offset: 12 }
    );
}

#[test]
fn error_too_large() {
    // A 256 MiB index is too big to build in a unit test; check the word encoder's limit.
    assert_eq!(
        writer::node_word_for_test(OFFSET_MASK as usize + 1),
        Err(IndexError::TooLarge)
    );
    assert_eq!(
        writer::node_word_for_test(OFFSET_MASK as usize),
        Ok(OFFSET_MASK)
    );
}

#[test]
fn corrupted_golden_files_never_panic_or_hang() {
    // Every single-byte change of every golden file: reading may fail, but must return.
    for layout in ["head", "kmod30"] {
        for bin in BINS {
            let original = golden(&format!("{layout}/{bin}"));
            for pos in 0..original.len() {
                for byte in [0x00, 0x0c, 0x2a, 0x7f, 0xff, original[pos] ^ 0x20] {
                    let mut bytes = original.clone();
                    bytes[pos] = byte;
                    let Ok(index) = Index::from_bytes(bytes) else {
                        continue;
                    };
                    let _ = index.iter().count();
                    let _ = index.get(b"alpha");
                    let _ = index.search_wildcard(b"pci:v00001234d00005678sv0sd0bc02sc00i00");
                    let _ = index.search_wildcard(b"crypto-aes");
                }
            }
        }
    }
}

#[test]
fn errors_wrap_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("modules.alias.bin");
    std::fs::write(&path, b"not an index").unwrap();
    match Index::open(&path) {
        Err(crate::Error::Index {
            path: p,
            source: IndexError::BadMagic { .. },
        }) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Index::open(&dir.path().join("missing")),
        Err(crate::Error::Io { .. })
    ));
    assert!(matches!(
        Index::open(dir.path()),
        Err(crate::Error::NotRegularFile { .. })
    ));
    // Regression: a FIFO in an index's place hung the blocking open until a writer came.
    let fifo = dir.path().join("fifo.bin");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    assert!(matches!(
        Index::open(&fifo),
        Err(crate::Error::NotRegularFile {
            directory: false,
            ..
        })
    ));
    std::fs::write(&path, golden("head/modules.dep.bin")).unwrap();
    let index = Index::open(&path).unwrap();
    assert_eq!(index.get_first(b"gamma").unwrap().unwrap().priority, 2);
}

/// The pruning wildcard walk (index/glob.rs) finds exactly what kmod's walk, which matches
/// every pattern of a wildcard subtree with `fnmatch`, finds, in the same order: random
/// patterns over literals, wildcards, brackets and escapes, random keys (with a non-ASCII
/// byte). (kmod's walk is not `fnmatch` over every pattern: the bytes before a pattern's
/// first wildcard are compared literally, escapes included.)
#[test]
fn pruning_wildcard_walk_finds_what_kmods_walk_finds() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n
    };
    let pattern_bytes = b"abc*?*[]!-\\";
    let key_bytes = b"abc[]-\\*\xe9";
    let mut matched = 0;
    for round in 0..40 {
        let mut entries = Vec::new();
        for i in 0..300 {
            let len = 1 + next(8);
            let pattern: Vec<u8> = (0..len)
                .map(|_| pattern_bytes[next(pattern_bytes.len())])
                .collect();
            entries.push((
                pattern,
                format!("m{round}_{i}").into_bytes(),
                next(3) as u32,
            ));
        }
        let index = Index::from_bytes(build(&entries).to_bytes().unwrap()).unwrap();
        for _ in 0..200 {
            let len = next(10);
            let key: Vec<u8> = (0..len).map(|_| key_bytes[next(key_bytes.len())]).collect();
            let expected = index.search_wildcard_unpruned(&key).unwrap();
            let found = index.search_wildcard(&key).unwrap();
            matched += expected.len();
            assert_eq!(found, expected, "key {:?}", String::from_utf8_lossy(&key));
        }
    }
    assert!(
        matched > 10_000,
        "only {matched} values matched: the test is too weak"
    );
}
