//! rkmod's libkmod.so.2 against kmod's own library (Debian 12's libkmod2, kmod 30), through
//! the same C programs, built once against rkmod's header:
//!
//! - crates/libkmod/tests/c/lookup.c: lookups by name, alias, modalias and symbol on the real
//!   6.1 tree, each module's path, options, commands, dependencies and softdeps, and dry-run
//!   probes with every blacklist mode;
//! - crates/libkmod/tests/c/modfile.c: what is read from module files (modinfo, symbol
//!   versions, exports, dependency symbols), every index dumped, and resource loading and
//!   validation around replaced indexes and changed configuration.
//!
//! - crates/libkmod/tests/c/kernel_ops.c: the calls on the running kernel, here only those
//!   that change nothing (a module not loaded, a builtin one, one without a file); the VM
//!   suite's library_kernel_ops scenario runs the rest.
//!
//! The expected output is what kmod's library prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

const CONFIG: &str = "\
options usb_storage quirks=0419:aaf5:u delay_use=1
options my-disk from_alias=1
alias my-disk usb-storage
blacklist pcspkr
blacklist crc32c_generic
install dummy /bin/true $CMDLINE_OPTS
remove dummy /bin/false
softdep ext4 pre: crc32c post: jbd2
softdep e1000e pre: my-disk
softdep usbcore post: usb-storage
";

/// Hand-picked requests: configured aliases, options, commands and softdeps, blacklisted
/// modules, invalid and missing names.
const REQUESTS: &str = "\
lookup usb-storage
lookup my-disk
lookup ext4
lookup dummy
lookup pcspkr
lookup nonexistent-thing
lookup pci:v00008086d000010D3sv00001028sd00000000bc02sc00i00
lookup symbol:usb_stor_probe1
lookup crc32c
lookup fs-ext4
lookup bad]alias
lookup e1000e
name e1000e
name usb-storage.ko
name not_a_module
namelookup usb-storage
namelookup nosuchmod
namelookup crc32c
probe dummy
probe ext4
probe my-disk
probe e1000e
probe usb-storage
";

/// The dynamic symbols `kmod_*` of a library with their version nodes.
fn versioned_symbols(library: &Path) -> std::collections::BTreeMap<String, String> {
    let output = Command::new("objdump")
        .arg("-T")
        .arg(library)
        .output()
        .expect("objdump (binutils)");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(" .text"))
        .filter_map(|line| {
            let mut words = line.split_whitespace().rev();
            let name = words.next()?;
            let version = words.next()?;
            name.starts_with("kmod_").then(|| {
                (
                    name.to_string(),
                    version.trim_matches(['(', ')']).to_string(),
                )
            })
        })
        .collect()
}

#[test]
fn exports_carry_kmods_symbol_versions_and_soname() {
    if !kmod_library_present() {
        return;
    }
    let kmod_library = Path::new(KMOD_LIBRARY_DIR).join("libkmod.so.2");
    let work = tempdir();
    let library = build_libkmod(work.path()).expect("scripts/build-libkmod");
    let ours = versioned_symbols(&library);
    let kmods = versioned_symbols(&kmod_library);
    assert!(kmods.len() >= 70, "{kmods:?}");
    let mut compared = 0;
    for (name, version) in &ours {
        // Debian 12's kmod (a 30+20221128 snapshot) has this one in LIBKMOD_5; the kmod
        // release that added it, and every later one, in LIBKMOD_30, as ours.
        if name == "kmod_module_new_from_name_lookup" {
            assert_eq!(version, "LIBKMOD_30");
            continue;
        }
        if let Some(kmod_version) = kmods.get(name) {
            assert_eq!(version, kmod_version, "the version of {name}");
            compared += 1;
        }
    }
    assert!(compared >= 45, "only {compared} symbols compared");
    // What kmod 30 lacks: the nodes of kmod 33's API.
    assert_eq!(
        ours.get("kmod_module_get_weakdeps").map(String::as_str),
        Some("LIBKMOD_33")
    );
    assert_eq!(
        ours.get("kmod_config_get_weakdeps").map(String::as_str),
        Some("LIBKMOD_33")
    );
    // Nothing but kmod's API is exported.
    let output = Command::new("objdump")
        .arg("-T")
        .arg(&library)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    for line in text.lines().filter(|l| l.contains(" .text")) {
        let name = line.split_whitespace().last().unwrap();
        assert!(name.starts_with("kmod_"), "exported: {line}");
    }
    let dynamic = Command::new("objdump")
        .arg("-p")
        .arg(&library)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&dynamic.stdout).contains("SONAME               libkmod.so.2"));
}

/// A scratch directory with rkmod's library built into its `lib`: the directory and `lib`.
fn work_with_library() -> (tempfile::TempDir, PathBuf) {
    let work = tempdir();
    let lib_dir = work.path().join("lib");
    build_libkmod(&lib_dir).expect("scripts/build-libkmod");
    (work, lib_dir)
}

/// Builds one of the C programs of crates/libkmod/tests/c against the library in `lib_dir`.
fn build_program(name: &str, lib_dir: &Path, out: &Path) -> PathBuf {
    let program = out.join(name);
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/libkmod/tests/c")
        .join(format!("{name}.c"));
    let status = Command::new("gcc")
        .args(["-Wall", "-Werror", "-o"])
        .arg(&program)
        .arg("-I")
        .arg(lib_dir)
        .arg(&source)
        .arg("-L")
        .arg(lib_dir)
        .args(["-lkmod", "-ldl"])
        .status()
        .expect("gcc");
    assert!(status.success(), "gcc failed on {}", source.display());
    program
}

/// The prerequisites of a comparison with kmod's library, or a skip.
fn kmod_library_and_gcc() -> bool {
    if !kmod_library_present() {
        return false;
    }
    if Command::new("gcc").arg("--version").output().is_err() {
        skip("gcc, to build the C test program");
        return false;
    }
    true
}

/// Panics with the first differing lines of two outputs, if they differ.
fn assert_same_output(expected: &str, actual: &str) {
    if expected == actual {
        return;
    }
    let first = expected
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
    let context = |text: &str| {
        text.lines()
            .skip(first.saturating_sub(10))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    };
    panic!(
        "rkmod's library differs from kmod's at line {}:\n--- kmod\n{}\n--- rkmod\n{}",
        first + 1,
        context(expected),
        context(actual)
    );
}

fn run(program: &Path, library_dir: &Path, args: &[&Path]) -> String {
    let output = Command::new(program)
        .args(args)
        .env("LD_LIBRARY_PATH", library_dir)
        .env_remove("KMOD_LOG")
        .output()
        .expect("run the lookup program");
    assert!(
        output.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// kmod's output with the one documented change (modprobe(8), DIFFERENCES): a softdep with
/// both lists reads "pre: A post: B"; kmod's library omits the space before "post:".
fn with_softdep_space(kmod_output: &str) -> String {
    kmod_output
        .lines()
        .map(|line| {
            let fixed = match (line.strip_prefix("config softdep "), line.find("post: ")) {
                (Some(_), Some(at)) if line.contains("pre: ") && !line[..at].ends_with(' ') => {
                    format!("{} {}", &line[..at], &line[at..])
                }
                _ => line.to_string(),
            };
            fixed + "\n"
        })
        .collect()
}

#[test]
fn lookups_and_dry_run_probes_match_kmods_library() {
    let Some(tree) = tree_61() else { return };
    if !kmod_library_and_gcc() {
        return;
    }
    let (work, lib_dir) = work_with_library();
    let program = build_program("lookup", &lib_dir, work.path());

    let config = work.path().join("modprobe.d");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("test.conf"), CONFIG).unwrap();
    // Beside the hand-picked requests, a sample of the tree: every 25th alias pattern and
    // every 15th module name, and symbols.
    let mut requests = String::from(REQUESTS);
    for alias in tree.index_keys("modules.alias", 25) {
        requests += &format!("lookup {alias}\n");
    }
    for symbol in tree.index_keys("modules.symbols", 400) {
        requests += &format!("lookup {symbol}\n");
    }
    for module in tree.modules().iter().step_by(15) {
        let name = module.file_name().unwrap().to_string_lossy().into_owned();
        requests += &format!("name {name}\nnamelookup {name}\n");
    }
    let request_file = work.path().join("requests");
    std::fs::write(&request_file, &requests).unwrap();

    let moddir = tree.kmod30_moddir();
    let args = [moddir.as_path(), config.as_path(), request_file.as_path()];
    let expected = with_softdep_space(&run(&program, Path::new(KMOD_LIBRARY_DIR), &args));
    let actual = run(&program, &lib_dir, &args);
    // The program must have run through kmod's library for real: every request answered,
    // modules found and probed.
    assert!(
        expected.matches("action insmod").count() > 1000,
        "{expected}"
    );
    let config_lines = expected
        .lines()
        .filter(|l| l.starts_with("config "))
        .count();
    assert!(config_lines >= 2 * 12, "{config_lines} configuration lines");
    assert_eq!(
        expected.lines().filter(|l| !l.starts_with(' ')).count() - config_lines,
        requests.lines().count() + 2
    );
    assert_same_output(&expected, &actual);
}

/// rkmod's output in kmod 30's form, for the one thing the newest kmod changed in
/// `kmod_module_get_info` (rkmod follows the newest): it lists the module's GNU build-id.
/// The build-ids of the modules requested by path are returned for a check of their own.
fn as_kmod30_info(output: &str) -> (String, Vec<(String, String)>) {
    let mut blocks: Vec<Vec<String>> = Vec::new();
    for line in output.lines() {
        // A module's block starts with its request; values may hold newlines.
        if !line.starts_with("path ") && !line.starts_with("name ") {
            if let Some(block) = blocks.last_mut() {
                block.push(line.to_string());
                continue;
            }
        }
        blocks.push(vec![line.to_string()]);
    }
    let mut build_ids = Vec::new();
    let mut text = String::new();
    for mut block in blocks {
        if let Some(at) = block.iter().position(|l| l.starts_with("  info build-id=")) {
            let id = block.remove(at)["  info build-id=".len()..].to_string();
            let path = block[0]
                .strip_prefix("path ")
                .and_then(|rest| rest.rsplit_once(" ret="))
                .map(|(path, _)| path.to_string())
                .unwrap_or_default();
            if !path.is_empty() {
                build_ids.push((path, id));
            }
            for line in &mut block {
                if let Some(count) = line.strip_prefix("  info ret=") {
                    let count: i64 = count.parse().unwrap();
                    *line = format!("  info ret={}", count - 1);
                }
            }
        }
        for line in block {
            text += &line;
            text.push('\n');
        }
    }
    (text, build_ids)
}

/// kmod 30's output with kmod 32's errno for a module file without exports: ENODATA (61),
/// as rkmod and the newest kmod say, where kmod 30 said ENOENT (2). ENOENT stays where it
/// means no file (a builtin module): there the versions failed with ENOENT too.
fn with_enodata(kmod30_output: &str) -> String {
    let mut file_read = false;
    let mut out = String::new();
    for line in kmod30_output.lines() {
        if let Some(ret) = line.strip_prefix("  versions ret=") {
            file_read = ret != "-2";
        }
        if line == "  symbols ret=-2" && file_read {
            out += "  symbols ret=-61";
        } else {
            out += line;
        }
        out.push('\n');
    }
    out
}

/// The GNU build-id of an ELF file as binutils' readelf shows it.
fn readelf_build_id(path: &str) -> Option<String> {
    let output = Command::new("readelf").args(["-n", path]).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let hex = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))?;
    let bytes: Vec<String> = (0..hex.len())
        .step_by(2)
        .map(|i| hex[i..i + 2].to_uppercase())
        .collect();
    Some(bytes.join(":"))
}

#[test]
fn module_files_and_index_dumps_match_kmods_library() {
    let Some(tree) = tree_61() else { return };
    let Some(signed_root) = signed_tree_61() else {
        return;
    };
    if !kmod_library_and_gcc() {
        return;
    }
    let (work, lib_dir) = work_with_library();
    let program = build_program("modfile", &lib_dir, work.path());

    // Every 20th module of the tree by path; every 30th signed module by path, then by name
    // (kmod frees the first module object with its last reference, so the name finds the
    // modules.dep file again); builtin modules, which list modules.builtin.modinfo; and
    // names and paths that do not exist.
    let moddir = tree.kmod30_moddir();
    let mut requests = String::new();
    for module in tree.modules().iter().step_by(20) {
        let relative = module.strip_prefix(&tree.moddir).unwrap();
        requests += &format!("path {}\n", moddir.join(relative).display());
    }
    let signed_dir = signed_root.join("lib/modules").join(tree.kver);
    let signed = RealTree {
        moddir: signed_dir.clone(),
        ..tree.clone()
    };
    for module in signed.modules().iter().step_by(30) {
        let name = module
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".ko", "");
        requests += &format!("path {}\nname {name}\n", module.display());
    }
    for name in tree.builtin_names().iter().step_by(40) {
        requests += &format!("name {name}\n");
    }
    requests += "name no_such_module\npath /nonexistent/x.ko\n";
    let request_file = work.path().join("requests");
    std::fs::write(&request_file, &requests).unwrap();

    let args = [Path::new("files"), moddir.as_path(), request_file.as_path()];
    let expected = with_enodata(&run(&program, Path::new(KMOD_LIBRARY_DIR), &args));
    let actual = run(&program, &lib_dir, &args);
    // kmod's library did the work: modules opened, records and symbols listed, signatures
    // read, every index dumped.
    assert!(
        expected.matches("\n  info license=").count() > 250,
        "{expected}"
    );
    assert!(expected.matches("\n  info sig_hashalgo=sha256").count() > 100);
    assert!(expected.matches("\n  depsym U ").count() > 10_000);
    assert!(expected.matches("\nalias pci:").count() > 1000);
    assert!(expected.contains("\ndump 5 ret=-2\n"));
    let (actual_as_kmod30, build_ids) = as_kmod30_info(&actual);
    assert_same_output(&expected, &actual_as_kmod30);
    // The build-ids rkmod adds, as the newest kmod does, are the files' own.
    assert!(build_ids.len() > 300, "{} build-ids", build_ids.len());
    for (path, id) in &build_ids {
        assert_eq!(
            readelf_build_id(path).as_deref(),
            Some(id.as_str()),
            "{path}"
        );
    }
}

/// A scratch module directory: copies of the tree's indexes (which the test may replace) and
/// its `kernel` directory linked, so that every module file exists.
fn scratch_moddir(tree: &RealTree, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(tree.kmod30_moddir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::os::unix::fs::symlink(tree.kmod30_moddir().join("kernel"), dir.join("kernel")).unwrap();
    dir.to_path_buf()
}

#[test]
fn resources_load_and_validate_as_kmods_library_does() {
    let Some(tree) = tree_61() else { return };
    if !kmod_library_and_gcc() {
        return;
    }
    let (work, lib_dir) = work_with_library();
    let program = build_program("modfile", &lib_dir, work.path());

    let outputs: Vec<String> = [Path::new(KMOD_LIBRARY_DIR), lib_dir.as_path()]
        .iter()
        .enumerate()
        .map(|(i, library)| {
            let root = work.path().join(format!("run{i}"));
            let moddir = scratch_moddir(&tree, &root.join("modules"));
            let config = root.join("modprobe.d");
            std::fs::create_dir_all(&config).unwrap();
            let mut out = run(
                &program,
                library,
                &[Path::new("resources"), moddir.as_path(), config.as_path()],
            );
            // kmod_load_resources on broken directories: no modules.dep.bin; an empty
            // modules.builtin.bin; no modules.builtin.alias.bin (which kmod allows).
            let broken: [(&str, &[&str], &[&str]); 3] = [
                ("no-dep", &["modules.dep.bin"], &[]),
                ("empty-builtin", &[], &["modules.builtin.bin"]),
                ("no-builtin-alias", &["modules.builtin.alias.bin"], &[]),
            ];
            for (name, removed, emptied) in broken {
                let dir = scratch_moddir(&tree, &root.join(name));
                for file in removed {
                    std::fs::remove_file(dir.join(file)).unwrap();
                }
                for file in emptied {
                    std::fs::write(dir.join(file), b"").unwrap();
                }
                out += &run(&program, library, &[Path::new("load"), dir.as_path()]);
            }
            out
        })
        .collect();
    let (expected, actual) = (&outputs[0], &outputs[1]);
    assert!(
        expected.contains("validate after modules.alias.bin was replaced: 1\n"),
        "{expected}"
    );
    assert!(expected.contains("validate after a configuration file was added: 2\n"));
    assert!(expected.contains("load no-dep: -2\n"));
    assert!(expected.contains("load empty-builtin: -22\n"));
    assert_same_output(expected, actual);
}

/// kernel_ops operations that leave the host's kernel as it is: the state, holders and
/// sections of modules that are not loaded here (of another kernel's tree), a builtin one,
/// loads of modules without a file, and removals of a module that does not exist.
const KERNEL_OPS_SCRIPT: &str = "\
initstate garp
refcnt garp
holders garp
sections garp
initstate ipv6
refcnt ipv6
holders ipv6
insert ipv6
probe ipv6
probe ipv6 fail-on-loaded
insert no_such_module
probe no_such_module
probe no_such_module ignore-loaded
remove no_such_module
remove no_such_module nolog
";

/// Runs kernel_ops with `library` on the tree, the script on standard input.
fn run_kernel_ops(program: &Path, library_dir: &Path, moddir: &Path) -> String {
    use std::io::Write;
    let mut child = Command::new(program)
        .arg(moddir)
        .env("LD_LIBRARY_PATH", library_dir)
        .env_remove("KMOD_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kernel_ops");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(KERNEL_OPS_SCRIPT.as_bytes()).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// The messages a client's log function receives name kmod's functions: a failed load in a
/// probe is logged by kmod_module_insert_module, and kmod_module_get_holders of a module
/// that is not loaded says why it returns NULL (rkmod said nothing, and named
/// kmod_module_probe_insert_module). And a print_action asking for the path of a module
/// without a file gets NULL (rkmod panicked on the busy resolver, caught, with the panic's
/// message on standard error).
#[test]
fn kernel_calls_that_change_nothing_match_kmods_library() {
    let Some(tree) = tree_61() else { return };
    if !kmod_library_and_gcc() {
        return;
    }
    if std::path::Path::new("/sys/module/garp").exists() {
        skip("garp is loaded on this machine");
        return;
    }
    let (work, lib_dir) = work_with_library();
    let program = build_program("kernel_ops", &lib_dir, work.path());
    let moddir = tree.kmod30_moddir();
    let expected = run_kernel_ops(&program, Path::new(KMOD_LIBRARY_DIR), &moddir);
    let actual = run_kernel_ops(&program, &lib_dir, &moddir);
    assert!(
        expected.contains("initstate ipv6: 0 builtin\n"),
        "{expected}"
    );
    assert!(expected.contains(
        "  log 3 kmod_module_get_holders: could not open '/sys/module/garp/holders': No such file or directory\n"
    ));
    assert!(expected.contains(
        "  action insmod no_such_module path=(null) options=[]\n  log 3 kmod_module_insert_module: could not find module by name='no_such_module'\n  = -ENOENT\n"
    ));
    assert_same_output(&expected, &actual);
}

/// Runs `program` under valgrind's memcheck with rkmod's library; panics on any memory error
/// or leak (every object the program made is unref'd or freed before it exits).
fn assert_clean_under_valgrind(program: &Path, library_dir: &Path, args: &[&Path]) {
    let output = Command::new("valgrind")
        .args([
            "--quiet",
            "--leak-check=full",
            "--show-leak-kinds=definite,indirect,possible",
            "--errors-for-leak-kinds=definite,indirect,possible",
            "--error-exitcode=99",
        ])
        .arg(program)
        .args(args)
        .env("LD_LIBRARY_PATH", library_dir)
        .env_remove("KMOD_LOG")
        .output()
        .expect("run valgrind");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && !stderr.contains("=="),
        "valgrind on {} {args:?}: {}\n{stderr}",
        program.display(),
        output.status
    );
}

/// Item 5 of the library's checks: memcheck finds no invalid access, no use of uninitialised
/// memory and no leak in the C programs above, run on the real tree with rkmod's library:
/// lookups and dry-run probes, the module-file lists, index dumps, resource handling.
#[test]
fn the_c_programs_run_clean_under_valgrind() {
    let Some(tree) = tree_61() else { return };
    if Command::new("valgrind").arg("--version").output().is_err() {
        skip("valgrind (Debian package valgrind)");
        return;
    }
    if Command::new("gcc").arg("--version").output().is_err() {
        skip("gcc, to build the C test programs");
        return;
    }
    let (work, lib_dir) = work_with_library();
    let lookup = build_program("lookup", &lib_dir, work.path());
    let modfile = build_program("modfile", &lib_dir, work.path());
    let moddir = tree.kmod30_moddir();

    let config = work.path().join("modprobe.d");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("test.conf"), CONFIG).unwrap();
    let requests = work.path().join("lookups");
    std::fs::write(&requests, REQUESTS).unwrap();
    assert_clean_under_valgrind(&lookup, &lib_dir, &[&moddir, &config, &requests]);

    let mut files = String::new();
    for module in tree.modules().iter().step_by(400) {
        let relative = module.strip_prefix(&tree.moddir).unwrap();
        files += &format!("path {}\n", moddir.join(relative).display());
    }
    files += "name ext4\nname unix\nname no_such_module\npath /nonexistent/x.ko\n";
    let file_requests = work.path().join("files");
    std::fs::write(&file_requests, files).unwrap();
    assert_clean_under_valgrind(
        &modfile,
        &lib_dir,
        &[Path::new("files"), &moddir, &file_requests],
    );

    let scratch = scratch_moddir(&tree, &work.path().join("scratch"));
    let scratch_config = work.path().join("scratch.d");
    std::fs::create_dir(&scratch_config).unwrap();
    assert_clean_under_valgrind(
        &modfile,
        &lib_dir,
        &[Path::new("resources"), &scratch, &scratch_config],
    );
}
