//! The training Lambda: tracing, configuration and the S3 client once, then the handler.

use std::sync::Arc;

use fraud_aws::{S3ObjectStore, s3_client, sdk_config};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fraud_lambda::init_tracing();
    let mut vars = fraud_lambda::Vars::from_env();
    let bucket = vars.required("FRAUD_BUCKET", "the data and model bucket");
    let bucket = vars.finish(bucket)?;
    let store = Arc::new(S3ObjectStore::new(s3_client(&sdk_config().await), bucket));
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let store = store.clone();
        async move { train::invoke(store, event.payload).await }
    }))
    .await
}
