//! Kernel module files: opening them, decompressing them, and reading what is inside.
//!
//! A module file is opened by path and checked to be a regular file before anything is read
//! (a FIFO or a device must never hang or feed us endless data). Its compression is detected
//! from its first bytes, never from its name, and decompression stops at
//! [`MAX_MODULE_SIZE`]. Plain files are mapped rather than read.
//!
//! - [`compression`]: format detection and bounded decoders.
//! - [`elf`]: the ELF sections kmod cares about (`.modinfo`, `__versions`, symbols, build-id).
//! - [`signature`]: the signature appended to a module, as modinfo reports it.
//! - [`info`]: the key/value list `modinfo` prints, in kmod's order.
//! - [`verify`]: checking an appended signature against X.509 certificates, offline.
//! - [`symbols`]: the symbol versions a module needs and the symbols it exports, as
//!   `modprobe --show-modversions` and `--show-exports` list them.

pub mod compression;
pub mod elf;
pub mod info;
pub mod signature;
pub mod symbols;
pub mod verify;

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::open_regular_file;
use crate::mmap::FileBytes;
pub use compression::Compression;

/// The largest module, after decompression, that kmodcore accepts: 512 MiB.
///
/// Debian's largest module is well under 32 MiB; the cap only has to stop decompression bombs
/// while leaving room for modules with debug information.
pub const MAX_MODULE_SIZE: u64 = 512 * 1024 * 1024;

/// The bytes of a module file, decompressed.
#[derive(Debug)]
enum Contents {
    /// A plain file, mapped or read.
    Plain(FileBytes),
    /// The decompressed image of a compressed file.
    Decompressed(Vec<u8>),
}

/// A module file, opened and decompressed.
#[derive(Debug)]
pub struct ModuleFile {
    path: PathBuf,
    compression: Compression,
    contents: Contents,
    file: File,
}

impl ModuleFile {
    /// Opens a module file and decompresses it if needed.
    pub fn open(path: &Path) -> Result<ModuleFile> {
        let (file, len) = open_regular_file(path)?;
        let mut head = [0u8; compression::MAGIC_LEN];
        let got = crate::fs::read_full_at(&file, &mut head, 0).map_err(|e| Error::io(path, e))?;
        let compression = Compression::detect(head.get(..got).unwrap_or_default());
        let contents = match compression {
            Compression::None => {
                Contents::Plain(FileBytes::from_file(&file, len).map_err(|e| Error::io(path, e))?)
            }
            format => Contents::Decompressed(compression::decompress(
                format,
                &file,
                len,
                MAX_MODULE_SIZE,
                path,
            )?),
        };
        Ok(ModuleFile {
            path: path.to_path_buf(),
            compression,
            contents,
            file,
        })
    }

    /// The path the module was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The compression detected from the file's magic bytes.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The module's (decompressed) bytes.
    pub fn contents(&self) -> &[u8] {
        match &self.contents {
            Contents::Plain(bytes) => bytes,
            Contents::Decompressed(vec) => vec,
        }
    }

    /// The open file, for `finit_module`.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The parsed image, or kmod's errno for one it cannot parse: `ENOEXEC` without the ELF
    /// magic, `EINVAL` for a broken ELF file.
    pub fn elf_or_errno(&self) -> std::result::Result<elf::ElfModule<'_>, i32> {
        elf::ElfModule::parse(self.contents()).map_err(|_| {
            if self.contents().starts_with(b"\x7fELF") {
                nix::errno::Errno::EINVAL as i32
            } else {
                nix::errno::Errno::ENOEXEC as i32
            }
        })
    }

    /// Parses the module's ELF image.
    pub fn elf(&self) -> Result<elf::ElfModule<'_>> {
        elf::ElfModule::parse(self.contents()).map_err(|reason| Error::BadModule {
            path: self.path.clone(),
            reason: reason.to_string(),
        })
    }
}
