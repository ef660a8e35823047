//! `fraud policy` and `fraud backtest` end to end on committed fixtures: the fit's figures, the
//! backtest against an independent count from `fraud eval`'s predictions, publishing, card keys,
//! and every bad input refused with a clear message.

mod common;

use std::path::Path;

use common::{failure, fraud, fraud_with, ok, repo, s};
use fraud_core::{ReadMode, Transaction, TransactionReader};
use serde_json::{Value, json};

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn test_rows() -> Vec<Transaction> {
    TransactionReader::open(
        &repo("tests/fixtures/kaggle/kaggle_test_sample.csv"),
        ReadMode::Strict,
    )
    .unwrap()
    .map(|t| t.unwrap())
    .collect()
}

#[test]
fn policy_fit_costs_no_more_on_the_validation_slice_than_the_model_or_f1_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.bin");
    let train = repo("tests/fixtures/kaggle/kaggle_train_sample.csv");
    ok(&fraud(&[
        "train",
        "--train",
        s(&train),
        "--set",
        "iterations=20",
        "--out",
        s(&model),
    ]));
    let out = dir.path().join("policy.json");
    let printed = ok(&fraud(&[
        "policy",
        "fit",
        "--model",
        s(&model),
        "--train",
        s(&train),
        "--false-decline-cost",
        "50",
        "--review-cost",
        "5",
        "--review-rate-max",
        "0.05",
        "--version",
        "fit-test",
        "--out",
        s(&out),
    ]));
    assert!(printed.contains("policy fit-test: deny at"), "{printed}");
    let policy = read_json(&out);
    let expected = &policy["expected"];
    let fitted = expected["figures"]["cost"].as_f64().unwrap();
    let cost = |name: &str| expected[name]["figures"]["cost"].as_f64().unwrap();
    assert!(
        fitted <= cost("model_threshold") && fitted <= cost("f1_threshold"),
        "{expected}"
    );
    let model_threshold = fraud_core::Artifact::load(&model).unwrap().threshold;
    assert_eq!(expected["model_threshold"]["threshold"], model_threshold);
    assert!(expected["figures"]["review_rate"].as_f64().unwrap() <= 0.05);
    assert_eq!(expected["false_decline_cost"], json!({"dollars": 50.0}));
    assert!(
        expected["data"]
            .as_str()
            .unwrap()
            .contains("validation slice")
    );
    let deny = policy["thresholds"]["deny"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&deny));
    assert!(
        policy["thresholds"]["review"]
            .as_f64()
            .is_none_or(|r| r < deny)
    );
    assert!(ok(&fraud(&["policy", "check", s(&out)])).starts_with("policy fit-test: deny at"));

    // Backtested with another model, the thresholds are said to belong to the model they were
    // fitted for.
    let data = repo("tests/fixtures/kaggle/kaggle_test_sample.csv");
    let backtest = |model: &Path| {
        let bt = dir.path().join("bt");
        let run = fraud(&[
            "backtest",
            "--model",
            s(model),
            "--policy",
            s(&out),
            "--data",
            s(&data),
            "--out",
            s(&bt),
        ]);
        ok(&run);
        String::from_utf8_lossy(&run.stderr).into_owned()
    };
    assert!(!backtest(&model).contains("warning"));
    let other = repo("tests/fixtures/golden/model.bin");
    let warned = backtest(&other);
    assert!(
        warned.contains("the policy's thresholds were fitted for model gbdt-"),
        "{warned}"
    );
}

/// Blocks one merchant, reviews large `shopping_net` purchases by a rule, then thresholds.
fn backtest_policy(rows: &[Transaction]) -> Value {
    json!({
        "schema_version": 1,
        "version": "backtest-test",
        "thresholds": {"deny": 0.5, "review": 0.02},
        "lists": {"block": {"merchants": [rows[5].merchant]}},
        "rules": [{"name": "big-shopping-net", "outcome": "review",
                   "when": "amt > 200.0 && category == \"shopping_net\""}]
    })
}

#[test]
fn backtest_figures_match_an_independent_count_from_eval_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo("tests/fixtures/golden/model.bin");
    let data = repo("tests/fixtures/kaggle/kaggle_test_sample.csv");
    let rows = test_rows();
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, backtest_policy(&rows).to_string()).unwrap();
    ok(&fraud(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--out",
        s(&dir.path().join("eval")),
    ]));
    let printed = ok(&fraud(&[
        "backtest",
        "--model",
        s(&model),
        "--policy",
        s(&policy),
        "--data",
        s(&data),
        "--false-decline-cost",
        "25",
        "--review-cost",
        "3",
        "--out",
        s(&dir.path().join("bt")),
    ]));
    assert!(printed.contains("big-shopping-net"), "{printed}");
    let report = read_json(&dir.path().join("bt/backtest.json"));

    // The same decisions, worked out here from eval's probabilities.
    let predictions = std::fs::read_to_string(dir.path().join("eval/predictions.csv")).unwrap();
    let model_threshold = fraud_core::Artifact::load(&model).unwrap().threshold;
    let mut by_rule = std::collections::BTreeMap::<(String, String), (u64, u64)>::new();
    let (mut caught, mut declined, mut reviews, mut cost, mut model_declines) =
        (0u64, 0u64, 0u64, 0.0, 0u64);
    for (txn, line) in rows.iter().zip(predictions.lines().skip(1)) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[0], txn.trans_num);
        let p: f64 = fields[1].parse().unwrap();
        let (outcome, rule) = if txn.merchant == rows[5].merchant {
            ("deny", "lists.block.merchants")
        } else if txn.amt > 200.0 && txn.category.as_str() == "shopping_net" {
            ("review", "big-shopping-net")
        } else if p >= 0.5 {
            ("deny", "threshold")
        } else if p >= 0.02 {
            ("review", "threshold")
        } else {
            ("approve", "threshold")
        };
        let fraud = txn.is_fraud == Some(1);
        let entry = by_rule
            .entry((rule.to_owned(), outcome.to_owned()))
            .or_default();
        entry.0 += 1;
        entry.1 += u64::from(fraud);
        reviews += u64::from(outcome == "review");
        cost += if outcome == "review" { 3.0 } else { 0.0 };
        if fraud && outcome != "approve" {
            caught += 1;
        } else if fraud {
            cost += txn.amt;
        } else if outcome == "deny" {
            declined += 1;
            cost += 25.0;
        }
        model_declines += u64::from(!fraud && p >= model_threshold);
    }
    let figures = &report["policy"];
    assert_eq!(figures["transactions"], rows.len() as u64);
    assert_eq!(figures["frauds_caught"], caught);
    assert_eq!(figures["false_declines"], declined);
    assert_eq!(figures["reviews"], reviews);
    assert!(
        (figures["cost"].as_f64().unwrap() - cost).abs() < 0.01,
        "{} vs {cost}",
        figures["cost"]
    );
    assert_eq!(report["model_only"]["false_declines"], model_declines);
    assert_eq!(report["model_only"]["reviews"], 0);
    for entry in report["by_rule"].as_array().unwrap() {
        let key = (
            entry["rule"].as_str().unwrap().to_owned(),
            entry["outcome"].as_str().unwrap().to_owned(),
        );
        let (count, frauds) = by_rule.remove(&key).unwrap_or_default();
        assert_eq!(
            (
                entry["transactions"].as_u64().unwrap(),
                entry["frauds"].as_u64().unwrap()
            ),
            (count, frauds),
            "{key:?}"
        );
    }
    assert!(by_rule.is_empty(), "decided but not reported: {by_rule:?}");

    // The monitoring report of the same file gains the policy's section.
    let report_dir = dir.path().join("report");
    let backtest = dir.path().join("bt/backtest.json");
    ok(&fraud(&[
        "report",
        "--reference",
        s(&model),
        "--current",
        s(&data),
        "--backtest",
        s(&backtest),
        "--out",
        s(&report_dir),
    ]));
    let html = std::fs::read_to_string(report_dir.join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Decision policy backtest</h2>")
            && html.contains("<td>big-shopping-net</td>"),
        "no policy section"
    );
    let metrics = read_json(&report_dir.join("metrics.json"));
    assert_eq!(metrics["backtest"]["policy"], report["policy"]);
    let message = failure(&fraud(&[
        "report",
        "--reference",
        s(&model),
        "--current",
        s(&data),
        "--backtest",
        s(&data),
        "--out",
        s(&report_dir),
    ]));
    assert!(
        message.contains("kaggle_test_sample.csv: not a backtest.json"),
        "{message}"
    );
}

#[test]
fn bad_policies_costs_and_files_are_refused_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo("tests/fixtures/golden/model.bin");
    let data = repo("tests/fixtures/kaggle/kaggle_test_sample.csv");
    let rows = test_rows();
    let mut document = backtest_policy(&rows);
    document["rules"][0]["when"] = json!("amt > \"200\" &&");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, document.to_string()).unwrap();
    let message = failure(&fraud(&["policy", "check", s(&bad)]));
    assert!(
        message.contains("bad.json")
            && message.contains("rule \"big-shopping-net\" (rules[0]) does not parse"),
        "{message}"
    );

    // A policy listing cards needs the deployment's secret.
    let mut document = backtest_policy(&rows);
    document["lists"]["allow"] = json!({"cards": ["a".repeat(64)]});
    let cards = dir.path().join("cards.json");
    std::fs::write(&cards, document.to_string()).unwrap();
    let args = [
        "backtest",
        "--model",
        s(&model),
        "--policy",
        s(&cards),
        "--data",
        s(&data),
        "--out",
        s(dir.path()),
    ];
    let message = failure(&fraud(&args));
    assert!(
        message.contains("uses card keys") && message.contains("CARD_HASH_SECRET"),
        "{message}"
    );
    ok(&fraud_with(
        &args,
        &[("CARD_HASH_SECRET", "a-test-secret-0123456789")],
        None,
    ));

    // A file without labels.
    let unlabeled = dir.path().join("unlabeled.csv");
    let text = std::fs::read_to_string(&data).unwrap();
    let stripped: Vec<String> = text
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_owned())
        .collect();
    std::fs::write(&unlabeled, stripped.join("\n")).unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, backtest_policy(&rows).to_string()).unwrap();
    let message = failure(&fraud(&[
        "backtest",
        "--model",
        s(&model),
        "--policy",
        s(&policy),
        "--data",
        s(&unlabeled),
        "--out",
        s(dir.path()),
    ]));
    assert!(
        message.contains("unlabeled.csv") && message.contains("is_fraud"),
        "{message}"
    );

    let fit = |extra: &[&str]| {
        let mut args = vec![
            "policy",
            "fit",
            "--model",
            s(&model),
            "--train",
            s(&data),
            "--out",
            s(&policy),
        ];
        args.extend_from_slice(extra);
        failure(&fraud(&args))
    };
    assert!(fit(&["--review-rate-max", "2"]).contains("--review-rate-max 2"));
    assert!(fit(&["--false-decline-cost", "cheap"]).contains("expected `amount` or dollars"));
    assert!(fit(&["--review-cost=-1"]).contains("--review-cost -1: expected non-negative dollars"));
}

#[test]
fn published_policies_load_through_the_pointer_and_card_keys_come_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, backtest_policy(&test_rows()).to_string()).unwrap();
    let printed = ok(&fraud(&[
        "policy",
        "publish",
        s(&policy),
        "--to",
        s(dir.path()),
    ]));
    assert!(printed.contains("published backtest-test"), "{printed}");
    let pointer = dir.path().join("policies/active.json");
    assert!(ok(&fraud(&["policy", "check", s(&pointer)])).starts_with("policy backtest-test"));
    // The same version with other content is refused.
    let mut changed = backtest_policy(&test_rows());
    changed["thresholds"]["deny"] = json!(0.6);
    std::fs::write(&policy, changed.to_string()).unwrap();
    let message = failure(&fraud(&[
        "policy",
        "publish",
        s(&policy),
        "--to",
        s(dir.path()),
    ]));
    assert!(
        message.contains("already published with other content"),
        "{message}"
    );

    let secret = "a-test-secret-0123456789";
    let keys = ok(&fraud_with(
        &["policy", "card-key"],
        &[("CARD_HASH_SECRET", secret)],
        Some("4263 9826 4026 9299\n\n30569309025904\n"),
    ));
    let hasher = fraud_core::card_key::CardHasher::new(secret.as_bytes()).unwrap();
    let expected = format!(
        "{}\n{}\n",
        hasher.key(4_263_982_640_269_299),
        hasher.key(30_569_309_025_904)
    );
    assert_eq!(keys, expected);
    let message = failure(&fraud_with(
        &["policy", "card-key"],
        &[("CARD_HASH_SECRET", secret)],
        Some("4263982640269299\nnot-a-card\n"),
    ));
    assert!(
        message.contains("stdin line 2: not a card number"),
        "{message}"
    );
    let message = failure(&fraud(&["policy", "card-key"]));
    assert!(message.contains("card-hash secret is needed"), "{message}");
}
