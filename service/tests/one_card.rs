//! 1,000 concurrent requests for one card, every transaction sent twice at once (its retry
//! racing the original): each transaction counts once in the card's state and is logged once,
//! and a retry gets the original's answer. Against the embedded database stores, and (with the
//! `moto-tests` feature) against DynamoDB on the moto server scripts/test.sh starts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fraud_core::card_key::CardHasher;
use fraud_core::features::CardState;
use fraud_core::ports::{CardStore, DecisionLog};
use fraud_core::reader::read_all;
use fraud_core::{ReadMode, Transaction};
use fraud_embedded::{LocalCardStore, LocalDecisionLog, LocalObjectStore};
use fraud_service::model::load_model;
use fraud_service::{Prediction, ScoreService};

const DISTINCT: usize = 500;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn hasher() -> CardHasher {
    CardHasher::new(b"one-card-secret-0123456789").unwrap()
}

/// `DISTINCT` transactions of one card, a minute apart.
fn one_card_rows() -> Vec<Transaction> {
    let row = read_all(
        &repo("tests/fixtures/kaggle/kaggle_test_sample.csv"),
        ReadMode::Strict,
    )
    .unwrap()
    .0
    .remove(0);
    (0..DISTINCT)
        .map(|i| {
            let mut txn = row.clone();
            txn.trans_num = format!("one-card-{i}");
            txn.unix_time += 60 * i as i64;
            txn
        })
        .collect()
}

/// Every transaction sent twice at once, all 1,000 requests concurrent; the answers, each
/// transaction's pair together, and the card's transaction count afterwards.
async fn score_twice_at_once<C, L>(
    cards: C,
    log: L,
) -> (Vec<[Prediction; 2]>, u64, Arc<ScoreService<C, L>>)
where
    C: CardStore + 'static,
    L: DecisionLog + 'static,
{
    let model = load_model(
        &LocalObjectStore::new(repo("tests/fixtures/golden")),
        "model.bin",
    )
    .await
    .unwrap();
    let service = Arc::new(ScoreService::new(
        model,
        cards,
        log,
        hasher(),
        Duration::from_secs(60),
    ));
    let rows = one_card_rows();
    let tasks: Vec<_> = rows
        .iter()
        .flat_map(|txn| [txn.clone(), txn.clone()])
        .map(|txn| {
            let service = service.clone();
            tokio::spawn(async move { service.score(&txn).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let pairs = answers
        .chunks(2)
        .map(|pair| [pair[0].clone(), pair[1].clone()])
        .collect();
    let counted = std::sync::Mutex::new(0);
    service
        .cards()
        .apply(
            &hasher().key(rows[0].cc_num),
            "count",
            &|state: &mut CardState| {
                *counted.lock().unwrap() = state.count();
                Vec::new()
            },
        )
        .await
        .unwrap();
    let count = *counted.lock().unwrap();
    (pairs, count, service)
}

/// Each transaction counted once among those scored with history, and a retry scored with
/// history answered as its original was.
fn check_counted_once(pairs: &[[Prediction; 2]], count: u64) {
    let with_history = pairs
        .iter()
        .filter(|[a, b]| a.card_history_used || b.card_history_used)
        .count();
    assert_eq!(count, with_history as u64, "each transaction counted once");
    for [a, b] in pairs {
        if a.card_history_used && b.card_history_used {
            assert_eq!(a, b, "a retry gets the original's answer");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_card_embedded_database_stores() {
    let dir = tempfile::tempdir().unwrap();
    let cards = LocalCardStore::open(&dir.path().join("cards.db")).unwrap();
    let log = LocalDecisionLog::open(&dir.path().join("decisions.db")).unwrap();
    let (pairs, count, service) = score_twice_at_once(cards, log).await;
    assert!(pairs.iter().flatten().all(|p| p.card_history_used));
    check_counted_once(&pairs, count);
    assert_eq!(count, DISTINCT as u64);
    let logged = service.log().records().unwrap();
    assert_eq!(logged.len(), DISTINCT, "each transaction logged once");
    let mut names: Vec<_> = logged.iter().map(|r| r.trans_num.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), DISTINCT);
}

#[cfg(feature = "moto-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_card_dynamodb_on_moto() {
    use fraud_aws::{DynamoCardStore, DynamoDecisionLog, dynamodb_client, sdk_config};
    use fraud_testkit::moto::{create_table, point_sdk_at_moto};
    point_sdk_at_moto();
    let client = dynamodb_client(&sdk_config().await);
    let suffix = fraud_testkit::unique_suffix();
    let (card_table, log_table) = (format!("one-card-{suffix}"), format!("one-log-{suffix}"));
    create_table(&client, &card_table, "card").await;
    create_table(&client, &log_table, "trans_num").await;
    let cards = DynamoCardStore::new(client.clone(), &card_table);
    let log = DynamoDecisionLog::new(client.clone(), &log_table);
    let (pairs, count, _) = score_twice_at_once(cards, log).await;
    assert!(
        pairs.iter().flatten().all(|p| p.card_history_used),
        "no request fell back to scoring without history"
    );
    check_counted_once(&pairs, count);
    assert_eq!(count, DISTINCT as u64);
    let mut logged = Vec::new();
    let mut pages = client
        .scan()
        .table_name(&log_table)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.unwrap();
        logged.push(item["trans_num"].as_s().unwrap().clone());
    }
    logged.sort();
    logged.dedup();
    assert_eq!(
        logged.len(),
        DISTINCT,
        "every transaction logged (one item each)"
    );
}
