//! The score function's settings from its environment: where the model is, which stores, the
//! card-hash secret, the card-state budget and whether to write EMF lines.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use fraud_core::card_key::{CardHasher, MIN_SECRET_LEN};
use fraud_lambda::{SettingsError, Vars};
use fraud_service::config::{
    CardHashSecret, Config, DEFAULT_STORE_BUDGET_MS, ObjectLocation, Stores,
};

/// `Config` from the process environment.
pub fn from_env() -> Result<Config, SettingsError> {
    read(Vars::from_env())
}

/// `Config` from an explicit map (tests, the end-to-end flow).
pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, SettingsError> {
    read(Vars::from_map(vars.clone()))
}

fn read(mut vars: Vars) -> Result<Config, SettingsError> {
    let stores = stores(&mut vars);
    let model = model(&mut vars);
    let policy = policy(&mut vars);
    let secret = secret(&mut vars);
    let budget = vars.parsed(
        "STORE_BUDGET_MS",
        DEFAULT_STORE_BUDGET_MS,
        "milliseconds, 1 to 10000",
        |text| text.parse().ok().filter(|ms| (1..=10_000).contains(ms)),
    );
    let on_lambda = vars.get("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let emit_emf = vars.flag("EMIT_METRICS", on_lambda);
    let config = (|| {
        Some(Config {
            model: model?,
            policy: policy?,
            stores: stores?,
            card_hash_secret: secret?,
            store_budget: Duration::from_millis(budget?),
            emit_emf: emit_emf?,
        })
    })();
    vars.finish(config)
}

/// `STORE_MODE` (`dynamodb`, the default, or `embedded`) and what that mode needs.
fn stores(vars: &mut Vars) -> Option<Stores> {
    #[derive(Clone, Copy)]
    enum Mode {
        DynamoDb,
        Embedded,
    }
    let choices = [("dynamodb", Mode::DynamoDb), ("embedded", Mode::Embedded)];
    match vars.choice("STORE_MODE", Mode::DynamoDb, &choices)? {
        Mode::DynamoDb => {
            let card = vars.required("CARD_STATE_TABLE", "the DynamoDB table of per-card state");
            let log = vars.required("DECISION_LOG_TABLE", "the DynamoDB table of decisions");
            let (card_state_table, decision_log_table) = card.zip(log)?;
            Some(Stores::DynamoDb {
                card_state_table,
                decision_log_table,
            })
        }
        Mode::Embedded => Some(Stores::Embedded {
            decision_log: PathBuf::from(
                vars.get("DECISION_LOG_PATH")
                    .unwrap_or_else(|| "out/decisions.db".into()),
            ),
        }),
    }
}

/// `MODEL_PATH` (a file or `s3://BUCKET/KEY`), else `FRAUD_BUCKET` and `MODEL_KEY`.
fn model(vars: &mut Vars) -> Option<ObjectLocation> {
    if vars.get("MODEL_PATH").is_some() {
        return vars.parsed(
            "MODEL_PATH",
            ObjectLocation::Local(PathBuf::new()),
            "expected a file or s3://BUCKET/KEY",
            ObjectLocation::parse,
        );
    }
    let why = "the model's S3 location; or set MODEL_PATH";
    let bucket = vars.required("FRAUD_BUCKET", why);
    let key = vars.required("MODEL_KEY", why);
    let (bucket, key) = bucket.zip(key)?;
    Some(ObjectLocation::S3 { bucket, key })
}

/// `POLICY_PATH` (a file or `s3://BUCKET/KEY`), else `POLICY_KEY` in `FRAUD_BUCKET` (usually
/// `policies/active.json`), else none: the model's threshold decides. `Some(None)` is "no policy".
fn policy(vars: &mut Vars) -> Option<Option<ObjectLocation>> {
    if vars.get("POLICY_PATH").is_some() {
        return vars
            .parsed(
                "POLICY_PATH",
                ObjectLocation::Local(PathBuf::new()),
                "expected a file or s3://BUCKET/KEY",
                ObjectLocation::parse,
            )
            .map(Some);
    }
    let Some(key) = vars.get("POLICY_KEY") else {
        return Some(None);
    };
    let bucket = vars.required("FRAUD_BUCKET", "the bucket POLICY_KEY is in")?;
    Some(Some(ObjectLocation::S3 { bucket, key }))
}

/// `CARD_HASH_SECRET_ARN` (on AWS: the secret is read at start-up, never put in the
/// environment), else `CARD_HASH_SECRET` (local runs), refused when the hasher would refuse it.
fn secret(vars: &mut Vars) -> Option<CardHashSecret> {
    if let Some(arn) = vars.get("CARD_HASH_SECRET_ARN") {
        if !arn.starts_with("arn:") || !arn.contains(":secretsmanager:") {
            vars.problem(format!(
                "CARD_HASH_SECRET_ARN={arn}: expected the ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
            ));
            return None;
        }
        return Some(CardHashSecret::SecretsManager { arn });
    }
    let secret = vars.required(
        "CARD_HASH_SECRET",
        "the key of the card-number hash; or CARD_HASH_SECRET_ARN",
    )?;
    match CardHasher::new(secret.as_bytes()) {
        Ok(_) => Some(CardHashSecret::Value(secret)),
        Err(e) => {
            vars.problem(format!(
                "CARD_HASH_SECRET has {} bytes; at least {MIN_SECRET_LEN} are needed",
                e.len
            ));
            None
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
        let err = from_vars(&vars(&[])).unwrap_err().to_string();
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
        let c = from_vars(&vars(&[
            ("FRAUD_BUCKET", "b"),
            ("MODEL_KEY", "models/champion.json"),
            ("CARD_STATE_TABLE", "cards"),
            ("DECISION_LOG_TABLE", "decisions"),
            ("CARD_HASH_SECRET", "0123456789abcdef0123"),
        ]))
        .unwrap();
        assert_eq!(
            c.model,
            ObjectLocation::S3 {
                bucket: "b".into(),
                key: "models/champion.json".into()
            }
        );
        assert_eq!(c.store_budget, Duration::from_millis(50));
        assert!(matches!(c.stores, Stores::DynamoDb { .. }));
    }

    #[test]
    fn the_secret_is_named_by_arn_on_aws_and_a_bad_arn_is_refused() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:card-hash-AbCdEf";
        let base = [("STORE_MODE", "embedded"), ("MODEL_PATH", "m.bin")];
        let c = from_vars(&vars(&[base[0], base[1], ("CARD_HASH_SECRET_ARN", arn)])).unwrap();
        assert_eq!(
            c.card_hash_secret,
            CardHashSecret::SecretsManager { arn: arn.into() }
        );
        assert!(!format!("{c:?}").contains("0123456789abcdef0123"));
        let c = from_vars(&vars(&[
            base[0],
            base[1],
            ("CARD_HASH_SECRET", "0123456789abcdef0123"),
        ]))
        .unwrap();
        assert!(
            !format!("{c:?}").contains("0123456789abcdef0123"),
            "the value is never printed"
        );
        let err = from_vars(&vars(&[
            base[0],
            base[1],
            ("CARD_HASH_SECRET_ARN", "card-hash"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("CARD_HASH_SECRET_ARN=card-hash"), "{err}");
    }

    #[test]
    fn invalid_values_are_named() {
        let err = from_vars(&vars(&[
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
        let err = from_vars(&vars(&[("STORE_MODE", "redis")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("STORE_MODE=\"redis\""), "{err}");
        let err = from_vars(&vars(&[("MODEL_PATH", "s3://bucket-only")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MODEL_PATH=\"s3://bucket-only\""), "{err}");
    }

    #[test]
    fn model_path_may_name_an_s3_object() {
        let c = from_vars(&vars(&[
            ("STORE_MODE", "embedded"),
            ("MODEL_PATH", "s3://fraud-local/models/champion.json"),
            ("CARD_HASH_SECRET", "0123456789abcdef0123"),
        ]))
        .unwrap();
        assert_eq!(
            c.model,
            ObjectLocation::S3 {
                bucket: "fraud-local".into(),
                key: "models/champion.json".into()
            }
        );
    }

    #[test]
    fn the_policy_comes_from_policy_path_or_policy_key_in_the_bucket() {
        let base = [
            ("STORE_MODE", "embedded"),
            ("MODEL_PATH", "m.bin"),
            ("CARD_HASH_SECRET", "0123456789abcdef0123"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            from_vars(&vars(&pairs))
        };
        assert_eq!(with(&[]).unwrap().policy, None);
        assert_eq!(
            with(&[("POLICY_PATH", "p/policies/active.json")])
                .unwrap()
                .policy,
            Some(ObjectLocation::Local("p/policies/active.json".into()))
        );
        assert_eq!(
            with(&[
                ("FRAUD_BUCKET", "b"),
                ("POLICY_KEY", "policies/active.json")
            ])
            .unwrap()
            .policy,
            Some(ObjectLocation::S3 {
                bucket: "b".into(),
                key: "policies/active.json".into()
            })
        );
        let err = with(&[("POLICY_KEY", "policies/active.json")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("FRAUD_BUCKET is not set (the bucket POLICY_KEY is in)"),
            "{err}"
        );
        let err = with(&[("POLICY_PATH", "s3://only")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("POLICY_PATH=\"s3://only\""), "{err}");
    }
}
