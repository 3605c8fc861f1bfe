//! Reading `/proc/modules`, `/sys/module` and `/proc/sys/kernel` under a root directory.
//!
//! The formats, as the kernel writes them and as kmod reads them:
//!
//! - `/proc/modules`: one line per module, newest first, fields separated by spaces:
//!   `NAME SIZE REFCOUNT USERS STATE ADDRESS [TAINTS]`, where USERS is `-` or a list of names
//!   each followed by `,`. Only NAME (up to the first space or tab) and SIZE are used.
//! - `/sys/module/NAME/initstate`: `live\n`, `coming\n` or `going\n`. A module directory
//!   without this file is a module still coming (or a builtin module with parameters, which
//!   the tools tell apart through `modules.builtin`).
//! - `/sys/module/NAME/refcnt`, `coresize`: a decimal number followed by a newline. As in
//!   kmod, at most 31 bytes are read, and the number must be followed by white space.
//! - `/sys/module/NAME/holders/`: one entry (a symlink) per module that uses NAME.
//! - `/sys/module/NAME/sections/`: one file per ELF section of the loaded module, holding its
//!   load address in hex (`0xffffffffc0a00000\n`); readable by root only.
//! - `/sys/module/compression`: `gzip\n`, `xz\n` or `zstd\n` (kernels with
//!   `CONFIG_MODULE_DECOMPRESS`).
//! - `/proc/sys/kernel/modules_disabled`: `0\n` or `1\n`.
//!
//! Every read is capped ([`MAX_PROC_MODULES`], [`MAX_ATTRIBUTE`], [`MAX_HOLDERS`]), and no
//! byte that was read is trusted: a number that does not parse is `EINVAL`, an unknown state
//! is `EINVAL`, and a name that could escape `/sys/module` is never joined to a path.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{valid_module_name, Errno, InitState, LoadedModule};
use crate::error::{Error, Result};
use crate::module::Compression;

/// The most bytes of `/proc/modules` read: far more than any real kernel writes (about 100
/// bytes per module).
pub const MAX_PROC_MODULES: u64 = 16 * 1024 * 1024;
/// The most bytes read from a one-value attribute file such as `initstate`; kmod reads 31.
pub const MAX_ATTRIBUTE: usize = 31;
/// The most holders listed for one module.
pub const MAX_HOLDERS: usize = 65536;
/// The most sections listed for one module (a module has a few dozen; ELF allows 65535).
pub const MAX_SECTIONS: usize = 65536;

/// One section of a loaded module and where the kernel put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedSection {
    /// The section's name (`.text`, `__ksymtab`, ...).
    pub name: Vec<u8>,
    /// Its load address.
    pub address: u64,
}

/// Why a module's sections could not be listed, with the path that failed, in kmod's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectionsError {
    /// The `sections` directory could not be opened (the module is not loaded, or the name is
    /// not a module name).
    #[error("could not open '{}': {}", .path.display(), .errno.desc())]
    Directory {
        /// `/sys/module/NAME/sections`.
        path: PathBuf,
        /// Why.
        errno: Errno,
    },
    /// A section's file could not be opened or read (not root).
    #[error("could not open '{}': {}", .path.display(), .errno.desc())]
    File {
        /// The section's file.
        path: PathBuf,
        /// Why.
        errno: Errno,
    },
    /// A section's file does not hold an address.
    #[error("could not read long from '{}': {}", .path.display(), .errno.desc())]
    Value {
        /// The section's file.
        path: PathBuf,
        /// `EINVAL`.
        errno: Errno,
    },
}

/// A root under which `/proc` and `/sys` are read: `/` for the running system, a fixture tree
/// in tests.
#[derive(Debug, Clone)]
pub struct SysRoot {
    root: PathBuf,
}

impl Default for SysRoot {
    fn default() -> Self {
        SysRoot::new("/")
    }
}

fn errno_of(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// Reads at most `cap` bytes of `path`; a longer file is cut at `cap`.
fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut out = Vec::new();
    file.take(cap).read_to_end(&mut out)?;
    Ok(out)
}

/// Whether a `stat` result is a directory.
fn is_directory(st: &nix::sys::stat::FileStat) -> bool {
    use nix::sys::stat::SFlag;
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

/// C's `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    b == b' ' || (b'\t'..=b'\r').contains(&b)
}

/// What `strtol` and `strtoul` read before the digits: white space, then an optional sign.
/// Returns whether the sign was `-`, and the rest.
fn sign_and_rest(text: &[u8]) -> (bool, &[u8]) {
    let start = text
        .iter()
        .position(|&b| !is_c_space(b))
        .unwrap_or(text.len());
    let rest = text.get(start..).unwrap_or_default();
    match rest.first() {
        Some(b'-') => (true, rest.get(1..).unwrap_or_default()),
        Some(b'+') => (false, rest.get(1..).unwrap_or_default()),
        _ => (false, rest),
    }
}

/// The run of digits (as `is_digit` says) at the start of `text`, which kmod's readers
/// require to be non-empty and followed by white space (the newline); `EINVAL` otherwise.
fn digit_run(text: &[u8], is_digit: impl Fn(&u8) -> bool) -> Result<&[u8], Errno> {
    let count = text.iter().take_while(|b| is_digit(b)).count();
    if count == 0 || !text.get(count).is_some_and(|&b| is_c_space(b)) {
        return Err(Errno::EINVAL);
    }
    Ok(text.get(..count).unwrap_or_default())
}

/// Parses an address the way kmod's `read_str_ulong(..., 16)` does (C's `strtoul`): optional
/// white space, sign and `0x`, hex digits, then white space must follow; a value past 64 bits
/// is `EINVAL`, a `-` negates modulo 2^64 as `strtoul` does.
pub fn parse_hex_ulong(text: &[u8]) -> Result<u64, Errno> {
    let (negative, rest) = sign_and_rest(text);
    let has_prefix = matches!(rest, [b'0', b'x' | b'X', d, ..] if d.is_ascii_hexdigit());
    let digits = if has_prefix {
        rest.get(2..).unwrap_or_default()
    } else {
        rest
    };
    let mut value: u64 = 0;
    for &digit in digit_run(digits, u8::is_ascii_hexdigit)? {
        let nibble = char::from(digit).to_digit(16).map_or(0, u64::from);
        value = value
            .checked_mul(16)
            .and_then(|v| v.checked_add(nibble))
            .ok_or(Errno::EINVAL)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// Parses a number the way kmod's `read_str_long` does: optional leading white space and
/// sign, decimal digits, then white space (the newline) must follow.
pub fn parse_long(text: &[u8]) -> Result<i64, Errno> {
    let (negative, digits) = sign_and_rest(text);
    let mut value: i64 = 0;
    for &d in digit_run(digits, u8::is_ascii_digit)? {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(d - b'0')))
            .ok_or(Errno::EINVAL)?;
    }
    Ok(if negative { -value } else { value })
}

/// Parses `/proc/modules`. Lines without a name are skipped; a line whose name could not be a
/// module name (see [`valid_module_name`]) is skipped too, since nothing could be looked up
/// for it.
pub fn parse_proc_modules(text: &[u8]) -> Vec<LoadedModule> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let mut fields = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|f| !f.is_empty());
        let Some(name) = fields.next() else {
            continue;
        };
        if !valid_module_name(name) {
            continue;
        }
        let size = fields.next().and_then(|f| {
            if f.iter().all(u8::is_ascii_digit) {
                std::str::from_utf8(f).ok()?.parse::<u64>().ok()
            } else {
                None
            }
        });
        out.push(LoadedModule {
            name: name.to_vec(),
            size,
        });
    }
    out
}

impl SysRoot {
    /// Reads under `root` (`/` for the running system).
    pub fn new(root: impl Into<PathBuf>) -> SysRoot {
        SysRoot { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `ROOT/rel`, for a relative path such as `proc/modules`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// `ROOT/sys/module/NAME`, or `EINVAL` for a name that is not a plain file name.
    pub fn module_dir(&self, name: &[u8]) -> Result<PathBuf, Errno> {
        if !valid_module_name(name) {
            return Err(Errno::EINVAL);
        }
        Ok(self
            .path("sys/module")
            .join(std::ffi::OsStr::from_bytes(name)))
    }

    fn attribute(&self, name: &[u8], file: &str) -> Result<Vec<u8>, Errno> {
        let path = self.module_dir(name)?.join(file);
        read_capped(&path, MAX_ATTRIBUTE as u64).map_err(|e| errno_of(&e))
    }

    /// The loaded modules, from `ROOT/proc/modules`.
    pub fn loaded_modules(&self) -> Result<Vec<LoadedModule>> {
        let path = self.path("proc/modules");
        let text = read_capped(&path, MAX_PROC_MODULES).map_err(|e| Error::io(&path, e))?;
        Ok(parse_proc_modules(&text))
    }

    /// A module's state; `Ok(None)` when it has no `/sys/module/NAME` directory.
    ///
    /// The directory is looked at first (with libc's `stat`): most modules asked about are not
    /// loaded, and then one failed `stat` answers (kmod opens `initstate` first and needs a second call to tell "not
    /// loaded" from "coming"). A directory without a readable `initstate` is a module coming.
    pub fn initstate(&self, name: &[u8]) -> Result<Option<InitState>, Errno> {
        let dir = self.module_dir(name)?;
        // libc's stat, not std's statx: LD_PRELOAD interposers (kmod's testsuite fakes
        // /sys/module this way) wrap stat.
        match nix::sys::stat::stat(&dir) {
            Err(Errno::ENOENT) => return Ok(None),
            Err(errno) => return Err(errno),
            Ok(_) => {}
        }
        match read_capped(&dir.join("initstate"), MAX_ATTRIBUTE as u64) {
            Ok(text) => match text.as_slice() {
                b"live\n" => Ok(Some(InitState::Live)),
                b"coming\n" => Ok(Some(InitState::Coming)),
                b"going\n" => Ok(Some(InitState::Going)),
                _ => Err(Errno::EINVAL),
            },
            // Looked at again: the module may have gone meanwhile.
            Err(e) => match nix::sys::stat::stat(&dir) {
                Ok(st) if is_directory(&st) => Ok(Some(InitState::Coming)),
                Ok(_) => Err(errno_of(&e)),
                Err(Errno::ENOENT) => Ok(None),
                Err(errno) => Err(errno),
            },
        }
    }

    /// A module's use count.
    pub fn refcnt(&self, name: &[u8]) -> Result<i64, Errno> {
        parse_long(&self.attribute(name, "refcnt")?)
    }

    /// A module's holders, in directory order.
    pub fn holders(&self, name: &[u8]) -> Result<Vec<Vec<u8>>, Errno> {
        let dir = self.module_dir(name)?.join("holders");
        let entries = std::fs::read_dir(&dir).map_err(|e| errno_of(&e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| errno_of(&e))?;
            if out.len() >= MAX_HOLDERS {
                return Err(Errno::E2BIG);
            }
            out.push(entry.file_name().as_bytes().to_vec());
        }
        Ok(out)
    }

    /// A loaded module's sections and their addresses, in directory order
    /// (`kmod_module_get_sections`).
    pub fn sections(&self, name: &[u8]) -> Result<Vec<LoadedSection>, SectionsError> {
        let dir = match self.module_dir(name) {
            Ok(dir) => dir.join("sections"),
            Err(errno) => {
                return Err(SectionsError::Directory {
                    path: self
                        .path("sys/module")
                        .join(std::ffi::OsStr::from_bytes(name)),
                    errno,
                })
            }
        };
        let directory = |errno| SectionsError::Directory {
            path: dir.clone(),
            errno,
        };
        let entries = std::fs::read_dir(&dir).map_err(|e| directory(errno_of(&e)))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| directory(errno_of(&e)))?;
            if out.len() >= MAX_SECTIONS {
                return Err(directory(Errno::E2BIG));
            }
            let path = entry.path();
            let text =
                read_capped(&path, MAX_ATTRIBUTE as u64).map_err(|e| SectionsError::File {
                    path: path.clone(),
                    errno: errno_of(&e),
                })?;
            let address =
                parse_hex_ulong(&text).map_err(|errno| SectionsError::Value { path, errno })?;
            out.push(LoadedSection {
                name: entry.file_name().as_bytes().to_vec(),
                address,
            });
        }
        Ok(out)
    }

    /// A module's size: `coresize` (`EINVAL` when it does not parse), or the `/proc/modules`
    /// size when the module directory has no such file (`ENOENT` when that has none either).
    pub fn coresize(&self, name: &[u8]) -> Result<i64, Errno> {
        let dir = self.module_dir(name)?;
        if let Err(e) = crate::fs::stat(&dir) {
            return Err(errno_of(&e));
        }
        match read_capped(&dir.join("coresize"), MAX_ATTRIBUTE as u64) {
            Ok(text) => parse_long(&text),
            Err(_) => {
                // Kernels before 3.3: the size from /proc/modules. A line without a valid
                // size leaves it unknown (ENOENT), as with kmod.
                let modules = self
                    .loaded_modules()
                    .map_err(|e| Errno::from_raw(e.errno()))?;
                let found = modules.into_iter().find(|m| m.name == name);
                found
                    .and_then(|m| m.size)
                    .and_then(|size| i64::try_from(size).ok())
                    .ok_or(Errno::ENOENT)
            }
        }
    }

    /// The kernel's own decompression format, if any.
    pub fn compression(&self) -> Option<Compression> {
        let text = read_capped(&self.path("sys/module/compression"), MAX_ATTRIBUTE as u64).ok()?;
        match text.as_slice() {
            b"gzip\n" => Some(Compression::Gzip),
            b"xz\n" => Some(Compression::Xz),
            b"zstd\n" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// Whether `/proc/sys/kernel/modules_disabled` reads 1.
    pub fn modules_disabled(&self) -> Option<bool> {
        let text = read_capped(
            &self.path("proc/sys/kernel/modules_disabled"),
            MAX_ATTRIBUTE as u64,
        )
        .ok()?;
        parse_long(&text).ok().map(|v| v != 0)
    }

    /// `/proc/sys/kernel/osrelease`, without its newline.
    pub fn osrelease(&self) -> Option<Vec<u8>> {
        let mut text = read_capped(&self.path("proc/sys/kernel/osrelease"), 256).ok()?;
        while text.last() == Some(&b'\n') {
            text.pop();
        }
        (!text.is_empty()).then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, content: &[u8]) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    #[test]
    fn parse_hex_ulong_follows_strtoul() {
        assert_eq!(
            parse_hex_ulong(b"0xffffffffc0a00000\n"),
            Ok(0xffff_ffff_c0a0_0000)
        );
        assert_eq!(parse_hex_ulong(b"  1f\n"), Ok(0x1f));
        assert_eq!(
            parse_hex_ulong(b"0x\n"),
            Err(Errno::EINVAL),
            "no digits after 0x"
        );
        assert_eq!(parse_hex_ulong(b"0\n"), Ok(0));
        assert_eq!(
            parse_hex_ulong(b"0x10"),
            Err(Errno::EINVAL),
            "no white space after"
        );
        assert_eq!(
            parse_hex_ulong(b"0x1ffffffffffffffff\n"),
            Err(Errno::EINVAL)
        );
        assert_eq!(parse_hex_ulong(b"-1\n"), Ok(u64::MAX));
        assert_eq!(parse_hex_ulong(b"zz\n"), Err(Errno::EINVAL));
    }

    #[test]
    fn sections_of_a_module() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "sys/module/m/sections/.text",
            b"0xffffffffc0a00000\n",
        );
        let sys = SysRoot::new(tmp.path());
        assert_eq!(
            sys.sections(b"m").unwrap(),
            vec![LoadedSection {
                name: b".text".to_vec(),
                address: 0xffff_ffff_c0a0_0000
            }]
        );
        let err = sys.sections(b"gone").unwrap_err();
        assert!(err.to_string().starts_with("could not open '"), "{err}");
        assert!(
            err.to_string()
                .ends_with("/sys/module/gone/sections': No such file or directory"),
            "{err}"
        );
        write(tmp.path(), "sys/module/m/sections/.bss", b"garbage\n");
        let err = sys.sections(b"m").unwrap_err();
        assert!(
            err.to_string().starts_with("could not read long from '"),
            "{err}"
        );
        assert!(
            err.to_string().ends_with("/.bss': Invalid argument"),
            "{err}"
        );
    }

    #[test]
    fn parse_long_follows_kmod() {
        assert_eq!(parse_long(b"16384\n"), Ok(16384));
        assert_eq!(parse_long(b"  -3\n"), Ok(-3));
        assert_eq!(parse_long(b"+7 "), Ok(7));
        // kmod needs white space after the number: no newline is an error.
        assert_eq!(parse_long(b"12"), Err(Errno::EINVAL));
        assert_eq!(parse_long(b"12abc\n"), Err(Errno::EINVAL));
        assert_eq!(parse_long(b"\n"), Err(Errno::EINVAL));
        assert_eq!(parse_long(b""), Err(Errno::EINVAL));
        assert_eq!(parse_long(b"-\n"), Err(Errno::EINVAL));
        assert_eq!(parse_long(b"99999999999999999999999\n"), Err(Errno::EINVAL));
    }

    #[test]
    fn proc_modules_lines() {
        let text = b"e1000 163840 0 - Live 0xffffffffc0345000\n\
                     libata 425984 2 ata_piix,ata_generic, Live 0x0 (E)\n\
                     \n\
                     \t  \n\
                     odd\tx\n\
                     ../etc 1 0 - Live 0x0\n\
                     last 12";
        let mods = parse_proc_modules(text);
        let names: Vec<&[u8]> = mods.iter().map(|m| m.name.as_slice()).collect();
        assert_eq!(names, [&b"e1000"[..], b"libata", b"odd", b"last"]);
        assert_eq!(mods[0].size, Some(163840));
        assert_eq!(mods[2].size, None);
        assert_eq!(mods[3].size, Some(12));
    }

    #[test]
    fn module_state_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "sys/module/a/initstate", b"live\n");
        write(root, "sys/module/a/refcnt", b"2\n");
        write(root, "sys/module/a/coresize", b"8192\n");
        std::fs::create_dir_all(root.join("sys/module/a/holders/b")).unwrap();
        write(root, "sys/module/c/initstate", b"going\n");
        write(root, "sys/module/d/initstate", b"weird\n");
        std::fs::create_dir_all(root.join("sys/module/e")).unwrap();
        write(root, "sys/module/f/initstate", b"live");
        let sys = SysRoot::new(root);
        assert_eq!(sys.initstate(b"a"), Ok(Some(InitState::Live)));
        assert_eq!(sys.initstate(b"c"), Ok(Some(InitState::Going)));
        assert_eq!(sys.initstate(b"d"), Err(Errno::EINVAL));
        // A directory without initstate is a module coming, as kmod sees it.
        assert_eq!(sys.initstate(b"e"), Ok(Some(InitState::Coming)));
        assert_eq!(sys.initstate(b"f"), Err(Errno::EINVAL));
        assert_eq!(sys.initstate(b"nope"), Ok(None));
        assert_eq!(sys.initstate(b"../x"), Err(Errno::EINVAL));
        assert_eq!(sys.initstate(b".."), Err(Errno::EINVAL));
        assert_eq!(sys.refcnt(b"a"), Ok(2));
        assert_eq!(sys.refcnt(b"e"), Err(Errno::ENOENT));
        assert_eq!(sys.holders(b"a"), Ok(vec![b"b".to_vec()]));
        assert_eq!(sys.holders(b"e"), Err(Errno::ENOENT));
        assert_eq!(sys.coresize(b"a"), Ok(8192));
        assert_eq!(sys.coresize(b"nope"), Err(Errno::ENOENT));
    }

    #[test]
    fn coresize_falls_back_to_proc_modules() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "proc/modules",
            b"old 4096 0 - Live 0x0\nbad x 0 - Live 0x0\n",
        );
        std::fs::create_dir_all(root.join("sys/module/old")).unwrap();
        std::fs::create_dir_all(root.join("sys/module/bad")).unwrap();
        std::fs::create_dir_all(root.join("sys/module/gone")).unwrap();
        let sys = SysRoot::new(root);
        assert_eq!(sys.coresize(b"old"), Ok(4096));
        assert_eq!(sys.coresize(b"bad"), Err(Errno::ENOENT));
        assert_eq!(sys.coresize(b"gone"), Err(Errno::ENOENT));
    }

    #[test]
    fn hostile_attribute_files_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut huge = vec![b'1'; 1 << 20];
        huge.push(b'\n');
        write(root, "sys/module/a/refcnt", &huge);
        write(root, "sys/module/a/initstate", &huge);
        let sys = SysRoot::new(root);
        assert_eq!(sys.refcnt(b"a"), Err(Errno::EINVAL));
        assert_eq!(sys.initstate(b"a"), Err(Errno::EINVAL));
    }

    #[test]
    fn kernel_wide_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let sys = SysRoot::new(root);
        assert_eq!(sys.compression(), None);
        assert_eq!(sys.modules_disabled(), None);
        assert_eq!(sys.osrelease(), None);
        write(root, "sys/module/compression", b"xz\n");
        write(root, "proc/sys/kernel/modules_disabled", b"1\n");
        write(root, "proc/sys/kernel/osrelease", b"6.1.0-47-amd64\n");
        assert_eq!(sys.compression(), Some(Compression::Xz));
        assert_eq!(sys.modules_disabled(), Some(true));
        assert_eq!(sys.osrelease(), Some(b"6.1.0-47-amd64".to_vec()));
        write(root, "sys/module/compression", b"lz4\n");
        assert_eq!(sys.compression(), None);
        assert!(sys.loaded_modules().is_err());
    }
}
