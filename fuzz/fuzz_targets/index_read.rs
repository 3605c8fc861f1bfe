//! The binary index reader: every query on a hostile `.bin` file ends in a value or an error,
//! never a panic, a hang or unbounded memory.
#![no_main]

use kmodcore::index::Index;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a query length; the rest is the index.
    let (query_len, bytes) = match data.split_first() {
        Some((&n, rest)) => (usize::from(n % 64), rest),
        None => return,
    };
    let query: Vec<u8> = bytes.iter().rev().take(query_len).copied().collect();
    if let Ok(index) = Index::from_bytes(bytes) {
        let _ = index.get(&query);
        let _ = index.get_first(&query);
        let _ = index.search_wildcard(&query);
        for entry in index.iter().take(10_000) {
            let _ = entry;
        }
    }
});
