//! How each candidate feature was chosen: fits the final gbdt on subsets of the feature vector
//! and prints each subset's AUC-PR and best F1 on the validation slice (the last 15 % of the
//! training rows by time). The test file is never read.
//!
//!     cargo run --release -p fraud-core --example feature_search -- TRAIN.csv[.zst] \
//!         [candidates|ablation|all|thresholds|threshold-folds|cold] [--gbdt '{"iterations": 100}'] [--risk '{"max_depth": 4}']
//!
//! `candidates`: the original 22 features, each candidate added to them alone, all first-stage
//! features, then each remembered-risk feature added to those, and everything.
//! `ablation`: every feature, then every feature but one, for each feature.
//! `all`: every feature only (to compare hyper-parameters).
//! `thresholds`: every feature, and the decision rules the threshold could follow (F1, dollar
//! cost, a fixed cost per false decline, an amount-aware rule), each with F1 and dollars.
//! `threshold-folds`: every feature; each rule chooses its threshold on two of three time folds
//! of the validation slice and is judged on the third (out of sample), plus the calibration.
//! `cold`: the model without and with cold-start rows, on the validation slice with its card
//! histories and from empty ones (`--cold '{"restarts": 4, "days": 30}'`), and for each the
//! threshold and dollar cost at which the slice would catch 99 % of its fraud dollars.
//! `--gbdt` and `--risk` override hyper-parameters of the final model and the first stage.

use std::time::Instant;

use fraud_core::metrics::{Curve, Metrics, ValueMetrics, least_dollar_cost_threshold};
use fraud_core::model::{Dataset, GbdtModel, GbdtParams};
use fraud_core::train::{
    ColdStarts, Prepared, TrainConfig, features_of, load_training_data, predict_all, prepare,
};
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
    let (at_cost, value) = at_threshold(valid, &scores, threshold);
    println!(
        "| {label} | {} | {:.4} | {f1:.4} | {:.4} | {:.4} | ${cost:.0} | {seconds:.1} s |",
        features.len(),
        curve.average_precision(),
        at_cost.f1,
        value.value_detection_rate,
    );
}

/// F1 and the dollar figures of `scores` on `valid` at `threshold`: what every table reports.
fn at_threshold(valid: &Dataset, scores: &[f64], threshold: f64) -> (Metrics, ValueMetrics) {
    let (labels, amounts) = (&valid.labels, valid.column(0));
    let (cards, days) = (vec![0; valid.n_rows()], vec![0; valid.n_rows()]);
    (
        Metrics::compute(labels, scores, threshold),
        ValueMetrics::compute(labels, scores, amounts, &cards, &days, threshold),
    )
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

/// The folds each rule is judged on: contiguous thirds of the validation slice by time.
const FOLDS: usize = 3;

/// A rule that chooses a threshold from labelled, scored rows (labels, scores, amounts).
type Rule = fn(&[u8], &[f64], &[f64]) -> f64;

/// The median of the least-dollar-cost thresholds of 25 bootstrap resamples of the rows: the
/// argmin of one noisy cost curve, steadied.
fn bagged_least_cost(labels: &[u8], scores: &[f64], amounts: &[f64]) -> f64 {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as usize
    };
    let n = labels.len();
    let mut chosen: Vec<f64> = (0..25)
        .map(|_| {
            let rows: Vec<usize> = (0..n).map(|_| next() % n).collect();
            let pick = |v: &[f64]| rows.iter().map(|&i| v[i]).collect::<Vec<f64>>();
            let l: Vec<u8> = rows.iter().map(|&i| labels[i]).collect();
            least_dollar_cost_threshold(&l, &pick(scores), &pick(amounts)).0
        })
        .collect();
    chosen.sort_by(f64::total_cmp);
    chosen[chosen.len() / 2]
}

/// `threshold-folds`: each rule's out-of-sample cost. The validation slice is cut into three
/// time folds; for each, the rule chooses on the other two and declines on it. A rule that
/// only fits the noise of its own rows loses here, where the in-sample table cannot show it.
fn threshold_folds(prepared: &Prepared, params: &GbdtParams) {
    let all: Vec<usize> = (0..N_FEATURES).collect();
    let model = GbdtModel::fit_sample(&prepared.fit_set, &all, params).expect("fit");
    let valid = &prepared.valid_set;
    let scores = predict_all(&fraud_core::model::Model::Gbdt(model), valid);
    let (labels, amounts) = (&valid.labels[..], valid.column(0));
    print_calibration(labels, &scores);
    let rules: [(&str, Rule); 4] = [
        ("least dollar cost (default)", |l, s, a| {
            least_dollar_cost_threshold(l, s, a).0
        }),
        ("max F1", |l, s, _| Curve::new(l, s).best_f1_threshold().0),
        (
            "bagged least dollar cost (median of 25 resamples)",
            bagged_least_cost,
        ),
        ("p >= 0.5 (no fit: the calibrated break-even)", |_, _, _| {
            0.5
        }),
    ];
    println!(
        "| rule | thresholds chosen | F1 | value detection | false declines | good spend declined | dollar cost |"
    );
    println!("|---|---|---|---|---|---|---|");
    let n = labels.len();
    let bounds: Vec<usize> = (0..=FOLDS).map(|k| k * n / FOLDS).collect();
    for (name, rule) in rules {
        let mut declined = vec![false; n];
        let mut chosen = Vec::new();
        for k in 0..FOLDS {
            let held = bounds[k]..bounds[k + 1];
            let rest = |v: &[f64]| [&v[..held.start], &v[held.end..]].concat();
            let rest_labels = [&labels[..held.start], &labels[held.end..]].concat();
            let t = rule(&rest_labels, &rest(&scores), &rest(amounts));
            chosen.push(format!("{t:.4}"));
            for i in held {
                declined[i] = scores[i] >= t;
            }
        }
        let slice = ScoredSlice {
            labels,
            amounts,
            scores: scores.clone(),
        };
        slice.print_row(name, chosen.join(", "), &declined);
    }
}

/// Expected frauds (the sum of the probabilities) against the frauds seen, by score band: the
/// break-even rule p >= 0.5 is only right if these agree.
fn print_calibration(labels: &[u8], scores: &[f64]) {
    println!("| score band | rows | expected frauds | frauds |\n|---|---|---|---|");
    let bands = [0.0, 0.01, 0.05, 0.15, 0.3, 0.5, 0.7, 0.9, 1.0];
    for w in bands.windows(2) {
        let rows = scores
            .iter()
            .zip(labels)
            .filter(|(p, _)| **p >= w[0] && (**p < w[1] || w[1] == 1.0));
        let (mut count, mut expected, mut seen) = (0, 0.0, 0);
        for (p, l) in rows {
            count += 1;
            expected += p;
            seen += u32::from(*l);
        }
        println!(
            "| {:.2}-{:.2} | {count} | {expected:.1} | {seen} |",
            w[0], w[1]
        );
    }
    println!();
}

/// One line: AUC-PR, best F1, and the least-cost threshold's figures on `valid`.
fn judge(label: &str, scores: &[f64], valid: &Dataset) {
    let curve = Curve::new(&valid.labels, scores);
    let (_, f1) = curve.best_f1_threshold();
    let (threshold, cost) = least_dollar_cost_threshold(&valid.labels, scores, valid.column(0));
    let (at, value) = at_threshold(valid, scores, threshold);
    println!(
        "| {label} | {:.4} | {f1:.4} | {threshold:.4} | {:.4} | {:.4} | ${cost:.0} |",
        curve.average_precision(),
        at.f1,
        value.value_detection_rate
    );
}

/// The figures from empty histories at the threshold chosen on the slice with history (the
/// model's own rule): what a file scored from an empty history gets in `fraud eval`.
fn at_warm_threshold(name: &str, warm: (&Dataset, &[f64]), cold: (&Dataset, &[f64])) {
    let ((warm, warm_scores), (cold, scores)) = (warm, cold);
    let (t, _) = least_dollar_cost_threshold(&warm.labels, warm_scores, warm.column(0));
    let (m, v) = at_threshold(cold, scores, t);
    let cost = v.fraud_dollars - v.fraud_dollars_caught + v.good_dollars_declined;
    println!(
        "{name}, from empty history at the threshold chosen with history ({t:.4}): F1 {:.4}, value detection {:.4}, false declines {}, missed frauds {}, cost ${cost:.0}",
        m.f1, v.value_detection_rate, m.confusion.fp, m.confusion.fn_
    );
}

/// `cold`: the model fitted without and with cold-start rows (`ColdStarts`; `--cold
/// '{"restarts": 2, "days": 60}'` sets them), each judged on the validation slice with its
/// card histories from the fit slice and on the same slice scored from empty histories (as
/// `fraud eval` scores a file, and as a new deployment starts).
fn cold(path: &str, config: &TrainConfig, cold_json: Option<&String>) {
    let data = load_training_data(path.as_ref(), ReadMode::Strict, &|_| {}).expect("training data");
    let with = TrainConfig {
        cold_starts: cold_json.map_or(config.cold_starts, |j| {
            serde_json::from_str(j).expect("{\"restarts\": N, \"days\": D}")
        }),
        ..config.clone()
    };
    let without = TrainConfig {
        cold_starts: ColdStarts {
            restarts: 0,
            ..with.cold_starts
        },
        ..config.clone()
    };
    println!("cold starts {:?}", with.cold_starts);
    println!(
        "| model | validation | AUC-PR | best F1 | least-cost threshold | F1 there | value detection there | dollar cost there |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let all: Vec<usize> = (0..N_FEATURES).collect();
    for (name, config) in [("without cold-start rows", &without), ("with them", &with)] {
        let prepared = prepare(&data, config).expect("features");
        let n_fit = prepared.n_fit;
        let valid_rows: Vec<usize> = (0..data.n_rows() - n_fit).collect();
        let (inputs, labels) = (&data.inputs[n_fit..], &data.labels[n_fit..]);
        let cold_valid = features_of(inputs, labels, &prepared.card_risk, &valid_rows);
        let model = GbdtModel::fit_sample(&prepared.fit_set, &all, &config.gbdt).expect("fit");
        let model = fraud_core::model::Model::Gbdt(model);
        let warm = (
            &prepared.valid_set,
            &predict_all(&model, &prepared.valid_set)[..],
        );
        let cold = (&cold_valid, &predict_all(&model, &cold_valid)[..]);
        judge(
            &format!("{name} | warm (history from the fit slice)"),
            warm.1,
            warm.0,
        );
        judge(
            &format!("{name} | cold (empty history at its first row)"),
            cold.1,
            cold.0,
        );
        at_warm_threshold(name, warm, cold);
        for (slice, (set, scores)) in [("warm", warm), ("cold", cold)] {
            value_detection_price(&format!("{name} | {slice}"), set, scores, 0.99);
        }
    }
}

/// The highest threshold at which `scores` catch `target` of the fraud dollars of `valid`, and
/// what it costs there in false declines and dollars: the price of a value-detection bar.
fn value_detection_price(label: &str, valid: &Dataset, scores: &[f64], target: f64) {
    let (labels, amounts) = (&valid.labels, valid.column(0));
    let mut frauds: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == 1).collect();
    frauds.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let fraud_dollars: f64 = frauds.iter().map(|&i| amounts[i]).sum();
    let mut caught = 0.0;
    let Some(&last) = frauds.iter().find(|&&i| {
        caught += amounts[i];
        caught >= target * fraud_dollars
    }) else {
        return;
    };
    let threshold = scores[last];
    let (m, v) = at_threshold(valid, scores, threshold);
    let cost = v.fraud_dollars - v.fraud_dollars_caught + v.good_dollars_declined;
    println!(
        "{label}: value detection {target} needs threshold {threshold:.4}: {} false declines, ${:.0} of good spend declined, cost ${cost:.0}",
        m.confusion.fp, v.good_dollars_declined
    );
}

/// The usage line, shown when the training file is missing.
const USAGE: &str = "usage: feature_search TRAIN [candidates|ablation|all|thresholds|threshold-folds|cold] [--gbdt JSON] [--risk JSON]";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect(USAGE);
    let protocol = args.get(2).map_or("candidates", String::as_str);
    let config = config_from_flags(&args);
    if protocol == "cold" {
        let flag = args.iter().position(|a| a == "--cold");
        return cold(path, &config, flag.and_then(|i| args.get(i + 1)));
    }
    let prepared = prepare_and_describe(path, &config);
    if !protocol.starts_with("threshold") {
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
        "threshold-folds" => threshold_folds(&prepared, params),
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
