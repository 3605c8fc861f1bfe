//! Writes the generated documentation (see `src/doc.rs`): a man page for every tool and for
//! `rkmod` itself into `man/`, and bash, zsh and fish completions into `completions/`.
//!
//!     cargo run --features doc --bin rkmod-doc [-- OUTDIR]
//!
//! OUTDIR defaults to the source tree. Generated files that are no longer generated (a tool
//! that went away) are removed; the hand-written pages (`man/modprobe.d.5`, `man/depmod.d.5`)
//! are left alone. The test `docs::generated_files_are_fresh` fails when the committed files
//! differ from what this writes.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

#[path = "../doc.rs"]
mod doc;

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes)
}

/// Every file under `dir`, recursively, as paths relative to `root`.
fn files_under(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(root.join(dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let relative = dir.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            files_under(root, &relative, out)?;
        } else {
            out.push(relative);
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let arg = std::env::args_os().nth(1);
    if arg.as_ref().is_some_and(|a| a == "-h" || a == "--help") {
        println!(
            "usage: {} [-- OUTDIR]\n\nWrites man/ and completions/ into OUTDIR (default: the source tree).",
            doc::REGENERATE
        );
        return Ok(());
    }
    let out: PathBuf = arg
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let generated = doc::generate()?;
    for file in &generated {
        write(&out.join(&file.path), &file.bytes)?;
    }
    let mut existing = Vec::new();
    for dir in doc::GENERATED_DIRS {
        files_under(&out, Path::new(dir), &mut existing)?;
    }
    for path in existing {
        let keep = generated.iter().any(|g| g.path == path)
            || doc::HAND_WRITTEN.iter().any(|h| Path::new(h) == path);
        if !keep {
            std::fs::remove_file(out.join(&path))?;
            eprintln!("rkmod-doc: removed {}", path.display());
        }
    }
    eprintln!("rkmod-doc: {} files in {}", generated.len(), out.display());
    Ok(())
}
