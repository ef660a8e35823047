//! Loading the model once per cold start, from S3 or a local path, through the object-store
//! port; following a pointer object when the key names one. Any problem stops start-up.

use fraud_core::Artifact;
use fraud_core::artifact::{ModelPointer, is_pointer_key};
use fraud_core::ports::ObjectStore;

use crate::error::StartupError;

/// The model the service scores with, and where it came from.
#[derive(Debug)]
pub struct LoadedModel {
    pub artifact: Artifact,
    /// SHA-256 of the model file, as `GET /model` reports it.
    pub checksum: String,
    pub source: String,
}

/// Loads `key` from `store`: an artifact, or a pointer to one.
pub async fn load_model(store: &impl ObjectStore, key: &str) -> Result<LoadedModel, StartupError> {
    let failed = |location: String, reason: String| StartupError::Model { location, reason };
    let bytes = store
        .get(key)
        .await
        .map_err(|e| failed(store.describe(key), e.to_string()))?;
    let (key, bytes, expected_version) = if is_pointer_key(key) {
        let pointer: ModelPointer = serde_json::from_slice(&bytes).map_err(|e| {
            failed(
                store.describe(key),
                format!("not a model pointer ({{\"key\", \"version\"}}): {e}"),
            )
        })?;
        let artifact = store.get(&pointer.key).await.map_err(|e| {
            failed(
                store.describe(&pointer.key),
                format!("{e} (named by pointer {key})"),
            )
        })?;
        (pointer.key, artifact, Some(pointer.version))
    } else {
        (key.to_owned(), bytes, None)
    };
    let source = store.describe(&key);
    let artifact =
        Artifact::from_bytes(&bytes, &source).map_err(|e| failed(source.clone(), e.to_string()))?;
    if let Some(version) = expected_version
        && version != artifact.model_version
    {
        return Err(failed(
            source,
            format!(
                "the pointer names version {version} but the file holds {}",
                artifact.model_version
            ),
        ));
    }
    Ok(LoadedModel {
        checksum: Artifact::file_checksum(&bytes),
        artifact,
        source,
    })
}

/// Loads a local artifact or pointer file (a pointer's key is relative to its directory).
pub async fn load_model_file(path: &std::path::Path) -> Result<LoadedModel, StartupError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    load_model(&fraud_core::ports::LocalObjectStore::new(dir), &file).await
}
