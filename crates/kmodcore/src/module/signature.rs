//! Placeholder: module signatures (being written).
