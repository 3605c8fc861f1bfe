//! Every input under `fuzz/regressions/TARGET/` replayed through the kmodcore calls of
//! `fuzz/fuzz_targets/TARGET.rs`, without libFuzzer, so that a crash found once stays a test
//! forever (gimli's `tests/read/elf.rs` habit).
//!
//! Each target's body is written out again below with [`replay!`], and
//! [`replays_are_the_fuzz_targets`] checks it against the target's source token for token, so
//! the two cannot drift apart. An input fails when it panics (the targets' own assertions
//! included) or runs longer than [`TIME_LIMIT`]. The seeds, and how to add a crash, are
//! described in `fuzz/regressions/README.md`.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest one input may run. libFuzzer's `-timeout` in scripts/fuzz.sh is 10 s for an
/// optimised build; this is a debug build, on a machine shared with other tests.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// `replay!(name { items } |data: &[u8]| { body })` defines module `name` with the target's
/// items, `run(data)` with its body, and `SOURCE`, the tokens of both, for the comparison.
macro_rules! replay {
    ($name:ident { $($items:tt)* } |$data:ident: &[u8]| { $($body:tt)* }) => {
        mod $name {
            $($items)*

            pub fn run($data: &[u8]) {
                $($body)*
            }

            pub const SOURCE: &str =
                stringify!($($items)* fuzz_target!(|$data: &[u8]| { $($body)* }););
        }
    };
}

replay!(elf_modinfo {
    use kmodcore::module::elf::ElfModule;
    use kmodcore::module::info::module_info;
} |data: &[u8]| {
    if let Ok(elf) = ElfModule::parse(data) {
        let _ = module_info(&elf, data);
        let _ = elf.versions();
        let _ = elf.ksymtab_strings();
        let _ = elf.this_module_name();
        let _ = elf.symbols();
    }
    let _ = kmodcore::module::signature::read_signature(data);
});

replay!(decompress {
    use kmodcore::module::compression::decompress_bytes;
    const CAP: u64 = 8 * 1024 * 1024;
} |data: &[u8]| {
    if let Ok(out) = decompress_bytes(data, CAP) {
        assert!(out.len() as u64 <= CAP);
    }
});

replay!(index_read {
    use kmodcore::index::Index;
} |data: &[u8]| {
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

replay!(index_roundtrip {
    use kmodcore::index::{Index, IndexBuilder};
} |data: &[u8]| {
    let mut builder = IndexBuilder::new();
    let mut inserted: Vec<(Vec<u8>, Vec<u8>, u32)> = Vec::new();
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

replay!(config_parse {
    use std::path::Path;

    use kmodcore::config::Config;
    use kmodcore::depmod::config::DepmodConfig;
} |data: &[u8]| {
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

replay!(cmdline_parse {
    use kmodcore::config::Config;
} |data: &[u8]| {
    let mut warnings = Vec::new();
    let mut config = Config::new();
    config.add_kernel_cmdline(data, &mut warnings);
    let _ = config.render_modprobe_c();
});

replay!(proc_modules {
    use kmodcore::kernel::sysfs::parse_proc_modules;
} |data: &[u8]| {
    let _ = parse_proc_modules(data);
});

replay!(alias_match {
    use kmodcore::fnmatch::fnmatch;
    use kmodcore::modname::normalize_alias;
} |data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (pattern, text) = data.split_at(split);
    let text = text.get(1..).unwrap_or_default();
    let _ = fnmatch(pattern, text);
    if let Some(normal) = normalize_alias(pattern) {
        let _ = fnmatch(&normal, text);
    }
});

replay!(libkmod_api {
    #![allow(unsafe_code)]
} |data: &[u8]| {
    use kmod::ctx::*;
    use kmod::module::*;
    use kmod::module_file::*;
    use std::ffi::CString;
    use std::ptr;
    let before = kmod::caught_panics();
    // Five parts, each after its length (u16, little-endian) in a 10-byte header: the query, a
    // configuration file, modules.dep.bin, modules.alias.bin, modules.symbols.bin; the rest is
    // a module file.
    let (header, mut rest) = data.split_at(data.len().min(10));
    let mut lengths = header
        .chunks(2)
        .map(|pair| usize::from(pair[0]) | usize::from(*pair.get(1).unwrap_or(&0)) << 8);
    let mut part = move || {
        let (taken, left) = match lengths.next() {
            Some(len) => rest.split_at(len.min(rest.len())),
            None => (rest, &[][..]),
        };
        rest = left;
        taken
    };
    let query = part();
    let query = CString::new(query.split(|&b| b == 0).next().unwrap_or_default()).unwrap();
    let dir = std::env::temp_dir().join(format!("rkmod-fuzz-libkmod-{}", std::process::id()));
    let conf = dir.join("modprobe.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("fuzz.conf"), part()).unwrap();
    for name in ["modules.dep.bin", "modules.alias.bin", "modules.symbols.bin"] {
        std::fs::write(dir.join(name), part()).unwrap();
    }
    let module_path = dir.join("m.ko");
    std::fs::write(&module_path, part()).unwrap();
    let dirname = CString::new(dir.to_str().unwrap()).unwrap();
    let conf_name = CString::new(conf.to_str().unwrap()).unwrap();
    let module_name = CString::new(module_path.to_str().unwrap()).unwrap();
    let config = [conf_name.as_ptr(), ptr::null()];
    unsafe {
        let ctx = kmod_new(dirname.as_ptr(), config.as_ptr());
        assert!(!ctx.is_null());
        kmod_set_log_priority(ctx, 0);
        let _ = kmod_load_resources(ctx);
        let _ = kmod_validate_resources(ctx);
        let mut modules = Vec::new();
        let mut list = ptr::null_mut();
        let _ = kmod_module_new_from_lookup(ctx, query.as_ptr(), &mut list);
        for data in kmod::list::items(list) {
            modules.push(kmod_module_ref(data.cast()));
        }
        kmod_module_unref_list(list);
        type New = unsafe extern "C" fn(
            *mut Ctx,
            *const std::ffi::c_char,
            *mut *mut Module,
        ) -> std::ffi::c_int;
        let makers: [New; 2] = [kmod_module_new_from_name, kmod_module_new_from_name_lookup];
        for make in makers {
            let mut m = ptr::null_mut();
            if make(ctx, query.as_ptr(), &mut m) == 0 && !m.is_null() {
                modules.push(m);
            }
        }
        let mut m = ptr::null_mut();
        if kmod_module_new_from_path(ctx, module_name.as_ptr(), &mut m) == 0 && !m.is_null() {
            modules.push(m);
        }
        for &m in &modules {
            let _ = kmod_module_get_path(m);
            let _ = kmod_module_get_options(m);
            let _ = kmod_module_get_install_commands(m);
            let _ = kmod_module_get_remove_commands(m);
            kmod_module_unref_list(kmod_module_get_dependencies(m));
            let (mut pre, mut post, mut weak) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
            let _ = kmod_module_get_softdeps(m, &mut pre, &mut post);
            kmod_module_unref_list(pre);
            kmod_module_unref_list(post);
            let _ = kmod_module_get_weakdeps(m, &mut weak);
            kmod_module_unref_list(weak);
            let mut info = ptr::null_mut();
            let _ = kmod_module_get_info(m, &mut info);
            kmod_module_info_free_list(info);
            let mut versions = ptr::null_mut();
            let _ = kmod_module_get_versions(m, &mut versions);
            kmod_module_versions_free_list(versions);
            let mut symbols = ptr::null_mut();
            let _ = kmod_module_get_symbols(m, &mut symbols);
            kmod_module_symbols_free_list(symbols);
            let mut needed = ptr::null_mut();
            let _ = kmod_module_get_dependency_symbols(m, &mut needed);
            kmod_module_dependency_symbols_free_list(needed);
            // KMOD_PROBE_DRY_RUN always, with and without the blacklist flags.
            for flags in [0x10, 0x10 | 0x20000, 0x10 | 0x10000 | 0x4] {
                let _ = kmod_module_probe_insert_module(
                    m,
                    flags,
                    query.as_ptr(),
                    None,
                    ptr::null(),
                    None,
                );
            }
        }
        for m in modules {
            kmod_module_unref(m);
        }
        let sink = std::fs::File::options().write(true).open("/dev/null").unwrap();
        for index in 0..5 {
            let _ = kmod_dump_index(ctx, index, std::os::fd::AsRawFd::as_raw_fd(&sink));
        }
        kmod_unload_resources(ctx);
        assert!(kmod_unref(ctx).is_null());
    }
    assert_eq!(kmod::caught_panics(), before, "the library caught a panic");
});

/// Every target: its name, its replay and the replay's tokens.
type Target = (&'static str, fn(&[u8]), &'static str);

replay!(verify_signature {
    use kmodcore::module::verify::{verify, CertificateSet};
} |data: &[u8]| {
    let (head, rest) = data.split_at(data.len().min(2));
    let cert_len = match head {
        [a, b] => usize::from(u16::from_be_bytes([*a, *b])),
        _ => 0,
    };
    let (cert_file, module) = rest.split_at(rest.len().min(cert_len));
    let mut certs = CertificateSet::new();
    let _ = certs.add_bytes(cert_file);
    let verdict = verify(module, &certs);
    if certs.is_empty() {
        assert!(!verdict.is_valid());
    }
});

const TARGETS: &[Target] = &[
    ("elf_modinfo", elf_modinfo::run, elf_modinfo::SOURCE),
    ("decompress", decompress::run, decompress::SOURCE),
    ("index_read", index_read::run, index_read::SOURCE),
    (
        "index_roundtrip",
        index_roundtrip::run,
        index_roundtrip::SOURCE,
    ),
    ("config_parse", config_parse::run, config_parse::SOURCE),
    ("cmdline_parse", cmdline_parse::run, cmdline_parse::SOURCE),
    ("proc_modules", proc_modules::run, proc_modules::SOURCE),
    ("alias_match", alias_match::run, alias_match::SOURCE),
    ("libkmod_api", libkmod_api::run, libkmod_api::SOURCE),
    (
        "verify_signature",
        verify_signature::run,
        verify_signature::SOURCE,
    ),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Source text with comments, whitespace, `#![no_main]` and the libfuzzer import removed.
fn normalise(source: &str) -> String {
    let code: String = source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect();
    code.replace("#![no_main]", "")
        .replace("use libfuzzer_sys::fuzz_target;", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The replays are the fuzz targets: same items, same body, token for token; and every
/// target has a replay.
#[test]
fn replays_are_the_fuzz_targets() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".rs").map(str::to_string))
        .collect();
    on_disk.sort();
    let mut replayed: Vec<String> = TARGETS.iter().map(|t| t.0.to_string()).collect();
    replayed.sort();
    assert_eq!(
        on_disk, replayed,
        "every fuzz target needs a replay here, and only those"
    );
    for (name, _, tokens) in TARGETS {
        let path = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let source = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            normalise(&source),
            normalise(tokens),
            "the replay of {name} differs from {}: copy the target's body into replay!",
            path.display()
        );
    }
}

/// Runs `run(data)` on a thread; `Err` says how it failed.
fn replay_one(run: fn(&[u8]), data: Vec<u8>) -> Result<Duration, String> {
    let (done, wait) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        run(&data);
        let _ = done.send(());
    });
    match wait.recv_timeout(TIME_LIMIT) {
        Ok(()) => Ok(started.elapsed()),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("still running after {TIME_LIMIT:?}")),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("panicked (see above)".into()),
    }
}

/// Every kept input of every target ends without a panic or a hang.
#[test]
fn every_kept_input_replays_cleanly() {
    let root = fuzz_dir().join("regressions");
    // Every directory is a target's (a typo would silently keep nothing).
    for entry in std::fs::read_dir(&root).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|t| t.0 == name),
                "fuzz/regressions/{name} is not a fuzz target"
            );
        }
    }
    let mut failures = Vec::new();
    let mut count = 0;
    let mut slowest = (Duration::ZERO, PathBuf::new());
    for (name, run, _) in TARGETS {
        let dir = root.join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target keeps its seeds)", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no inputs", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            count += 1;
            match replay_one(*run, data) {
                Ok(took) if took > slowest.0 => slowest = (took, file),
                Ok(_) => {}
                Err(why) => failures.push(format!("{}: {why}", file.display())),
            }
        }
    }
    eprintln!(
        "replayed {count} inputs; slowest {:?} ({})",
        slowest.0,
        slowest.1.display()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
