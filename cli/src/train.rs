//! `fraud train`: read a labelled file, fit, choose the threshold on the time-ordered validation
//! slice, write the model file.

use std::path::PathBuf;
use std::time::Instant;

use fraud_core::artifact::ModelParams;
use fraud_core::metrics::{ThresholdRule, format_dollars};
use fraud_core::model::ModelKind;
use fraud_core::train::{
    CandidateResult, ColdStarts, TrainConfig, TrainOutcome, TrainingData, load_training_data, train,
};
use fraud_core::{Artifact, ReadMode};

use crate::error::{CliError, CliResult};
use crate::progress;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Labelled training data in the Kaggle layout (.csv or .csv.zst).
    #[arg(long, value_name = "FILE")]
    pub train: PathBuf,
    /// Model to fit: gbdt (gradient boosting, the default), forest or logistic (baselines).
    #[arg(long, default_value = "gbdt")]
    pub model: ModelKind,
    /// Try a small hyper-parameter grid; the best validation AUC-PR wins.
    #[arg(long)]
    pub grid: bool,
    /// How the decision threshold is chosen on the validation slice: dollar_cost (the least
    /// missed fraud dollars plus declined good dollars) or f1 (the maximum F1).
    #[arg(long, default_value = "dollar_cost", value_name = "RULE")]
    pub threshold_rule: ThresholdRule,
    /// Override one hyper-parameter, e.g. `--set iterations=500` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Fit slice restarts from empty card histories, each adding the next 30 days' rows as a
    /// card with no history sees them (0 adds none; gbdt only).
    #[arg(long, default_value_t = ColdStarts::default().restarts, value_name = "N")]
    pub cold_starts: usize,
    /// Skip malformed rows (counted and reported) instead of stopping at the first one.
    #[arg(long)]
    pub lenient: bool,
    /// Where to write the model file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `--set KEY=VALUE` items as a map; a value that is not JSON is taken as a string.
fn overrides(items: &[String]) -> CliResult<serde_json::Map<String, serde_json::Value>> {
    items
        .iter()
        .map(|item| {
            let (key, raw) = item
                .split_once('=')
                .ok_or_else(|| CliError::Usage(format!("--set {item:?}: expected KEY=VALUE")))?;
            let value =
                serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.into()));
            Ok((key.to_owned(), value))
        })
        .collect()
}

/// Reads the labelled file behind a progress bar and says what it held.
fn read_data(args: &TrainArgs, started: Instant) -> CliResult<TrainingData> {
    let mode = if args.lenient {
        ReadMode::Lenient
    } else {
        ReadMode::Strict
    };
    let bar = progress::file_bar(&args.train, "reading");
    let data = load_training_data(&args.train, mode, &|bytes| bar.set_position(bytes))?;
    bar.finish_and_clear();
    let rows = data.n_rows();
    println!(
        "read {} rows ({} frauds, {:.3} %) from {} in {:.1} s{}",
        rows,
        data.frauds(),
        100.0 * data.frauds() as f64 / rows as f64,
        args.train.display(),
        started.elapsed().as_secs_f64(),
        if data.skipped_rows > 0 {
            format!(", skipped {} malformed rows", data.skipped_rows)
        } else {
            String::new()
        }
    );
    Ok(data)
}

/// The training settings from the command line, `--set` overrides applied.
fn config(args: &TrainArgs) -> CliResult<TrainConfig> {
    let mut config = TrainConfig {
        model: args.model,
        grid: args.grid,
        threshold_rule: args.threshold_rule,
        cold_starts: ColdStarts {
            restarts: args.cold_starts,
            ..ColdStarts::default()
        },
        ..TrainConfig::default()
    };
    config
        .override_params(&overrides(&args.overrides)?)
        .map_err(|e| CliError::Usage(format!("--set: {e}")))?;
    Ok(config)
}

/// Trains with a spinner per candidate, so a long grid shows which fit is running.
fn fit(data: &TrainingData, config: &TrainConfig) -> CliResult<TrainOutcome> {
    let spinner = std::cell::RefCell::new(None::<indicatif::ProgressBar>);
    let outcome = train(data, config, &|k, n, params: &ModelParams| {
        if let Some(bar) = spinner.borrow_mut().take() {
            bar.finish_and_clear();
        }
        *spinner.borrow_mut() = Some(progress::spinner(format!(
            "fitting {} candidate {}/{}",
            params.kind().as_str(),
            k + 1,
            n
        )));
    })?;
    if let Some(bar) = spinner.borrow_mut().take() {
        bar.finish_and_clear();
    }
    Ok(outcome)
}

/// One line per candidate tried: its validation AUC-PR, fit time and hyper-parameters.
fn print_candidates(candidates: &[CandidateResult]) {
    for (k, c) in candidates.iter().enumerate() {
        let params: Vec<String> = c
            .params
            .pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "candidate {}/{}: validation AUC-PR {:.4} in {:.1} s  [{}]",
            k + 1,
            candidates.len(),
            c.validation_auc_pr,
            c.fit_seconds,
            params.join(" ")
        );
    }
}

/// How the chosen model did on the validation slice, and the threshold chosen there.
fn print_validation(a: &Artifact) {
    let v = &a.validation;
    println!(
        "fit on {} rows, validated on the last {} rows by time ({} frauds)",
        a.training.fit_rows, a.training.validation_rows, v.frauds
    );
    println!(
        "validation: AUC-ROC {:.4}  AUC-PR {:.4}  precision {:.4}  recall {:.4}  F1 {:.4}  recall@1%FPR {:.4}",
        v.auc_roc, v.auc_pr, v.precision, v.recall, v.f1, v.recall_at_1pct_fpr
    );
    let value = &a.validation_value;
    println!(
        "validation at the threshold: value detection rate {:.4}  good spend declined {}  false-decline rate {:.6}",
        value.value_detection_rate,
        format_dollars(value.good_dollars_declined),
        value.false_decline_rate
    );
    println!(
        "threshold ({} on validation): {:.6}",
        a.threshold_rule.describe(),
        a.threshold
    );
}

pub fn run(args: &TrainArgs) -> CliResult<()> {
    let started = Instant::now();
    // Made before the work, so an unwritable place fails in a moment, not after the fit.
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| CliError::output(dir, e))?;
    }
    let data = read_data(args, started)?;
    let outcome = fit(&data, &config(args)?)?;
    print_candidates(&outcome.candidates);
    let a = &outcome.artifact;
    print_validation(a);
    a.save(&args.out)?;
    println!(
        "model {} written to {} (fitting {:.1} s, total {:.1} s)",
        a.model_version,
        args.out.display(),
        outcome.fit_seconds,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
