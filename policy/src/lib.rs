//! The fraud team's decision policy: allow and block lists, rules in CEL and two thresholds turn
//! the model's score into `approve`, `review` or `deny`, changed without retraining. Used by the
//! scoring service, `fraud backtest` and the eval function, so all three decide alike.

mod backtest;
mod document;
mod fields;
mod fit;
mod policy;
mod store;

pub use backtest::{Backtest, BacktestReport, RuleFigures};
pub use document::{
    ExpectedFigures, ListEntries, Lists, PolicyDocument, RuleSpec, SCHEMA_VERSION,
    ThresholdFigures, Thresholds,
};
pub use fields::{PolicyInput, field_names};
pub use fit::{Costs, FalseDeclineCost, Figures, Fitted, Tally, figures, fit_thresholds};
pub use policy::{MODEL_THRESHOLD_VERSION, Policy, THRESHOLD, Verdict};
pub use store::{ACTIVE_POLICY_KEY, PolicyPointer, load_policy, policy_key, publish_policy};

/// A policy that cannot be used, and where it came from.
#[derive(Debug, thiserror::Error)]
#[error("policy {origin}: {problem}")]
pub struct PolicyError {
    /// The file or `s3://` location read.
    pub origin: String,
    #[source]
    pub problem: Problem,
}

impl PolicyError {
    pub fn new(origin: &str, problem: Problem) -> Self {
        PolicyError {
            origin: origin.to_owned(),
            problem,
        }
    }
}

/// What is wrong with a policy document.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("not a policy document: {0}")]
    Json(#[from] serde_json::Error),
    #[error("schema_version {found} is not read by this build (it reads {SCHEMA_VERSION})")]
    Schema { found: u32 },
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    #[error("{0}")]
    Store(#[source] fraud_core::ports::StoreError),
    #[error("rule {name:?} (rules[{index}]) {reason}")]
    Rule {
        name: String,
        index: usize,
        reason: String,
    },
}

#[cfg(test)]
mod tests;
