//! The card store goes away mid-run and comes back: the scoring service answers every request
//! (never a 5xx), with `card_history_used: false` while DynamoDB cannot be reached, and with the
//! card's history again once it can. DynamoDB is moto behind a proxy in this test that can stop
//! forwarding and cut the connections it holds, as a network partition or a restarted endpoint
//! would (moto itself keeps the tables, so the history written before the outage is still there).
//! The decisions the log could not take meanwhile are each kept whole in an error log line.
#![cfg(feature = "stack-tests")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fraud_aws::{DynamoCardStore, DynamoDecisionLog, dynamodb_client, sdk_config};
use fraud_core::card_key::CardHasher;
use fraud_core::features::CardState;
use fraud_core::ports::CardStore;
use fraud_core::{ReadMode, Transaction, TransactionReader};
use fraud_embedded::LocalObjectStore;
use fraud_service::model::load_model;
use fraud_service::{ScoreService, router};
use fraud_testkit::CapturedLogs;
use fraud_testkit::moto::{create_table, point_sdk_at_moto};
use http_body_util::BodyExt;
use tokio::sync::watch;
use tower::ServiceExt;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

/// A TCP proxy on 127.0.0.1 to `target`; `false` on the switch refuses new connections and
/// cuts the open ones.
async fn switchable_proxy(target: String) -> (String, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (switch, up) = watch::channel(true);
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let mut up = up.clone();
            if !*up.borrow() {
                continue; // dropped: the connection is closed at once
            }
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = up.wait_for(|up| !*up) => {}
                }
            });
        }
    });
    (address, switch)
}

fn rows_of_one_card(n: usize) -> Vec<Transaction> {
    let row = TransactionReader::open(
        &repo("tests/fixtures/kaggle/kaggle_test_sample.csv"),
        ReadMode::Strict,
    )
    .unwrap()
    .next()
    .unwrap()
    .unwrap();
    (0..n)
        .map(|i| {
            let mut txn = row.clone();
            txn.trans_num = format!("outage-{i}-{}", fraud_testkit::unique_suffix());
            txn.unix_time += 600 * i as i64;
            txn
        })
        .collect()
}

async fn post(app: &axum::Router, txn: &Transaction) -> (StatusCode, serde_json::Value) {
    let request = Request::post("/predict")
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(txn).unwrap()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_store_going_away_degrades_to_no_history_and_recovers() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .init();
    point_sdk_at_moto();
    let config = sdk_config().await;
    let suffix = fraud_testkit::unique_suffix();
    let (cards_table, log_table) = (
        format!("outage-cards-{suffix}"),
        format!("outage-log-{suffix}"),
    );
    let direct = dynamodb_client(&config);
    create_table(&direct, &cards_table, "card").await;
    create_table(&direct, &log_table, "trans_num").await;
    let moto = std::env::var("FRAUD_TEST_MOTO_ENDPOINT").unwrap();
    let (proxy, switch) = switchable_proxy(moto.trim_start_matches("http://").to_owned()).await;
    // Set on the client: it wins over AWS_ENDPOINT_URL, which the SDK also reads per service.
    let proxied = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(&proxy)
            .build(),
    );
    let model = load_model(
        &LocalObjectStore::new(repo("tests/fixtures/golden")),
        "model.bin",
    )
    .await
    .unwrap();
    let hasher = CardHasher::new(b"outage-secret-0123456789").unwrap();
    let service = ScoreService::new(
        model,
        DynamoCardStore::new(proxied.clone(), &cards_table),
        DynamoDecisionLog::new(proxied, &log_table),
        hasher.clone(),
        Duration::from_millis(500),
    );
    let app = router(Arc::new(service));
    let rows = rows_of_one_card(6);

    let (status, body) = post(&app, &rows[0]).await;
    assert_eq!(
        (status, &body["card_history_used"]),
        (StatusCode::OK, &true.into()),
        "{body}"
    );
    switch.send(false).unwrap();
    let mut answered_during = Vec::new();
    for txn in &rows[1..4] {
        let (status, body) = post(&app, txn).await;
        assert_eq!(status, StatusCode::OK, "never a 5xx: {body}");
        assert_eq!(body["card_history_used"], false, "{body}");
        answered_during.push(body);
    }
    // Not in the table, but each kept whole in an error line, as answered.
    let kept: Vec<serde_json::Value> = logs
        .text()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["level"] == "ERROR")
        .filter_map(|line| serde_json::from_str(line["fields"]["decision"].as_str()?).ok())
        .collect();
    assert_eq!(kept.len(), 3, "{}", logs.text());
    for (decision, body) in kept.iter().zip(&answered_during) {
        assert_eq!(
            (
                &decision["trans_num"],
                &decision["decision"],
                &decision["probability"]
            ),
            (
                &body["trans_num"],
                &body["decision"],
                &body["fraud_probability"]
            )
        );
    }
    switch.send(true).unwrap();
    for txn in &rows[4..] {
        let (status, body) = post(&app, txn).await;
        assert_eq!(
            (status, &body["card_history_used"]),
            (StatusCode::OK, &true.into()),
            "{body}"
        );
    }
    // The card counts what was scored with its history: the first and the last two.
    let counted = std::sync::Mutex::new(0);
    DynamoCardStore::new(direct, &cards_table)
        .apply(
            &hasher.key(rows[0].cc_num),
            "count",
            &|state: &mut CardState| {
                *counted.lock().unwrap() = state.count();
                Vec::new()
            },
        )
        .await
        .unwrap();
    assert_eq!(*counted.lock().unwrap(), 3);
}
