//! What the scoring service needs to start: the model's location, the stores, the card-hash
//! secret. The score function reads it from its environment (its `settings` module).

use std::path::PathBuf;
use std::time::Duration;

/// Where the model or the policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectLocation {
    /// `MODEL_KEY` in `FRAUD_BUCKET`: the artifact, or a pointer object such as
    /// `models/champion.json` holding the artifact's key.
    S3 { bucket: String, key: String },
    /// `MODEL_PATH`: a local artifact (or pointer) file. (`MODEL_PATH=s3://BUCKET/KEY` is the
    /// S3 form, handy where `MODEL_PATH` is already set, as under `cargo lambda watch`.)
    Local(PathBuf),
}

/// Where card state and decisions live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stores {
    /// DynamoDB tables (the AWS deployment).
    DynamoDb {
        card_state_table: String,
        decision_log_table: String,
    },
    /// In-process card state and a decision log database file (`cargo lambda watch`, tests).
    Embedded { decision_log: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub model: ObjectLocation,
    /// The decision policy; without one, the model's threshold alone decides.
    pub policy: Option<ObjectLocation>,
    pub stores: Stores,
    pub card_hash_secret: CardHashSecret,
    /// Time the card-state store may take before the transaction is scored without history.
    pub store_budget: Duration,
    /// CloudWatch EMF metric lines on stdout: `EMIT_METRICS=true|false`, on by default under
    /// Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), off elsewhere.
    pub emit_emf: bool,
}

/// Where the key of the card-number hash comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum CardHashSecret {
    /// Read from Secrets Manager once at start-up (`CARD_HASH_SECRET_ARN`; on AWS).
    SecretsManager { arn: String },
    /// Given as is (`CARD_HASH_SECRET`; local runs and tests).
    Value(String),
}

impl std::fmt::Debug for CardHashSecret {
    /// Never prints the value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardHashSecret::SecretsManager { arn } => write!(f, "SecretsManager({arn})"),
            CardHashSecret::Value(_) => f.write_str("Value(..)"),
        }
    }
}

/// Default card-state time budget.
pub const DEFAULT_STORE_BUDGET_MS: u64 = 50;

impl ObjectLocation {
    /// A model named by a path: `s3://BUCKET/KEY` or a local file; `None` for an `s3://` form
    /// without both parts.
    pub fn parse(path: &str) -> Option<ObjectLocation> {
        let Some(rest) = path.strip_prefix("s3://") else {
            return Some(ObjectLocation::Local(PathBuf::from(path)));
        };
        match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                Some(ObjectLocation::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                })
            }
            _ => None,
        }
    }
}
