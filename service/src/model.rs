//! The model is loaded once per cold start, from S3 or a local path, through the object-store
//! port (following a pointer object when the key names one). Any problem stops start-up.

pub use fraud_core::registry::LoadedModel;

use fraud_aws::{S3ObjectStore, s3_client, sdk_config};
use fraud_core::ports::ObjectStore;

use crate::config::ObjectLocation;
use crate::error::StartupError;

/// The AWS SDK's configuration, set up on first use only (locally it would probe the network
/// for a region) and then shared by every client built at start-up.
pub type LazyAwsConfig = tokio::sync::OnceCell<aws_config::SdkConfig>;

/// Loads the model `location` names; the AWS SDK is set up only for an S3 location.
pub async fn load_model_at(
    location: &ObjectLocation,
    aws: &LazyAwsConfig,
) -> Result<LoadedModel, StartupError> {
    match location {
        ObjectLocation::S3 { bucket, key } => {
            let store = S3ObjectStore::new(s3_client(aws.get_or_init(sdk_config).await), bucket);
            load_model(&store, key).await
        }
        ObjectLocation::Local(path) => load_model_file(path).await,
    }
}

/// Loads `key` from `store`: an artifact, or a pointer to one.
pub async fn load_model(store: &impl ObjectStore, key: &str) -> Result<LoadedModel, StartupError> {
    Ok(fraud_core::registry::load_model(store, key).await?)
}

/// Loads a local artifact or pointer file.
pub async fn load_model_file(path: &std::path::Path) -> Result<LoadedModel, StartupError> {
    Ok(fraud_embedded::load_model_file(path).await?)
}
