//! `modinfo --verify` on real modules: copies of Debian's modules signed at test time by the
//! kernel's own `scripts/sign-file` with fresh keys, and Debian's signed 6.1 tree against the
//! certificate built into its kernel image.
//!
//! Prerequisites (a loud skip when missing, a failure under CI): openssl, xz, gzip and zstd;
//! the kernel's sign-file, which is either built here from `scripts/sign-file.c` when a
//! linux-headers package ships the source, or Debian's own build of it from linux-kbuild-6.1
//! (what `linux-headers-6.1.0-47-amd64` installs: Debian ships the binary, built against
//! OpenSSL 3, and not the source); the real trees; and for the last test, Debian's signed
//! package `linux-image-6.1.0-47-amd64` unpacked by scripts/real-trees.sh.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util::*;

/// The end of a signed module: `module_signature` (12 bytes) and the 28-byte magic.
const MAGIC: &[u8] = b"~Module signature appended~\n";
const TAIL: usize = 12 + 28;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg(if tool == "openssl" {
            "version"
        } else {
            "--version"
        })
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The kernel's sign-file: built from source into the cache when the source is there, else
/// Debian's build of it.
fn sign_file() -> Option<PathBuf> {
    for source in [
        "/usr/src/linux-headers-6.1.0-47-common/scripts/sign-file.c",
        "/usr/src/linux-kbuild-6.1/scripts/sign-file.c",
    ] {
        if Path::new(source).exists() {
            let out = cache_dir().join("sign-file");
            if !out.exists() {
                let ok = Command::new("gcc")
                    .args(["-O2", "-o"])
                    .arg(&out)
                    .arg(source)
                    .arg("-lcrypto")
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "building {source} failed (is libssl-dev installed?)");
            }
            return Some(out);
        }
    }
    [
        "/usr/lib/linux-kbuild-6.1/scripts/sign-file",
        "/usr/src/linux-headers-6.1.0-47-common/scripts/sign-file",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Every prerequisite of the sign-file tests, or a skip.
fn prerequisites() -> Option<(PathBuf, RealTree, RealTree)> {
    for tool in ["openssl", "xz", "gzip", "zstd"] {
        if !have(tool) {
            skip(&format!("`{tool}`"));
            return None;
        }
    }
    let Some(sign_file) = sign_file() else {
        skip("the kernel's sign-file (apt-get install linux-headers-6.1.0-47-amd64)");
        return None;
    };
    Some((sign_file, tree_61()?, tree_612()?))
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh key and self-signed certificate (`NAME.key`, `NAME.pem`) made by openssl.
fn make_key(dir: &Path, name: &str, genpkey: &[&str]) -> PathBuf {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.pem"));
    run(Command::new("openssl")
        .arg("genpkey")
        .args(genpkey)
        .arg("-out")
        .arg(&key));
    run(Command::new("openssl")
        .args(["req", "-x509", "-new", "-days", "30", "-subj"])
        .arg(format!("/CN=rkmod test {name}"))
        .arg("-key")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    cert
}

/// `contents` without its appended signature (Debian's trees come signed).
fn strip_signature(contents: &[u8]) -> Vec<u8> {
    if !contents.ends_with(MAGIC) || contents.len() < TAIL {
        return contents.to_vec();
    }
    let len_at = contents.len() - 28 - 4;
    let sig_len = u32::from_be_bytes(contents[len_at..len_at + 4].try_into().unwrap()) as usize;
    contents[..contents.len() - TAIL - sig_len].to_vec()
}

/// Runs `rkmod modinfo --verify CERT... ARGS...`.
fn verify(certs: &[&Path], args: &[&Path]) -> Run {
    let mut all: Vec<std::ffi::OsString> = Vec::new();
    for cert in certs {
        all.push("--verify".into());
        all.push(cert.into());
    }
    all.extend(args.iter().map(|a| a.as_os_str().to_owned()));
    rkmod("modinfo", all)
}

/// The one verdict line of a single-module run, after the path.
fn verdict(run: &Run) -> String {
    let out = run.stdout_str();
    let line = out.lines().next().unwrap_or_default();
    line.split_once(": ")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

#[test]
fn verify_modules_signed_by_sign_file() {
    let Some((sign_file, t61, t612)) = prerequisites() else {
        return;
    };
    let tmp = tempdir();
    let dir = tmp.path();
    // Fresh keys: (name, genpkey arguments, the hash sign-file signs with).
    let keys: Vec<(&str, PathBuf, &str)> = vec![
        (
            "rsa2048",
            make_key(
                dir,
                "rsa2048",
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            ),
            "sha256",
        ),
        (
            "rsa4096",
            make_key(
                dir,
                "rsa4096",
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
            ),
            "sha512",
        ),
        (
            "p256",
            make_key(
                dir,
                "p256",
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            ),
            "sha256",
        ),
        (
            "p384",
            make_key(
                dir,
                "p384",
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            ),
            "sha384",
        ),
    ];
    // A few real modules: plain ones from 6.1, and xz ones from 6.12, which are decompressed,
    // signed and compressed again as the kernel's modules_install does it.
    let m61 = t61.moddir.join("kernel");
    let m612 = t612.moddir.join("kernel");
    let sources = [
        m61.join("fs/fat/fat.ko"),
        m61.join("drivers/net/dummy.ko"),
        m612.join("fs/fat/vfat.ko.xz"),
        m612.join("drivers/usb/storage/usb-storage.ko.xz"),
    ];
    let mut signed_files: Vec<(PathBuf, PathBuf)> = Vec::new(); // (module, its cert)
    let mut plain_signed: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let raw = std::fs::read(source).unwrap();
        let xz = source.extension().is_some_and(|e| e == "xz");
        let elf = if xz {
            let out = Command::new("xz")
                .args(["-dc"])
                .arg(source)
                .output()
                .unwrap();
            assert!(out.status.success());
            out.stdout
        } else {
            raw
        };
        let elf = strip_signature(&elf);
        for (name, cert, hash) in &keys {
            let base = dir.join(format!("m{i}-{name}.ko"));
            std::fs::write(&base, &elf).unwrap();
            run(Command::new(&sign_file)
                .arg(hash)
                .arg(dir.join(format!("{name}.key")))
                .arg(cert)
                .arg(&base));
            plain_signed.push((base.clone(), cert.clone()));
            if xz {
                // scripts/Makefile.modinst: xz --check=crc32 --lzma2=dict=1MiB.
                let packed = dir.join(format!("m{i}-{name}.ko.xz"));
                let out = Command::new("xz")
                    .args(["--check=crc32", "--lzma2=dict=1MiB", "-c"])
                    .arg(&base)
                    .output()
                    .unwrap();
                std::fs::write(&packed, out.stdout).unwrap();
                signed_files.push((packed, cert.clone()));
                // And the other two formats, as modules_install writes them.
                let gz = dir.join(format!("m{i}-{name}.ko.gz"));
                let out = Command::new("gzip")
                    .args(["-n", "-c"])
                    .arg(&base)
                    .output()
                    .unwrap();
                std::fs::write(&gz, out.stdout).unwrap();
                signed_files.push((gz, cert.clone()));
                let zst = dir.join(format!("m{i}-{name}.ko.zst"));
                run(Command::new("zstd")
                    .args(["-q", "-f", "-o"])
                    .arg(&zst)
                    .arg(&base));
                signed_files.push((zst, cert.clone()));
            } else {
                signed_files.push((base, cert.clone()));
            }
        }
    }
    let all_certs: Vec<&Path> = keys.iter().map(|(_, c, _)| c.as_path()).collect();

    // Valid with the right certificate, alone or among the others; exit 0.
    for (module, cert) in &signed_files {
        let r = verify(&[cert], &[module]);
        assert_eq!(r.code, 0, "{}: {}", module.display(), r.stdout_str());
        assert!(
            verdict(&r).starts_with("valid (signer: rkmod test "),
            "{r:?}"
        );
    }
    let modules: Vec<&Path> = signed_files.iter().map(|(m, _)| m.as_path()).collect();
    let r = verify(&all_certs, &modules);
    assert_eq!(r.code, 0, "{}", r.stdout_str());
    assert_eq!(r.stdout_str().lines().count(), modules.len());
    assert!(r
        .stdout_str()
        .lines()
        .all(|l| l.contains(": valid (signer: ")));
    // kmod reads the same signer from what sign-file wrote.
    if let Some(modinfo) = kmod_tool("modinfo") {
        for (module, _) in &plain_signed {
            let out = Command::new(&modinfo)
                .args(["-F", "signer"])
                .arg(module)
                .output()
                .unwrap();
            let signer = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(verdict(&verify(&all_certs, &[module])).contains(&format!("signer: {signer},")));
        }
    }

    // Wrong certificate: unknown key, exit 1. Each key against the next one's certificate.
    for (i, (module, _)) in plain_signed.iter().enumerate() {
        let wrong = &keys[(i + 1) % keys.len()].1;
        let r = verify(&[wrong], &[module]);
        assert_eq!(r.code, 1);
        assert!(
            verdict(&r).starts_with("unknown key (signer: rkmod test "),
            "{r:?}"
        );
    }

    for (module, cert) in &plain_signed {
        let bytes = std::fs::read(module).unwrap();
        let check = |name: &str, contents: &[u8], want: &str| {
            let path = dir.join(name);
            std::fs::write(&path, contents).unwrap();
            let r = verify(&[cert], &[&path]);
            assert_eq!(r.code, 1, "{name}");
            assert!(
                verdict(&r).starts_with(want),
                "{}: {name}: {}",
                module.display(),
                r.stdout_str()
            );
        };
        // A tampered byte in the module: bad signature.
        let mut tampered = bytes.clone();
        tampered[bytes.len() / 2] ^= 0x20;
        check("tampered.ko", &tampered, "bad signature");
        // A tampered byte in the signature value: bad signature.
        let mut tampered = bytes.clone();
        tampered[bytes.len() - TAIL - 1] ^= 0x01;
        check("tampered-sig.ko", &tampered, "bad signature");
        // A truncated trailer: the magic cut short reads as unsigned; part of
        // module_signature missing in front of an intact magic is malformed.
        check("cut-magic.ko", &bytes[..bytes.len() - 3], "unsigned");
        let mut cut = bytes[..bytes.len() - 28 - 6].to_vec();
        cut.extend_from_slice(MAGIC);
        check("cut-trailer.ko", &cut, "malformed");
        // Unsigned.
        check("unsigned.ko", &strip_signature(&bytes), "unsigned");
    }

    // One bad module among good ones fails the run, and every module still gets its line.
    let unsigned = dir.join("unsigned.ko");
    let mut mixed: Vec<&Path> = modules.iter().take(3).copied().collect();
    mixed.push(&unsigned);
    let r = verify(&all_certs, &mixed);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout_str().lines().count(), 4);

    // JSON: one document, one object per module.
    let mut args: Vec<std::ffi::OsString> = vec!["--json".into()];
    for cert in &all_certs {
        args.push("--verify".into());
        args.push(cert.into());
    }
    args.push(modules[0].into());
    args.push(unsigned.clone().into());
    let r = rkmod("modinfo", args);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout_str().lines().count(), 1, "{}", r.stdout_str());
    let document: serde_json::Value = serde_json::from_slice(&r.stdout).expect("JSON");
    let objects = document["modules"].as_array().expect("modules");
    assert_eq!(objects.len(), 2, "{document}");
    assert_eq!(objects[0]["file"], modules[0].display().to_string());
    assert_eq!(objects[0]["verdict"], "valid");
    assert!(
        objects[0]["signer"]
            .as_str()
            .is_some_and(|s| s.starts_with("rkmod test ")),
        "{}",
        objects[0]
    );
    assert_eq!(
        objects[1],
        serde_json::json!({
            "file": unsigned.display().to_string(),
            "verdict": "unsigned",
            "signer": null,
            "key_id": null,
            "reason": null,
        })
    );

    eprintln!(
        "sign-file ({}): {} signed module files ({} plain, the rest gz/xz/zstd), {} keys",
        sign_file.display(),
        signed_files.len(),
        plain_signed.len(),
        keys.len()
    );

    // A certificate file that cannot be read stops the run before any module: exit 1.
    let r = verify(&[&dir.join("missing.pem")], &[modules[0]]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(r.stderr_str().contains("missing.pem"), "{}", r.stderr_str());
    let r = verify(&[modules[0]], &[modules[0]]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr_str().contains("cannot read certificates"),
        "{}",
        r.stderr_str()
    );
}

/// Debian's module signing certificate, taken from the kernel image.
///
/// Debian signs the modules of its kernel packages with a key generated for each build
/// (`CONFIG_MODULE_SIG_KEY` left at its default, so kbuild makes `certs/signing_key.pem` and
/// throws the private key away; the modules' signer is "Build time autogenerated kernel key"
/// and sig_key is that certificate's serial). We found no place where Debian publishes that
/// certificate on its own: `debian/certs` in the kernel source holds the Secure Boot CA
/// certificates, which are not what signs the modules. The kernel carries the certificate in
/// its built-in trusted keyring (`system_certificate_list` in vmlinux), so it is taken from
/// there: the xz payload of the bzImage is decompressed (Debian builds with
/// CONFIG_KERNEL_XZ) and the DER certificate around the subject string is cut out.
fn debian_certificate(root: &Path, dir: &Path) -> PathBuf {
    let vmlinuz = root.join("boot/vmlinuz-6.1.0-47-amd64");
    let image = std::fs::read(&vmlinuz).unwrap();
    let xz_magic = [0xfd, b'7', b'z', b'X', b'Z', 0x00];
    let start = image
        .windows(xz_magic.len())
        .position(|w| w == xz_magic)
        .expect("an xz payload in vmlinuz");
    let payload = dir.join("payload.xz");
    std::fs::write(&payload, &image[start..]).unwrap();
    let out = Command::new("xz")
        .args(["-dc", "--single-stream"])
        .arg(&payload)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xz: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vmlinux = out.stdout;
    assert!(vmlinux.starts_with(b"\x7fELF"));
    let subject = b"Build time autogenerated kernel key";
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = vmlinux[from..]
        .windows(subject.len())
        .position(|w| w == subject)
    {
        let at = from + at;
        from = at + 1;
        // A certificate is SEQUENCE { SEQUENCE tbsCertificate, ... }, both with 2-byte lengths.
        for begin in (at.saturating_sub(4096)..at).rev() {
            if vmlinux[begin..begin + 2] != [0x30, 0x82]
                || vmlinux[begin + 4..begin + 6] != [0x30, 0x82]
            {
                continue;
            }
            let len = 4 + usize::from(u16::from_be_bytes([vmlinux[begin + 2], vmlinux[begin + 3]]));
            let Some(der) = vmlinux.get(begin..begin + len) else {
                continue;
            };
            if begin + len > at
                && kmodcore::module::verify::CertificateSet::new()
                    .add_bytes(der)
                    .is_ok()
                && !found.contains(&der.to_vec())
            {
                found.push(der.to_vec());
                break;
            }
        }
    }
    assert_eq!(found.len(), 1, "one module signing certificate in vmlinux");
    let cert = dir.join("debian-6.1.0-47-signing-key.der");
    std::fs::write(&cert, &found[0]).unwrap();
    cert
}

#[test]
fn verify_debian_signed_tree() {
    let Some(root) = signed_tree_61() else {
        return;
    };
    if !have("xz") {
        skip("`xz`");
        return;
    }
    let tmp = tempdir();
    let cert = debian_certificate(&root, tmp.path());
    let tree = RealTree {
        kver: "6.1.0-47-amd64",
        moddir: root.join("lib/modules/6.1.0-47-amd64"),
        kmod30_root: root.clone(),
    };
    let modules = tree.modules();
    assert_eq!(modules.len(), 4022);
    let paths: Vec<&Path> = modules.iter().map(PathBuf::as_path).collect();
    let started = Instant::now();
    let r = verify(&[&cert], &paths);
    let seconds = started.elapsed().as_secs_f64();
    let lines: Vec<&str> = r
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    assert_eq!(lines.len(), modules.len(), "{}", r.stderr_str());
    let bad: Vec<&&str> = lines
        .iter()
        .filter(|l| !l.ends_with(": valid (signer: Build time autogenerated kernel key, key id: 6A:39:FB:02:81:38:16:F5:1B:3A:68:BA:AB:95:1B:EC:B9:AE:62:75)"))
        .collect();
    assert!(
        bad.is_empty(),
        "{} modules do not verify: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
    assert_eq!(r.code, 0);
    eprintln!(
        "Debian linux-image-6.1.0-47-amd64: {} modules verified in {seconds:.2} s ({:.0} modules/s, {} build)",
        modules.len(),
        modules.len() as f64 / seconds,
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
}
