//! What both logger test files need: a bucket as the train function leaves it, and the S3
//! event of a run record landing in it.

use std::sync::Arc;

use fraud_core::ports::ExperimentTracker;
use fraud_embedded::LocalObjectStore;
use fraud_testkit::{fixture_json, simulated_bucket};
use mlflow_logger::{Logged, Settings, handle};

/// A bucket with a trained model and its run record, as the train function leaves them; the
/// run record's key.
pub async fn trained_bucket() -> (tempfile::TempDir, String) {
    let dir = simulated_bucket(30, 5, &[("fraudTrain.csv", "training")]);
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let event =
        serde_json::json!({"train_key": "training/fraudTrain.csv", "params": {"iterations": 20}});
    let trained = train::handle(store, event).await.unwrap();
    (dir, trained[0].run_key.clone())
}

/// The SAM-generated S3 event, pointed at `key`.
pub fn event_for(key: &str) -> serde_json::Value {
    let mut event = fixture_json(env!("CARGO_MANIFEST_DIR"), "s3_put_run.json");
    event["Records"][0]["s3"]["object"]["key"] = key.into();
    event
}

/// Delivers the event of `run_key` again and checks that it answers `first`'s run and model
/// version and logs nothing new.
pub async fn redeliver_changes_nothing<T: ExperimentTracker>(
    store: &LocalObjectStore,
    tracker: &T,
    settings: &Settings,
    run_key: &str,
    first: &Logged,
) {
    let again = handle(store, tracker, settings, event_for(run_key))
        .await
        .unwrap();
    assert_eq!(
        (
            again[0].run_id.as_str(),
            again[0].model_version.as_deref(),
            again[0].new
        ),
        (first.run_id.as_str(), first.model_version.as_deref(), false)
    );
}

/// A run record that does not parse, in the bucket at `dir`, is refused for good (not retried),
/// naming its key.
pub async fn bad_record_is_refused<T: ExperimentTracker>(
    dir: &std::path::Path,
    tracker: &T,
    settings: &Settings,
) {
    std::fs::write(dir.join("runs/broken.json"), b"{\"id\": 3}").unwrap();
    let store = LocalObjectStore::new(dir);
    let err = handle(&store, tracker, settings, event_for("runs/broken.json"))
        .await
        .unwrap_err();
    assert!(
        !err.retryable() && err.to_string().contains("runs/broken.json"),
        "{err}"
    );
}
