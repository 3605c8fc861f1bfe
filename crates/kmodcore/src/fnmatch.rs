//! Placeholder: shell wildcard matching (being written).
