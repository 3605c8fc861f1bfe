//! Writer and reader together: whatever (key, value, priority) triples go in come back out of
//! the written index, each key with its values in priority order.
#![no_main]

use kmodcore::index::{Index, IndexBuilder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut builder = IndexBuilder::new();
    let mut inserted: Vec<(Vec<u8>, Vec<u8>, u32)> = Vec::new();
    // Records: key NUL value NUL priority-byte.
    let mut parts = data.split(|&b| b == 0);
    while let (Some(key), Some(value), Some(prio)) = (parts.next(), parts.next(), parts.next()) {
        if key.is_empty() || inserted.len() > 200 {
            break;
        }
        let priority = u32::from(prio.first().copied().unwrap_or(0));
        if builder.insert(key, value, priority).is_ok() {
            inserted.push((key.to_vec(), value.to_vec(), priority));
        }
    }
    let Ok(bytes) = builder.to_bytes() else { return };
    let index = Index::from_bytes(bytes.as_slice()).expect("our own index reads back");
    for (key, value, _) in &inserted {
        let values = index.get(key).expect("lookup in our own index");
        assert!(values.iter().any(|v| &v.value == value), "value lost for a key");
        assert!(values.windows(2).all(|w| w[0].priority <= w[1].priority), "priority order");
    }
});
