//! Start-up: the configuration becomes a ready Router (model and policy loaded, stores built), the same
//! way on Lambda, under `cargo lambda watch` and in the end-to-end test.

use std::sync::Arc;

use axum::Router;
use fraud_aws::{DynamoCardStore, DynamoDecisionLog, dynamodb_client, sdk_config, secret_string};
use fraud_core::card_key::CardHasher;
use fraud_embedded::{LocalCardStore, LocalDecisionLog};

use crate::config::{CardHashSecret, Config, Stores};
use crate::error::StartupError;
use crate::model::{LazyAwsConfig, load_model_at};
use crate::policy::load_policy_at;
use crate::service::DecisionSink;
use crate::{ScoreService, router};

/// Loads the model once and builds the stores `config` names, the service telling `sink` of
/// every decision; any failure stops start-up.
pub async fn build(config: &Config, sink: Option<DecisionSink>) -> Result<Router, StartupError> {
    let aws = LazyAwsConfig::new();
    let model = load_model_at(&config.model, &aws).await?;
    tracing::info!(model_version = %model.artifact.model_version, source = %model.source, "model loaded");
    let policy = match &config.policy {
        Some(location) => Some(load_policy_at(location, &aws).await?),
        None => None,
    };
    let hasher = card_hasher(&config.card_hash_secret, &aws).await?;
    Ok(match &config.stores {
        Stores::DynamoDb {
            card_state_table,
            decision_log_table,
        } => {
            let ddb = dynamodb_client(aws.get_or_init(sdk_config).await);
            let cards = DynamoCardStore::new(ddb.clone(), card_state_table.clone());
            let log = DynamoDecisionLog::new(ddb, decision_log_table.clone());
            router(Arc::new(
                ScoreService::new(model, cards, log, hasher, config.store_budget)
                    .with_policy(policy)
                    .with_decision_sink(sink),
            ))
        }
        Stores::Embedded { decision_log } => {
            let log = LocalDecisionLog::open(decision_log)?;
            router(Arc::new(
                ScoreService::new(
                    model,
                    LocalCardStore::in_memory(),
                    log,
                    hasher,
                    config.store_budget,
                )
                .with_policy(policy)
                .with_decision_sink(sink),
            ))
        }
    })
}

/// The card hasher keyed by the secret `source` names (read from Secrets Manager once).
async fn card_hasher(
    source: &CardHashSecret,
    aws: &LazyAwsConfig,
) -> Result<CardHasher, StartupError> {
    let secret = match source {
        CardHashSecret::Value(secret) => secret.clone(),
        CardHashSecret::SecretsManager { arn } => {
            secret_string(aws.get_or_init(sdk_config).await, arn).await?
        }
    };
    Ok(CardHasher::new(secret.as_bytes())?)
}
