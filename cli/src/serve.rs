//! `fraud serve`: the scoring API on this machine, with the same router as the Lambda, card
//! state in memory or in a database file (`--state`) and decisions in a database file
//! (`--decision-log`). With files, every answer is on disk before it is sent: a crash, a kill
//! or a power loss loses nothing acknowledged.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fraud_core::card_key::CardHasher;
use fraud_embedded::{LocalCardStore, LocalDecisionLog};
use fraud_service::auth::{ApiToken, require_token};
use fraud_service::config::ObjectLocation;
use fraud_service::model::{LazyAwsConfig, LoadedModel, load_model_at};
use fraud_service::{ScoreService, router};

use crate::error::{CliError, CliResult};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Model file, pointer (.json), or s3://BUCKET/KEY (AWS credentials from the environment).
    #[arg(long, value_name = "PATH|s3://BUCKET/KEY")]
    pub model: String,
    /// Decision policy (lists, rules, thresholds): a policy document, the pointer
    /// policies/active.json, or s3://BUCKET/KEY. Without it the model's threshold decides.
    #[arg(long, value_name = "PATH|s3://BUCKET/KEY")]
    pub policy: Option<String>,
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Address to listen on. One other machines can reach (not loopback) needs an API token.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// File holding the API token that every route but GET /health then requires
    /// (`Authorization: Bearer <token>`); or set FRAUD_API_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Card state database (created when missing); every change is committed before its
    /// answer is sent. Without it, card state lives in memory and a restart forgets it.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Decision log database (created when missing; `fraud decisions FILE` prints it).
    #[arg(long, value_name = "FILE", default_value = "out/decisions.db")]
    pub decision_log: PathBuf,
    /// Key of the card-number hash. Required with --state (the saved keys depend on it);
    /// without it a random key is made for this process.
    #[arg(long, env = "CARD_HASH_SECRET", hide_env_values = true)]
    pub card_hash_secret: Option<String>,
    /// Milliseconds the card state may take before a transaction is scored without history.
    #[arg(long, default_value_t = 50)]
    pub store_budget_ms: u64,
    /// Worker threads (0: one per available core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

async fn load(model: &str, aws: &LazyAwsConfig) -> CliResult<LoadedModel> {
    let location = ObjectLocation::parse(model)
        .ok_or_else(|| CliError::Usage(format!("--model {model}: expected s3://BUCKET/KEY")))?;
    Ok(load_model_at(&location, aws).await?)
}

/// The API token from `file`, else from FRAUD_API_TOKEN; none when neither is given.
fn api_token(file: Option<&std::path::Path>) -> CliResult<Option<ApiToken>> {
    let token = match (file, std::env::var("FRAUD_API_TOKEN")) {
        (Some(path), _) => ApiToken::from_file(path),
        (None, Ok(text)) => ApiToken::new(&text, "FRAUD_API_TOKEN"),
        (None, Err(_)) => return Ok(None),
    };
    token.map(Some).map_err(|e| CliError::Usage(e.to_string()))
}

fn random_secret() -> String {
    use std::hash::{BuildHasher, RandomState};
    (0..4)
        .map(|i| format!("{:016x}", RandomState::new().hash_one(i)))
        .collect()
}

pub fn run(args: &ServeArgs) -> CliResult<()> {
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // One core needs no work stealing: a single-threaded runtime answers more requests there.
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .map_err(|e| CliError::system("cannot start the async runtime", e))?;
    runtime.block_on(serve(args))
}

async fn serve(args: &ServeArgs) -> CliResult<()> {
    let started = Instant::now();
    let secret = match (&args.card_hash_secret, &args.state) {
        (Some(secret), _) => secret.clone(),
        (None, Some(state)) => {
            return Err(CliError::Usage(format!(
                "--state {} needs a stable CARD_HASH_SECRET (or --card-hash-secret): the saved cards are keyed by it",
                state.display()
            )));
        }
        (None, None) => random_secret(),
    };
    let hasher = CardHasher::new(secret.as_bytes()).map_err(|e| CliError::Usage(e.to_string()))?;
    let (address, token) = address_and_token(args)?;
    let aws = LazyAwsConfig::new();
    let model = load(&args.model, &aws).await?;
    let policy = match &args.policy {
        Some(path) => Some(crate::policy::load("--policy", path, &aws).await?),
        None => None,
    };
    let cards = match &args.state {
        Some(path) => LocalCardStore::open(path)?,
        None => LocalCardStore::in_memory(),
    };
    let known_cards = cards.count()?;
    let log = LocalDecisionLog::open(&args.decision_log)?;
    let version = model.artifact.model_version.clone();
    let service = Arc::new(
        ScoreService::new(
            model,
            cards,
            log,
            hasher,
            Duration::from_millis(args.store_budget_ms),
        )
        .with_policy(policy),
    );
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| CliError::system(format!("cannot listen on {address}"), e))?;
    println!(
        "serving model {version} with policy {} on http://{address} (POST /predict, POST /predict/batch, GET /health, GET /model, GET /policy); {known_cards} cards in state; ready in {} ms",
        service.policy().version(),
        started.elapsed().as_millis()
    );

    let app = match token {
        Some(token) => require_token(router(service.clone()), token),
        None => router(service.clone()),
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| CliError::system("server", e))?;
    if let Some(path) = &args.state {
        println!("{} cards in {}", service.cards().count()?, path.display());
    }
    Ok(())
}

/// Where to listen, and the API token; a host other machines can reach needs one.
fn address_and_token(args: &ServeArgs) -> CliResult<(SocketAddr, Option<ApiToken>)> {
    let address: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .map_err(|e| CliError::Usage(format!("--host {} --port {}: {e}", args.host, args.port)))?;
    let token = api_token(args.api_token_file.as_deref())?;
    if token.is_none() && !address.ip().is_loopback() {
        return Err(CliError::Usage(format!(
            "--host {}: other machines could reach this server; set an API token (--api-token-file FILE or FRAUD_API_TOKEN), or bind 127.0.0.1",
            args.host
        )));
    }
    Ok((address, token))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
