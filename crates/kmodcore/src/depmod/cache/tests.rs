//! Unit tests of the module cache: payload round trips, and every way a cache file can be bad.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use crate::depmod::symbols::read_image;

fn key(n: u64) -> FileKey {
    FileKey {
        dev: 1,
        ino: n,
        size: 100 + n,
        mode: 0o100644,
        mtime: (1_000_000, 5),
        ctime: (1_000_001, 7),
    }
}

fn sample() -> ModuleSymbols {
    let mut arena = b"fooaliasbarsoftweak".to_vec();
    arena.extend_from_slice(b"x");
    ModuleSymbols::from_parts(
        Arena::Owned(arena),
        vec![Export {
            name: Span { start: 0, len: 3 },
            crc: 0xdead_beef,
        }],
        Some(vec![Import {
            name: Span { start: 8, len: 3 },
            crc: 7,
            weak: true,
        }]),
        vec![Span { start: 3, len: 5 }],
        vec![Span { start: 11, len: 4 }],
        vec![Span { start: 15, len: 4 }],
    )
}

fn file_with(modules: Vec<(Vec<u8>, Stored)>) -> Vec<u8> {
    let settings = CacheSettings {
        path: PathBuf::from("/nonexistent"),
        write: false,
        create_dir: false,
    };
    PendingCache::new(
        settings,
        CacheOutcome::Missing,
        crate::mmap::FileBytes::Owned(Vec::new()),
        modules,
        true,
    )
    .encode()
}

fn fresh(symbols: &ModuleSymbols, n: u64) -> Stored {
    let mut payload = Vec::new();
    encode_payload(symbols, &mut payload);
    Stored::Fresh {
        key: key(n),
        payload,
    }
}

fn same(a: &ModuleSymbols, b: &ModuleSymbols) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[test]
fn payload_round_trips() {
    let symbols = sample();
    let mut payload = Vec::new();
    encode_payload(&symbols, &mut payload);
    assert!(same(&decode_payload(&payload).unwrap(), &symbols));
    let none = ModuleSymbols::default();
    let mut payload = Vec::new();
    encode_payload(&none, &mut payload);
    assert!(same(&decode_payload(&payload).unwrap(), &none));
}

#[test]
fn a_file_round_trips_and_answers_only_its_key() {
    let bytes = file_with(vec![(b"/m/a.ko".to_vec(), fresh(&sample(), 1))]);
    let entries = Entries::decode(&bytes, &identity()).unwrap();
    assert_eq!(entries.len(), 1);
    let (got, _) = entries.get(b"/m/a.ko", &key(1)).unwrap();
    assert!(same(&got, &sample()));
    assert!(entries.get(b"/m/a.ko", &key(2)).is_none());
    let mut newer = key(1);
    newer.ctime.1 += 1;
    assert!(entries.get(b"/m/a.ko", &newer).is_none());
    assert!(entries.get(b"/m/b.ko", &key(1)).is_none());
}

/// The names, symbols and lists of an extract, wherever its arena lives.
fn content(m: &ModuleSymbols) -> String {
    let names =
        |spans: &[Span]| -> Vec<Vec<u8>> { spans.iter().map(|&s| m.get(s).to_vec()).collect() };
    let exports: Vec<(Vec<u8>, u64)> = m
        .exports
        .iter()
        .map(|e| (m.get(e.name).to_vec(), e.crc))
        .collect();
    let imports: Option<Vec<(Vec<u8>, u64, bool)>> = m.imports.as_ref().map(|i| {
        i.iter()
            .map(|i| (m.get(i.name).to_vec(), i.crc, i.weak))
            .collect()
    });
    format!(
        "{:?} {exports:?} {imports:?} {:?} {:?} {:?}",
        m.arena(),
        names(&m.aliases),
        names(&m.softdeps),
        names(&m.weakdeps)
    )
}

#[test]
fn shared_extracts_read_their_names_in_the_file() {
    let bytes = file_with(vec![
        (b"/m/a.ko".to_vec(), fresh(&sample(), 1)),
        (b"/m/b.ko".to_vec(), fresh(&ModuleSymbols::default(), 2)),
    ]);
    let whole = Arc::new(FileBytes::Owned(bytes));
    let entries = Entries::decode_shared(&whole, &identity()).unwrap();
    let (a, _) = entries.get(b"/m/a.ko", &key(1)).unwrap();
    assert_eq!(content(&a), content(&sample()));
    let (b, _) = entries.get(b"/m/b.ko", &key(2)).unwrap();
    assert_eq!(content(&b), content(&ModuleSymbols::default()));
    drop(entries);
    // The extracts keep the file's bytes alive.
    drop(whole);
    assert_eq!(content(&a), content(&sample()));
}

/// An entry encoded from a kept extract when the file is written is the same bytes as one
/// encoded up front.
#[test]
fn extracted_entries_write_the_same_bytes_as_fresh_ones() {
    let settings = CacheSettings {
        path: PathBuf::from("/nonexistent"),
        write: false,
        create_dir: false,
    };
    let mut pending = PendingCache::new(
        settings,
        CacheOutcome::Missing,
        crate::mmap::FileBytes::Owned(Vec::new()),
        vec![
            (b"/m/a.ko".to_vec(), Stored::Extracted { key: key(1) }),
            (b"/m/s.ko".to_vec(), Stored::Skip),
            (b"/m/b.ko".to_vec(), Stored::Extracted { key: key(2) }),
        ],
        true,
    );
    pending.keep_extracts(vec![
        sample(),
        ModuleSymbols::default(),
        ModuleSymbols::default(),
    ]);
    let expected = file_with(vec![
        (b"/m/a.ko".to_vec(), fresh(&sample(), 1)),
        (b"/m/b.ko".to_vec(), fresh(&ModuleSymbols::default(), 2)),
    ]);
    assert_eq!(pending.encode(), expected);
    let mut streamed = Vec::new();
    pending.write_to(&mut streamed).unwrap();
    assert_eq!(streamed, expected);
}

#[test]
fn a_changed_byte_anywhere_is_a_bad_checksum() {
    let bytes = file_with(vec![(b"/m/a.ko".to_vec(), fresh(&sample(), 1))]);
    for at in MAGIC.len()..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x40;
        assert!(
            matches!(
                Entries::decode(&damaged, &identity()),
                Err(CacheProblem::Corrupt { .. })
            ),
            "byte {at}"
        );
    }
}

#[test]
fn every_truncation_is_refused() {
    let bytes = file_with(vec![(b"/m/a.ko".to_vec(), fresh(&sample(), 1))]);
    for len in 0..bytes.len() {
        assert!(
            Entries::decode(&bytes[..len], &identity()).is_err(),
            "{len}"
        );
    }
}

#[test]
fn another_build_or_program_is_foreign() {
    let bytes = file_with(vec![(b"/m/a.ko".to_vec(), fresh(&sample(), 1))]);
    assert_eq!(
        Entries::decode(&bytes, "kmodcore 0.0.0 extract 0").unwrap_err(),
        CacheProblem::Foreign
    );
    assert_eq!(
        Entries::decode(b"something else entirely", &identity()).unwrap_err(),
        CacheProblem::Foreign
    );
}

/// A file with a valid checksum around hostile contents.
fn sealed(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn header(count: u32) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let id = identity();
    out.extend_from_slice(&(id.len() as u32).to_le_bytes());
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out
}

#[test]
fn hostile_counts_and_lengths_are_refused_without_allocating() {
    let huge = sealed(&header(u32::MAX));
    assert!(matches!(
        Entries::decode(&huge, &identity()),
        Err(CacheProblem::Corrupt { .. })
    ));
    let mut long_path = header(1);
    long_path.extend_from_slice(&u32::MAX.to_le_bytes());
    long_path.extend_from_slice(&[0; 60]);
    assert!(Entries::decode(&sealed(&long_path), &identity()).is_err());
    let mut twice = header(2);
    for _ in 0..2 {
        twice.extend_from_slice(&1u32.to_le_bytes());
        twice.push(b'a');
        key(1).encode(&mut twice);
        twice.extend_from_slice(&0u32.to_le_bytes());
    }
    assert!(Entries::decode(&sealed(&twice), &identity()).is_err());
}

#[test]
fn hostile_payloads_are_misses() {
    // A span past its arena, a huge count, a bad flag: each decodes to nothing.
    let mut span = Vec::new();
    span.extend_from_slice(&2u32.to_le_bytes());
    span.extend_from_slice(b"ab");
    span.extend_from_slice(&1u32.to_le_bytes());
    span.extend_from_slice(&1u32.to_le_bytes());
    span.extend_from_slice(&5u32.to_le_bytes());
    span.extend_from_slice(&0u64.to_le_bytes());
    span.push(0);
    span.extend_from_slice(&[0; 12]);
    assert!(decode_payload(&span).is_err());
    let mut count = 0u32.to_le_bytes().to_vec();
    count.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode_payload(&count).is_err());
    let mut flag = 0u32.to_le_bytes().to_vec();
    flag.extend_from_slice(&0u32.to_le_bytes());
    flag.push(9);
    assert!(decode_payload(&flag).is_err());
    let bytes = file_with(vec![(
        b"/m/a.ko".to_vec(),
        Stored::Fresh {
            key: key(1),
            payload: span,
        },
    )]);
    let entries = Entries::decode(&bytes, &identity()).unwrap();
    assert!(entries.get(b"/m/a.ko", &key(1)).is_none());
}

#[test]
fn only_files_older_than_the_settling_time_are_kept() {
    let start = 1_000_010;
    let mut k = key(1);
    assert!(k.settled(start));
    k.ctime.0 = start - SETTLE_SECONDS;
    assert!(!k.settled(start));
    k.ctime.0 = start;
    assert!(!k.settled(start));
}

#[test]
fn a_real_extract_round_trips() {
    // Not an ELF file: the extract carries a load error, and such extracts are never
    // stored; a default one round trips.
    let failed = read_image(b"not an elf file at all");
    assert!(failed.load_error.is_some());
}
