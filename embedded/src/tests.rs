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
    let store = MemoryCardStore::default();
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
    assert_eq!(store.record(&card).unwrap().state.count(), 2);
    // Old answers are forgotten beyond the window.
    for i in 0..REMEMBERED_ANSWERS {
        block_on(store.apply(&card, &format!("u{i}"), &score)).unwrap();
    }
    assert!(store.record(&card).unwrap().answer_for("t1").is_none());
}

#[test]
fn concurrent_updates_of_one_card_are_never_lost() {
    let store = std::sync::Arc::new(MemoryCardStore::default());
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
    assert_eq!(store.record(&card).unwrap().state.count(), 1600);
}

#[test]
fn saved_state_loads_back_and_a_bad_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.bin");
    let store = MemoryCardStore::default();
    for n in 0..50u64 {
        block_on(store.apply(&hasher().key(1_000_000_000_000 + n), "t", &score)).unwrap();
    }
    store.save(&path).unwrap();
    let loaded = MemoryCardStore::load(&path).unwrap();
    assert_eq!(loaded.len(), 50);
    let card = hasher().key(1_000_000_000_007);
    assert_eq!(loaded.record(&card), store.record(&card));
    assert!(
        MemoryCardStore::load(&dir.path().join("absent"))
            .unwrap()
            .is_empty()
    );
    std::fs::write(&path, b"garbage").unwrap();
    let err = MemoryCardStore::load(&path).unwrap_err().to_string();
    assert!(err.contains("state.bin"), "{err}");
}

#[test]
fn json_lines_log_appends_one_record_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/decisions.jsonl");
    let log = JsonLinesLog::open(&path).unwrap();
    for i in 0..3 {
        block_on(log.append(DecisionRecord {
            at: "2026-01-01T00:00:00Z".into(),
            trans_num: format!("t{i}"),
            card: hasher().key(1234567890123),
            probability: 0.5,
            decision: fraud_core::ports::Decision::Approve,
            model_version: "gbdt-x".into(),
            latency_us: 10,
            card_history_used: true,
        }))
        .unwrap();
    }
    log.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3);
    let first: DecisionRecord = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first.trans_num, "t0");
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
