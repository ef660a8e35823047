//! The training handler offline: a SAM-generated S3 event over a local bucket holding data from
//! the project's simulator; a direct invoke with parameters; inputs it must refuse.

use std::sync::Arc;

use fraud_core::Artifact;
use fraud_core::registry::ModelPointer;
use fraud_core::run::{RunKind, RunRecord};
use fraud_embedded::LocalObjectStore;
use fraud_testkit::{fixture_json, simulated_bucket};
use train::{TrainError, handle};

fn fixture(name: &str) -> serde_json::Value {
    fixture_json(env!("CARGO_MANIFEST_DIR"), name)
}

/// A bucket directory with `training/fraudTrain.csv` from 40 simulated customers.
fn bucket() -> tempfile::TempDir {
    simulated_bucket(40, 3, &[("fraudTrain.csv", "training")])
}

#[tokio::test]
async fn an_s3_event_trains_and_writes_model_run_record_and_challenger() {
    let dir = bucket();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let trained = handle(store, fixture("s3_put_training.json"))
        .await
        .unwrap();
    assert_eq!(trained.len(), 1);
    let t = &trained[0];
    assert!(t.validation_auc_pr > 0.5, "{t:?}");
    let artifact = Artifact::load(&dir.path().join(&t.model_key)).unwrap();
    assert_eq!(artifact.model_version, t.model_version);
    let record: RunRecord =
        serde_json::from_slice(&std::fs::read(dir.path().join(&t.run_key)).unwrap()).unwrap();
    assert_eq!(
        (record.kind, record.model_version.as_str()),
        (RunKind::Train, t.model_version.as_str())
    );
    assert_eq!(record.data_key, "training/fraudTrain.csv");
    assert!(record.data_etag.is_some());
    assert!(record.metrics["validation_auc_pr"] > 0.5 && record.params.contains_key("max_depth"));
    assert_eq!(record.artifacts["model"], t.model_key);
    let pointer: ModelPointer =
        serde_json::from_slice(&std::fs::read(dir.path().join("models/challenger.json")).unwrap())
            .unwrap();
    assert_eq!(
        pointer,
        ModelPointer {
            key: t.model_key.clone(),
            version: t.model_version.clone()
        }
    );
    assert!(
        !dir.path().join("models/champion.json").exists(),
        "promotion is explicit"
    );
}

#[tokio::test]
async fn other_objects_are_ignored_and_direct_invokes_take_parameters() {
    let dir = bucket();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    assert!(
        handle(store.clone(), fixture("s3_put_training_not_csv.json"))
            .await
            .unwrap()
            .is_empty()
    );
    let direct = serde_json::json!({"train_key": "training/fraudTrain.csv", "model": "gbdt", "params": {"max_depth": 3, "iterations": 20}});
    let trained = handle(store, direct).await.unwrap();
    let record: RunRecord =
        serde_json::from_slice(&std::fs::read(dir.path().join(&trained[0].run_key)).unwrap())
            .unwrap();
    assert_eq!(record.params["max_depth"], "3");
    assert_eq!(record.params["iterations"], "20");
    // The first stage's parameters are logged too, and are not the overridden ones.
    assert_eq!(record.params["card_risk.iterations"], "30");
    assert!(record.metrics["fit_sample_rows"] > 0.0);
}

#[tokio::test]
async fn bad_requests_and_data_are_not_retryable_errors_naming_the_input() {
    let dir = bucket();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let cases = [
        (
            serde_json::json!({"train_key": "training/absent.csv"}),
            "absent.csv",
        ),
        (
            serde_json::json!({"train_key": "training/fraudTrain.csv", "model": "svm"}),
            "svm",
        ),
        (
            serde_json::json!({"train_key": "training/fraudTrain.csv", "params": {"depth": 3}}),
            "depth",
        ),
        (
            serde_json::json!({"train_key": "training/fraudTrain.csv", "params": {"learning_rate": 0}}),
            "learning_rate",
        ),
        (serde_json::json!({"hello": "world"}), "train_key"),
    ];
    for (event, named) in cases {
        let err = handle(store.clone(), event.clone()).await.unwrap_err();
        assert!(!err.retryable(), "{event}: {err}");
        assert!(err.to_string().contains(named), "{event}: {err}");
    }
    // A file without labels cannot train.
    let text = std::fs::read_to_string(dir.path().join("training/fraudTrain.csv")).unwrap();
    let unlabeled: String = text
        .lines()
        .map(|l| format!("{}\n", &l[..l.rfind(',').unwrap()]))
        .collect();
    std::fs::write(dir.path().join("training/unlabeled.csv"), unlabeled).unwrap();
    let err = handle(
        store,
        serde_json::json!({"train_key": "training/unlabeled.csv"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, TrainError::BadInput { .. }) && err.to_string().contains("is_fraud"),
        "{err}"
    );
}

#[tokio::test]
async fn grid_members_leave_the_challenger_alone_and_the_best_is_chosen_at_the_end() {
    let dir = bucket();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let mut outputs = Vec::new();
    for depth in [2, 4] {
        let member = serde_json::json!({"train_key": "training/fraudTrain.csv", "params": {"max_depth": depth, "iterations": 30}, "set_challenger": false});
        outputs.push(train::invoke(store.clone(), member).await.unwrap());
    }
    assert!(!dir.path().join("models/challenger.json").exists());
    let candidates: Vec<train::Trained> = outputs
        .iter()
        .map(|o| serde_json::from_value::<Vec<train::Trained>>(o.clone()).unwrap()[0].clone())
        .collect();
    let best = candidates
        .iter()
        .max_by(|a, b| a.validation_auc_pr.total_cmp(&b.validation_auc_pr))
        .unwrap();
    // The Map state's output as Step Functions hands it over: an array of the members' arrays.
    let chosen = train::invoke(
        store.clone(),
        serde_json::json!({"choose_challenger": outputs}),
    )
    .await
    .unwrap();
    assert_eq!(chosen["model_version"], best.model_version.as_str());
    let pointer: ModelPointer =
        serde_json::from_slice(&std::fs::read(dir.path().join("models/challenger.json")).unwrap())
            .unwrap();
    assert_eq!(pointer.version, best.model_version);

    let err = train::invoke(store, serde_json::json!({"choose_challenger": [[]]}))
        .await
        .unwrap_err();
    assert!(
        !err.retryable() && err.to_string().contains("no candidate"),
        "{err}"
    );
}

#[tokio::test]
async fn an_event_from_another_bucket_is_refused_naming_both() {
    let dir = bucket();
    // The fixture's event comes from bucket `fraud-local`.
    let store = Arc::new(LocalObjectStore::new(dir.path()).standing_in_for("fraud-prod"));
    let err = handle(store, fixture("s3_put_training.json"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        !err.retryable() && text.contains("fraud-local") && text.contains("fraud-prod"),
        "{text}"
    );
    assert!(!dir.path().join("models").exists(), "nothing trained");
}
