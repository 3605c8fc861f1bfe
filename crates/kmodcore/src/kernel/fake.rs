//! [`FakeKernel`]: an in-memory kernel for unit tests.
//!
//! It behaves like the real one where the tools can tell: a loaded module's name comes from
//! the image (`.gnu.linkonce.this_module`, as the kernel reads it, or the `name=` modinfo
//! record), loading a module twice is `EEXIST`, a module that is used cannot be removed
//! without force (`EWOULDBLOCK`), a module that is not loaded is `ENOENT`. Every call is
//! recorded ([`FakeKernel::calls`]), and a test can make any call fail with the errno it
//! chooses ([`FakeKernel::fail`]).

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::sync::{Mutex, MutexGuard};

use super::{DeleteFlags, Errno, InitFlags, InitState, Kernel, LoadedModule, Syscall};
use super::{
    MODULE_INIT_COMPRESSED_FILE, MODULE_INIT_IGNORE_MODVERSIONS, MODULE_INIT_IGNORE_VERMAGIC,
};
use crate::module::elf::ElfModule;
use crate::module::{compression, Compression, MAX_MODULE_SIZE};

/// A module the fake kernel has loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeModule {
    /// Its name.
    pub name: Vec<u8>,
    /// Its state.
    pub state: InitState,
    /// Its use count.
    pub refcnt: i64,
    /// The modules that use it.
    pub holders: Vec<Vec<u8>>,
    /// Its size.
    pub size: i64,
    /// The parameters it was loaded with.
    pub params: Vec<u8>,
}

impl FakeModule {
    /// A live, unused module of 16 KiB.
    pub fn live(name: &str) -> FakeModule {
        FakeModule {
            name: name.as_bytes().to_vec(),
            state: InitState::Live,
            refcnt: 0,
            holders: Vec::new(),
            size: 16384,
            params: Vec::new(),
        }
    }

    /// The same module, used by `holders` (its use count becomes their number).
    pub fn held_by(mut self, holders: &[&str]) -> FakeModule {
        self.holders = holders.iter().map(|h| h.as_bytes().to_vec()).collect();
        self.refcnt = i64::try_from(holders.len()).unwrap_or(i64::MAX);
        self
    }

    /// The same module in another state.
    pub fn in_state(mut self, state: InitState) -> FakeModule {
        self.state = state;
        self
    }
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `finit_module` on a file whose module is called `name`.
    Finit {
        /// The module name read from the file ("?" if unreadable).
        name: Vec<u8>,
        /// The parameters.
        params: Vec<u8>,
        /// The flags.
        flags: InitFlags,
    },
    /// `init_module` with an image.
    Init {
        /// The module name read from the image ("?" if unreadable).
        name: Vec<u8>,
        /// The parameters.
        params: Vec<u8>,
        /// The image as given.
        image: Vec<u8>,
    },
    /// `delete_module`.
    Delete {
        /// The name.
        name: Vec<u8>,
        /// The flags.
        flags: DeleteFlags,
    },
}

#[derive(Debug, Default)]
struct State {
    modules: Vec<FakeModule>,
    calls: Vec<Call>,
    /// Scripted failures: (call, module name or None for any), errno, consumed in order.
    failures: Vec<(Syscall, Option<Vec<u8>>, Errno)>,
    compression: Option<Compression>,
    modules_disabled: bool,
    no_finit: bool,
    release: Option<Vec<u8>>,
}

/// An in-memory kernel (see the [module documentation](self)).
#[derive(Debug, Default)]
pub struct FakeKernel {
    state: Mutex<State>,
}

/// Reads a module's name from its image, as the kernel does.
fn image_name(image: &[u8]) -> Option<Vec<u8>> {
    let elf = ElfModule::parse(image).ok()?;
    if let Some(name) = elf.this_module_name() {
        if !name.is_empty() {
            return Some(name.to_vec());
        }
    }
    elf.modinfo()
        .iter()
        .find(|e| e.key == b"name")
        .map(|e| e.value.to_vec())
}

impl FakeKernel {
    /// An empty kernel: nothing loaded, no in-kernel decompression, release `6.1.0-fake`.
    pub fn new() -> FakeKernel {
        let kernel = FakeKernel::default();
        kernel.lock().release = Some(b"6.1.0-fake".to_vec());
        kernel
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves the state as it was; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a loaded module.
    pub fn with_module(self, module: FakeModule) -> FakeKernel {
        self.lock().modules.insert(0, module);
        self
    }

    /// Makes the kernel decompress `format` itself (`/sys/module/compression`).
    pub fn with_compression(self, format: Compression) -> FakeKernel {
        self.lock().compression = Some(format);
        self
    }

    /// Sets `modules_disabled`: every load and unload then fails with `EPERM`.
    pub fn with_modules_disabled(self) -> FakeKernel {
        self.lock().modules_disabled = true;
        self
    }

    /// Makes `finit_module` fail with `ENOSYS`, as on kernels older than 3.8.
    pub fn without_finit(self) -> FakeKernel {
        self.lock().no_finit = true;
        self
    }

    /// Sets the release `uname -r` reports.
    pub fn with_release(self, release: &str) -> FakeKernel {
        self.lock().release = Some(release.as_bytes().to_vec());
        self
    }

    /// Makes the next `call` (for module `name`, or for any module when `None`) fail with
    /// `errno`. Failures are used up in the order they were added.
    pub fn fail(&self, call: Syscall, name: Option<&str>, errno: Errno) {
        self.lock()
            .failures
            .push((call, name.map(|n| n.as_bytes().to_vec()), errno));
    }

    /// The calls made so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The loaded modules, newest first.
    pub fn modules(&self) -> Vec<FakeModule> {
        self.lock().modules.clone()
    }

    /// Whether a module called `name` is loaded.
    pub fn is_loaded(&self, name: &str) -> bool {
        self.lock()
            .modules
            .iter()
            .any(|m| m.name == name.as_bytes())
    }

    fn scripted(state: &mut State, call: Syscall, name: &[u8]) -> Option<Errno> {
        let index = state
            .failures
            .iter()
            .position(|(c, n, _)| *c == call && n.as_deref().map_or(true, |n| n == name))?;
        Some(state.failures.remove(index).2)
    }

    fn load(&self, call: Call, name: Option<Vec<u8>>, params: &CString) -> Result<(), Errno> {
        let mut state = self.lock();
        state.calls.push(call.clone());
        let syscall = match call {
            Call::Finit { .. } => Syscall::FinitModule,
            _ => Syscall::InitModule,
        };
        let Some(name) = name else {
            return Err(Errno::ENOEXEC);
        };
        if let Some(errno) = FakeKernel::scripted(&mut state, syscall, &name) {
            return Err(errno);
        }
        if syscall == Syscall::FinitModule && state.no_finit {
            return Err(Errno::ENOSYS);
        }
        if state.modules_disabled {
            return Err(Errno::EPERM);
        }
        if state.modules.iter().any(|m| m.name == name) {
            return Err(Errno::EEXIST);
        }
        let mut module = FakeModule::live(&String::from_utf8_lossy(&name));
        module.params = params.as_bytes().to_vec();
        state.modules.insert(0, module);
        Ok(())
    }
}

impl Kernel for FakeKernel {
    fn finit_module(&self, file: &File, params: &CString, flags: InitFlags) -> Result<(), Errno> {
        let known = MODULE_INIT_COMPRESSED_FILE
            | MODULE_INIT_IGNORE_MODVERSIONS
            | MODULE_INIT_IGNORE_VERMAGIC;
        let mut bytes = Vec::new();
        let read = file.take(MAX_MODULE_SIZE).read_to_end(&mut bytes);
        let image = match (read, flags.contains(MODULE_INIT_COMPRESSED_FILE)) {
            (Err(_), _) => None,
            (Ok(_), false) => Some(bytes),
            (Ok(_), true) => compression::decompress_bytes(&bytes, MAX_MODULE_SIZE).ok(),
        };
        let name = image.as_deref().and_then(image_name);
        let call = Call::Finit {
            name: name.clone().unwrap_or_else(|| b"?".to_vec()),
            params: params.as_bytes().to_vec(),
            flags,
        };
        if flags.0 & !known != 0 {
            self.lock().calls.push(call);
            return Err(Errno::EINVAL);
        }
        // A compressed file the kernel cannot decompress itself.
        if flags.contains(MODULE_INIT_COMPRESSED_FILE) && self.lock().compression.is_none() {
            self.lock().calls.push(call);
            return Err(Errno::EOPNOTSUPP);
        }
        self.load(call, name, params)
    }

    fn init_module(&self, image: &[u8], params: &CString) -> Result<(), Errno> {
        let name = image_name(image);
        let call = Call::Init {
            name: name.clone().unwrap_or_else(|| b"?".to_vec()),
            params: params.as_bytes().to_vec(),
            image: image.to_vec(),
        };
        self.load(call, name, params)
    }

    fn delete_module(&self, name: &CString, flags: DeleteFlags) -> Result<(), Errno> {
        let mut state = self.lock();
        let name = name.as_bytes().to_vec();
        state.calls.push(Call::Delete {
            name: name.clone(),
            flags,
        });
        if let Some(errno) = FakeKernel::scripted(&mut state, Syscall::DeleteModule, &name) {
            return Err(errno);
        }
        if state.modules_disabled {
            return Err(Errno::EPERM);
        }
        let Some(index) = state.modules.iter().position(|m| m.name == name) else {
            return Err(Errno::ENOENT);
        };
        let used = state
            .modules
            .get(index)
            .is_some_and(|m| m.refcnt != 0 || !m.holders.is_empty());
        let live = state
            .modules
            .get(index)
            .is_some_and(|m| m.state == InitState::Live);
        if !flags.force && !live {
            return Err(Errno::EBUSY);
        }
        if !flags.force && used {
            return Err(Errno::EWOULDBLOCK);
        }
        state.modules.remove(index);
        Ok(())
    }

    fn loaded_modules(&self) -> crate::Result<Vec<LoadedModule>> {
        Ok(self
            .lock()
            .modules
            .iter()
            .map(|m| LoadedModule {
                name: m.name.clone(),
                size: u64::try_from(m.size).ok(),
            })
            .collect())
    }

    fn initstate(&self, name: &[u8]) -> Result<Option<InitState>, Errno> {
        Ok(self
            .lock()
            .modules
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.state))
    }

    fn refcnt(&self, name: &[u8]) -> Result<i64, Errno> {
        let state = self.lock();
        let module = state
            .modules
            .iter()
            .find(|m| m.name == name)
            .ok_or(Errno::ENOENT)?;
        Ok(module.refcnt)
    }

    fn holders(&self, name: &[u8]) -> Result<Vec<Vec<u8>>, Errno> {
        let state = self.lock();
        let module = state
            .modules
            .iter()
            .find(|m| m.name == name)
            .ok_or(Errno::ENOENT)?;
        Ok(module.holders.clone())
    }

    fn coresize(&self, name: &[u8]) -> Result<i64, Errno> {
        let state = self.lock();
        let module = state
            .modules
            .iter()
            .find(|m| m.name == name)
            .ok_or(Errno::ENOENT)?;
        Ok(module.size)
    }

    fn compression(&self) -> Option<Compression> {
        self.lock().compression
    }

    fn modules_disabled(&self) -> Option<bool> {
        Some(self.lock().modules_disabled)
    }

    fn release(&self) -> Option<Vec<u8>> {
        self.lock().release.clone()
    }
}
