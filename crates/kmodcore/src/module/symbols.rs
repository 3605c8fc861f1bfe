//! The symbol lists `modprobe --show-modversions` and `--show-exports` print, with kmod's
//! rules for what counts and what is an error.
//!
//! # `__versions` (the symbols a module uses, with the CRCs it was built against)
//! Records of 64 bytes on 64-bit ELF (a u64 CRC, then a 56-byte NUL-padded name) or 64 bytes
//! on 32-bit ELF (a u32 CRC, then 60 bytes of name), in the ELF's byte order:
//!
//! ```text
//! +---------+------------------------------------------+
//! | crc     | name, NUL-terminated within the record   |
//! +---------+------------------------------------------+
//! ```
//!
//! - no `__versions` section: `ENODATA`; an empty one: no symbols;
//! - a size that is not a whole number of records, or a name that fills its field with no NUL:
//!   `EINVAL`;
//! - a name starting with `.` (PowerPC's function descriptors) is shown without it.
//!
//! # Exports
//! The `__crc_NAME` symbols of `.symtab`, in table order, each with its CRC. When there are
//! none (a kernel built without modversions), the names in `__ksymtab_strings` with CRC 0:
//! leading NUL padding skipped, the section must end with a NUL (`EINVAL` otherwise), empty
//! names skipped; no such section is `ENODATA`.

use nix::errno::Errno;

use super::elf::{ElfModule, SymbolKind};

/// The size of a `__versions` record.
const RECORD_LEN: usize = 64;

/// The `(crc, name)` pairs of a module's `__versions` section, or the errno kmod reports.
pub fn modversions(elf: &ElfModule<'_>) -> Result<Vec<(u64, Vec<u8>)>, Errno> {
    let section = elf.versions_section().ok_or(Errno::ENODATA)?;
    if section.len() % RECORD_LEN != 0 {
        return Err(Errno::EINVAL);
    }
    let crc_len = if elf.is_64() { 8 } else { 4 };
    let parsed = elf.versions();
    let mut out = Vec::with_capacity(parsed.len());
    for (record, entry) in section.chunks_exact(RECORD_LEN).zip(parsed) {
        let name_field = record.get(crc_len..).unwrap_or_default();
        if !name_field.contains(&0) {
            return Err(Errno::EINVAL);
        }
        let name = entry.name.strip_prefix(b".").unwrap_or(entry.name);
        out.push((entry.crc, name.to_vec()));
    }
    Ok(out)
}

/// The `(crc, name)` pairs of the symbols a module exports, or the errno kmod reports.
pub fn exports(elf: &ElfModule<'_>) -> Result<Vec<(u64, Vec<u8>)>, Errno> {
    if let Ok(symbols) = elf.symbols() {
        let crcs: Vec<(u64, Vec<u8>)> = symbols
            .into_iter()
            .filter_map(|s| match s.kind {
                SymbolKind::Crc(crc) => Some((crc, s.name.to_vec())),
                SymbolKind::Undefined => None,
            })
            .collect();
        if !crcs.is_empty() {
            return Ok(crcs);
        }
    }
    let strings = elf.ksymtab_strings_section().ok_or(Errno::ENODATA)?;
    let start = strings
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(strings.len());
    let strings = strings
        .get(start.min(strings.len().saturating_sub(1))..)
        .unwrap_or_default();
    if strings.len() <= 1 {
        return Ok(Vec::new());
    }
    if strings.last() != Some(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(strings
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| (0, name.to_vec()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::ModuleSpec;

    #[test]
    fn versions_and_exports_of_a_synthetic_module() {
        let mut spec = ModuleSpec::new("m");
        spec.versions = vec![(0x1234, "printk".into()), (0xabcd, ".memcpy".into())];
        spec.exports = vec![("m_fn".into(), 0x55)];
        let image = spec.build();
        let elf = ElfModule::parse(&image).unwrap();
        assert_eq!(
            modversions(&elf).unwrap(),
            vec![(0x1234, b"printk".to_vec()), (0xabcd, b"memcpy".to_vec())]
        );
        assert_eq!(exports(&elf).unwrap(), vec![(0x55, b"m_fn".to_vec())]);
    }

    #[test]
    fn missing_sections_are_enodata() {
        let image = ModuleSpec::new("m").build();
        let elf = ElfModule::parse(&image).unwrap();
        assert_eq!(modversions(&elf), Err(Errno::ENODATA));
        assert_eq!(exports(&elf), Err(Errno::ENODATA));
    }
}
