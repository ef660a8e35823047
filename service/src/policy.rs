//! The decision policy is loaded once per cold start, with the model, from S3 or a local path
//! (following `policies/active.json` when the key names the pointer). A bad policy stops start-up.

use std::path::Path;

use fraud_aws::{S3ObjectStore, s3_client, sdk_config};
use fraud_embedded::LocalObjectStore;
use fraud_policy::{Policy, load_policy};

use crate::config::ObjectLocation;
use crate::error::StartupError;
use crate::model::LazyAwsConfig;

/// Loads the policy `location` names; the AWS SDK is set up only for an S3 location.
pub async fn load_policy_at(
    location: &ObjectLocation,
    aws: &LazyAwsConfig,
) -> Result<Policy, StartupError> {
    let policy = match location {
        ObjectLocation::S3 { bucket, key } => {
            let store = S3ObjectStore::new(s3_client(aws.get_or_init(sdk_config).await), bucket);
            load_policy(&store, key).await?
        }
        ObjectLocation::Local(path) => {
            let (root, key) = local_root_and_key(path);
            load_policy(&LocalObjectStore::new(root), &key).await?
        }
    };
    tracing::info!(policy_version = %policy.version(), rules = policy.document().rules.len(), "policy loaded");
    Ok(policy)
}

/// A file in a `policies` directory is read as that directory's parent's key `policies/NAME`,
/// so the pointer `policies/active.json` finds its documents as it does in the bucket.
fn local_root_and_key(path: &Path) -> (&Path, String) {
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = path.parent().filter(|d| !d.as_os_str().is_empty());
    match parent {
        Some(dir) if dir.file_name().is_some_and(|d| d == "policies") => (
            dir.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
            format!("policies/{name}"),
        ),
        Some(dir) => (dir, name),
        None => (Path::new("."), name),
    }
}
