//! Messages of the tools that change the kernel (insmod, rmmod, lsmod, modprobe), in kmod's
//! wording, on stderr or, with `-s`/`--syslog`, to the system log.
//!
//! kmod's tools print `TOOL: PRIORITY: message` on stderr. With `--syslog` they call
//! `openlog(TOOL, LOG_CONS, LOG_DAEMON)` and log `PRIORITY: message`; [`Logger`] does the same
//! by sending `<PRI>TOOL: PRIORITY: message` to `/dev/log`, and when there is no log socket
//! (an initramfs without a syslog daemon) it writes the line to `/dev/console`, as
//! `LOG_CONS` makes the C library do.
//!
//! Verbosity counts as kmod counts it: errors always show; each `-v` lets one more level
//! through (warning, notice, info, debug).

use std::io::Write;

/// A message priority, as syslog numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// `FATAL` (LOG_CRIT).
    Fatal = 2,
    /// `ERROR` (LOG_ERR).
    Error = 3,
    /// `WARNING` (LOG_WARNING).
    Warning = 4,
    /// `NOTICE` (LOG_NOTICE).
    Notice = 5,
    /// `INFO` (LOG_INFO).
    Info = 6,
    /// `DEBUG` (LOG_DEBUG).
    Debug = 7,
}

impl Priority {
    /// The word kmod prints for this priority.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Fatal => "FATAL",
            Priority::Error => "ERROR",
            Priority::Warning => "WARNING",
            Priority::Notice => "NOTICE",
            Priority::Info => "INFO",
            Priority::Debug => "DEBUG",
        }
    }
}

/// `LOG_DAEMON`, the facility kmod logs under.
const LOG_DAEMON: u8 = 3 << 3;

/// Where a tool's messages go.
#[derive(Debug, Clone)]
pub struct Logger {
    tool: String,
    syslog: bool,
    /// The most verbose priority shown.
    max: Priority,
    /// Tests: the lines that would have gone to stderr, kept here instead.
    memory: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
}

impl Logger {
    /// A logger for `tool`: to syslog when `syslog`, showing errors and `verbose` more levels.
    pub fn new(tool: &str, syslog: bool, verbose: u8) -> Logger {
        let max = match verbose {
            0 => Priority::Error,
            1 => Priority::Warning,
            2 => Priority::Notice,
            3 => Priority::Info,
            _ => Priority::Debug,
        };
        Logger {
            tool: tool.to_string(),
            syslog,
            max,
            memory: None,
        }
    }

    /// A logger that keeps its stderr lines in memory, for tests ([`Logger::captured`]).
    pub fn memory(tool: &str, verbose: u8) -> Logger {
        Logger {
            memory: Some(Default::default()),
            ..Logger::new(tool, false, verbose)
        }
    }

    /// What a [`Logger::memory`] logger has kept: whole lines, newline included.
    pub fn captured(&self) -> String {
        self.memory
            .as_ref()
            .map(|m| m.lock().map(|lines| lines.concat()).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Whether messages of `priority` are shown.
    pub fn enabled(&self, priority: Priority) -> bool {
        priority <= self.max
    }

    /// Logs `message` at `priority`, if that priority is shown.
    pub fn log(&self, priority: Priority, message: &str) {
        if !self.enabled(priority) {
            return;
        }
        if let Some(memory) = &self.memory {
            if let Ok(mut lines) = memory.lock() {
                lines.push(format!("{}: {}: {message}\n", self.tool, priority.name()));
            }
        } else if self.syslog {
            self.to_syslog(priority, message);
        } else {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}: {}: {message}",
                self.tool,
                priority.name()
            );
        }
    }

    /// Logs an error.
    pub fn error(&self, message: &str) {
        self.log(Priority::Error, message);
    }

    /// Logs a warning (shown with `-v`).
    pub fn warning(&self, message: &str) {
        self.log(Priority::Warning, message);
    }

    /// Logs a notice (shown with `-vv`).
    pub fn notice(&self, message: &str) {
        self.log(Priority::Notice, message);
    }

    /// Logs an informational message (shown with `-vvv`).
    pub fn info(&self, message: &str) {
        self.log(Priority::Info, message);
    }

    fn to_syslog(&self, priority: Priority, message: &str) {
        if self
            .send_syslog(std::path::Path::new("/dev/log"), priority, message)
            .is_err()
        {
            if let Ok(mut console) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
                let _ = writeln!(console, "{}: {}: {message}\r", self.tool, priority.name());
            }
        }
    }

    /// Sends one syslog datagram to the socket at `socket`.
    fn send_syslog(
        &self,
        socket: &std::path::Path,
        priority: Priority,
        message: &str,
    ) -> std::io::Result<()> {
        let line = format!(
            "<{}>{}: {}: {message}",
            LOG_DAEMON | priority as u8,
            self.tool,
            priority.name()
        );
        let sender = std::os::unix::net::UnixDatagram::unbound()?;
        sender.send_to(line.as_bytes(), socket).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_levels() {
        let quiet = Logger::new("rmmod", false, 0);
        assert!(quiet.enabled(Priority::Fatal));
        assert!(quiet.enabled(Priority::Error));
        assert!(!quiet.enabled(Priority::Warning));
        let loud = Logger::new("rmmod", false, 3);
        assert!(loud.enabled(Priority::Info));
        assert!(!loud.enabled(Priority::Debug));
        assert!(Logger::new("x", false, 9).enabled(Priority::Debug));
    }

    #[test]
    fn syslog_datagram_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let logger = Logger::new("rmmod", true, 0);
        logger.send_syslog(&path, Priority::Error, "boom").unwrap();
        let mut buf = [0u8; 64];
        let n = socket.recv(&mut buf).unwrap();
        // LOG_DAEMON (3 << 3) | LOG_ERR (3)
        assert_eq!(&buf[..n], b"<27>rmmod: ERROR: boom");
        assert!(logger
            .send_syslog(&dir.path().join("none"), Priority::Error, "x")
            .is_err());
    }
}
