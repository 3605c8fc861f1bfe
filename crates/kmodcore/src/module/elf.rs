//! The parts of a module's ELF image that the module tools read.
//!
//! Parsing goes through `object`'s low-level ELF API, which checks every offset and size
//! against the buffer. Sections are found by name, the first of each name winning, as kmod
//! does:
//!
//! | section                    | what it holds                                              |
//! |----------------------------|------------------------------------------------------------|
//! | `.modinfo`                 | `key=value` strings separated by runs of NUL bytes          |
//! | `__versions`               | 64-byte records: CRC (word size of the ELF), 56-byte name   |
//! | `__ksymtab_strings`        | NUL-separated names of the exported symbols                |
//! | `.symtab` / `.strtab`      | symbols: `__crc_NAME` exports, undefined imports           |
//! | `.note.gnu.build-id`       | an ELF note (namesz, descsz, type 3, `GNU\0`, the id)      |
//! | `.gnu.linkonce.this_module`| the kernel's `struct module`, whose `name` field we read   |
//!
//! Errors are short descriptions of what broke; [`super::ModuleFile::elf`] adds the path.

use object::elf::{FileHeader32, FileHeader64, SHT_SYMTAB};
use object::read::elf::{FileHeader, SectionHeader, SectionTable, Sym};
use object::{Endianness, FileKind};

/// The GNU build-id note type.
const NT_GNU_BUILD_ID: u32 = 3;
/// The size of one `__versions` record.
const VERSION_RECORD_LEN: usize = 64;
/// Where `struct module`'s `name` field starts in `.gnu.linkonce.this_module`, by word size.
/// It follows `enum module_state` and a `struct list_head`.
const THIS_MODULE_NAME_OFFSET_64: usize = 24;
const THIS_MODULE_NAME_OFFSET_32: usize = 12;
/// The kernel's `MODULE_NAME_LEN` for 64-bit (`64 - sizeof(unsigned long)`).
const MODULE_NAME_LEN_64: usize = 56;
const MODULE_NAME_LEN_32: usize = 60;

/// One `.modinfo` record, split at the first `=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModinfoEntry<'a> {
    /// The key (before the first `=`; the whole record when there is no `=`).
    pub key: &'a [u8],
    /// The value (after the first `=`; empty when there is none).
    pub value: &'a [u8],
}

/// One `__versions` record: a symbol the module uses, with the CRC it was built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionEntry<'a> {
    /// The symbol's CRC.
    pub crc: u64,
    /// The symbol's name.
    pub name: &'a [u8],
}

/// How a symbol appears in a module's symbol table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    /// Undefined here: the module imports it.
    Undefined,
    /// A `__crc_NAME` symbol: the module exports NAME with this CRC.
    Crc(u64),
}

/// A symbol of interest from `.symtab`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolEntry<'a> {
    /// The symbol name (for a CRC symbol, without the `__crc_` prefix).
    pub name: &'a [u8],
    /// Whether it is imported or exported.
    pub kind: SymbolKind,
    /// Whether the symbol is weak (a weak undefined symbol is an optional import).
    pub weak: bool,
}

/// A parsed module image, borrowing the file's bytes.
#[derive(Debug, Clone)]
pub struct ElfModule<'a> {
    data: &'a [u8],
    is_64: bool,
    big_endian: bool,
    modinfo: Option<&'a [u8]>,
    versions: Option<&'a [u8]>,
    ksymtab_strings: Option<&'a [u8]>,
    build_id_note: Option<&'a [u8]>,
    this_module: Option<&'a [u8]>,
}

impl<'a> ElfModule<'a> {
    /// Parses an ELF image: its header, section table and section names.
    pub fn parse(data: &'a [u8]) -> Result<ElfModule<'a>, String> {
        if data.len() < 4 || data.get(..4) != Some(b"\x7fELF") {
            return Err("not an ELF file".into());
        }
        match FileKind::parse(data).map_err(|_| "unsupported ELF class".to_string())? {
            FileKind::Elf32 => Self::parse_with::<FileHeader32<Endianness>>(data, false),
            FileKind::Elf64 => Self::parse_with::<FileHeader64<Endianness>>(data, true),
            _ => Err("unsupported ELF class".into()),
        }
    }

    fn parse_with<H: FileHeader<Endian = Endianness>>(
        data: &'a [u8],
        is_64: bool,
    ) -> Result<ElfModule<'a>, String> {
        let header = H::parse(data).map_err(|e| e.to_string())?;
        let endian = header.endian().map_err(|e| e.to_string())?;
        let sections = header.sections(endian, data).map_err(|e| e.to_string())?;
        let find = |name: &[u8]| -> Result<Option<&'a [u8]>, String> {
            match sections.section_by_name(endian, name) {
                Some((_, shdr)) => shdr.data(endian, data).map(Some).map_err(|_| {
                    format!(
                        "section {} lies outside the file",
                        String::from_utf8_lossy(name)
                    )
                }),
                None => Ok(None),
            }
        };
        Ok(ElfModule {
            data,
            is_64,
            big_endian: endian == Endianness::Big,
            modinfo: find(b".modinfo")?,
            versions: find(b"__versions")?,
            ksymtab_strings: find(b"__ksymtab_strings")?,
            build_id_note: find(b".note.gnu.build-id")?,
            this_module: find(b".gnu.linkonce.this_module")?,
        })
    }

    /// Whether the image is a 64-bit ELF.
    pub fn is_64(&self) -> bool {
        self.is_64
    }

    /// Whether the image has a `.modinfo` section.
    pub fn has_modinfo(&self) -> bool {
        self.modinfo.is_some()
    }

    /// The `.modinfo` records in file order.
    ///
    /// Leading NUL padding is skipped and records are separated by runs of NULs, as kmod reads
    /// them; a last record without a terminating NUL still counts.
    pub fn modinfo(&self) -> Vec<ModinfoEntry<'a>> {
        let Some(section) = self.modinfo else {
            return Vec::new();
        };
        // kmod skips leading NUL padding and ignores what is left if it is a single byte.
        let start = section
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(section.len());
        let section = section.get(start..).unwrap_or_default();
        if section.len() <= 1 {
            return Vec::new();
        }
        section
            .split(|&b| b == 0)
            .filter(|record| !record.is_empty())
            .map(|record| match record.iter().position(|&b| b == b'=') {
                Some(eq) => ModinfoEntry {
                    key: record.get(..eq).unwrap_or_default(),
                    value: record.get(eq + 1..).unwrap_or_default(),
                },
                None => ModinfoEntry {
                    key: record,
                    value: &[],
                },
            })
            .collect()
    }

    /// The GNU build-id bytes, if the module has a well-formed build-id note.
    pub fn build_id(&self) -> Option<&'a [u8]> {
        let note = self.build_id_note?;
        let word = |at: usize| -> Option<u32> {
            let bytes: [u8; 4] = note.get(at..at.checked_add(4)?)?.try_into().ok()?;
            Some(if self.big_endian {
                u32::from_be_bytes(bytes)
            } else {
                u32::from_le_bytes(bytes)
            })
        };
        let namesz = usize::try_from(word(0)?).ok()?;
        let descsz = usize::try_from(word(4)?).ok()?;
        if word(8)? != NT_GNU_BUILD_ID {
            return None;
        }
        // kmod compares the name with "GNU" as a C string and reads the id right after
        // namesz bytes of name, without alignment padding.
        let name = note.get(12..12usize.checked_add(namesz)?)?;
        let name = name.split(|&b| b == 0).next().unwrap_or_default();
        if name != b"GNU" {
            return None;
        }
        let start = 12usize.checked_add(namesz)?;
        let desc = note.get(start..start.checked_add(descsz)?)?;
        (!desc.is_empty()).then_some(desc)
    }

    /// The `__versions` records, in file order. A trailing partial record is ignored.
    pub fn versions(&self) -> Vec<VersionEntry<'a>> {
        let Some(section) = self.versions else {
            return Vec::new();
        };
        section
            .chunks_exact(VERSION_RECORD_LEN)
            .map(|record| {
                let (crc_len, name_start) = if self.is_64 { (8, 8) } else { (4, 4) };
                let crc_bytes = record.get(..crc_len).unwrap_or_default();
                let crc = crc_bytes.iter().enumerate().fold(0u64, |acc, (i, &b)| {
                    if self.big_endian {
                        (acc << 8) | u64::from(b)
                    } else {
                        acc | (u64::from(b) << (8 * i))
                    }
                });
                let name = record.get(name_start..).unwrap_or_default();
                let name = name.split(|&b| b == 0).next().unwrap_or_default();
                VersionEntry { crc, name }
            })
            .collect()
    }

    /// The raw `__versions` section, or `None` when the module has none.
    pub fn versions_section(&self) -> Option<&'a [u8]> {
        self.versions
    }

    /// The raw `__ksymtab_strings` section, or `None` when the module has none.
    pub fn ksymtab_strings_section(&self) -> Option<&'a [u8]> {
        self.ksymtab_strings
    }

    /// The names listed in `__ksymtab_strings` (exported symbols), in file order.
    pub fn ksymtab_strings(&self) -> Vec<&'a [u8]> {
        self.ksymtab_strings
            .map(|s| s.split(|&b| b == 0).filter(|n| !n.is_empty()).collect())
            .unwrap_or_default()
    }

    /// The module name recorded in `.gnu.linkonce.this_module`, if present.
    pub fn this_module_name(&self) -> Option<&'a [u8]> {
        let section = self.this_module?;
        let (offset, len) = if self.is_64 {
            (THIS_MODULE_NAME_OFFSET_64, MODULE_NAME_LEN_64)
        } else {
            (THIS_MODULE_NAME_OFFSET_32, MODULE_NAME_LEN_32)
        };
        let field = section.get(offset..offset.checked_add(len)?)?;
        let name = field.split(|&b| b == 0).next()?;
        (!name.is_empty()).then_some(name)
    }

    /// The symbols depmod needs from `.symtab`: undefined symbols (imports) and `__crc_*`
    /// symbols (exports with their CRC), in table order.
    pub fn symbols(&self) -> Result<Vec<SymbolEntry<'a>>, String> {
        if self.is_64 {
            self.symbols_with::<FileHeader64<Endianness>>()
        } else {
            self.symbols_with::<FileHeader32<Endianness>>()
        }
    }

    fn symbols_with<H: FileHeader<Endian = Endianness>>(
        &self,
    ) -> Result<Vec<SymbolEntry<'a>>, String> {
        let data = self.data;
        let header = H::parse(data).map_err(|e| e.to_string())?;
        let endian = header.endian().map_err(|e| e.to_string())?;
        let sections: SectionTable<'a, H> =
            header.sections(endian, data).map_err(|e| e.to_string())?;
        let table = sections
            .symbols(endian, data, SHT_SYMTAB)
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for symbol in table.iter() {
            let Ok(name) = symbol.name(endian, table.strings()) else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            let weak = symbol.st_bind() == object::elf::STB_WEAK;
            if symbol.is_undefined(endian) {
                out.push(SymbolEntry {
                    name,
                    kind: SymbolKind::Undefined,
                    weak,
                });
            } else if let Some(exported) = name.strip_prefix(b"__crc_") {
                let value: u64 = symbol.st_value(endian).into();
                let shndx = symbol.st_shndx(endian);
                let crc = if shndx == object::elf::SHN_ABS || shndx == object::elf::SHN_UNDEF {
                    value
                } else {
                    // The CRC is stored in the symbol's section, at the symbol's value.
                    sections
                        .section(object::SectionIndex(usize::from(shndx)))
                        .ok()
                        .and_then(|shdr| shdr.data(endian, data).ok())
                        .and_then(|bytes| {
                            let at = usize::try_from(value).ok()?;
                            let word: [u8; 4] =
                                bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
                            Some(u64::from(if self.big_endian {
                                u32::from_be_bytes(word)
                            } else {
                                u32::from_le_bytes(word)
                            }))
                        })
                        .unwrap_or(value)
                };
                out.push(SymbolEntry {
                    name: exported,
                    kind: SymbolKind::Crc(crc),
                    weak,
                });
            }
        }
        Ok(out)
    }
}
