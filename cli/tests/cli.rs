//! The `fraud` binary end to end on committed fixtures, and every bad input it must refuse
//! with a clear message and a non-zero exit.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{failure, fraud, kaggle_fixture as fixture, ok, repo, s};
use fraud_core::{Artifact, ReadMode, TransactionReader};

/// Runs a failing command and returns its error message.
fn fails(args: &[&str]) -> String {
    let stderr = failure(&fraud(args));
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    stderr
}

/// Trains on the fixture into a directory that does not exist yet (`fraud train` makes it).
fn train_small(dir: &Path) -> PathBuf {
    let model = dir.join("models").join("model.bin");
    ok(&fraud(&[
        "train",
        "--train",
        s(&fixture("kaggle_train_sample.csv")),
        "--set",
        "iterations=20",
        "--out",
        s(&model),
    ]));
    model
}

/// The train fixture with line `line` (1 = header) replaced by `edit(line)`.
fn edited(dir: &Path, name: &str, line: usize, edit: impl Fn(&str) -> String) -> PathBuf {
    let text = std::fs::read_to_string(fixture("kaggle_train_sample.csv")).unwrap();
    let lines: Vec<String> = text
        .split("\r\n")
        .enumerate()
        .map(|(i, l)| if i + 1 == line { edit(l) } else { l.to_owned() })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\r\n")).unwrap();
    path
}

#[test]
fn train_then_eval_writes_predictions_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_small(dir.path());
    let out_dir = dir.path().join("eval");
    let stdout = ok(&fraud(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&fixture("kaggle_test_sample.csv")),
        "--history",
        s(&fixture("kaggle_train_sample.csv")),
        "--out",
        s(&out_dir),
    ]));
    assert!(stdout.contains("scored 392 rows"), "{stdout}");
    let predictions = std::fs::read_to_string(out_dir.join("predictions.csv")).unwrap();
    let lines: Vec<&str> = predictions.lines().collect();
    assert_eq!(lines[0], "trans_num,fraud_probability,prediction");
    assert_eq!(lines.len(), 393);
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("metrics.json")).unwrap())
            .unwrap();
    for key in [
        "rows",
        "frauds",
        "auc_roc",
        "auc_pr",
        "precision",
        "recall",
        "f1",
        "threshold",
        "recall_at_1pct_fpr",
        "confusion",
        "model_version",
        "fraud_dollars",
        "fraud_dollars_caught",
        "value_detection_rate",
        "good_dollars_declined",
        "false_decline_rate",
        "recall_at_0_1pct_fpr",
        "card_precision_at_100",
        "card_precision_days",
    ] {
        assert!(
            metrics.get(key).is_some(),
            "metrics.json lacks {key}: {metrics}"
        );
    }
    assert_eq!(metrics["rows"], 392);
    assert_eq!(metrics["frauds"], 18);
    let artifact = Artifact::load(&model).unwrap();
    assert_eq!(metrics["model_version"], artifact.model_version.as_str());
    let c = &metrics["confusion"];
    let count = |k: &str| c[k].as_u64().unwrap();
    let total: u64 = ["tp", "fp", "tn", "fn"].iter().map(|k| count(k)).sum();
    assert_eq!(total, 392);

    // The dollar and card view, against the file itself.
    let mut reader =
        TransactionReader::open(&fixture("kaggle_test_sample.csv"), ReadMode::Strict).unwrap();
    let rows: Vec<fraud_core::Transaction> = reader.by_ref().map(Result::unwrap).collect();
    let fraud_dollars: f64 = rows
        .iter()
        .filter(|t| t.is_fraud == Some(1))
        .map(|t| t.amt)
        .sum();
    let mut days: Vec<i64> = rows
        .iter()
        .map(|t| t.unix_time.div_euclid(86_400))
        .collect();
    days.sort_unstable();
    days.dedup();
    let number = |key: &str| {
        metrics[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}: {metrics}"))
    };
    assert!(
        (number("fraud_dollars") - fraud_dollars).abs() < 1e-6,
        "{metrics}"
    );
    let caught = number("fraud_dollars_caught");
    assert!(caught >= 0.0 && caught <= fraud_dollars + 1e-6, "{metrics}");
    assert!((number("value_detection_rate") - caught / fraud_dollars).abs() < 1e-12);
    assert!(number("good_dollars_declined") >= 0.0);
    assert_eq!(
        number("false_decline_rate"),
        count("fp") as f64 / (count("fp") + count("tn")) as f64
    );
    let strict_recall = number("recall_at_0_1pct_fpr");
    assert!(
        (0.0..=number("recall_at_1pct_fpr")).contains(&strict_recall),
        "{metrics}"
    );
    assert!(
        (0.0..=1.0).contains(&number("card_precision_at_100")),
        "{metrics}"
    );
    assert_eq!(metrics["card_precision_days"], days.len() as u64);
    assert!(
        stdout.contains("value detection rate") && stdout.contains("CP@100"),
        "{stdout}"
    );
    // Card numbers group the rows in memory and appear in no output.
    let outputs =
        std::fs::read_to_string(out_dir.join("metrics.json")).unwrap() + &predictions + &stdout;
    let cards: std::collections::BTreeSet<u64> = rows.iter().map(|t| t.cc_num).collect();
    for card in cards {
        assert!(
            !outputs.contains(&card.to_string()),
            "a card number in the output"
        );
    }
}

#[test]
fn unlabeled_files_give_predictions_only() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_small(dir.path());
    let text = std::fs::read_to_string(fixture("kaggle_test_sample.csv")).unwrap();
    let unlabeled: String = text
        .lines()
        .map(|l| format!("{}\n", &l[..l.rfind(',').unwrap()]))
        .collect();
    let data = dir.path().join("unlabeled.csv");
    std::fs::write(&data, unlabeled).unwrap();
    let out_dir = dir.path().join("eval");
    let stdout = ok(&fraud(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--out",
        s(&out_dir),
    ]));
    assert!(stdout.contains("predictions only"), "{stdout}");
    assert!(out_dir.join("predictions.csv").exists());
    assert!(!out_dir.join("metrics.json").exists());
}

#[test]
fn bad_training_files_are_named_with_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.bin");
    let train = |path: &Path| fails(&["train", "--train", s(path), "--out", s(&out)]);

    let err = train(&dir.path().join("absent.csv"));
    assert!(
        err.contains("absent.csv") && err.contains("No such file"),
        "{err}"
    );

    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    assert!(train(&empty).contains("empty.csv: the file is empty"));

    let err = train(&edited(dir.path(), "header.csv", 1, |l| {
        l.replace(",amt,", ",amount,")
    }));
    assert!(
        err.contains("header.csv, line 1: bad header") && err.contains("amt"),
        "{err}"
    );

    let err = train(&edited(dir.path(), "amount.csv", 3, |l| {
        l.replace(",44.54,", ",ten dollars,")
    }));
    assert!(
        err.contains("amount.csv, line 3") && err.contains("`amt`") && err.contains("ten dollars"),
        "{err}"
    );

    let err = train(&edited(dir.path(), "nan.csv", 3, |l| {
        l.replace(",44.54,", ",NaN,")
    }));
    assert!(
        err.contains("nan.csv, line 3") && err.contains("`amt`") && err.contains("finite"),
        "{err}"
    );

    let text = std::fs::read_to_string(fixture("kaggle_train_sample.csv")).unwrap();
    let truncated = dir.path().join("truncated.csv");
    std::fs::write(&truncated, &text[..text.len() - 150]).unwrap();
    let err = train(&truncated);
    assert!(
        err.contains("truncated.csv, line 423") && err.contains("expected 23 fields"),
        "{err}"
    );

    let packed = zstd::encode_all(text.as_bytes(), 3).unwrap();
    let cut = dir.path().join("cut.csv.zst");
    std::fs::write(&cut, &packed[..packed.len() * 2 / 3]).unwrap();
    let err = train(&cut);
    assert!(
        err.contains("cut.csv.zst") && err.contains("truncated or corrupted"),
        "{err}"
    );

    let unlabeled: String = text
        .lines()
        .map(|l| format!("{}\n", &l[..l.rfind(',').unwrap()]))
        .collect();
    let path = dir.path().join("nolabels.csv");
    std::fs::write(&path, unlabeled).unwrap();
    assert!(train(&path).contains("training needs the `is_fraud` column"));
    assert!(!out.exists(), "no model is written after a failure");
}

#[test]
fn lenient_reading_skips_and_lists_bad_rows_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_small(dir.path());
    let bad = edited(dir.path(), "bad.csv", 3, |l| l.replace(",44.54,", ",-5,"));
    let out_dir = dir.path().join("eval");
    let err = fails(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&bad),
        "--out",
        s(&out_dir),
    ]);
    assert!(
        err.contains("bad.csv, line 3") && err.contains("`amt`"),
        "{err}"
    );
    let stdout = ok(&fraud(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&bad),
        "--lenient",
        "--out",
        s(&out_dir),
    ]));
    assert!(
        stdout.contains("scored 421 rows") && stdout.contains("skipped 1 malformed rows"),
        "{stdout}"
    );
    let errors = std::fs::read_to_string(out_dir.join("errors.csv")).unwrap();
    assert!(errors.starts_with("line,field,problem\n3,amt,"), "{errors}");
}

#[test]
fn damaged_and_foreign_models_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_small(dir.path());
    let data = fixture("kaggle_test_sample.csv");
    let out_dir = dir.path().join("eval");
    let eval = |m: &Path| {
        fails(&[
            "eval",
            "--model",
            s(m),
            "--data",
            s(&data),
            "--out",
            s(&out_dir),
        ])
    };

    let mut bytes = std::fs::read(&model).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    let flipped = dir.path().join("flipped.bin");
    std::fs::write(&flipped, &bytes).unwrap();
    let err = eval(&flipped);
    assert!(
        err.contains("flipped.bin") && err.contains("checksum mismatch"),
        "{err}"
    );

    let mut foreign = Artifact::load(&model).unwrap();
    foreign.feature_names.push("merchant_risk".into());
    foreign.feature_hash = "f".repeat(64);
    let path = dir.path().join("foreign.bin");
    std::fs::write(&path, foreign.to_bytes().unwrap()).unwrap();
    let err = eval(&path);
    assert!(
        err.contains("foreign.bin")
            && err.contains("another feature set")
            && err.contains("merchant_risk"),
        "{err}"
    );

    let err = eval(&fixture("kaggle_test_sample.csv"));
    assert!(err.contains("not a fraud model file"), "{err}");
}

#[test]
fn unknown_parameters_and_models_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.bin");
    let train = fixture("kaggle_train_sample.csv");
    let err = fails(&[
        "train",
        "--train",
        s(&train),
        "--set",
        "depth=3",
        "--out",
        s(&out),
    ]);
    assert!(err.contains("depth") && err.contains("max_depth"), "{err}");
    let err = fails(&[
        "train",
        "--train",
        s(&train),
        "--set",
        "learning_rate=0",
        "--out",
        s(&out),
    ]);
    assert!(err.contains("learning_rate"), "{err}");
    let out = fraud(&[
        "train",
        "--train",
        s(&train),
        "--model",
        "svm",
        "--out",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown model `svm`"));
}

#[test]
fn generate_writes_a_deterministic_kaggle_layout_pair_that_trains() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let stdout = ok(&fraud(&[
            "generate",
            "--customers",
            "40",
            "--seed",
            "5",
            "--out",
            s(out),
        ]));
        assert!(stdout.contains("generated 40 customers"), "{stdout}");
    }
    for name in ["fraudTrain.csv", "fraudTest.csv"] {
        assert_eq!(
            std::fs::read(a.join(name)).unwrap(),
            std::fs::read(b.join(name)).unwrap(),
            "{name}"
        );
    }
    let model = dir.path().join("m.bin");
    ok(&fraud(&[
        "train",
        "--train",
        s(&a.join("fraudTrain.csv")),
        "--set",
        "iterations=30",
        "--out",
        s(&model),
    ]));
    let stdout = ok(&fraud(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&a.join("fraudTest.csv")),
        "--out",
        s(&dir.path().join("e")),
    ]));
    assert!(stdout.contains("AUC-PR"), "{stdout}");
}

#[test]
fn generate_names_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let err = fails(&[
        "generate",
        "--customers",
        "3",
        "--start",
        "2019-02-30",
        "--out",
        s(&out),
    ]);
    assert!(
        err.contains("--start") && err.contains("2019-02-30"),
        "{err}"
    );
    let err = fails(&["generate", "--customers", "0", "--out", s(&out)]);
    assert!(err.contains("--customers"), "{err}");
    let err = fails(&[
        "generate",
        "--start",
        "2020-01-01",
        "--end",
        "2020-01-03",
        "--out",
        s(&out),
    ]);
    assert!(err.contains("--end"), "{err}");
}

/// `fraud eval` gives the golden probabilities that `/predict` and `/predict/batch` are held to
/// (functions/score/tests/golden.rs).
#[test]
fn eval_gives_the_golden_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let golden = |name: &str| repo("tests/fixtures/golden").join(name);
    ok(&fraud(&[
        "eval",
        "--model",
        s(&golden("model.bin")),
        "--data",
        s(&fixture("kaggle_test_sample.csv")),
        "--out",
        s(dir.path()),
    ]));
    let got = std::fs::read_to_string(dir.path().join("predictions.csv")).unwrap();
    let expected = std::fs::read_to_string(golden("expected_predictions.csv")).unwrap();
    assert_eq!(got.lines().count(), expected.lines().count());
    for (g, e) in got.lines().zip(expected.lines()).skip(1) {
        let (g, e): (Vec<&str>, Vec<&str>) = (g.split(',').collect(), e.split(',').collect());
        assert_eq!((g[0], g[2]), (e[0], e[2]));
        let (p, q): (f64, f64) = (g[1].parse().unwrap(), e[1].parse().unwrap());
        assert!((p - q).abs() <= 1e-6, "{}: {p} vs golden {q}", g[0]);
    }
}

#[test]
fn promote_moves_the_champion_pointer_only_to_a_model_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_small(dir.path());
    let version = Artifact::load(&model).unwrap().model_version;
    let store = dir.path().join("bucket");
    std::fs::create_dir_all(store.join(format!("models/{version}"))).unwrap();
    std::fs::copy(&model, store.join(format!("models/{version}/model.bin"))).unwrap();

    let err = fails(&["promote", "challenger", "--store", s(&store)]);
    assert!(
        err.contains("challenger.json") && err.contains("no challenger"),
        "{err}"
    );
    std::fs::write(
        store.join("models/challenger.json"),
        format!("{{\"key\": \"models/{version}/model.bin\", \"version\": \"{version}\"}}"),
    )
    .unwrap();
    let out = ok(&fraud(&["promote", "challenger", "--store", s(&store)]));
    assert!(
        out.contains(&version) && out.contains("previous: none"),
        "{out}"
    );
    let pointer = std::fs::read_to_string(store.join("models/champion.json")).unwrap();
    assert!(
        pointer.contains(&format!("models/{version}/model.bin")),
        "{pointer}"
    );
    let out = ok(&fraud(&["promote", &version, "--store", s(&store)]));
    assert!(out.contains(&format!("previous: {version}")), "{out}");

    // Unknown, unsafe and damaged versions are refused and the champion stays.
    let err = fails(&["promote", "gbdt-0000", "--store", s(&store)]);
    assert!(
        err.contains("models/gbdt-0000/model.bin") && err.contains("not found"),
        "{err}"
    );
    let err = fails(&["promote", "../../etc", "--store", s(&store)]);
    assert!(err.contains("\"../../etc\""), "{err}");
    std::fs::create_dir_all(store.join("models/broken")).unwrap();
    std::fs::write(store.join("models/broken/model.bin"), b"FRAUDMDL garbage").unwrap();
    let err = fails(&["promote", "broken", "--store", s(&store)]);
    assert!(err.contains("models/broken/model.bin"), "{err}");
    assert_eq!(
        std::fs::read_to_string(store.join("models/champion.json")).unwrap(),
        pointer
    );

    let out = Command::new(env!("CARGO_BIN_EXE_fraud"))
        .args(["promote", &version])
        .env_remove("FRAUD_BUCKET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("FRAUD_BUCKET"),
        "{stderr}"
    );
}

#[test]
fn report_writes_html_and_json_and_refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_small(dir.path());
    let data = fixture("kaggle_test_sample.csv");
    // Scored here with the reference model (the file has no fraud_probability column).
    let out = dir.path().join("report");
    let stdout = ok(&fraud(&[
        "report",
        "--reference",
        s(&model),
        "--current",
        s(&data),
        "--out",
        s(&out),
    ]));
    assert!(
        stdout.contains("scored here") && stdout.contains("AUC-PR"),
        "{stdout}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("id=\"drift\"") && html.contains("aria-label=\"ROC curve\""));
    for card in [
        "value detection rate",
        "good spend declined",
        "false-decline rate",
        "recall at 0.1 % FPR",
        "card precision@100",
    ] {
        assert!(html.contains(card), "{card}");
    }
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["summary"]["labelled"], true);
    let m = &metrics["metrics"];
    assert!(m["auc_pr"].is_number() && m["card_precision_days"].as_u64() > Some(0));
    let rate = m["value_detection_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rate), "{m}");
    let drift: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("drift.json")).unwrap()).unwrap();
    assert_eq!(
        drift["features"].as_array().unwrap().len(),
        fraud_core::N_FEATURES
    );

    // A replay-style predictions file without labels, against a reference CSV: no label
    // sections, said plainly; the given decisions are used.
    let text = std::fs::read_to_string(&data).unwrap();
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let header = lines.next().unwrap();
    let cut = |l: &str| l[..l.rfind(',').unwrap()].to_owned();
    let mut predictions = format!("{},fraud_probability,is_fraud_prediction\n", cut(header));
    for (i, line) in lines.enumerate() {
        predictions += &format!("{},0.{i:03},{}\n", cut(line), u8::from(i % 7 == 0));
    }
    let current = dir.path().join("predictions.csv");
    std::fs::write(&current, &predictions).unwrap();
    let out2 = dir.path().join("report2");
    let stdout = ok(&fraud(&[
        "report",
        "--reference",
        s(&fixture("kaggle_train_sample.csv")),
        "--current",
        s(&current),
        "--out",
        s(&out2),
    ]));
    assert!(stdout.contains("no labels"), "{stdout}");
    let html = std::fs::read_to_string(out2.join("report.html")).unwrap();
    assert!(html.contains("id=\"no-labels\"") && !html.contains("id=\"classification\""));
    assert!(!html.contains("value detection rate"));

    // Refusals name the file (and the line).
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, predictions.replacen(",0.001,", ",high,", 1)).unwrap();
    let err = fails(&[
        "report",
        "--reference",
        s(&model),
        "--current",
        s(&bad),
        "--out",
        s(&out2),
    ]);
    assert!(
        err.contains("bad.csv, line 3") && err.contains("fraud_probability"),
        "{err}"
    );
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let err = fails(&[
        "report",
        "--reference",
        s(&model),
        "--current",
        s(&empty),
        "--out",
        s(&out2),
    ]);
    assert!(err.contains("empty.csv") && err.contains("empty"), "{err}");
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "a,b\n1,2\n").unwrap();
    let err = fails(&[
        "report",
        "--reference",
        s(&model),
        "--current",
        s(&other),
        "--out",
        s(&out2),
    ]);
    assert!(
        err.contains("other.csv") && err.contains("missing column"),
        "{err}"
    );
    let err = fails(&[
        "report",
        "--reference",
        s(&fixture("kaggle_train_sample.csv")),
        "--current",
        s(&data),
        "--out",
        s(&out2),
    ]);
    assert!(
        err.contains("fraud_probability") && err.contains("--reference"),
        "{err}"
    );
}

/// The scripts find the binary where cargo builds it: a moved target directory (a common
/// setting) once made the main job fail after a successful build.
#[test]
fn the_scripts_find_cargos_target_directory() {
    let root = repo("");
    let moved = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .args(["-c", "source scripts/cargo-target.sh && cargo_target_dir"])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", moved.path())
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        moved.path().to_str().unwrap()
    );
    for script in ["scripts/run.sh", "scripts/eval.sh"] {
        let text = std::fs::read_to_string(root.join(script)).unwrap();
        assert!(
            text.contains("$(cargo_target_dir)/release/fraud") && !text.contains("target/release"),
            "{script} runs the binary from cargo's target directory"
        );
    }
}
