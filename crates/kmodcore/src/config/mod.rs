//! Placeholder: configuration (being written).
