//! The /proc/modules parser.
#![no_main]

use kmodcore::kernel::sysfs::parse_proc_modules;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_proc_modules(data);
});
