//! Configuration from the environment, read in one place; every missing or invalid variable is
//! named in one error.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::StartupError;

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelLocation {
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
    /// In-process card state and a JSON-lines decision log (`cargo lambda watch`, tests).
    Embedded { decision_log: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub model: ModelLocation,
    pub stores: Stores,
    pub card_hash_secret: String,
    /// Time the card-state store may take before the transaction is scored without history.
    pub store_budget: Duration,
    /// CloudWatch EMF metric lines on stdout: `EMIT_METRICS=true|false`, on by default under
    /// Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), off elsewhere.
    pub emit_metrics: bool,
}

/// Default card-state time budget.
pub const DEFAULT_STORE_BUDGET_MS: u64 = 50;

impl Config {
    pub fn from_env() -> Result<Self, StartupError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// `from_env` over an explicit map (tests).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, StartupError> {
        let problems = std::cell::RefCell::new(Vec::new());
        let problem = |text: String| problems.borrow_mut().push(text);
        let get = |name: &str| {
            vars.get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &str, why: &str| {
            get(name).or_else(|| {
                problem(format!("{name} is not set ({why})"));
                None
            })
        };
        let mode = get("STORE_MODE").unwrap_or_else(|| "dynamodb".into());
        let stores = match mode.as_str() {
            "dynamodb" => {
                let card = required("CARD_STATE_TABLE", "the DynamoDB table of per-card state");
                let log = required("DECISION_LOG_TABLE", "the DynamoDB table of decisions");
                card.zip(log)
                    .map(|(card_state_table, decision_log_table)| Stores::DynamoDb {
                        card_state_table,
                        decision_log_table,
                    })
            }
            "embedded" => Some(Stores::Embedded {
                decision_log: PathBuf::from(
                    get("DECISION_LOG_PATH").unwrap_or_else(|| "out/decisions.jsonl".into()),
                ),
            }),
            other => {
                problem(format!(
                    "STORE_MODE={other:?} is invalid (expected dynamodb or embedded)"
                ));
                None
            }
        };
        let model = match (get("MODEL_PATH"), get("FRAUD_BUCKET"), get("MODEL_KEY")) {
            (Some(path), _, _) => match path.strip_prefix("s3://").map(|r| r.split_once('/')) {
                None => Some(ModelLocation::Local(PathBuf::from(path))),
                Some(Some((bucket, key))) if !bucket.is_empty() && !key.is_empty() => {
                    Some(ModelLocation::S3 {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    })
                }
                Some(_) => {
                    problem(format!(
                        "MODEL_PATH={path:?} is invalid (expected a file or s3://BUCKET/KEY)"
                    ));
                    None
                }
            },
            (None, Some(bucket), Some(key)) => Some(ModelLocation::S3 { bucket, key }),
            (None, bucket, key) => {
                for (name, value) in [("FRAUD_BUCKET", bucket), ("MODEL_KEY", key)] {
                    if value.is_none() {
                        problem(format!(
                            "{name} is not set (the model's S3 location; or set MODEL_PATH)"
                        ));
                    }
                }
                None
            }
        };
        let secret = required("CARD_HASH_SECRET", "the key of the card-number hash");
        if let Some(s) = &secret
            && s.len() < fraud_core::card_key::MIN_SECRET_LEN
        {
            problem(format!(
                "CARD_HASH_SECRET has {} bytes; at least {} are needed",
                s.len(),
                fraud_core::card_key::MIN_SECRET_LEN
            ));
        }
        let budget = match get("STORE_BUDGET_MS") {
            None => Some(DEFAULT_STORE_BUDGET_MS),
            Some(text) => match text.parse::<u64>() {
                Ok(ms) if (1..=10_000).contains(&ms) => Some(ms),
                _ => {
                    problem(format!(
                        "STORE_BUDGET_MS={text:?} is invalid (milliseconds, 1 to 10000)"
                    ));
                    None
                }
            },
        };
        let emit_metrics = match get("EMIT_METRICS").as_deref() {
            None => get("AWS_LAMBDA_FUNCTION_NAME").is_some(),
            Some("true" | "1") => true,
            Some("false" | "0") => false,
            Some(other) => {
                problem(format!("EMIT_METRICS={other:?} is invalid (true or false)"));
                false
            }
        };
        let problems = problems.into_inner();
        match (model, stores, secret, budget) {
            (Some(model), Some(stores), Some(card_hash_secret), Some(ms))
                if problems.is_empty() =>
            {
                Ok(Config {
                    model,
                    stores,
                    card_hash_secret,
                    store_budget: Duration::from_millis(ms),
                    emit_metrics,
                })
            }
            _ => Err(StartupError::Config(problems.join("; "))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_every_missing_variable_at_once() {
        let err = Config::from_vars(&vars(&[])).unwrap_err().to_string();
        for name in [
            "CARD_STATE_TABLE",
            "DECISION_LOG_TABLE",
            "FRAUD_BUCKET",
            "MODEL_KEY",
            "CARD_HASH_SECRET",
        ] {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
    }

    #[test]
    fn reads_the_aws_deployment() {
        let c = Config::from_vars(&vars(&[
            ("FRAUD_BUCKET", "b"),
            ("MODEL_KEY", "models/champion.json"),
            ("CARD_STATE_TABLE", "cards"),
            ("DECISION_LOG_TABLE", "decisions"),
            ("CARD_HASH_SECRET", "0123456789abcdef0123"),
        ]))
        .unwrap();
        assert_eq!(
            c.model,
            ModelLocation::S3 {
                bucket: "b".into(),
                key: "models/champion.json".into()
            }
        );
        assert_eq!(c.store_budget, Duration::from_millis(50));
        assert!(matches!(c.stores, Stores::DynamoDb { .. }));
    }

    #[test]
    fn invalid_values_are_named() {
        let err = Config::from_vars(&vars(&[
            ("STORE_MODE", "embedded"),
            ("MODEL_PATH", "m.bin"),
            ("CARD_HASH_SECRET", "short"),
            ("STORE_BUDGET_MS", "soon"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("CARD_HASH_SECRET has 5 bytes")
                && err.contains("STORE_BUDGET_MS=\"soon\""),
            "{err}"
        );
        let err = Config::from_vars(&vars(&[("STORE_MODE", "redis")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("STORE_MODE=\"redis\""), "{err}");
        let err = Config::from_vars(&vars(&[("MODEL_PATH", "s3://bucket-only")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MODEL_PATH=\"s3://bucket-only\""), "{err}");
    }

    #[test]
    fn model_path_may_name_an_s3_object() {
        let c = Config::from_vars(&vars(&[
            ("STORE_MODE", "embedded"),
            ("MODEL_PATH", "s3://fraud-local/models/champion.json"),
            ("CARD_HASH_SECRET", "0123456789abcdef0123"),
        ]))
        .unwrap();
        assert_eq!(
            c.model,
            ModelLocation::S3 {
                bucket: "fraud-local".into(),
                key: "models/champion.json".into()
            }
        );
    }
}
