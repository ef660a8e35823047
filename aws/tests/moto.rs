//! The AWS adapters against a moto server (S3 and DynamoDB on 127.0.0.1), started by
//! scripts/test.sh, which names it in FRAUD_TEST_MOTO_ENDPOINT and enables this feature.
#![cfg(feature = "moto-tests")]

use std::sync::Arc;

use fraud_aws::{
    DynamoCardStore, DynamoDecisionLog, S3ObjectStore, dynamodb_client, s3_client, sdk_config,
};
use fraud_core::card_key::CardHasher;
use fraud_core::features::{CardEvent, CardState};
use fraud_core::ports::{CardStore, DecisionLog, DecisionRecord, ObjectStore, StoreError};
use fraud_core::schema::Category;
use fraud_testkit::moto::{create_table, point_sdk_at_moto};
use fraud_testkit::unique_suffix;

/// SDK settings for moto; a unique suffix keeps parallel tests apart.
async fn moto() -> (aws_config::SdkConfig, String) {
    point_sdk_at_moto();
    (sdk_config().await, unique_suffix())
}

fn score(state: &mut CardState) -> Vec<u8> {
    let event = CardEvent {
        unix_time: 1_325_376_000 + state.count() as i64 * 60,
        amount_cents: 1000,
        category: Category::Home,
    };
    let history = state.observe(&event, |_| 0);
    format!("{}", history.counts[0]).into_bytes()
}

/// A card store on a new table named `prefix` and a unique suffix.
async fn card_store(prefix: &str) -> DynamoCardStore {
    let (config, suffix) = moto().await;
    let client = dynamodb_client(&config);
    let name = format!("{prefix}-{suffix}");
    create_table(&client, &name, "card").await;
    DynamoCardStore::new(client, &name)
}

fn card(number: u64) -> fraud_core::card_key::CardKey {
    CardHasher::new(b"moto-secret-0123456789")
        .unwrap()
        .key(number)
}

/// How many transactions the card's state holds (read through one more update).
async fn counted(store: &DynamoCardStore, card: &fraud_core::card_key::CardKey) -> u64 {
    let counted = std::sync::Mutex::new(0);
    store
        .apply(card, "count", &|state: &mut CardState| {
            *counted.lock().unwrap() = state.count();
            Vec::new()
        })
        .await
        .unwrap();
    counted.into_inner().unwrap()
}

#[tokio::test]
async fn card_state_is_idempotent_per_transaction() {
    let store = card_store("cards").await;
    let card = card(4_000_000_000_000_001);
    let first = store.apply(&card, "t1", &score).await.unwrap();
    assert!(!first.replayed);
    let retry = store.apply(&card, "t1", &score).await.unwrap();
    assert!(retry.replayed && retry.answer == first.answer);
    let second = store.apply(&card, "t2", &score).await.unwrap();
    assert_eq!(second.answer, b"1", "the second transaction sees the first");
}

#[tokio::test]
async fn racing_updates_of_one_card_are_never_lost() {
    let store = Arc::new(card_store("cards-race").await);
    let card = card(4_000_000_000_000_002);
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (store, card) = (store.clone(), card.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                store
                    .apply(&card, &format!("{t}-{i}"), &score)
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // 20 distinct transactions: the 21st sees all of them in its history.
    assert_eq!(counted(&store, &card).await, 20);
}

#[tokio::test]
async fn a_retry_after_the_cards_window_gets_its_first_answer_and_is_not_counted_again() {
    let store = card_store("cards-window").await;
    let card = card(4_000_000_000_000_004);
    let first = store.apply(&card, "t0", &score).await.unwrap();
    // More later transactions than the record's window holds.
    for i in 1..=(fraud_core::ports::REMEMBERED_ANSWERS + 3) {
        store.apply(&card, &format!("t{i}"), &score).await.unwrap();
    }
    let retry = store.apply(&card, "t0", &score).await.unwrap();
    assert!(
        retry.replayed,
        "answered from the kept answer, not scored again"
    );
    assert_eq!(retry.answer, first.answer);
    assert_eq!(
        counted(&store, &card).await,
        fraud_core::ports::REMEMBERED_ANSWERS as u64 + 4
    );
}

#[tokio::test]
async fn a_missing_table_is_an_error_naming_it() {
    let (config, suffix) = moto().await;
    let store = DynamoCardStore::new(dynamodb_client(&config), format!("absent-{suffix}"));
    let card = CardHasher::new(b"moto-secret-0123456789")
        .unwrap()
        .key(4_000_000_000_000_003);
    let err = store
        .apply(&card, "t", &score)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent-"), "{err}");
}

#[tokio::test]
async fn decisions_are_written_with_a_ttl() {
    let (config, suffix) = moto().await;
    let client = dynamodb_client(&config);
    let name = format!("decisions-{suffix}");
    create_table(&client, &name, "trans_num").await;
    let log = DynamoDecisionLog::new(client.clone(), &name);
    log.append(DecisionRecord {
        at: "2026-11-24T00:00:00Z".into(),
        trans_num: "abc".into(),
        card: CardHasher::new(b"moto-secret-0123456789")
            .unwrap()
            .key(4_000_000_000_000_004),
        probability: 0.25,
        decision: fraud_core::ports::Decision::Approve,
        model_version: "gbdt-x".into(),
        latency_us: 120,
        card_history_used: true,
        outcome: Some(fraud_core::ports::Outcome::Review),
        rule: Some("busy-card-review".into()),
        policy_version: Some("2026-12-03.a".into()),
    })
    .await
    .unwrap();
    let item = client
        .get_item()
        .table_name(&name)
        .key(
            "trans_num",
            aws_sdk_dynamodb::types::AttributeValue::S("abc".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["decision"].as_s().unwrap(), "approve");
    assert_eq!(item["outcome"].as_s().unwrap(), "review");
    assert_eq!(item["rule"].as_s().unwrap(), "busy-card-review");
    assert_eq!(item["policy_version"].as_s().unwrap(), "2026-12-03.a");
    assert!(item["expires_at"].as_n().unwrap().parse::<u64>().unwrap() > 1_700_000_000);
    assert!(!format!("{item:?}").contains("4000000000000004"));
}

#[tokio::test]
async fn objects_round_trip_and_a_missing_key_is_not_found() {
    let (config, suffix) = moto().await;
    let client = s3_client(&config);
    let bucket = format!("fraud-{suffix}");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let store = S3ObjectStore::new(client, &bucket);
    store
        .put("models/v1/model.bin", b"bytes".to_vec())
        .await
        .unwrap();
    let (bytes, etag) = store.get_with_etag("models/v1/model.bin").await.unwrap();
    assert_eq!(bytes, b"bytes");
    assert!(etag.is_some());
    let err = store.get("models/absent.bin").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("s3://{bucket}/models/absent.bin"))
    );
}

#[tokio::test]
async fn the_card_hash_secret_is_read_by_arn_and_a_wrong_arn_is_named() {
    let (config, suffix) = moto().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let created = client
        .create_secret()
        .name(format!("card-hash-{suffix}"))
        .secret_string("moto-card-hash-secret-0123456789")
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap();
    assert_eq!(
        fraud_aws::secret_string(&config, arn).await.unwrap(),
        "moto-card-hash-secret-0123456789"
    );
    let absent = format!("{arn}-absent");
    let err = fraud_aws::secret_string(&config, &absent)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&absent), "{err}");
}
