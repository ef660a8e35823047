//! The scoring Lambda: tracing, configuration, clients and the model once per cold start, then
//! the router. Under the Lambda runtime (`AWS_LAMBDA_RUNTIME_API` set, also by
//! `cargo lambda watch`) it serves API Gateway events; otherwise plain HTTP on 127.0.0.1:$PORT.

use std::sync::Arc;

use fraud_aws::{
    DynamoCardStore, DynamoDecisionLog, S3ObjectStore, dynamodb_client, s3_client, sdk_config,
};
use fraud_core::ports::{CardHasher, CardStore, DecisionLog, JsonLinesLog, MemoryCardStore};
use score::config::{Config, ModelLocation, Stores};
use score::model::{load_model, load_model_file};
use score::{ScoreService, router};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .init();
    let config = Config::from_env()?;
    // The SDK is set up only when used: locally it would probe the network for a region.
    let aws = tokio::sync::OnceCell::new();
    let aws = || aws.get_or_init(sdk_config);
    let model = match &config.model {
        ModelLocation::S3 { bucket, key } => {
            load_model(&S3ObjectStore::new(s3_client(aws().await), bucket), key).await?
        }
        ModelLocation::Local(path) => load_model_file(path).await?,
    };
    tracing::info!(model_version = %model.artifact.model_version, source = %model.source, "model loaded");
    let hasher = CardHasher::new(config.card_hash_secret.as_bytes())?;
    match config.stores {
        Stores::DynamoDb {
            card_state_table,
            decision_log_table,
        } => {
            let ddb = dynamodb_client(aws().await);
            let cards = DynamoCardStore::new(ddb.clone(), card_state_table);
            let log = DynamoDecisionLog::new(ddb, decision_log_table);
            run(ScoreService::new(
                model,
                cards,
                log,
                hasher,
                config.store_budget,
            ))
            .await
        }
        Stores::Embedded { decision_log } => {
            let log = JsonLinesLog::open(&decision_log)?;
            run(ScoreService::new(
                model,
                MemoryCardStore::default(),
                log,
                hasher,
                config.store_budget,
            ))
            .await
        }
    }
}

async fn run<C: CardStore + 'static, L: DecisionLog + 'static>(
    service: ScoreService<C, L>,
) -> Result<(), Error> {
    let app = router(Arc::new(service));
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        lambda_http::run(app).await
    } else {
        let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
        tracing::info!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    }
}
