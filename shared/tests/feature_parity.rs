//! One definition, three paths: features computed over a whole file (the batch path of training
//! and `fraud eval`) equal features computed row by row through a persisted `CardState` (the
//! online path), and both equal a brute-force reading of the definitions over each card's past.

use std::collections::HashMap;
use std::path::PathBuf;

use fraud_core::features::{CardState, assemble, is_night};
use fraud_core::reader::read_all;
use fraud_core::schema::Category;
use fraud_core::train::load_training_data;
use fraud_core::{
    FEATURE_NAMES, FeatureBuilder, FeatureInput, FeatureVector, ReadMode, Transaction,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/kaggle")
        .join(name)
}

fn kaggle_rows() -> Vec<Transaction> {
    let (mut rows, _) = read_all(&fixture("kaggle_train_sample.csv"), ReadMode::Strict).unwrap();
    let (test, _) = read_all(&fixture("kaggle_test_sample.csv"), ReadMode::Strict).unwrap();
    rows.extend(test);
    rows
}

/// Bursts, equal timestamps, night hours, long gaps and transactions up to 20 h late.
fn synthetic_rows() -> Vec<Transaction> {
    let base = kaggle_rows()[0].clone();
    let mut state: u64 = 42;
    let mut rnd = move |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let mut rows = Vec::new();
    let mut clock = 1_325_376_000i64;
    for i in 0..3000 {
        clock += match rnd(10) {
            0 => 0,                   // same second as the previous one
            1..=5 => rnd(600) as i64, // burst
            6..=8 => rnd(20_000) as i64,
            _ => rnd(4 * 86_400) as i64, // long gap
        };
        let mut txn = base.clone();
        txn.cc_num = 4_000_000_000_000_000 + rnd(7);
        txn.trans_num = format!("syn{i}");
        txn.category = Category::ALL[rnd(14) as usize];
        txn.amt = (1 + rnd(150_000)) as f64 / 100.0;
        txn.unix_time = if rnd(12) == 0 {
            clock - rnd(72_000) as i64
        } else {
            clock
        };
        rows.push(txn);
    }
    rows
}

/// The per-card features straight from their definitions, over all earlier rows of the card.
fn brute_force(rows: &[Transaction]) -> Vec<HashMap<&'static str, f64>> {
    let mut out = Vec::new();
    for (i, txn) in rows.iter().enumerate() {
        let t = txn.unix_time;
        let past: Vec<&Transaction> = rows[..i]
            .iter()
            .filter(|p| p.cc_num == txn.cc_num)
            .collect();
        let mut f = HashMap::new();
        for (name, w) in [("1h", 3_600), ("24h", 86_400), ("7d", 7 * 86_400)] {
            let window: Vec<&&Transaction> = past
                .iter()
                .filter(|p| p.unix_time > t - w && p.unix_time <= t)
                .collect();
            f.insert(format!("cnt_{name}").leak() as &str, window.len() as f64);
            let cents: i64 = window.iter().map(|p| p.amount_cents()).sum();
            f.insert(format!("sum_{name}").leak(), cents as f64 / 100.0);
            if name == "24h" {
                f.insert(
                    "night_cnt_24h",
                    window.iter().filter(|p| is_night(p.unix_time)).count() as f64,
                );
                f.insert(
                    "same_category_cnt_24h",
                    window.iter().filter(|p| p.category == txn.category).count() as f64,
                );
            }
        }
        let prev = past.iter().map(|p| p.unix_time).filter(|&u| u <= t).max();
        f.insert("secs_since_prev", prev.map_or(f64::NAN, |p| (t - p) as f64));
        let n = past.len() as f64;
        let amt = txn.amount_cents() as f64 / 100.0;
        let sum: i64 = past.iter().map(|p| p.amount_cents()).sum();
        let mean = sum as f64 / n / 100.0;
        let var = past
            .iter()
            .map(|p| (p.amount_cents() as f64 / 100.0 - mean).powi(2))
            .sum::<f64>()
            / n;
        f.insert(
            "amt_over_card_mean",
            if n > 0.0 && mean > 0.0 {
                amt / mean
            } else {
                f64::NAN
            },
        );
        f.insert(
            "amt_zscore",
            if n > 0.0 && var > 0.0 {
                (amt - mean) / var.sqrt()
            } else {
                f64::NAN
            },
        );
        let same = past.iter().filter(|p| p.category == txn.category).count() as f64;
        f.insert("category_share", if n > 0.0 { same / n } else { f64::NAN });
        out.push(f);
    }
    out
}

fn batch(rows: &[Transaction]) -> Vec<FeatureVector> {
    let mut builder = FeatureBuilder::new();
    rows.iter()
        .map(|t| builder.next(&FeatureInput::from_transaction(t)))
        .collect()
}

/// As the online service does it: the JSON body, then the card's state loaded from a store,
/// updated, and written back (here a map of serialized states).
fn online(rows: &[Transaction]) -> Vec<FeatureVector> {
    let mut store: HashMap<u64, String> = HashMap::new();
    rows.iter()
        .map(|t| {
            let body = serde_json::to_string(t).unwrap();
            let txn: Transaction = serde_json::from_str(&body).unwrap();
            let input = FeatureInput::from_transaction(&txn);
            let mut card: CardState = store
                .get(&txn.cc_num)
                .map_or_else(CardState::default, |s| serde_json::from_str(s).unwrap());
            let history = card.observe(&input.event);
            store.insert(txn.cc_num, serde_json::to_string(&card).unwrap());
            assemble(&input, &history)
        })
        .collect()
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn check_paths_agree(rows: &[Transaction]) {
    let (a, b, reference) = (batch(rows), online(rows), brute_force(rows));
    for (i, ((x, y), r)) in a.iter().zip(&b).zip(&reference).enumerate() {
        for (f, name) in FEATURE_NAMES.iter().enumerate() {
            assert!(
                same(x[f], y[f]),
                "row {i} {name}: batch {} vs online {}",
                x[f],
                y[f]
            );
            if let Some(&expected) = r.get(name) {
                let ok = if *name == "amt_zscore" {
                    same(x[f], expected)
                        || (x[f] - expected).abs() <= 1e-9 * expected.abs().max(1.0)
                } else {
                    same(x[f], expected)
                };
                assert!(ok, "row {i} {name}: {} vs definition {expected}", x[f]);
            }
        }
    }
}

#[test]
fn kaggle_rows_give_the_same_features_on_every_path() {
    let rows = kaggle_rows();
    assert!(rows.len() > 800);
    check_paths_agree(&rows);
}

#[test]
fn bursts_ties_and_late_rows_give_the_same_features_on_every_path() {
    let rows = synthetic_rows();
    let late = rows
        .windows(2)
        .filter(|w| w[1].unix_time < w[0].unix_time)
        .count();
    assert!(late > 100, "the stream has late rows ({late})");
    check_paths_agree(&rows);
}

#[test]
fn training_features_are_the_batch_features_in_time_order() {
    let path = fixture("kaggle_train_sample.csv");
    let data = load_training_data(&path, ReadMode::Strict, &|_| {}).unwrap();
    let (mut rows, _) = read_all(&path, ReadMode::Strict).unwrap();
    rows.sort_by_key(|t| t.unix_time);
    let expected = batch(&rows);
    assert_eq!(data.dataset.n_rows(), expected.len());
    for (i, row) in expected.iter().enumerate() {
        let got = data.dataset.row(i);
        assert!(row.iter().zip(&got).all(|(a, b)| same(*a, *b)), "row {i}");
    }
}
