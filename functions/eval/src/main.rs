//! The batch-evaluation Lambda: tracing, configuration and the S3 client once, then the handler.

use eval::{Config, ModelCache, evaluation_metrics, handle};
use fraud_aws::{S3ObjectStore, s3_client, sdk_config};
use fraud_lambda::FromEnv;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fraud_lambda::init_tracing();
    let config = Config::from_env()?;
    let store = S3ObjectStore::new(s3_client(&sdk_config().await), config.bucket.clone());
    let models = ModelCache::default();
    let (store, models, settings) = (&store, &models, &config.settings);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let evaluated = handle(store, models, settings, event.payload).await?;
            // CloudWatch Embedded Metric Format: stdout is the function's log stream.
            for e in evaluated.iter().filter(|e| !e.reused) {
                println!("{}", evaluation_metrics(e));
            }
            Ok::<_, eval::EvalError>(evaluated)
        },
    ))
    .await
}
