//! The decision policy read from S3 (moto) through `policies/active.json`, as the score function
//! reads it at start-up, after `fraud policy publish --to s3://BUCKET` (the same publish call).
//! Needs the moto server scripts/test.sh starts (feature `moto-tests`).
#![cfg(feature = "moto-tests")]

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use fraud_aws::{S3ObjectStore, s3_client, sdk_config};
use fraud_policy::{Policy, publish_policy};
use fraud_service::config::{CardHashSecret, Config, ObjectLocation, Stores};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn policy(version: &str, deny: f64) -> Policy {
    let document = json!({"schema_version": 1, "version": version, "thresholds": {"deny": deny}});
    Policy::from_json(document.to_string().as_bytes(), "test").unwrap()
}

async fn policy_in_force(config: &Config) -> Value {
    let app = fraud_service::app::build(config, None).await.unwrap();
    let response = app
        .oneshot(Request::get("/policy").body(Body::empty()).unwrap())
        .await
        .unwrap();
    serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

#[tokio::test]
async fn the_score_service_reads_the_active_policy_from_s3_through_the_pointer() {
    fraud_testkit::moto::point_sdk_at_moto();
    let aws = sdk_config().await;
    let bucket = format!("policies-{}", fraud_testkit::unique_suffix());
    s3_client(&aws)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let store = S3ObjectStore::new(s3_client(&aws), &bucket);
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        model: ObjectLocation::Local(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/golden/model.bin"),
        ),
        policy: Some(ObjectLocation::S3 {
            bucket: bucket.clone(),
            key: "policies/active.json".into(),
        }),
        stores: Stores::Embedded {
            decision_log: dir.path().join("decisions.db"),
        },
        card_hash_secret: CardHashSecret::Value("moto-policy-secret-0123".into()),
        store_budget: Duration::from_millis(50),
        emit_emf: false,
    };
    // Nothing published yet: start-up stops, naming the pointer.
    let err = fraud_service::app::build(&config, None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!("s3://{bucket}/policies/active.json")),
        "{err}"
    );

    publish_policy(&store, &policy("v1", 0.5)).await.unwrap();
    assert_eq!(policy_in_force(&config).await["version"], "v1");
    // A new version moves the pointer; the next start reads it.
    publish_policy(&store, &policy("v2", 0.6)).await.unwrap();
    let body = policy_in_force(&config).await;
    assert_eq!(
        (
            body["version"].as_str(),
            body["thresholds"]["deny"].as_f64()
        ),
        (Some("v2"), Some(0.6))
    );
    // A pointer naming a version its document does not hold is refused.
    use fraud_core::ports::ObjectStore;
    store
        .put(
            "policies/active.json",
            json!({"key": "policies/v1.json", "version": "v2"})
                .to_string()
                .into_bytes(),
        )
        .await
        .unwrap();
    let err = fraud_service::app::build(&config, None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("names version \"v2\""), "{err}");
}
