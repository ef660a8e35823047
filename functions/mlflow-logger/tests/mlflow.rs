//! The logger against a real `mlflow server` on 127.0.0.1 (started by scripts/test.sh, which
//! names it in FRAUD_TEST_MLFLOW_URI and enables this feature): a run record from the training
//! handler becomes a finished MLflow run with metrics, parameters and artifacts, and a registered
//! model version aliased `challenger`; a redelivered event changes nothing; MLflow down is a
//! retryable error; MLflow going away at any call of the logging and the event delivered again
//! leaves one finished run, the same as a run logged in one go.
#![cfg(feature = "mlflow-tests")]

mod common;

use common::{bad_record_is_refused, event_for, redeliver_changes_nothing, trained_bucket};
use std::sync::atomic::{AtomicUsize, Ordering};

use fraud_core::ports::{ExperimentTracker, TrackedRun, TrackerError};
use fraud_embedded::LocalObjectStore;
use mlflow_logger::{Mlflow, Settings, handle};

fn mlflow() -> Mlflow {
    let uri = std::env::var("FRAUD_TEST_MLFLOW_URI")
        .expect("FRAUD_TEST_MLFLOW_URI names the MLflow server (scripts/test.sh starts one)");
    Mlflow::new(&uri).unwrap()
}

fn unique_settings() -> Settings {
    let n = fraud_testkit::unique_suffix();
    Settings {
        experiment: format!("fraud-test-{n}"),
        registered_model: format!("fraud-detector-test-{n}"),
    }
}

#[tokio::test]
async fn a_training_run_becomes_a_logged_run_and_a_registered_challenger_once() {
    let (dir, run_key) = trained_bucket().await;
    let store = LocalObjectStore::new(dir.path());
    let mlflow = mlflow();
    let settings = unique_settings();
    let logged = handle(&store, &mlflow, &settings, event_for(&run_key))
        .await
        .unwrap();
    assert_eq!(logged.len(), 1);
    let first = &logged[0];
    assert!(first.new);
    let version = first
        .model_version
        .clone()
        .expect("a training run registers a version");

    let run = mlflow.run(&first.run_id).await.unwrap();
    assert_eq!(run["run"]["info"]["status"], "FINISHED");
    let data = &run["run"]["data"];
    let metric = |name: &str| {
        data["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == name)
            .map(|m| m["value"].as_f64().unwrap())
    };
    assert!(metric("validation_auc_pr").unwrap() > 0.0);
    assert!(metric("threshold").is_some());
    let param = |name: &str| {
        data["params"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["key"] == name)
            .map(|p| p["value"].as_str().unwrap().to_owned())
    };
    assert_eq!(param("iterations").as_deref(), Some("20"));
    assert_eq!(
        param("data_key").as_deref(),
        Some("training/fraudTrain.csv")
    );

    // The model file made it through the artifact proxy byte for byte.
    let record: fraud_core::run::RunRecord =
        serde_json::from_slice(&std::fs::read(dir.path().join(&run_key)).unwrap()).unwrap();
    let model_key = &record.artifacts["model"];
    let uploaded = mlflow
        .download(&first.experiment_id, &first.run_id, "model/model.bin")
        .await
        .unwrap();
    assert_eq!(uploaded, std::fs::read(dir.path().join(model_key)).unwrap());
    assert_eq!(
        mlflow
            .alias(&settings.registered_model, "challenger")
            .await
            .unwrap(),
        Some(version.clone())
    );

    // The same event again: the same run and version, nothing new.
    redeliver_changes_nothing(&store, &mlflow, &settings, &run_key, first).await;
    let search = mlflow
        .find_run(&first.experiment_id, "run_record", &record.id)
        .await
        .unwrap();
    assert_eq!(search.map(|r| r.run_id), Some(first.run_id.clone()));
}

#[tokio::test]
async fn mlflow_down_is_a_retryable_error_and_a_bad_record_is_not() {
    let (dir, run_key) = trained_bucket().await;
    let store = LocalObjectStore::new(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = Mlflow::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let err = handle(&store, &down, &unique_settings(), event_for(&run_key))
        .await
        .unwrap_err();
    assert!(err.retryable(), "{err}");
    assert!(err.to_string().contains("unavailable"), "{err}");

    bad_record_is_refused(dir.path(), &mlflow(), &unique_settings()).await;
}

/// The real MLflow, going away (every later call unavailable) after `calls` calls.
struct StopsAfter<'a> {
    mlflow: &'a Mlflow,
    calls: AtomicUsize,
}

impl StopsAfter<'_> {
    fn call(&self) -> Result<(), TrackerError> {
        self.calls
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| TrackerError::Unavailable {
                tracker: format!("MLflow at {}", self.mlflow.base()),
                reason: "stopped in the test".into(),
            })
    }
}

impl ExperimentTracker for StopsAfter<'_> {
    async fn experiment(&self, name: &str) -> Result<String, TrackerError> {
        self.call()?;
        self.mlflow.experiment(name).await
    }
    async fn find_run(
        &self,
        experiment_id: &str,
        tag: &str,
        value: &str,
    ) -> Result<Option<TrackedRun>, TrackerError> {
        self.call()?;
        self.mlflow.find_run(experiment_id, tag, value).await
    }
    async fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> Result<String, TrackerError> {
        self.call()?;
        self.mlflow
            .create_run(experiment_id, name, start_ms, tags)
            .await
    }
    async fn log_batch(
        &self,
        run_id: &str,
        params: &[(String, String)],
        metrics: &[(String, f64)],
        timestamp_ms: i64,
    ) -> Result<(), TrackerError> {
        self.call()?;
        self.mlflow
            .log_batch(run_id, params, metrics, timestamp_ms)
            .await
    }
    async fn upload(
        &self,
        experiment_id: &str,
        run_id: &str,
        path: &str,
        bytes: Vec<u8>,
    ) -> Result<(), TrackerError> {
        self.call()?;
        self.mlflow.upload(experiment_id, run_id, path, bytes).await
    }
    async fn register(
        &self,
        model: &str,
        experiment_id: &str,
        run_id: &str,
        artifact_path: &str,
    ) -> Result<String, TrackerError> {
        self.call()?;
        self.mlflow
            .register(model, experiment_id, run_id, artifact_path)
            .await
    }
    async fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<(), TrackerError> {
        self.call()?;
        self.mlflow.set_alias(model, alias, version).await
    }
    async fn finish_run(&self, run_id: &str, end_ms: i64) -> Result<(), TrackerError> {
        self.call()?;
        self.mlflow.finish_run(run_id, end_ms).await
    }
}

/// A run's parameters and metrics, sorted, as comparable text.
fn logged_data(run: &serde_json::Value) -> Vec<String> {
    let data = &run["run"]["data"];
    let mut items: Vec<String> = ["params", "metrics"]
        .iter()
        .flat_map(|kind| data[kind].as_array().cloned().unwrap_or_default())
        .map(|item| format!("{}={}", item["key"], item["value"]))
        .collect();
    items.sort();
    items
}

#[tokio::test]
async fn mlflow_stopping_at_any_call_then_a_redelivery_leaves_one_complete_run() {
    let (dir, run_key) = trained_bucket().await;
    let store = LocalObjectStore::new(dir.path());
    let mlflow = mlflow();
    let in_one_go = handle(&store, &mlflow, &unique_settings(), event_for(&run_key))
        .await
        .unwrap();
    let reference = logged_data(&mlflow.run(&in_one_go[0].run_id).await.unwrap());
    let model = {
        let record: fraud_core::run::RunRecord =
            serde_json::from_slice(&std::fs::read(dir.path().join(&run_key)).unwrap()).unwrap();
        std::fs::read(dir.path().join(&record.artifacts["model"])).unwrap()
    };
    let mut stopped_at = 0;
    for calls in 0.. {
        let settings = unique_settings();
        let stopping = StopsAfter {
            mlflow: &mlflow,
            calls: AtomicUsize::new(calls),
        };
        let Err(err) = handle(&store, &stopping, &settings, event_for(&run_key)).await else {
            break; // enough calls to log it all
        };
        assert!(err.retryable(), "stopped after {calls} calls: {err}");
        stopped_at += 1;
        let again = handle(&store, &mlflow, &settings, event_for(&run_key))
            .await
            .unwrap();
        let logged = &again[0];
        let experiment = mlflow.experiment(&settings.experiment).await.unwrap();
        assert_eq!(
            mlflow.run_ids(&experiment).await.unwrap(),
            vec![logged.run_id.clone()],
            "stopped after {calls} calls: one run in the experiment"
        );
        let run = mlflow.run(&logged.run_id).await.unwrap();
        assert_eq!(
            run["run"]["info"]["status"], "FINISHED",
            "after {calls} calls"
        );
        assert_eq!(logged_data(&run), reference, "after {calls} calls");
        let uploaded = mlflow
            .download(&logged.experiment_id, &logged.run_id, "model/model.bin")
            .await
            .unwrap();
        assert!(
            uploaded == model,
            "after {calls} calls: the model artifact differs"
        );
        assert_eq!(
            mlflow
                .alias(&settings.registered_model, "challenger")
                .await
                .unwrap(),
            logged.model_version,
            "after {calls} calls"
        );
    }
    eprintln!("stopped before each of the {stopped_at} calls of the logging, then delivered again");
    assert!(stopped_at >= 5, "the logging makes {stopped_at} calls");
}
