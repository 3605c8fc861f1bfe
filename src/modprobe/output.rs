//! Where modprobe's messages go (stderr or syslog, with kmod's levels), and the libkmod-style
//! configuration warnings printed before the run starts.

use std::io::Write;

use kmodcore::config::ConfigWarning;

use super::TOOL;

/// syslog's facility for daemons, which kmod logs to with `-s`.
const LOG_DAEMON: u8 = 3 << 3;

/// Where modprobe's messages go: stderr as `modprobe: LEVEL: text`, or syslog.
pub(super) struct Log {
    pub(super) verbose: i32,
    pub(super) syslog: bool,
}

impl Log {
    fn level_name(level: i32) -> String {
        match level {
            2 => "FATAL".into(),
            3 => "ERROR".into(),
            4 => "WARNING".into(),
            5 => "NOTICE".into(),
            6 => "INFO".into(),
            7 => "DEBUG".into(),
            other => format!("LOG-{other:03}"),
        }
    }

    /// Prints a message of `level` when the verbosity allows it; returns whether it did.
    pub(super) fn print(&self, level: i32, text: &str) -> bool {
        if level > self.verbose {
            return false;
        }
        let line = format!("{}: {}", Self::level_name(level), text);
        if self.syslog {
            to_syslog(level, &line);
        } else {
            let _ = writeln!(std::io::stderr().lock(), "{TOOL}: {line}");
        }
        true
    }
}

/// Sends one message to the system log socket, as `openlog(modprobe, LOG_CONS, LOG_DAEMON)`
/// would: when the logger cannot be reached, to the console instead, never to stderr.
fn to_syslog(level: i32, line: &str) {
    let priority = i32::from(LOG_DAEMON) + level.clamp(0, 7);
    let message = format!("<{priority}>{TOOL}: {line}");
    let sent = std::os::unix::net::UnixDatagram::unbound()
        .and_then(|socket| socket.send_to(message.as_bytes(), "/dev/log"));
    if sent.is_err() {
        if let Ok(mut console) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
            let _ = writeln!(console, "{TOOL}: {line}\r");
        }
    }
}

/// Prints configuration warnings as libkmod does while its context is created, before any
/// tool sets up its own logging: `libkmod: ERROR: FUNCTION: MESSAGE`.
pub fn print_config_warnings(warnings: &[ConfigWarning]) {
    let mut err = std::io::stderr().lock();
    for w in warnings {
        let mut line = b"libkmod: ERROR: ".to_vec();
        line.extend_from_slice(w.kmod_function().as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(&w.message());
        line.push(b'\n');
        let _ = err.write_all(&line);
    }
}

/// Whether stderr is open; kmod logs to syslog when it is not.
pub(super) fn stderr_usable() -> bool {
    use std::os::fd::AsRawFd;
    nix::sys::stat::fstat(std::io::stderr().as_raw_fd()).is_ok()
}
