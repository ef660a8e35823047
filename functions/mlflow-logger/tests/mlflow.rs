//! The logger against a real `mlflow server` on 127.0.0.1 (started by scripts/test.sh, which
//! names it in FRAUD_TEST_MLFLOW_URI and enables this feature): a run record from the training
//! handler becomes a finished MLflow run with metrics, parameters and artifacts, and a registered
//! model version aliased `challenger`; a redelivered event changes nothing; MLflow down is a
//! retryable error.
#![cfg(feature = "mlflow-tests")]

mod common;

use common::{bad_record_is_refused, event_for, redeliver_changes_nothing, trained_bucket};
use fraud_core::ports::ExperimentTracker;
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
