//! ELF and modinfo parsing: everything modinfo and depmod read from a module image.
#![no_main]

use kmodcore::module::elf::ElfModule;
use kmodcore::module::info::module_info;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(elf) = ElfModule::parse(data) {
        let _ = module_info(&elf, data);
        let _ = elf.versions();
        let _ = elf.ksymtab_strings();
        let _ = elf.this_module_name();
        let _ = elf.symbols();
    }
    let _ = kmodcore::module::signature::read_signature(data);
});
