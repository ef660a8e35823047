//! fraud-lambda: what the four Lambda functions share and nothing else uses: CloudWatch EMF
//! metric lines. The `fraud` CLI never depends on this crate.

pub mod emf;
