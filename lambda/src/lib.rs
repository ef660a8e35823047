//! fraud-lambda: what the Lambda functions share and nothing else uses: typed S3 notifications
//! ([`s3`]), the one error-to-`Diagnostic` mapping ([`errors`]) and CloudWatch EMF metric lines
//! ([`emf`]). The `fraud` CLI never depends on this crate.

pub mod emf;
pub mod errors;
pub mod s3;

pub use errors::{FunctionError, diagnostic};
