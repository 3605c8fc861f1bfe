//! kmod's configuration line reader, shared by the modprobe.d and depmod.d parsers.

use std::borrow::Cow;

/// The first newline or backslash in `bytes`.
///
/// memchr's portable word-at-a-time search: its SIMD versions first ask the CPU what it
/// supports (`cpuid`), once per process, and in a virtual machine that question alone costs
/// more than scanning every configuration file of a modprobe run.
fn line_break_or_escape(bytes: &[u8]) -> Option<usize> {
    memchr::arch::all::memchr::Two::new(b'\n', b'\\').find(bytes)
}

/// Splits a file into logical lines, each with the number of its last physical line.
///
/// kmod's rule, for modprobe.d and depmod.d alike: a `\` before a newline joins the next
/// physical line; a `\` before any other byte stands for that byte; a `\` at the very end is
/// dropped. A last line without a newline still counts, one that is empty after joining does
/// not. Lines keep any NUL bytes: modprobe.d cuts them there, depmod.d does not.
///
/// A line without a backslash is handed out as a slice of the file; only lines that join or
/// unescape bytes are copied.
pub(crate) struct LogicalLines<'a> {
    rest: &'a [u8],
    line: u32,
}

impl<'a> LogicalLines<'a> {
    /// Reads the lines of `data`.
    pub(crate) fn new(data: &'a [u8]) -> LogicalLines<'a> {
        LogicalLines {
            rest: data,
            line: 0,
        }
    }

    /// The rest of a line that has a backslash at `at`, joined and unescaped into a copy;
    /// `self.rest` is left after the line. Returns the line and its number of physical lines,
    /// or `None` when the data ended before the line had a byte (kmod's reader then has no
    /// line: `\` + newline at the very end adds nothing).
    fn copy_escaped(&mut self, mut at: usize) -> Option<(Vec<u8>, u32)> {
        let mut text = Vec::new();
        let mut physical: u32 = 0;
        let mut rest = self.rest;
        loop {
            text.extend_from_slice(rest.get(..at).unwrap_or_default());
            if rest.get(at) == Some(&b'\n') {
                physical = physical.saturating_add(1);
                rest = rest.get(at + 1..).unwrap_or_default();
                break;
            }
            if at >= rest.len() {
                // The end of the data: a line that has bytes counts as one more physical line.
                self.rest = &[];
                if text.is_empty() {
                    return None;
                }
                return Some((text, physical.saturating_add(1)));
            }
            // A backslash: a continuation before a newline, else it escapes the next byte; at
            // the end of the data it is dropped.
            match rest.get(at + 1) {
                Some(b'\n') => physical = physical.saturating_add(1),
                Some(&escaped) => text.push(escaped),
                None => {}
            }
            rest = rest.get(at + 2..).unwrap_or_default();
            at = line_break_or_escape(rest).unwrap_or(rest.len());
        }
        self.rest = rest;
        Some((text, physical))
    }
}

impl<'a> Iterator for LogicalLines<'a> {
    type Item = (u32, Cow<'a, [u8]>);

    fn next(&mut self) -> Option<(u32, Cow<'a, [u8]>)> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        let at = line_break_or_escape(rest).unwrap_or(rest.len());
        let (text, physical) = if rest.get(at) == Some(&b'\\') {
            let (text, physical) = self.copy_escaped(at)?;
            (Cow::Owned(text), physical)
        } else {
            // Most lines: no escapes, no continuation, borrowed as they are.
            self.rest = rest.get(at + 1..).unwrap_or_default();
            (Cow::Borrowed(rest.get(..at).unwrap_or_default()), 1)
        };
        self.line = self.line.saturating_add(physical);
        Some((self.line, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_stay_in_the_line() {
        // modprobe.d cuts a line there (its parser), depmod.d reads on past it.
        let lines: Vec<(u32, Vec<u8>)> = LogicalLines::new(b"ab\0cd\ne\\\0f\n")
            .map(|(n, line)| (n, line.into_owned()))
            .collect();
        assert_eq!(lines, vec![(1, b"ab\0cd".to_vec()), (2, b"e\0f".to_vec())]);
    }
}
