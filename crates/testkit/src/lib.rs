//! Synthetic kernel modules for tests that must run anywhere.
//!
//! [`ModuleSpec`] describes a module (its `.modinfo` records, exports, imports, `__versions`,
//! build-id, an appended signature) and [`ModuleSpec::build`] writes a relocatable x86-64 ELF
//! with those sections, the way the kernel's build lays them out. [`compress`] packs it as
//! `.ko.gz`, `.ko.xz` or `.ko.zst`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use object::write::{Object, StandardSection, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

/// A synthetic module.
#[derive(Debug, Clone, Default)]
pub struct ModuleSpec {
    /// The module name, written into `.gnu.linkonce.this_module`.
    pub name: String,
    /// `.modinfo` records, in order (`key`, `value`).
    pub modinfo: Vec<(String, String)>,
    /// Exported symbols with their CRCs (`__crc_NAME` absolute symbols and `__ksymtab_strings`).
    pub exports: Vec<(String, u32)>,
    /// Imported (undefined) symbols.
    pub imports: Vec<String>,
    /// `__versions` records (CRC, name).
    pub versions: Vec<(u64, String)>,
    /// The GNU build-id, if any.
    pub build_id: Option<Vec<u8>>,
    /// Bytes appended after the ELF image (a signature block, for instance).
    pub trailer: Vec<u8>,
}

impl ModuleSpec {
    /// A module called `name` with a license and nothing else.
    pub fn new(name: &str) -> ModuleSpec {
        ModuleSpec {
            name: name.to_string(),
            modinfo: vec![("license".into(), "GPL".into())],
            ..ModuleSpec::default()
        }
    }

    /// Adds a `.modinfo` record.
    pub fn info(mut self, key: &str, value: &str) -> ModuleSpec {
        self.modinfo.push((key.into(), value.into()));
        self
    }

    /// Writes the module as an ELF relocatable object.
    pub fn build(&self) -> Vec<u8> {
        let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
        let text = obj.section_id(StandardSection::Text);
        obj.append_section_data(text, &[0xc3], 16);

        let mut modinfo = Vec::new();
        for (k, v) in &self.modinfo {
            modinfo.extend_from_slice(k.as_bytes());
            modinfo.push(b'=');
            modinfo.extend_from_slice(v.as_bytes());
            modinfo.push(0);
        }
        let section = obj.add_section(Vec::new(), b".modinfo".to_vec(), SectionKind::ReadOnlyData);
        obj.append_section_data(section, &modinfo, 1);

        if !self.versions.is_empty() {
            let mut data = Vec::new();
            for (crc, name) in &self.versions {
                let mut record = [0u8; 64];
                record[..8].copy_from_slice(&crc.to_le_bytes());
                let n = name.as_bytes();
                record[8..8 + n.len().min(55)].copy_from_slice(&n[..n.len().min(55)]);
                data.extend_from_slice(&record);
            }
            let section = obj.add_section(
                Vec::new(),
                b"__versions".to_vec(),
                SectionKind::ReadOnlyData,
            );
            obj.append_section_data(section, &data, 32);
        }

        let mut this_module = vec![0u8; 24];
        let mut name = self.name.as_bytes().to_vec();
        name.resize(56, 0);
        this_module.extend_from_slice(&name);
        this_module.resize(1024, 0);
        let section = obj.add_section(
            Vec::new(),
            b".gnu.linkonce.this_module".to_vec(),
            SectionKind::Data,
        );
        obj.append_section_data(section, &this_module, 64);

        if let Some(id) = &self.build_id {
            let mut note = Vec::new();
            note.extend_from_slice(&4u32.to_le_bytes());
            note.extend_from_slice(&(id.len() as u32).to_le_bytes());
            note.extend_from_slice(&3u32.to_le_bytes());
            note.extend_from_slice(b"GNU\0");
            note.extend_from_slice(id);
            let section = obj.add_section(
                Vec::new(),
                b".note.gnu.build-id".to_vec(),
                SectionKind::Note,
            );
            obj.append_section_data(section, &note, 4);
        }

        if !self.exports.is_empty() {
            let mut strings = Vec::new();
            for (name, crc) in &self.exports {
                strings.extend_from_slice(name.as_bytes());
                strings.push(0);
                obj.add_symbol(Symbol {
                    name: format!("__crc_{name}").into_bytes(),
                    value: u64::from(*crc),
                    size: 0,
                    // object cannot write a defined symbol of unknown type.
                    kind: SymbolKind::Data,
                    scope: SymbolScope::Dynamic,
                    weak: false,
                    section: SymbolSection::Absolute,
                    flags: SymbolFlags::None,
                });
            }
            let section = obj.add_section(
                Vec::new(),
                b"__ksymtab_strings".to_vec(),
                SectionKind::ReadOnlyString,
            );
            obj.append_section_data(section, &strings, 1);
        }
        for name in &self.imports {
            obj.add_symbol(Symbol {
                name: name.as_bytes().to_vec(),
                value: 0,
                size: 0,
                kind: SymbolKind::Unknown,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Undefined,
                flags: SymbolFlags::None,
            });
        }
        let mut bytes = obj.write().expect("object::write can write this module");
        bytes.extend_from_slice(&self.trailer);
        bytes
    }
}

/// A compression format for [`compress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// gzip
    Gzip,
    /// xz
    Xz,
    /// zstd
    Zstd,
}

impl Format {
    /// All three formats.
    pub const ALL: [Format; 3] = [Format::Gzip, Format::Xz, Format::Zstd];

    /// The file suffix (`.ko.gz`, ...).
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Gzip => ".ko.gz",
            Format::Xz => ".ko.xz",
            Format::Zstd => ".ko.zst",
        }
    }
}

/// Compresses `data` in `format`.
pub fn compress(data: &[u8], format: Format) -> Vec<u8> {
    use std::io::Write;
    match format {
        Format::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(data).unwrap();
            enc.finish().unwrap()
        }
        Format::Xz => {
            let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
            enc.write_all(data).unwrap();
            enc.finish().unwrap()
        }
        Format::Zstd => zstd::stream::encode_all(data, 3).unwrap(),
    }
}
