//! Placeholder: kmod binary index (being written).
/// Placeholder error.
#[derive(Debug, thiserror::Error)]
#[error("index error")]
pub struct IndexError;
