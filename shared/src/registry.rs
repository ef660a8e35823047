//! Where models live in the bucket (or the local directory standing in for it), how a model is
//! loaded from there, and the one way the live model changes. `models/<version>/model.bin` are
//! immutable artifacts; `models/challenger.json` names the newest candidate (written by
//! training); `models/champion.json` names the model the scoring service and batch evaluation
//! use, and moves only through [`promote`] (`fraud promote VERSION`, or the eval gate).

use serde::{Deserialize, Serialize};

use crate::artifact::Artifact;
use crate::error::CoreError;
use crate::ports::{ObjectStore, StoreError};

/// A pointer object (`models/champion.json`): which artifact is live, so promotion is one small
/// write and the scoring service can follow it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPointer {
    /// Object key of the artifact, relative to the same bucket or directory as the pointer.
    pub key: String,
    /// The artifact's model version; loading checks it.
    pub version: String,
}

/// True when an object key names a pointer rather than an artifact.
pub fn is_pointer_key(key: &str) -> bool {
    key.ends_with(".json")
}

/// A model read from an object store, with where it came from.
#[derive(Debug)]
pub struct LoadedModel {
    pub artifact: Artifact,
    /// SHA-256 of the model file.
    pub checksum: String,
    /// Where the artifact was read (`s3://bucket/key`, a path).
    pub source: String,
}

/// Why a model could not be loaded or promoted; each names the location, and keeps its cause
/// so a caller can tell a passing store failure ([`ModelLoadError::is_transient`]) from a bad
/// file.
#[derive(Debug, thiserror::Error)]
pub enum ModelLoadError {
    #[error("model {location}: {source}")]
    Store {
        location: String,
        #[source]
        source: StoreError,
    },
    #[error("model {location}: not a model pointer ({{\"key\", \"version\"}}): {source}")]
    Pointer {
        location: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("model {location}: {source}")]
    Artifact {
        location: String,
        #[source]
        source: Box<CoreError>,
    },
    #[error("model {location}: {named_by} names version {named} but the file holds {found}")]
    VersionMismatch {
        location: String,
        named_by: String,
        named: String,
        found: String,
    },
    #[error("model {location}: not found: {hint}")]
    NoModel { location: String, hint: String },
    #[error(
        "model version {version:?}: a version is letters, digits, '-', '_' and '.' (as under models/)"
    )]
    InvalidVersion { version: String },
}

impl ModelLoadError {
    /// True when trying again may succeed: the store failed (a timeout, throttling), as opposed
    /// to a missing object or a bad file.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ModelLoadError::Store {
                source: StoreError::Failed { .. },
                ..
            }
        )
    }
}

fn store_failed(store: &impl ObjectStore, key: &str) -> impl FnOnce(StoreError) -> ModelLoadError {
    let location = store.describe(key);
    move |source| ModelLoadError::Store { location, source }
}

/// A pointer's bytes, parsed; the one reading of the pointer format.
fn parse_pointer(
    store: &impl ObjectStore,
    key: &str,
    bytes: &[u8],
) -> Result<ModelPointer, ModelLoadError> {
    serde_json::from_slice(bytes).map_err(|source| ModelLoadError::Pointer {
        location: store.describe(key),
        source,
    })
}

/// Loads `key` from `store`: an artifact, or a pointer to one (whose version is checked).
pub async fn load_model(
    store: &impl ObjectStore,
    key: &str,
) -> Result<LoadedModel, ModelLoadError> {
    let bytes = store.get(key).await.map_err(store_failed(store, key))?;
    if !is_pointer_key(key) {
        return loaded(store, key, &bytes);
    }
    let pointer = parse_pointer(store, key, &bytes)?;
    let bytes = store
        .get(&pointer.key)
        .await
        .map_err(store_failed(store, &pointer.key))?;
    let model = loaded(store, &pointer.key, &bytes)?;
    check_version(&model, &format!("the pointer {key}"), &pointer.version)?;
    Ok(model)
}

fn loaded(
    store: &impl ObjectStore,
    key: &str,
    bytes: &[u8],
) -> Result<LoadedModel, ModelLoadError> {
    let source = store.describe(key);
    let artifact = Artifact::from_bytes(bytes, &source).map_err(|e| ModelLoadError::Artifact {
        location: source.clone(),
        source: Box::new(e),
    })?;
    Ok(LoadedModel {
        checksum: Artifact::file_checksum(bytes),
        artifact,
        source,
    })
}

/// Refuses `model` unless it holds `version`, the version `named_by` (a pointer, a request)
/// names.
pub fn check_version(
    model: &LoadedModel,
    named_by: &str,
    version: &str,
) -> Result<(), ModelLoadError> {
    if model.artifact.model_version == version {
        return Ok(());
    }
    Err(ModelLoadError::VersionMismatch {
        location: model.source.clone(),
        named_by: named_by.to_owned(),
        named: version.to_owned(),
        found: model.artifact.model_version.clone(),
    })
}

pub const CHAMPION_KEY: &str = "models/champion.json";
pub const CHALLENGER_KEY: &str = "models/challenger.json";

/// The artifact key of a model version.
pub fn model_key(version: &str) -> String {
    format!("models/{version}/model.bin")
}

/// Reads a pointer object; `None` when it does not exist.
pub async fn read_pointer(
    store: &impl ObjectStore,
    key: &str,
) -> Result<Option<ModelPointer>, ModelLoadError> {
    match store.get(key).await {
        Ok(bytes) => parse_pointer(store, key, &bytes).map(Some),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(store_failed(store, key)(e)),
    }
}

/// Writes a pointer object.
pub async fn write_pointer(
    store: &impl ObjectStore,
    key: &str,
    pointer: &ModelPointer,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec_pretty(pointer).expect("a pointer serializes");
    store.put(key, json).await
}

/// What a promotion did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    pub version: String,
    pub model_key: String,
    /// The champion it replaced, if any.
    pub previous: Option<String>,
    pub validation_auc_pr: f64,
}

/// Makes `version` the champion, after loading its artifact whole (checksum, format and
/// version checked), so the pointer never names a model the scoring service would refuse.
/// Rolling back is promoting the previous version again.
pub async fn promote(store: &impl ObjectStore, version: &str) -> Result<Promotion, ModelLoadError> {
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || version.starts_with('.')
    {
        return Err(ModelLoadError::InvalidVersion {
            version: version.to_owned(),
        });
    }
    let key = model_key(version);
    let loaded = load_model(store, &key).await?;
    check_version(&loaded, "the promotion", version)?;
    let previous = read_pointer(store, CHAMPION_KEY).await?.map(|p| p.version);
    write_pointer(
        store,
        CHAMPION_KEY,
        &ModelPointer {
            key: key.clone(),
            version: version.to_owned(),
        },
    )
    .await
    .map_err(store_failed(store, CHAMPION_KEY))?;
    Ok(Promotion {
        version: version.to_owned(),
        model_key: key,
        previous,
        validation_auc_pr: loaded.artifact.validation.auc_pr,
    })
}
