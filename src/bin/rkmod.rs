//! The rkmod multicall binary: dispatches on the name it was called by (a link named
//! `modprobe`, `modinfo`, ...) or, called as `rkmod`, on its first argument.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::Path;

fn usage() -> String {
    let mut text = String::from(
        "rkmod: the Linux kernel module tools, in Rust\n\nUsage: rkmod TOOL [ARGS...]\n       TOOL [ARGS...]   (called through a link named after the tool)\n\nTools:\n",
    );
    for (name, about) in rkmod::TOOLS {
        text.push_str(&format!("  {name:<10}{about}\n"));
    }
    text.push_str("\nrkmod --version prints the version; TOOL --help shows a tool's options.\n");
    text.push_str("rkmod --install-links [--force] DIR makes DIR/TOOL links to this binary.\n");
    text
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let called_as = args
        .first()
        .map(Path::new)
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if called_as != "rkmod" {
        if let Some(code) = rkmod::run_tool(&called_as, args.clone()) {
            std::process::exit(code);
        }
    }
    let Some(first) = args.get(1).map(|a| a.to_string_lossy().into_owned()) else {
        eprint!("{}", usage());
        std::process::exit(1);
    };
    match first.as_str() {
        "-h" | "--help" | "help" => {
            print!("{}", usage());
            std::process::exit(0);
        }
        "-V" | "--version" => {
            println!("{}", rkmod::cli::version_text());
            std::process::exit(0);
        }
        "--install-links" => {
            let rest: Vec<OsString> = args.iter().skip(2).cloned().collect();
            std::process::exit(rkmod::links::run(&rest));
        }
        _ => {}
    }
    match rkmod::run_tool(&first, args.into_iter().skip(1).collect()) {
        Some(code) => std::process::exit(code),
        None => {
            eprintln!("rkmod: unknown tool '{first}'; run 'rkmod --help' for the list");
            std::process::exit(1);
        }
    }
}
