//! The MLflow logger: each run record written under `runs/` (by the train and eval functions)
//! becomes an MLflow run with its parameters, metrics and artifacts; a training run also
//! becomes a version of the registered model, aliased `challenger`. Idempotent: the run is
//! found again by its `run_record` tag, so a redelivered event makes no duplicate. MLflow being
//! down is a retryable error, so Lambda retries and the event ends in the dead-letter queue;
//! nothing is lost.

pub mod mlflow;

use std::time::{SystemTime, UNIX_EPOCH};

use fraud_core::ports::{ObjectStore, StoreError};
use fraud_core::run::{RunKind, RunRecord};
use fraud_lambda::errors::store_retryable;
use fraud_lambda::s3::{EventError, s3_objects};
use fraud_lambda::{FunctionError, diagnostic};
use lambda_runtime::Diagnostic;
use serde::Serialize;

pub use mlflow::{Mlflow, MlflowError};

/// Prefix of the run records this function publishes.
pub const RUNS_PREFIX: &str = "runs/";

/// Where runs go in MLflow.
#[derive(Debug, Clone)]
pub struct Settings {
    pub experiment: String,
    pub registered_model: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            experiment: "fraud-detection".into(),
            registered_model: "fraud-detector".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoggerError {
    #[error(transparent)]
    Mlflow(#[from] MlflowError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key}: not a run record: {reason}")]
    BadRecord { key: String, reason: String },
    #[error(transparent)]
    Event(#[from] EventError),
}

impl FunctionError for LoggerError {
    fn kind(&self) -> &'static str {
        match self {
            LoggerError::Mlflow(MlflowError::Unavailable { .. }) => "MlflowUnavailable",
            LoggerError::Mlflow(MlflowError::Refused { .. }) => "MlflowRefused",
            LoggerError::Store(_) => "Store",
            LoggerError::BadRecord { .. } => "BadRecord",
            LoggerError::Event(_) => "BadEvent",
        }
    }

    fn retryable(&self) -> bool {
        match self {
            LoggerError::Mlflow(e) => matches!(e, MlflowError::Unavailable { .. }),
            LoggerError::Store(e) => store_retryable(e),
            LoggerError::BadRecord { .. } | LoggerError::Event(_) => false,
        }
    }
}

impl LoggerError {
    pub fn retryable(&self) -> bool {
        FunctionError::retryable(self)
    }
}

impl From<LoggerError> for Diagnostic {
    fn from(e: LoggerError) -> Self {
        diagnostic(&e)
    }
}

/// What one record became in MLflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Logged {
    pub record: String,
    pub experiment_id: String,
    pub run_id: String,
    /// The registered model version (training runs).
    pub model_version: Option<String>,
    /// False when the run already existed and was complete: nothing was logged again.
    pub new: bool,
}

fn millis(rfc3339: &str) -> i64 {
    // `2026-11-24T04:44:02Z`
    fraud_core::time::parse_date_time(
        &rfc3339
            .replace('T', " ")
            .trim_end_matches('Z')
            .chars()
            .take(19)
            .collect::<String>(),
    )
    .map(|s| s * 1000)
    .unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })
}

/// Publishes one run record.
pub async fn log_record<S: ObjectStore>(
    store: &S,
    mlflow: &Mlflow,
    settings: &Settings,
    key: &str,
) -> Result<Logged, LoggerError> {
    let bytes = store.get(key).await?;
    let record: RunRecord = serde_json::from_slice(&bytes).map_err(|e| LoggerError::BadRecord {
        key: key.to_owned(),
        reason: e.to_string(),
    })?;
    let experiment_id = mlflow.experiment(&settings.experiment).await?;
    let started = millis(&record.created_at);
    let (run_id, new) = match mlflow
        .find_run(&experiment_id, "run_record", &record.id)
        .await?
    {
        Some((run_id, status)) if status == "FINISHED" => (run_id, false),
        Some((run_id, _)) => (run_id, true), // an earlier attempt stopped half way: finish it
        None => {
            let kind = match record.kind {
                RunKind::Train => "train",
                RunKind::Eval => "eval",
            };
            let tags = [
                ("run_record".to_owned(), record.id.clone()),
                ("model_version".to_owned(), record.model_version.clone()),
                ("kind".to_owned(), kind.to_owned()),
                ("data_key".to_owned(), record.data_key.clone()),
            ];
            (
                mlflow
                    .create_run(&experiment_id, &record.id, started, &tags)
                    .await?,
                true,
            )
        }
    };
    let mut model_version = None;
    if new {
        let mut params: Vec<(String, String)> = record
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.push(("model_kind".into(), record.model_kind.clone()));
        params.push(("data_key".into(), record.data_key.clone()));
        params.push((
            "data_etag".into(),
            record.data_etag.clone().unwrap_or_default(),
        ));
        let mut metrics: Vec<(String, f64)> = record
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        metrics.push(("threshold".into(), record.threshold));
        mlflow
            .log_batch(&run_id, &params, &metrics, started)
            .await?;
        for (role, object) in &record.artifacts {
            let file = object.rsplit('/').next().unwrap_or(object);
            mlflow
                .upload(
                    &experiment_id,
                    &run_id,
                    &format!("{role}/{file}"),
                    store.get(object).await?,
                )
                .await?;
        }
        mlflow
            .upload(&experiment_id, &run_id, "run_record.json", bytes)
            .await?;
    }
    if record.kind == RunKind::Train {
        let source = format!("mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model");
        let version = mlflow
            .register(&settings.registered_model, &run_id, &source)
            .await?;
        mlflow
            .set_alias(&settings.registered_model, "challenger", &version)
            .await?;
        model_version = Some(version);
    }
    if new {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        mlflow.finish_run(&run_id, now).await?;
    }
    tracing::info!(record = %record.id, %run_id, new, "run record published to MLflow");
    Ok(Logged {
        record: record.id,
        experiment_id,
        run_id,
        model_version,
        new,
    })
}

/// Handles one invocation: every `runs/*.json` object of an S3 event, or `{"run_key": ...}`.
pub async fn handle<S: ObjectStore>(
    store: &S,
    mlflow: &Mlflow,
    settings: &Settings,
    event: serde_json::Value,
) -> Result<Vec<Logged>, LoggerError> {
    let mut keys: Vec<String> = s3_objects(&event, store.bucket())?
        .unwrap_or_default()
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.starts_with(RUNS_PREFIX) && k.ends_with(".json"))
        .collect();
    if let Some(key) = event.get("run_key").and_then(|k| k.as_str()) {
        keys.push(key.to_owned());
    }
    let mut out = Vec::new();
    for key in keys {
        out.push(log_record(store, mlflow, settings, &key).await?);
    }
    Ok(out)
}
