//! Loading and unloading through the fake kernel: which call kmod's rules choose, with which
//! flags and image.

use super::*;
use crate::module::elf::ElfModule;

const VERMAGIC: &str = "6.1.0-47-amd64 SMP preempt mod_unload modversions ";

fn module(name: &str) -> Vec<u8> {
    let mut spec = testkit::ModuleSpec::new(name)
        .info("vermagic", VERMAGIC)
        .info("name", name);
    spec.versions = vec![(0x1234, "module_layout".into())];
    spec.build()
}

fn write(dir: &Path, file: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn force(modversion: bool, vermagic: bool) -> InsertFlags {
    InsertFlags {
        force_modversion: modversion,
        force_vermagic: vermagic,
    }
}

#[test]
fn plain_module_goes_through_finit() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.ko", &module("a"));
    let kernel = FakeKernel::new();
    let how = insert_module(&kernel, &path, b"x=1", InsertFlags::default()).unwrap();
    assert_eq!(how, LoadPath::Finit);
    assert_eq!(
        kernel.calls(),
        [Call::Finit {
            name: b"a".to_vec(),
            params: b"x=1".to_vec(),
            flags: InitFlags(0)
        }]
    );
    assert!(kernel.is_loaded("a"));
    assert_eq!(kernel.modules()[0].params, b"x=1");
}

#[test]
fn force_flags_are_passed_to_finit() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.ko", &module("a"));
    let kernel = FakeKernel::new();
    insert_module(&kernel, &path, b"", force(true, true)).unwrap();
    let Call::Finit { flags, .. } = &kernel.calls()[0] else {
        panic!("finit expected")
    };
    assert_eq!(
        *flags,
        InitFlags(MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC)
    );
}

#[test]
fn compressed_module_matching_the_kernel_goes_through_finit_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let xz = testkit::compress(&module("z"), testkit::Format::Xz);
    let path = write(dir.path(), "z.ko.xz", &xz);
    let kernel = FakeKernel::new().with_compression(Compression::Xz);
    let how = insert_module(&kernel, &path, b"", force(false, true)).unwrap();
    assert_eq!(how, LoadPath::FinitCompressed);
    assert_eq!(
        kernel.calls(),
        [Call::Finit {
            name: b"z".to_vec(),
            params: Vec::new(),
            flags: InitFlags(MODULE_INIT_COMPRESSED_FILE | MODULE_INIT_IGNORE_VERMAGIC)
        }]
    );
}

#[test]
fn compressed_module_the_kernel_cannot_decompress_is_decompressed_here() {
    for (kernel_format, format) in [
        (None, testkit::Format::Xz),
        (Some(Compression::Zstd), testkit::Format::Xz),
        (Some(Compression::Xz), testkit::Format::Gzip),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let image = module("z");
        let path = write(dir.path(), "z.ko", &testkit::compress(&image, format));
        let mut kernel = FakeKernel::new();
        if let Some(f) = kernel_format {
            kernel = kernel.with_compression(f);
        }
        let how = insert_module(&kernel, &path, b"p=1", InsertFlags::default()).unwrap();
        assert_eq!(how, LoadPath::Init);
        assert_eq!(
            kernel.calls(),
            [Call::Init {
                name: b"z".to_vec(),
                params: b"p=1".to_vec(),
                image: image.clone()
            }]
        );
    }
}

#[test]
fn missing_finit_falls_back_to_init_module() {
    let dir = tempfile::tempdir().unwrap();
    let image = module("a");
    let path = write(dir.path(), "a.ko", &image);
    let kernel = FakeKernel::new().without_finit();
    assert_eq!(
        insert_module(&kernel, &path, b"", InsertFlags::default()).unwrap(),
        LoadPath::Init
    );
    let calls = kernel.calls();
    assert_eq!(calls.len(), 2);
    assert!(matches!(calls[0], Call::Finit { .. }));
    assert!(matches!(&calls[1], Call::Init { image: i, .. } if *i == image));
}

#[test]
fn forced_userspace_load_strips_versions_and_vermagic() {
    let dir = tempfile::tempdir().unwrap();
    let image = module("f");
    let path = write(
        dir.path(),
        "f.ko.zst",
        &testkit::compress(&image, testkit::Format::Zstd),
    );
    let kernel = FakeKernel::new();
    insert_module(&kernel, &path, b"", force(true, true)).unwrap();
    let Call::Init { image: sent, .. } = &kernel.calls()[0] else {
        panic!("init expected")
    };
    assert_eq!(sent.len(), image.len());
    let elf = ElfModule::parse(sent).unwrap();
    assert!(elf.modinfo().iter().all(|e| e.key != b"vermagic"));
    // Only forcing vermagic leaves __versions alone.
    let kernel = FakeKernel::new();
    insert_module(&kernel, &path, b"", force(false, true)).unwrap();
    let Call::Init { image: sent2, .. } = &kernel.calls()[0] else {
        panic!("init expected")
    };
    assert_ne!(sent, sent2);
    assert_eq!(*sent2, strip::strip(&image, force(false, true)).unwrap());
}

#[test]
fn forcing_vermagic_without_one_fails_like_kmod() {
    let dir = tempfile::tempdir().unwrap();
    let image = testkit::ModuleSpec::new("n").build();
    let path = write(
        dir.path(),
        "n.ko.gz",
        &testkit::compress(&image, testkit::Format::Gzip),
    );
    let kernel = FakeKernel::new();
    let err = insert_module(&kernel, &path, b"", force(false, true)).unwrap_err();
    assert!(matches!(err, KernelError::Strip { .. }), "{err:?}");
    assert_eq!(err.errno(), Errno::ENODATA as i32);
    assert!(kernel.calls().is_empty());
}

#[test]
fn kernel_errors_are_reported_with_their_call() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.ko", &module("a"));
    let kernel = FakeKernel::new();
    kernel.fail(Syscall::FinitModule, Some("a"), Errno::EKEYREJECTED);
    let err = insert_module(&kernel, &path, b"", InsertFlags::default()).unwrap_err();
    assert_eq!(err.kernel_errno(), Some(Errno::EKEYREJECTED));
    assert!(matches!(
        err,
        KernelError::Syscall {
            syscall: Syscall::FinitModule,
            ..
        }
    ));
    // The scripted failure is used up: the next load works, the one after finds it loaded.
    insert_module(&kernel, &path, b"", InsertFlags::default()).unwrap();
    let err = insert_module(&kernel, &path, b"", InsertFlags::default()).unwrap_err();
    assert_eq!(err.kernel_errno(), Some(Errno::EEXIST));
}

#[test]
fn files_that_are_not_modules() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = FakeKernel::new();
    let err = insert_module(
        &kernel,
        &dir.path().join("missing.ko"),
        b"",
        InsertFlags::default(),
    )
    .unwrap_err();
    assert_eq!(err.errno(), Errno::ENOENT as i32);
    let err = insert_module(&kernel, dir.path(), b"", InsertFlags::default()).unwrap_err();
    assert!(
        matches!(err, KernelError::File(crate::Error::NotRegularFile { .. })),
        "{err:?}"
    );
    // A truncated xz file fails in decompression, before any syscall.
    let mut xz = testkit::compress(&module("t"), testkit::Format::Xz);
    xz.truncate(xz.len() / 2);
    let path = write(dir.path(), "t.ko.xz", &xz);
    let err = insert_module(&kernel, &path, b"", InsertFlags::default()).unwrap_err();
    assert!(
        matches!(err, KernelError::File(crate::Error::Decompress { .. })),
        "{err:?}"
    );
    // Garbage goes to the kernel, which says ENOEXEC.
    let path = write(dir.path(), "g.ko", b"garbage");
    let err = insert_module(&kernel, &path, b"", InsertFlags::default()).unwrap_err();
    assert_eq!(err.kernel_errno(), Some(Errno::ENOEXEC));
    // A NUL in the parameters never reaches the kernel.
    let err = insert_module(&kernel, &path, b"a\0b", InsertFlags::default()).unwrap_err();
    assert!(matches!(err, KernelError::Nul { .. }));
    assert_eq!(kernel.calls().len(), 1);
}

#[test]
fn removal_follows_the_kernel_rules() {
    let kernel = FakeKernel::new()
        .with_module(FakeModule::live("used").held_by(&["user"]))
        .with_module(FakeModule::live("user"))
        .with_module(FakeModule::live("coming").in_state(InitState::Coming));
    let none = DeleteFlags::default();
    let err = remove_module(&kernel, b"used", none).unwrap_err();
    assert_eq!(err.kernel_errno(), Some(Errno::EWOULDBLOCK));
    let err = remove_module(&kernel, b"coming", none).unwrap_err();
    assert_eq!(err.kernel_errno(), Some(Errno::EBUSY));
    let err = remove_module(&kernel, b"absent", none).unwrap_err();
    assert_eq!(err.kernel_errno(), Some(Errno::ENOENT));
    remove_module(&kernel, b"user", none).unwrap();
    remove_module(&kernel, b"used", DeleteFlags { force: true }).unwrap();
    assert!(!kernel.is_loaded("used"));
    assert!(kernel.is_loaded("coming"));
    assert_eq!(
        kernel.calls().last(),
        Some(&Call::Delete {
            name: b"used".to_vec(),
            flags: DeleteFlags { force: true }
        })
    );
    let kernel = FakeKernel::new()
        .with_modules_disabled()
        .with_module(FakeModule::live("a"));
    let err = remove_module(&kernel, b"a", none).unwrap_err();
    assert_eq!(err.kernel_errno(), Some(Errno::EPERM));
}

#[test]
fn params_are_joined_like_kmod() {
    assert_eq!(
        join_params(["a=1", "b=x y", "c", "d='p q'", "e=\"r s\""]),
        b"a=1 b=\"x y\" c d='p q' e=\"r s\""
    );
    assert_eq!(join_params(Vec::<&str>::new()), b"");
    assert_eq!(join_params(["k=", "only key"]), b"k= only key");
}

#[test]
fn names() {
    assert_eq!(normalize_module_name(b"snd-hda-intel.ko"), b"snd_hda_intel");
    assert_eq!(normalize_module_name(b"a-b"), b"a_b");
    assert!(valid_module_name(b"e1000"));
    for bad in [&b""[..], b".", b"..", b"a/b", b"a\0"] {
        assert!(!valid_module_name(bad));
    }
    assert!(!valid_module_name(&[b'a'; 256]));
}

#[test]
fn nix_kernel_reads_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
    std::fs::create_dir_all(root.join("sys/module/a/holders/b")).unwrap();
    std::fs::write(
        root.join("proc/modules"),
        "b 4096 0 - Live 0x0\na 8192 1 b, Live 0x0\n",
    )
    .unwrap();
    std::fs::write(root.join("proc/sys/kernel/osrelease"), "6.1.0-47-amd64\n").unwrap();
    std::fs::write(root.join("sys/module/a/initstate"), "live\n").unwrap();
    std::fs::write(root.join("sys/module/a/refcnt"), "1\n").unwrap();
    std::fs::write(root.join("sys/module/compression"), "zstd\n").unwrap();
    let kernel = NixKernel::with_root(root);
    assert_eq!(kernel.root(), root);
    let names: Vec<Vec<u8>> = kernel
        .loaded_modules()
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, [b"b".to_vec(), b"a".to_vec()]);
    assert_eq!(kernel.initstate(b"a"), Ok(Some(InitState::Live)));
    assert_eq!(kernel.refcnt(b"a"), Ok(1));
    assert_eq!(kernel.holders(b"a"), Ok(vec![b"b".to_vec()]));
    assert_eq!(kernel.coresize(b"a"), Ok(8192));
    assert_eq!(kernel.compression(), Some(Compression::Zstd));
    assert_eq!(kernel.modules_disabled(), None);
    assert_eq!(kernel.release(), Some(b"6.1.0-47-amd64".to_vec()));
}
