//! The words the tools use when the kernel refuses a load or an unload: kmod's text first, so
//! that a line starts the way scripts and users expect, then, in parentheses, what the refusal
//! most likely means ([`kmodcore::kernel::hint`]).

use kmodcore::kernel::hint::{insert_hint, remove_hint, InsertContext};
use kmodcore::kernel::{Errno, Kernel, KernelError};

use kmodcore::fs::strerror;

/// insmod's text for a failed load (kmod's `mod_strerror`): a few errnos get the meaning the
/// kernel gives them for modules, the rest their C library text.
pub fn insmod_strerror(errno: i32) -> String {
    match Errno::from_raw(errno) {
        Errno::ENOEXEC => "Invalid module format".into(),
        Errno::ENOENT => "Unknown symbol in module".into(),
        Errno::ESRCH => "Module has wrong symbol version".into(),
        Errno::EINVAL => "Invalid parameters".into(),
        _ => strerror(errno),
    }
}

/// modprobe's text for a failed load of module `name` (after `could not insert 'NAME': `).
pub fn modprobe_insert_strerror(errno: i32) -> String {
    match Errno::from_raw(errno) {
        Errno::EEXIST => "Module already in kernel".into(),
        Errno::ENOENT => "Unknown symbol in module, or unknown parameter (see dmesg)".into(),
        _ => strerror(errno),
    }
}

/// `TEXT (HINT)`, or `TEXT` without a hint.
pub fn with_hint(text: String, hint: Option<String>) -> String {
    match hint {
        Some(hint) => format!("{text} ({hint})"),
        None => text,
    }
}

/// The detail after kmod's text for a failed load: the kernel's hint for a refusal, or what
/// was wrong with the file or the parameters.
pub fn insert_detail(
    kernel: &dyn Kernel,
    err: &KernelError,
    ctx: &InsertContext<'_>,
) -> Option<String> {
    match err {
        KernelError::Syscall { errno, .. } => insert_hint(kernel, *errno, ctx),
        // An I/O error's text is the errno's own; anything else says which file and why.
        KernelError::File(kmodcore::Error::Io { .. }) => None,
        other => Some(other.to_string()),
    }
}

/// The detail after kmod's text for a failed unload.
pub fn remove_detail(kernel: &dyn Kernel, err: &KernelError, name: &[u8]) -> Option<String> {
    match err {
        KernelError::Syscall { errno, .. } => remove_hint(kernel, *errno, name),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_follow_kmod() {
        assert_eq!(
            insmod_strerror(Errno::ENOEXEC as i32),
            "Invalid module format"
        );
        assert_eq!(insmod_strerror(Errno::EEXIST as i32), "File exists");
        assert_eq!(
            modprobe_insert_strerror(Errno::EEXIST as i32),
            "Module already in kernel"
        );
        assert_eq!(with_hint("a".into(), Some("b".into())), "a (b)");
        assert_eq!(with_hint("a".into(), None), "a");
    }
}
