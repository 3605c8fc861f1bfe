//! The generated documentation: a man page for every tool and for the multicall binary, and
//! bash, zsh and fish completions, all rendered from the tools' clap definitions
//! ([`rkmod::commands`], [`rkmod::multicall_command`]) and the `DIFFERENCES` lists.
//!
//! This file is not part of the library, so that clap_mangen and clap_complete never reach
//! the shipped binary. Two crates include it with `#[path]`: the `rkmod-doc` binary, which
//! writes the files into the source tree, and the integration tests (`tests/docs.rs`), which
//! compare them byte for byte with what is committed.
//!
//! The man pages mix clap_mangen's sections (NAME, OPTIONS) with prose written here in roff:
//! the description, the files and environment a tool reads, its exit status, and where it
//! differs from kmod. The hand-written pages ([`HAND_WRITTEN`]) are not generated.

use std::path::PathBuf;

use clap::Command;

/// The regeneration command, printed when a check finds a stale file.
pub const REGENERATE: &str = "cargo run --features doc --bin rkmod-doc";

/// The directories, relative to the repository root, that hold generated files (and, for
/// `man`, the hand-written pages).
pub const GENERATED_DIRS: &[&str] = &["man", "completions"];

/// The hand-written pages, relative to the repository root: never generated, never removed.
pub const HAND_WRITTEN: &[&str] = &["man/modprobe.d.5", "man/depmod.d.5"];

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// Where it belongs, relative to the repository root (`man/modprobe.8`).
    pub path: PathBuf,
    /// Its contents.
    pub bytes: Vec<u8>,
}

/// Every generated file, in a fixed order: the man pages, then the completions.
pub fn generate() -> std::io::Result<Vec<Generated>> {
    let mut pages = Vec::new();
    let mut completions = Vec::new();
    let mut commands = vec![rkmod::multicall_command()];
    commands.extend(rkmod::commands());
    for command in commands {
        let name = command.get_name().to_string();
        pages.push(Generated {
            path: PathBuf::from(format!("man/{name}.8")),
            bytes: man_page(&command)?,
        });
        for (shell, path) in [
            (
                clap_complete::Shell::Bash,
                format!("completions/bash/{name}"),
            ),
            (
                clap_complete::Shell::Zsh,
                format!("completions/zsh/_{name}"),
            ),
            (
                clap_complete::Shell::Fish,
                format!("completions/fish/{name}.fish"),
            ),
        ] {
            let mut bytes = Vec::new();
            clap_complete::generate(shell, &mut command.clone(), &name, &mut bytes);
            completions.push(Generated {
                path: PathBuf::from(path),
                bytes,
            });
        }
    }
    pages.extend(completions);
    Ok(pages)
}

/// The man page of `command` (a tool, or the multicall front).
fn man_page(command: &Command) -> std::io::Result<Vec<u8>> {
    let name = command.get_name().to_string();
    let prose = prose(&name);
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    page.extend_from_slice(PREAMBLE.as_bytes());
    page.extend_from_slice(
        format!(
            ".TH {} 8 \"\" \"rkmod {}\" \"System Administration\"\n",
            name.to_uppercase(),
            env!("CARGO_PKG_VERSION")
        )
        .as_bytes(),
    );
    page.extend_from_slice(&mangen(|w| man.render_name_section(w))?);
    page.extend_from_slice(synopsis(command).as_bytes());
    page.extend_from_slice(b".SH DESCRIPTION\n");
    page.extend_from_slice(prose.description.as_bytes());
    page.extend_from_slice(&mangen(|w| man.render_options_section(w))?);
    for (title, body) in prose.sections {
        page.extend_from_slice(format!(".SH {}\n", heading(title)).as_bytes());
        page.extend_from_slice(body.as_bytes());
    }
    if name == "kmod" {
        page.extend_from_slice(kmod_commands(command)?.as_bytes());
    }
    page.extend_from_slice(b".SH \"EXIT STATUS\"\n");
    page.extend_from_slice(prose.exit_status.as_bytes());
    if let Some(notes) = rkmod::differences(&name) {
        page.extend_from_slice(b".SH \"DIFFERENCES FROM KMOD\"\n");
        for note in notes {
            page.extend_from_slice(b".IP \\(bu 2\n");
            page.extend_from_slice(text(note).as_bytes());
            page.push(b'\n');
        }
    }
    page.extend_from_slice(b".SH \"SEE ALSO\"\n");
    let see_also: Vec<String> = prose
        .see_also
        .iter()
        .filter(|(page, _)| *page != name)
        .map(|(page, section)| format!(".BR {page} ({section})"))
        .collect();
    page.extend_from_slice(see_also.join(",\n").as_bytes());
    page.push(b'\n');
    Ok(page)
}

/// What the roff crate (under clap_mangen) puts at the top of everything it renders: the
/// definition of the apostrophe string it writes as `\*(Aq`. A page needs it once.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// One of clap_mangen's sections, without the preamble.
fn mangen(
    render: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    render(&mut out)?;
    Ok(out
        .strip_prefix(PREAMBLE.as_bytes())
        .map_or(out.clone(), <[u8]>::to_vec))
}

/// A section title for `.SH`: quoted when it has a space.
fn heading(title: &str) -> String {
    if title.contains(' ') {
        format!("\"{title}\"")
    } else {
        title.to_string()
    }
}

/// The SYNOPSIS section, from the usage lines of the clap definition (kmod's own forms, which
/// say more than a list of every option).
fn synopsis(command: &Command) -> String {
    let usage = command.clone().render_usage().to_string();
    let usage = usage.strip_prefix("Usage: ").unwrap_or(&usage);
    let mut out = String::from(".SH SYNOPSIS\n");
    for (i, line) in usage.lines().enumerate() {
        if i > 0 {
            out.push_str(".br\n");
        }
        let line = line.trim();
        let (program, rest) = line.split_once(' ').unwrap_or((line, ""));
        let font = if program.chars().all(|c| c.is_ascii_uppercase()) {
            "I"
        } else {
            "B"
        };
        out.push_str(&format!(
            "\\f{font}{}\\fR {}\n",
            escape(program),
            escape(rest)
        ));
    }
    out
}

/// kmod's COMMANDS section, with the options of `static-nodes` from its clap definition.
fn kmod_commands(command: &Command) -> std::io::Result<String> {
    let mut out = String::from(".SH COMMANDS\n");
    for sub in command.get_subcommands() {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        out.push_str(&format!(".TP\n.B {}\n{}.\n", sub.get_name(), text(&about)));
        match sub.get_name() {
            "list" => {
                out.push_str("It prints what\n.BR lsmod (8)\nprints, and takes the same options.\n")
            }
            "static-nodes" => {
                out.push_str(KMOD_STATIC_NODES);
                let man = clap_mangen::Man::new(sub.clone());
                let options = mangen(|w| man.render_options_section(w))?;
                let options = String::from_utf8_lossy(&options).into_owned();
                let options = options
                    .strip_prefix(".SH OPTIONS\n")
                    .unwrap_or(&options)
                    .to_string();
                out.push_str(".RS\n");
                out.push_str(&options);
                out.push_str(".RE\n");
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Escapes text for a roff text line: backslashes, and hyphens that begin an option
/// (`-a`, `--all`), which must print as minus signs. A line cannot start a request.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => {
                let starts_word = i == 0
                    || chars
                        .get(i.wrapping_sub(1))
                        .is_some_and(|p| " (\"'[|/=".contains(*p));
                let run = chars.iter().skip(i).take_while(|&&d| d == '-').count();
                let option = starts_word
                    && chars
                        .get(i + run)
                        .is_some_and(|n| n.is_ascii_alphanumeric() || "[]".contains(*n));
                if option {
                    // The whole option word: every hyphen in `--show-depends` is a minus.
                    while let Some(&d) = chars.get(i) {
                        if d.is_whitespace() || ",;:)\"'".contains(d) {
                            break;
                        }
                        match d {
                            '-' => out.push_str("\\-"),
                            '\\' => out.push_str("\\e"),
                            _ => out.push(d),
                        }
                        i += 1;
                    }
                    continue;
                }
                out.push('-');
            }
            _ => out.push(c),
        }
        i += 1;
    }
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

/// Plain text (a DIFFERENCES note, a help line) as roff: escaped, with `code` in bold.
fn text(note: &str) -> String {
    let mut out = String::new();
    for (i, part) in note.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("\\fB");
            for c in part.chars() {
                match c {
                    '\\' => out.push_str("\\e"),
                    '-' => out.push_str("\\-"),
                    _ => out.push(c),
                }
            }
            out.push_str("\\fR");
        } else {
            out.push_str(&escape(part));
        }
    }
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

/// The prose of one page, in roff.
struct Prose {
    description: &'static str,
    /// Further sections after OPTIONS: title, body.
    sections: Vec<(&'static str, String)>,
    exit_status: &'static str,
    /// Pages to refer to: name, section.
    see_also: &'static [(&'static str, &'static str)],
}

const SEE_ALSO_TOOLS: &[(&str, &str)] = &[
    ("rkmod", "8"),
    ("modprobe", "8"),
    ("modinfo", "8"),
    ("depmod", "8"),
    ("insmod", "8"),
    ("rmmod", "8"),
    ("lsmod", "8"),
    ("kmod", "8"),
    ("modprobe.d", "5"),
    ("depmod.d", "5"),
];

const EXIT_0_1: &str = "0 on success, 1 on any failure (kmod's tools use no other codes).\n";

fn prose(name: &str) -> Prose {
    match name {
        "rkmod" => Prose {
            description: RKMOD_DESCRIPTION,
            sections: vec![("TOOLS", rkmod_tools()), ("INSTALLING THE LINKS", RKMOD_LINKS.into())],
            exit_status: "The tool's exit status; for\n.B rkmod\nitself (an unknown tool, \\fB\\-\\-install\\-links\\fR with a file in the way or failing), 1 on failure and 0 otherwise.\n",
            see_also: SEE_ALSO_TOOLS,
        },
        "modinfo" => Prose {
            description: MODINFO_DESCRIPTION,
            sections: vec![("FILES", MODINFO_FILES.into())],
            exit_status: "0 when every argument was shown, 1 when one of them was not found or could not be read (the others are still shown).\n",
            see_also: SEE_ALSO_TOOLS,
        },
        "modprobe" => Prose {
            description: MODPROBE_DESCRIPTION,
            sections: vec![
                ("ENVIRONMENT", MODPROBE_ENVIRONMENT.into()),
                ("FILES", MODPROBE_FILES.into()),
            ],
            exit_status: "0 on success, including a module that is already loaded, builtin, or skipped because it is blacklisted; 1 on any failure. With \\fB\\-a\\fR, 1 when any of the modules failed.\n",
            see_also: SEE_ALSO_TOOLS,
        },
        "depmod" => Prose {
            description: DEPMOD_DESCRIPTION,
            sections: vec![("FILES", DEPMOD_FILES.into())],
            exit_status: "0 on success (a module that cannot be read is reported, but does not change the status); 1 on a bad argument, a dependency cycle, or when the files could not be written, in which case none of them was changed.\n",
            see_also: SEE_ALSO_TOOLS,
        },
        "insmod" => Prose {
            description: INSMOD_DESCRIPTION,
            sections: vec![],
            exit_status: EXIT_0_1,
            see_also: SEE_ALSO_TOOLS,
        },
        "rmmod" => Prose {
            description: RMMOD_DESCRIPTION,
            sections: vec![],
            exit_status: "0 when every module was removed, 1 when any was not (every argument is still tried).\n",
            see_also: SEE_ALSO_TOOLS,
        },
        "lsmod" => Prose {
            description: LSMOD_DESCRIPTION,
            sections: vec![("FILES", LSMOD_FILES.into())],
            exit_status: EXIT_0_1,
            see_also: SEE_ALSO_TOOLS,
        },
        "kmod" => Prose {
            description: KMOD_DESCRIPTION,
            sections: vec![],
            exit_status: EXIT_0_1,
            see_also: SEE_ALSO_TOOLS,
        },
        _ => Prose {
            description: "",
            sections: vec![],
            exit_status: EXIT_0_1,
            see_also: SEE_ALSO_TOOLS,
        },
    }
}

const RKMOD_DESCRIPTION: &str = r#".B rkmod
is a reimplementation of the Linux kernel module tools of kmod:
.BR modinfo ,
.BR modprobe ,
.BR depmod ,
.BR insmod ,
.BR rmmod ,
.B lsmod
and
.B kmod
itself, in one executable.
Each tool takes kmod's options, prints kmod's output and exits with kmod's status, and
.B depmod
writes the same index files, so that rkmod can replace kmod underneath scripts,
initramfs generators and the kernel's own module requests.
.PP
Which tool runs depends on the name the binary is called by: the last component of
.IR argv[0] .
Called through a link named
.BR modprobe ,
it is
.BR modprobe ,
and so on for every tool in the list below.
Called as
.B rkmod
(or by any other name), the first argument names the tool and the remaining arguments go to it, so
.B "rkmod modprobe \-r dummy"
is the same as
.BR "modprobe \-r dummy" .
The tool sees its own name as
.IR argv[0] ,
so messages start with
.B modprobe:
either way.
.PP
Without arguments,
.B rkmod
prints the list of tools on standard error and exits with status 1;
\fB\-h\fR, \fB\-\-help\fR and \fBhelp\fR print it on standard output.
.PP
The binary can be built fully static (see the README), which makes it a single file to copy into an
initramfs, together with its links.
"#;

/// The TOOLS section of rkmod(8), from [`rkmod::TOOLS`].
fn rkmod_tools() -> String {
    let mut out = String::new();
    for (name, about) in rkmod::TOOLS {
        out.push_str(&format!(
            ".TP\n.B {name}\n{} (\\fB{name}\\fR(8))\n",
            text(about)
        ));
    }
    out
}

const RKMOD_LINKS: &str = r#".B rkmod \-\-install\-links
.I DIR
makes
.IR DIR / TOOL
a symbolic link to the running binary for each of the seven tools, creating
.I DIR
if needed, and prints each link it made as
.IR "LINK \-> TARGET" .
When the binary itself lies in
.IR DIR ,
the links are relative
.RB ( "modprobe \-> rkmod" ),
so the directory can be moved or packed into an initramfs as it is; otherwise they hold the
binary's absolute path.
A link that already points at the binary is left as it is.
Any other file of a tool's name is left alone and reported, and the exit status is then 1;
.B \-\-force
replaces such files.
.PP
To install rkmod as the system's module tools:
.PP
.RS
.nf
install \-m 0755 rkmod /usr/sbin/rkmod
/usr/sbin/rkmod \-\-install\-links /usr/sbin
.fi
.RE
.PP
Add
.B \-\-force
to replace kmod's links of the same names.
"#;

const MODINFO_DESCRIPTION: &str = r#".B modinfo
prints what a kernel module says about itself: the fields of its
.B .modinfo
section (license, description, author, aliases, dependencies, parameters, version magic and so on),
its build-id, and its signature.
.PP
Each argument is
.IP \(bu 2
a module file: a path ending in
.BR .ko ,
.BR .ko.gz ,
.B .ko.xz
or
.B .ko.zst
that names a regular file;
.IP \(bu 2
otherwise a name, looked up in the indexes of the module directory
.RI ( /lib/modules/ VERSION ):
a module name, an alias (every module it matches is shown), a
.BI symbol: NAME
request, or a module built into the kernel (shown from
.BR modules.builtin.modinfo ).
With
.BR \-m ,
the argument is only taken as a module name.
.PP
Fields are printed in the order the module stores them, one per line, as the field name and a
colon padded to 16 columns, then the value; a field that occurs several times
.RB ( alias ,
.BR parm )
gets one line each.
A module file starts with its
.B filename:
line; a builtin module with
.BR name: .
.B parm:
lines come last, each with its type from
.B parmtype
in parentheses.
Before them come
.B build\-id:
and, for a signed module,
.BR sig_id ,
.BR signer ,
.BR sig_key ,
.B sig_hashalgo
and
.BR signature .
.PP
.B \-F
.I FIELD
(or its shorthands \fB\-a\fR, \fB\-d\fR, \fB\-l\fR, \fB\-p\fR, \fB\-n\fR) prints only the values of
one field, one per line; \fB\-0\fR ends each value with a NUL byte instead, for
.BR "xargs \-0" .
.PP
Module files are compressed with xz, zstd or gzip or not at all; all three are always supported.
The arguments are read and decoded in parallel, and printed in the order given.
"#;

const MODINFO_FILES: &str = r#".TP
.IR /lib/modules/ VERSION /modules.dep.bin ", " modules.alias.bin ", " modules.symbols.bin
where names, aliases and symbols are looked up;
.TP
.IR /lib/modules/ VERSION /modules.builtin.bin ", " modules.builtin.alias.bin ", " modules.builtin.modinfo
the modules built into the kernel, and their fields.
.PP
.I VERSION
is the running kernel's release
.RB ( "uname \-r" )
unless \fB\-k\fR gives another; \fB\-b\fR puts another root directory in front of
.IR /lib/modules .
The modprobe.d configuration is not read: its aliases do not apply to
.BR modinfo ,
as with kmod.
"#;

const MODPROBE_DESCRIPTION: &str = r#".B modprobe
loads a module into the kernel together with everything it needs, or removes it and what it
no longer needs.
It is what the kernel itself runs, as
.BR "modprobe \-q \-\- NAME" ,
when a device or a feature asks for a module.
.PP
A module is named by its name
.RB ( snd\-hda\-intel
and
.B snd_hda_intel
are the same), by an alias
.RB ( pci:v00008086d0000100Esv*sd*bc*sc*i* ,
.BR fs\-vfat ),
by a
.BI symbol: NAME
request, or by the path of a module file when the argument starts with
.B /
or
.BR ./ .
A name is resolved in this order, and the first source that knows it wins:
.B alias
lines of the configuration (shell wildcards), the module index
.BR modules.dep.bin ,
the symbol index for
.B symbol:
requests, the configuration's
.B install
and
.B remove
lines for exactly that name, the alias index
.B modules.alias.bin
(all matches), and last the modules built into the kernel.
Nothing is ever opened by a path made from a requested name.
.PP
To insert a module,
.B modprobe
loads its dependencies from
.B modules.dep
first, each with its options and soft dependencies (\fBsoftdep\fR \fBpre:\fR modules before it,
\fBpost:\fR modules after it), then the module itself.
A module that is already loaded, or built into the kernel, counts as done.
A module with an
.B install
command runs that shell command instead of being loaded.
The module's options are those of the configuration's
.B options
lines for its name and for the alias it was reached by, then those given on the kernel command line
.RI ( module . param = value ),
then the arguments after the module name.
A blacklisted module is skipped when it was reached through an alias, or whenever
.B \-b
is given; the failure of a soft dependency is ignored, any other failure ends the run.
.PP
With
.BR \-r ,
the module is removed (or its
.B remove
command run), then those of its dependencies that nothing uses any more; soft dependencies are
removed around it.
.B \-\-remove\-holders
first removes the modules that use it, and
.B \-w
keeps trying while it is in use.
.PP
The configuration (\fBmodprobe.d\fR(5)) comes from the directories
.IR /etc/modprobe.d ,
.IR /run/modprobe.d ,
.IR /usr/local/lib/modprobe.d ,
.I /usr/lib/modprobe.d
and
.IR /lib/modprobe.d ,
from the soft and weak dependencies that
.B depmod
collected from the modules, and from the kernel command line.
.B \-c
prints it all, followed by the aliases and symbols of the indexes.
.PP
.B \-\-show\-depends
prints what loading would do, one line per step
.RB ( "insmod PATH OPTIONS" ,
.BR "install COMMAND" ,
or
.B "builtin NAME"
for a module built into the kernel), without looking at what is loaded and without changing anything;
.B \-n
goes through the same steps as a real run but changes nothing, and
.B \-R
prints only the module names an alias stands for.
.B \-\-show\-modversions
and
.B \-\-show\-exports
print the symbol versions a module needs and the symbols it exports.
.PP
Messages go to standard error as
.IR "modprobe: LEVEL: text" ,
or to syslog with
.B \-s
(and when standard error is closed).
.B \-q
silences them;
.B \-v
prints each step as it is taken.
"#;

const MODPROBE_ENVIRONMENT: &str = r#".TP
.B MODPROBE_OPTIONS
options read before those of the command line, split at spaces; for example
.B MODPROBE_OPTIONS=\-qb
makes every modprobe of an initramfs quiet and blacklist-aware.
.B modprobe
passes it on to install and remove commands, with its own \fB\-C\fR, \fB\-q\fR, \fB\-v\fR and \fB\-s\fR
added, so that a
.B modprobe
they run behaves alike.
.TP
.B CMDLINE_OPTS
set for install and remove commands: the module's options.
Each
.B $CMDLINE_OPTS
in the command refers to it (see \fBmodprobe.d\fR(5)).
.TP
.B RKMOD_MODPROBE_DEPTH
how deeply install and remove commands have nested; set by
.B modprobe
for the commands it runs.
"#;

const MODPROBE_FILES: &str = r#".TP
.IR /etc/modprobe.d/*.conf ", " /run/modprobe.d/*.conf ", " /usr/local/lib/modprobe.d/*.conf ", " /usr/lib/modprobe.d/*.conf ", " /lib/modprobe.d/*.conf
the configuration, unless \fB\-C\fR names other files or directories (\fBmodprobe.d\fR(5));
.TP
.IR /lib/modules/ VERSION /modules.*.bin ", " modules.softdep ", " modules.weakdep
the indexes written by \fBdepmod\fR(8), for the running kernel unless \fB\-S\fR names another
release, under the root given by \fB\-d\fR;
.TP
.I /proc/cmdline
module options
.RI ( module . param = value )
and
.BR modprobe.blacklist= ;
.TP
.IR /sys/module/ NAME
whether a module is loaded, builtin or in use;
.TP
.I /sys/module/compression
which compression the kernel decompresses itself: such modules are handed to it as they are,
others are decompressed by
.BR modprobe .
"#;

const DEPMOD_DESCRIPTION: &str = r#".B depmod
reads every module of a kernel's module directory,
.IR /lib/modules/ VERSION ,
works out which modules each one needs from the symbols they export and use, and writes the
files that
.BR modprobe ,
.B modinfo
and libkmod read: modules.dep and its index, the alias, symbol and builtin indexes, the soft
and weak dependencies the modules declare, and the device nodes they provide (see FILES).
.PP
.I VERSION
is the first argument that is not an option, and the running kernel's release without one.
Module files end in
.BR .ko ,
.BR .ko.gz ,
.B .ko.xz
or
.BR .ko.zst ;
directories named
.B build
and
.BR source ,
and those excluded by the configuration, are skipped.
When two files give the same module name, the configuration decides which one counts
(\fBdepmod.d\fR(5)).
Modules are listed in the order of
.BR modules.order ,
then the others; that order is also their priority in the indexes.
With module files after the version, only those files are indexed.
.PP
The output depends only on the modules, so that two runs write the same bytes.
The eleven files are written together: each goes to a temporary file in the module directory
and is synced to disk, and only when all of them are complete are they renamed into place.
A run that fails or is killed leaves the previous set as it was, and the next run completes
or discards what a killed run left.
.PP
.B \-A
does nothing when no module is newer than
.BR modules.dep .
.B \-n
prints the text files on standard output instead of writing anything.
.B \-b
reads the modules from under another root directory (an image being built), and
.B \-o
writes the files under another root.
.B \-E
(a Module.symvers file) or
.B \-F
(a System.map) gives the kernel's own symbols, so that
.B \-e
can report the symbols no module or kernel provides and, with
.BR \-E ,
the symbols whose versions disagree.
.B \-v
prints, for every symbol a module uses, the module that provides it.
"#;

const DEPMOD_FILES: &str = r#"Written to
.IR /lib/modules/ VERSION ,
or to
.IR ROOT / MODULEDIR / VERSION
where
.I ROOT
is given by \fB\-o\fR, else by \fB\-b\fR, and
.I MODULEDIR
by \fB\-m\fR:
.TP
.BR modules.dep ", " modules.dep.bin
each module's path and the modules it needs, most dependent first;
.TP
.BR modules.alias ", " modules.alias.bin
the modules' aliases;
.TP
.BR modules.symbols ", " modules.symbols.bin
which module exports each symbol;
.TP
.BR modules.softdep ", " modules.weakdep
the soft and weak dependencies the modules declare;
.TP
.BR modules.builtin.bin ", " modules.builtin.alias.bin
the modules built into the kernel and their aliases, from
.B modules.builtin
and
.BR modules.builtin.modinfo ;
.TP
.B modules.devname
device nodes to create before their module is loaded (read by
.BR "kmod static\-nodes" ).
.PP
Read from the module directory
.RI ( /lib/modules/ VERSION
under the root given by \fB\-b\fR):
.BR modules.order ,
.BR modules.builtin ,
.BR modules.builtin.modinfo .
The configuration is read from
.IR /etc/depmod.d ,
.IR /run/depmod.d ,
.IR /usr/local/lib/depmod.d ,
.I /usr/lib/depmod.d
and
.I /lib/depmod.d
unless \fB\-C\fR names other paths; \fB\-b\fR does not move them (\fBdepmod.d\fR(5)).
"#;

const INSMOD_DESCRIPTION: &str = r#".B insmod
inserts one module file into the kernel, with the parameters that follow it.
.I FILENAME
is always a path: nothing is looked up by name, no dependency is loaded and no configuration
is read; that is \fBmodprobe\fR(8)'s work.
Parameters are joined into the string the kernel parses, a value containing a space being
quoted.
.PP
A file is handed to the kernel with
.BR finit_module (2)
when it is not compressed, or when it is compressed the way the kernel decompresses modules
itself
.RI ( /sys/module/compression );
otherwise it is decompressed (xz, zstd or gzip) and loaded with
.BR init_module (2).
.B \-f
(or \fB\-\-force\-vermagic\fR and \fB\-\-force\-modversion\fR) asks the kernel to ignore the
module's version magic and symbol versions; a module loaded this way may crash the kernel.
.PP
When the kernel refuses the module, the message gives kmod's words, then what the refusal
most likely means: the module is loaded already, module loading is disabled, the module was
built for another kernel, a symbol it needs is missing, or its signature was rejected.
"#;

const RMMOD_DESCRIPTION: &str = r#".B rmmod
removes modules from the kernel.
Each argument is a module name
.RB ( snd\-dummy
and
.B snd_dummy
are the same), or the path of a module file, which stands for the module of that name.
.PP
Unless forced, a module is checked first: a module built into the kernel, one that is not
loaded and one that is in use (it has holders, or a non-zero use count) are refused with
kmod's messages.
The unload itself never waits for the module to become free.
Every argument is tried, even after one has failed.
.PP
.B \-f
skips the checks and asks the kernel to unload the module even while it is in use or when it has
no exit function; this works only with a kernel built with CONFIG_MODULE_FORCE_UNLOAD, and may
crash it.
To remove a module with the modules it needs, use
.BR "modprobe \-r" .
"#;

const LSMOD_DESCRIPTION: &str = r#".B lsmod
shows the modules loaded in the kernel, one per line, with their size in bytes, their use
count and the modules that use them, under the header
.BR "Module Size Used by" .
The list and its order come from
.IR /proc/modules ;
each module's size, use count and users from
.IR /sys/module/ NAME .
A value that cannot be read is shown as a negative errno, as kmod shows it.
.PP
.B "kmod list"
prints the same.
"#;

const LSMOD_FILES: &str = r#".TP
.I /proc/modules
the loaded modules;
.TP
.IR /sys/module/ NAME /coresize ", " refcnt ", " holders/
each module's size, use count and users.
"#;

const KMOD_DESCRIPTION: &str = r#".B kmod
runs kmod's own commands, given as its first argument (see COMMANDS).
Its options come before the command; everything after the command belongs to it.
.PP
In kmod, the other tools are links to the
.B kmod
binary; in rkmod, they are links to \fBrkmod\fR(8), which also runs
.B kmod
when called by that name.
"#;

const KMOD_STATIC_NODES: &str = r#"reads
.IR /lib/modules/ VERSION /modules.devname
of the running kernel, written by \fBdepmod\fR(8), and prints the device nodes that must exist
before their module is loaded, so that opening the node loads the module.
The formats are
.B human
(the default, for reading),
.B tmpfiles
(lines for \fBtmpfiles.d\fR(5); systemd runs
.B "kmod static\-nodes \-\-format=tmpfiles \-\-output=/run/tmpfiles.d/static\-nodes.conf"
at boot) and
.B devname
(the input format again).
.B \-\-output
creates the file's missing parent directories.
"#;
