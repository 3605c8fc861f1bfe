//! The key/value list that `modinfo` prints for a module, in kmod's order.
//!
//! First the `.modinfo` records in file order, then `build-id` (the GNU build-id note as
//! colon-separated hex, as the newest kmod prints it), then the signature fields: `sig_id`,
//! `signer`, `sig_key`, `sig_hashalgo` and `signature`. For a builtin module the list is the
//! module's records from `modules.builtin.modinfo`.

use super::elf::ElfModule;
use super::signature::{hex_wrapped, read_signature, SignatureInfo};

/// One `key: value` line of modinfo's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoEntry {
    /// The field name (`license`, `parm`, `sig_key`, ...).
    pub key: Vec<u8>,
    /// The value, as bytes; hex fields are already rendered as kmod renders them.
    pub value: Vec<u8>,
}

impl InfoEntry {
    fn new(key: &[u8], value: &[u8]) -> InfoEntry {
        InfoEntry {
            key: key.to_vec(),
            value: value.to_vec(),
        }
    }
}

/// What modinfo shows of a module, in its parts: the `.modinfo` records, the build-id and the
/// signature. [`ModuleDetails::entries`] flattens them into modinfo's list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleDetails {
    /// The `.modinfo` records in file order (for a builtin module, its records from
    /// `modules.builtin.modinfo`).
    pub records: Vec<InfoEntry>,
    /// The GNU build-id note's bytes, when the module has one.
    pub build_id: Option<Vec<u8>>,
    /// The appended signature, when kmod would report one.
    pub signature: Option<SignatureInfo>,
}

impl ModuleDetails {
    /// The details of a builtin module: records only.
    pub fn from_records(records: Vec<InfoEntry>) -> ModuleDetails {
        ModuleDetails {
            records,
            build_id: None,
            signature: None,
        }
    }

    /// The signer as modinfo prints it: kmod prints values as C strings, so a signer with a
    /// NUL byte ends there.
    pub fn signer(signature: &SignatureInfo) -> &[u8] {
        signature
            .signer
            .split(|&b| b == 0)
            .next()
            .unwrap_or_default()
    }

    /// modinfo's key/value list: the records, then `build-id`, then `sig_id`, `signer`,
    /// `sig_key`, `sig_hashalgo` and `signature`, with hex rendered as kmod renders it.
    pub fn entries(&self) -> Vec<InfoEntry> {
        let mut list = self.records.clone();
        if let Some(id) = &self.build_id {
            list.push(InfoEntry::new(b"build-id", hex_wrapped(id).as_bytes()));
        }
        if let Some(sig) = &self.signature {
            list.push(InfoEntry::new(b"sig_id", sig.id_type.as_bytes()));
            list.push(InfoEntry::new(b"signer", ModuleDetails::signer(sig)));
            list.push(InfoEntry::new(
                b"sig_key",
                hex_wrapped(&sig.key_id).as_bytes(),
            ));
            list.push(InfoEntry::new(b"sig_hashalgo", sig.hash_algo.as_bytes()));
            list.push(InfoEntry::new(
                b"signature",
                hex_wrapped(&sig.signature).as_bytes(),
            ));
        }
        list
    }
}

/// Opens a module file and builds its info list (see [`module_info`]).
pub fn read_module_info(path: &std::path::Path) -> crate::Result<Vec<InfoEntry>> {
    read_module_details(path).map(|details| details.entries())
}

/// Opens a module file and reads its [`ModuleDetails`].
pub fn read_module_details(path: &std::path::Path) -> crate::Result<ModuleDetails> {
    let file = super::ModuleFile::open(path)?;
    let elf = file.elf()?;
    if !elf.has_modinfo() {
        return Err(crate::Error::NoModinfo {
            path: path.to_path_buf(),
        });
    }
    Ok(module_details(&elf, file.contents()))
}

/// Builds the info list of a module image: `.modinfo`, then build-id, then the signature.
///
/// `contents` is the whole decompressed file (the signature sits at its end); `elf` is its
/// parsed image.
pub fn module_info(elf: &ElfModule<'_>, contents: &[u8]) -> Vec<InfoEntry> {
    module_details(elf, contents).entries()
}

/// Reads the [`ModuleDetails`] of a module image (see [`module_info`] for the arguments).
pub fn module_details(elf: &ElfModule<'_>, contents: &[u8]) -> ModuleDetails {
    ModuleDetails {
        records: elf
            .modinfo()
            .into_iter()
            .map(|entry| InfoEntry::new(entry.key, entry.value))
            .collect(),
        build_id: elf.build_id().map(<[u8]>::to_vec),
        signature: read_signature(contents),
    }
}

/// The records of builtin module `name` in a `modules.builtin.modinfo` image.
///
/// That file holds `MODNAME.key=value` records, each ended by a NUL byte. A module's records
/// are consecutive; as kmod does, only the first run of records for `name` is returned, in
/// file order and without the `MODNAME.` prefix. A record without a `.` before the run ends
/// makes the file invalid, as in kmod.
pub fn builtin_info(builtin_modinfo: &[u8], name: &[u8]) -> Result<Vec<InfoEntry>, &'static str> {
    let mut list = Vec::new();
    let mut records = builtin_modinfo.split(|&b| b == 0).peekable();
    while let Some(record) = records.next() {
        if record.is_empty() && records.peek().is_none() {
            break; // the split after the final NUL
        }
        let Some(dot) = record.iter().position(|&b| b == b'.') else {
            return Err("a record in modules.builtin.modinfo has no module name prefix");
        };
        let matches = record
            .strip_prefix(name)
            .is_some_and(|rest| rest.first() == Some(&b'.'));
        if !matches {
            if list.is_empty() {
                continue;
            }
            break;
        }
        let rest = record.get(dot + 1..).unwrap_or_default();
        list.push(match rest.iter().position(|&b| b == b'=') {
            Some(eq) => InfoEntry::new(
                rest.get(..eq).unwrap_or_default(),
                rest.get(eq + 1..).unwrap_or_default(),
            ),
            None => InfoEntry::new(rest, b""),
        });
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_records_first_run_only() {
        let data = b"ext4.license=GPL\0ext4.alias=fs-ext4\0vfat.license=GPL\0ext4.x=late\0";
        let list = builtin_info(data, b"ext4").unwrap();
        assert_eq!(
            list,
            vec![
                InfoEntry::new(b"license", b"GPL"),
                InfoEntry::new(b"alias", b"fs-ext4")
            ]
        );
        assert!(builtin_info(data, b"ext").unwrap().is_empty());
        assert!(builtin_info(b"nodot\0", b"x").is_err());
    }
}
