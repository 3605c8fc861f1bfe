//! Messages in kmod's wording, on stderr, and a stdout that tolerates a closed pipe.

use std::io::Write;

/// Prints `TOOL: ERROR: MESSAGE` on stderr, as kmod's tools do.
pub fn error(tool: &str, message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{tool}: ERROR: {message}");
}

/// Prints `TOOL: FATAL: MESSAGE` on stderr.
pub fn fatal(tool: &str, message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{tool}: FATAL: {message}");
}

/// Prints `TOOL: WARNING: MESSAGE` on stderr.
pub fn warning(tool: &str, message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{tool}: WARNING: {message}");
}

/// A buffered stdout whose writes turn a closed pipe into a quiet stop: once the reader has
/// gone, further output is dropped and [`Output::broken`] says so.
pub struct Output {
    out: std::io::BufWriter<std::io::Stdout>,
    broken: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output::new()
    }
}

impl Output {
    /// A buffered stdout.
    pub fn new() -> Output {
        Output {
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            broken: false,
        }
    }

    /// Writes bytes; errors other than a broken pipe are remembered as broken too, since there
    /// is nobody left to tell.
    pub fn write(&mut self, bytes: &[u8]) {
        if !self.broken && self.out.write_all(bytes).is_err() {
            self.broken = true;
        }
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) {
        if !self.broken && self.out.flush().is_err() {
            self.broken = true;
        }
    }

    /// Whether the reader has gone away.
    pub fn broken(&self) -> bool {
        self.broken
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.flush();
    }
}
