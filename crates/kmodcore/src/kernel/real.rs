//! [`NixKernel`]: the real kernel, through `nix`'s safe wrappers and the C library's
//! `init_module` and `delete_module` (see the private module `kernel::glibc`).

use std::ffi::CString;
use std::fs::File;
use std::path::{Path, PathBuf};

use nix::kmod::{DeleteModuleFlags, ModuleInitFlags};

use super::sysfs::SysRoot;
use super::{DeleteFlags, Errno, InitFlags, InitState, Kernel, LoadedModule};
use crate::module::Compression;

/// The running kernel: real `finit_module`, `init_module` and `delete_module` calls, and
/// `/proc` and `/sys` read under a root directory (`/` unless a test says otherwise).
#[derive(Debug, Clone, Default)]
pub struct NixKernel {
    sys: SysRoot,
}

impl NixKernel {
    /// The running system, with `/proc` and `/sys` at `/`.
    pub fn new() -> NixKernel {
        NixKernel::default()
    }

    /// The real syscalls, but `/proc` and `/sys` read under `root` (a fixture tree in tests).
    /// The kernel release then comes from `ROOT/proc/sys/kernel/osrelease`.
    pub fn with_root(root: impl Into<PathBuf>) -> NixKernel {
        NixKernel {
            sys: SysRoot::new(root),
        }
    }

    /// The loaded module's sections and their addresses, from `/sys/module/NAME/sections`.
    pub fn sections(
        &self,
        name: &[u8],
    ) -> Result<Vec<super::sysfs::LoadedSection>, super::sysfs::SectionsError> {
        self.sys.sections(name)
    }

    /// The root `/proc` and `/sys` are read under.
    pub fn root(&self) -> &Path {
        self.sys.root()
    }
}

impl Kernel for NixKernel {
    fn finit_module(&self, file: &File, params: &CString, flags: InitFlags) -> Result<(), Errno> {
        // nix names only two of the flags; the kernel takes MODULE_INIT_COMPRESSED_FILE too.
        nix::kmod::finit_module(file, params, ModuleInitFlags::from_bits_retain(flags.0))
    }

    fn init_module(&self, image: &[u8], params: &CString) -> Result<(), Errno> {
        super::glibc::init_module(image, params)
    }

    fn delete_module(&self, name: &CString, flags: DeleteFlags) -> Result<(), Errno> {
        let mut bits = DeleteModuleFlags::O_NONBLOCK;
        if flags.force {
            bits |= DeleteModuleFlags::O_TRUNC;
        }
        super::glibc::delete_module(name, u32::from_ne_bytes(bits.bits().to_ne_bytes()))
    }

    fn loaded_modules(&self) -> crate::Result<Vec<LoadedModule>> {
        self.sys.loaded_modules()
    }

    fn initstate(&self, name: &[u8]) -> Result<Option<InitState>, Errno> {
        self.sys.initstate(name)
    }

    fn refcnt(&self, name: &[u8]) -> Result<i64, Errno> {
        self.sys.refcnt(name)
    }

    fn holders(&self, name: &[u8]) -> Result<Vec<Vec<u8>>, Errno> {
        self.sys.holders(name)
    }

    fn coresize(&self, name: &[u8]) -> Result<i64, Errno> {
        self.sys.coresize(name)
    }

    fn compression(&self) -> Option<Compression> {
        self.sys.compression()
    }

    fn modules_disabled(&self) -> Option<bool> {
        self.sys.modules_disabled()
    }

    fn release(&self) -> Option<Vec<u8>> {
        if self.sys.root() == Path::new("/") {
            use std::os::unix::ffi::OsStrExt;
            let uts = nix::sys::utsname::uname().ok()?;
            Some(uts.release().as_bytes().to_vec())
        } else {
            self.sys.osrelease()
        }
    }
}
