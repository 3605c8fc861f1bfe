//! Module files.
pub mod signature;
