//! `modinfo --json` on every module of both Debian trees and on look-ups (names, builtin
//! modules, aliases, missing modules), checked against kmod 30's `modinfo -0` text of the same
//! arguments: the same modules in the same order, each field with the same values, the same
//! parameters, the same signature, the same diagnostics and exit code. The build-id, which
//! kmod 30 does not print, is checked against binutils' `readelf -n`.

use std::ffi::OsString;
use std::fmt;
use std::process::Command;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::util::*;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Document {
    modules: Vec<Module>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Module {
    name: String,
    filename: Option<String>,
    builtin: bool,
    fields: Ordered,
    parameters: Vec<Parameter>,
    build_id: Option<String>,
    signature: Option<Signature>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Parameter {
    name: String,
    description: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Signature {
    id_type: String,
    signer: String,
    key_id: String,
    hash_algo: String,
    signature: String,
}

/// A JSON object read with its keys in document order.
#[derive(Debug, PartialEq, Default)]
struct Ordered(Vec<(String, Vec<String>)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor;
        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string arrays")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Vec<String>>()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor)
    }
}

/// One module of kmod's `modinfo -0` listing.
#[derive(Debug, Default)]
struct TextModule {
    /// The `name:` record, which kmod prints for builtin modules only.
    name: Option<String>,
    filename: String,
    fields: Ordered,
    /// The `parm:` records, without their prefix, in kmod's order.
    parameters: Vec<String>,
    signature: Vec<(String, String)>,
}

/// Splits kmod's `modinfo -0` output into modules.
fn text_modules(out: &[u8]) -> Vec<TextModule> {
    let text = String::from_utf8_lossy(out);
    let mut modules: Vec<TextModule> = Vec::new();
    let mut pending_name = None;
    for record in text.split_terminator('\0') {
        if let Some(name) = record.strip_prefix("name:") {
            pending_name = Some(name.trim_start().to_string());
        } else if let Some(filename) = record.strip_prefix("filename:") {
            modules.push(TextModule {
                name: pending_name.take(),
                filename: filename.trim_start().to_string(),
                ..TextModule::default()
            });
        } else if let Some(parm) = record.strip_prefix("parm:") {
            let module = modules.last_mut().expect("parm: after filename:");
            module.parameters.push(parm.trim_start().to_string());
        } else {
            let module = modules.last_mut().expect("a record after filename:");
            let (key, value) = record.split_once('=').expect("key=value");
            if ["sig_id", "signer", "sig_key", "sig_hashalgo", "signature"].contains(&key) {
                let joined = value.replace("\n\t\t", "");
                module.signature.push((key.to_string(), joined));
                continue;
            }
            match module.fields.0.iter_mut().find(|(k, _)| k == key) {
                Some((_, values)) => values.push(value.to_string()),
                None => module
                    .fields
                    .0
                    .push((key.to_string(), vec![value.to_string()])),
            }
        }
    }
    modules
}

/// A parameter as kmod's full listing prints it after `parm:`.
fn parameter_line(p: &Parameter) -> String {
    match (&p.description, &p.kind) {
        (Some(d), Some(t)) => format!("{}:{d} ({t})", p.name),
        (Some(d), None) => format!("{}:{d}", p.name),
        (None, Some(t)) => format!("{}:{t}", p.name),
        (None, None) => format!("{}:", p.name),
    }
}

/// Compares one JSON module with kmod's text of it.
fn compare_module(label: &str, json: &Module, text: &TextModule) {
    let label = format!("{label}: {}", text.filename);
    assert_eq!(
        json.builtin,
        text.filename == "(builtin)",
        "{label}: builtin"
    );
    match &json.filename {
        Some(f) => assert_eq!(f, &text.filename, "{label}: filename"),
        None => assert_eq!(text.filename, "(builtin)", "{label}: filename"),
    }
    if let Some(name) = &text.name {
        assert_eq!(&json.name, name, "{label}: name");
    }
    assert_eq!(json.fields, text.fields, "{label}: fields");
    // kmod prints parameters in reverse order of first appearance; JSON keeps file order.
    let lines: Vec<String> = json.parameters.iter().rev().map(parameter_line).collect();
    assert_eq!(lines, text.parameters, "{label}: parameters");
    let signature = json.signature.as_ref().map(|s| {
        vec![
            ("sig_id".to_string(), s.id_type.clone()),
            ("signer".to_string(), s.signer.clone()),
            ("sig_key".to_string(), s.key_id.clone()),
            ("sig_hashalgo".to_string(), s.hash_algo.clone()),
            ("signature".to_string(), s.signature.clone()),
        ]
    });
    assert_eq!(
        signature.unwrap_or_default(),
        text.signature,
        "{label}: signature"
    );
}

/// Runs `modinfo --json ARGS` and kmod's `modinfo -0 ARGS` and compares them; returns the
/// document.
fn compare(label: &str, args: &[OsString]) -> Document {
    let mut json_args: Vec<OsString> = vec!["--json".into()];
    json_args.extend(args.iter().cloned());
    let mut text_args: Vec<OsString> = vec!["-0".into()];
    text_args.extend(args.iter().cloned());
    let ours = rkmod("modinfo", &json_args);
    let theirs = kmod("modinfo", &text_args);
    assert_eq!(ours.code, theirs.code, "{label}: exit code");
    assert_eq!(ours.stderr_str(), theirs.stderr_str(), "{label}: stderr");
    let out = ours.stdout_str();
    assert!(
        out.ends_with('\n') && out.matches('\n').count() == 1,
        "{label}: one line"
    );
    let document: Document = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{label}: not the documented JSON ({e}): {out:.300}"));
    let text = text_modules(&theirs.stdout);
    assert_eq!(document.modules.len(), text.len(), "{label}: module count");
    for (json, text) in document.modules.iter().zip(&text) {
        compare_module(label, json, text);
    }
    document
}

fn every_module_matches(tree: RealTree) {
    let modules = tree.modules();
    assert!(modules.len() > 4000, "{} modules only", modules.len());
    let mut signed = 0;
    let mut with_parameters = 0;
    for chunk in modules.chunks(500) {
        let args: Vec<OsString> = chunk.iter().map(|p| p.clone().into_os_string()).collect();
        let document = compare(&format!("{} modules", tree.kver), &args);
        for module in &document.modules {
            assert!(module.build_id.is_some(), "{}: build_id", module.name);
        }
        signed += document
            .modules
            .iter()
            .filter(|m| m.signature.is_some())
            .count();
        with_parameters += document
            .modules
            .iter()
            .filter(|m| !m.parameters.is_empty())
            .count();
    }
    // The test must have seen what it checks.
    assert!(signed > 4000, "{signed} signed modules");
    assert!(
        with_parameters > 500,
        "{with_parameters} modules with parameters"
    );
}

#[test]
fn every_61_module_matches_kmod_text() {
    if let Some(tree) = tree_61() {
        every_module_matches(tree);
    }
}

#[test]
fn every_612_module_matches_kmod_text() {
    if let Some(tree) = tree_612() {
        every_module_matches(tree);
    }
}

/// The build-id as `readelf -n` prints it (lower-case hex, no separators).
fn readelf_build_id(path: &std::path::Path) -> Option<String> {
    let out = Command::new("readelf").arg("-n").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: ").map(str::to_string))
}

#[test]
fn build_ids_match_readelf() {
    let Some(tree) = tree_61() else { return };
    if Command::new("readelf").arg("--version").output().is_err() {
        skip("binutils' readelf");
        return;
    }
    let sample: Vec<_> = tree.modules().into_iter().step_by(41).collect();
    let args: Vec<OsString> = sample.iter().map(|p| p.clone().into_os_string()).collect();
    let mut json_args: Vec<OsString> = vec!["--json".into()];
    json_args.extend(args);
    let ours = rkmod("modinfo", &json_args);
    assert_eq!(ours.code, 0, "{}", ours.stderr_str());
    let document: Document = serde_json::from_slice(&ours.stdout).expect("JSON");
    assert_eq!(document.modules.len(), sample.len());
    for (module, path) in document.modules.iter().zip(&sample) {
        let expected = readelf_build_id(path).expect("readelf shows a build-id");
        let ours = module
            .build_id
            .as_deref()
            .expect("build_id")
            .replace(':', "");
        assert_eq!(ours.to_lowercase(), expected, "{}", path.display());
    }
}

/// Look-ups through the indexes kmod 30's depmod wrote: module names, `-m` names, builtin
/// modules (no file, fields from modules.builtin.modinfo), aliases and failures.
fn lookups_match(tree: RealTree) {
    let base = tree.kmod30_root.clone().into_os_string();
    let builtin: Vec<String> = tree.builtin_names().into_iter().step_by(3).collect();
    let aliases = tree.index_keys("modules.alias", 29);
    let fixed: Vec<String> = [
        "usb-storage",
        "snd_hda_intel",
        "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
        "fs-vfat",
        "symbol:usb_register_driver",
        "nonexistent-module",
        "ext4",
        "unix",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let groups: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        ("builtin modules", builtin.clone(), vec![]),
        ("-m builtin modules", builtin, vec!["-m"]),
        ("aliases", aliases, vec![]),
        ("fixed requests", fixed.clone(), vec![]),
        ("-m fixed requests", fixed, vec!["-m"]),
    ];
    let mut builtin_seen = 0;
    for (label, requests, opts) in groups {
        for chunk in requests.chunks(300) {
            let mut args: Vec<OsString> =
                vec!["-b".into(), base.clone(), "-k".into(), tree.kver.into()];
            args.extend(opts.iter().map(OsString::from));
            args.push("--".into());
            args.extend(chunk.iter().map(OsString::from));
            let document = compare(&format!("{} {label}", tree.kver), &args);
            builtin_seen += document
                .modules
                .iter()
                .filter(|m| m.builtin && !m.fields.0.is_empty())
                .count();
        }
    }
    assert!(
        builtin_seen > 100,
        "{builtin_seen} builtin modules with fields"
    );
}

#[test]
fn lookups_match_kmod_text_61() {
    if let Some(tree) = tree_61() {
        lookups_match(tree);
    }
}

#[test]
fn lookups_match_kmod_text_612() {
    if let Some(tree) = tree_612() {
        lookups_match(tree);
    }
}
