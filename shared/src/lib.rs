//! fraud-core: the transaction schema, the one definition of the features, the models, metrics
//! and the versioned model artifact. No AWS or HTTP dependencies: every front end (the `fraud`
//! CLI, the Lambda functions) is a thin layer over this crate.

pub mod artifact;
pub mod card_key;
pub mod error;
pub mod features;
pub mod metrics;
pub mod model;
pub mod ports;
pub mod reader;
pub mod registry;
pub mod run;
pub mod schema;
pub mod score;
pub mod stats;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod train;

pub use artifact::Artifact;
pub use error::{CoreError, Result, UnknownName};
pub use features::{FEATURE_NAMES, FeatureBuilder, FeatureInput, FeatureVector, N_FEATURES};
pub use model::{Model, ModelKind};
pub use reader::{ReadMode, TransactionReader};
pub use schema::Transaction;
