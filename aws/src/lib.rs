//! AWS adapters of the fraud-core ports (placeholder while the crate is written).
