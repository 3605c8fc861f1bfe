//! rkmod's libkmod C API with hostile files and arguments: a module directory whose indexes,
//! configuration and module file come from the input, and a query string from it too (not
//! UTF-8, no NUL-termination guarantees but its own). Every call ends in a value or an error:
//! no crash, and no panic either, even one the library's boundary would catch (counted by
//! `kmod::caught_panics`). Probes are dry runs only: nothing is loaded or run.
#![no_main]
#![allow(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use kmod::ctx::*;
    use kmod::module::*;
    use kmod::module_file::*;
    use std::ffi::CString;
    use std::ptr;
    let before = kmod::caught_panics();
    // Five parts, each after its length (u16, little-endian) in a 10-byte header: the query, a
    // configuration file, modules.dep.bin, modules.alias.bin, modules.symbols.bin; the rest is
    // a module file.
    let (header, mut rest) = data.split_at(data.len().min(10));
    let mut lengths = header
        .chunks(2)
        .map(|pair| usize::from(pair[0]) | usize::from(*pair.get(1).unwrap_or(&0)) << 8);
    let mut part = move || {
        let (taken, left) = match lengths.next() {
            Some(len) => rest.split_at(len.min(rest.len())),
            None => (rest, &[][..]),
        };
        rest = left;
        taken
    };
    let query = part();
    let query = CString::new(query.split(|&b| b == 0).next().unwrap_or_default()).unwrap();
    let dir = std::env::temp_dir().join(format!("rkmod-fuzz-libkmod-{}", std::process::id()));
    let conf = dir.join("modprobe.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("fuzz.conf"), part()).unwrap();
    for name in ["modules.dep.bin", "modules.alias.bin", "modules.symbols.bin"] {
        std::fs::write(dir.join(name), part()).unwrap();
    }
    let module_path = dir.join("m.ko");
    std::fs::write(&module_path, part()).unwrap();
    let dirname = CString::new(dir.to_str().unwrap()).unwrap();
    let conf_name = CString::new(conf.to_str().unwrap()).unwrap();
    let module_name = CString::new(module_path.to_str().unwrap()).unwrap();
    let config = [conf_name.as_ptr(), ptr::null()];
    unsafe {
        let ctx = kmod_new(dirname.as_ptr(), config.as_ptr());
        assert!(!ctx.is_null());
        kmod_set_log_priority(ctx, 0);
        let _ = kmod_load_resources(ctx);
        let _ = kmod_validate_resources(ctx);
        let mut modules = Vec::new();
        let mut list = ptr::null_mut();
        let _ = kmod_module_new_from_lookup(ctx, query.as_ptr(), &mut list);
        for data in kmod::list::items(list) {
            modules.push(kmod_module_ref(data.cast()));
        }
        kmod_module_unref_list(list);
        type New = unsafe extern "C" fn(
            *mut Ctx,
            *const std::ffi::c_char,
            *mut *mut Module,
        ) -> std::ffi::c_int;
        let makers: [New; 2] = [kmod_module_new_from_name, kmod_module_new_from_name_lookup];
        for make in makers {
            let mut m = ptr::null_mut();
            if make(ctx, query.as_ptr(), &mut m) == 0 && !m.is_null() {
                modules.push(m);
            }
        }
        let mut m = ptr::null_mut();
        if kmod_module_new_from_path(ctx, module_name.as_ptr(), &mut m) == 0 && !m.is_null() {
            modules.push(m);
        }
        for &m in &modules {
            let _ = kmod_module_get_path(m);
            let _ = kmod_module_get_options(m);
            let _ = kmod_module_get_install_commands(m);
            let _ = kmod_module_get_remove_commands(m);
            kmod_module_unref_list(kmod_module_get_dependencies(m));
            let (mut pre, mut post, mut weak) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
            let _ = kmod_module_get_softdeps(m, &mut pre, &mut post);
            kmod_module_unref_list(pre);
            kmod_module_unref_list(post);
            let _ = kmod_module_get_weakdeps(m, &mut weak);
            kmod_module_unref_list(weak);
            let mut info = ptr::null_mut();
            let _ = kmod_module_get_info(m, &mut info);
            kmod_module_info_free_list(info);
            let mut versions = ptr::null_mut();
            let _ = kmod_module_get_versions(m, &mut versions);
            kmod_module_versions_free_list(versions);
            let mut symbols = ptr::null_mut();
            let _ = kmod_module_get_symbols(m, &mut symbols);
            kmod_module_symbols_free_list(symbols);
            let mut needed = ptr::null_mut();
            let _ = kmod_module_get_dependency_symbols(m, &mut needed);
            kmod_module_dependency_symbols_free_list(needed);
            // KMOD_PROBE_DRY_RUN always, with and without the blacklist flags.
            for flags in [0x10, 0x10 | 0x20000, 0x10 | 0x10000 | 0x4] {
                let _ = kmod_module_probe_insert_module(
                    m,
                    flags,
                    query.as_ptr(),
                    None,
                    ptr::null(),
                    None,
                );
            }
        }
        for m in modules {
            kmod_module_unref(m);
        }
        let sink = std::fs::File::options().write(true).open("/dev/null").unwrap();
        for index in 0..5 {
            let _ = kmod_dump_index(ctx, index, std::os::fd::AsRawFd::as_raw_fd(&sink));
        }
        kmod_unload_resources(ctx);
        assert!(kmod_unref(ctx).is_null());
    }
    assert_eq!(kmod::caught_panics(), before, "the library caught a panic");
});
