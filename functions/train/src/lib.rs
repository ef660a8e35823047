//! The training function: an object under `training/` (S3 notification) or a direct invoke
//! `{"train_key", "model", "grid"}` is read as a stream, trained on with the core crate, and
//! written back as `models/<version>/model.bin`, `runs/<version>.json` (the run record the
//! MLflow logger publishes) and `models/challenger.json` (a pointer to the new model).
//! The champion pointer is never touched here: promotion is an explicit step.

use std::sync::Arc;
use std::time::Instant;

use fraud_core::model::ModelKind;
use fraud_core::ports::{ObjectReader, ObjectStore, StoreError};
use fraud_core::registry::ModelPointer;
use fraud_core::registry::{CHALLENGER_KEY, model_key, write_pointer};
use fraud_core::run::RunRecord;
use fraud_core::train::{TrainConfig, load_training_reader, train};
use fraud_core::{ReadMode, TransactionReader};
use fraud_lambda::errors::store_retryable;
use fraud_lambda::s3::{EventError, s3_objects};
use fraud_lambda::{FunctionError, diagnostic};
use lambda_runtime::Diagnostic;
use serde::{Deserialize, Serialize};

/// Prefix whose objects trigger training.
pub const TRAINING_PREFIX: &str = "training/";

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The input cannot train a model; retrying will not help.
    #[error("{key}: {reason}")]
    BadInput { key: String, reason: String },
    /// S3 failed: worth a retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event not understood: {0}")]
    BadEvent(String),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("internal: {0}")]
    Internal(String),
}

impl FunctionError for TrainError {
    fn kind(&self) -> &'static str {
        match self {
            TrainError::BadInput { .. } => "BadInput",
            TrainError::Store(_) => "Store",
            TrainError::BadEvent(_) | TrainError::Event(_) => "BadEvent",
            TrainError::Internal(_) => "Internal",
        }
    }

    fn retryable(&self) -> bool {
        match self {
            TrainError::Store(e) => store_retryable(e),
            TrainError::Internal(_) => true,
            TrainError::BadInput { .. } | TrainError::BadEvent(_) | TrainError::Event(_) => false,
        }
    }
}

impl TrainError {
    pub fn retryable(&self) -> bool {
        FunctionError::retryable(self)
    }
}

impl From<TrainError> for Diagnostic {
    fn from(e: TrainError) -> Self {
        diagnostic(&e)
    }
}

/// A direct invocation.
#[derive(Debug, Clone, Deserialize)]
pub struct DirectRequest {
    pub train_key: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub grid: bool,
    /// Hyper-parameter overrides (`{"max_depth": 7}`), as `fraud train --set` (Step Functions
    /// fans a grid out through this).
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Point `models/challenger.json` at the new model (default). A grid member says `false`
    /// and the state machine's last step picks the best with `{"choose_challenger": ...}`.
    #[serde(default = "yes")]
    pub set_challenger: bool,
}

fn yes() -> bool {
    true
}

/// What one training produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trained {
    pub model_version: String,
    pub model_key: String,
    pub run_key: String,
    pub validation_auc_pr: f64,
}

/// The objects an event asks to train on, with the settings.
fn requests(
    event: &serde_json::Value,
    bucket: Option<&str>,
) -> Result<Vec<DirectRequest>, TrainError> {
    if let Some(objects) = s3_objects(event, bucket)? {
        return Ok(objects
            .into_iter()
            .filter(|o| {
                o.key.starts_with(TRAINING_PREFIX)
                    && (o.key.ends_with(".csv") || o.key.ends_with(".csv.zst"))
            })
            .map(|o| DirectRequest {
                train_key: o.key,
                model: None,
                grid: false,
                params: Default::default(),
                set_challenger: true,
            })
            .collect());
    }
    serde_json::from_value(event.clone())
        .map(|r| vec![r])
        .map_err(|e| {
            TrainError::BadEvent(format!(
                "neither an S3 notification nor {{\"train_key\", \"model\", \"grid\"}}: {e}"
            ))
        })
}

fn config(request: &DirectRequest) -> Result<TrainConfig, TrainError> {
    let bad = |reason: String| TrainError::BadInput {
        key: request.train_key.clone(),
        reason,
    };
    let model: ModelKind = request
        .model
        .as_deref()
        .unwrap_or("gbdt")
        .parse()
        .map_err(|e: fraud_core::UnknownName| bad(e.to_string()))?;
    let mut config = TrainConfig {
        model,
        grid: request.grid,
        ..TrainConfig::default()
    };
    config
        .override_params(&request.params)
        .map_err(|e| bad(e.to_string()))?;
    Ok(config)
}

/// Trains on one object and writes the model, the run record and the challenger pointer.
pub async fn train_object<S: ObjectStore>(
    store: &S,
    request: &DirectRequest,
) -> Result<Trained, TrainError> {
    let started = Instant::now();
    let config = config(request)?;
    let key = request.train_key.clone();
    let ObjectReader { reader, etag } = store.open(&key).await.map_err(|e| match e {
        StoreError::NotFound { what } => TrainError::BadInput {
            key: key.clone(),
            reason: format!("{what}: not found"),
        },
        other => TrainError::Store(other),
    })?;
    let source = store.describe(&key);
    let outcome = tokio::task::spawn_blocking(move || {
        let reader = TransactionReader::from_reader(reader, source, ReadMode::Strict)?;
        let data = load_training_reader(reader, &|_| {})?;
        let outcome = train(&data, &config, &|_, _, _| {})?;
        Ok::<_, fraud_core::CoreError>(outcome)
    })
    .await
    .map_err(|e| TrainError::Internal(e.to_string()))?
    .map_err(|e| match e {
        fraud_core::CoreError::Io { .. } => TrainError::Store(StoreError::Failed {
            what: store.describe(&key),
            reason: e.to_string(),
        }),
        other => TrainError::BadInput {
            key: key.clone(),
            reason: other.to_string(),
        },
    })?;
    let artifact = &outcome.artifact;
    let version = artifact.model_version.clone();
    let model_key = model_key(&version);
    let bytes = artifact
        .to_bytes()
        .map_err(|e| TrainError::Internal(e.to_string()))?;
    store.put(&model_key, bytes).await?;
    let mut record = RunRecord::for_training(artifact, &key, etag, &model_key);
    record
        .metrics
        .insert("fit_seconds".into(), outcome.fit_seconds);
    record
        .metrics
        .insert("total_seconds".into(), started.elapsed().as_secs_f64());
    let run_key = format!("runs/{version}.json");
    let json =
        serde_json::to_vec_pretty(&record).map_err(|e| TrainError::Internal(e.to_string()))?;
    store.put(&run_key, json).await?;
    let trained = Trained {
        model_version: version,
        model_key,
        run_key,
        validation_auc_pr: artifact.validation.auc_pr,
    };
    tracing::info!(version = %trained.model_version, data = %key, auc_pr = trained.validation_auc_pr, "model trained");
    if request.set_challenger {
        set_challenger(store, &trained).await?;
    }
    Ok(trained)
}

async fn set_challenger<S: ObjectStore>(store: &S, trained: &Trained) -> Result<(), TrainError> {
    let pointer = ModelPointer {
        key: trained.model_key.clone(),
        version: trained.model_version.clone(),
    };
    Ok(write_pointer(store, CHALLENGER_KEY, &pointer).await?)
}

/// Every [`Trained`] object in `value`, at any depth (a Step Functions Map output is an array
/// of the arrays `handle` returns).
fn collect_trained(value: &serde_json::Value, out: &mut Vec<Trained>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_trained(v, out)),
        serde_json::Value::Object(_) => {
            if let Ok(t) = serde_json::from_value::<Trained>(value.clone()) {
                out.push(t);
            }
        }
        _ => {}
    }
}

/// The last step of a grid: the candidate with the best validation AUC-PR becomes the
/// challenger. Ties go to the earlier candidate, so the choice does not depend on timing.
pub async fn choose_challenger<S: ObjectStore>(
    store: &S,
    candidates: &serde_json::Value,
) -> Result<Trained, TrainError> {
    let mut found = Vec::new();
    collect_trained(candidates, &mut found);
    let best = found
        .into_iter()
        .filter(|t| t.validation_auc_pr.is_finite())
        .reduce(|best, t| {
            if t.validation_auc_pr > best.validation_auc_pr {
                t
            } else {
                best
            }
        })
        .ok_or_else(|| {
            TrainError::BadEvent(
                "choose_challenger: no candidate {\"model_version\", \"model_key\", \"run_key\", \"validation_auc_pr\"} in the input".into(),
            )
        })?;
    set_challenger(store, &best).await?;
    tracing::info!(version = %best.model_version, auc_pr = best.validation_auc_pr, "challenger chosen");
    Ok(best)
}

/// Handles any invocation: `{"choose_challenger": ...}` answers the chosen [`Trained`]; anything
/// else goes to [`handle`] and answers the list.
pub async fn invoke<S: ObjectStore>(
    store: Arc<S>,
    event: serde_json::Value,
) -> Result<serde_json::Value, TrainError> {
    let answer = match event.get("choose_challenger") {
        Some(candidates) => {
            serde_json::to_value(choose_challenger(store.as_ref(), candidates).await?)
        }
        None => serde_json::to_value(handle(store, event).await?),
    };
    answer.map_err(|e| TrainError::Internal(e.to_string()))
}

/// Handles one invocation: every training object of an S3 event, or one direct request.
pub async fn handle<S: ObjectStore>(
    store: Arc<S>,
    event: serde_json::Value,
) -> Result<Vec<Trained>, TrainError> {
    let mut out = Vec::new();
    for request in requests(&event, store.bucket())? {
        out.push(train_object(store.as_ref(), &request).await?);
    }
    Ok(out)
}
