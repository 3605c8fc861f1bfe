//! What depmod reads from each module, and from the kernel's own symbol lists.
//!
//! # Module files
//!
//! [`read_module`] opens a module (decompressing it), and extracts, the way libkmod does:
//!
//! - **exports**: the `__crc_NAME` entries of the section named `.symtab` (names from the
//!   section named `.strtab`), each with its CRC: the symbol's value when it is absolute
//!   (`SHN_ABS`) or undefined, else the 32-bit word at that offset of the symbol's section
//!   (all ones when that section is unusable). When there is no usable symbol table, or no
//!   `__crc_` symbol in it, the names in `__ksymtab_strings` are the exports, with CRC 0.
//! - **imports** (libkmod's "dependency symbols"): every undefined symbol with a non-empty
//!   name, in table order, weak or not, each with the CRC of the same-named `__versions`
//!   record (0 when there is none); then the `__versions` records no symbol referred to
//!   (`module_layout` and the like).
//! - the `.modinfo` values of `alias`, `softdep` and `weakdep`, in file order.
//!
//! Sections are found by name, the first valid section of each name winning. A section whose
//! header is out of bounds, or whose data runs past the end of the file, does not exist.
//!
//! The ELF layouts read here (all fields in the file's byte order):
//!
//! ```text
//! ELF header     e_machine @18 u16 | e_shoff @32/@40 (u32/u64) | e_shentsize @46/@58 u16
//!                e_shnum @48/@60 u16 | e_shstrndx @50/@62 u16          (32-bit/64-bit)
//! section header (40/64 bytes) sh_name @0 u32 | sh_offset @16/@24 | sh_size @20/@32
//! symbol (16/24 bytes)  32-bit: name u32, value u32, size u32, info u8, other u8, shndx u16
//!                       64-bit: name u32, info u8, other u8, shndx u16, value u64, size u64
//! __versions record (64 bytes)  CRC (u32 on 32-bit, u64 on 64-bit), then a NUL-padded name
//! ```
//!
//! Failures follow libkmod's severity. A file that cannot be opened, decompressed or parsed
//! as ELF is a [`LoadError`]: the module then has no exports, imports or aliases, and
//! depmod reports it once. A broken `__ksymtab_strings` (not NUL-terminated) is also a
//! [`LoadError`] for the exports, but aliases and imports are still read. A symbol table
//! that is missing or inconsistent for imports silently gives no imports.
//!
//! # Kernel symbols
//!
//! [`KernelSymbols::from_system_map`] reads `System.map` (`ADDR TYPE NAME` lines; every
//! `__ksymtab_NAME` symbol is an export of the kernel) and
//! [`KernelSymbols::from_symvers`] reads `Module.symvers` (`CRC<TAB>NAME<TAB>vmlinux<TAB>...`
//! lines; only `vmlinux` entries count).

use rustc_hash::FxHashMap as HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::Diagnostic;
use crate::error::Error;
use crate::module::compression::{self, Compression};

/// `SHN_UNDEF`: an undefined symbol.
const SHN_UNDEF: u16 = 0;
/// `SHN_ABS`: an absolute symbol.
const SHN_ABS: u16 = 0xfff1;
/// `STB_WEAK`.
const STB_WEAK: u8 = 2;
/// `STT_REGISTER` (SPARC), ignored among undefined symbols on SPARC.
const STT_REGISTER: u8 = 13;
/// `EM_SPARC` and `EM_SPARCV9`.
const EM_SPARC: u16 = 2;
const EM_SPARCV9: u16 = 43;
/// The size of a `__versions` record.
const VERSION_RECORD: usize = 64;
/// The longest line kmod reads from System.map or Module.symvers (its buffer size).
const SYMBOL_FILE_LINE_MAX: usize = 10240;

/// A byte range in a [`ModuleSymbols`] arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

/// A symbol a module exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Export {
    /// The symbol name.
    pub name: Span,
    /// Its CRC.
    pub crc: u64,
}

/// A symbol a module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Import {
    /// The symbol name, as the module spells it.
    pub name: Span,
    /// The CRC the module was built against (0 when unknown).
    pub crc: u64,
    /// Whether the reference is weak (then it never produces warnings).
    pub weak: bool,
}

/// Why a module's symbols could not be read, with the errno libkmod would have returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The errno value kmod reports (`ENOEXEC` for a file that is not ELF, `EINVAL` for a
    /// broken one, or the operating system's error).
    pub errno: i32,
    /// A description beyond the errno, where kmod's own message would say more (a
    /// decompression failure, which libkmod logs separately). `None` where kmod prints the
    /// errno text alone.
    pub detail: Option<String>,
}

/// Where a [`ModuleSymbols`] keeps its names.
#[derive(Debug, Clone)]
pub(crate) enum Arena {
    /// Its own bytes (a module read from its file).
    Owned(Vec<u8>),
    /// A piece of the module cache's bytes, shared by every module taken from the cache
    /// (mapped, not copied).
    Shared {
        /// The whole cache file.
        bytes: std::sync::Arc<crate::mmap::FileBytes>,
        /// Where the names start in it.
        start: usize,
        /// How many bytes they take.
        len: usize,
    },
}

impl Default for Arena {
    fn default() -> Arena {
        Arena::Owned(Vec::new())
    }
}

impl Arena {
    fn bytes(&self) -> &[u8] {
        match self {
            Arena::Owned(bytes) => bytes,
            Arena::Shared { bytes, start, len } => bytes
                .get(*start..start.saturating_add(*len))
                .unwrap_or_default(),
        }
    }
}

/// Everything depmod keeps from one module file. Names live in one arena per module.
#[derive(Debug, Clone, Default)]
pub struct ModuleSymbols {
    arena: Arena,
    /// The exported symbols, in table order.
    pub exports: Vec<Export>,
    /// The needed symbols; `None` when libkmod would have found none (or failed).
    pub imports: Option<Vec<Import>>,
    /// `alias` values from `.modinfo`.
    pub aliases: Vec<Span>,
    /// `softdep` values.
    pub softdeps: Vec<Span>,
    /// `weakdep` values.
    pub weakdeps: Vec<Span>,
    /// Set when reading the exports failed: depmod reports "failed to load symbols".
    pub load_error: Option<LoadError>,
}

impl ModuleSymbols {
    /// The bytes of a span.
    pub fn get(&self, span: Span) -> &[u8] {
        let start = span.start as usize;
        self.arena
            .bytes()
            .get(start..start.saturating_add(span.len as usize))
            .unwrap_or_default()
    }

    /// All names, concatenated (what the spans index).
    pub fn arena(&self) -> &[u8] {
        self.arena.bytes()
    }

    /// Puts an extract back together from its parts (the module cache's decoder, which
    /// has checked every span against `arena`).
    pub(crate) fn from_parts(
        arena: Arena,
        exports: Vec<Export>,
        imports: Option<Vec<Import>>,
        aliases: Vec<Span>,
        softdeps: Vec<Span>,
        weakdeps: Vec<Span>,
    ) -> ModuleSymbols {
        ModuleSymbols {
            arena,
            exports,
            imports,
            aliases,
            softdeps,
            weakdeps,
            load_error: None,
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Span {
        // Only a module being read pushes names; its arena is its own.
        let Arena::Owned(arena) = &mut self.arena else {
            return Span { start: 0, len: 0 };
        };
        let start = u32::try_from(arena.len()).unwrap_or(u32::MAX);
        let len = u32::try_from(bytes.len()).unwrap_or(0);
        if start == u32::MAX || start.checked_add(len).is_none() {
            // Cannot happen below MAX_MODULE_SIZE; keep the span empty rather than wrong.
            return Span { start: 0, len: 0 };
        }
        arena.extend_from_slice(bytes);
        Span { start, len }
    }

    fn failed(errno: i32, detail: Option<String>) -> ModuleSymbols {
        ModuleSymbols {
            load_error: Some(LoadError { errno, detail }),
            ..ModuleSymbols::default()
        }
    }
}

const EINVAL: i32 = 22;
const ENOEXEC: i32 = 8;

/// Reads a module file (see the module documentation). Never fails: problems are recorded in
/// [`ModuleSymbols::load_error`].
pub fn read_module(path: &Path) -> ModuleSymbols {
    read_module_with_stat(path).0
}

/// [`read_module`], also returning the `fstat` of the descriptor the module was read from
/// (`None` when it could not be opened), which is what the module cache keys entries by.
///
/// A plain (uncompressed) module is not read whole: only its ELF header, section table,
/// section names and the sections depmod looks at are read, into a zeroed buffer of the
/// file's size (one per thread, kept between reads), so every offset means what it means in
/// the file (see `read_sparse`).
pub fn read_module_with_stat(path: &Path) -> (ModuleSymbols, Option<std::fs::Metadata>) {
    let opened = crate::fs::open_nonblocking(path)
        .map_err(|e| Error::io(path, e))
        .and_then(|file| crate::fs::check_regular_file(file, path));
    let (file, meta) = match opened {
        Ok(opened) => opened,
        Err(e) => return (failed_from(&e), None),
    };
    let len = meta.len();
    let mut head = [0u8; compression::MAGIC_LEN];
    let symbols = match crate::fs::read_full_at(&file, &mut head, 0) {
        Err(e) => failed_from(&Error::io(path, e)),
        Ok(got) => match Compression::detect(head.get(..got).unwrap_or_default()) {
            Compression::None => match read_sparse(&file, len) {
                Some(symbols) => symbols,
                None => match crate::mmap::FileBytes::from_file(&file, len) {
                    Ok(bytes) => read_image(&bytes),
                    Err(e) => failed_from(&Error::io(path, e)),
                },
            },
            format => {
                match compression::decompress(
                    format,
                    &file,
                    len,
                    crate::module::MAX_MODULE_SIZE,
                    path,
                ) {
                    Ok(image) => read_image(&image),
                    Err(e) => failed_from(&e),
                }
            }
        },
    };
    (symbols, Some(meta))
}

/// The extract of a module that could not be opened or decompressed, with libkmod's errno.
fn failed_from(e: &Error) -> ModuleSymbols {
    match e {
        Error::Io { source, .. } => {
            ModuleSymbols::failed(source.raw_os_error().unwrap_or(EINVAL), None)
        }
        Error::Decompress { format, reason, .. } => {
            ModuleSymbols::failed(EINVAL, Some(format!("{format}: {reason}")))
        }
        Error::NotRegularFile { .. } => {
            ModuleSymbols::failed(EINVAL, Some("not a regular file".into()))
        }
        other => ModuleSymbols::failed(EINVAL, Some(other.to_string())),
    }
}

/// The sections depmod reads, by name (`__kcrctab*` hold the CRCs `__crc_` symbols point at).
fn wanted_section(name: &[u8]) -> bool {
    matches!(
        name,
        b"__ksymtab_strings" | b".modinfo" | b".strtab" | b".symtab" | b"__versions"
    ) || name.starts_with(b"__kcrctab")
}

/// Gaps smaller than this between wanted ranges are read rather than skipped.
const SPARSE_GAP: usize = 4096;

/// Reads what [`read_image`] looks at of a plain module, and extracts from it; `None` when
/// the result could differ from reading the whole file (then the caller reads it whole).
///
/// The buffer has the file's size with every byte that was not read left zero. Everything
/// the extraction reads lies in the ranges read: the header, the section table and the name
/// table decide which sections exist (all read), the wanted sections are read, and so are
/// the sections the `__crc_` symbols' values point into. Two things would reach beyond them
/// and make this give up: a string table without a final NUL (a symbol name would run on
/// into unread bytes) and a read error or short read (the whole read reports it).
fn read_sparse(file: &std::fs::File, len: u64) -> Option<ModuleSymbols> {
    if len > crate::module::MAX_MODULE_SIZE {
        return None;
    }
    let size = usize::try_from(len).ok()?;
    // The thread's zeroed buffer: taken, grown if needed, and given back with every byte
    // this read wrote zeroed again, so a run pays for the bytes it reads, not file sizes.
    let mut scratch = SPARSE_BUFFER.with(std::cell::Cell::take);
    if scratch.len() < size {
        scratch.resize(size, 0);
    }
    let mut loaded: Vec<(usize, usize)> = Vec::new();
    let extracted = match scratch.get_mut(..size) {
        Some(buf) => extract_sparse(file, buf, &mut loaded),
        None => None,
    };
    for &(start, len) in &loaded {
        if let Some(written) = scratch.get_mut(start..start.saturating_add(len)) {
            written.fill(0);
        }
    }
    if scratch.len() <= KEEP_SPARSE_BUFFER {
        SPARSE_BUFFER.with(|cell| cell.set(scratch));
    }
    extracted
}

thread_local! {
    /// [`read_sparse`]'s buffer, all zero between reads.
    static SPARSE_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The largest [`SPARSE_BUFFER`] a thread keeps between reads.
const KEEP_SPARSE_BUFFER: usize = 64 << 20;

/// [`read_sparse`] into `buf` (zero, the file's size); every range written is recorded in
/// `loaded`, even when its read then fails.
fn extract_sparse(
    file: &std::fs::File,
    buf: &mut [u8],
    loaded: &mut Vec<(usize, usize)>,
) -> Option<ModuleSymbols> {
    let size = buf.len();
    let header = size.min(64);
    load(file, buf, loaded, &[(0, header)])?;
    // The section table, then the name table.
    let table = {
        let elf = RawElf::header_only(buf)?;
        let (shoff_at, shentsize_at, shnum_at) = if elf.is32 { (32, 46, 48) } else { (40, 58, 60) };
        let shoff = usize::try_from(elf.word_at(shoff_at)?).ok()?;
        let entry = usize::from(elf.u16_at(shentsize_at)?);
        let count = usize::from(elf.u16_at(shnum_at)?);
        (shoff, entry.checked_mul(count)?)
    };
    if table.0.checked_add(table.1)? > size {
        return None;
    }
    load(file, buf, loaded, &[table])?;
    let names = {
        let elf = RawElf::header_only(buf)?;
        let shstrndx_at = if elf.is32 { 50 } else { 62 };
        let index = elf.u16_at(shstrndx_at)?;
        let mut elf = elf;
        elf.shoff = table.0;
        elf.shnum = u16::try_from(table.1 / if elf.is32 { 40 } else { 64 }).ok()?;
        let (section, _) = elf.section_header(index)?;
        (section.offset, section.size)
    };
    load(file, buf, loaded, &[names])?;
    let wanted: Vec<(usize, usize)> = {
        let elf = RawElf::parse(buf).ok()?;
        (1..elf.shnum)
            .filter_map(|index| elf.section(index))
            .filter(|(_, name)| wanted_section(name))
            .map(|(section, _)| (section.offset, section.size))
            .collect()
    };
    load(file, buf, loaded, &wanted)?;
    let crc_sections: Vec<(usize, usize)> = {
        let elf = RawElf::parse(buf).ok()?;
        if let Some(strtab) = elf.sections.strtab {
            let last = strtab.offset.checked_add(strtab.size.checked_sub(1)?)?;
            if buf.get(last) != Some(&0) {
                return None;
            }
        }
        elf.crc_sections()
            .filter_map(|index| elf.section_header(index))
            .map(|(section, _)| (section.offset, section.size))
            .filter(|range| !covered(loaded, *range))
            .collect()
    };
    load(file, buf, loaded, &crc_sections)?;
    Some(read_image(buf))
}

/// Whether `range` lies inside one of the `loaded` ranges.
fn covered(loaded: &[(usize, usize)], (offset, size): (usize, usize)) -> bool {
    let end = offset.saturating_add(size);
    loaded
        .iter()
        .any(|&(start, len)| start <= offset && end <= start.saturating_add(len))
}

/// Reads `ranges` (offset, size; inside `buf`) of `file` into `buf`, joining ranges closer
/// than [`SPARSE_GAP`]; `None` on a read error or a short read.
fn load(
    file: &std::fs::File,
    buf: &mut [u8],
    loaded: &mut Vec<(usize, usize)>,
    ranges: &[(usize, usize)],
) -> Option<()> {
    let mut todo: Vec<(usize, usize)> = ranges
        .iter()
        .filter(|&&(_, size)| size > 0)
        .filter(|&&range| !covered(loaded, range))
        .map(|&(offset, size)| Some((offset, offset.checked_add(size)?)))
        .collect::<Option<_>>()?;
    todo.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(todo.len());
    for (start, end) in todo {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(SPARSE_GAP) => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    for (start, end) in merged {
        let piece = buf.get_mut(start..end)?;
        // Recorded first: a failed or short read may still have written part of it.
        loaded.push((start, end - start));
        let got = crate::fs::read_full_at(file, piece, u64::try_from(start).ok()?).ok()?;
        if got != piece.len() {
            return None;
        }
    }
    Some(())
}

/// Reads a module image already in memory (decompressed).
pub fn read_image(data: &[u8]) -> ModuleSymbols {
    // libkmod refuses files shorter than its 6-byte magic probe before anything else.
    if data.len() < 6 {
        return ModuleSymbols::failed(EINVAL, None);
    }
    let elf = match RawElf::parse(data) {
        Ok(elf) => elf,
        Err(ElfError::NotElf) => return ModuleSymbols::failed(ENOEXEC, None),
        // kmod reports these by errno alone, and so do we.
        Err(ElfError::Invalid) => return ModuleSymbols::failed(EINVAL, None),
    };
    let mut out = ModuleSymbols::default();
    if elf.exports(&mut out).is_err() {
        out.load_error = Some(LoadError {
            errno: EINVAL,
            detail: None,
        });
    }
    elf.modinfo(&mut out);
    out.imports = elf.imports(&mut out);
    out
}

enum ElfError {
    /// No ELF magic (kmod: `ENOEXEC`).
    NotElf,
    /// Not a usable ELF file (kmod: `EINVAL`).
    Invalid,
}

#[derive(Debug, Clone, Copy, Default)]
struct Section {
    offset: usize,
    size: usize,
}

/// The sections libkmod looks up by name.
#[derive(Debug, Default)]
struct Sections {
    ksymtab_strings: Option<Section>,
    modinfo: Option<Section>,
    strtab: Option<Section>,
    symtab: Option<Section>,
    versions: Option<Section>,
}

struct RawElf<'a> {
    data: &'a [u8],
    is32: bool,
    msb: bool,
    machine: u16,
    shoff: usize,
    shnum: u16,
    shstr: Section,
    sections: Sections,
}

impl<'a> RawElf<'a> {
    fn uint(&self, at: usize, size: usize) -> Option<u64> {
        let bytes = self.data.get(at..at.checked_add(size)?)?;
        Some(if self.msb {
            bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        } else {
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        })
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        self.uint(at, 2).and_then(|v| u16::try_from(v).ok())
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        self.uint(at, 4).and_then(|v| u32::try_from(v).ok())
    }

    fn word_at(&self, at: usize) -> Option<u64> {
        self.uint(at, if self.is32 { 4 } else { 8 })
    }

    fn range_ok(&self, offset: u64, size: u64) -> Option<Section> {
        let end = offset.checked_add(size)?;
        if end > self.data.len() as u64 {
            return None;
        }
        Some(Section {
            offset: usize::try_from(offset).ok()?,
            size: usize::try_from(size).ok()?,
        })
    }

    /// The ELF header's class and byte order only, for reading fields of the header before
    /// the rest of the file is there (`read_sparse`).
    fn header_only(data: &'a [u8]) -> Option<RawElf<'a>> {
        if data.get(..4) != Some(b"\x7fELF") {
            return None;
        }
        let is32 = match data.get(4) {
            Some(1) => true,
            Some(2) => false,
            _ => return None,
        };
        let msb = match data.get(5) {
            Some(1) => false,
            Some(2) => true,
            _ => return None,
        };
        Some(RawElf {
            data,
            is32,
            msb,
            machine: 0,
            shoff: 0,
            shnum: 0,
            shstr: Section::default(),
            sections: Sections::default(),
        })
    }

    /// The section indices the `__crc_` symbols' values are read from (see `resolve_crc`).
    fn crc_sections(&self) -> impl Iterator<Item = u16> + '_ {
        let tables = self.sections.strtab.zip(self.sections.symtab);
        let symlen = self.symbol_len();
        let count = tables.map_or(0, |(_, symtab)| symtab.size / symlen);
        (1..count).filter_map(move |i| {
            let (strtab, symtab) = tables?;
            let (name_off, _, _, shndx) = self.symbol(symtab, i)?;
            if name_off as usize >= strtab.size || shndx == SHN_ABS || shndx == SHN_UNDEF {
                return None;
            }
            self.symbol_name(strtab, name_off)
                .starts_with(b"__crc_")
                .then_some(shndx)
        })
    }

    fn parse(data: &'a [u8]) -> Result<RawElf<'a>, ElfError> {
        if data.len() <= 16 || data.get(..4) != Some(b"\x7fELF") {
            return Err(ElfError::NotElf);
        }
        // Class, then a file longer than its header, then byte order, as libkmod checks them.
        let is32 = match data.get(4) {
            Some(1) => true,
            Some(2) => false,
            _ => return Err(ElfError::Invalid),
        };
        let header_len = if is32 { 52 } else { 64 };
        if data.len() <= header_len {
            return Err(ElfError::Invalid);
        }
        let msb = match data.get(5) {
            Some(1) => false,
            Some(2) => true,
            _ => return Err(ElfError::Invalid),
        };
        let mut elf = RawElf {
            data,
            is32,
            msb,
            machine: 0,
            shoff: 0,
            shnum: 0,
            shstr: Section::default(),
            sections: Sections::default(),
        };
        let (shoff_at, shentsize_at, shnum_at, shstrndx_at) = if is32 {
            (32, 46, 48, 50)
        } else {
            (40, 58, 60, 62)
        };
        // The header fields are inside the data, checked above; `?` only guards the reads.
        elf.machine = elf.u16_at(18).ok_or(ElfError::Invalid)?;
        let shoff = elf.word_at(shoff_at).ok_or(ElfError::Invalid)?;
        let shentsize = elf.u16_at(shentsize_at).ok_or(ElfError::Invalid)?;
        elf.shnum = elf.u16_at(shnum_at).ok_or(ElfError::Invalid)?;
        let shstrndx = elf.u16_at(shstrndx_at).ok_or(ElfError::Invalid)?;
        // Section headers of the expected size, all inside the file.
        let expected = if is32 { 40 } else { 64 };
        if usize::from(shentsize) != expected {
            return Err(ElfError::Invalid);
        }
        let table = elf
            .range_ok(shoff, (expected as u64) * u64::from(elf.shnum))
            .ok_or(ElfError::Invalid)?;
        elf.shoff = table.offset;
        // The section name table: an existing section (kmod asserts that the index is in range,
        // and aborts; we call the file invalid), inside the file, ending with a NUL.
        let (shstr, _) = elf.section_header(shstrndx).ok_or(ElfError::Invalid)?;
        let last = shstr
            .size
            .checked_sub(1)
            .and_then(|i| data.get(shstr.offset.checked_add(i)?));
        if last != Some(&0) {
            return Err(ElfError::Invalid);
        }
        elf.shstr = shstr;
        elf.find_sections();
        Ok(elf)
    }

    /// The data range and name offset of section `index`, if its header and data are in
    /// bounds.
    fn section_header(&self, index: u16) -> Option<(Section, u32)> {
        if index == 0 || index >= self.shnum {
            return None;
        }
        let entry = if self.is32 { 40 } else { 64 };
        let at = self
            .shoff
            .checked_add(usize::from(index).checked_mul(entry)?)?;
        let (offset_at, size_at) = if self.is32 { (16, 20) } else { (24, 32) };
        let name = self.u32_at(at)?;
        let offset = self.word_at(at.checked_add(offset_at)?)?;
        let size = self.word_at(at.checked_add(size_at)?)?;
        Some((self.range_ok(offset, size)?, name))
    }

    /// A section's data, with libkmod's name check (the name offset inside the name table).
    fn section(&self, index: u16) -> Option<(Section, &'a [u8])> {
        let (section, name_off) = self.section_header(index)?;
        if name_off as usize >= self.shstr.size {
            return None;
        }
        let names = self
            .data
            .get(self.shstr.offset..self.shstr.offset.checked_add(self.shstr.size)?)?;
        Some((section, c_str(names, name_off as usize)))
    }

    fn find_sections(&mut self) {
        let mut found = Sections::default();
        for index in 1..self.shnum {
            let Some((section, name)) = self.section(index) else {
                continue;
            };
            let slot = match name {
                b"__ksymtab_strings" => &mut found.ksymtab_strings,
                b".modinfo" => &mut found.modinfo,
                b".strtab" => &mut found.strtab,
                b".symtab" => &mut found.symtab,
                b"__versions" => &mut found.versions,
                _ => continue,
            };
            // libkmod treats a section at offset 0 as missing.
            if slot.is_none() && section.offset != 0 {
                *slot = Some(section);
            } else if slot.is_none() {
                // An offset-0 section still "takes" the name in libkmod's bookkeeping.
                *slot = Some(Section { offset: 0, size: 0 });
            }
        }
        for slot in [
            &mut found.ksymtab_strings,
            &mut found.modinfo,
            &mut found.strtab,
            &mut found.symtab,
            &mut found.versions,
        ] {
            if slot.is_some_and(|s| s.offset == 0) {
                *slot = None;
            }
        }
        self.sections = found;
    }

    fn bytes(&self, section: Section) -> &'a [u8] {
        self.data
            .get(section.offset..section.offset.saturating_add(section.size))
            .unwrap_or_default()
    }

    fn symbol_len(&self) -> usize {
        if self.is32 {
            16
        } else {
            24
        }
    }

    /// (name offset, value, info, shndx) of symbol `i` of a table at `table`.
    fn symbol(&self, table: Section, i: usize) -> Option<(u32, u64, u8, u16)> {
        let at = table
            .offset
            .checked_add(i.checked_mul(self.symbol_len())?)?;
        let name = self.u32_at(at)?;
        if self.is32 {
            let value = self.uint(at.checked_add(4)?, 4)?;
            let info = *self.data.get(at.checked_add(12)?)?;
            let shndx = self.u16_at(at.checked_add(14)?)?;
            Some((name, value, info, shndx))
        } else {
            let info = *self.data.get(at.checked_add(4)?)?;
            let shndx = self.u16_at(at.checked_add(6)?)?;
            let value = self.uint(at.checked_add(8)?, 8)?;
            Some((name, value, info, shndx))
        }
    }

    /// The symbol name at `offset` of the string table: a C string, cut at the end of the file
    /// if it has no NUL.
    fn symbol_name(&self, strtab: Section, offset: u32) -> &'a [u8] {
        let start = strtab.offset.saturating_add(offset as usize);
        c_str(self.data, start)
    }

    fn exports(&self, out: &mut ModuleSymbols) -> Result<(), &'static str> {
        if self.crc_exports(out) {
            return Ok(());
        }
        // Fallback: __ksymtab_strings, CRC 0.
        let Some(section) = self.sections.ksymtab_strings else {
            return Ok(()); // libkmod: no symbols (not an error)
        };
        let mut strings = self.bytes(section);
        while strings.len() > 1 && strings.first() == Some(&0) {
            strings = strings.get(1..).unwrap_or_default();
        }
        if strings.len() <= 1 {
            return Ok(());
        }
        if strings.last() != Some(&0) {
            return Err("__ksymtab_strings does not end with a NUL byte");
        }
        for name in strings.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            let name = out.push(name);
            out.exports.push(Export { name, crc: 0 });
        }
        Ok(())
    }

    /// The `__crc_` exports; false when libkmod would fall back to `__ksymtab_strings`.
    fn crc_exports(&self, out: &mut ModuleSymbols) -> bool {
        let (Some(strtab), Some(symtab)) = (self.sections.strtab, self.sections.symtab) else {
            return false;
        };
        let symlen = self.symbol_len();
        if symtab.size % symlen != 0 {
            return false;
        }
        let count = symtab.size / symlen;
        let mut found = Vec::new();
        for i in 1..count {
            let Some((name_off, value, info, shndx)) = self.symbol(symtab, i) else {
                return false;
            };
            if name_off as usize >= strtab.size {
                return false;
            }
            let name = self.symbol_name(strtab, name_off);
            if let Some(exported) = name.strip_prefix(b"__crc_") {
                found.push((exported, value, info, shndx));
            }
        }
        if found.is_empty() {
            return false;
        }
        for (name, value, _info, shndx) in found {
            let crc = self.resolve_crc(value, shndx);
            let name = out.push(name);
            out.exports.push(Export { name, crc });
        }
        true
    }

    fn resolve_crc(&self, value: u64, shndx: u16) -> u64 {
        if shndx == SHN_ABS || shndx == SHN_UNDEF {
            return value;
        }
        let Some((section, _)) = self.section(shndx) else {
            return u64::MAX;
        };
        let size = section.size as u64;
        if size < 4 || value > size - 4 {
            return u64::MAX;
        }
        usize::try_from(value)
            .ok()
            .and_then(|v| section.offset.checked_add(v))
            .and_then(|at| self.u32_at(at))
            .map_or(u64::MAX, u64::from)
    }

    fn modinfo(&self, out: &mut ModuleSymbols) {
        let Some(section) = self.sections.modinfo else {
            return;
        };
        let mut strings = self.bytes(section);
        while strings.len() > 1 && strings.first() == Some(&0) {
            strings = strings.get(1..).unwrap_or_default();
        }
        if strings.len() <= 1 {
            return;
        }
        for record in strings.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let (key, value) = match record.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    record.get(..eq).unwrap_or_default(),
                    record.get(eq + 1..).unwrap_or_default(),
                ),
                None => (record, &[][..]),
            };
            let list = match key {
                b"alias" => 0,
                b"softdep" => 1,
                b"weakdep" => 2,
                _ => continue,
            };
            let span = out.push(value);
            match list {
                0 => out.aliases.push(span),
                1 => out.softdeps.push(span),
                _ => out.weakdeps.push(span),
            }
        }
    }

    /// libkmod's dependency symbols; `None` when it would return an error or nothing.
    /// The imports depmod uses: [`RawElf::import_list`], but `None` when there are none.
    fn imports(&self, out: &mut ModuleSymbols) -> Option<Vec<Import>> {
        self.import_list(out).filter(|imports| !imports.is_empty())
    }

    /// libkmod's dependency symbols, their names pushed to `out`'s arena; `None` when libkmod
    /// fails (`EINVAL`): no `.strtab` or `.symtab`, a symbol table of a size that is not a
    /// whole number of entries, a name offset past `.strtab`, or an unreferenced `__versions`
    /// record whose name fills its field.
    fn import_list(&self, out: &mut ModuleSymbols) -> Option<Vec<Import>> {
        let (crc_len, name_len) = if self.is32 { (4, 60) } else { (8, 56) };
        let versions: &[u8] = match self.sections.versions {
            Some(section) if section.size % VERSION_RECORD == 0 => self.bytes(section),
            _ => &[],
        };
        let record = |i: usize| -> Option<(u64, &[u8])> {
            let at = i.checked_mul(VERSION_RECORD)?;
            let bytes = versions.get(at..at.checked_add(VERSION_RECORD)?)?;
            let crc_bytes = bytes.get(..crc_len)?;
            let crc = if self.msb {
                crc_bytes
                    .iter()
                    .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
            } else {
                crc_bytes
                    .iter()
                    .rev()
                    .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
            };
            let field = bytes.get(crc_len..crc_len + name_len)?;
            // A name filling its whole field (no NUL) is unusable.
            let nul = field.iter().position(|&b| b == 0)?;
            Some((crc, field.get(..nul)?))
        };
        let records = versions.len() / VERSION_RECORD;
        let strtab = self.sections.strtab?;
        let symtab = self.sections.symtab?;
        let symlen = self.symbol_len();
        if symtab.size % symlen != 0 {
            return None;
        }
        let sparc = self.machine == EM_SPARC || self.machine == EM_SPARCV9;
        let mut visited = vec![false; records];
        // The first usable record of each name, as libkmod's linear search finds it.
        let mut by_name: HashMap<&[u8], usize> =
            HashMap::with_capacity_and_hasher(records, Default::default());
        for r in 0..records {
            if let Some((_, name)) = record(r) {
                by_name.entry(name).or_insert(r);
            }
        }
        let mut imports = Vec::new();
        for i in 1..symtab.size / symlen {
            let (name_off, _value, info, shndx) = self.symbol(symtab, i)?;
            if shndx != SHN_UNDEF {
                continue;
            }
            if sparc && info & 0xf == STT_REGISTER {
                continue;
            }
            if name_off as usize >= strtab.size {
                return None;
            }
            let name = self.symbol_name(strtab, name_off);
            if name.is_empty() {
                continue;
            }
            let mut crc = 0;
            if let Some(&r) = by_name.get(name) {
                if let (Some((record_crc, _)), Some(seen)) = (record(r), visited.get_mut(r)) {
                    crc = record_crc;
                    *seen = true;
                }
            }
            let name = out.push(name);
            imports.push(Import {
                name,
                crc,
                weak: info >> 4 == STB_WEAK,
            });
        }
        for (r, seen) in visited.iter().enumerate() {
            if *seen {
                continue;
            }
            // An unvisited record whose name fills its field makes libkmod fail outright.
            let (crc, name) = record(r)?;
            let name = out.push(name);
            imports.push(Import {
                name,
                crc,
                weak: false,
            });
        }
        Some(imports)
    }
}

/// A symbol a module needs, as libkmod's `kmod_module_get_dependency_symbols` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencySymbol {
    /// The symbol's name.
    pub name: Vec<u8>,
    /// The CRC the module was built against (0 when unknown).
    pub crc: u64,
    /// Whether the reference is weak.
    pub weak: bool,
}

/// The symbols a module image (decompressed) needs, as libkmod lists them: the imports
/// described in the [module documentation](self), in the same order; or kmod's errno:
/// `ENOEXEC` for an image that is not ELF, `EINVAL` for a broken one.
pub fn dependency_symbols(data: &[u8]) -> Result<Vec<DependencySymbol>, i32> {
    if data.len() < 6 {
        return Err(EINVAL);
    }
    let elf = match RawElf::parse(data) {
        Ok(elf) => elf,
        Err(ElfError::NotElf) => return Err(ENOEXEC),
        Err(ElfError::Invalid) => return Err(EINVAL),
    };
    let mut names = ModuleSymbols::default();
    let imports = elf.import_list(&mut names).ok_or(EINVAL)?;
    Ok(imports
        .into_iter()
        .map(|import| DependencySymbol {
            name: names.get(import.name).to_vec(),
            crc: import.crc,
            weak: import.weak,
        })
        .collect())
}

/// The C string starting at `start` of `bytes` (up to the first NUL or the end).
fn c_str(bytes: &[u8], start: usize) -> &[u8] {
    let rest = bytes.get(start..).unwrap_or_default();
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    rest.get(..end).unwrap_or_default()
}

/// Symbols the kernel image provides (owner: none), from `-F System.map` or
/// `-E Module.symvers`, in file order, followed by the names the module loader provides
/// itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelSymbols {
    /// (name, CRC) pairs, with the symbol prefix already removed.
    pub symbols: Vec<(Vec<u8>, u64)>,
}

/// Reads `path` as lines of at most [`SYMBOL_FILE_LINE_MAX`] - 1 bytes, as `fgets` with
/// kmod's buffer splits them (each piece keeps its newline, if it has one).
fn read_pieces(path: &Path, mut each: impl FnMut(&[u8], u32)) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line = Vec::new();
    let mut number = 0u32;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        for piece in line.chunks(SYMBOL_FILE_LINE_MAX - 1) {
            number = number.saturating_add(1);
            each(piece, number);
        }
    }
}

impl KernelSymbols {
    /// Reads `System.map`. `prefix` is the `-P` character (stripped before `__ksymtab_`).
    pub fn from_system_map(
        path: &Path,
        prefix: Option<u8>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> std::io::Result<KernelSymbols> {
        let mut symbols = Vec::new();
        read_pieces(path, |piece, number| {
            // Up to the first NUL, as a C string.
            let line = piece.split(|&b| b == 0).next().unwrap_or_default();
            let mut fields = line.splitn(3, |&b| b == b' ');
            let (Some(_), Some(_), Some(mut name)) = (fields.next(), fields.next(), fields.next())
            else {
                diagnostics.push(Diagnostic::SymbolFileBadLine {
                    path: path.to_path_buf(),
                    line: number,
                    text: line.to_vec(),
                });
                return;
            };
            if prefix.is_some() && name.first().copied() == prefix {
                name = name.get(1..).unwrap_or_default();
            }
            let Some(symbol) = name.strip_prefix(b"__ksymtab_") else {
                return;
            };
            let symbol = symbol.strip_suffix(b"\n").unwrap_or(symbol);
            symbols.push((symbol.to_vec(), 0));
        })?;
        let mut out = KernelSymbols { symbols };
        out.add_loader_symbols(prefix);
        Ok(out)
    }

    /// Reads `Module.symvers`; only symbols of `vmlinux` count.
    pub fn from_symvers(
        path: &Path,
        prefix: Option<u8>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> std::io::Result<KernelSymbols> {
        let mut symbols = Vec::new();
        read_pieces(path, |piece, number| {
            let line = piece.split(|&b| b == 0).next().unwrap_or_default();
            let mut fields = line
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|f| !f.is_empty());
            let (Some(version), Some(name), Some(owner)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return;
            };
            if owner != b"vmlinux" {
                return;
            }
            let crc = match parse_hex_crc(version) {
                Ok(crc) => crc,
                Err(overflow) => {
                    diagnostics.push(Diagnostic::SymversBadVersion {
                        path: path.to_path_buf(),
                        line: number,
                        version: version.to_vec(),
                        overflow,
                    });
                    return;
                }
            };
            let name = match prefix {
                Some(p) if name.first() == Some(&p) => name.get(1..).unwrap_or_default(),
                _ => name,
            };
            symbols.push((name.to_vec(), crc));
        })?;
        let mut out = KernelSymbols { symbols };
        out.add_loader_symbols(prefix);
        Ok(out)
    }

    /// The names the module loader resolves itself: `__this_module`, `_GLOBAL_OFFSET_TABLE_`
    /// (s390), and `TOC.` (PowerPC64 ABIv2) unless already present.
    fn add_loader_symbols(&mut self, prefix: Option<u8>) {
        self.symbols.push((b"__this_module".to_vec(), 0));
        self.symbols.push((b"_GLOBAL_OFFSET_TABLE_".to_vec(), 0));
        let toc = lookup_key(b"TOC.", prefix);
        if !self.symbols.iter().any(|(name, _)| name.as_slice() == toc) {
            self.symbols.push((b"TOC.".to_vec(), 0));
        }
    }
}

/// The name depmod looks a needed symbol up by: without a leading `.` (PowerPC64 function
/// descriptors) and then without the `-P` prefix character.
pub fn lookup_key(name: &[u8], prefix: Option<u8>) -> &[u8] {
    let name = name.strip_prefix(b".").unwrap_or(name);
    match prefix {
        Some(p) if name.first() == Some(&p) => name.get(1..).unwrap_or_default(),
        _ => name,
    }
}

/// `strtoull(text, &end, 16)` that must consume everything: optional whitespace and sign,
/// an optional `0x`, hex digits. `Err(true)` for a value out of range (kmod checks `ERANGE`),
/// `Err(false)` for trailing garbage.
fn parse_hex_crc(text: &[u8]) -> Result<u64, bool> {
    let mut rest = text;
    while let Some((first, tail)) = rest.split_first() {
        if !first.is_ascii_whitespace() {
            break;
        }
        rest = tail;
    }
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-') | Some(b'+')) {
        rest = rest.get(1..).unwrap_or_default();
    }
    if (rest.starts_with(b"0x") || rest.starts_with(b"0X"))
        && rest.get(2).is_some_and(u8::is_ascii_hexdigit)
    {
        rest = rest.get(2..).unwrap_or_default();
    }
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_hexdigit) {
        // strtoull with no digits leaves the end at the start: only valid for empty text.
        return if text.is_empty() { Ok(0) } else { Err(false) };
    }
    let mut value: u64 = 0;
    for &d in rest {
        let digit = char::from(d).to_digit(16).ok_or(false)?;
        value = value
            .checked_mul(16)
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or(true)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::ModuleSpec;

    fn names(m: &ModuleSymbols, spans: &[Span]) -> Vec<String> {
        spans
            .iter()
            .map(|s| String::from_utf8_lossy(m.get(*s)).into_owned())
            .collect()
    }

    #[test]
    fn reads_exports_imports_and_info() {
        let mut spec = ModuleSpec::new("a")
            .info("alias", "pci:v00001234d*")
            .info("softdep", "pre: b")
            .info("alias", "a-alias")
            .info("weakdep", "c");
        spec.exports = vec![("a_fn".into(), 0x1234), ("a_other".into(), 7)];
        spec.imports = vec!["b_fn".into(), "printk".into()];
        spec.versions = vec![(0xabc, "printk".into()), (0x99, "module_layout".into())];
        let m = read_image(&spec.build());
        assert_eq!(m.load_error, None);
        let exports: Vec<(String, u64)> = m
            .exports
            .iter()
            .map(|e| (String::from_utf8_lossy(m.get(e.name)).into_owned(), e.crc))
            .collect();
        assert_eq!(
            exports,
            vec![("a_fn".into(), 0x1234), ("a_other".into(), 7)]
        );
        let imports: Vec<(String, u64)> = m
            .imports
            .as_ref()
            .unwrap()
            .iter()
            .map(|i| (String::from_utf8_lossy(m.get(i.name)).into_owned(), i.crc))
            .collect();
        assert_eq!(
            imports,
            vec![
                ("b_fn".into(), 0),
                ("printk".into(), 0xabc),
                ("module_layout".into(), 0x99)
            ]
        );
        assert_eq!(names(&m, &m.aliases), vec!["pci:v00001234d*", "a-alias"]);
        assert_eq!(names(&m, &m.softdeps), vec!["pre: b"]);
        assert_eq!(names(&m, &m.weakdeps), vec!["c"]);
    }

    /// libkmod's list: the same imports, with an empty list and a failure told apart.
    #[test]
    fn dependency_symbols_tell_none_from_failure() {
        let mut spec = ModuleSpec::new("a");
        spec.imports = vec!["printk".into()];
        spec.versions = vec![(0xabc, "printk".into()), (0x99, "module_layout".into())];
        let symbols = dependency_symbols(&spec.build()).unwrap();
        let listed: Vec<(&[u8], u64, bool)> = symbols
            .iter()
            .map(|s| (s.name.as_slice(), s.crc, s.weak))
            .collect();
        assert_eq!(
            listed,
            vec![
                (&b"printk"[..], 0xabc, false),
                (&b"module_layout"[..], 0x99, false)
            ]
        );
        assert_eq!(
            dependency_symbols(&ModuleSpec::new("b").build()),
            Ok(Vec::new())
        );
        assert_eq!(dependency_symbols(b"not an ELF file"), Err(ENOEXEC));
        assert_eq!(dependency_symbols(b"\x7fELF"), Err(EINVAL));
    }

    #[test]
    fn bad_files_are_load_errors() {
        assert_eq!(read_image(b"hello").load_error.unwrap().errno, EINVAL);
        assert_eq!(
            read_image(b"not an elf file at all")
                .load_error
                .unwrap()
                .errno,
            ENOEXEC
        );
        let image = ModuleSpec::new("a").build();
        let cut = read_image(&image[..image.len() / 2]);
        assert_eq!(cut.load_error.unwrap().errno, EINVAL);
        assert!(cut.aliases.is_empty() && cut.imports.is_none());
    }

    #[test]
    fn hex_crcs() {
        assert_eq!(parse_hex_crc(b"0x1234abcd"), Ok(0x1234abcd));
        assert_eq!(parse_hex_crc(b"ff"), Ok(0xff));
        assert_eq!(parse_hex_crc(b"0xzz"), Err(false));
        assert_eq!(parse_hex_crc(b"12g"), Err(false));
        assert_eq!(parse_hex_crc(b"0x10000000000000000"), Err(true));
    }

    #[test]
    fn lookup_strips_dot_and_prefix() {
        assert_eq!(lookup_key(b".foo", None), b"foo");
        assert_eq!(lookup_key(b"_foo", Some(b'_')), b"foo");
        assert_eq!(lookup_key(b"._foo", Some(b'_')), b"foo");
        assert_eq!(lookup_key(b"foo", Some(b'_')), b"foo");
    }
}
