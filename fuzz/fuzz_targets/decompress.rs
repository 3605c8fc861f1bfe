//! Each decompressor, with its output cap: truncated, corrupt and bomb-like streams must end in
//! an error or a bounded output, never a crash or unbounded memory.
#![no_main]

use kmodcore::module::compression::decompress_bytes;
use libfuzzer_sys::fuzz_target;

/// The cap used while fuzzing: small enough that a bomb is caught quickly.
const CAP: u64 = 8 * 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = decompress_bytes(data, CAP) {
        assert!(out.len() as u64 <= CAP);
    }
});
