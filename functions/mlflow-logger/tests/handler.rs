//! The logger's handler offline, against the in-memory experiment tracker: a training run
//! record from the train function's own handler becomes a finished run with its parameters,
//! metrics and artifacts and a registered version aliased `challenger`; a redelivered event
//! changes nothing; a tracker that is down is a retryable error and nothing is lost once it is
//! back; a bad record is refused for good. (tests/mlflow.rs runs the same against a real
//! `mlflow server`.)

mod common;

use common::{bad_record_is_refused, event_for, redeliver_changes_nothing, trained_bucket};
use fraud_core::run::RunRecord;
use fraud_embedded::{LocalObjectStore, MemoryTracker};
use fraud_lambda::FromEnv;
use mlflow_logger::{Config, Settings, handle};

fn record(dir: &std::path::Path, key: &str) -> RunRecord {
    serde_json::from_slice(&std::fs::read(dir.join(key)).unwrap()).unwrap()
}

#[tokio::test]
async fn a_training_run_is_logged_once_with_its_model_registered_as_challenger() {
    let (dir, run_key) = trained_bucket().await;
    let store = LocalObjectStore::new(dir.path());
    let tracker = MemoryTracker::default();
    let settings = Settings::default();
    let logged = handle(&store, &tracker, &settings, event_for(&run_key))
        .await
        .unwrap();
    assert_eq!(logged.len(), 1);
    let first = &logged[0];
    assert!(first.new);
    assert_eq!(first.model_version.as_deref(), Some("1"));

    let record = record(dir.path(), &run_key);
    let run = tracker.run(&first.run_id).unwrap();
    assert!(run.end_ms.is_some(), "the run is finished");
    assert_eq!(run.tags["run_record"], record.id);
    assert_eq!(run.params["iterations"], "20");
    assert_eq!(run.params["data_key"], "training/fraudTrain.csv");
    assert_eq!(run.metrics["threshold"], record.threshold);
    assert_eq!(
        run.metrics["validation_auc_pr"],
        record.metrics["validation_auc_pr"]
    );
    let model = std::fs::read(dir.path().join(&record.artifacts["model"])).unwrap();
    assert_eq!(run.artifacts["model/model.bin"], model, "byte for byte");
    assert_eq!(
        run.artifacts["run_record.json"],
        std::fs::read(dir.path().join(&run_key)).unwrap()
    );
    assert_eq!(
        tracker.alias(&settings.registered_model, "challenger"),
        Some("1".into())
    );

    redeliver_changes_nothing(&store, &tracker, &settings, &run_key, first).await;
    assert_eq!(tracker.run_count(), 1, "no duplicate run");
}

#[tokio::test]
async fn a_tracker_that_is_down_is_retried_and_nothing_is_lost() {
    let (dir, run_key) = trained_bucket().await;
    let store = LocalObjectStore::new(dir.path());
    let tracker = MemoryTracker::default();
    tracker.set_down(true);
    let err = handle(&store, &tracker, &Settings::default(), event_for(&run_key))
        .await
        .unwrap_err();
    assert!(err.retryable(), "{err}");
    assert!(err.to_string().contains("unavailable"), "{err}");
    assert_eq!(
        lambda_runtime::Diagnostic::from(err).error_type,
        "Retryable.MlflowUnavailable"
    );

    tracker.set_down(false);
    let logged = handle(&store, &tracker, &Settings::default(), event_for(&run_key))
        .await
        .unwrap();
    assert!(logged[0].new && tracker.run(&logged[0].run_id).unwrap().end_ms.is_some());
}

#[tokio::test]
async fn a_bad_record_is_refused_for_good_naming_its_key() {
    let (dir, _) = trained_bucket().await;
    let tracker = MemoryTracker::default();
    bad_record_is_refused(dir.path(), &tracker, &Settings::default()).await;
    assert_eq!(tracker.run_count(), 0);
}

#[test]
fn configuration_names_every_missing_variable() {
    let err = Config::from_vars(&Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("FRAUD_BUCKET") && err.contains("MLFLOW_TRACKING_URI"),
        "{err}"
    );
    let vars = [
        ("FRAUD_BUCKET", "b"),
        ("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"),
        ("MLFLOW_EXPERIMENT", "fraud-x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = Config::from_vars(&vars).unwrap();
    assert_eq!(config.settings.experiment, "fraud-x");
    assert_eq!(
        config.settings.registered_model,
        Settings::default().registered_model
    );
}
