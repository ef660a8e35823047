//! The MLflow logger Lambda: tracing, configuration, clients once, then the handler.

use fraud_aws::{S3ObjectStore, s3_client, sdk_config};
use lambda_runtime::{LambdaEvent, service_fn};
use mlflow_logger::{Mlflow, Settings, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fraud_aws::init_tracing();
    let missing: Vec<&str> = ["FRAUD_BUCKET", "MLFLOW_TRACKING_URI"]
        .into_iter()
        .filter(|v| std::env::var(v).map_or(true, |s| s.trim().is_empty()))
        .collect();
    if !missing.is_empty() {
        return Err(format!("not set: {}", missing.join(", ")).into());
    }
    let bucket = std::env::var("FRAUD_BUCKET")?;
    let mlflow = Mlflow::new(&std::env::var("MLFLOW_TRACKING_URI")?)?;
    let mut settings = Settings::default();
    if let Ok(name) = std::env::var("MLFLOW_EXPERIMENT") {
        settings.experiment = name;
    }
    if let Ok(name) = std::env::var("MLFLOW_MODEL_NAME") {
        settings.registered_model = name;
    }
    let store = S3ObjectStore::new(s3_client(&sdk_config().await), bucket);
    let (store, mlflow, settings) = (&store, &mlflow, &settings);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handle(store, mlflow, settings, event.payload).await
        },
    ))
    .await
}
