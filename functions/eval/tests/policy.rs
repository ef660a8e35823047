//! The eval function backtests the active decision policy on every labelled file: backtest.json
//! beside the metrics, the policy's section in the report, and a policy it cannot use refused.

use std::path::Path;
use std::sync::Arc;

use eval::{Settings, handle};
use fraud_core::card_key::CardHasher;
use fraud_core::registry::promote;
use fraud_embedded::LocalObjectStore;
use fraud_policy::{ACTIVE_POLICY_KEY, BacktestReport, Policy, publish_policy};
use fraud_testkit::{fixture_json, simulated_bucket};
use serde_json::json;

fn bucket() -> tempfile::TempDir {
    simulated_bucket(
        40,
        5,
        &[
            ("fraudTrain.csv", "training"),
            ("fraudTest.csv", "eval/incoming"),
        ],
    )
}

async fn trained(dir: &Path) -> Arc<LocalObjectStore> {
    let store = Arc::new(LocalObjectStore::new(dir));
    let request = json!({"train_key": "training/fraudTrain.csv", "params": {"iterations": 40}});
    let version = train::handle(store.clone(), request).await.unwrap()[0]
        .model_version
        .clone();
    promote(store.as_ref(), &version).await.unwrap();
    store
}

fn policy(extra_lists: serde_json::Value) -> Policy {
    let document = json!({
        "schema_version": 1,
        "version": "eval-test",
        "thresholds": {"deny": 0.5, "review": 0.05},
        "lists": extra_lists,
        "rules": [{"name": "large-net", "outcome": "review", "when": "amt > 300.0 && category in [\"shopping_net\", \"misc_net\"]"}]
    });
    Policy::from_json(document.to_string().as_bytes(), "test").unwrap()
}

fn settings() -> Settings {
    Settings {
        policy_key: Some(ACTIVE_POLICY_KEY.into()),
        ..Settings::default()
    }
}

#[tokio::test]
async fn a_labelled_file_gets_the_active_policys_backtest_and_report_section() {
    let dir = bucket();
    let store = trained(dir.path()).await;
    publish_policy(store.as_ref(), &policy(json!({})))
        .await
        .unwrap();
    let out = handle(
        store.as_ref(),
        &Default::default(),
        &settings(),
        fixture_json(env!("CARGO_MANIFEST_DIR"), "s3_put_eval.json"),
    )
    .await
    .unwrap();
    let e = &out[0];
    let backtest: BacktestReport =
        serde_json::from_slice(&std::fs::read(dir.path().join(&e.outputs["backtest"])).unwrap())
            .unwrap();
    assert_eq!(backtest.policy_version, "eval-test");
    assert_eq!(backtest.policy.transactions, e.rows);
    // The model-only column against the predictions file, counted here.
    let predictions = std::fs::read_to_string(dir.path().join(&e.outputs["predictions"])).unwrap();
    let data = std::fs::read_to_string(dir.path().join("eval/incoming/fraudTest.csv")).unwrap();
    let flagged_good = predictions
        .lines()
        .skip(1)
        .zip(data.lines().skip(1))
        .filter(|(p, row)| p.ends_with(",1") && row.trim_end().ends_with(",0"))
        .count() as u64;
    assert_eq!(backtest.model_only.false_declines, flagged_good);
    let decided: u64 = backtest.by_rule.iter().map(|r| r.transactions).sum();
    assert_eq!(decided, e.rows);
    let html = std::fs::read_to_string(dir.path().join(&e.outputs["report"])).unwrap();
    assert!(
        html.contains("<h2>Decision policy backtest</h2>") && html.contains("<td>large-net</td>")
    );
}

#[tokio::test]
async fn a_policy_listing_cards_needs_the_secret_and_a_missing_policy_is_named() {
    let dir = bucket();
    let store = trained(dir.path()).await;
    let event = || fixture_json(env!("CARGO_MANIFEST_DIR"), "s3_put_eval.json");
    let err = handle(store.as_ref(), &Default::default(), &settings(), event())
        .await
        .unwrap_err();
    assert!(!err.retryable());
    assert!(
        err.to_string().contains("policies/active.json") && err.to_string().contains("not found"),
        "{err}"
    );

    let hasher = CardHasher::new(b"eval-test-secret-0123456789").unwrap();
    let cards = json!({"block": {"cards": [hasher.key(4_000_000_000_000_002).as_str()]}});
    publish_policy(store.as_ref(), &policy(cards))
        .await
        .unwrap();
    let err = handle(store.as_ref(), &Default::default(), &settings(), event())
        .await
        .unwrap_err();
    assert!(!err.retryable());
    assert!(err.to_string().contains("CARD_HASH_SECRET_ARN"), "{err}");
    let with_secret = Settings {
        card_hasher: Some(hasher),
        ..settings()
    };
    let out = handle(store.as_ref(), &Default::default(), &with_secret, event())
        .await
        .unwrap();
    assert!(out[0].outputs.contains_key("backtest"));
}
