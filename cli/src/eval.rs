//! `fraud eval`: score a file with a model, in file order through the per-card history, and
//! write predictions (and metrics when the file has labels).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use fraud_core::metrics::{Metrics, ValueMetrics, format_dollars};
use fraud_core::score::{
    MetricsReport, PredictionsCsv, ScoreSummary, replay_history, score_stream, write_issues_csv,
};
use fraud_core::{Artifact, FeatureBuilder, ReadMode, TransactionReader};

use crate::error::{CliError, CliResult};
use crate::progress;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Model file written by `fraud train`.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Transactions to score (.csv or .csv.zst); with `is_fraud`, metrics are written too.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Earlier transactions replayed through the card history first (not scored), so the
    /// evaluated period sees its past as in production.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Skip malformed rows (written to DIR/errors.csv) instead of stopping at the first one.
    #[arg(long)]
    pub lenient: bool,
    /// Output directory for predictions.csv, metrics.json and errors.csv.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

fn write_errors(reader: &TransactionReader, path: &Path) -> CliResult<()> {
    let file = File::create(path).map_err(|e| CliError::output(path, e))?;
    let name = path.display().to_string();
    write_issues_csv(reader.issues(), BufWriter::new(file), &name)?
        .flush()
        .map_err(|e| CliError::output(path, e))
}

/// A reader for scoring: the personal fields are not needed, and parsing runs on every core.
pub fn open_for_scoring(path: &Path, mode: ReadMode) -> CliResult<TransactionReader> {
    Ok(TransactionReader::open(path, mode)?
        .without_personal_fields()
        .parallel())
}

/// Feeds the `--history` file through the card histories so the scored period sees its past.
pub fn replay_history_file(
    history: &Path,
    mode: ReadMode,
    builder: &mut FeatureBuilder<'_>,
) -> CliResult<()> {
    let mut reader = open_for_scoring(history, mode)?;
    let bar = progress::file_bar(history, "history");
    let rows = replay_history(&mut reader, std::slice::from_mut(builder))?;
    bar.finish_and_clear();
    println!(
        "replayed {rows} history rows from {} ({} cards)",
        history.display(),
        builder.cards()
    );
    Ok(())
}

/// Scores `data` into `predictions_path`; the reader comes back for the rows it skipped.
fn score_file(
    data: &Path,
    mode: ReadMode,
    artifact: &Artifact,
    builder: &mut FeatureBuilder<'_>,
    predictions_path: &Path,
) -> CliResult<(ScoreSummary, TransactionReader)> {
    let mut reader = open_for_scoring(data, mode)?;
    let counter = reader.byte_counter();
    let bar = progress::file_bar(data, "scoring");
    let file = File::create(predictions_path).map_err(|e| CliError::output(predictions_path, e))?;
    let mut out = PredictionsCsv::new(
        BufWriter::with_capacity(1 << 20, file),
        predictions_path.display().to_string(),
    )?;
    let mut n = 0u64;
    let summary = score_stream(&mut reader, artifact, builder, &mut |txn, d| {
        n += 1;
        if n.is_multiple_of(65_536) {
            bar.set_position(counter.get());
        }
        out.write(txn, d)
    })?;
    out.finish()?
        .flush()
        .map_err(|e| CliError::output(predictions_path, e))?;
    bar.finish_and_clear();
    Ok((summary, reader))
}

/// With labels: metrics.json and the headline numbers; without, a word on why there are none.
fn report_metrics(args: &EvalArgs, artifact: &Artifact, summary: &ScoreSummary) -> CliResult<()> {
    match (&summary.metrics, &summary.value) {
        (Some(m), Some(v)) => {
            let metrics_path = write_metrics(args, artifact, m, v)?;
            print_metrics(m, v);
            println!("metrics: {}", metrics_path.display());
        }
        _ if summary.unlabeled_rows > 0 => {
            println!(
                "no labels ({} unlabeled rows): predictions only",
                summary.unlabeled_rows
            )
        }
        _ => {}
    }
    Ok(())
}

/// Writes `metrics.json`, naming the model and files the numbers came from; gives its path.
fn write_metrics(
    args: &EvalArgs,
    artifact: &Artifact,
    metrics: &Metrics,
    value: &ValueMetrics,
) -> CliResult<PathBuf> {
    let metrics_path = args.out.join("metrics.json");
    let file = MetricsReport {
        metrics: metrics.clone(),
        value: value.clone(),
        model_version: artifact.model_version.clone(),
        data: args.data.display().to_string(),
        history: args.history.as_ref().map(|h| h.display().to_string()),
    };
    let json = serde_json::to_string_pretty(&file).expect("metrics serialize");
    std::fs::write(&metrics_path, json + "\n").map_err(|e| CliError::output(&metrics_path, e))?;
    Ok(metrics_path)
}

/// The headline numbers: ranking and threshold metrics, their dollar view, the confusion matrix.
fn print_metrics(m: &Metrics, v: &ValueMetrics) {
    println!(
        "AUC-ROC {:.4}  AUC-PR {:.4}  precision {:.4}  recall {:.4}  F1 {:.4}  recall@1%FPR {:.4}  (threshold {:.6})",
        m.auc_roc, m.auc_pr, m.precision, m.recall, m.f1, m.recall_at_1pct_fpr, m.threshold
    );
    println!(
        "value detection rate {:.4} ({} of {} fraud caught)  good spend declined {}  false-decline rate {:.6}  recall@0.1%FPR {:.4}  CP@100 {:.4} (over {} days)",
        v.value_detection_rate,
        format_dollars(v.fraud_dollars_caught),
        format_dollars(v.fraud_dollars),
        format_dollars(v.good_dollars_declined),
        v.false_decline_rate,
        v.recall_at_0_1pct_fpr,
        v.card_precision_at_100,
        v.card_precision_days
    );
    println!(
        "confusion: tp {}  fp {}  tn {}  fn {}",
        m.confusion.tp, m.confusion.fp, m.confusion.tn, m.confusion.fn_
    );
}

pub fn run(args: &EvalArgs) -> CliResult<()> {
    let started = Instant::now();
    let artifact = Artifact::load(&args.model)?;
    let mode = if args.lenient {
        ReadMode::Lenient
    } else {
        ReadMode::Strict
    };
    let mut builder = artifact.feature_builder();
    if let Some(history) = &args.history {
        replay_history_file(history, mode, &mut builder)?;
    }
    std::fs::create_dir_all(&args.out).map_err(|e| CliError::output(&args.out, e))?;
    let predictions_path = args.out.join("predictions.csv");
    let (summary, reader) =
        score_file(&args.data, mode, &artifact, &mut builder, &predictions_path)?;
    if summary.rows == 0 {
        return Err(CliError::Input(format!(
            "{}: no transactions to score",
            args.data.display()
        )));
    }

    let seconds = started.elapsed().as_secs_f64();
    println!(
        "scored {} rows from {} with model {} in {:.1} s ({:.0} rows/s); {} flagged as fraud",
        summary.rows,
        args.data.display(),
        artifact.model_version,
        seconds,
        summary.rows as f64 / seconds,
        summary.predicted_frauds
    );
    if summary.skipped_rows > 0 {
        let errors_path = args.out.join("errors.csv");
        write_errors(&reader, &errors_path)?;
        println!(
            "skipped {} malformed rows, listed in {}",
            summary.skipped_rows,
            errors_path.display()
        );
    }
    println!("predictions: {}", predictions_path.display());
    report_metrics(args, &artifact, &summary)
}
