//! Module names and aliases: normalisation, and deriving a name from a file path.
//!
//! kmod treats `-` and `_` in module names as the same character, and canonicalises to `_`.
//! In aliases the same holds outside bracket expressions (`[...]`), which are glob syntax and
//! must keep their dashes (`[0-9]`).

/// The module file suffixes kmod recognises, longest first.
pub const MODULE_SUFFIXES: [&str; 4] = [".ko.zst", ".ko.xz", ".ko.gz", ".ko"];

/// Normalises a module name: every `-` becomes `_`.
pub fn normalize_name(name: &[u8]) -> Vec<u8> {
    name.iter()
        .map(|&b| if b == b'-' { b'_' } else { b })
        .collect()
}

/// Normalises an alias: `-` becomes `_`, except inside a bracket expression `[...]`.
///
/// Returns `None` when a `]` appears without an opening `[`, or a `[` is not closed, which kmod
/// rejects as an invalid alias.
pub fn normalize_alias(alias: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(alias.len());
    normalize_alias_into(alias, &mut out).then_some(out)
}

/// [`normalize_alias`] into `out`, which is cleared first (a buffer reused from alias to
/// alias); whether the alias was well formed (else `out` holds nothing useful).
pub fn normalize_alias_into(alias: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut in_bracket = false;
    for &b in alias {
        match b {
            b'[' if !in_bracket => in_bracket = true,
            b']' if in_bracket => in_bracket = false,
            b']' => return false,
            b'-' if !in_bracket => {
                out.push(b'_');
                continue;
            }
            _ => {}
        }
        out.push(b);
    }
    !in_bracket
}

/// Derives the normalised module name from a path: its basename up to the first `.`, with
/// dashes turned into underscores (`/x/usb-storage.ko.xz` gives `usb_storage`).
pub fn name_from_path(path: &[u8]) -> Vec<u8> {
    let base = match path.iter().rposition(|&b| b == b'/') {
        Some(pos) => path.get(pos + 1..).unwrap_or_default(),
        None => path,
    };
    let stem = match base.iter().position(|&b| b == b'.') {
        Some(pos) => base.get(..pos).unwrap_or_default(),
        None => base,
    };
    normalize_name(stem)
}

/// Whether `path` ends with one of the module suffixes (`.ko`, `.ko.gz`, `.ko.xz`, `.ko.zst`).
pub fn has_module_suffix(path: &[u8]) -> bool {
    MODULE_SUFFIXES
        .iter()
        .any(|suffix| path.ends_with(suffix.as_bytes()))
}

/// Strips a module suffix's compression part, so `a/b.ko.xz` becomes `a/b.ko`.
pub fn strip_compression_suffix(path: &[u8]) -> &[u8] {
    for suffix in [".xz", ".gz", ".zst"] {
        if let Some(stripped) = path.strip_suffix(suffix.as_bytes()) {
            if stripped.ends_with(b".ko") {
                return stripped;
            }
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_dashes() {
        assert_eq!(normalize_name(b"usb-storage"), b"usb_storage");
        assert_eq!(name_from_path(b"/a/b/usb-storage.ko.xz"), b"usb_storage");
        assert_eq!(name_from_path(b"snd-hda.ko"), b"snd_hda");
    }

    #[test]
    fn aliases_keep_dashes_in_brackets() {
        assert_eq!(
            normalize_alias(b"pci:v-[0-9]*-x").as_deref(),
            Some(&b"pci:v_[0-9]*_x"[..])
        );
        assert_eq!(normalize_alias(b"a]b"), None);
        assert_eq!(normalize_alias(b"a[b"), None);
    }

    #[test]
    fn suffixes() {
        assert!(has_module_suffix(b"x.ko.zst"));
        assert!(!has_module_suffix(b"x.o"));
        assert_eq!(strip_compression_suffix(b"a/b.ko.xz"), b"a/b.ko");
        assert_eq!(strip_compression_suffix(b"a/b.xz"), b"a/b.xz");
    }
}
