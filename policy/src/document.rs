//! The policy document as the fraud team writes it (JSON, `schema_version` 1). Unknown fields
//! are refused, so a misspelt key never silently does nothing.

use fraud_core::ports::Outcome;
use serde::{Deserialize, Serialize};

use crate::fit::{FalseDeclineCost, Figures};

/// The only document layout this build reads.
pub const SCHEMA_VERSION: u32 = 1;

/// A decision policy: lists, then rules in order, then the thresholds; the first match decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    pub schema_version: u32,
    /// Names this policy in answers, the decision log and `policies/<version>.json`.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub thresholds: Thresholds,
    #[serde(default)]
    pub lists: Lists,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// What `fraud policy fit` expected of the policy on the validation slice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<ExpectedFigures>,
}

/// Deny at or above `deny`; review at or above `review` (absent: no review band).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub deny: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<f64>,
}

/// The allow list (approve whatever the score) and the block list (deny).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lists {
    #[serde(default)]
    pub allow: ListEntries,
    #[serde(default)]
    pub block: ListEntries,
}

/// One list's entries by kind. Cards are card keys (the keyed hash of the card number, from
/// `fraud policy card-key`), never card numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListEntries {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merchants: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zips: Vec<u32>,
}

/// A named condition (CEL over the transaction, its features and `score`) and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    pub when: String,
    pub outcome: Outcome,
}

/// What `fraud policy fit` measured on the slice it fitted the thresholds on, and the prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFigures {
    /// The rows (e.g. the validation slice of a training file).
    pub data: String,
    pub model_version: String,
    pub false_decline_cost: FalseDeclineCost,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_cost: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_rate_max: Option<f64>,
    /// The fitted thresholds on those rows.
    pub figures: Figures,
    /// The model's own threshold on the same rows, at the same prices.
    pub model_threshold: ThresholdFigures,
    /// The F1-maximising threshold on the same rows, at the same prices.
    pub f1_threshold: ThresholdFigures,
}

/// A single deny threshold (no review) and its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdFigures {
    pub threshold: f64,
    pub figures: Figures,
}

impl ListEntries {
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
            && self.merchants.is_empty()
            && self.categories.is_empty()
            && self.states.is_empty()
            && self.zips.is_empty()
    }
}
