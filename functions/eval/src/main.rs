//! The batch-evaluation Lambda: tracing, configuration and the S3 client once, then the handler.

use eval::{Config, ModelCache, evaluation_metrics, handle};
use fraud_aws::{S3ObjectStore, s3_client, sdk_config};
use fraud_lambda::FromEnv;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fraud_lambda::init_tracing();
    let mut config = Config::from_env()?;
    let aws = sdk_config().await;
    if let Some(arn) = &config.card_hash_secret_arn {
        let secret = fraud_aws::secret_string(&aws, arn).await?;
        config.settings.card_hasher =
            Some(fraud_core::card_key::CardHasher::new(secret.as_bytes())?);
    }
    let store = S3ObjectStore::new(s3_client(&aws), config.bucket.clone());
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
