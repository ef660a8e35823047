//! The evaluation handler offline: SAM-generated S3 events over a local bucket holding data from
//! the project's simulator and models trained by the train function's own handler.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use eval::{Config, EvalError, Evaluated, Gate, ModelCache, Settings, handle};
use fraud_core::ports::{ObjectReader, ObjectStore, StoreError};
use fraud_core::registry::ModelPointer;
use fraud_core::registry::{CHAMPION_KEY, promote};
use fraud_core::run::{RunKind, RunRecord};
use fraud_core::score::{MetricsReport, score_stream};
use fraud_core::{Artifact, ReadMode, TransactionReader};
use fraud_embedded::LocalObjectStore;
use fraud_lambda::FromEnv;
use fraud_testkit::{fixture_json, simulated_bucket};

fn fixture(name: &str) -> serde_json::Value {
    fixture_json(env!("CARGO_MANIFEST_DIR"), name)
}

/// A bucket with `training/fraudTrain.csv` and `eval/incoming/fraudTest.csv` from 40 simulated
/// customers.
fn bucket() -> tempfile::TempDir {
    simulated_bucket(
        40,
        5,
        &[
            ("fraudTrain.csv", "training"),
            ("fraudTest.csv", "eval/incoming"),
        ],
    )
}

/// Trains through the train handler; the version it made.
async fn train<S: ObjectStore + 'static>(store: &Arc<S>, params: serde_json::Value) -> String {
    let request = serde_json::json!({"train_key": "training/fraudTrain.csv", "params": params});
    train::handle(store.clone(), request).await.unwrap()[0]
        .model_version
        .clone()
}

fn read(dir: &Path, key: &str) -> Vec<u8> {
    std::fs::read(dir.join(key)).unwrap_or_else(|e| panic!("{key}: {e}"))
}

fn lines(dir: &Path, key: &str) -> Vec<String> {
    String::from_utf8(read(dir, key))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn an_s3_event_scores_the_file_with_the_champion_and_writes_every_output() {
    let dir = bucket();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let version = train(&store, serde_json::json!({"iterations": 40})).await;
    promote(store.as_ref(), &version).await.unwrap();
    let models = ModelCache::default();
    let settings = Settings::default();

    let out = handle(
        store.as_ref(),
        &models,
        &settings,
        fixture("s3_put_eval.json"),
    )
    .await
    .unwrap();
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!(
        (e.model_version.as_str(), e.skipped_rows, e.reused),
        (version.as_str(), 0, false)
    );
    assert!(e.gate.is_none(), "the challenger is the champion: {e:?}");

    // The predictions are exactly the batch scorer's (the path `fraud eval` takes), in order.
    let artifact = Artifact::load(&dir.path().join(format!("models/{version}/model.bin"))).unwrap();
    let mut reader = TransactionReader::open(
        &dir.path().join("eval/incoming/fraudTest.csv"),
        ReadMode::Strict,
    )
    .unwrap();
    let mut expected = vec!["trans_num,fraud_probability,prediction".to_owned()];
    let summary = score_stream(
        &mut reader,
        &artifact,
        &mut artifact.feature_builder(),
        &mut |t, d| {
            expected.push(format!(
                "{},{},{}",
                t.trans_num,
                d.probability,
                u8::from(d.fraud)
            ));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(lines(dir.path(), &e.outputs["predictions"]), expected);
    assert_eq!(e.rows, summary.rows);

    let metrics: MetricsReport =
        serde_json::from_slice(&read(dir.path(), &e.outputs["metrics"])).unwrap();
    assert_eq!(Some(metrics.metrics.clone()), summary.metrics);
    assert_eq!(e.auc_pr, Some(metrics.metrics.auc_pr));
    // The dollar and card view sits at the top level of metrics.json, next to auc_pr.
    assert_eq!(Some(metrics.value.clone()), summary.value);
    let v = &metrics.value;
    assert!(v.fraud_dollars > 0.0 && v.fraud_dollars_caught <= v.fraud_dollars);
    // The rate is of whole cents (exact sums); dollars divided may differ in the last bit.
    let cents = |dollars: f64| (dollars * 100.0).round();
    assert_eq!(
        v.value_detection_rate,
        cents(v.fraud_dollars_caught) / cents(v.fraud_dollars)
    );
    assert!(v.card_precision_days > 0 && (0.0..=1.0).contains(&v.card_precision_at_100));
    assert_eq!(e.value_detection_rate, Some(v.value_detection_rate));
    let raw: serde_json::Value =
        serde_json::from_slice(&read(dir.path(), &e.outputs["metrics"])).unwrap();
    for key in [
        "auc_pr",
        "value_detection_rate",
        "fraud_dollars",
        "false_decline_rate",
        "recall_at_0_1pct_fpr",
        "card_precision_at_100",
    ] {
        assert!(raw[key].is_number(), "metrics.json lacks {key}: {raw}");
    }
    assert_eq!(
        lines(dir.path(), &e.outputs["errors"]),
        ["line,field,problem"]
    );

    // The monitoring report and its drift numbers sit next to the metrics.
    let html = String::from_utf8(read(dir.path(), &e.outputs["report"])).unwrap();
    assert!(
        html.contains("id=\"drift\"") && html.contains("aria-label=\"precision-recall curve\"")
    );
    assert!(html.contains(&version));
    let drift: fraud_monitoring::report::DriftSection =
        serde_json::from_slice(&read(dir.path(), &e.outputs["drift"])).unwrap();
    assert_eq!(drift.features.len(), fraud_core::N_FEATURES);
    assert_eq!(drift.drifted, e.drifted_features);

    let record: RunRecord = serde_json::from_slice(&read(dir.path(), &e.run_key)).unwrap();
    assert_eq!(
        (
            record.kind,
            record.model_version.as_str(),
            record.data_key.as_str()
        ),
        (
            RunKind::Eval,
            version.as_str(),
            "eval/incoming/fraudTest.csv"
        )
    );
    assert_eq!(record.metrics["eval_auc_pr"], metrics.metrics.auc_pr);
    for (name, value) in metrics.value.named() {
        assert_eq!(record.metrics[&format!("eval_{name}")], value, "{name}");
    }
    assert_eq!(record.metrics["rows"], e.rows as f64);
    assert_eq!(record.artifacts, e.outputs);
    let emf: serde_json::Value = serde_json::from_str(&eval::evaluation_metrics(e)).unwrap();
    assert_eq!(emf["Service"], "eval");
    assert_eq!(emf["Rows"].as_f64(), Some(e.rows as f64));
    assert_eq!(
        emf["DriftedFeatures"].as_f64(),
        Some(e.drifted_features.len() as f64)
    );
    assert_eq!(emf["AucPr"].as_f64(), e.auc_pr);
    assert_eq!(emf["ValueDetectionRate"].as_f64(), e.value_detection_rate);
    // Card numbers group rows in memory only: no output holds one.
    let mut outputs = String::new();
    for key in e.outputs.values().chain([&e.run_key]) {
        outputs += &String::from_utf8_lossy(&read(dir.path(), key));
    }
    outputs += &eval::evaluation_metrics(e);
    let mut reader = TransactionReader::open(
        &dir.path().join("eval/incoming/fraudTest.csv"),
        ReadMode::Strict,
    )
    .unwrap();
    let cards: std::collections::BTreeSet<u64> =
        reader.by_ref().map(|t| t.unwrap().cc_num).collect();
    for card in cards {
        assert!(
            !outputs.contains(&card.to_string()),
            "a card number in the outputs"
        );
    }
    let manifest: Evaluated =
        serde_json::from_slice(&read(dir.path(), "eval/results/fraudTest/result.json")).unwrap();
    assert_eq!(&manifest, e);
}

#[tokio::test]
async fn a_redelivered_event_answers_the_same_result_and_writes_nothing() {
    let dir = bucket();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let version = train(&store, serde_json::json!({"iterations": 20})).await;
    promote(store.as_ref(), &version).await.unwrap();
    let (models, settings) = (ModelCache::default(), Settings::default());
    let event = fixture("s3_put_eval.json");
    let first = handle(store.as_ref(), &models, &settings, event.clone())
        .await
        .unwrap();
    let predictions = dir.path().join(&first[0].outputs["predictions"]);
    let written = std::fs::metadata(&predictions).unwrap().modified().unwrap();
    let runs = std::fs::read_dir(dir.path().join("runs")).unwrap().count();

    let again = handle(store.as_ref(), &models, &settings, event.clone())
        .await
        .unwrap();
    assert!(again[0].reused);
    assert_eq!(
        Evaluated {
            reused: false,
            ..again[0].clone()
        },
        first[0]
    );
    assert_eq!(
        std::fs::metadata(&predictions).unwrap().modified().unwrap(),
        written
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("runs")).unwrap().count(),
        runs
    );

    // A new upload of the same key (a new sequencer) is evaluated again, to the same numbers and
    // the same run record (same model, same data).
    let mut upload = event;
    upload["Records"][0]["s3"]["object"]["sequencer"] = "0A1B2C3D4E5F679999".into();
    let third = handle(store.as_ref(), &models, &settings, upload)
        .await
        .unwrap();
    assert!(!third[0].reused);
    assert_eq!(
        (third[0].auc_pr, &third[0].run_key),
        (first[0].auc_pr, &first[0].run_key)
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("runs")).unwrap().count(),
        runs
    );
}

#[tokio::test]
async fn malformed_rows_are_listed_by_line_and_the_rest_still_scored() {
    let dir = bucket();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let version = train(&store, serde_json::json!({"iterations": 20})).await;
    promote(store.as_ref(), &version).await.unwrap();
    let text = std::fs::read_to_string(dir.path().join("eval/incoming/fraudTest.csv")).unwrap();
    let mut rows: Vec<String> = text.lines().take(301).map(str::to_owned).collect();
    let total = rows.len() - 1;
    // File line 3: truncated; line 5: amount not a number; line 7: NaN amount.
    rows[2] = rows[2][..rows[2].len() / 2].to_owned();
    let amount = |row: &str, value: &str| {
        let mut fields: Vec<String> = row.split(',').map(str::to_owned).collect();
        fields[5] = value.to_owned();
        fields.join(",")
    };
    rows[4] = amount(&rows[4], "twelve");
    rows[6] = amount(&rows[6], "NaN");
    std::fs::write(
        dir.path().join("eval/incoming/broken.csv"),
        rows.join("\n") + "\n",
    )
    .unwrap();
    let (models, settings) = (ModelCache::default(), Settings::default());
    let out = handle(
        store.as_ref(),
        &models,
        &settings,
        serde_json::json!({"eval_key": "eval/incoming/broken.csv"}),
    )
    .await
    .unwrap();
    let e = &out[0];
    assert_eq!((e.rows, e.skipped_rows), (total as u64 - 3, 3));
    let errors = lines(dir.path(), "eval/results/broken/errors.csv");
    assert_eq!(errors.len(), 4, "{errors:?}");
    for (row, line) in errors[1..].iter().zip(["3", "5", "7"]) {
        assert!(row.starts_with(&format!("{line},")), "{row}");
    }
    assert!(
        errors[2].contains("amt") && errors[3].contains("amt"),
        "{errors:?}"
    );
    assert_eq!(
        lines(dir.path(), "eval/results/broken/predictions.csv").len(),
        total - 3 + 1
    );
}

#[tokio::test]
async fn an_unlabelled_file_gets_predictions_only() {
    let dir = bucket();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let version = train(&store, serde_json::json!({"iterations": 20})).await;
    promote(store.as_ref(), &version).await.unwrap();
    let text = std::fs::read_to_string(dir.path().join("eval/incoming/fraudTest.csv")).unwrap();
    let unlabelled: String = text
        .lines()
        .take(200)
        .map(|l| format!("{}\n", &l[..l.rfind(',').unwrap()]))
        .collect();
    std::fs::write(dir.path().join("eval/incoming/today.csv"), unlabelled).unwrap();
    // A second, different challenger exists: without labels there is nothing to gate on.
    train(&store, serde_json::json!({"iterations": 10})).await;
    let settings = Settings {
        gate: Gate::Promote,
        ..Settings::default()
    };
    let out = handle(
        store.as_ref(),
        &ModelCache::default(),
        &settings,
        serde_json::json!({"eval_key": "eval/incoming/today.csv"}),
    )
    .await
    .unwrap();
    let e = &out[0];
    assert_eq!((e.rows, e.auc_pr, e.gate.as_ref()), (199, None, None));
    assert_eq!(e.value_detection_rate, None);
    assert!(!e.outputs.contains_key("metrics") && e.outputs.contains_key("predictions"));
    assert!(!dir.path().join("eval/results/today/metrics.json").exists());
    let champion: ModelPointer = serde_json::from_slice(&read(dir.path(), CHAMPION_KEY)).unwrap();
    assert_eq!(champion.version, version, "no promotion without labels");
}

#[tokio::test]
async fn the_gate_compares_the_challenger_on_the_same_file_and_promotes_only_when_asked() {
    let dir = bucket();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    // A deliberately weak champion, then a full challenger.
    let weak = train(&store, serde_json::json!({"iterations": 2, "max_depth": 1})).await;
    promote(store.as_ref(), &weak).await.unwrap();
    let strong = train(&store, serde_json::json!({"iterations": 60})).await;
    let models = ModelCache::default();
    let event = serde_json::json!({"eval_key": "eval/incoming/fraudTest.csv", "force": true});

    let off = handle(store.as_ref(), &models, &Settings::default(), event.clone())
        .await
        .unwrap();
    let gate = off[0]
        .gate
        .clone()
        .expect("a labelled file with a challenger is gated");
    assert_eq!(
        (gate.champion.as_str(), gate.challenger.as_str()),
        (weak.as_str(), strong.as_str())
    );
    assert!(gate.challenger_auc_pr > gate.champion_auc_pr, "{gate:?}");
    assert!(gate.passed && !gate.promoted);
    assert_eq!(off[0].auc_pr, Some(gate.champion_auc_pr));
    let champion = |dir: &Path| -> String {
        serde_json::from_slice::<ModelPointer>(&read(dir, CHAMPION_KEY))
            .unwrap()
            .version
    };
    assert_eq!(champion(dir.path()), weak, "gate off: report only");
    let reported: eval::GateOutcome =
        serde_json::from_slice(&read(dir.path(), "eval/results/fraudTest/gate.json")).unwrap();
    assert_eq!(reported, gate);

    let promote_settings = Settings {
        gate: Gate::Promote,
        ..Settings::default()
    };
    let on = handle(store.as_ref(), &models, &promote_settings, event.clone())
        .await
        .unwrap();
    assert!(on[0].gate.as_ref().unwrap().promoted);
    assert_eq!(champion(dir.path()), strong);

    // The champion now is the challenger: nothing left to gate, and the weak model never returns.
    let after = handle(store.as_ref(), &models, &promote_settings, event)
        .await
        .unwrap();
    assert_eq!(
        (after[0].model_version.as_str(), after[0].gate.as_ref()),
        (strong.as_str(), None)
    );
}

#[tokio::test]
async fn refusals_name_the_problem_and_are_not_retried() {
    let dir = bucket();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let (models, settings) = (ModelCache::default(), Settings::default());
    // No champion yet.
    let err = handle(
        store.as_ref(),
        &models,
        &settings,
        fixture("s3_put_eval.json"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, EvalError::Model(_)) && err.to_string().contains("fraud promote"),
        "{err}"
    );
    let version = train(&store, serde_json::json!({"iterations": 10})).await;
    promote(store.as_ref(), &version).await.unwrap();
    // Objects that are not evaluation files are ignored.
    assert!(
        handle(
            store.as_ref(),
            &models,
            &settings,
            fixture("s3_put_eval_not_csv.json")
        )
        .await
        .unwrap()
        .is_empty()
    );
    std::fs::write(dir.path().join("eval/incoming/empty.csv"), "").unwrap();
    std::fs::write(
        dir.path().join("eval/incoming/header.csv"),
        std::fs::read_to_string(dir.path().join("eval/incoming/fraudTest.csv"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned()
            + "\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("eval/incoming/other.csv"), "a,b\n1,2\n").unwrap();
    for (event, named) in [
        (
            serde_json::json!({"eval_key": "eval/incoming/absent.csv"}),
            "absent.csv: not found",
        ),
        (
            serde_json::json!({"eval_key": "eval/incoming/empty.csv"}),
            "empty",
        ),
        (
            serde_json::json!({"eval_key": "eval/incoming/header.csv"}),
            "no transactions",
        ),
        (
            serde_json::json!({"eval_key": "eval/incoming/other.csv"}),
            "header",
        ),
        (
            serde_json::json!({"eval_key": "eval/incoming/.csv"}),
            "no file name",
        ),
        (serde_json::json!({"key": "x"}), "eval_key"),
    ] {
        let err = handle(store.as_ref(), &models, &settings, event.clone())
            .await
            .unwrap_err();
        assert!(!err.retryable(), "{event}: {err}");
        assert!(err.to_string().contains(named), "{event}: {err}");
    }
    // A corrupted champion artifact stops the evaluation with the file named.
    let model = dir.path().join(format!("models/{version}/model.bin"));
    let mut bytes = std::fs::read(&model).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&model, bytes).unwrap();
    let err = handle(
        store.as_ref(),
        &ModelCache::default(),
        &settings,
        serde_json::json!({"eval_key": "eval/incoming/fraudTest.csv"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, EvalError::Model(_)) && err.to_string().contains("model.bin"),
        "{err}"
    );
}

#[test]
fn configuration_names_every_problem() {
    let vars = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let err = Config::from_vars(&vars(&[("EVAL_GATE", "always")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("FRAUD_BUCKET") && err.contains("EVAL_GATE=\"always\""),
        "{err}"
    );
    let c = Config::from_vars(&vars(&[("FRAUD_BUCKET", "b"), ("EVAL_GATE", "promote")])).unwrap();
    assert_eq!(
        (
            c.bucket.as_str(),
            c.settings.model_key.as_str(),
            c.settings.gate
        ),
        ("b", CHAMPION_KEY, Gate::Promote)
    );
    assert_eq!(
        (c.settings.policy_key, c.card_hash_secret_arn),
        (None, None)
    );
    let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:card-hash";
    let c = Config::from_vars(&vars(&[
        ("FRAUD_BUCKET", "b"),
        ("POLICY_KEY", "policies/active.json"),
        ("CARD_HASH_SECRET_ARN", arn),
    ]))
    .unwrap();
    assert_eq!(
        c.settings.policy_key.as_deref(),
        Some("policies/active.json")
    );
    assert_eq!(c.card_hash_secret_arn.as_deref(), Some(arn));
}

#[tokio::test]
async fn an_event_from_another_bucket_is_refused_naming_both() {
    let dir = bucket();
    // The fixture's event comes from bucket `fraud-local`.
    let store = LocalObjectStore::new(dir.path()).standing_in_for("fraud-prod");
    let err = handle(
        &store,
        &ModelCache::default(),
        &Settings::default(),
        fixture("s3_put_eval.json"),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, EvalError::Event(_))
            && !err.retryable()
            && text.contains("fraud-local")
            && text.contains("fraud-prod"),
        "{text}"
    );
}

/// The bucket as an evaluation cut off half-way sees it (the function past its time limit, or
/// its instance gone): the call after the first `calls` fails, and so does every later one.
struct CutOffAfter<'a, S> {
    store: &'a S,
    calls: AtomicUsize,
}

impl<S: ObjectStore> CutOffAfter<'_, S> {
    fn call(&self, key: &str) -> Result<(), StoreError> {
        self.calls
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| StoreError::Failed {
                what: self.store.describe(key),
                reason: "cut off in the test".into(),
            })
    }
}

impl<S: ObjectStore> ObjectStore for CutOffAfter<'_, S> {
    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        self.call(key)?;
        self.store.get(key).await
    }
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.call(key)?;
        self.store.put(key, bytes).await
    }
    async fn open(&self, key: &str) -> Result<ObjectReader, StoreError> {
        self.call(key)?;
        self.store.open(key).await
    }
    fn describe(&self, key: &str) -> String {
        self.store.describe(key)
    }
}

/// A file's content without what the clock puts in it (when it was written, how long the run
/// took) and with the bucket's `location` (in the paths it names) as `<bucket>`: JSON without
/// those fields, other text with its timestamps blanked.
fn without_clock(key: &str, bytes: &[u8], location: &str) -> String {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for clock in ["seconds", "rows_per_second", "generated_at", "created_at"] {
                    map.remove(clock);
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(bytes).replace(location, "<bucket>");
    if key.ends_with(".json") {
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        strip(&mut value);
        return value.to_string();
    }
    // RFC 3339 UTC timestamps, as fraud_core::time writes them: "YYYY-MM-DDTHH:MM:SS...Z".
    let bytes = text.as_bytes();
    let is_date = |d: &[u8]| {
        d.iter().enumerate().all(|(n, b)| match n {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let stamp = bytes
            .get(at..at + 11)
            .filter(|s| is_date(&s[..10]) && s[10] == b'T');
        let end = stamp.and_then(|_| bytes[at..].iter().take(40).position(|&b| b == b'Z'));
        match end {
            Some(z) => {
                out.extend_from_slice(b"<time>");
                at += z + 1;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every file under `dir`, by its path inside it, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let key = path.strip_prefix(dir).unwrap().display().to_string();
                found.insert(key, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// Where the cut-off test keeps its buckets: a folder, or S3 on moto.
trait Bucket: Sized {
    type Store: ObjectStore;
    fn store(&self) -> &Self::Store;
    /// Every object, by key.
    async fn objects(&self) -> BTreeMap<String, Vec<u8>>;
    /// A new bucket holding the same objects, with the same version tags.
    async fn copy(&self) -> Self;
    /// How the bucket appears in the paths the outputs name.
    fn location(&self) -> String;
    /// The evaluation event of `eval/incoming/fraudTest.csv` in this bucket.
    fn event(&self) -> serde_json::Value {
        fixture("s3_put_eval.json")
    }
}

struct LocalBucket {
    dir: tempfile::TempDir,
    store: LocalObjectStore,
}

impl LocalBucket {
    fn at(dir: tempfile::TempDir) -> Self {
        let store = LocalObjectStore::new(dir.path());
        LocalBucket { dir, store }
    }
}

impl Bucket for LocalBucket {
    type Store = LocalObjectStore;
    fn store(&self) -> &LocalObjectStore {
        &self.store
    }
    async fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        files(self.dir.path())
    }
    /// Modification times kept: they are the local store's version tags.
    async fn copy(&self) -> Self {
        let to = tempfile::tempdir().unwrap();
        for (key, bytes) in files(self.dir.path()) {
            let path = to.path().join(&key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            let from = self.dir.path().join(&key);
            let modified = std::fs::metadata(from).unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        }
        LocalBucket::at(to)
    }
    fn location(&self) -> String {
        self.dir.path().display().to_string()
    }
}

/// Cuts the evaluation of `trained` (a bucket with a champion and `eval/incoming/fraudTest.csv`)
/// off before each of its calls in turn, in a copy each time, and delivers the event again;
/// checks that the copy then holds what an uninterrupted evaluation writes. How many calls an
/// evaluation makes.
async fn cut_off_at_every_call<B: Bucket>(trained: &B) -> usize {
    let settings = Settings::default();
    let reference = trained.copy().await;
    let first = handle(
        reference.store(),
        &ModelCache::default(),
        &settings,
        reference.event(),
    )
    .await
    .unwrap();
    let expected = reference.objects().await;
    for calls in 0.. {
        let bucket = trained.copy().await;
        let cut_off = CutOffAfter {
            store: bucket.store(),
            calls: AtomicUsize::new(calls),
        };
        let models = ModelCache::default();
        if handle(&cut_off, &models, &settings, bucket.event())
            .await
            .is_ok()
        {
            return calls; // enough calls for the whole evaluation
        }
        let again = handle(bucket.store(), &models, &settings, bucket.event())
            .await
            .unwrap();
        assert_eq!(
            Evaluated {
                reused: false,
                seconds: first[0].seconds,
                ..again[0].clone()
            },
            first[0],
            "cut off after {calls} calls"
        );
        let written = bucket.objects().await;
        assert_eq!(
            written.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "cut off after {calls} calls"
        );
        for (key, bytes) in &written {
            assert_eq!(
                without_clock(key, bytes, &bucket.location()),
                without_clock(key, &expected[key], &reference.location()),
                "cut off after {calls} calls: {key}"
            );
        }
    }
    unreachable!("the loop returns")
}

#[tokio::test]
async fn an_evaluation_cut_off_at_any_call_then_delivered_again_writes_what_one_run_writes() {
    let trained = bucket();
    let store = Arc::new(LocalObjectStore::new(trained.path()));
    let version = train(&store, serde_json::json!({"iterations": 20})).await;
    promote(store.as_ref(), &version).await.unwrap();
    let calls = cut_off_at_every_call(&LocalBucket::at(trained)).await;
    eprintln!("cut off before each of the {calls} calls of an evaluation, then delivered again");
    assert!(calls >= 4, "an evaluation makes {calls} calls");
}

/// S3 on the moto server scripts/test.sh starts (feature `moto-tests`).
#[cfg(feature = "moto-tests")]
mod on_moto {
    use super::*;
    use fraud_aws::{S3ObjectStore, s3_client, sdk_config};

    struct MotoBucket {
        client: aws_sdk_s3::Client,
        name: String,
        store: S3ObjectStore,
    }

    impl MotoBucket {
        async fn new(client: &aws_sdk_s3::Client) -> Self {
            let name = format!("cut-off-{}", fraud_testkit::unique_suffix());
            client.create_bucket().bucket(&name).send().await.unwrap();
            MotoBucket {
                client: client.clone(),
                store: S3ObjectStore::new(client.clone(), &name),
                name,
            }
        }
    }

    impl Bucket for MotoBucket {
        type Store = S3ObjectStore;
        fn store(&self) -> &S3ObjectStore {
            &self.store
        }
        async fn objects(&self) -> BTreeMap<String, Vec<u8>> {
            let mut found = BTreeMap::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.name)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for object in page.unwrap().contents() {
                    let key = object.key().unwrap().to_owned();
                    let bytes = self.store.get(&key).await.unwrap();
                    found.insert(key, bytes);
                }
            }
            found
        }
        /// S3's version tag of a plain upload is the content's MD5: a copy keeps it.
        async fn copy(&self) -> Self {
            let copy = MotoBucket::new(&self.client).await;
            for (key, bytes) in self.objects().await {
                copy.store.put(&key, bytes).await.unwrap();
            }
            copy
        }
        fn location(&self) -> String {
            format!("s3://{}", self.name)
        }
        fn event(&self) -> serde_json::Value {
            let mut event = fixture("s3_put_eval.json");
            event["Records"][0]["s3"]["bucket"]["name"] = self.name.clone().into();
            event
        }
    }

    #[tokio::test]
    async fn on_s3_an_evaluation_cut_off_at_any_call_then_delivered_again_writes_what_one_run_writes()
     {
        fraud_testkit::moto::point_sdk_at_moto();
        let client = s3_client(&sdk_config().await);
        let trained = MotoBucket::new(&client).await;
        let simulated = bucket();
        for (key, bytes) in files(simulated.path()) {
            trained.store.put(&key, bytes).await.unwrap();
        }
        let store = Arc::new(S3ObjectStore::new(client.clone(), &trained.name));
        let request = serde_json::json!({"train_key": "training/fraudTrain.csv", "params": {"iterations": 20}});
        let version = train::handle(store.clone(), request).await.unwrap()[0]
            .model_version
            .clone();
        promote(store.as_ref(), &version).await.unwrap();
        let calls = cut_off_at_every_call(&trained).await;
        assert!(calls >= 4, "an evaluation makes {calls} calls");
    }
}
