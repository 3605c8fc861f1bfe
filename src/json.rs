//! What the `--json` outputs share: byte strings as JSON text, and a document as one line.
//!
//! The documents themselves are typed structs next to the tool that prints them
//! (`lsmod`, `modprobe -c`, `modinfo --verify`); their field tables are in the man pages.

use serde::Serialize;

/// A byte string (a module name, a pattern, a command) as JSON text: names are bytes, and
/// one that is not UTF-8 is shown with U+FFFD.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `document` as one line of JSON, without the newline.
pub fn to_line<T: Serialize>(document: &T) -> String {
    // The documents are trees of strings, numbers, options and vectors, which always
    // serialise; an empty object would be a visible error rather than a panic.
    serde_json::to_string(document).unwrap_or_else(|_| String::from("{}"))
}

/// `document` as one line of JSON and its newline, ready for standard output.
pub fn to_output<T: Serialize>(document: &T) -> Vec<u8> {
    let mut out = to_line(document).into_bytes();
    out.push(b'\n');
    out
}
