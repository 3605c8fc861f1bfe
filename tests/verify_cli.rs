//! `modinfo --verify` on the committed fixtures of testdata/verify (made by the kernel's
//! sign-file and by openssl; see its README): the lines, the JSON form and the exit codes.
//! Runs anywhere; tests/real/verify.rs signs real modules at test time.

use std::path::{Path, PathBuf};

use crate::util::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/verify")
        .join(name)
}

fn unsigned() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/signature/unsigned.ko")
}

#[test]
fn verify_lines_and_exit_codes() {
    let certs = ["--verify", "bundle.pem", "--verify", "p256.der"].map(|a| {
        if a.starts_with("--") {
            a.into()
        } else {
            fixture(a).into_os_string()
        }
    });
    let modules = ["rsa-sha256.ko", "p256-keyid.ko", "p384-attrs.ko"].map(fixture);
    let r = rkmod(
        "modinfo",
        certs
            .iter()
            .cloned()
            .chain(modules.iter().map(|m| m.clone().into_os_string())),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout_str(), r.stderr_str());
    let lines: Vec<String> = r.stdout_str().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3);
    for (line, (module, signer)) in lines
        .iter()
        .zip(modules.iter().zip(["rsa", "p256", "p384"]))
    {
        let want = format!(
            "{}: valid (signer: rkmod verify {signer}, key id: ",
            module.display()
        );
        assert!(line.starts_with(&want), "{line}");
    }
    assert!(r.stderr.is_empty());

    // Unsigned, unknown key and unsupported algorithm: one line each, exit 1.
    let r = rkmod(
        "modinfo",
        [
            "--verify".into(),
            fixture("other.pem").into_os_string(),
            fixture("rsa-sha256.ko").into_os_string(),
            unsigned().into_os_string(),
            fixture("rsa-sha3.ko").into_os_string(),
        ],
    );
    assert_eq!(r.code, 1);
    let out = r.stdout_str();
    let verdicts: Vec<&str> = out.lines().map(|l| l.split_once(": ").unwrap().1).collect();
    assert!(
        verdicts[0].starts_with("unknown key (signer: rkmod verify rsa, key id: "),
        "{out}"
    );
    assert_eq!(verdicts[1], "unsigned");
    // The signer is looked up first: with no certificate for it, the key is what is unknown.
    assert!(verdicts[2].starts_with("unknown key"), "{out}");
    let r = rkmod(
        "modinfo",
        [
            "--verify".into(),
            fixture("rsa.pem").into_os_string(),
            fixture("rsa-sha3.ko").into_os_string(),
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stdout_str()
            .ends_with(": unsupported algorithm (digest sha3-256)\n"),
        "{}",
        r.stdout_str()
    );
}

#[test]
fn verify_json() {
    let r = rkmod(
        "modinfo",
        [
            "--json".into(),
            "--verify".into(),
            fixture("rsa.pem").into_os_string(),
            unsigned().into_os_string(),
        ],
    );
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stdout_str(),
        format!(
            "{{\"modules\":[{{\"file\":\"{}\",\"verdict\":\"unsigned\",\"signer\":null,\"key_id\":null,\"reason\":null}}]}}\n",
            unsigned().display()
        )
    );
    // Without --verify, --json shows the module's fields instead.
    let r = rkmod("modinfo", ["--json".into(), unsigned().into_os_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr_str());
    assert!(r.stdout_str().starts_with("{\"modules\":[{\"name\":"));
}

#[test]
fn verify_bad_certificate_file_stops_the_run() {
    for cert in [fixture("missing.pem"), unsigned()] {
        let r = rkmod(
            "modinfo",
            [
                "--verify".into(),
                cert.clone().into_os_string(),
                fixture("rsa-sha256.ko").into_os_string(),
            ],
        );
        assert_eq!(r.code, 1);
        assert!(r.stdout.is_empty());
        assert!(
            r.stderr_str().starts_with("modinfo: ERROR: ")
                && r.stderr_str().contains(&*cert.to_string_lossy()),
            "{}",
            r.stderr_str()
        );
    }
}

/// Without --verify, modinfo of a signed fixture is unchanged: the signature fields as ever.
#[test]
fn modinfo_without_verify_is_unchanged() {
    let r = rkmod(
        "modinfo",
        [
            "-F".into(),
            "signer".into(),
            fixture("rsa-sha256.ko").into_os_string(),
        ],
    );
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout_str(), "rkmod verify rsa\n");
    if kmod_tool("modinfo").is_some() {
        let k = kmod("modinfo", [fixture("rsa-sha256.ko")]);
        let ours = rkmod("modinfo", [fixture("rsa-sha256.ko")]);
        assert_eq!(ours.stdout_str(), k.stdout_str());
        assert_eq!(ours.code, k.code);
    }
}
