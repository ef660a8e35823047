//! Where models live in the bucket (or the local directory standing in for it), and the one
//! way the live model changes. `models/<version>/model.bin` are immutable artifacts;
//! `models/challenger.json` names the newest candidate (written by training);
//! `models/champion.json` names the model the scoring service and batch evaluation use, and
//! moves only through [`promote`] (`fraud promote VERSION`, or the eval gate).

use serde::{Deserialize, Serialize};

use crate::artifact::{ModelLoadError, ModelPointer, load_model};
use crate::ports::{ObjectStore, StoreError};

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
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ModelLoadError {
                location: store.describe(key),
                reason: format!("not a model pointer ({{\"key\", \"version\"}}): {e}"),
            }),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(ModelLoadError {
            location: store.describe(key),
            reason: e.to_string(),
        }),
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
    let bad = |reason: String| ModelLoadError {
        location: format!("model version {version:?}"),
        reason,
    };
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || version.starts_with('.')
    {
        return Err(bad(
            "a version is letters, digits, '-', '_' and '.' (as under models/)".into(),
        ));
    }
    let key = model_key(version);
    let loaded = load_model(store, &key).await?;
    if loaded.artifact.model_version != version {
        return Err(bad(format!(
            "{} holds version {}",
            loaded.source, loaded.artifact.model_version
        )));
    }
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
    .map_err(|e| ModelLoadError {
        location: store.describe(CHAMPION_KEY),
        reason: e.to_string(),
    })?;
    Ok(Promotion {
        version: version.to_owned(),
        model_key: key,
        previous,
        validation_auc_pr: loaded.artifact.validation.auc_pr,
    })
}
