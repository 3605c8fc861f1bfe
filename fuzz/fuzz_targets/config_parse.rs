//! The modprobe.d and depmod.d parsers on arbitrary file contents.
#![no_main]

use std::path::Path;

use kmodcore::config::Config;
use kmodcore::depmod::config::DepmodConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut warnings = Vec::new();
    let mut config = Config::new();
    config.add_file(Path::new("fuzz.conf"), data, &mut warnings);
    let _ = config.render_modprobe_c();
    let _ = config.aliases_matching(b"pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00");
    let _ = config.softdeps_for(b"usb_storage");
    let mut diagnostics = Vec::new();
    let mut depmod = DepmodConfig::default();
    depmod.parse(Path::new("fuzz.conf"), data, b"6.1.0-47-amd64", &mut diagnostics);
});
