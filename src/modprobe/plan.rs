//! `modprobe --show-depends --json`: the load plan as one JSON document (an rkmod extension;
//! the field table is JSON OUTPUT in modprobe(8)).
//!
//! The document holds what the text form prints, step for step: for each request that was
//! found, the modules it would load in load order (dependencies and pre-softdeps first), each
//! as the file it would insert, the install command it would run, or a builtin module. Names,
//! paths, options and commands are bytes; one that is not UTF-8 is shown with U+FFFD.

use kmodcore::resolve::probe::Shown;
use serde::Serialize;

use crate::json::text;

/// The whole `modprobe --show-depends --json` document.
#[derive(Serialize, Debug, Default)]
pub(super) struct PlanDocument {
    /// One object per request (argument) that was found, in command-line order.
    pub(super) requests: Vec<Request>,
}

/// One request and its plan.
#[derive(Serialize, Debug)]
pub(super) struct Request {
    /// The argument as given: a module name, an alias or a path.
    request: String,
    /// The steps, in the order they would run.
    steps: Vec<Step>,
}

impl Request {
    /// A request with no steps yet.
    pub(super) fn new(request: &[u8]) -> Request {
        Request {
            request: text(request),
            steps: Vec::new(),
        }
    }

    /// Adds the step of one shown line.
    pub(super) fn push(&mut self, shown: &Shown) {
        if !matches!(shown, Shown::NoFile { .. }) {
            self.steps.push(step(shown));
        }
    }
}

/// One step of a plan. Every member is always present.
#[derive(Serialize, Debug, PartialEq)]
struct Step {
    /// `insmod`, `install` or `builtin` (`rmmod` and `remove` for removals).
    action: &'static str,
    /// The module.
    module: String,
    /// The file `insmod` would insert; null for the other actions.
    path: Option<String>,
    /// The options the module would get (configured ones, then the command line's); empty
    /// when none, and for `builtin`, `rmmod` and `remove`.
    options: String,
    /// The install (or remove) command as configured; null for the other actions.
    command: Option<String>,
    /// Whether the module is built into the kernel (the `builtin` action).
    builtin: bool,
}

/// The step of one line `--show-depends` prints.
fn step(shown: &Shown) -> Step {
    let plain = |action, module: &[u8]| Step {
        action,
        module: text(module),
        path: None,
        options: String::new(),
        command: None,
        builtin: false,
    };
    match shown {
        Shown::Insmod {
            name,
            path,
            options,
            ..
        } => Step {
            path: Some(text(path)),
            options: text(options),
            ..plain("insmod", name)
        },
        Shown::Install {
            name,
            command,
            options,
            ..
        } => Step {
            command: Some(text(command)),
            options: text(options),
            ..plain("install", name)
        },
        Shown::Builtin { name, .. } => Step {
            builtin: true,
            ..plain("builtin", name)
        },
        Shown::Rmmod { name } => plain("rmmod", name),
        Shown::NoFile { name, .. } => plain("none", name),
        Shown::Remove { command } => Step {
            command: Some(text(command)),
            ..plain("remove", b"")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::to_line;

    #[test]
    fn each_kind_of_step() {
        let dir = kmodcore::moddir::ModuleDir::new("/nonexistent");
        let config = kmodcore::config::Config::new();
        let mut resolver = kmodcore::resolve::Resolver::new(&dir, &config);
        let mut module = |name: &[u8]| resolver.module(name).unwrap();
        let mut request = Request::new(b"usb-storage");
        request.push(&Shown::Insmod {
            module: module(b"usbcore"),
            name: b"usbcore".to_vec(),
            path: b"/lib/modules/6.1/kernel/usbcore.ko".to_vec(),
            options: b"autosuspend=5".to_vec(),
        });
        request.push(&Shown::Install {
            module: module(b"scsi_mod"),
            name: b"scsi_mod".to_vec(),
            command: b"/bin/true $CMDLINE_OPTS".to_vec(),
            options: Vec::new(),
        });
        request.push(&Shown::Builtin {
            module: module(b"crc32c"),
            name: b"crc32c".to_vec(),
            options: Vec::new(),
        });
        let document = PlanDocument {
            requests: vec![request],
        };
        assert_eq!(
            to_line(&document),
            concat!(
                r#"{"requests":[{"request":"usb-storage","steps":["#,
                r#"{"action":"insmod","module":"usbcore","path":"/lib/modules/6.1/kernel/usbcore.ko","options":"autosuspend=5","command":null,"builtin":false},"#,
                r#"{"action":"install","module":"scsi_mod","path":null,"options":"","command":"/bin/true $CMDLINE_OPTS","builtin":false},"#,
                r#"{"action":"builtin","module":"crc32c","path":null,"options":"","command":null,"builtin":true}]}]}"#
            )
        );
    }
}
