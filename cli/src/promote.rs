//! `fraud promote VERSION`: the explicit step that makes a trained model the champion
//! (`models/champion.json`), in the S3 bucket `FRAUD_BUCKET` (credentials, region and
//! `AWS_ENDPOINT_URL` from the SDK's standard variables, like the functions) or in a local
//! directory standing in for it (`--store DIR`, the embedded default).

use std::path::PathBuf;

use fraud_aws::{S3ObjectStore, s3_client, sdk_config};
use fraud_core::ports::ObjectStore;
use fraud_core::registry::{CHALLENGER_KEY, Promotion, promote, read_pointer};
use fraud_embedded::LocalObjectStore;

use crate::error::{CliError, CliResult};

#[derive(clap::Args, Debug)]
pub struct PromoteArgs {
    /// The model version to promote (as under models/), or `challenger` for the newest trained.
    pub version: String,
    /// A local directory holding models/ instead of the bucket named by FRAUD_BUCKET.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

async fn promote_in(store: &impl ObjectStore, version: &str) -> CliResult<Promotion> {
    let version = if version == "challenger" {
        read_pointer(store, CHALLENGER_KEY)
            .await?
            .ok_or_else(|| {
                CliError::Input(format!(
                    "{}: no challenger yet (train a model first)",
                    store.describe(CHALLENGER_KEY)
                ))
            })?
            .version
    } else {
        version.to_owned()
    };
    Ok(promote(store, &version).await?)
}

pub fn run(args: &PromoteArgs) -> CliResult<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::system("cannot start the async runtime", e))?;
    let bucket = std::env::var("FRAUD_BUCKET")
        .ok()
        .filter(|b| !b.trim().is_empty());
    let (promotion, place) = runtime.block_on(async {
        match (&args.store, bucket) {
            (Some(dir), _) => {
                let store = LocalObjectStore::new(dir);
                Ok((promote_in(&store, &args.version).await?, dir.display().to_string()))
            }
            (None, Some(bucket)) => {
                let store = S3ObjectStore::new(s3_client(&sdk_config().await), bucket.clone());
                Ok((promote_in(&store, &args.version).await?, format!("s3://{bucket}")))
            }
            (None, None) => Err(CliError::Usage(
                "FRAUD_BUCKET is not set: name the bucket, or pass --store DIR for a local directory"
                    .into(),
            )),
        }
    })?;
    println!(
        "champion in {place} is now {} ({}, validation AUC-PR {:.4}); previous: {}",
        promotion.version,
        promotion.model_key,
        promotion.validation_auc_pr,
        promotion.previous.as_deref().unwrap_or("none")
    );
    Ok(())
}
