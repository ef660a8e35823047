//! The decision policy through the API: each outcome and each kind of rule through `/predict`
//! and `/predict/batch`, checked against an independent reading of the policy; the decision
//! log's fields; `GET /policy`; and a bad policy stopping start-up with its name.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use fraud_core::card_key::CardHasher;
use fraud_core::reader::read_all;
use fraud_core::{ReadMode, Transaction};
use fraud_embedded::{LocalCardStore, LocalObjectStore, MemoryDecisionLog};
use fraud_policy::Policy;
use fraud_service::config::{CardHashSecret, Config, ObjectLocation, Stores};
use fraud_service::model::load_model;
use fraud_service::{ScoreService, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"test-secret-0123456789";
const DENY_AT: f64 = 0.9;
const REVIEW_AT: f64 = 0.05;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn rows() -> Vec<Transaction> {
    read_all(
        &repo("tests/fixtures/kaggle/kaggle_test_sample.csv"),
        ReadMode::Strict,
    )
    .unwrap()
    .0
}

fn card_key(txn: &Transaction) -> String {
    CardHasher::new(SECRET)
        .unwrap()
        .key(txn.cc_num)
        .as_str()
        .to_owned()
}

/// Allows the first row's card, blocks the second row's merchant, sends the third row's amount
/// to review by a rule, and denies at 0.9 with review from 0.05.
fn policy_document(rows: &[Transaction]) -> Value {
    json!({
        "schema_version": 1,
        "version": "test-1",
        "thresholds": {"deny": DENY_AT, "review": REVIEW_AT},
        "lists": {
            "allow": {"cards": [card_key(&rows[0])]},
            "block": {"merchants": [rows[1].merchant]}
        },
        "rules": [
            {"name": "this-amount", "outcome": "review", "when": format!("amt == {:?}", rows[2].amt)},
            {"name": "never", "outcome": "deny", "when": "amt < 0.0"}
        ]
    })
}

/// The outcome and rule the policy above gives `txn` at `probability`, worked out here.
fn expected(rows: &[Transaction], txn: &Transaction, probability: f64) -> (&'static str, String) {
    if card_key(txn) == card_key(&rows[0]) {
        ("approve", "lists.allow.cards".into())
    } else if txn.merchant == rows[1].merchant {
        ("deny", "lists.block.merchants".into())
    } else if txn.amt == rows[2].amt {
        ("review", "this-amount".into())
    } else if probability >= DENY_AT {
        ("deny", "threshold".into())
    } else if probability >= REVIEW_AT {
        ("review", "threshold".into())
    } else {
        ("approve", "threshold".into())
    }
}

async fn service(policy: Option<Policy>) -> Arc<ScoreService<LocalCardStore, MemoryDecisionLog>> {
    let model = load_model(
        &LocalObjectStore::new(repo("tests/fixtures/golden")),
        "model.bin",
    )
    .await
    .unwrap();
    Arc::new(
        ScoreService::new(
            model,
            LocalCardStore::in_memory(),
            MemoryDecisionLog::default(),
            CardHasher::new(SECRET).unwrap(),
            Duration::from_secs(5),
        )
        .with_policy(policy),
    )
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn post(path: &str, body: String) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// Each answer against the independent reading; every outcome and kind of rule must occur.
fn check(rows: &[Transaction], answers: &[Value], model_threshold: f64) {
    let mut seen = std::collections::BTreeSet::new();
    for (txn, answer) in rows.iter().zip(answers) {
        let probability = answer["fraud_probability"].as_f64().unwrap();
        let (outcome, rule) = expected(rows, txn, probability);
        assert_eq!(answer["outcome"], outcome, "{answer}");
        assert_eq!(answer["rule"], rule.as_str(), "{answer}");
        assert_eq!(answer["policy_version"], "test-1");
        let decision = if outcome == "deny" { "deny" } else { "approve" };
        assert_eq!(answer["decision"], decision, "{answer}");
        assert_eq!(
            answer["prediction"],
            u8::from(probability >= model_threshold)
        );
        seen.insert(format!("{outcome} {rule}"));
    }
    for case in [
        "approve lists.allow.cards",
        "deny lists.block.merchants",
        "review this-amount",
        "approve threshold",
        "review threshold",
        "deny threshold",
    ] {
        assert!(seen.contains(case), "{case} never happened: {seen:?}");
    }
}

#[tokio::test]
async fn each_outcome_through_predict_and_the_decision_log_records_it() {
    let rows = rows();
    let policy = Policy::from_json(policy_document(&rows).to_string().as_bytes(), "test").unwrap();
    let service = service(Some(policy)).await;
    let app = router(service.clone());
    let mut answers = Vec::new();
    for txn in &rows {
        let (status, answer) =
            send(&app, post("/predict", serde_json::to_string(txn).unwrap())).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answers.push(answer);
    }
    check(&rows, &answers, service.model.artifact.threshold);
    let logged = service.log().records.lock().unwrap().clone();
    assert_eq!(logged.len(), rows.len());
    for (record, answer) in logged.iter().zip(&answers) {
        assert_eq!(record.trans_num, answer["trans_num"].as_str().unwrap());
        assert_eq!(record.outcome.unwrap().as_str(), answer["outcome"]);
        assert_eq!(record.rule.as_deref(), answer["rule"].as_str());
        assert_eq!(record.policy_version.as_deref(), Some("test-1"));
        assert_eq!(record.decision.as_str(), answer["decision"]);
    }
}

#[tokio::test]
async fn each_outcome_through_predict_batch() {
    let rows = rows();
    let policy = Policy::from_json(policy_document(&rows).to_string().as_bytes(), "test").unwrap();
    let service = service(Some(policy)).await;
    let app = router(service.clone());
    let mut answers = Vec::new();
    for chunk in rows.chunks(100) {
        let (status, answer) = send(
            &app,
            post("/predict/batch", serde_json::to_string(chunk).unwrap()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answers.extend(answer["results"].as_array().unwrap().iter().cloned());
    }
    check(&rows, &answers, service.model.artifact.threshold);
}

#[tokio::test]
async fn without_a_policy_the_model_threshold_decides_as_before() {
    let service = service(None).await;
    let app = router(service.clone());
    let threshold = service.model.artifact.threshold;
    for txn in rows() {
        let (_, answer) = send(&app, post("/predict", serde_json::to_string(&txn).unwrap())).await;
        let deny = answer["fraud_probability"].as_f64().unwrap() >= threshold;
        assert_eq!(answer["outcome"], if deny { "deny" } else { "approve" });
        assert_eq!(answer["decision"], answer["outcome"]);
        assert_eq!(answer["prediction"], u8::from(deny));
        assert_eq!(answer["rule"], "threshold");
        assert_eq!(answer["policy_version"], "model-threshold");
    }
    let (status, body) = send(&app, Request::get("/policy").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], "model-threshold");
    assert_eq!(body["thresholds"]["deny"], threshold);
}

#[tokio::test]
async fn get_policy_shows_the_version_thresholds_rules_and_list_sizes_only() {
    let rows = rows();
    let policy = Policy::from_json(policy_document(&rows).to_string().as_bytes(), "test").unwrap();
    let app = router(service(Some(policy)).await);
    let (status, body) = send(&app, Request::get("/policy").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], "test-1");
    assert_eq!(body["schema_version"], 1);
    assert_eq!(
        body["thresholds"],
        json!({"deny": DENY_AT, "review": REVIEW_AT})
    );
    assert_eq!(body["allow_list"]["cards"], 1);
    assert_eq!(body["block_list"]["merchants"], 1);
    assert_eq!(body["rules"][0]["name"], "this-amount");
    assert_eq!(body["rules"][1]["outcome"], "deny");
    assert_eq!(
        body["fitted_for_this_model"],
        Value::Null,
        "written by hand"
    );
    assert!(
        !body.to_string().contains(&card_key(&rows[0])),
        "list entries are not served"
    );
}

/// `policy fit`'s record of what it measured, for the model `model_version` (figures zero).
fn expected_figures(model_version: &str) -> Value {
    let figures = json!({
        "transactions": 0, "frauds": 0, "fraud_dollars": 0.0, "frauds_caught": 0,
        "fraud_dollars_caught": 0.0, "false_declines": 0, "false_decline_dollars": 0.0,
        "reviews": 0, "cost": 0.0, "value_detection_rate": 0.0, "false_decline_rate": 0.0,
        "review_rate": 0.0
    });
    json!({
        "data": "a validation slice",
        "model_version": model_version,
        "false_decline_cost": "amount",
        "figures": figures,
        "model_threshold": {"threshold": 0.5, "figures": figures},
        "f1_threshold": {"threshold": 0.5, "figures": figures}
    })
}

#[tokio::test]
async fn get_policy_says_whether_its_thresholds_were_fitted_for_the_served_model() {
    let rows = rows();
    let served = service(None).await.model.artifact.model_version.clone();
    for (fitted_for, matches) in [(served.as_str(), true), ("gbdt-000000000000", false)] {
        let mut document = policy_document(&rows);
        document["expected"] = expected_figures(fitted_for);
        let policy = Policy::from_json(document.to_string().as_bytes(), "test").unwrap();
        let app = router(service(Some(policy)).await);
        let (status, body) = send(&app, Request::get("/policy").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["model_version"], served.as_str());
        assert_eq!(body["expected"]["model_version"], fitted_for);
        assert_eq!(body["fitted_for_this_model"], matches, "{fitted_for}");
    }
}

fn config(dir: &std::path::Path, policy: PathBuf) -> Config {
    Config {
        model: ObjectLocation::Local(repo("tests/fixtures/golden/model.bin")),
        policy: Some(ObjectLocation::Local(policy)),
        stores: Stores::Embedded {
            decision_log: dir.join("decisions.db"),
        },
        card_hash_secret: CardHashSecret::Value(String::from_utf8(SECRET.to_vec()).unwrap()),
        store_budget: Duration::from_millis(50),
        emit_emf: false,
    }
}

#[tokio::test]
async fn a_bad_policy_stops_start_up_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let mut document = policy_document(&rows());
    document["rules"][1]["when"] = json!("amt < ");
    let path = dir.path().join("bad.json");
    std::fs::write(&path, document.to_string()).unwrap();
    let err = fraud_service::app::build(&config(dir.path(), path.clone()), None)
        .await
        .expect_err("a bad policy is refused")
        .to_string();
    assert!(
        err.contains("bad.json") && err.contains("rule \"never\" (rules[1]) does not parse"),
        "{err}"
    );
    let missing = dir.path().join("policies/active.json");
    let err = fraud_service::app::build(&config(dir.path(), missing), None)
        .await
        .expect_err("a missing policy is refused")
        .to_string();
    assert!(
        err.contains("policies/active.json") && err.contains("not found"),
        "{err}"
    );
}

#[tokio::test]
async fn a_published_policy_is_served_through_its_pointer_file() {
    let dir = tempfile::tempdir().unwrap();
    let policy =
        Policy::from_json(policy_document(&rows()).to_string().as_bytes(), "test").unwrap();
    fraud_policy::publish_policy(&LocalObjectStore::new(dir.path()), &policy)
        .await
        .unwrap();
    let pointer = dir.path().join("policies/active.json");
    let app = fraud_service::app::build(&config(dir.path(), pointer), None)
        .await
        .unwrap();
    let (_, body) = send(&app, Request::get("/policy").body(Body::empty()).unwrap()).await;
    assert_eq!(body["version"], "test-1");
}
