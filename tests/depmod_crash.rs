//! depmod never leaves half-written indexes: killed at random points, on a full disk, and in
//! a read-only directory.
//!
//! These are properties of rkmod's publication (kmod itself fails them: it renames each file
//! as soon as it is written and can publish a truncated index on a full disk), so the reference
//! is rkmod's own uninterrupted run. The full-disk and read-only tests mount a small tmpfs,
//! which needs root: without it they are skipped loudly, and fail under CI=true.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::ModuleSpec;

use crate::util::*;

const KVER: &str = "6.1.0-crash";

/// How many runs [`killed_at_random_points_every_file_is_old_or_new`] kills (about 0.15 s a
/// round: the kill and the run that recovers).
const KILL_ROUNDS: u32 = 200;

const OUTPUTS: [&str; 11] = [
    "modules.dep",
    "modules.dep.bin",
    "modules.alias",
    "modules.alias.bin",
    "modules.softdep",
    "modules.weakdep",
    "modules.symbols",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
    "modules.devname",
];

/// A module tree of `count` modules chained by symbols, with aliases; `generation` changes
/// every output file (names, aliases, softdeps, weakdeps, devnames, builtin inputs).
fn build_tree(root: &Path, count: usize, generation: u32) -> PathBuf {
    let moddir = root.join("lib/modules").join(KVER);
    let _ = std::fs::remove_dir_all(moddir.join("kernel"));
    for i in 0..count {
        let name = format!("m{generation}_{i:04}");
        let mut spec = ModuleSpec::new(&name);
        spec.exports = vec![(format!("{name}_fn"), i as u32)];
        if i > 0 {
            spec.imports = vec![format!("m{generation}_{:04}_fn", i - 1)];
        }
        for a in 0..8 {
            spec = spec.info(
                "alias",
                &format!("pci:v{generation:04}d{i:04}{a:02}sv*sd*bc*sc*i*"),
            );
        }
        if i % 10 == 0 {
            spec = spec.info("softdep", &format!("pre: m{generation}_0000"));
            spec = spec.info("weakdep", &format!("m{generation}_0001"));
            spec = spec.info("alias", &format!("devname:dev{generation}_{i}"));
            spec = spec.info("alias", &format!("char-major-{generation}-{i}"));
        }
        let path = moddir.join(format!("kernel/d{}/{name}.ko", i % 7));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, spec.build()).unwrap();
    }
    std::fs::write(
        moddir.join("modules.builtin"),
        format!("kernel/fs/b{generation}.ko\n"),
    )
    .unwrap();
    std::fs::write(
        moddir.join("modules.builtin.modinfo"),
        format!("b{generation}.alias=fs-b{generation}\0"),
    )
    .unwrap();
    moddir
}

fn depmod_command(input_root: &Path, out_root: &Path) -> Command {
    let mut cmd = Command::new(rkmod_bin());
    cmd.arg("depmod")
        .arg("-b")
        .arg(input_root)
        .arg("-o")
        .arg(out_root)
        .arg("-C")
        .arg(input_root.join("no-config"))
        .arg(KVER)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn outputs(dir: &Path) -> BTreeMap<&'static str, Option<Vec<u8>>> {
    OUTPUTS
        .iter()
        .map(|n| (*n, std::fs::read(dir.join(n)).ok()))
        .collect()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn only_outputs(dir: &Path) -> bool {
    listing(dir).iter().all(|n| OUTPUTS.contains(&n.as_str()))
}

/// A small deterministic generator for the kill delays (the seed is printed on failure).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn killed_at_random_points_every_file_is_old_or_new() {
    let tmp = tempdir();
    let input = tmp.path().join("in");
    let out_root = tmp.path().join("out");
    let outdir = out_root.join("lib/modules").join(KVER);

    // The old generation.
    build_tree(&input, 150, 1);
    let status = depmod_command(&input, &out_root).status().unwrap();
    assert!(status.success());
    let old = outputs(&outdir);
    // The new generation: every file differs.
    build_tree(&input, 160, 2);
    let reference = tmp.path().join("reference");
    let started = Instant::now();
    let status = depmod_command(&input, &reference).status().unwrap();
    let duration = started.elapsed();
    assert!(status.success());
    let new = outputs(&reference.join("lib/modules").join(KVER));
    for name in OUTPUTS {
        assert_ne!(
            old[name], new[name],
            "{name} must differ between the generations"
        );
    }

    let seed = std::env::var("RKMOD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut rng = Rng(seed);
    let window = duration.as_micros() as u64 * 6 / 5 + 1;
    let (mut all_old, mut all_new, mut mixed, mut orphans) = (0, 0, 0, 0);
    let rounds_started = Instant::now();
    for round in 0..KILL_ROUNDS {
        // Back to the old generation, with no leftovers.
        for name in OUTPUTS {
            std::fs::write(outdir.join(name), old[name].as_ref().unwrap()).unwrap();
        }
        for name in listing(&outdir) {
            if !OUTPUTS.contains(&name.as_str()) {
                std::fs::remove_file(outdir.join(name)).unwrap();
            }
        }
        // Every other round kills in the second half of the run, where the files are
        // written and renamed, to catch more publications halfway.
        let delay = if round % 2 == 0 {
            Duration::from_micros(rng.next() % window)
        } else {
            Duration::from_micros(window / 2 + rng.next() % (window / 2 + 1))
        };
        let mut child = depmod_command(&input, &out_root).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        let now = outputs(&outdir);
        let mut olds = 0;
        for name in OUTPUTS {
            let state = &now[name];
            assert!(
                state == &old[name] || state == &new[name],
                "round {round} (seed {seed}, killed after {delay:?}): {name} is neither the old nor the new file"
            );
            if state == &old[name] {
                olds += 1;
            }
        }
        match olds {
            11 => all_old += 1,
            0 => all_new += 1,
            _ => mixed += 1,
        }
        if !only_outputs(&outdir) {
            orphans += 1;
        }
        // The next run completes or cleans up, and leaves only the outputs.
        let status = depmod_command(&input, &out_root).status().unwrap();
        assert!(
            status.success(),
            "round {round}: the run after the kill failed"
        );
        assert_eq!(
            outputs(&outdir),
            new,
            "round {round} (seed {seed}): the next run did not write the new generation"
        );
        assert!(
            only_outputs(&outdir),
            "round {round} (seed {seed}): leftovers after the next run: {:?}",
            listing(&outdir)
        );
    }
    eprintln!(
        "killed {KILL_ROUNDS} runs within {window} us (seed {seed}) in {:?}: {all_old} left the old set, {all_new} the new one, \
         {mixed} a mix (killed while renaming, completed by the next run), {orphans} left temporaries",
        rounds_started.elapsed()
    );
}

/// Once the journal is written, a killed publication is completed by the next run, even when
/// that run fails (here, on a dependency cycle) before writing anything itself.
#[test]
fn a_journalled_publication_survives_a_failing_next_run() {
    let tmp = tempdir();
    let input = tmp.path().join("in");
    let moddir = build_tree(&input, 3, 1);
    let outdir = moddir.clone();
    // A killed run's state: new temporaries complete, the journal written, one file renamed.
    std::fs::write(outdir.join("modules.dep"), b"old dep\n").unwrap();
    std::fs::write(outdir.join("modules.alias"), b"new alias\n").unwrap();
    std::fs::write(outdir.join(".rkmod-depmod.99.modules.dep"), b"new dep\n").unwrap();
    std::fs::write(
        outdir.join(".rkmod-depmod.journal"),
        "rkmod-depmod-journal 1\n.rkmod-depmod.99.modules.dep\tmodules.dep\n.rkmod-depmod.99.modules.alias\tmodules.alias\nend\n",
    )
    .unwrap();
    // Now make the tree cyclic, so that the next run fails.
    let mut a = ModuleSpec::new("cyc_a");
    a.exports = vec![("cyc_a_fn".into(), 1)];
    a.imports = vec!["cyc_b_fn".into()];
    let mut b = ModuleSpec::new("cyc_b");
    b.exports = vec![("cyc_b_fn".into(), 2)];
    b.imports = vec!["cyc_a_fn".into()];
    std::fs::write(moddir.join("kernel/cyc_a.ko"), a.build()).unwrap();
    std::fs::write(moddir.join("kernel/cyc_b.ko"), b.build()).unwrap();
    let run = rkmod(
        "depmod",
        [
            "-b".as_ref(),
            input.as_os_str(),
            "-C".as_ref(),
            input.join("no-config").as_os_str(),
            KVER.as_ref(),
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr_str().contains("Cycle detected"),
        "{}",
        run.stderr_str()
    );
    assert_eq!(
        std::fs::read(outdir.join("modules.dep")).unwrap(),
        b"new dep\n"
    );
    assert_eq!(
        std::fs::read(outdir.join("modules.alias")).unwrap(),
        b"new alias\n"
    );
    assert!(
        !listing(&outdir).iter().any(|n| n.starts_with(".rkmod")),
        "{:?}",
        listing(&outdir)
    );
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (mount's syntax, `1m`) at `dir`, or reports a skip.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "rkmod-test",
            ])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir: dir.to_path_buf(),
            }),
            Ok(o) => {
                skip(&format!(
                    "mounting a tmpfs (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                None
            }
            Err(e) => {
                skip(&format!("mounting a tmpfs (needs mount(8) and root): {e}"));
                None
            }
        }
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success(), "remount read-only failed");
    }

    fn free_bytes(&self) -> u64 {
        let stat = nix::sys::statvfs::statvfs(&self.dir).unwrap();
        stat.blocks_available() as u64 * stat.fragment_size() as u64
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    listing(dir)
        .into_iter()
        .map(|n| {
            let p = dir.join(&n);
            (
                n,
                (
                    std::fs::read(&p).unwrap(),
                    std::fs::metadata(&p).unwrap().modified().unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn full_disk_keeps_the_old_indexes() {
    let tmp = tempdir();
    let input = tmp.path().join("in");
    let Some(fs) = Tmpfs::mount(&tmp.path().join("out"), "2m") else {
        return;
    };
    let outdir = fs.dir.join("lib/modules").join(KVER);
    build_tree(&input, 40, 1);
    let status = depmod_command(&input, &fs.dir).status().unwrap();
    assert!(status.success());
    // The new generation needs far more room than is left.
    build_tree(&input, 400, 2);
    let free = fs.free_bytes();
    let filler = free.saturating_sub(64 * 1024);
    std::fs::write(fs.dir.join("filler"), vec![0u8; filler as usize]).unwrap();
    let before = snapshot(&outdir);

    let output = depmod_command(&input, &fs.dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert_eq!(snapshot(&outdir), before, "the old indexes changed");
    assert!(
        only_outputs(&outdir),
        "temporaries left: {:?}",
        listing(&outdir)
    );
}

#[test]
fn read_only_directory_changes_nothing() {
    let tmp = tempdir();
    let input = tmp.path().join("in");
    let Some(fs) = Tmpfs::mount(&tmp.path().join("out"), "8m") else {
        return;
    };
    let outdir = fs.dir.join("lib/modules").join(KVER);
    build_tree(&input, 20, 1);
    assert!(depmod_command(&input, &fs.dir).status().unwrap().success());
    build_tree(&input, 30, 2);
    fs.remount_read_only();
    let before = snapshot(&outdir);

    let output = depmod_command(&input, &fs.dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("depmod: ERROR: Could not create temporary file at '")
            && stderr.contains("Read-only file system"),
        "{stderr}"
    );
    assert_eq!(snapshot(&outdir), before);
}

/// Two generations of one module tree: the same 30 names, `m00`..`m29`, with different
/// dependency chains (generation 1: each module needs the one before it; generation 2: the
/// one two before it) and aliases that map `pci:v00000001d000000NN` to different modules.
fn build_generation(root: &Path, generation: u32) {
    let moddir = root.join("lib/modules").join(KVER);
    std::fs::create_dir_all(moddir.join("kernel")).unwrap();
    let step = generation as usize;
    for i in 0..30usize {
        let name = format!("m{i:02}");
        let mut spec = ModuleSpec::new(&name);
        spec.exports = vec![(format!("{name}_fn"), i as u32)];
        if i >= step {
            spec.imports = vec![format!("m{:02}_fn", i - step)];
        }
        let target = if generation == 1 { i } else { 29 - i };
        spec = spec.info(
            "alias",
            &format!("pci:v00000001d000000{target:02}sv*sd*bc*sc*i*"),
        );
        std::fs::write(moddir.join(format!("kernel/{name}.ko")), spec.build()).unwrap();
    }
    std::fs::write(moddir.join("modules.builtin"), "kernel/fs/builtin_fs.ko\n").unwrap();
    std::fs::write(moddir.join("modules.builtin.modinfo"), "").unwrap();
    std::fs::write(moddir.join("modules.order"), "").unwrap();
}

/// The look-ups the readers make through the binary (modprobe's arguments). Each reads one
/// index file.
const LOOKUPS: [&[&str]; 3] = [
    &["--show-depends", "m29"],
    &[
        "-R",
        "pci:v00000001d00000007sv00000000sd00000000bc00sc00i00",
    ],
    &["--show-depends", "m04"],
];

/// A look-up that reads two index files: the alias in modules.alias.bin, then its module's
/// line in modules.dep.bin. Both must come from one generation: modprobe opens every index at
/// the start (`ModuleDir::open_all`), and opens them again while a depmod is replacing them.
const MIXED: &[&str] = &[
    "--show-depends",
    "pci:v00000001d00000007sv00000000sd00000000bc00sc00i00",
];

/// Thousands of look-ups while depmod rewrites the indexes in the same directory, again and
/// again, alternating between two generations: every look-up gets a complete answer from one
/// generation or the other, never a failure or a mix. Through the binary (`modprobe -R` and
/// `--show-depends`), and many more in-process through kmodcore's ModuleDir, each opening the
/// indexes anew; among them, look-ups that read two indexes (see [`MIXED`]).
#[test]
fn lookups_during_rewrites_see_one_generation() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    const BINARY_LOOKUPS: usize = 3_000;
    const LIBRARY_LOOKUPS: usize = 10_000;

    let tmp = tempdir();
    let out = tmp.path().join("out");
    let inputs = [tmp.path().join("gen1"), tmp.path().join("gen2")];
    build_generation(&inputs[0], 1);
    build_generation(&inputs[1], 2);
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let moddir = out.join("lib/modules").join(KVER);
    let modprobe = |args: &[&str]| -> (i32, String, String) {
        let o = Command::new(rkmod_bin())
            .arg("modprobe")
            .arg("-d")
            .arg(&out)
            .arg("-S")
            .arg(KVER)
            .arg("-C")
            .arg(&conf)
            .args(args)
            .env_remove("MODPROBE_OPTIONS")
            .env("RKMOD_SYSROOT", tmp.path().join("no-sys"))
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // Look-ups in-process: one index each (0, 1), or an alias and then its module's
    // dependencies (2), after ModuleDir::open_all as modprobe does.
    let library = |dir: &Path, which: usize| -> Vec<Vec<u8>> {
        let dir = kmodcore::moddir::ModuleDir::new(dir);
        let alias = |dir: &kmodcore::moddir::ModuleDir| {
            dir.wildcard_lookup(
                kmodcore::moddir::IndexKind::Alias,
                b"pci:v00000001d00000007sv00000000sd00000000bc00sc00i00",
            )
            .unwrap()
            .unwrap()
        };
        let deps = |dir: &kmodcore::moddir::ModuleDir, name: &[u8]| -> Vec<Vec<u8>> {
            let dep = dir.dep_entry(name).unwrap().unwrap();
            std::iter::once(dep.path).chain(dep.deps).collect()
        };
        match which % 3 {
            0 => deps(&dir, b"m29"),
            1 => alias(&dir),
            _ => {
                dir.open_all();
                let names = alias(&dir);
                let mut out = names.clone();
                out.extend(deps(&dir, &names[0]));
                out
            }
        }
    };

    // The answers of each generation, from quiet runs.
    let mut answers = Vec::new();
    let mut library_answers = Vec::new();
    for input in &inputs {
        let status = depmod_command(input, &out).status().unwrap();
        assert!(status.success());
        let per_lookup: Vec<String> = LOOKUPS
            .iter()
            .chain([&MIXED])
            .map(|args| {
                let (code, stdout, stderr) = modprobe(args);
                assert_eq!(code, 0, "{args:?}: {stderr}");
                stdout
            })
            .collect();
        answers.push(per_lookup);
        library_answers.push([
            library(&moddir, 0),
            library(&moddir, 1),
            library(&moddir, 2),
        ]);
    }
    for (i, (one, two)) in answers[0].iter().zip(&answers[1]).enumerate() {
        assert_ne!(one, two, "look-up {i} must differ");
    }
    assert_ne!(library_answers[0], library_answers[1]);

    let stop = Arc::new(AtomicBool::new(false));
    let rewrites = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, rewrites, inputs, out) =
            (stop.clone(), rewrites.clone(), inputs.clone(), out.clone());
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let output = depmod_command(&inputs[n % 2], &out).output().unwrap();
                if !output.status.success() {
                    failures.push(String::from_utf8_lossy(&output.stderr).into_owned());
                }
                n += 1;
                rewrites.store(n, Ordering::Relaxed);
            }
            failures
        })
    };
    let started = Instant::now();
    // Binary look-ups on two threads, in-process ones on a third.
    let binary: Vec<_> = (0..2)
        .map(|t| {
            let answers = answers.clone();
            let out = out.clone();
            let conf = conf.clone();
            let sys = tmp.path().join("no-sys");
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                let mut seen = [0usize; 2];
                for i in 0..BINARY_LOOKUPS / 2 {
                    // Every fourth look-up is the two-index one.
                    let which = if i % 4 == 3 {
                        LOOKUPS.len()
                    } else {
                        (i + t) % LOOKUPS.len()
                    };
                    let args = LOOKUPS.get(which).copied().unwrap_or(MIXED);
                    let o = Command::new(rkmod_bin())
                        .arg("modprobe")
                        .arg("-d")
                        .arg(&out)
                        .arg("-S")
                        .arg(KVER)
                        .arg("-C")
                        .arg(&conf)
                        .args(args)
                        .env_remove("MODPROBE_OPTIONS")
                        .env("RKMOD_SYSROOT", &sys)
                        .output()
                        .unwrap();
                    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
                    match answers.iter().position(|a| a[which] == stdout) {
                        Some(g) if o.status.success() => seen[g] += 1,
                        _ => failures.push(format!(
                            "{args:?}: exit {:?}, stdout {stdout:?}, stderr {:?}",
                            o.status.code(),
                            String::from_utf8_lossy(&o.stderr)
                        )),
                    }
                }
                (failures, seen)
            })
        })
        .collect();
    let in_process = {
        let (library_answers, moddir) = (library_answers.clone(), moddir.clone());
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut seen = [0usize; 2];
            for i in 0..LIBRARY_LOOKUPS {
                let got = library(&moddir, i);
                match library_answers.iter().position(|a| a[i % 3] == got) {
                    Some(g) => seen[g] += 1,
                    None => failures.push(format!("{got:?}")),
                }
            }
            (failures, seen)
        })
    };
    let mut failures = Vec::new();
    let mut seen_binary = [0usize; 2];
    for handle in binary {
        let (f, seen) = handle.join().unwrap();
        failures.extend(f);
        seen_binary[0] += seen[0];
        seen_binary[1] += seen[1];
    }
    let (f, seen_library) = in_process.join().unwrap();
    failures.extend(f);
    stop.store(true, Ordering::Relaxed);
    let writer_failures = writer.join().unwrap();
    let rewrites = rewrites.load(Ordering::Relaxed);
    eprintln!(
        "{BINARY_LOOKUPS} modprobe and {LIBRARY_LOOKUPS} in-process look-ups during {rewrites} \
         depmod rewrites in {:?}: binary saw generation 1/2 {seen_binary:?} times, the library \
         {seen_library:?}",
        started.elapsed()
    );
    assert!(
        writer_failures.is_empty(),
        "depmod failed: {writer_failures:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of the look-ups failed or mixed generations; first: {}",
        failures.len(),
        failures.first().unwrap()
    );
    assert!(
        rewrites >= 10,
        "only {rewrites} rewrites happened during the look-ups"
    );
}
