//! fraud-embedded: the adapters that run the whole product on one machine with no AWS account,
//! behind the same ports (`fraud_core::ports`) as their AWS twins in `fraud-aws`:
//!
//! | port | here | on AWS |
//! |---|---|---|
//! | `ObjectStore` | [`LocalObjectStore`] (a directory) | S3 |
//! | `CardStore` | [`LocalCardStore`] (memory, or a database file) | DynamoDB |
//! | `DecisionLog` | [`LocalDecisionLog`] (a database file), [`MemoryDecisionLog`] | DynamoDB |
//! | `ExperimentTracker` | [`MemoryTracker`] | MLflow (`mlflow-logger`) |

mod cards;
mod database;
mod decisions;
mod journal;
mod objects;
mod tracker;
mod writer;

pub use cards::LocalCardStore;
pub use decisions::{LocalDecisionLog, MemoryDecisionLog};
pub use objects::{LocalObjectStore, load_model_file};
pub use tracker::{MemoryRun, MemoryTracker};

#[cfg(test)]
mod tests;
