//! Golden scores: the committed Kaggle rows, scored in file order from an empty card history
//! with the committed model, give the committed probabilities through `/predict` and through
//! `/predict/batch` (`fraud eval` is held to the same file in cli/tests/cli.rs), so the online
//! and batch paths cannot drift apart. The model (with its first stage, whose risks the card
//! histories remember) was trained on simulated data: `fraud generate --customers 40 --seed 11
//! --out /tmp/gsim` and `fraud train --train /tmp/gsim/fraudTrain.csv --out
//! tests/fixtures/golden/model.bin`. Regenerate after a deliberate model or feature change:
//! `fraud eval --model tests/fixtures/golden/model.bin --data tests/fixtures/kaggle/kaggle_test_sample.csv --out /tmp/g`
//! and copy /tmp/g/predictions.csv to tests/fixtures/golden/expected_predictions.csv.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use fraud_core::card_key::CardHasher;
use fraud_core::reader::read_all;
use fraud_core::{ReadMode, Transaction};
use fraud_embedded::{LocalCardStore, LocalObjectStore, MemoryDecisionLog};
use fraud_service::model::load_model;
use fraud_service::{ScoreService, router};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn expected() -> Vec<(String, f64, u8)> {
    let text =
        std::fs::read_to_string(repo("tests/fixtures/golden/expected_predictions.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_owned(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

async fn app() -> axum::Router {
    let model = load_model(
        &LocalObjectStore::new(repo("tests/fixtures/golden")),
        "model.bin",
    )
    .await
    .unwrap();
    let service = ScoreService::new(
        model,
        LocalCardStore::in_memory(),
        MemoryDecisionLog::default(),
        CardHasher::new(b"golden-secret-0123456789").unwrap(),
        Duration::from_secs(5),
    );
    router(Arc::new(service))
}

fn rows() -> Vec<Transaction> {
    read_all(
        &repo("tests/fixtures/kaggle/kaggle_test_sample.csv"),
        ReadMode::Strict,
    )
    .unwrap()
    .0
}

async fn post(app: &axum::Router, path: &str, body: String) -> Value {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

fn check(got: &[Value], expected: &[(String, f64, u8)]) {
    assert_eq!(got.len(), expected.len());
    for (g, (trans_num, p, prediction)) in got.iter().zip(expected) {
        assert_eq!(g["trans_num"], trans_num.as_str());
        let q = g["fraud_probability"].as_f64().unwrap();
        assert!((q - p).abs() <= 1e-6, "{trans_num}: {q} vs golden {p}");
        assert_eq!(g["prediction"], *prediction, "{trans_num}");
        assert_eq!(g["card_history_used"], true);
    }
}

#[tokio::test]
async fn predict_gives_the_golden_probabilities() {
    let app = app().await;
    let mut got = Vec::new();
    for txn in rows() {
        got.push(post(&app, "/predict", serde_json::to_string(&txn).unwrap()).await);
    }
    check(&got, &expected());
}

#[tokio::test]
async fn predict_batch_gives_the_golden_probabilities() {
    let app = app().await;
    let rows = rows();
    let mut got = Vec::new();
    for chunk in rows.chunks(100) {
        let answer = post(
            &app,
            "/predict/batch",
            serde_json::to_string(chunk).unwrap(),
        )
        .await;
        got.extend(answer["results"].as_array().unwrap().iter().cloned());
    }
    check(&got, &expected());
}
