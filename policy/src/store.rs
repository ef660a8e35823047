//! Where policies live: `policies/<version>.json`, immutable, and the pointer
//! `policies/active.json` naming the one in force, so a change of policy is one small write and
//! a rollback is another. Read through the object-store port: S3, or a local directory.

use fraud_core::ports::ObjectStore;
use serde::{Deserialize, Serialize};

use crate::{Policy, PolicyError, Problem};

/// The pointer to the policy in force.
pub const ACTIVE_POLICY_KEY: &str = "policies/active.json";

/// `policies/active.json`: the key and version of the active policy document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPointer {
    pub key: String,
    pub version: String,
}

/// The key of a policy version's document.
pub fn policy_key(version: &str) -> String {
    format!("policies/{version}.json")
}

/// Loads the policy at `key`: a policy document, or a pointer to one (whose version is checked).
pub async fn load_policy(store: &impl ObjectStore, key: &str) -> Result<Policy, PolicyError> {
    let bytes = read(store, key).await?;
    let Ok(pointer) = serde_json::from_slice::<PolicyPointer>(&bytes) else {
        return Policy::from_json(&bytes, &store.describe(key));
    };
    let origin = store.describe(&pointer.key);
    let policy = Policy::from_json(&read(store, &pointer.key).await?, &origin)?;
    if policy.version() != pointer.version {
        return Err(PolicyError::new(
            &origin,
            Problem::Field {
                field: "version".into(),
                reason: format!(
                    "{:?}, but the pointer {} names version {:?}",
                    policy.version(),
                    store.describe(key),
                    pointer.version
                ),
            },
        ));
    }
    Ok(policy)
}

/// Writes `policy` as `policies/<version>.json` and points `policies/active.json` at it. An
/// existing document of the same version is refused unless it is identical: versions are
/// immutable, so a decision log's `policy_version` always means one document.
pub async fn publish_policy(
    store: &impl ObjectStore,
    policy: &Policy,
) -> Result<PolicyPointer, PolicyError> {
    let key = policy_key(policy.version());
    let json = serde_json::to_vec_pretty(policy.document()).expect("a policy serializes");
    match store.get(&key).await {
        Ok(existing) if existing == json => {}
        Ok(_) => {
            return Err(PolicyError::new(
                &store.describe(&key),
                Problem::Field {
                    field: "version".into(),
                    reason: format!(
                        "{:?} is already published with other content; give the changed policy a new version",
                        policy.version()
                    ),
                },
            ));
        }
        Err(fraud_core::ports::StoreError::NotFound { .. }) => {
            store
                .put(&key, json)
                .await
                .map_err(|e| stored(store, &key, e))?;
        }
        Err(e) => return Err(stored(store, &key, e)),
    }
    let pointer = PolicyPointer {
        key,
        version: policy.version().to_owned(),
    };
    let bytes = serde_json::to_vec_pretty(&pointer).expect("a pointer serializes");
    store
        .put(ACTIVE_POLICY_KEY, bytes)
        .await
        .map_err(|e| stored(store, ACTIVE_POLICY_KEY, e))?;
    Ok(pointer)
}

async fn read(store: &impl ObjectStore, key: &str) -> Result<Vec<u8>, PolicyError> {
    store.get(key).await.map_err(|e| stored(store, key, e))
}

fn stored(
    store: &impl ObjectStore,
    key: &str,
    error: fraud_core::ports::StoreError,
) -> PolicyError {
    PolicyError::new(&store.describe(key), Problem::Store(error))
}
