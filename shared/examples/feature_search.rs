//! How each candidate feature was chosen: fits the final gbdt on subsets of the feature vector
//! and prints each subset's AUC-PR and best F1 on the validation slice (the last 15 % of the
//! training rows by time). The test file is never read.
//!
//!     cargo run --release -p fraud-core --example feature_search -- TRAIN.csv[.zst] \
//!         [candidates|ablation|all] [--gbdt '{"iterations": 100}'] [--risk '{"max_depth": 4}']
//!
//! `candidates`: the original 22 features, each candidate added to them alone, all first-stage
//! features, then each remembered-risk feature added to those, and everything.
//! `ablation`: every feature, then every feature but one, for each feature.
//! `all`: every feature only (to compare hyper-parameters).
//! `--gbdt` and `--risk` override hyper-parameters of the final model and the first stage.

use std::time::Instant;

use fraud_core::metrics::{Curve, ValueMetrics};
use fraud_core::model::{GbdtModel, GbdtParams};
use fraud_core::train::{Prepared, TrainConfig, load_training_data, predict_all, prepare};
use fraud_core::{FEATURE_NAMES, N_FEATURES, ReadMode};

/// The features of the first model version (issue 2), the starting point.
const ORIGINAL: usize = 22;

fn with_json(params: &GbdtParams, json: Option<&String>) -> GbdtParams {
    let Some(json) = json else {
        return params.clone();
    };
    let mut value = serde_json::to_value(params).expect("params serialize");
    let extra: serde_json::Value = serde_json::from_str(json).expect("a JSON object");
    for (k, v) in extra.as_object().expect("a JSON object") {
        assert!(value.get(k).is_some(), "unknown parameter {k}");
        value[k] = v.clone();
    }
    serde_json::from_value(value).expect("valid parameters")
}

fn indices(names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| {
            FEATURE_NAMES
                .iter()
                .position(|f| f == n)
                .unwrap_or_else(|| panic!("unknown feature {n}"))
        })
        .collect()
}

fn run(label: &str, features: &[usize], prepared: &Prepared, params: &GbdtParams) {
    let started = Instant::now();
    let model = GbdtModel::fit_sample(&prepared.fit_set, features, params).expect("fit");
    let seconds = started.elapsed().as_secs_f64();
    let scores = predict_all(&fraud_core::model::Model::Gbdt(model), &prepared.valid_set);
    let valid = &prepared.valid_set;
    let curve = Curve::new(&valid.labels, &scores);
    let (threshold, f1) = curve.best_f1_threshold();
    let value = ValueMetrics::compute(
        &valid.labels,
        &scores,
        valid.column(0),
        &vec![0; valid.n_rows()],
        &vec![0; valid.n_rows()],
        threshold,
    );
    println!(
        "| {label} | {} | {:.4} | {f1:.4} | {:.4} | {seconds:.1} s |",
        features.len(),
        curve.average_precision(),
        value.value_detection_rate,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect(
        "usage: feature_search TRAIN [candidates|ablation|all] [--gbdt JSON] [--risk JSON]",
    );
    let protocol = args.get(2).map_or("candidates", String::as_str);
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let defaults = TrainConfig::default();
    let config = TrainConfig {
        gbdt: with_json(&defaults.gbdt, flag("--gbdt")),
        card_risk: with_json(&defaults.card_risk, flag("--risk")),
        ..defaults
    };
    let started = Instant::now();
    let data = load_training_data(path.as_ref(), ReadMode::Strict, &|_| {}).expect("training data");
    let prepared = prepare(&data, &config).expect("features");
    println!(
        "{} rows; fit sample {} rows ({} frauds), validation {} rows ({} frauds); prepared in {:.1} s",
        data.n_rows(),
        prepared.fit_set.n_rows(),
        prepared.fit_set.frauds(),
        prepared.valid_set.n_rows(),
        prepared.valid_set.frauds(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "final model {:?}\nfirst stage {:?}\n",
        config.gbdt, config.card_risk
    );
    println!(
        "| feature set | features | validation AUC-PR | validation best F1 | value detection at that F1 | fit |"
    );
    println!("|---|---|---|---|---|---|");
    let params = &config.gbdt;
    let first_stage = fraud_core::features::FIRST_STAGE_FEATURES;
    let original: Vec<usize> = (0..ORIGINAL).collect();
    match protocol {
        "candidates" => {
            run("original 22", &original, &prepared, params);
            let groups: &[&[&str]] = &[
                &["cnt_6h", "sum_6h", "night_cnt_6h"],
                &["large_cnt_24h"],
                &["distinct_categories_24h"],
                &["prev_amt"],
                &["prev_category"],
                &["prev_hour"],
                &["amt_over_category_mean"],
                &["category_halfday_share"],
            ];
            for group in groups {
                let mut set = original.clone();
                set.extend(indices(group));
                run(
                    &format!("original + {}", group.join(", ")),
                    &set,
                    &prepared,
                    params,
                );
            }
            let stage1: Vec<usize> = (0..first_stage).collect();
            run(
                "first-stage features (all above)",
                &stage1,
                &prepared,
                params,
            );
            for (f, name) in FEATURE_NAMES.iter().enumerate().skip(first_stage) {
                let mut set = stage1.clone();
                set.push(f);
                run(&format!("first-stage + {name}"), &set, &prepared, params);
            }
            let all: Vec<usize> = (0..N_FEATURES).collect();
            run("all", &all, &prepared, params);
        }
        "all" => run(
            "all",
            &(0..N_FEATURES).collect::<Vec<_>>(),
            &prepared,
            params,
        ),
        "ablation" => {
            let all: Vec<usize> = (0..N_FEATURES).collect();
            run("all", &all, &prepared, params);
            for (f, name) in FEATURE_NAMES.iter().enumerate() {
                let set: Vec<usize> = all.iter().copied().filter(|&g| g != f).collect();
                run(&format!("all but {name}"), &set, &prepared, params);
            }
        }
        other => panic!("unknown protocol {other}"),
    }
}
