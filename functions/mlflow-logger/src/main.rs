//! The MLflow logger Lambda: tracing, configuration, clients once, then the handler.

use fraud_aws::{S3ObjectStore, s3_client, sdk_config};
use fraud_lambda::FromEnv;
use lambda_runtime::{LambdaEvent, service_fn};
use mlflow_logger::{Config, Mlflow, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fraud_lambda::init_tracing();
    let config = Config::from_env()?;
    let mlflow = Mlflow::new(&config.tracking_uri)?;
    let settings = config.settings;
    let store = S3ObjectStore::new(s3_client(&sdk_config().await), config.bucket);
    let (store, mlflow, settings) = (&store, &mlflow, &settings);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handle(store, mlflow, settings, event.payload).await
        },
    ))
    .await
}
