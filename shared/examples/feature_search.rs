//! How each candidate feature was chosen: fits the final gbdt on subsets of the feature vector
//! and prints each subset's AUC-PR and best F1 on the validation slice (the last 15 % of the
//! training rows by time). The test file is never read.
//!
//!     cargo run --release -p fraud-core --example feature_search -- TRAIN.csv[.zst] \
//!         [candidates|ablation|all|thresholds] [--gbdt '{"iterations": 100}'] [--risk '{"max_depth": 4}']
//!
//! `candidates`: the original 22 features, each candidate added to them alone, all first-stage
//! features, then each remembered-risk feature added to those, and everything.
//! `ablation`: every feature, then every feature but one, for each feature.
//! `all`: every feature only (to compare hyper-parameters).
//! `thresholds`: every feature, and the decision rules the threshold could follow (F1, dollar
//! cost, a fixed cost per false decline, an amount-aware rule), each with F1 and dollars.
//! `--gbdt` and `--risk` override hyper-parameters of the final model and the first stage.

use std::time::Instant;

use fraud_core::metrics::{Curve, Metrics, ValueMetrics, least_dollar_cost_threshold};
use fraud_core::model::{GbdtModel, GbdtParams};
use fraud_core::train::{Prepared, TrainConfig, load_training_data, predict_all, prepare};
use fraud_core::{FEATURE_NAMES, N_FEATURES, ReadMode};

/// The features of the first model version (issue 2), the starting point.
const ORIGINAL: usize = 22;

/// `params` with the fields of the JSON object `json` (a `--gbdt` or `--risk` flag) replaced.
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

/// The positions of the features `names` in the feature vector.
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

/// Fits the final model on the columns `features` and prints its table row: AUC-PR, best F1,
/// and F1, value detection and dollar cost at the least-cost threshold.
fn run(label: &str, features: &[usize], prepared: &Prepared, params: &GbdtParams) {
    let started = Instant::now();
    let model = GbdtModel::fit_sample(&prepared.fit_set, features, params).expect("fit");
    let seconds = started.elapsed().as_secs_f64();
    let scores = predict_all(&fraud_core::model::Model::Gbdt(model), &prepared.valid_set);
    let valid = &prepared.valid_set;
    let curve = Curve::new(&valid.labels, &scores);
    let (_, f1) = curve.best_f1_threshold();
    let (threshold, cost) = least_dollar_cost_threshold(&valid.labels, &scores, valid.column(0));
    let at_cost = Metrics::compute(&valid.labels, &scores, threshold);
    let value = ValueMetrics::compute(
        &valid.labels,
        &scores,
        valid.column(0),
        &vec![0; valid.n_rows()],
        &vec![0; valid.n_rows()],
        threshold,
    );
    println!(
        "| {label} | {} | {:.4} | {f1:.4} | {:.4} | {:.4} | ${cost:.0} | {seconds:.1} s |",
        features.len(),
        curve.average_precision(),
        at_cost.f1,
        value.value_detection_rate,
    );
}

/// The validation slice scored by one model: what each decision rule is judged on.
struct ScoredSlice<'a> {
    labels: &'a [u8],
    amounts: &'a [f64],
    scores: Vec<f64>,
}

impl ScoredSlice<'_> {
    /// Declines at or above `threshold`.
    fn at(&self, threshold: f64) -> Vec<bool> {
        self.scores.iter().map(|&p| p >= threshold).collect()
    }

    /// One table row: the rule's F1, value detection, false declines and dollars lost.
    fn print_row(&self, rule: &str, threshold: String, declined: &[bool]) {
        let (labels, scores, amounts) = (self.labels, &self.scores, self.amounts);
        let (cards, days) = (vec![0u64; labels.len()], vec![0i64; labels.len()]);
        let v = ValueMetrics::with_decisions(labels, scores, amounts, &cards, &days, declined);
        let (tp, fp) = labels
            .iter()
            .zip(declined)
            .fold((0, 0), |(tp, fp), (&l, &d)| {
                (tp + u64::from(d && l == 1), fp + u64::from(d && l == 0))
            });
        let frauds = labels.iter().filter(|&&l| l == 1).count() as f64;
        let f1 = 2.0 * tp as f64 / (tp as f64 + fp as f64 + frauds);
        let cost = v.fraud_dollars - v.fraud_dollars_caught + v.good_dollars_declined;
        println!(
            "| {rule} | {threshold} | {f1:.4} | {:.4} | {fp} | ${:.0} | ${cost:.0} |",
            v.value_detection_rate, v.good_dollars_declined
        );
    }
}

/// Decision rules for the full model on the validation slice: the F1 threshold and thresholds
/// below it, the least-dollar-cost threshold (the default), the threshold a fixed cost `D` per
/// false decline would choose, and the amount-aware rule "decline when p * amt >= (1 - p) * D"
/// (the Bayes decision for calibrated p with that cost), each with F1 and the dollars.
fn thresholds(prepared: &Prepared, params: &GbdtParams) {
    let all: Vec<usize> = (0..N_FEATURES).collect();
    let model = GbdtModel::fit_sample(&prepared.fit_set, &all, params).expect("fit");
    let valid = &prepared.valid_set;
    let slice = ScoredSlice {
        labels: &valid.labels,
        amounts: valid.column(0),
        scores: predict_all(&fraud_core::model::Model::Gbdt(model), valid),
    };
    println!(
        "| rule | threshold | F1 | value detection | false declines | good spend declined | dollar cost |"
    );
    println!("|---|---|---|---|---|---|---|");
    let (best, _) = Curve::new(slice.labels, &slice.scores).best_f1_threshold();
    for factor in [1.0, 0.6, 0.4, 0.2, 0.1, 0.05] {
        let t = best * factor;
        let rule = format!("{factor} x the F1 threshold");
        slice.print_row(&rule, format!("{t:.4}"), &slice.at(t));
    }
    let (t, _) = least_dollar_cost_threshold(slice.labels, &slice.scores, slice.amounts);
    slice.print_row(
        "least dollar cost (default)",
        format!("{t:.4}"),
        &slice.at(t),
    );
    print_fixed_cost_rules(&slice);
    print_amount_aware_rules(&slice);
}

/// The thresholds a fixed cost per false decline would choose: the least of missed fraud dollars
/// plus `d` per false decline, as the least dollar cost with an amount of `d` on every good row.
fn print_fixed_cost_rules(slice: &ScoredSlice) {
    for d in [25.0, 50.0, 100.0, 200.0] {
        let flat: Vec<f64> = slice
            .labels
            .iter()
            .zip(slice.amounts)
            .map(|(&l, &a)| if l == 1 { a } else { d })
            .collect();
        let (t, _) = least_dollar_cost_threshold(slice.labels, &slice.scores, &flat);
        let rule = format!("least cost, ${d:.0} per false decline");
        slice.print_row(&rule, format!("{t:.4}"), &slice.at(t));
    }
}

/// "Decline when p * amt >= (1 - p) * D": no single threshold, the amount decides.
fn print_amount_aware_rules(slice: &ScoredSlice) {
    for d in [50.0, 100.0, 200.0, 400.0] {
        let declined: Vec<bool> = slice
            .scores
            .iter()
            .zip(slice.amounts)
            .map(|(&p, &a)| p * a >= (1.0 - p) * d)
            .collect();
        let rule = format!("p x amt >= (1 - p) x ${d:.0}");
        slice.print_row(&rule, "by amount".into(), &declined);
    }
}

/// The usage line, shown when the training file is missing.
const USAGE: &str =
    "usage: feature_search TRAIN [candidates|ablation|all|thresholds] [--gbdt JSON] [--risk JSON]";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect(USAGE);
    let protocol = args.get(2).map_or("candidates", String::as_str);
    let config = config_from_flags(&args);
    let prepared = prepare_and_describe(path, &config);
    if protocol != "thresholds" {
        println!(
            "| feature set | features | validation AUC-PR | validation best F1 | F1 at the least-cost threshold | value detection there | dollar cost there | fit |"
        );
        println!("|---|---|---|---|---|---|---|---|");
    }
    let params = &config.gbdt;
    match protocol {
        "candidates" => candidates(&prepared, params),
        "all" => run(
            "all",
            &(0..N_FEATURES).collect::<Vec<_>>(),
            &prepared,
            params,
        ),
        "ablation" => ablation(&prepared, params),
        "thresholds" => thresholds(&prepared, params),
        other => panic!("unknown protocol {other}"),
    }
}

/// The default training configuration with `--gbdt` and `--risk` applied.
fn config_from_flags(args: &[String]) -> TrainConfig {
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let defaults = TrainConfig::default();
    TrainConfig {
        gbdt: with_json(&defaults.gbdt, flag("--gbdt")),
        card_risk: with_json(&defaults.card_risk, flag("--risk")),
        ..defaults
    }
}

/// Loads the training file, fits the first stage and computes the features once for every
/// protocol, and says what they hold and how long that took.
fn prepare_and_describe(path: &str, config: &TrainConfig) -> Prepared {
    let started = Instant::now();
    let data = load_training_data(path.as_ref(), ReadMode::Strict, &|_| {}).expect("training data");
    let prepared = prepare(&data, config).expect("features");
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
    prepared
}

/// `candidates`: the original features, each candidate group added to them alone, all
/// first-stage features, each remembered-risk feature added to those, and everything.
fn candidates(prepared: &Prepared, params: &GbdtParams) {
    let original: Vec<usize> = (0..ORIGINAL).collect();
    run("original 22", &original, prepared, params);
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
        let label = format!("original + {}", group.join(", "));
        run(&label, &set, prepared, params);
    }
    let first_stage = fraud_core::features::FIRST_STAGE_FEATURES;
    let stage1: Vec<usize> = (0..first_stage).collect();
    run(
        "first-stage features (all above)",
        &stage1,
        prepared,
        params,
    );
    for (f, name) in FEATURE_NAMES.iter().enumerate().skip(first_stage) {
        let mut set = stage1.clone();
        set.push(f);
        run(&format!("first-stage + {name}"), &set, prepared, params);
    }
    let all: Vec<usize> = (0..N_FEATURES).collect();
    run("all", &all, prepared, params);
}

/// `ablation`: every feature, then every feature but one, for each feature.
fn ablation(prepared: &Prepared, params: &GbdtParams) {
    let all: Vec<usize> = (0..N_FEATURES).collect();
    run("all", &all, prepared, params);
    for (f, name) in FEATURE_NAMES.iter().enumerate() {
        let set: Vec<usize> = all.iter().copied().filter(|&g| g != f).collect();
        run(&format!("all but {name}"), &set, prepared, params);
    }
}
