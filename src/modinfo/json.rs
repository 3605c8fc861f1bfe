//! `modinfo --json` and `modinfo --verify --json`: one JSON document on standard output (an
//! rkmod extension; the field tables are JSON OUTPUT and SIGNATURE VERIFICATION in
//! modinfo(8)).
//!
//! Both documents are `{"modules":[...]}`, one object per module shown, in the order the text
//! form shows them. Names and values are bytes; one that is not UTF-8 is shown with U+FFFD.

use kmodcore::module::info::{InfoEntry, ModuleDetails};
use kmodcore::module::signature::SignatureInfo;
use kmodcore::module::verify::Verdict;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::{add_param, is_param};
use crate::json::text;

/// The document: every module shown, in argument order.
#[derive(Serialize)]
pub(super) struct Document<T> {
    /// One object per module.
    pub(super) modules: Vec<T>,
}

/// One module of `modinfo --json`.
#[derive(Serialize, Debug, PartialEq)]
pub(super) struct ModuleObject {
    /// The module's name (from its file name, or the builtin module's name).
    name: String,
    /// The module file; null for a builtin module.
    filename: Option<String>,
    /// Whether the module is built into the kernel.
    builtin: bool,
    /// The `.modinfo` fields other than parameters: each key once, in order of first
    /// appearance, with all its values in file order.
    fields: Fields,
    /// The parameters (`parm` and `parmtype` records), in order of first appearance.
    parameters: Vec<Parameter>,
    /// The GNU build-id, as colon-separated hex; null without a build-id note.
    build_id: Option<String>,
    /// The appended signature; null when the module has none.
    signature: Option<Signature>,
}

/// Fields as a JSON object whose keys keep the module's order.
#[derive(Debug, PartialEq, Default)]
struct Fields(Vec<(String, Vec<String>)>);

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, values) in &self.0 {
            map.serialize_entry(key, values)?;
        }
        map.end()
    }
}

/// A module parameter.
#[derive(Serialize, Debug, PartialEq)]
struct Parameter {
    /// Its name.
    name: String,
    /// Its description (`parm`), or null.
    description: Option<String>,
    /// Its type (`parmtype`: `int`, `charp`, `array of uint`, ...), or null.
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// The signature fields modinfo shows, with hex on one line.
#[derive(Serialize, Debug, PartialEq)]
struct Signature {
    /// `sig_id`: "PKCS#7", "X509" or "PGP".
    id_type: String,
    /// `signer`.
    signer: String,
    /// `sig_key`, as colon-separated hex.
    key_id: String,
    /// `sig_hashalgo`.
    hash_algo: String,
    /// `signature`, as colon-separated hex.
    signature: String,
}

/// Colon-separated upper-case hex, as modinfo prints key ids but on one line: `6A:39:FB`.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The module object for `details`, and the parameter records it leaves out because they
/// have no `:` (the caller reports them, as the text form does).
pub(super) fn module_object<'a>(
    name: &[u8],
    filename: Option<&[u8]>,
    builtin: bool,
    details: &'a ModuleDetails,
) -> (ModuleObject, Vec<&'a InfoEntry>) {
    let mut fields: Vec<(String, Vec<String>)> = Vec::new();
    let mut params = Vec::new();
    let mut invalid = Vec::new();
    for entry in &details.records {
        if is_param(&entry.key) {
            if !add_param(&mut params, entry) {
                invalid.push(entry);
            }
            continue;
        }
        let key = text(&entry.key);
        let value = text(&entry.value);
        match fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => fields.push((key, vec![value])),
        }
    }
    let parameters = params
        .iter()
        .map(|p| Parameter {
            name: text(p.name),
            description: p.description.map(text),
            kind: p.kind.map(text),
        })
        .collect();
    let object = ModuleObject {
        name: text(name),
        filename: filename.map(text),
        builtin,
        fields: Fields(fields),
        parameters,
        build_id: details.build_id.as_deref().map(hex),
        signature: details.signature.as_ref().map(signature_object),
    };
    (object, invalid)
}

fn signature_object(sig: &SignatureInfo) -> Signature {
    Signature {
        id_type: sig.id_type.to_string(),
        signer: text(ModuleDetails::signer(sig)),
        key_id: hex(&sig.key_id),
        hash_algo: sig.hash_algo.clone(),
        signature: hex(&sig.signature),
    }
}

/// One module of `modinfo --verify --json`.
#[derive(Serialize, Debug, PartialEq)]
pub(super) struct VerdictObject {
    /// The module file.
    file: String,
    /// `valid`, `unsigned`, `bad signature`, `unknown key`, `unsupported algorithm`,
    /// `malformed` or `error`.
    verdict: &'static str,
    /// The signer's name, where the signature names one.
    signer: Option<String>,
    /// The signing key's id, as `6A:39:FB`.
    key_id: Option<String>,
    /// Why the verdict is what it is, where there is a reason.
    reason: Option<String>,
}

/// The fields of a verdict: its kind, the signer, the key id and a reason, where it has them.
pub(super) fn verdict_fields(
    result: &kmodcore::Result<Verdict>,
) -> (&'static str, Option<String>, Option<String>, Option<String>) {
    match result {
        Err(e) => ("error", None, None, Some(e.to_string())),
        Ok(v) => match v {
            Verdict::Valid { signer, key_id } | Verdict::UnknownKey { signer, key_id } => {
                (v.kind(), Some(text(signer)), Some(hex(key_id)), None)
            }
            Verdict::BadSignature {
                signer,
                key_id,
                reason,
            } => (
                v.kind(),
                Some(text(signer)),
                Some(hex(key_id)),
                Some((*reason).to_string()),
            ),
            Verdict::UnsupportedAlgorithm(what) | Verdict::Malformed(what) => {
                (v.kind(), None, None, Some(what.clone()))
            }
            Verdict::Unsigned => (v.kind(), None, None, None),
            _ => (v.kind(), None, None, None),
        },
    }
}

/// The verdict object for the module file `path`, with null for the parts a verdict does not
/// have.
pub(super) fn verdict_object(path: &str, result: &kmodcore::Result<Verdict>) -> VerdictObject {
    let (verdict, signer, key_id, reason) = verdict_fields(result);
    VerdictObject {
        file: path.to_string(),
        verdict,
        signer,
        key_id,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::to_line;

    fn entry(key: &str, value: &str) -> InfoEntry {
        InfoEntry {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn fields_group_repeated_keys_in_first_appearance_order() {
        let details = ModuleDetails {
            records: vec![
                entry("alias", "a1"),
                entry("license", "GPL"),
                entry("parmtype", "delay:uint"),
                entry("alias", "a2"),
                entry("parm", "delay:seconds to wait"),
                entry("parm", "quiet:be quiet"),
                entry("parm", "broken"),
                entry("depends", ""),
            ],
            build_id: Some(vec![0xab, 0x01]),
            signature: None,
        };
        let (object, invalid) = module_object(b"m", Some(b"/m.ko"), false, &details);
        assert_eq!(invalid, [&entry("parm", "broken")]);
        assert_eq!(
            to_line(&object),
            r#"{"name":"m","filename":"/m.ko","builtin":false,"fields":{"alias":["a1","a2"],"license":["GPL"],"depends":[""]},"parameters":[{"name":"delay","description":"seconds to wait","type":"uint"},{"name":"quiet","description":"be quiet","type":null}],"build_id":"AB:01","signature":null}"#
        );
    }

    #[test]
    fn builtin_and_signature() {
        let (builtin, _) = module_object(b"ext4", None, true, &ModuleDetails::default());
        assert_eq!(
            to_line(&builtin),
            r#"{"name":"ext4","filename":null,"builtin":true,"fields":{},"parameters":[],"build_id":null,"signature":null}"#
        );
        let details = ModuleDetails {
            signature: Some(SignatureInfo {
                id_type: "PKCS#7",
                signer: b"Build key\0junk".to_vec(),
                key_id: vec![0x6a, 0x09],
                hash_algo: "sha256".into(),
                signature: (0u8..25).collect(),
            }),
            ..ModuleDetails::default()
        };
        let (object, _) = module_object(b"m", Some(b"/m.ko"), false, &details);
        let line = to_line(&object);
        assert!(
            line.ends_with(r#""signature":{"id_type":"PKCS#7","signer":"Build key","key_id":"6A:09","hash_algo":"sha256","signature":"00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18"}}"#),
            "{line}"
        );
    }

    #[test]
    fn verdict_strings_are_escaped() {
        let result = Ok(Verdict::Malformed("a\"b\\c\n\u{1}é".to_string()));
        assert_eq!(
            to_line(&verdict_object("/m.ko", &result)),
            r#"{"file":"/m.ko","verdict":"malformed","signer":null,"key_id":null,"reason":"a\"b\\c\n\u0001é"}"#
        );
    }
}
