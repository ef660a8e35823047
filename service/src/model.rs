//! The model is loaded once per cold start, from S3 or a local path, through the object-store
//! port (following a pointer object when the key names one). Any problem stops start-up.

pub use fraud_core::registry::LoadedModel;

use fraud_core::ports::ObjectStore;

use crate::error::StartupError;

/// Loads `key` from `store`: an artifact, or a pointer to one.
pub async fn load_model(store: &impl ObjectStore, key: &str) -> Result<LoadedModel, StartupError> {
    Ok(fraud_core::registry::load_model(store, key).await?)
}

/// Loads a local artifact or pointer file.
pub async fn load_model_file(path: &std::path::Path) -> Result<LoadedModel, StartupError> {
    Ok(fraud_embedded::load_model_file(path).await?)
}
