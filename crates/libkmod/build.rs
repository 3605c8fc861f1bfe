// SPDX-License-Identifier: LGPL-2.1-or-later
//! Builds the C half of the log forwarding (src/log_forward.c): Rust cannot make a va_list.

fn main() {
    println!("cargo:rerun-if-changed=src/log_forward.c");
    cc::Build::new()
        .file("src/log_forward.c")
        .warnings(true)
        .compile("kmod_log_forward");
}
