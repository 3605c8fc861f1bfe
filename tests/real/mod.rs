//! The compatibility suite on real Debian module trees: kmod and rkmod run side by side.
//!
//! Needs the cache that `scripts/real-trees.sh` fills. Outside CI a missing cache is a loud
//! skip; under CI it is a failure.

mod depmod;
mod depmod_cache;
mod libkmod;
mod modinfo;
mod modinfo_json;
mod modprobe;
mod verify;
