//! The running kernel, behind a trait: the module syscalls and what `/proc` and `/sys` say
//! about loaded modules.
//!
//! Everything the tools ask of the kernel goes through [`Kernel`], so that tests can replace
//! it: [`NixKernel`] makes the real system calls (through `nix`) and reads `/proc` and `/sys`
//! under a root directory that tests point at a fixture tree; [`FakeKernel`] keeps loaded
//! modules in memory, records every call and fails the ones a test scripts.
//!
//! | what                                   | where                                     | read by                 |
//! |----------------------------------------|-------------------------------------------|-------------------------|
//! | load a module from an open file        | `finit_module(fd, params, flags)`         | [`Kernel::finit_module`]|
//! | load a module image from memory        | `init_module(image, len, params)`         | [`Kernel::init_module`] |
//! | unload a module                        | `delete_module(name, flags)`, `O_NONBLOCK` always, `O_TRUNC` to force | [`Kernel::delete_module`]|
//! | the loaded modules, in kernel order    | `/proc/modules`                           | [`Kernel::loaded_modules`] |
//! | a module's state                       | `/sys/module/NAME/initstate`              | [`Kernel::initstate`]   |
//! | its use count and users                | `/sys/module/NAME/{refcnt,holders/}`      | [`Kernel::refcnt`], [`Kernel::holders`] |
//! | its size                               | `/sys/module/NAME/coresize`               | [`Kernel::coresize`]    |
//! | in-kernel decompression                | `/sys/module/compression`                 | [`Kernel::compression`] |
//! | whether loading is switched off        | `/proc/sys/kernel/modules_disabled`       | [`Kernel::modules_disabled`] |
//!
//! Loading follows kmod: [`insert_module`] hands the open file to `finit_module` when it is not
//! compressed, or when its compression is the one the kernel decompresses itself (then with
//! `MODULE_INIT_COMPRESSED_FILE`). Otherwise, or when the kernel has no `finit_module`
//! (`ENOSYS`), it decompresses the file in userspace and calls `init_module`; forcing then edits
//! the image the way kmod does ([`strip`]).
//!
//! Every byte from `/proc` and `/sys` is treated as hostile: reads are bounded, numbers are
//! parsed with checks, and a module name is never joined to a path unless it is a plain file
//! name ([`valid_module_name`]).

pub mod fake;
mod glibc;
pub mod hint;
pub mod listing;
pub mod real;
pub mod strip;
pub mod sysfs;

use std::ffi::CString;
use std::fs::File;
use std::path::{Path, PathBuf};

pub use nix::errno::Errno;

use crate::fs::open_regular_file;
use crate::module::compression::{self, Compression};
use crate::module::ModuleFile;
pub use fake::{Call, FakeKernel, FakeModule};
pub use real::NixKernel;

/// `MODULE_INIT_IGNORE_MODVERSIONS`: ignore symbol version hashes (`--force-modversion`).
pub const MODULE_INIT_IGNORE_MODVERSIONS: u32 = 1;
/// `MODULE_INIT_IGNORE_VERMAGIC`: ignore the kernel version magic (`--force-vermagic`).
pub const MODULE_INIT_IGNORE_VERMAGIC: u32 = 2;
/// `MODULE_INIT_COMPRESSED_FILE`: the file is compressed; the kernel decompresses it.
pub const MODULE_INIT_COMPRESSED_FILE: u32 = 4;

/// The flags of `finit_module`, a set of the `MODULE_INIT_*` bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct InitFlags(pub u32);

impl InitFlags {
    /// Whether every bit of `bits` is set.
    pub fn contains(self, bits: u32) -> bool {
        self.0 & bits == bits
    }
}

/// How to unload a module with `delete_module`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DeleteFlags {
    /// `O_TRUNC`: unload even if the module is in use or has no exit function (`rmmod -f`;
    /// the kernel needs `CONFIG_MODULE_FORCE_UNLOAD`). `O_NONBLOCK` is always set, as kmod
    /// does: the call never waits for the use count to drop.
    pub force: bool,
}

/// A module's state in `/sys/module/NAME/initstate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InitState {
    /// Loaded and initialised.
    Live,
    /// Being loaded: its init function has not returned yet. A `/sys/module/NAME` directory
    /// without an `initstate` file counts as this too, as kmod counts it.
    Coming,
    /// Being unloaded.
    Going,
}

impl InitState {
    /// The word the kernel writes (`live`, `coming`, `going`).
    pub fn as_str(self) -> &'static str {
        match self {
            InitState::Live => "live",
            InitState::Coming => "coming",
            InitState::Going => "going",
        }
    }
}

/// One line of `/proc/modules`.
///
/// ```text
/// name size refcount users state address
/// e1000 163840 0 - Live 0xffffffffc0345000
/// libata 425984 2 ata_piix,ata_generic, Live 0xffffffffc0010000 (E)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedModule {
    /// The module's name (the first field; never empty).
    pub name: Vec<u8>,
    /// Its size in bytes (the second field), when the line has a valid one.
    pub size: Option<u64>,
}

/// The kernel interface. See the [module documentation](self) for what each method reads.
///
/// Names passed to the `/sys/module` readers must pass [`valid_module_name`]; the readers
/// return `EINVAL` for any other name rather than build a path from it.
pub trait Kernel {
    /// `finit_module(2)`: loads the module in `file` with `params`.
    fn finit_module(&self, file: &File, params: &CString, flags: InitFlags) -> Result<(), Errno>;

    /// `init_module(2)`: loads a module image from memory with `params`.
    fn init_module(&self, image: &[u8], params: &CString) -> Result<(), Errno>;

    /// `delete_module(2)`: unloads the module called `name`, never waiting.
    fn delete_module(&self, name: &CString, flags: DeleteFlags) -> Result<(), Errno>;

    /// The loaded modules, from `/proc/modules`, in the kernel's order (newest first).
    fn loaded_modules(&self) -> crate::Result<Vec<LoadedModule>>;

    /// A module's state: `Ok(None)` when it is not loaded (no `/sys/module/NAME`).
    fn initstate(&self, name: &[u8]) -> Result<Option<InitState>, Errno>;

    /// A module's use count (`/sys/module/NAME/refcnt`); `EINVAL` when the file does not hold
    /// a number, the errno of the open otherwise (`ENOENT`: not loaded, or a kernel without
    /// module unloading).
    fn refcnt(&self, name: &[u8]) -> Result<i64, Errno>;

    /// The modules that use this one (`/sys/module/NAME/holders/`), in directory order.
    fn holders(&self, name: &[u8]) -> Result<Vec<Vec<u8>>, Errno>;

    /// A module's size: `/sys/module/NAME/coresize`, or its `/proc/modules` size on kernels
    /// without that file. `ENOENT` when the module is not loaded; `EINVAL` when `coresize`
    /// does not hold a number (kmod then shows 0).
    fn coresize(&self, name: &[u8]) -> Result<i64, Errno>;

    /// The compression the kernel decompresses itself (`/sys/module/compression`); `None`
    /// when it has no in-kernel decompression or names a format we do not know.
    fn compression(&self) -> Option<Compression>;

    /// Whether module loading and unloading are switched off until reboot
    /// (`/proc/sys/kernel/modules_disabled` reads 1); `None` when it cannot be read.
    fn modules_disabled(&self) -> Option<bool>;

    /// The running kernel's release (`uname -r`), when known.
    fn release(&self) -> Option<Vec<u8>>;
}

/// The longest module name used in a `/sys/module/NAME` path: a file name's limit. (The
/// kernel's own limit is 55 bytes on 64-bit; longer names simply are not loaded.)
pub const MAX_MODULE_NAME_LEN: usize = 255;

/// Whether `name` may be used as a module name in a `/sys/module/NAME` path: not empty, not
/// `.` or `..`, at most [`MAX_MODULE_NAME_LEN`] bytes, and without `/` or NUL.
pub fn valid_module_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && name.len() <= MAX_MODULE_NAME_LEN
        && !name.iter().any(|&b| b == b'/' || b == 0)
}

/// Normalises a module name as kmod does for a name given by the user: `-` becomes `_`, and
/// the name ends at the first `.` (so `rmmod foo.ko` means `foo`).
pub fn normalize_module_name(name: &[u8]) -> Vec<u8> {
    name.iter()
        .take_while(|&&b| b != b'.')
        .map(|&b| if b == b'-' { b'_' } else { b })
        .collect()
}

/// Joins module parameters given as separate arguments into the one string the kernel takes,
/// as kmod's tools do: separated by spaces, and a value that contains a space (and does not
/// start with a quote) is wrapped in double quotes (`opt=a b` becomes `opt="a b"`).
pub fn join_params<I, S>(args: I) -> Vec<u8>
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    let mut out = Vec::new();
    for arg in args {
        let arg = arg.as_ref();
        if !out.is_empty() {
            out.push(b' ');
        }
        match arg.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let (key, value) = arg.split_at(eq + 1);
                let quoted = matches!(value.first(), Some(b'"') | Some(b'\''));
                if !quoted && value.contains(&b' ') {
                    out.extend_from_slice(key);
                    out.push(b'"');
                    out.extend_from_slice(value);
                    out.push(b'"');
                } else {
                    out.extend_from_slice(arg);
                }
            }
            None => out.extend_from_slice(arg),
        }
    }
    out
}

/// How [`insert_module`] should force a load that the kernel would refuse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertFlags {
    /// Ignore symbol versions (`--force-modversion`, part of `-f`).
    pub force_modversion: bool,
    /// Ignore the version magic (`--force-vermagic`, part of `-f`).
    pub force_vermagic: bool,
}

/// Which way a module went into the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadPath {
    /// `finit_module` on the plain file.
    Finit,
    /// `finit_module` on the compressed file, decompressed by the kernel.
    FinitCompressed,
    /// Decompressed (or read) here, then `init_module`.
    Init,
}

/// A module system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syscall {
    /// `finit_module`
    FinitModule,
    /// `init_module`
    InitModule,
    /// `delete_module`
    DeleteModule,
}

impl Syscall {
    /// The call's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Syscall::FinitModule => "finit_module",
            Syscall::InitModule => "init_module",
            Syscall::DeleteModule => "delete_module",
        }
    }
}

/// Why [`insert_module`] or [`remove_module`] failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The module file could not be opened, read or decompressed.
    #[error(transparent)]
    File(#[from] crate::Error),
    /// The parameters or the name contain a NUL byte, which the kernel cannot be given.
    #[error("{what} contains a NUL byte")]
    Nul {
        /// `parameters` or `module name`.
        what: &'static str,
    },
    /// Forcing needed an edited copy of the image, and the image could not be edited.
    #[error("{path}: failed to strip version information: {source}")]
    Strip {
        /// The module file.
        path: PathBuf,
        /// What was missing or broken.
        #[source]
        source: strip::StripError,
    },
    /// The kernel refused.
    #[error("{syscall}: {errno}", syscall = .syscall.as_str(), errno = .errno.desc())]
    Syscall {
        /// Which call.
        syscall: Syscall,
        /// What it returned.
        errno: Errno,
    },
}

impl KernelError {
    /// The errno that describes this error, as kmod reports it.
    pub fn errno(&self) -> i32 {
        match self {
            KernelError::File(e) => e.errno(),
            KernelError::Nul { .. } => Errno::EINVAL as i32,
            KernelError::Strip { source, .. } => source.errno() as i32,
            KernelError::Syscall { errno, .. } => *errno as i32,
        }
    }

    /// The kernel's errno, when the kernel is the one that refused.
    pub fn kernel_errno(&self) -> Option<Errno> {
        match self {
            KernelError::Syscall { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Reads the first bytes of an open file, to detect its compression.
fn file_head(file: &File, path: &Path) -> crate::Result<Vec<u8>> {
    let mut head = vec![0u8; compression::MAGIC_LEN];
    let got = crate::fs::read_full_at(file, &mut head, 0).map_err(|e| crate::Error::io(path, e))?;
    head.truncate(got);
    Ok(head)
}

fn c_string(bytes: &[u8], what: &'static str) -> Result<CString, KernelError> {
    CString::new(bytes).map_err(|_| KernelError::Nul { what })
}

/// Loads the module file at `path` with `params` (the kernel's parameter string, see
/// [`join_params`]), the way kmod does (see the [module documentation](self)).
pub fn insert_module(
    kernel: &dyn Kernel,
    path: &Path,
    params: &[u8],
    flags: InsertFlags,
) -> Result<LoadPath, KernelError> {
    let params = c_string(params, "parameters")?;
    let (file, _len) = open_regular_file(path)?;
    let format = Compression::detect(&file_head(&file, path)?);
    let in_kernel = format == Compression::None || kernel.compression() == Some(format);
    if in_kernel {
        let mut bits = 0;
        if format != Compression::None {
            bits |= MODULE_INIT_COMPRESSED_FILE;
        }
        if flags.force_modversion {
            bits |= MODULE_INIT_IGNORE_MODVERSIONS;
        }
        if flags.force_vermagic {
            bits |= MODULE_INIT_IGNORE_VERMAGIC;
        }
        match kernel.finit_module(&file, &params, InitFlags(bits)) {
            Ok(()) if format == Compression::None => return Ok(LoadPath::Finit),
            Ok(()) => return Ok(LoadPath::FinitCompressed),
            // No finit_module: fall back to reading the image ourselves, as kmod does.
            Err(Errno::ENOSYS) => {}
            Err(errno) => {
                return Err(KernelError::Syscall {
                    syscall: Syscall::FinitModule,
                    errno,
                })
            }
        }
    }
    drop(file);
    let module = ModuleFile::open(path)?;
    let result = if flags.force_modversion || flags.force_vermagic {
        let image =
            strip::strip(module.contents(), flags).map_err(|source| KernelError::Strip {
                path: path.to_path_buf(),
                source,
            })?;
        kernel.init_module(&image, &params)
    } else {
        kernel.init_module(module.contents(), &params)
    };
    result
        .map(|()| LoadPath::Init)
        .map_err(|errno| KernelError::Syscall {
            syscall: Syscall::InitModule,
            errno,
        })
}

/// Unloads the module called `name` (already normalised) without waiting.
pub fn remove_module(
    kernel: &dyn Kernel,
    name: &[u8],
    flags: DeleteFlags,
) -> Result<(), KernelError> {
    let name = c_string(name, "module name")?;
    kernel
        .delete_module(&name, flags)
        .map_err(|errno| KernelError::Syscall {
            syscall: Syscall::DeleteModule,
            errno,
        })
}

#[cfg(test)]
mod tests;
