//! The committed man pages and shell completions are what the generator writes now.
//!
//! `src/doc.rs` (the code behind `rkmod-doc`) is compiled into this test binary too, so the
//! check renders every page and completion in memory and compares it byte for byte with the
//! file under `man/` or `completions/`; any other file there, except the hand-written pages,
//! is stale. Every page, generated or hand-written, must also format without a warning under
//! `groff -ww -z -man` (skipped loudly when groff is missing; a failure under CI).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::under_ci;

#[path = "../src/doc.rs"]
mod doc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (relative to the repository root), recursively, as relative paths.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let relative = dir.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            files_under(&relative, out);
        } else {
            out.push(relative);
        }
    }
}

#[test]
fn generated_files_are_fresh() {
    let generated = doc::generate().unwrap();
    let mut problems = Vec::new();
    for file in &generated {
        match std::fs::read(root().join(&file.path)) {
            Ok(committed) if committed == file.bytes => {}
            Ok(_) => problems.push(format!("{} is stale", file.path.display())),
            Err(e) => problems.push(format!("{} is missing ({e})", file.path.display())),
        }
    }
    let mut existing = Vec::new();
    for dir in doc::GENERATED_DIRS {
        files_under(Path::new(dir), &mut existing);
    }
    existing.sort();
    for path in existing {
        let known = generated.iter().any(|g| g.path == path)
            || doc::HAND_WRITTEN.iter().any(|h| Path::new(h) == path);
        if !known {
            problems.push(format!(
                "{} is not generated any more (remove it)",
                path.display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the generated documentation is out of date; run `{}` and commit the result:\n  {}",
        doc::REGENERATE,
        problems.join("\n  ")
    );
}

#[test]
fn every_tool_has_a_page_and_completions() {
    let generated = doc::generate().unwrap();
    let mut names = vec!["rkmod"];
    names.extend(rkmod::TOOLS.iter().map(|(name, _)| *name));
    for name in names {
        for path in [
            format!("man/{name}.8"),
            format!("completions/bash/{name}"),
            format!("completions/zsh/_{name}"),
            format!("completions/fish/{name}.fish"),
        ] {
            assert!(
                generated.iter().any(|g| g.path == Path::new(&path)),
                "{path} is not generated"
            );
        }
        let page = &generated
            .iter()
            .find(|g| g.path == Path::new(&format!("man/{name}.8")))
            .unwrap()
            .bytes;
        let page = String::from_utf8_lossy(page);
        for section in [
            ".SH DESCRIPTION\n",
            ".SH OPTIONS\n",
            ".SH \"DIFFERENCES FROM KMOD\"\n",
            ".SH \"SEE ALSO\"\n",
        ] {
            assert!(page.contains(section), "{name}.8 lacks {section:?}");
        }
        // A description of a few words is not one.
        let description = page
            .split(".SH DESCRIPTION\n")
            .nth(1)
            .and_then(|rest| rest.split("\n.SH ").next())
            .unwrap_or_default();
        assert!(
            description.split_whitespace().count() > 40,
            "{name}.8 has no real description"
        );
    }
}

/// What `groff -ww -z -man` says about `page` (its warnings; empty when it has none).
fn groff_warnings(page: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("groff")
        .args(["-ww", "-z", "-man"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(page).unwrap();
    let output = child.wait_with_output().unwrap();
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        text.push_str(&format!("groff exited with {}\n", output.status));
    }
    text
}

#[test]
fn pages_format_without_warnings() {
    let mut pages: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for page in doc::HAND_WRITTEN {
        let bytes = std::fs::read(root().join(page))
            .unwrap_or_else(|e| panic!("{page}, a hand-written page, is missing: {e}"));
        pages.push((PathBuf::from(page), bytes));
    }
    pages.extend(
        doc::generate()
            .unwrap()
            .into_iter()
            .filter(|g| g.path.starts_with("man"))
            .map(|g| (g.path, g.bytes)),
    );
    if Command::new("groff").arg("--version").output().is_err() {
        assert!(
            !under_ci(),
            "CI=true and groff is missing (install groff-base): the man pages cannot be checked"
        );
        eprintln!(
            "\n*** SKIPPED: groff is missing; install groff-base to check the man pages ***\n"
        );
        return;
    }
    let mut problems = Vec::new();
    for (page, bytes) in pages {
        let warnings = groff_warnings(&bytes);
        if !warnings.is_empty() {
            problems.push(format!("{}:\n{warnings}", page.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Regression: clap rejects a command with two `help` subcommands, so kmod's definition (whose
/// `help` is one of its commands) must not get clap's own as well.
#[test]
fn kmod_definition_builds_with_its_help_command() {
    rkmod::kmod::command().debug_assert();
    rkmod::multicall_command().debug_assert();
}
