//! The kernel command line parser (`modprobe.blacklist=`, `MOD.param=value`, quoting).
#![no_main]

use kmodcore::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut warnings = Vec::new();
    let mut config = Config::new();
    config.add_kernel_cmdline(data, &mut warnings);
    let _ = config.render_modprobe_c();
});
