//! Regenerates the binary-index golden files in `testdata/index/` (see its README).
//!
//! The unit tests of `kmodcore::index` check the reader and the writer against those files
//! anywhere, without kmod. This test rebuilds them, and does nothing unless
//! `RKMOD_REGEN_INDEX_GOLDEN=1` is set:
//!
//! ```text
//! RKMOD_REGEN_INDEX_GOLDEN=1 RKMOD_KMOD_HEAD=/path/to/kmod-head/build \
//!     cargo test -p kmodcore --test index_golden -- --nocapture
//! ```
//!
//! `RKMOD_KMOD_HEAD` names a directory holding `depmod` and `modprobe` built from kmod's
//! development head; `RKMOD_KMOD30` (default `/usr/sbin`) holds Debian 12's kmod 30. The test
//! writes a handful of synthetic modules (their `.modinfo` aliases, exports and imports are
//! listed below) into a temporary tree, indexes a copy with each depmod, and records what
//! kmod head's `modprobe --resolve-alias` and `modprobe --showconfig` print. It fails if kmod 30
//! answers differently or writes different text indexes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::write::{Object, StandardSection, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

const KVER: &str = "0.0.0-golden";

/// A synthetic module: path, name, aliases, exports, imports.
struct Module {
    path: &'static str,
    name: &'static str,
    aliases: &'static [&'static str],
    exports: &'static [&'static str],
    imports: &'static [&'static str],
}

/// Overlapping wildcard aliases across modules (so results mix priorities), a key shared by
/// three modules, an alias repeated within one module, `?`, `[...]` and `[!...]` patterns, a
/// key starting with `*`, dashes that depmod normalises, and a dependency chain through
/// exported symbols.
const MODULES: &[Module] = &[
    Module {
        path: "kernel/drivers/alpha.ko",
        name: "alpha",
        aliases: &[
            "pci:v00001234d*sv*sd*bc*sc*i*",
            "foo-bar",
            "dup-alias",
            "usb:v0BDAp8[0-9]??d*",
        ],
        exports: &["alpha_sym", "shared_helper"],
        imports: &[],
    },
    Module {
        path: "kernel/drivers/beta-two.ko",
        name: "beta_two",
        aliases: &[
            "pci:v00001234d00005678sv*sd*bc*sc*i*",
            "pci:v*d*sv*sd*bc02sc00i*",
            "dup-alias",
            "acpi*:ABC0001:*",
            "usb:v0BDAp81??d*",
        ],
        exports: &["beta_sym"],
        imports: &["alpha_sym"],
    },
    Module {
        path: "kernel/drivers/sub/gamma.ko",
        name: "gamma",
        aliases: &[
            "pci:v00001234d*sv*sd*bc*sc*i*",
            "platform:gamma-dev",
            "gamma?",
            "gam*",
            "sc[!0-9]x",
        ],
        exports: &[],
        imports: &["beta_sym", "shared_helper"],
    },
    Module {
        path: "kernel/drivers/delta.ko",
        name: "delta",
        aliases: &[
            "of:N*T*Cvendor,delta*",
            "dup-alias",
            "delta-x",
            "delta-x",
            "*-zz",
        ],
        exports: &["delta_sym"],
        imports: &[],
    },
];

/// modules.order lists three modules, not in path order; delta comes last, unlisted.
const ORDER: &str =
    "kernel/drivers/beta-two.ko\nkernel/drivers/alpha.ko\nkernel/drivers/sub/gamma.ko\n";

const BUILTIN: &str = "kernel/fs/ext4/ext4.ko\nkernel/crypto/aes_generic.ko\nkernel/lib/crc-t10dif.ko\nkernel/crypto/crypto-null.ko\n";

/// modules.builtin.modinfo records: builtin aliases all have priority 0, so overlapping ones
/// show the order kmod gives equal priorities.
const BUILTIN_MODINFO: &[&str] = &[
    "ext4.alias=fs-ext4",
    "ext4.license=GPL",
    "ext4.alias=ext3",
    "ext4.alias=fs-ext?",
    "aes_generic.alias=crypto-aes",
    "aes_generic.alias=aes*",
    "aes_generic.description=AES",
    "crc_t10dif.alias=crypto-*",
    "crc_t10dif.alias=crc-t10dif",
    "crypto_null.alias=crypto-[a-c]*",
    "crypto_null.alias=crypto-aes",
];

/// Strings given to `modprobe --resolve-alias`. The first answer from alias.bin; the last
/// ones match nothing there and fall through to builtin.alias.bin.
const QUERIES: &[&str] = &[
    "pci:v00001234d00005678sv00001111sd00002222bc02sc00i00",
    "pci:v00001234d00000001sv0sd0bc03sc00i00",
    "pci:v00009999d00000001sv0sd0bc02sc00i05",
    "dup-alias",
    "usb:v0BDAp8179d0000",
    "usb:v0BDAp8A79d0000",
    "gamma1",
    "gam",
    "gam*",
    "scax",
    "sc1x",
    "delta-x",
    "acpi:ABC0001:",
    "acpiX:ABC0001:PNP",
    "acpi:ABC0002:",
    "of:NfooTbarCvendor,delta-v2",
    "abc-zz",
    "-zz",
    "platform:gamma-dev",
    "foo_bar",
    "crypto-aes",
    "aes128",
    "fs-ext4",
    "crypto-sha",
    "crypto-b",
    "crypto-*",
    "ext3",
    "zzz",
];

const BINS: [&str; 5] = [
    "modules.dep.bin",
    "modules.alias.bin",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
];

/// Writes `module` as a relocatable x86-64 ELF object with the sections depmod reads.
fn module_elf(module: &Module) -> Vec<u8> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let text = obj.section_id(StandardSection::Text);
    obj.append_section_data(text, &[0xc3], 16);
    let mut modinfo = Vec::new();
    for alias in module.aliases {
        modinfo.extend_from_slice(format!("alias={alias}\0").as_bytes());
    }
    modinfo.extend_from_slice(b"license=GPL\0");
    let section = obj.add_section(Vec::new(), b".modinfo".to_vec(), SectionKind::ReadOnlyData);
    obj.append_section_data(section, &modinfo, 1);
    if !module.exports.is_empty() {
        let mut strings = Vec::new();
        for (crc, name) in (1u64..).zip(module.exports) {
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            obj.add_symbol(Symbol {
                name: format!("__crc_{name}").into_bytes(),
                value: crc,
                size: 0,
                kind: SymbolKind::Data,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Absolute,
                flags: SymbolFlags::None,
            });
        }
        let section = obj.add_section(
            Vec::new(),
            b"__ksymtab_strings".to_vec(),
            SectionKind::ReadOnlyString,
        );
        obj.append_section_data(section, &strings, 1);
    }
    for name in module.imports {
        obj.add_symbol(Symbol {
            name: name.as_bytes().to_vec(),
            value: 0,
            size: 0,
            kind: SymbolKind::Unknown,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Undefined,
            flags: SymbolFlags::None,
        });
    }
    obj.write().unwrap()
}

fn write_tree(root: &Path) {
    let dir = root.join("lib/modules").join(KVER);
    for module in MODULES {
        let path = dir.join(module.path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, module_elf(module)).unwrap();
    }
    fs::write(dir.join("modules.order"), ORDER).unwrap();
    fs::write(dir.join("modules.builtin"), BUILTIN).unwrap();
    let modinfo: Vec<u8> = BUILTIN_MODINFO
        .iter()
        .flat_map(|r| r.bytes().chain([0]))
        .collect();
    fs::write(dir.join("modules.builtin.modinfo"), modinfo).unwrap();
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    out.stdout
}

fn depmod(bin: &Path, root: &Path) {
    let status = Command::new(bin.join("depmod"))
        .arg("-b")
        .arg(root)
        .arg(KVER)
        .status()
        .unwrap();
    assert!(status.success(), "{} failed", bin.display());
}

fn resolve(bin: &Path, root: &Path, query: &str) -> Vec<u8> {
    run(Command::new(bin.join("modprobe"))
        .args(["-C", "/nonexistent", "-d"])
        .arg(root)
        .args(["-S", KVER, "-R", "--", query]))
}

fn showconfig(bin: &Path, root: &Path) -> Vec<u8> {
    let out = run(Command::new(bin.join("modprobe"))
        .args(["-C", "/nonexistent", "-d"])
        .arg(root)
        .args(["-S", KVER, "-c"]));
    let marker = b"# End of configuration files. Dumping indexes now:\n\n";
    let at = out
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("no dump marker");
    out[at + marker.len()..].to_vec()
}

#[test]
fn regenerate_index_golden_files() {
    if std::env::var_os("RKMOD_REGEN_INDEX_GOLDEN").is_none() {
        eprintln!(
            "not regenerating testdata/index (set RKMOD_REGEN_INDEX_GOLDEN=1 and RKMOD_KMOD_HEAD)"
        );
        return;
    }
    let head = PathBuf::from(std::env::var_os("RKMOD_KMOD_HEAD").expect("RKMOD_KMOD_HEAD"));
    let kmod30 =
        PathBuf::from(std::env::var_os("RKMOD_KMOD30").unwrap_or_else(|| "/usr/sbin".into()));
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/index");
    let tmp = tempfile::tempdir().unwrap();
    let (head_root, old_root) = (tmp.path().join("head"), tmp.path().join("kmod30"));
    write_tree(&head_root);
    write_tree(&old_root);
    depmod(&head, &head_root);
    depmod(&kmod30, &old_root);
    let head_dir = head_root.join("lib/modules").join(KVER);
    let old_dir = old_root.join("lib/modules").join(KVER);

    for sub in ["modules", "head", "kmod30"] {
        fs::create_dir_all(out.join(sub)).unwrap();
    }
    for text in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
        "modules.dep",
        "modules.alias",
        "modules.symbols",
    ] {
        let bytes = fs::read(head_dir.join(text)).unwrap();
        assert_eq!(
            bytes,
            fs::read(old_dir.join(text)).unwrap(),
            "kmod 30 wrote another {text}"
        );
        fs::write(out.join("modules").join(text), bytes).unwrap();
    }
    for bin in BINS {
        fs::copy(head_dir.join(bin), out.join("head").join(bin)).unwrap();
        fs::copy(old_dir.join(bin), out.join("kmod30").join(bin)).unwrap();
    }

    let mut resolved = String::from(
        "# QUERY<TAB>what `modprobe -C /nonexistent -R QUERY` printed (kmod head; kmod 30 agrees),\n\
         # one module per line joined by spaces. Empty: nothing found.\n",
    );
    for query in QUERIES {
        let answer = resolve(&head, &head_root, query);
        assert_eq!(
            answer,
            resolve(&kmod30, &old_root, query),
            "kmod 30 resolves {query} differently"
        );
        let names: Vec<String> = String::from_utf8(answer)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        resolved.push_str(&format!("{query}\t{}\n", names.join(" ")));
    }
    fs::write(out.join("resolve.txt"), resolved).unwrap();

    let dump = showconfig(&head, &head_root);
    assert_eq!(
        dump,
        showconfig(&kmod30, &old_root),
        "kmod 30 dumps differently"
    );
    fs::write(out.join("showconfig.txt"), dump).unwrap();
    eprintln!("regenerated {}", out.display());
}

/// The fixture's module names are what depmod derives from the file names (dashes become
/// underscores), so the golden files' expectations and the tree agree.
#[test]
fn fixture_names_match_file_names() {
    for module in MODULES {
        let stem = Path::new(module.path)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert_eq!(stem.replace('-', "_"), module.name, "{}", module.path);
    }
}
