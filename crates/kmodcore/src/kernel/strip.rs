//! Forcing a load through `init_module`: editing a copy of the module image so that the
//! kernel skips its version checks, the way kmod does.
//!
//! - `--force-modversion`: the `__versions` section loses its `SHF_ALLOC` flag. The kernel
//!   then finds no symbol versions to check. Only the `sh_flags` word of that section's header
//!   changes (at `e_shoff + index * e_shentsize + 8`, 8 bytes in ELF64 and 4 in ELF32, in the
//!   file's byte order). A module without `__versions` is left alone.
//! - `--force-vermagic`: the first `.modinfo` record that starts with `vermagic=` is
//!   overwritten with NUL bytes, so the kernel finds no version magic. A module with a
//!   `.modinfo` section but no such record cannot be forced ([`StripError::NoVermagic`], as
//!   kmod fails with `ENODATA`).
//!
//! With `finit_module` the kernel does the same itself, told by the `MODULE_INIT_IGNORE_*`
//! flags; this is only for the userspace path.

use object::elf::{FileHeader32, FileHeader64, SHF_ALLOC};
use object::read::elf::{FileHeader, SectionHeader};
use object::{Endianness, FileKind};

use super::{Errno, InsertFlags};

/// Where `sh_flags` sits in a section header (after `sh_name` and `sh_type`, both 32-bit).
const SH_FLAGS_OFFSET: u64 = 8;
/// The vermagic record's prefix.
const VERMAGIC: &[u8] = b"vermagic=";

/// Why an image could not be edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripError {
    /// The image is not an ELF file we can read.
    #[error("not a valid ELF module: {0}")]
    BadElf(String),
    /// A section header or section lies outside the image.
    #[error("a section lies outside the file")]
    OutOfBounds,
    /// `--force-vermagic` on a module whose `.modinfo` has no `vermagic=` record.
    #[error("no vermagic record in .modinfo")]
    NoVermagic,
}

impl StripError {
    /// The errno kmod reports for this failure.
    pub fn errno(&self) -> Errno {
        match self {
            StripError::BadElf(_) | StripError::OutOfBounds => Errno::ENOEXEC,
            StripError::NoVermagic => Errno::ENODATA,
        }
    }
}

/// Returns a copy of `image` edited as `flags` ask (see the [module documentation](self)).
pub fn strip(image: &[u8], flags: InsertFlags) -> Result<Vec<u8>, StripError> {
    match FileKind::parse(image).map_err(|e| StripError::BadElf(e.to_string()))? {
        FileKind::Elf32 => strip_with::<FileHeader32<Endianness>>(image, flags, 4),
        FileKind::Elf64 => strip_with::<FileHeader64<Endianness>>(image, flags, 8),
        _ => Err(StripError::BadElf("not an ELF file".into())),
    }
}

fn strip_with<H: FileHeader<Endian = Endianness>>(
    image: &[u8],
    flags: InsertFlags,
    word: usize,
) -> Result<Vec<u8>, StripError> {
    let header = H::parse(image).map_err(|e| StripError::BadElf(e.to_string()))?;
    let endian = header
        .endian()
        .map_err(|e| StripError::BadElf(e.to_string()))?;
    let sections = header
        .sections(endian, image)
        .map_err(|e| StripError::BadElf(e.to_string()))?;
    let mut out = image.to_vec();

    if flags.force_modversion {
        if let Some((index, _)) = sections.section_by_name(endian, b"__versions") {
            let shoff: u64 = header.e_shoff(endian).into();
            let entsize = u64::from(header.e_shentsize(endian));
            let at = (index.0 as u64)
                .checked_mul(entsize)
                .and_then(|o| o.checked_add(shoff))
                .and_then(|o| o.checked_add(SH_FLAGS_OFFSET))
                .and_then(|o| usize::try_from(o).ok())
                .ok_or(StripError::OutOfBounds)?;
            let end = at.checked_add(word).ok_or(StripError::OutOfBounds)?;
            let field = out.get_mut(at..end).ok_or(StripError::OutOfBounds)?;
            clear_bit(field, u64::from(SHF_ALLOC), endian == Endianness::Big);
        }
    }

    if flags.force_vermagic {
        if let Some((_, shdr)) = sections.section_by_name(endian, b".modinfo") {
            let (offset, size) = shdr.file_range(endian).ok_or(StripError::OutOfBounds)?;
            let start = usize::try_from(offset).map_err(|_| StripError::OutOfBounds)?;
            let len = usize::try_from(size).map_err(|_| StripError::OutOfBounds)?;
            let end = start.checked_add(len).ok_or(StripError::OutOfBounds)?;
            let modinfo = out.get_mut(start..end).ok_or(StripError::OutOfBounds)?;
            blank_vermagic(modinfo)?;
        }
    }
    Ok(out)
}

/// Clears `bit` in a `field` of 4 or 8 bytes stored in the given byte order.
fn clear_bit(field: &mut [u8], bit: u64, big_endian: bool) {
    // The bit is in the low byte (SHF_ALLOC is 2); find that byte for this byte order.
    let low = if big_endian {
        field.len().saturating_sub(1)
    } else {
        0
    };
    if let (Some(byte), Ok(mask)) = (field.get_mut(low), u8::try_from(bit)) {
        *byte &= !mask;
    }
}

/// Overwrites the first `vermagic=` record in a `.modinfo` section with NUL bytes.
fn blank_vermagic(modinfo: &mut [u8]) -> Result<(), StripError> {
    let mut pos = 0;
    while pos < modinfo.len() {
        let rest = modinfo.get(pos..).unwrap_or_default();
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        if len == 0 {
            pos += 1;
            continue;
        }
        if rest.starts_with(VERMAGIC) {
            if let Some(record) = modinfo.get_mut(pos..pos + len) {
                record.fill(0);
            }
            return Ok(());
        }
        pos += len;
    }
    Err(StripError::NoVermagic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::elf::ElfModule;

    fn flags(modversion: bool, vermagic: bool) -> InsertFlags {
        InsertFlags {
            force_modversion: modversion,
            force_vermagic: vermagic,
        }
    }

    fn versions_flags(image: &[u8]) -> Option<u64> {
        let header = FileHeader64::<Endianness>::parse(image).unwrap();
        let endian = header.endian().unwrap();
        let sections = header.sections(endian, image).unwrap();
        sections
            .section_by_name(endian, b"__versions")
            .map(|(_, s)| s.sh_flags(endian))
    }

    fn module() -> Vec<u8> {
        let mut spec = testkit::ModuleSpec::new("m")
            .info(
                "vermagic",
                "6.1.0-47-amd64 SMP preempt mod_unload modversions ",
            )
            .info("name", "m");
        spec.versions = vec![(0x1234, "module_layout".into())];
        spec.build()
    }

    #[test]
    fn vermagic_is_blanked_and_nothing_else() {
        let image = module();
        let out = strip(&image, flags(false, true)).unwrap();
        assert_eq!(out.len(), image.len());
        let elf = ElfModule::parse(&out).unwrap();
        let keys: Vec<&[u8]> = elf.modinfo().iter().map(|e| e.key).collect();
        assert_eq!(keys, [&b"license"[..], b"name"]);
        let changed = image.iter().zip(&out).filter(|(a, b)| a != b).count();
        assert_eq!(
            changed,
            "vermagic=6.1.0-47-amd64 SMP preempt mod_unload modversions ".len()
        );
        assert_eq!(versions_flags(&out), versions_flags(&image));
    }

    #[test]
    fn versions_lose_shf_alloc() {
        let image = module();
        let before = versions_flags(&image).unwrap();
        assert_ne!(
            before & u64::from(SHF_ALLOC),
            0,
            "the fixture's __versions is allocated"
        );
        let out = strip(&image, flags(true, false)).unwrap();
        assert_eq!(
            versions_flags(&out).unwrap(),
            before & !u64::from(SHF_ALLOC)
        );
        let changed = image.iter().zip(&out).filter(|(a, b)| a != b).count();
        assert_eq!(changed, 1);
    }

    #[test]
    fn no_vermagic_is_an_error_like_kmod() {
        let image = testkit::ModuleSpec::new("m").build();
        assert_eq!(
            strip(&image, flags(false, true)),
            Err(StripError::NoVermagic)
        );
        assert_eq!(StripError::NoVermagic.errno(), Errno::ENODATA);
        // Without __versions there is nothing to strip, and that is fine.
        assert_eq!(strip(&image, flags(true, false)).unwrap(), image);
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(matches!(
            strip(b"not elf", flags(true, true)),
            Err(StripError::BadElf(_))
        ));
        let mut image = module();
        image.truncate(100);
        assert!(strip(&image, flags(true, true)).is_err());
    }

    #[test]
    fn a_vermagic_after_padding_is_found() {
        let mut info = b"\0\0license=GPL\0\0vermagic=x\0author=y\0".to_vec();
        blank_vermagic(&mut info).unwrap();
        let mut expected = b"\0\0license=GPL\0\0".to_vec();
        expected.extend_from_slice(&[0; 10]);
        expected.extend_from_slice(b"\0author=y\0");
        assert_eq!(info, expected);
        let mut info = b"xvermagic=1\0".to_vec();
        assert_eq!(blank_vermagic(&mut info), Err(StripError::NoVermagic));
    }
}
