//! The loaded modules as `lsmod` lists them: the list and its order from `/proc/modules`,
//! each module's use count, size and users from `/sys/module/NAME` (`refcnt`, `coresize`,
//! `holders/` in directory order), read through a [`Kernel`] as libkmod reads them.
//!
//! The kernel is passed in: [`crate::kernel::NixKernel::with_root`] reads `/proc` and `/sys`
//! under any root, and [`crate::kernel::FakeKernel`] keeps modules in memory. A value that
//! cannot be read is kept as its errno, for the tool to report and show as kmod does.

use super::{normalize_module_name, Errno, Kernel};

/// One loaded module, as lsmod shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleStatus {
    /// The module's name from `/proc/modules`, with `-` normalized to `_`.
    pub name: Vec<u8>,
    /// Its use count (`refcnt`), or why it could not be read.
    pub refcnt: Result<i64, Errno>,
    /// Its size (`coresize`), or why it could not be read (`EINVAL`: it did not parse).
    pub coresize: Result<i64, Errno>,
    /// The modules that use it (`holders/`, names normalized), or why they could not be read.
    pub holders: Result<Vec<Vec<u8>>, Errno>,
}

/// The loaded modules in `/proc/modules` order, each with what `/sys/module` says about it.
/// The values are read in kmod's order: the use count first, then the size, then the users.
/// An error only when the list itself cannot be read.
pub fn loaded_module_status(kernel: &dyn Kernel) -> crate::Result<Vec<ModuleStatus>> {
    let modules = kernel.loaded_modules()?;
    Ok(modules
        .into_iter()
        .map(|module| {
            let name = normalize_module_name(&module.name);
            let refcnt = kernel.refcnt(&name);
            let coresize = kernel.coresize(&name);
            let holders = kernel.holders(&name).map(|holders| {
                holders
                    .iter()
                    .map(|holder| normalize_module_name(holder))
                    .collect()
            });
            ModuleStatus {
                name,
                refcnt,
                coresize,
                holders,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{FakeKernel, FakeModule, NixKernel};

    #[test]
    fn fake_modules_in_order_with_holders() {
        let kernel = FakeKernel::new()
            .with_module(FakeModule::live("e1000"))
            .with_module(FakeModule::live("libata").held_by(&["ata_piix", "ata_generic"]));
        let got = loaded_module_status(&kernel).unwrap();
        let names: Vec<&[u8]> = got.iter().map(|m| &m.name[..]).collect();
        // The fake lists the newest first, as /proc/modules does.
        assert_eq!(names, [&b"libata"[..], b"e1000"]);
        assert_eq!(got[0].refcnt, Ok(2));
        assert_eq!(got[0].coresize, Ok(16384));
        assert_eq!(
            got[0].holders,
            Ok(vec![b"ata_piix".to_vec(), b"ata_generic".to_vec()])
        );
    }

    /// Under a fixture root: a module without /sys/module is ENOENT throughout, a refcnt
    /// that does not parse is EINVAL, and names are normalized.
    #[test]
    fn unreadable_values_are_errnos() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("proc")).unwrap();
        std::fs::write(
            r.join("proc/modules"),
            "gone 4096 0 - Live 0x0\nodd-one 8192 0 - Live 0x0\n",
        )
        .unwrap();
        std::fs::create_dir_all(r.join("sys/module/odd_one")).unwrap();
        std::fs::write(r.join("sys/module/odd_one/refcnt"), "x\n").unwrap();
        std::fs::write(r.join("sys/module/odd_one/coresize"), "8192\n").unwrap();
        let got = loaded_module_status(&NixKernel::with_root(r)).unwrap();
        assert_eq!(got[0].name, b"gone");
        assert_eq!(
            (got[0].refcnt, got[0].coresize),
            (Err(Errno::ENOENT), Err(Errno::ENOENT))
        );
        assert_eq!(got[1].name, b"odd_one");
        assert_eq!(
            (got[1].refcnt, got[1].coresize),
            (Err(Errno::EINVAL), Ok(8192))
        );
        assert_eq!(got[1].holders, Err(Errno::ENOENT));
    }

    #[test]
    fn no_proc_modules_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let e = loaded_module_status(&NixKernel::with_root(root.path())).unwrap_err();
        assert_eq!(e.errno(), 2);
    }
}
