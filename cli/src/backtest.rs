//! `fraud backtest`: a policy replayed on a labelled file before it goes live, scored in file
//! order through the card histories as `fraud eval` scores it, each row decided as the service
//! decides it. Writes `backtest.json` and prints what each list and rule did.

use std::path::PathBuf;

use fraud_core::card_key::CardHasher;
use fraud_core::error::CoreError;
use fraud_core::metrics::format_dollars;
use fraud_core::score::score_stream_models;
use fraud_core::{Artifact, ReadMode};
use fraud_policy::{Backtest, BacktestReport, Costs, FalseDeclineCost, Policy};

use fraud_service::model::LazyAwsConfig;

use crate::error::{CliError, CliResult};
use crate::eval::{open_for_scoring, replay_history_file};
use crate::policy::{parse_false_decline_cost, print_figures};
use crate::progress;

#[derive(clap::Args, Debug)]
pub struct BacktestArgs {
    /// Model file written by `fraud train`.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The policy: a document, the pointer policies/active.json, or s3://BUCKET/KEY.
    #[arg(long, value_name = "PATH|s3://BUCKET/KEY")]
    pub policy: String,
    /// Labelled transactions (.csv or .csv.zst, with `is_fraud`).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Earlier transactions replayed through the card history first (not decided), as
    /// `fraud eval --history`.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// What a declined good transaction costs: `amount` or dollars (default: the price the
    /// policy was fitted with, else `amount`).
    #[arg(long, value_parser = parse_false_decline_cost)]
    pub false_decline_cost: Option<FalseDeclineCost>,
    /// Dollars per review (default: the price the policy was fitted with, else none).
    #[arg(long, value_name = "DOLLARS")]
    pub review_cost: Option<f64>,
    /// The deployment's card-hash key, needed when the policy lists cards (or CARD_HASH_SECRET).
    #[arg(long, env = "CARD_HASH_SECRET", hide_env_values = true)]
    pub card_hash_secret: Option<String>,
    /// Output directory for backtest.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// The card hasher, when the policy needs card keys (it lists cards or a rule reads `card`).
fn hasher(args: &BacktestArgs, policy: &Policy) -> CliResult<Option<CardHasher>> {
    if !policy.needs_card_key() {
        return Ok(None);
    }
    let secret = args.card_hash_secret.as_ref().ok_or_else(|| {
        CliError::Usage(format!(
            "policy {} uses card keys: set the deployment's CARD_HASH_SECRET (or --card-hash-secret)",
            policy.version()
        ))
    })?;
    Ok(Some(
        CardHasher::new(secret.as_bytes()).map_err(|e| CliError::Usage(e.to_string()))?,
    ))
}

pub fn run(args: &BacktestArgs) -> CliResult<()> {
    let artifact = Artifact::load(&args.model)?;
    let policy = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::system("cannot start the async runtime", e))?
        .block_on(crate::policy::load(
            "--policy",
            &args.policy,
            &LazyAwsConfig::new(),
        ))?;
    if policy.fitted_for(&artifact.model_version) == Some(false) {
        let fitted = policy
            .document()
            .expected
            .as_ref()
            .map(|e| e.model_version.as_str());
        eprintln!(
            "warning: the policy's thresholds were fitted for model {}, not {}: the backtest shows them on this model's scores",
            fitted.unwrap_or_default(),
            artifact.model_version
        );
    }
    let hasher = hasher(args, &policy)?;
    let costs = Costs::for_policy(&policy, args.false_decline_cost, args.review_cost);
    let mut builders = [artifact.feature_builder()];
    if let Some(history) = &args.history {
        replay_history_file(history, ReadMode::Strict, &mut builders[0])?;
    }
    let mut reader = open_for_scoring(&args.data, ReadMode::Strict)?;
    if !reader.has_labels() {
        return Err(CliError::Input(format!(
            "{}: a backtest needs the `is_fraud` column",
            args.data.display()
        )));
    }
    let source = reader.source_name().to_owned();
    let mut backtest = Backtest::new(&policy, hasher.as_ref(), artifact.threshold);
    let counter = reader.byte_counter();
    let bar = progress::file_bar(&args.data, "backtest");
    let mut row = 0u64;
    let mut sink = |txn: &fraud_core::Transaction,
                    features: &fraud_core::FeatureVector,
                    scored: &[fraud_core::score::RowScore]| {
        row += 1;
        if row.is_multiple_of(65_536) {
            bar.set_position(counter.get());
        }
        let label = txn.is_fraud.ok_or_else(|| CoreError::BadData {
            source_name: source.clone(),
            reason: format!("row {row} ({}) has no `is_fraud`", txn.trans_num),
        })?;
        backtest.add_transaction(txn, features, scored[0].probability, label);
        Ok(())
    };
    let summary =
        score_stream_models(&mut reader, &[&artifact], &mut builders, &mut sink)?.remove(0);
    bar.finish_and_clear();
    if summary.rows == 0 {
        return Err(CliError::Input(format!(
            "{}: no transactions",
            args.data.display()
        )));
    }
    let report = backtest.finish(
        &artifact.model_version,
        &args.data.display().to_string(),
        &costs,
    );
    write(args, &report)?;
    print(&report);
    Ok(())
}

fn write(args: &BacktestArgs, report: &BacktestReport) -> CliResult<()> {
    std::fs::create_dir_all(&args.out).map_err(|e| CliError::output(&args.out, e))?;
    let path = args.out.join("backtest.json");
    let json = serde_json::to_string_pretty(report).expect("a backtest serializes");
    std::fs::write(&path, json + "\n").map_err(|e| CliError::output(&path, e))?;
    println!("backtest: {}", path.display());
    Ok(())
}

fn print(report: &BacktestReport) {
    println!(
        "policy {} with model {} on {} ({} transactions, {} frauds, {} of fraud)",
        report.policy_version,
        report.model_version,
        report.data,
        report.policy.transactions,
        report.policy.frauds,
        format_dollars(report.policy.fraud_dollars)
    );
    print_figures(&[
        ("policy", &report.policy),
        ("thresholds only", &report.thresholds_only),
        ("model threshold", &report.model_only),
    ]);
    println!(
        "{:<32} {:<8} {:>9} {:>7} {:>12} {:>9} {:>12}",
        "decided by", "outcome", "rows", "frauds", "fraud $", "good", "good $"
    );
    for r in &report.by_rule {
        println!(
            "{:<32} {:<8} {:>9} {:>7} {:>12} {:>9} {:>12}",
            r.rule,
            r.outcome.as_str(),
            r.transactions,
            r.frauds,
            format_dollars(r.fraud_dollars),
            r.good,
            format_dollars(r.good_dollars)
        );
    }
}
