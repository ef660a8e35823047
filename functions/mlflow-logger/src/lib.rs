//! The MLflow logger: each run record written under `runs/` (by the train and eval functions)
//! becomes an MLflow run with its parameters, metrics and artifacts; a training run also
//! becomes a version of the registered model, aliased `challenger`. Idempotent: the run is
//! found again by its `run_record` tag, so a redelivered event makes no duplicate. MLflow being
//! down is a retryable error, so Lambda retries and the event ends in the dead-letter queue;
//! nothing is lost.

pub mod mlflow;

use std::time::{SystemTime, UNIX_EPOCH};

use fraud_core::ports::{ExperimentTracker, ObjectStore, StoreError, TrackerError};
use fraud_core::run::{RunKind, RunRecord};
use fraud_lambda::errors::store_retryable;
use fraud_lambda::s3::{EventError, s3_objects};
use fraud_lambda::{FromEnv, FunctionError, Vars, diagnostic};
use lambda_runtime::Diagnostic;
use serde::Serialize;

pub use mlflow::Mlflow;

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

/// The function's configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub bucket: String,
    pub tracking_uri: String,
    pub settings: Settings,
}

/// `FRAUD_BUCKET` and `MLFLOW_TRACKING_URI` (required), `MLFLOW_EXPERIMENT` and
/// `MLFLOW_MODEL_NAME` (defaults in [`Settings`]); every missing variable is named at once.
impl FromEnv for Config {
    fn read(vars: &mut Vars) -> Option<Self> {
        let bucket = vars.required("FRAUD_BUCKET", "the bucket of the run records");
        let tracking_uri = vars.required("MLFLOW_TRACKING_URI", "the MLflow server");
        let defaults = Settings::default();
        let settings = Settings {
            experiment: vars.get("MLFLOW_EXPERIMENT").unwrap_or(defaults.experiment),
            registered_model: vars
                .get("MLFLOW_MODEL_NAME")
                .unwrap_or(defaults.registered_model),
        };
        let (bucket, tracking_uri) = bucket.zip(tracking_uri)?;
        Some(Config {
            bucket,
            tracking_uri,
            settings,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoggerError {
    #[error(transparent)]
    Tracker(#[from] TrackerError),
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
            LoggerError::Tracker(TrackerError::Unavailable { .. }) => "MlflowUnavailable",
            LoggerError::Tracker(TrackerError::Refused { .. }) => "MlflowRefused",
            LoggerError::Store(_) => "Store",
            LoggerError::BadRecord { .. } => "BadRecord",
            LoggerError::Event(_) => "BadEvent",
        }
    }

    fn retryable(&self) -> bool {
        match self {
            LoggerError::Tracker(e) => matches!(e, TrackerError::Unavailable { .. }),
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
    .unwrap_or_else(now_ms)
}

/// Publishes one run record: the run (found again by its `run_record` tag, or created), its
/// parameters, metrics and artifacts, and for a training run the registered model version
/// aliased `challenger`.
pub async fn log_record<S: ObjectStore, T: ExperimentTracker>(
    store: &S,
    tracker: &T,
    settings: &Settings,
    key: &str,
) -> Result<Logged, LoggerError> {
    let bytes = store.get(key).await?;
    let record: RunRecord = serde_json::from_slice(&bytes).map_err(|e| LoggerError::BadRecord {
        key: key.to_owned(),
        reason: e.to_string(),
    })?;
    let experiment_id = tracker.experiment(&settings.experiment).await?;
    let started = millis(&record.created_at);
    let (run_id, new) = open_run(tracker, &experiment_id, &record, started).await?;
    if new {
        log_contents(store, tracker, &experiment_id, &run_id, &record, started).await?;
        tracker
            .upload(&experiment_id, &run_id, "run_record.json", bytes)
            .await?;
    }
    let mut model_version = None;
    if record.kind == RunKind::Train {
        let model = &settings.registered_model;
        let version = tracker
            .register(model, &experiment_id, &run_id, "model")
            .await?;
        tracker.set_alias(model, "challenger", &version).await?;
        model_version = Some(version);
    }
    if new {
        tracker.finish_run(&run_id, now_ms()).await?;
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

/// The record's run and whether it still needs logging: a finished run is left alone, one an
/// earlier attempt left half way is finished, a missing one is created with its tags.
async fn open_run<T: ExperimentTracker>(
    tracker: &T,
    experiment_id: &str,
    record: &RunRecord,
    started: i64,
) -> Result<(String, bool), LoggerError> {
    match tracker
        .find_run(experiment_id, "run_record", &record.id)
        .await?
    {
        Some(run) => Ok((run.run_id, !run.finished)),
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
            let run_id = tracker
                .create_run(experiment_id, &record.id, started, &tags)
                .await?;
            Ok((run_id, true))
        }
    }
}

/// The record's parameters, metrics (with its threshold) and artifacts (`<role>/<file name>`).
async fn log_contents<S: ObjectStore, T: ExperimentTracker>(
    store: &S,
    tracker: &T,
    experiment_id: &str,
    run_id: &str,
    record: &RunRecord,
    started: i64,
) -> Result<(), LoggerError> {
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
    tracker
        .log_batch(run_id, &params, &metrics, started)
        .await?;
    for (role, object) in &record.artifacts {
        let file = object.rsplit('/').next().unwrap_or(object);
        let bytes = store.get(object).await?;
        tracker
            .upload(experiment_id, run_id, &format!("{role}/{file}"), bytes)
            .await?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Handles one invocation: every `runs/*.json` object of an S3 event, or `{"run_key": ...}`.
pub async fn handle<S: ObjectStore, T: ExperimentTracker>(
    store: &S,
    tracker: &T,
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
        out.push(log_record(store, tracker, settings, &key).await?);
    }
    Ok(out)
}
