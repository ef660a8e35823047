//! `fraud policy`: fit a policy's thresholds from dollars, check one, publish one, and turn card
//! numbers into the card keys its lists hold.

use std::io::BufRead;
use std::path::PathBuf;

use fraud_core::card_key::CardHasher;
use fraud_core::metrics::{Curve, format_dollars};
use fraud_core::train::{
    VALIDATION_FRACTION, features_of, fit_rows, load_training_data, predict_all,
};
use fraud_core::{Artifact, ReadMode};
use fraud_policy::{
    Costs, ExpectedFigures, FalseDeclineCost, Figures, Policy, PolicyDocument, SCHEMA_VERSION,
    ThresholdFigures, Thresholds, figures, fit_thresholds, publish_policy,
};
use fraud_service::config::ObjectLocation;
use fraud_service::model::LazyAwsConfig;
use fraud_service::policy::load_policy_at;

use crate::error::{CliError, CliResult};
use crate::progress;

#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Choose deny and review thresholds of least dollar cost on the model's validation slice.
    Fit(FitArgs),
    /// Read and check a policy (a document, the pointer policies/active.json, or s3://BUCKET/KEY).
    Check {
        #[arg(value_name = "PATH|s3://BUCKET/KEY")]
        policy: String,
    },
    /// Write a policy as policies/<version>.json in a directory or bucket and make it active.
    Publish {
        #[arg(value_name = "FILE")]
        policy: PathBuf,
        /// The directory or bucket (s3://BUCKET) that `fraud serve --policy` or the score
        /// function reads.
        #[arg(long, value_name = "DIR|s3://BUCKET")]
        to: String,
    },
    /// Print the card key of each card number read from stdin (one per line), for the lists.
    CardKey(CardKeyArgs),
}

#[derive(clap::Args, Debug)]
pub struct FitArgs {
    /// Model file written by `fraud train`.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The labelled file the model was trained on: its last 15 % by time is the validation slice.
    #[arg(long, value_name = "FILE")]
    pub train: PathBuf,
    /// What a declined good transaction costs: `amount` (its own amount) or a dollar figure.
    #[arg(long, default_value = "amount", value_parser = parse_false_decline_cost)]
    pub false_decline_cost: FalseDeclineCost,
    /// Dollars per reviewed transaction; without it, review stays off.
    #[arg(long, value_name = "DOLLARS")]
    pub review_cost: Option<f64>,
    /// Most reviews, as a share of all transactions.
    #[arg(long, default_value_t = 0.01, value_name = "SHARE")]
    pub review_rate_max: f64,
    /// The policy's version (default: the model's version with `.fit`).
    #[arg(long)]
    pub version: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct CardKeyArgs {
    /// The deployment's key of the card-number hash (or CARD_HASH_SECRET).
    #[arg(long, env = "CARD_HASH_SECRET", hide_env_values = true)]
    pub card_hash_secret: Option<String>,
    /// Or read it from this Secrets Manager secret (AWS credentials from the environment).
    #[arg(long, value_name = "ARN", conflicts_with = "card_hash_secret")]
    pub card_hash_secret_arn: Option<String>,
}

/// `amount` or a non-negative dollar figure.
pub fn parse_false_decline_cost(text: &str) -> Result<FalseDeclineCost, String> {
    if text == "amount" {
        return Ok(FalseDeclineCost::Amount);
    }
    match text.parse::<f64>() {
        Ok(dollars) if dollars >= 0.0 && dollars.is_finite() => {
            Ok(FalseDeclineCost::Dollars(dollars))
        }
        _ => Err(format!("{text:?}: expected `amount` or dollars such as 50")),
    }
}

pub fn run(command: &PolicyCommand) -> CliResult<()> {
    match command {
        PolicyCommand::Fit(args) => fit(args),
        PolicyCommand::Check { policy } => {
            let policy =
                runtime()?.block_on(load("fraud policy check", policy, &LazyAwsConfig::new()))?;
            println!("{}", summary(&policy));
            Ok(())
        }
        PolicyCommand::Publish { policy, to } => publish(policy, to),
        PolicyCommand::CardKey(args) => card_keys(args),
    }
}

fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::system("cannot start the async runtime", e))
}

/// A policy from a path or `s3://BUCKET/KEY` (given as `flag`, for messages), checked.
pub async fn load(flag: &str, path: &str, aws: &LazyAwsConfig) -> CliResult<Policy> {
    let location = ObjectLocation::parse(path)
        .ok_or_else(|| CliError::Usage(format!("{flag} {path}: expected s3://BUCKET/KEY")))?;
    Ok(load_policy_at(&location, aws).await?)
}

fn summary(policy: &Policy) -> String {
    let d = policy.document();
    let list_entries = |l: &fraud_policy::ListEntries| {
        l.cards.len() + l.merchants.len() + l.categories.len() + l.states.len() + l.zips.len()
    };
    format!(
        "policy {}: deny at {}, review {}; allow list {} entries, block list {} entries, {} rules",
        d.version,
        d.thresholds.deny,
        d.thresholds
            .review
            .map_or("off".to_owned(), |r| format!("at {r}")),
        list_entries(&d.lists.allow),
        list_entries(&d.lists.block),
        d.rules.len()
    )
}

/// The model's scores on the validation slice of `train`: labels, scores, amounts.
fn validation_scores(
    artifact: &Artifact,
    train: &std::path::Path,
) -> CliResult<(Vec<u8>, Vec<f64>, Vec<f64>)> {
    let bar = progress::file_bar(train, "reading");
    let data = load_training_data(train, ReadMode::Strict, &|bytes| bar.set_position(bytes))?;
    bar.finish_and_clear();
    let n = data.n_rows();
    let n_fit = fit_rows(n);
    let rows: Vec<usize> = (n_fit..n).collect();
    let valid = features_of(&data.inputs, &data.labels, &artifact.card_risk, &rows);
    let scores = predict_all(&artifact.model, &valid);
    let amounts = data.inputs[n_fit..]
        .iter()
        .map(|i| i.event.amount_cents as f64 / 100.0)
        .collect();
    Ok((valid.labels, scores, amounts))
}

fn fit(args: &FitArgs) -> CliResult<()> {
    if !(0.0..=1.0).contains(&args.review_rate_max) {
        return Err(CliError::Usage(format!(
            "--review-rate-max {}: a share between 0 and 1",
            args.review_rate_max
        )));
    }
    if let Some(cost) = args.review_cost.filter(|r| !(*r >= 0.0 && r.is_finite())) {
        return Err(CliError::Usage(format!(
            "--review-cost {cost}: expected non-negative dollars"
        )));
    }
    let artifact = Artifact::load(&args.model)?;
    let (labels, scores, amounts) = validation_scores(&artifact, &args.train)?;
    let costs = Costs {
        false_decline: args.false_decline_cost,
        review: args.review_cost,
        review_rate_max: args.review_rate_max,
    };
    let fitted = fit_thresholds(&labels, &scores, &amounts, &costs);
    let at = |threshold| ThresholdFigures {
        threshold,
        figures: figures(&labels, &scores, &amounts, &costs, threshold, None),
    };
    let f1_threshold = Curve::new(&labels, &scores).best_f1_threshold().0;
    let data = format!(
        "the validation slice (last {:.0} % by time, {} rows) of {}",
        VALIDATION_FRACTION * 100.0,
        labels.len(),
        args.train.display()
    );
    let document = PolicyDocument {
        schema_version: SCHEMA_VERSION,
        version: args
            .version
            .clone()
            .unwrap_or_else(|| format!("{}.fit", artifact.model_version)),
        description: Some(format!("thresholds of least dollar cost on {data}")),
        thresholds: Thresholds {
            deny: fitted.deny,
            review: fitted.review,
        },
        lists: Default::default(),
        rules: Vec::new(),
        expected: Some(ExpectedFigures {
            data,
            model_version: artifact.model_version.clone(),
            false_decline_cost: costs.false_decline,
            review_cost: costs.review,
            review_rate_max: costs.review.map(|_| costs.review_rate_max),
            figures: fitted.figures,
            model_threshold: at(artifact.threshold),
            f1_threshold: at(f1_threshold),
        }),
    };
    let policy = Policy::compile(document)
        .map_err(|e| CliError::Input(format!("the fitted policy: {e}")))?;
    let json = serde_json::to_string_pretty(policy.document()).expect("a policy serializes");
    std::fs::write(&args.out, json + "\n").map_err(|e| CliError::output(&args.out, e))?;
    println!("{}", summary(&policy));
    let expected = policy.document().expected.as_ref().expect("set above");
    print_figures(&[
        ("fitted policy", &expected.figures),
        ("model threshold", &expected.model_threshold.figures),
        ("F1 threshold", &expected.f1_threshold.figures),
    ]);
    println!("policy: {}", args.out.display());
    Ok(())
}

/// One line per set of figures: cost, fraud dollars caught, declines, reviews.
pub fn print_figures(rows: &[(&str, &Figures)]) {
    for (name, f) in rows {
        println!(
            "{name:<16} cost {:>12}  value detection {:.4}  frauds caught {}/{}  false declines {} ({}; rate {:.6})  reviews {} (rate {:.4})",
            format_dollars(f.cost),
            f.value_detection_rate,
            f.frauds_caught,
            f.frauds,
            f.false_declines,
            format_dollars(f.false_decline_dollars),
            f.false_decline_rate,
            f.reviews,
            f.review_rate
        );
    }
}

fn publish(path: &std::path::Path, to: &str) -> CliResult<()> {
    let bytes =
        std::fs::read(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    let policy = Policy::from_json(&bytes, &path.display().to_string())
        .map_err(|e| CliError::Input(e.to_string()))?;
    let runtime = runtime()?;
    let pointer = match to.strip_prefix("s3://") {
        Some(bucket) => runtime.block_on(async {
            let config = fraud_aws::sdk_config().await;
            let store = fraud_aws::S3ObjectStore::new(
                fraud_aws::s3_client(&config),
                bucket.trim_end_matches('/'),
            );
            publish_policy(&store, &policy).await
        }),
        None => runtime.block_on(publish_policy(
            &fraud_embedded::LocalObjectStore::new(to),
            &policy,
        )),
    }
    .map_err(|e| CliError::Input(e.to_string()))?;
    println!(
        "published {} as {to}/{} and made it active ({to}/{})",
        pointer.version,
        pointer.key,
        fraud_policy::ACTIVE_POLICY_KEY
    );
    Ok(())
}

/// Reads card numbers from stdin (never from the command line, where `ps` and the shell's
/// history would keep them) and prints their keys, one per line.
fn card_keys(args: &CardKeyArgs) -> CliResult<()> {
    let secret = match (&args.card_hash_secret, &args.card_hash_secret_arn) {
        (Some(secret), _) => secret.clone(),
        (None, Some(arn)) => runtime()?.block_on(async {
            fraud_aws::secret_string(&fraud_aws::sdk_config().await, arn).await
        })?,
        (None, None) => {
            return Err(CliError::Usage(
                "the deployment's card-hash secret is needed: CARD_HASH_SECRET, --card-hash-secret or --card-hash-secret-arn".into(),
            ));
        }
    };
    let hasher = CardHasher::new(secret.as_bytes()).map_err(|e| CliError::Usage(e.to_string()))?;
    for (index, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| CliError::system("stdin", e))?;
        let digits: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.is_empty() {
            continue;
        }
        let card = digits
            .parse::<u64>()
            .ok()
            .filter(|_| (12..=19).contains(&digits.len()))
            .ok_or_else(|| {
                CliError::Input(format!(
                    "stdin line {}: not a card number (12 to 19 digits)",
                    index + 1
                ))
            })?;
        println!("{}", hasher.key(card));
    }
    Ok(())
}
