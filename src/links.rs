//! `rkmod --install-links DIR`: lays down one symlink per tool in DIR, pointing at the rkmod
//! binary, so that `DIR/modprobe` (and the others) run rkmod as that tool.
//!
//! A link to a binary in DIR itself is relative (`modprobe -> rkmod`), so the directory can be
//! moved or packed into an initramfs; otherwise it points at the binary's absolute path. An
//! existing file of a tool's name is left alone and reported, unless `--force` replaces it.

use std::io;
use std::path::{Path, PathBuf};

/// What [`install_links`] did for one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The link was made (or remade, with force).
    Created {
        /// The link.
        link: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// The link was already there, pointing at the binary.
    Unchanged {
        /// The link.
        link: PathBuf,
    },
    /// A file of that name exists and was left alone.
    Exists {
        /// The existing path.
        link: PathBuf,
    },
}

/// The link target for `binary` as seen from `dir`.
fn link_target(binary: &Path, dir: &Path) -> PathBuf {
    let same_dir = match (binary.parent().map(Path::canonicalize), dir.canonicalize()) {
        (Some(Ok(a)), Ok(b)) => a == b,
        _ => false,
    };
    match (same_dir, binary.file_name()) {
        (true, Some(name)) => PathBuf::from(name),
        _ => binary.to_path_buf(),
    }
}

/// Makes DIR/TOOL -> `binary` for every tool in `tools`, creating DIR if needed.
pub fn install_links(
    binary: &Path,
    dir: &Path,
    tools: &[&str],
    force: bool,
) -> io::Result<Vec<LinkOutcome>> {
    std::fs::create_dir_all(dir)?;
    let binary = binary.canonicalize()?;
    let target = link_target(&binary, dir);
    let mut out = Vec::new();
    for tool in tools {
        let link = dir.join(tool);
        if link.symlink_metadata().is_ok() {
            if std::fs::read_link(&link).is_ok_and(|t| t == target) {
                out.push(LinkOutcome::Unchanged { link });
                continue;
            }
            if !force {
                out.push(LinkOutcome::Exists { link });
                continue;
            }
            std::fs::remove_file(&link)?;
        }
        std::os::unix::fs::symlink(&target, &link)?;
        out.push(LinkOutcome::Created {
            link,
            target: target.clone(),
        });
    }
    Ok(out)
}

/// Runs `rkmod --install-links [--force] DIR` (`args` after `--install-links`); returns the
/// exit code.
pub fn run(args: &[std::ffi::OsString]) -> i32 {
    let mut force = false;
    let mut dir = None;
    for arg in args {
        match arg.to_str() {
            Some("--force" | "-f") => force = true,
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => {
                eprintln!("rkmod: --install-links takes one directory");
                return 1;
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("rkmod: usage: rkmod --install-links [--force] DIR");
        return 1;
    };
    let binary = match std::env::current_exe() {
        Ok(path) => path,
        Err(e) => {
            eprintln!("rkmod: cannot find the rkmod binary: {e}");
            return 1;
        }
    };
    let tools: Vec<&str> = crate::TOOLS.iter().map(|(name, _)| *name).collect();
    match install_links(&binary, &dir, &tools, force) {
        Ok(outcomes) => {
            let mut code = 0;
            for outcome in outcomes {
                match outcome {
                    LinkOutcome::Created { link, target } => {
                        println!("{} -> {}", link.display(), target.display())
                    }
                    LinkOutcome::Unchanged { .. } => {}
                    LinkOutcome::Exists { link } => {
                        eprintln!(
                            "rkmod: {} exists; left alone (use --force to replace it)",
                            link.display()
                        );
                        code = 1;
                    }
                }
            }
            code
        }
        Err(e) => {
            eprintln!("rkmod: cannot install links in {}: {e}", dir.display());
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_next_to_the_binary_and_absolute_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("rkmod");
        std::fs::write(&bin, b"").unwrap();
        let out = install_links(&bin, dir.path(), &["modprobe", "lsmod"], false).unwrap();
        assert_eq!(out.len(), 2);
        // Again: nothing to do, and no complaint.
        let again = install_links(&bin, dir.path(), &["modprobe"], false).unwrap();
        assert!(matches!(again[0], LinkOutcome::Unchanged { .. }));
        assert_eq!(
            std::fs::read_link(dir.path().join("modprobe")).unwrap(),
            PathBuf::from("rkmod")
        );
        let other = dir.path().join("sbin");
        install_links(&bin, &other, &["insmod"], false).unwrap();
        assert_eq!(
            std::fs::read_link(other.join("insmod")).unwrap(),
            bin.canonicalize().unwrap()
        );
    }

    #[test]
    fn existing_files_are_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("rkmod");
        std::fs::write(&bin, b"").unwrap();
        std::fs::write(dir.path().join("modprobe"), b"old").unwrap();
        let out = install_links(&bin, dir.path(), &["modprobe"], false).unwrap();
        assert!(matches!(out[0], LinkOutcome::Exists { .. }));
        assert_eq!(std::fs::read(dir.path().join("modprobe")).unwrap(), b"old");
        install_links(&bin, dir.path(), &["modprobe"], true).unwrap();
        assert_eq!(
            std::fs::read_link(dir.path().join("modprobe")).unwrap(),
            PathBuf::from("rkmod")
        );
    }
}
