//! What a refusal from the kernel most likely means, where kmod leaves the user guessing.
//!
//! kmod prints the errno's text (`File exists`, `Operation not permitted`, `Invalid module
//! format`, ...). These hints say what the kernel actually objected to, using what can be
//! checked from userspace: whether the module is already loaded, whether module loading has
//! been switched off, which kernel the module was built for. The tools print a hint after kmod's own words, so
//! that the line still starts the way scripts expect.

use std::path::Path;

use super::{Errno, Kernel};
use crate::module::elf::ElfModule;
use crate::module::ModuleFile;

/// What the tool knows about a failed load, for [`insert_hint`].
#[derive(Debug, Clone, Copy)]
pub struct InsertContext<'a> {
    /// The module file, if the load was from a file.
    pub path: Option<&'a Path>,
    /// The module's name.
    pub name: &'a [u8],
    /// The parameter string given to the kernel.
    pub params: &'a [u8],
}

/// A hint for a failed load (`finit_module`/`init_module` returned `errno`), or `None` when
/// the errno's own text says it all.
pub fn insert_hint(kernel: &dyn Kernel, errno: Errno, ctx: &InsertContext<'_>) -> Option<String> {
    let name = String::from_utf8_lossy(ctx.name);
    match errno {
        Errno::EEXIST => Some(format!("a module named {name} is already loaded")),
        Errno::EBUSY => Some(format!(
            "another load of {name} was in progress and did not finish: see dmesg, then try again"
        )),
        Errno::EPERM => Some(permission_hint(kernel, "loading")),
        Errno::EKEYREJECTED => Some(
            "the module's signature was rejected: it is signed with a key the kernel does not trust"
                .into(),
        ),
        Errno::ENOKEY => Some(
            "the kernel requires a valid signature and the module is unsigned, or signed with an unknown key"
                .into(),
        ),
        Errno::EBADMSG => Some("the module's signature is malformed".into()),
        Errno::ENOEXEC => Some(format_hint(kernel, ctx)),
        Errno::ENOENT => Some(unknown_hint()),
        Errno::ESRCH => Some(
            "the module was built against other versions of the kernel's symbols: see dmesg".into(),
        ),
        Errno::EINVAL => Some("a parameter value is invalid, or the module is malformed: see dmesg".into()),
        Errno::ENOSPC | Errno::ENOMEM => Some("the kernel could not allocate memory for the module".into()),
        _ => None,
    }
}

/// A hint for a failed unload (`delete_module` returned `errno`), or `None`.
pub fn remove_hint(kernel: &dyn Kernel, errno: Errno, name: &[u8]) -> Option<String> {
    let name = String::from_utf8_lossy(name);
    match errno {
        Errno::EWOULDBLOCK => Some(format!("{name} is in use")),
        Errno::EBUSY => Some(format!(
            "{name} is still initialising or being removed, or cannot be unloaded (no exit function)"
        )),
        Errno::ENOENT => Some(format!("{name} is not loaded")),
        Errno::EPERM => Some(permission_hint(kernel, "unloading")),
        _ => None,
    }
}

fn permission_hint(kernel: &dyn Kernel, what: &str) -> String {
    if kernel.modules_disabled() == Some(true) {
        return format!(
            "module {what} is disabled until reboot (/proc/sys/kernel/modules_disabled is 1)"
        );
    }
    if !nix::unistd::geteuid().is_root() {
        return format!("module {what} needs CAP_SYS_MODULE: run as root");
    }
    format!("the kernel forbids module {what} here (lockdown or a security module?): see dmesg")
}

/// The module's vermagic, when the file can be read.
fn vermagic(path: &Path) -> Option<Vec<u8>> {
    let module = ModuleFile::open(path).ok()?;
    let elf = ElfModule::parse(module.contents()).ok()?;
    let vermagic = elf
        .modinfo()
        .iter()
        .find(|e| e.key == b"vermagic")
        .map(|e| e.value.to_vec());
    vermagic
}

fn format_hint(kernel: &dyn Kernel, ctx: &InsertContext<'_>) -> String {
    let built_for = ctx.path.and_then(vermagic);
    let release = kernel.release();
    if let (Some(magic), Some(release)) = (&built_for, &release) {
        let module_release = magic.split(|&b| b == b' ').next().unwrap_or_default();
        if module_release != release.as_slice() {
            return format!(
                "the module was built for kernel {}, and the running kernel is {}: see dmesg",
                String::from_utf8_lossy(module_release),
                String::from_utf8_lossy(release)
            );
        }
    }
    "the kernel rejected the module image (wrong architecture, version magic or a damaged file): see dmesg".into()
}

fn unknown_hint() -> String {
    // The kernel ignores unknown parameters (with a warning in its log) since Linux 3.x; a
    // module that fails with ENOENT lacks a symbol.
    "a symbol the module needs is not exported by the kernel or by a loaded module: load its dependencies first (modprobe does), see dmesg".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::FakeKernel;

    #[test]
    fn unknown_symbol_is_explained() {
        let kernel = FakeKernel::new();
        let ctx = InsertContext {
            path: None,
            name: b"p",
            params: b"colour=red",
        };
        let hint = insert_hint(&kernel, Errno::ENOENT, &ctx).unwrap();
        assert!(hint.starts_with("a symbol the module needs"), "{hint}");
    }

    #[test]
    fn wrong_kernel_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.ko");
        let image = testkit::ModuleSpec::new("v")
            .info("vermagic", "5.10.0-9-amd64 SMP mod_unload ")
            .build();
        std::fs::write(&path, image).unwrap();
        let kernel = FakeKernel::new().with_release("6.1.0-47-amd64");
        let ctx = InsertContext {
            path: Some(&path),
            name: b"v",
            params: b"",
        };
        assert_eq!(
            insert_hint(&kernel, Errno::ENOEXEC, &ctx).unwrap(),
            "the module was built for kernel 5.10.0-9-amd64, and the running kernel is 6.1.0-47-amd64: see dmesg"
        );
    }

    #[test]
    fn modules_disabled_is_named() {
        let kernel = FakeKernel::new().with_modules_disabled();
        let ctx = InsertContext {
            path: None,
            name: b"x",
            params: b"",
        };
        assert_eq!(
            insert_hint(&kernel, Errno::EPERM, &ctx).unwrap(),
            "module loading is disabled until reboot (/proc/sys/kernel/modules_disabled is 1)"
        );
        assert_eq!(
            remove_hint(&kernel, Errno::EPERM, b"x").unwrap(),
            "module unloading is disabled until reboot (/proc/sys/kernel/modules_disabled is 1)"
        );
        assert_eq!(
            insert_hint(&kernel, Errno::EEXIST, &ctx).unwrap(),
            "a module named x is already loaded"
        );
        assert!(insert_hint(&kernel, Errno::EKEYREJECTED, &ctx)
            .unwrap()
            .contains("signature"));
        assert_eq!(insert_hint(&kernel, Errno::E2BIG, &ctx), None);
    }
}
