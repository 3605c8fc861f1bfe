//! depmod's messages in kmod's words: the text of each [`Diagnostic`] and [`Fatal`], as bytes
//! (paths and names are bytes). The tool adds kmod's `depmod: LEVEL: ` prefix and decides,
//! from the level and `-v`, whether a message is shown.

use std::os::unix::ffi::OsStrExt;

use super::{Diagnostic, Fatal};

/// Concatenates byte pieces.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The C library's text for an errno value, as bytes.
fn strerror(errno: i32) -> Vec<u8> {
    crate::fs::strerror(errno).into_bytes()
}

/// A path's bytes.
fn path_bytes(path: &std::path::Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// A diagnostic in kmod's words, without the `depmod: LEVEL: ` prefix (the tool adds it
/// for the diagnostic's [`Diagnostic::level`]).
///
/// One arm per variant, with no catch-all, so that a new diagnostic must get its wording: the
/// function is a table of kmod's wordings, and reads best whole.
pub fn describe(d: &Diagnostic) -> Vec<u8> {
    use Diagnostic::*;
    match d {
        ConfigUnreadable { path, error } => {
            cat(&[b"file parse ", path_bytes(path), b": ", &strerror(*error)])
        }
        ConfigDirUnreadable { path, error } => {
            cat(&[b"files list ", path_bytes(path), b": ", &strerror(*error)])
        }
        ConfigBadLine {
            path,
            line,
            command,
        } => cat(&[
            path_bytes(path),
            format!(":{line}: ignoring bad line starting with '").as_bytes(),
            command,
            b"'",
        ]),
        ConfigKernelMismatch {
            path,
            line,
            what,
            pattern,
        } => cat(&[
            path_bytes(path),
            format!(":{line}: {what} did not match ").as_bytes(),
            pattern,
        ]),
        ConfigNotImplemented {
            path,
            line,
            command,
        } => cat(&[
            path_bytes(path),
            format!(":{line}: command ").as_bytes(),
            command,
            b" not implemented yet",
        ]),
        ConfigNotConf { dir, name } => {
            cat(&[b"All cfg files need .conf: ", path_bytes(dir), b"/", name])
        }
        ConfigCannotStat { dir, name } => {
            cat(&[b"Cannot stat directory entry: ", path_bytes(dir), name])
        }
        ConfigSubdirectory { dir, name } => cat(&[
            b"Directories inside directories are not supported: ",
            path_bytes(dir),
            b"/",
            name,
        ]),
        ScanDirUnreadable { path, error } => {
            cat(&[b"could not open directory ", path, b": ", &strerror(*error)])
        }
        ScanUnsupportedType { path, mode } => cat(&[
            b"unsupported file type ",
            path,
            format!(": {mode:o}").as_bytes(),
        ]),
        ScanStatFailed { dir, name, error } => {
            cat(&[b"fstatat(", dir, b", ", name, b"): ", &strerror(*error)])
        }
        ScanOpenFailed { dir, name, error } => cat(&[
            b"openat(",
            dir,
            b", ",
            name,
            b", O_RDONLY): ",
            &strerror(*error),
        ]),
        ScanLoop { path } => cat(&[
            path,
            b": directory loop through symbolic links, not entered again",
        ]),
        ScanTooDeep { path } => cat(&[path, b": directories nested too deeply, not entered"]),
        HashAddUnique { key, error } => cat(&[b"hash_add_unique ", key, b": ", &strerror(*error)]),
        ModuleExistsWithOtherPath {
            name,
            new_path,
            old_path,
        } => cat(&[
            b"kmod_module '",
            name,
            b"' already exists with different path: new-path='",
            new_path,
            b"' old-path='",
            old_path,
            b"'",
        ]),
        InputDirUnreadable { dir, error } => {
            cat(&[b"could not open directory ", dir, b": ", &strerror(*error)])
        }
        InputUnreadable { name, dir, error } => cat(&[
            b"could not open ",
            name.as_bytes(),
            b" at ",
            dir,
            b": ",
            &strerror(*error),
        ]),
        OrderCorrupted { dir, line } => cat(&[
            dir,
            format!("/modules.order:{line} corrupted line misses '\\n'").as_bytes(),
        ]),
        DepfileStatFailed { dir, error } => cat(&[
            b"could not fstatat(",
            dir,
            b", modules.dep): ",
            &strerror(*error),
        ]),
        LoadSymbolsFailed { path, error } => {
            let mut m = cat(&[
                b"failed to load symbols from ",
                path,
                b": ",
                &strerror(error.errno),
            ]);
            if let Some(detail) = &error.detail {
                m.extend_from_slice(format!(" ({detail})").as_bytes());
            }
            m
        }
        UnknownSymbol { path, symbol } => cat(&[path, b" needs unknown symbol ", symbol]),
        VersionMismatch { path, symbol } => {
            cat(&[path, b" disagrees about version of symbol ", symbol])
        }
        Needs {
            path,
            symbol,
            owner,
        } => cat(&[path, b" needs \"", symbol, b"\": ", owner]),
        SymbolFileBadLine { path, line, text } => cat(&[
            path_bytes(path),
            format!(":{line}: invalid line: ").as_bytes(),
            text,
        ]),
        SymversBadVersion {
            path,
            line,
            version,
            overflow,
        } => cat(&[
            path_bytes(path),
            format!(":{line} Invalid symbol version ").as_bytes(),
            version,
            b": ",
            &strerror(if *overflow { 34 } else { 0 }),
        ]),
        Cycle { modules } => {
            let mut m = b"Cycle detected: ".to_vec();
            m.extend_from_slice(&modules.join(&b" -> "[..]));
            m
        }
        CycleSearchStopped { start } => cat(&[
            b"stopped looking for cycles from ",
            start,
            b": the search does not end (kmod would not finish)",
        ]),
        CycleCount { modules } => {
            format!("Found {modules} modules in dependency cycles!").into_bytes()
        }
        DuplicateDeps { line } => cat(&[b"duplicate module deps:\n", line]),
        UnmatchedBracket { alias } => cat(&[b"Unmatched bracket in ", alias]),
        DuplicateAlias { alias, module } => {
            cat(&[b"duplicate module alias:\n", alias, b" ", module])
        }
        DuplicateSymbol { key, module } => cat(&[b"duplicate module syms:\n", key, b" ", module]),
        BuiltinBadLine { line } => cat(&[b"Invalid modules.builtin line: ", line]),
        BuiltinFieldTooLong { partial } => {
            cat(&[b"Could not flush stream: 28. Partial content: ", partial])
        }
        DevnameWithoutNumbers { module, devname } => cat(&[
            b"Module '",
            module,
            b"' has devname (",
            devname,
            b") but lacks major and minor information. Ignoring.",
        ]),
    }
}

/// How the tool shows a [`Fatal`]: kmod stops with `depmod: FATAL: ...` for most, with
/// `depmod: ERROR: ...` for a failure to write the indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatalLevel {
    /// `depmod: FATAL: ...`
    Fatal,
    /// `depmod: ERROR: ...`
    Error,
}

/// What stopped depmod, in kmod's words, or `None` when it was reported already (the cycles
/// and their count come as diagnostics first).
pub fn fatal_message(fatal: &Fatal) -> Option<(FatalLevel, Vec<u8>)> {
    let fatal_text = |message: Vec<u8>| Some((FatalLevel::Fatal, message));
    match fatal {
        Fatal::SearchFailed { error } => {
            fatal_text(cat(&[b"could not search modules: ", &strerror(*error)]))
        }
        Fatal::NotAbsolute { path } => fatal_text(cat(&[path, b": not absolute path."])),
        Fatal::CreateFailed { path, error } => fatal_text(cat(&[
            b"could not create module ",
            path,
            b": ",
            &strerror(*error),
        ])),
        Fatal::AddFailed { path, error } => fatal_text(cat(&[
            b"could not add module ",
            path,
            b": ",
            &strerror(*error),
        ])),
        Fatal::KernelSymbols { path, error } => fatal_text(cat(&[
            b"could not load ",
            path_bytes(path),
            b": ",
            &strerror(*error),
        ])),
        // The cycles and their count are already reported.
        Fatal::Cycles { .. } => None,
        Fatal::IndexCharacter { byte, string } => {
            let mut m = b"Module index: bad character '".to_vec();
            m.push(*byte);
            m.extend_from_slice(
                format!("'=0x{byte:x} - only 7-bit ASCII is supported:\n").as_bytes(),
            );
            m.extend_from_slice(string);
            m.push(b'\n');
            fatal_text(m)
        }
        other => Some((
            FatalLevel::Error,
            format!("could not write the indexes: {other}").into_bytes(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depmod::symbols::LoadError;

    fn text(d: Diagnostic) -> String {
        String::from_utf8(describe(&d)).unwrap()
    }

    #[test]
    fn diagnostics_in_kmods_words() {
        assert_eq!(
            text(Diagnostic::ConfigUnreadable {
                path: "/etc/depmod.d/x.conf".into(),
                error: 13
            }),
            "file parse /etc/depmod.d/x.conf: Permission denied"
        );
        assert_eq!(
            text(Diagnostic::OrderCorrupted {
                dir: b"/lib/modules/6.1".to_vec(),
                line: 3
            }),
            "/lib/modules/6.1/modules.order:3 corrupted line misses '\\n'"
        );
        assert_eq!(
            text(Diagnostic::Cycle {
                modules: vec![b"a".to_vec(), b"b".to_vec(), b"a".to_vec()]
            }),
            "Cycle detected: a -> b -> a"
        );
        assert_eq!(
            text(Diagnostic::LoadSymbolsFailed {
                path: b"/m/x.ko.xz".to_vec(),
                error: LoadError {
                    errno: 22,
                    detail: Some("xz: corrupt".into())
                }
            }),
            "failed to load symbols from /m/x.ko.xz: Invalid argument (xz: corrupt)"
        );
    }

    /// A symbol version that is not a number reads as kmod's `strtoull` left errno: 0, glibc's
    /// "Success"; one out of range is ERANGE.
    #[test]
    fn symvers_bad_version_errno_text() {
        let bad = |overflow| {
            text(Diagnostic::SymversBadVersion {
                path: "Module.symvers".into(),
                line: 7,
                version: b"0xzz".to_vec(),
                overflow,
            })
        };
        assert_eq!(
            bad(false),
            "Module.symvers:7 Invalid symbol version 0xzz: Success"
        );
        assert_eq!(
            bad(true),
            "Module.symvers:7 Invalid symbol version 0xzz: Numerical result out of range"
        );
    }

    #[test]
    fn fatal_messages_and_their_level() {
        assert_eq!(
            fatal_message(&Fatal::SearchFailed { error: 2 }),
            Some((
                FatalLevel::Fatal,
                b"could not search modules: No such file or directory".to_vec()
            ))
        );
        assert_eq!(
            fatal_message(&Fatal::IndexCharacter {
                byte: 0xe9,
                string: b"caf\xe9".to_vec()
            })
            .map(|(level, m)| (level, m.starts_with(b"Module index: bad character '"))),
            Some((FatalLevel::Fatal, true))
        );
    }
}
