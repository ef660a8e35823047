//! The metrics against values computed independently with scikit-learn and pandas
//! (tests/fixtures/metrics/metrics_expected.py wrote the expected numbers).

use fraud_core::metrics::{Curve, Metrics, ValueMetrics};
use serde_json::Value;

const EXPECTED: &str = include_str!("../../tests/fixtures/metrics/metrics_expected.json");

fn close(name: &str, case: &str, ours: f64, theirs: &Value) {
    let theirs = theirs.as_f64().unwrap();
    assert!(
        (ours - theirs).abs() < 1e-12,
        "{case}: {name} {ours} vs scikit-learn {theirs}"
    );
}

#[test]
fn metrics_match_scikit_learn() {
    let fixture: Value = serde_json::from_str(EXPECTED).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let labels: Vec<u8> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        let scores: Vec<f64> = case["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let column = |key: &str| case[key].as_array().unwrap().iter();
        let amounts: Vec<f64> = column("amounts").map(|v| v.as_f64().unwrap()).collect();
        let cards: Vec<u64> = column("cards").map(|v| v.as_u64().unwrap()).collect();
        let days: Vec<i64> = column("days").map(|v| v.as_i64().unwrap()).collect();
        let threshold = case["threshold"].as_f64().unwrap();
        let e = &case["expected"];
        let m = Metrics::compute(&labels, &scores, threshold);
        close("auc_roc", name, m.auc_roc, &e["auc_roc"]);
        close("auc_pr", name, m.auc_pr, &e["auc_pr"]);
        close("precision", name, m.precision, &e["precision"]);
        close("recall", name, m.recall, &e["recall"]);
        close("f1", name, m.f1, &e["f1"]);
        close(
            "recall_at_1pct_fpr",
            name,
            m.recall_at_1pct_fpr,
            &e["recall_at_1pct_fpr"],
        );
        let c = &e["confusion"];
        assert_eq!(
            [
                m.confusion.tp,
                m.confusion.fp,
                m.confusion.tn,
                m.confusion.fn_
            ],
            ["tp", "fp", "tn", "fn"].map(|k| c[k].as_u64().unwrap()),
            "{name}: confusion"
        );
        let v = ValueMetrics::compute(&labels, &scores, &amounts, &cards, &days, threshold);
        for (key, ours) in v.named() {
            if key == "card_precision_days" {
                assert_eq!(Some(ours as u64), e[key].as_u64(), "{name}: {key}");
            } else if key.contains("dollars") {
                // Sums of cents: exact here, rounded to cents there.
                let theirs = e[key].as_f64().unwrap();
                assert!(
                    (ours - theirs).abs() < 1e-9,
                    "{name}: {key} {ours} vs {theirs}"
                );
            } else {
                close(key, name, ours, &e[key]);
            }
        }
        // The chosen threshold reaches scikit-learn's best F1, and flags what it should.
        let (t, f1) = Curve::new(&labels, &scores).best_f1_threshold();
        close("best_f1", name, f1, &e["best_f1"]);
        close(
            "f1 at the chosen threshold",
            name,
            Metrics::compute(&labels, &scores, t).f1,
            &e["best_f1"],
        );
    }
}
