// SPDX-License-Identifier: LGPL-2.1-or-later
//! A context's logging: kmod's priorities, its `KMOD_LOG` variable, its default format on
//! standard error, and a client's own log function.

use std::ffi::{c_char, c_int, c_void, CString};
use std::io::Write;

/// syslog's `LOG_ERR`: the default priority, as kmod's.
pub const LOG_ERR: c_int = 3;
/// syslog's `LOG_INFO`.
pub const LOG_INFO: c_int = 6;
/// syslog's `LOG_DEBUG`.
pub const LOG_DEBUG: c_int = 7;

/// A client's log function (`kmod_set_log_fn`); the va_list is opaque here.
pub type LogFn = unsafe extern "C" fn(
    data: *mut c_void,
    priority: c_int,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    format: *const c_char,
    args: *mut c_void,
);

extern "C" {
    /// src/log_forward.c: calls `log_fn` with `format` and the variadic arguments as a va_list.
    fn rkmod_log_forward(
        log_fn: LogFn,
        data: *mut c_void,
        priority: c_int,
        file: *const c_char,
        line: c_int,
        func: *const c_char,
        format: *const c_char,
        ...
    );
}

/// Where a context's messages go.
#[derive(Debug, Clone, Copy)]
pub enum Sink {
    /// kmod's default: `libkmod: PRIORITY: FUNCTION: MESSAGE` on standard error.
    Stderr,
    /// A client's function and its data pointer.
    Client(LogFn, *mut c_void),
    /// `kmod_set_log_fn(ctx, NULL, ...)`: nothing.
    Discard,
}

/// kmod's name for a priority in its default format.
fn priority_name(priority: c_int) -> String {
    match priority {
        0 => "EMERGENCY".into(),
        1 => "ALERT".into(),
        2 => "CRITICAL".into(),
        3 => "ERROR".into(),
        4 => "WARNING".into(),
        5 => "NOTICE".into(),
        6 => "INFO".into(),
        7 => "DEBUG".into(),
        other => format!("L:{other}"),
    }
}

/// The priority `KMOD_LOG` asks for, read as kmod reads it: a number (followed by nothing or
/// white space), or a word starting with `err`, `info` or `debug`; anything else is 0.
pub fn parse_priority(text: &[u8]) -> c_int {
    let digits = text
        .iter()
        .enumerate()
        .skip_while(|&(i, &b)| i == 0 && (b == b'-' || b == b'+'))
        .take_while(|(_, b)| b.is_ascii_digit())
        .count();
    let sign = usize::from(matches!(text.first(), Some(b'-' | b'+')));
    let number_end = sign + digits;
    if digits > 0 {
        let rest = text.get(number_end..).unwrap_or_default();
        if rest.is_empty() || rest.first().is_some_and(u8::is_ascii_whitespace) {
            let number = std::str::from_utf8(text.get(..number_end).unwrap_or_default())
                .ok()
                .and_then(|n| n.parse::<i64>().ok());
            return number
                .and_then(|n| c_int::try_from(n).ok())
                .unwrap_or_default();
        }
    }
    if text.starts_with(b"err") {
        LOG_ERR
    } else if text.starts_with(b"info") {
        LOG_INFO
    } else if text.starts_with(b"debug") {
        LOG_DEBUG
    } else {
        0
    }
}

/// Sends one message (without its newline) from libkmod function `func` to `sink`.
pub fn emit(sink: Sink, priority: c_int, func: &str, message: &str) {
    match sink {
        Sink::Discard => {}
        Sink::Stderr => {
            let line = format!("libkmod: {}: {func}: {message}\n", priority_name(priority));
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        Sink::Client(log_fn, data) => {
            let text = |s: &str| CString::new(s.replace('\0', "")).unwrap_or_default();
            let file = text(file!());
            let func = text(func);
            let message = text(&format!("{message}\n"));
            // SAFETY: `log_fn` is the client's function, called with valid C strings that
            // outlive the call; the format "%s" consumes exactly the one argument given.
            unsafe {
                rkmod_log_forward(
                    log_fn,
                    data,
                    priority,
                    file.as_ptr(),
                    0,
                    func.as_ptr(),
                    c"%s".as_ptr(),
                    message.as_ptr(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmod_log_values() {
        assert_eq!(parse_priority(b"7"), 7);
        assert_eq!(parse_priority(b"6 "), 6);
        assert_eq!(parse_priority(b"debug"), LOG_DEBUG);
        assert_eq!(parse_priority(b"info"), LOG_INFO);
        assert_eq!(parse_priority(b"error"), LOG_ERR);
        assert_eq!(parse_priority(b"7x"), 0);
        assert_eq!(parse_priority(b"loud"), 0);
        assert_eq!(parse_priority(b"99999999999"), 0);
    }
}
