//! One definition, three paths: features computed over a whole file (the batch path of training
//! and `fraud eval`) equal features computed row by row through a persisted `CardState` (the
//! online path), and both equal a brute-force reading of the definitions over each card's past.

use std::collections::HashMap;
use std::path::PathBuf;

use fraud_core::features::{
    CardRisk, CardState, FIRST_STAGE_FEATURES, RISK_SCALE, assemble, is_night, observe,
};
use fraud_core::reader::read_all;
use fraud_core::schema::Category;
use fraud_core::time::hour_of;
use fraud_core::train::{features_of, load_training_data};
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

/// A first stage for the test: any deterministic function of the first-stage features will do,
/// and a hash makes every bit count, so one wrong bit anywhere shows in every later risk feature.
/// `amt_zscore` is left out: the definition below computes it another way, within 1e-9.
struct HashedRisk;

impl CardRisk for HashedRisk {
    fn risk(&self, card: u64, x: &FeatureVector) -> u16 {
        let mut h = card ^ 0xcbf2_9ce4_8422_2325;
        for (f, v) in x[..FIRST_STAGE_FEATURES].iter().enumerate() {
            if f == ZSCORE {
                continue;
            }
            let bits = if v.is_nan() { u64::MAX } else { v.to_bits() };
            h = (h ^ bits).wrapping_mul(0x0100_0000_01b3);
        }
        (h >> 48) as u16
    }
}

const ZSCORE: usize = 18;

fn index(name: &str) -> usize {
    FEATURE_NAMES.iter().position(|n| *n == name).unwrap()
}

/// Every feature straight from its definition, over all earlier rows of the card: the
/// stateless ones as the product computes them, the card ones by brute force (risks of earlier
/// rows from their own brute-force features).
fn brute_force(rows: &[Transaction]) -> Vec<FeatureVector> {
    let mut out: Vec<FeatureVector> = Vec::new();
    let mut risks: Vec<u16> = Vec::new();
    for (i, txn) in rows.iter().enumerate() {
        let input = FeatureInput::from_transaction(txn);
        let mut x = assemble(&input, &CardState::default().peek(&input.event));
        let mut set = |name: &str, v: f64| x[index(name)] = v;
        let t = txn.unix_time;
        let past: Vec<usize> = (0..i).filter(|&j| rows[j].cc_num == txn.cc_num).collect();
        for (name, w) in [
            ("1h", 3_600),
            ("6h", 6 * 3_600),
            ("24h", 86_400),
            ("7d", 7 * 86_400),
        ] {
            let window: Vec<usize> = past
                .iter()
                .copied()
                .filter(|&j| rows[j].unix_time > t - w && rows[j].unix_time <= t)
                .collect();
            set(&format!("cnt_{name}"), window.len() as f64);
            let cents: i64 = window.iter().map(|&j| rows[j].amount_cents()).sum();
            set(&format!("sum_{name}"), cents as f64 / 100.0);
            let nights = window
                .iter()
                .filter(|&&j| is_night(rows[j].unix_time))
                .count();
            if name == "6h" {
                set("night_cnt_6h", nights as f64);
            }
            if name == "24h" {
                set("night_cnt_24h", nights as f64);
                let same = window.iter().filter(|&&j| rows[j].category == txn.category);
                set("same_category_cnt_24h", same.count() as f64);
                let large = window.iter().filter(|&&j| rows[j].amount_cents() >= 20_000);
                set("large_cnt_24h", large.count() as f64);
                let mut categories: Vec<Category> =
                    window.iter().map(|&j| rows[j].category).collect();
                categories.sort();
                categories.dedup();
                set("distinct_categories_24h", categories.len() as f64);
                let risk_sum: u64 = window.iter().map(|&j| u64::from(risks[j])).sum();
                set("risk_sum_24h", risk_sum as f64 / RISK_SCALE);
                let risk_max = window.iter().map(|&j| risks[j]).max().unwrap_or(0);
                set("risk_max_24h", f64::from(risk_max) / RISK_SCALE);
            }
        }
        // The previous transaction: the latest at or before t, the last to arrive among ties.
        let prev = past
            .iter()
            .copied()
            .filter(|&j| rows[j].unix_time <= t)
            .max_by_key(|&j| (rows[j].unix_time, j));
        let of_prev = |f: &dyn Fn(usize) -> f64| prev.map_or(f64::NAN, f);
        set(
            "secs_since_prev",
            of_prev(&|j| (t - rows[j].unix_time) as f64),
        );
        set(
            "prev_amt",
            of_prev(&|j| rows[j].amount_cents() as f64 / 100.0),
        );
        set(
            "prev_category",
            of_prev(&|j| f64::from(rows[j].category.code())),
        );
        set(
            "prev_hour",
            of_prev(&|j| f64::from(hour_of(rows[j].unix_time))),
        );
        set("prev_risk", of_prev(&|j| f64::from(risks[j]) / RISK_SCALE));
        let n = past.len() as f64;
        let amt = txn.amount_cents() as f64 / 100.0;
        let sum: i64 = past.iter().map(|&j| rows[j].amount_cents()).sum();
        let mean = sum as f64 / n / 100.0;
        let var = past
            .iter()
            .map(|&j| (rows[j].amount_cents() as f64 / 100.0 - mean).powi(2))
            .sum::<f64>()
            / n;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        set(
            "amt_over_card_mean",
            if n > 0.0 { ratio(amt, mean) } else { f64::NAN },
        );
        set(
            "amt_zscore",
            if n > 0.0 && var > 0.0 {
                (amt - mean) / var.sqrt()
            } else {
                f64::NAN
            },
        );
        let in_category: Vec<usize> = past
            .iter()
            .copied()
            .filter(|&j| rows[j].category == txn.category)
            .collect();
        let nc = in_category.len() as f64;
        set("category_share", if n > 0.0 { nc / n } else { f64::NAN });
        let category_cents: i64 = in_category.iter().map(|&j| rows[j].amount_cents()).sum();
        set(
            "amt_over_category_mean",
            if nc > 0.0 {
                ratio(amt, category_cents as f64 / nc / 100.0)
            } else {
                f64::NAN
            },
        );
        let afternoon = |u: i64| hour_of(u) >= 12;
        let same_half = in_category
            .iter()
            .filter(|&&j| afternoon(rows[j].unix_time) == afternoon(t))
            .count() as f64;
        set(
            "category_halfday_share",
            if nc > 0.0 { same_half / nc } else { f64::NAN },
        );
        risks.push(HashedRisk.risk(txn.cc_num, &x));
        out.push(x);
    }
    out
}

fn batch(rows: &[Transaction]) -> Vec<FeatureVector> {
    let mut builder = FeatureBuilder::with_risk(&HashedRisk);
    rows.iter()
        .map(|t| builder.next(&FeatureInput::from_transaction(t)))
        .collect()
}

/// The batch path a file at a time: shards of cards worked in parallel, in odd-sized batches.
fn sharded(rows: &[Transaction]) -> Vec<FeatureVector> {
    let mut builder = FeatureBuilder::with_risk(&HashedRisk);
    let inputs: Vec<FeatureInput> = rows.iter().map(FeatureInput::from_transaction).collect();
    inputs
        .chunks(97)
        .flat_map(|batch| builder.next_batch(batch))
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
            let features = observe(&mut card, &input, &HashedRisk);
            store.insert(txn.cc_num, serde_json::to_string(&card).unwrap());
            features
        })
        .collect()
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn check_paths_agree(rows: &[Transaction]) {
    let (a, b, reference) = (batch(rows), online(rows), brute_force(rows));
    let c = sharded(rows);
    let mut risky = 0;
    for (i, ((x, y), r)) in a.iter().zip(&b).zip(&reference).enumerate() {
        risky += usize::from(x[index("risk_max_24h")] > 0.0);
        for (f, name) in FEATURE_NAMES.iter().enumerate() {
            assert!(
                same(x[f], y[f]),
                "row {i} {name}: batch {} vs online {}",
                x[f],
                y[f]
            );
            assert!(
                same(x[f], c[i][f]),
                "row {i} {name}: batch {} vs sharded {}",
                x[f],
                c[i][f]
            );
            let ok = same(x[f], r[f])
                || (f == ZSCORE && (x[f] - r[f]).abs() <= 1e-9 * r[f].abs().max(1.0));
            assert!(ok, "row {i} {name}: {} vs definition {}", x[f], r[f]);
        }
    }
    assert!(
        risky > rows.len() / 4,
        "the risk features were exercised ({risky} rows)"
    );
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
    let every: Vec<usize> = (0..data.n_rows()).collect();
    let got = features_of(&data.inputs, &data.labels, &HashedRisk, &every);
    assert_eq!(got.n_rows(), expected.len());
    let some: Vec<usize> = (0..data.n_rows()).step_by(3).collect();
    let kept = features_of(&data.inputs, &data.labels, &HashedRisk, &some);
    for (i, row) in expected.iter().enumerate() {
        assert!(
            row.iter().zip(&got.row(i)).all(|(a, b)| same(*a, *b)),
            "row {i}"
        );
    }
    for (k, &i) in some.iter().enumerate() {
        assert!(
            expected[i]
                .iter()
                .zip(&kept.row(k))
                .all(|(a, b)| same(*a, *b)),
            "kept row {i}"
        );
        assert_eq!(kept.labels[k], data.labels[i]);
    }
}
