//! Measures why the artifact stores flattened trees: per-row scoring time of forust-ml's own
//! `predict` against our flat tree array, on the same fitted model and rows.
//!
//!     cargo run --release -p fraud-core --example flat_vs_forust -- TRAIN.csv[.zst]

use std::time::Instant;

use forust_ml::Matrix;
use fraud_core::model::GbdtModel;
use fraud_core::train::{TrainConfig, load_training_data, prepare};
use fraud_core::{N_FEATURES, ReadMode};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: flat_vs_forust TRAIN.csv[.zst]");
    let data = load_training_data(path.as_ref(), ReadMode::Strict, &|_| {}).expect("training data");
    let config = TrainConfig::default();
    let prepared = prepare(&data, &config).expect("features");
    let fit = &prepared.fit_set;
    let rows = prepared
        .valid_set
        .slice(0..prepared.valid_set.n_rows().min(20_000));
    let params = config.gbdt;
    let all: Vec<usize> = (0..N_FEATURES).collect();
    let booster = GbdtModel::fit_booster(fit, &all, &params).expect("fit");
    let flat = GbdtModel::from_booster(&booster, &all, &params).expect("flatten");
    let n = rows.n_rows();
    let gathered: Vec<_> = (0..n).map(|i| rows.row(i)).collect();

    // One row at a time, as the online service scores.
    let started = Instant::now();
    let mut theirs = 0.0;
    for row in &gathered {
        theirs += booster.predict(&Matrix::new(row, 1, N_FEATURES), false)[0];
    }
    let forust_us = started.elapsed().as_secs_f64() * 1e6 / n as f64;

    let started = Instant::now();
    let mut ours = 0.0;
    for row in &gathered {
        ours += flat.log_odds(row);
    }
    let flat_us = started.elapsed().as_secs_f64() * 1e6 / n as f64;

    let json_bytes = booster.json_dump().map(|j| j.len()).unwrap_or(0);
    let flat_bytes = bincode::serde::encode_to_vec(&flat, bincode::config::standard())
        .unwrap()
        .len();
    println!(
        "rows scored one by one: {n}; trees {}; nodes {}",
        flat.trees.n_trees(),
        flat.trees.nodes.len()
    );
    println!("forust-ml predict: {forust_us:.2} us/row; model JSON {json_bytes} bytes");
    println!("flat trees:        {flat_us:.2} us/row; model bincode {flat_bytes} bytes");
    println!(
        "mean log-odds difference: {:.2e}",
        ((theirs - ours + n as f64 * (flat.offset - booster.base_score)) / n as f64).abs()
    );
}
