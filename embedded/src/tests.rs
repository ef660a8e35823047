//! The embedded adapters against the port contracts.

use std::future::Future;

use fraud_core::card_key::CardHasher;
use fraud_core::features::{CardEvent, CardState};
use fraud_core::ports::{
    Applied, CardStore, DecisionLog, DecisionRecord, ObjectStore, REMEMBERED_ANSWERS, StoreError,
};
use fraud_core::schema::Category;

use crate::*;

fn block_on<F: Future>(f: F) -> F::Output {
    // The embedded adapters never wait, so one poll completes them.
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("embedded adapters complete at once"),
    }
}

fn hasher() -> CardHasher {
    CardHasher::new(b"0123456789abcdef-test").unwrap()
}

fn score(state: &mut CardState) -> Vec<u8> {
    let event = CardEvent {
        unix_time: 1_325_376_000 + state.count() as i64 * 60,
        amount_cents: 100,
        category: Category::Home,
    };
    let h = state.observe(&event, |_| 0);
    format!("{}", h.counts[0]).into_bytes()
}

#[test]
fn memory_store_applies_once_per_transaction_and_remembers_the_answer() {
    let store = LocalCardStore::in_memory();
    let card = hasher().key(1234567890123);
    let first = block_on(store.apply(&card, "t1", &score)).unwrap();
    assert_eq!(
        first,
        Applied {
            answer: b"0".to_vec(),
            replayed: false
        }
    );
    let again = block_on(store.apply(&card, "t1", &score)).unwrap();
    assert_eq!(
        again,
        Applied {
            answer: b"0".to_vec(),
            replayed: true
        }
    );
    let second = block_on(store.apply(&card, "t2", &score)).unwrap();
    assert_eq!(second.answer, b"1");
    assert_eq!(store.record(&card).unwrap().unwrap().state.count(), 2);
    // Old answers are forgotten beyond the window.
    for i in 0..REMEMBERED_ANSWERS {
        block_on(store.apply(&card, &format!("u{i}"), &score)).unwrap();
    }
    assert!(
        store
            .record(&card)
            .unwrap()
            .unwrap()
            .answer_for("t1")
            .is_none()
    );
}

#[test]
fn concurrent_updates_of_one_card_are_never_lost() {
    let store = std::sync::Arc::new(LocalCardStore::in_memory());
    let card = hasher().key(1234567890123);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (store, card) = (store.clone(), card.clone());
            s.spawn(move || {
                for i in 0..200 {
                    block_on(store.apply(&card, &format!("{t}-{i}"), &score)).unwrap();
                }
            });
        }
    });
    assert_eq!(store.record(&card).unwrap().unwrap().state.count(), 1600);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap()
}

fn decision(trans_num: &str, probability: f64) -> DecisionRecord {
    DecisionRecord {
        at: "2026-01-01T00:00:00Z".into(),
        trans_num: trans_num.into(),
        card: hasher().key(1234567890123),
        probability,
        decision: fraud_core::ports::Decision::Approve,
        model_version: "gbdt-x".into(),
        latency_us: 10,
        card_history_used: true,
        outcome: Some(fraud_core::ports::Outcome::Approve),
        rule: Some("threshold".into()),
        policy_version: Some("model-threshold".into()),
    }
}

#[test]
fn a_database_store_keeps_every_change_and_remembered_answer_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/cards.db");
    let rt = runtime();
    let card = hasher().key(1_000_000_000_007);
    let before = {
        let store = LocalCardStore::open(&path).unwrap();
        rt.block_on(async {
            for n in 0..50u64 {
                let key = hasher().key(1_000_000_000_000 + n);
                store.apply(&key, "t", &score).await.unwrap();
            }
            store.apply(&card, "t2", &score).await.unwrap();
        });
        store.record(&card).unwrap().unwrap()
    };
    let store = LocalCardStore::open(&path).unwrap();
    assert_eq!(store.count().unwrap(), 50);
    assert_eq!(store.record(&card).unwrap().unwrap(), before);
    let retried = rt.block_on(store.apply(&card, "t2", &score)).unwrap();
    assert_eq!(
        retried,
        Applied {
            answer: b"1".to_vec(),
            replayed: true
        },
        "a retry after a restart gets the first answer"
    );
    assert_eq!(store.record(&card).unwrap().unwrap().state.count(), 2);
}

/// Copies of a store's database and journal taken while it is open: what a crash (kill -9)
/// would leave, the database as of its last checkpoint and the journal since.
fn crash_copy(path: &std::path::Path, to: &std::path::Path, with_journal: bool) {
    std::fs::copy(path, to).unwrap();
    let journaled: u64 = crate::journal::paths_for(path)
        .iter()
        .zip(crate::journal::paths_for(to))
        .map(|(journal, copy)| {
            let _ = std::fs::remove_file(&copy);
            if with_journal {
                std::fs::copy(journal, copy).unwrap();
            }
            std::fs::metadata(journal).unwrap().len()
        })
        .sum();
    assert!(
        journaled > 0,
        "the journals hold the changes since the checkpoint"
    );
}

#[test]
fn after_a_crash_the_journal_brings_back_every_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let (cards_path, log_path) = (dir.path().join("cards.db"), dir.path().join("decisions.db"));
    let (cards, log) = (
        LocalCardStore::open(&cards_path).unwrap(),
        LocalDecisionLog::open(&log_path).unwrap(),
    );
    let rt = runtime();
    let card = |n: u64| hasher().key(1_000_000_000_000 + n % 10);
    let score_all = |from: u64, to: u64| {
        rt.block_on(async {
            for n in from..to {
                let trans_num = format!("t{n}");
                cards.apply(&card(n), &trans_num, &score).await.unwrap();
                log.append(decision(&trans_num, 0.5)).await.unwrap();
            }
        })
    };
    // Many checkpoints and journal switches (the unit tests' journals are short), all in
    // the database; then a tail that only the journals hold.
    score_all(0, 1_000);
    assert_eq!((cards.count().unwrap(), log.count().unwrap()), (10, 1_000));
    score_all(1_000, 1_040);
    for with_journal in [true, false] {
        let crashed = dir.path().join(format!("crashed-{with_journal}"));
        std::fs::create_dir_all(&crashed).unwrap();
        crash_copy(&cards_path, &crashed.join("cards.db"), with_journal);
        crash_copy(&log_path, &crashed.join("decisions.db"), with_journal);
        let cards = LocalCardStore::open(&crashed.join("cards.db")).unwrap();
        let log = LocalDecisionLog::open(&crashed.join("decisions.db")).unwrap();
        let counted: usize = (0..10u64)
            .filter_map(|n| cards.record(&card(n)).unwrap())
            .map(|record| record.state.count() as usize)
            .sum();
        if with_journal {
            assert_eq!((counted, log.count().unwrap()), (1_040, 1_040));
            for n in [3, 1_039] {
                let retried = rt
                    .block_on(cards.apply(&card(n), &format!("t{n}"), &score))
                    .unwrap();
                assert!(
                    retried.replayed,
                    "t{n}: a retry after the crash gets the first answer"
                );
            }
        } else {
            // Without its journals the database is back at its last checkpoint: the journals
            // are what kept the tail.
            assert_eq!((counted, log.count().unwrap()), (1_000, 1_000));
        }
    }
}

#[test]
fn a_retry_after_the_cards_window_is_still_answered_once_with_or_without_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let rt = runtime();
    let card = hasher().key(1234567890123);
    let later = |store: &LocalCardStore| {
        for i in 0..REMEMBERED_ANSWERS * 2 {
            rt.block_on(store.apply(&card, &format!("later-{i}"), &score))
                .unwrap();
        }
    };
    for store in [
        LocalCardStore::in_memory(),
        LocalCardStore::open(&path).unwrap(),
    ] {
        let first = rt.block_on(store.apply(&card, "t1", &score)).unwrap();
        later(&store);
        let retry = rt.block_on(store.apply(&card, "t1", &score)).unwrap();
        assert_eq!((retry.answer, retry.replayed), (first.answer, true));
        assert_eq!(
            store.record(&card).unwrap().unwrap().state.count(),
            1 + REMEMBERED_ANSWERS as u64 * 2
        );
    }
    let reopened = LocalCardStore::open(&path).unwrap();
    assert!(
        rt.block_on(reopened.apply(&card, "t1", &score))
            .unwrap()
            .replayed,
        "and after a restart"
    );
}

#[test]
fn concurrent_changes_of_one_card_are_all_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let card = hasher().key(1234567890123);
    {
        let store = std::sync::Arc::new(LocalCardStore::open(&path).unwrap());
        runtime().block_on(async {
            let tasks: Vec<_> = (0..1000)
                .map(|i| {
                    let (store, card) = (store.clone(), card.clone());
                    tokio::spawn(async move { store.apply(&card, &format!("t{i}"), &score).await })
                })
                .collect();
            for task in tasks {
                task.await.unwrap().unwrap();
            }
        });
    }
    let store = LocalCardStore::open(&path).unwrap();
    assert_eq!(store.record(&card).unwrap().unwrap().state.count(), 1000);
}

fn refused(path: &std::path::Path) -> String {
    let err = LocalCardStore::open(path).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    err
}

#[test]
fn a_file_of_an_older_build_another_store_or_damaged_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    // The whole-map snapshot an older build saved, and an older build's JSON-lines log.
    let snapshot = dir.path().join("cards.bin");
    std::fs::write(&snapshot, [1u8, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    assert!(refused(&snapshot).contains("not a card-state database"));
    let lines = dir.path().join("decisions.jsonl");
    std::fs::write(&lines, b"{\"trans_num\":\"t\"}\n").unwrap();
    assert!(
        LocalDecisionLog::open(&lines)
            .unwrap_err()
            .to_string()
            .contains("not a decision-log database")
    );
    // A decision log is not card state.
    let log = dir.path().join("decisions.db");
    drop(LocalDecisionLog::open(&log).unwrap());
    assert!(refused(&log).contains("holds decision-log"));
    // Card state of an older record layout.
    let old = dir.path().join("old.db");
    {
        let db = redb::Database::create(&old).unwrap();
        let write = db.begin_write().unwrap();
        {
            let mut meta = write
                .open_table(redb::TableDefinition::<&str, &str>::new("meta"))
                .unwrap();
            meta.insert("kind", "card-state").unwrap();
            meta.insert("layout", "card-record-bincode-1").unwrap();
        }
        write.commit().unwrap();
    }
    assert!(refused(&old).contains("layout card-record-bincode-1"));
    // A file cut short.
    let cut = dir.path().join("cut.db");
    {
        let store = LocalCardStore::open(&cut).unwrap();
        runtime()
            .block_on(store.apply(&hasher().key(1), "t", &score))
            .unwrap();
    }
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    refused(&cut);
}

#[test]
fn the_decision_log_keeps_the_first_decision_of_each_transaction_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/decisions.db");
    let rt = runtime();
    {
        let log = std::sync::Arc::new(LocalDecisionLog::open(&path).unwrap());
        rt.block_on(async {
            for i in 0..3 {
                log.append(decision(&format!("t{i}"), 0.5)).await.unwrap();
            }
            // A retry, alone and racing with others, changes nothing.
            let retries: Vec<_> = (0..64)
                .map(|_| {
                    let log = log.clone();
                    tokio::spawn(async move { log.append(decision("t1", 0.9)).await })
                })
                .collect();
            for retry in retries {
                retry.await.unwrap().unwrap();
            }
        });
    }
    let log = LocalDecisionLog::open(&path).unwrap();
    let records = log.records().unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| r.trans_num.as_str())
            .collect::<Vec<_>>(),
        ["t0", "t1", "t2"]
    );
    assert_eq!(records[1].probability, 0.5, "the first decision is kept");
    let mut lines = Vec::new();
    assert_eq!(log.export(&mut lines).unwrap(), 3);
    let first: DecisionRecord =
        serde_json::from_slice(lines.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first, decision("t0", 0.5));
}

#[test]
fn the_memory_log_also_keeps_one_decision_per_transaction() {
    let log = MemoryDecisionLog::default();
    for p in [0.1, 0.2] {
        block_on(log.append(decision("t", p))).unwrap();
    }
    let records = log.records.lock().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].probability, 0.1);
}

#[test]
fn local_objects_round_trip_and_refuse_escaping_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjectStore::new(dir.path());
    block_on(store.put("models/v1/model.bin", b"abc".to_vec())).unwrap();
    assert_eq!(block_on(store.get("models/v1/model.bin")).unwrap(), b"abc");
    assert!(matches!(
        block_on(store.get("models/absent")),
        Err(StoreError::NotFound { .. })
    ));
    assert!(block_on(store.get("../etc/passwd")).is_err());
}
