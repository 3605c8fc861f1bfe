//! Writes the generated documentation: a man page per tool (from its clap definition) and
//! bash, zsh and fish completions. Hand-written pages (modprobe.d.5, depmod.d.5) are left
//! alone.
//!
//!     cargo run --features doc --bin rkmod-doc -- OUTDIR
//!
//! `scripts/check` runs it into a temporary directory and fails when `man/` differs.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
}

fn main() -> anyhow::Result<()> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("man"));
    for command in rkmod::commands() {
        let name = command.get_name().to_string();
        let command = command.version(env!("CARGO_PKG_VERSION"));
        let mut page = Vec::new();
        clap_mangen::Man::new(command.clone())
            .section("8")
            .source(format!("rkmod {}", env!("CARGO_PKG_VERSION")))
            .manual("rkmod")
            .render(&mut page)?;
        if let Some(notes) = rkmod::differences(&name) {
            page.extend_from_slice(b".SH \"DIFFERENCES FROM KMOD\"\n");
            for note in notes {
                page.extend_from_slice(b".IP \\(bu 2\n");
                page.extend_from_slice(note.replace('\\', "\\\\").replace('-', "\\-").as_bytes());
                page.push(b'\n');
            }
        }
        write(&out.join(format!("{name}.8")), &page)?;
        for (shell, file) in [
            (
                clap_complete::Shell::Bash,
                format!("completions/bash/{name}"),
            ),
            (
                clap_complete::Shell::Zsh,
                format!("completions/zsh/_{name}"),
            ),
            (
                clap_complete::Shell::Fish,
                format!("completions/fish/{name}.fish"),
            ),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut command.clone(), &name, &mut buf);
            write(&out.join(file), &buf)?;
        }
    }
    Ok(())
}
