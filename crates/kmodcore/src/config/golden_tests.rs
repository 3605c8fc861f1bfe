//! `modprobe -c` compatibility: every case under `testdata/config/cases` is read by rkmod and
//! compared with what kmod printed for it (see `testdata/config/README.md` for how the
//! `expected/` files were captured).
//!
//! - `expected/head.*` come from kmod's development head, the reference: rkmod must match them.
//! - `expected/v30.*` come from Debian 12's kmod 30. rkmod must match them too, unless the case
//!   has an `expected/v30-differs` file saying why kmod 30 behaves differently there; then the
//!   test checks that kmod 30's output really differs, so the note cannot go stale.
//!
//! Deliberate difference: kmod prints softdeps with both lists as `pre: apost: b`, missing a
//! space; rkmod prints `pre: a post: b`. Before comparing, the test rewrites exactly those lines
//! of rkmod's output (it knows which they are from the parsed entries) into kmod's form, so that
//! everything else is compared byte for byte. `config::tests` checks rkmod's own form.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Config, ConfigSources};

/// What kmod prints between the configuration and the index dump. With no index files in the
/// fixture's module directory, the dump is empty and this ends kmod's stdout.
const END_OF_CONFIG: &[u8] = b"\n# End of configuration files. Dumping indexes now:\n\n";

/// The fixture cases; `RKMOD_CONFIG_CASES` may name another directory of cases captured the
/// same way (for differential runs on generated input, see `testdata/config/README.md`).
fn cases_dir() -> PathBuf {
    match std::env::var_os("RKMOD_CONFIG_CASES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/config/cases"),
    }
}

fn custom_cases() -> bool {
    std::env::var_os("RKMOD_CONFIG_CASES").is_some()
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if !needle.is_empty() && haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// rkmod's `modprobe -c` stdout and stderr for one case, with the case directory shown as
/// `@ROOT@` as in the captured files.
fn run_rkmod(case: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut sources = match fs::read_to_string(case.join("paths")) {
        Ok(list) => ConfigSources::from_paths(list.lines().map(PathBuf::from)),
        Err(_) => ConfigSources::new(),
    };
    sources = sources
        .with_root(case)
        .with_module_dir("/lib/modules/6.1.0")
        .with_kernel_cmdline(fs::read(case.join("cmdline")).unwrap_or_default());
    let (config, warnings) = Config::load(&sources);

    let mut stdout = with_kmod_softdep_bug(&config, config.render_modprobe_c());
    stdout.extend_from_slice(END_OF_CONFIG);

    let mut stderr = Vec::new();
    for w in &warnings {
        stderr.extend_from_slice(b"libkmod: ERROR: ");
        stderr.extend_from_slice(w.kmod_function().as_bytes());
        stderr.extend_from_slice(b": ");
        stderr.extend_from_slice(&w.message());
        stderr.push(b'\n');
    }
    // In `default-dirs` mode kmod read the real /etc/modprobe.d etc. (with the case's
    // directories mounted over them), so its messages name the paths without any root.
    let shown_root: &[u8] = match fs::read_to_string(case.join("mode")) {
        Ok(mode) if mode.trim() == "default-dirs" => b"",
        _ => b"@ROOT@",
    };
    let root = case.as_os_str().as_encoded_bytes();
    (
        replace_all(&stdout, root, shown_root),
        replace_all(&stderr, root, shown_root),
    )
}

/// Rewrites rkmod's softdep lines that have both lists into kmod's form, without the space
/// before `post:`.
fn with_kmod_softdep_bug(config: &Config, rendered: Vec<u8>) -> Vec<u8> {
    let mut out = rendered;
    for dep in config.softdeps() {
        if dep.pre.is_empty() || dep.post.is_empty() {
            continue;
        }
        let pre = dep.pre.join(b' ');
        let post = dep.post.join(b' ');
        let line = |sep: &[u8]| {
            [
                &b"softdep "[..],
                dep.module,
                b" pre: ",
                &pre,
                sep,
                b"post: ",
                &post,
                b"\n",
            ]
            .concat()
        };
        out = replace_first(&out, &line(b" "), &line(b""));
    }
    out
}

fn replace_first(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    match haystack.windows(needle.len()).position(|w| w == needle) {
        Some(at) => [&haystack[..at], with, &haystack[at + needle.len()..]].concat(),
        None => haystack.to_vec(),
    }
}

/// kmod 30's libkmod prints `libkmod: ERROR ../libkmod/FILE.c:LINE FUNCTION: message`; the
/// newer one `libkmod: ERROR: FUNCTION: message`. Brings the old form to the new one.
fn normalize_v30_stderr(stderr: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in stderr.split_inclusive(|&b| b == b'\n') {
        match line.strip_prefix(b"libkmod: ERROR ") {
            Some(rest) => {
                let after = rest
                    .iter()
                    .position(|&b| b == b' ')
                    .map_or(rest, |sp| &rest[sp + 1..]);
                out.extend_from_slice(b"libkmod: ERROR: ");
                out.extend_from_slice(after);
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn all_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(cases_dir())
        .expect("testdata/config/cases")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.canonicalize().unwrap())
        .collect();
    cases.sort();
    assert!(
        custom_cases() || cases.len() >= 20,
        "fixture cases missing: {cases:?}"
    );
    cases
}

#[test]
fn modprobe_c_matches_kmod_head() {
    let mut failures = Vec::new();
    for case in all_cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let expected_out = fs::read(case.join("expected/head.stdout")).unwrap();
        let expected_err = fs::read(case.join("expected/head.stderr")).unwrap();
        let (out, err) = run_rkmod(&case);
        if out != expected_out {
            failures.push(format!(
                "{name}: stdout\n--- kmod\n{}--- rkmod\n{}",
                show(&expected_out),
                show(&out)
            ));
        }
        if err != expected_err {
            failures.push(format!(
                "{name}: stderr\n--- kmod\n{}--- rkmod\n{}",
                show(&expected_err),
                show(&err)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn modprobe_c_matches_kmod_30_where_it_agrees() {
    if custom_cases() {
        return; // generated cases are captured from the reference kmod only
    }
    let mut failures = Vec::new();
    let mut differing = Vec::new();
    for case in all_cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let expected_out = fs::read(case.join("expected/v30.stdout")).unwrap();
        let expected_err =
            normalize_v30_stderr(&fs::read(case.join("expected/v30.stderr")).unwrap());
        let (out, err) = run_rkmod(&case);
        let same = out == expected_out && err == expected_err;
        match fs::read_to_string(case.join("expected/v30-differs")) {
            Ok(reason) => {
                assert!(
                    !reason.trim().is_empty(),
                    "{name}: v30-differs must say why"
                );
                differing.push(name.clone());
                if same {
                    failures.push(format!(
                        "{name}: kmod 30 no longer differs; drop v30-differs"
                    ));
                }
            }
            Err(_) if !same => failures.push(format!(
                "{name}: differs from kmod 30\n--- kmod 30 stdout\n{}--- rkmod stdout\n{}\
                 --- kmod 30 stderr\n{}--- rkmod stderr\n{}",
                show(&expected_out),
                show(&out),
                show(&expected_err),
                show(&err)
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The known differences: weakdep (kmod 33), `.alias` files (dropped after 30), stat errors
    // (silently misread by 30), a backslash at end of file (read as 0xFF by 30), and
    // /usr/lib/modprobe.d (added to the default list in 32).
    assert_eq!(
        differing,
        [
            "alias-suffix",
            "backslash-eof",
            "broken-symlink",
            "default-dirs",
            "moddir-weakdep",
            "weakdep"
        ]
    );
}

#[test]
fn kmod_softdep_form_only_touches_lines_with_both_lists() {
    let mut config = Config::new();
    config.add_file(
        Path::new("/t.conf"),
        b"softdep a pre: x post: y\nsoftdep b post: y\nsoftdep c\x0bpost: pre:\noptions d pre: x post: y\n",
        &mut Vec::new(),
    );
    assert_eq!(
        show(&with_kmod_softdep_bug(&config, config.render_modprobe_c())),
        "options d pre: x post: y\nsoftdep a pre: xpost: y\nsoftdep b post: y\nsoftdep c\x0bpost: \n"
    );
}

#[test]
fn v30_stderr_normalisation() {
    assert_eq!(
        normalize_v30_stderr(
            b"libkmod: ERROR ../libkmod/libkmod-config.c:712 kmod_config_parse: x y\n"
        ),
        b"libkmod: ERROR: kmod_config_parse: x y\n".to_vec()
    );
}
