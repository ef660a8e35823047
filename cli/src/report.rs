//! `fraud report`: the monitoring report of a scored file (a `fraud replay` output, or any
//! Kaggle-layout file scored here with the reference model) against a reference: the training
//! statistics stored in a model file, or a reference CSV whose features are computed here.
//! Writes `report.html` (self-contained), `metrics.json` and `drift.json`.

use std::path::{Path, PathBuf};

use fraud_core::features::NoRisk;
use fraud_core::stats::FeatureStats;
use fraud_core::{
    Artifact, FEATURE_NAMES, FeatureBuilder, FeatureInput, FeatureVector, N_FEATURES, ReadMode,
    TransactionReader,
};
use fraud_monitoring::report::html::render;
use fraud_monitoring::report::{Report, ReportCollector, ReportContext};

use crate::error::{CliError, CliResult};
use crate::progress;

/// The columns a replay adds to each row.
pub const PROBABILITY_COLUMN: &str = "fraud_probability";
pub const PREDICTION_COLUMN: &str = "is_fraud_prediction";

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// What "normal" is: a model file (its training statistics and threshold) or a reference
    /// CSV in the Kaggle layout (its features are computed here).
    #[arg(long, value_name = "REF.csv|model.bin")]
    pub reference: PathBuf,
    /// The scored rows: the Kaggle columns plus `fraud_probability` and `is_fraud_prediction`
    /// (what `fraud replay` writes). Without those columns the rows are scored here with the
    /// --reference model.
    #[arg(long, value_name = "PREDICTIONS.csv")]
    pub current: PathBuf,
    /// A `fraud backtest` of the same file (its backtest.json): the report gains the decision
    /// policy's section.
    #[arg(long, value_name = "backtest.json")]
    pub backtest: Option<PathBuf>,
    /// Output directory for report.html, metrics.json and drift.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// A backtest.json written by `fraud backtest`.
fn read_backtest(path: &Path) -> CliResult<fraud_policy::BacktestReport> {
    let bytes =
        std::fs::read(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        CliError::Input(format!(
            "{}: not a backtest.json of fraud backtest: {e}",
            path.display()
        ))
    })
}

/// The reference: a model (statistics, threshold, version) or a CSV (statistics only).
fn reference(path: &Path) -> CliResult<(Vec<FeatureStats>, Option<Artifact>)> {
    // Sniff the magic only: a reference CSV may be gigabytes and is streamed below.
    let mut magic = [0u8; 8];
    let is_model = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"FRAUDMDL";
    if is_model {
        let artifact = Artifact::load(path)?;
        return Ok((artifact.reference.clone(), Some(artifact)));
    }
    let mut reader = TransactionReader::open(path, ReadMode::Strict)?
        .without_personal_fields()
        .parallel();
    // Without a model there is no first stage: the remembered risks read 0 here (and in the
    // current file's features when it is not scored here either).
    let mut builder = FeatureBuilder::with_risk(&NoRisk);
    let mut columns = vec![Vec::new(); N_FEATURES];
    for txn in reader.by_ref() {
        let x = builder.next(&FeatureInput::from_transaction(&txn?));
        for (column, v) in columns.iter_mut().zip(x) {
            column.push(v);
        }
    }
    if columns[0].is_empty() {
        return Err(CliError::Input(format!(
            "{}: no transactions to take as the reference",
            path.display()
        )));
    }
    let stats = columns
        .iter()
        .enumerate()
        .map(|(f, c)| FeatureStats::of(FEATURE_NAMES[f], c))
        .collect();
    Ok((stats, None))
}

fn parse_field(reader: &TransactionReader, index: usize, name: &str) -> CliResult<f64> {
    let text = reader.current_field(index).unwrap_or("");
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite())
        .ok_or_else(|| {
            CliError::Input(format!(
                "{}, line {}: field `{name}`: {text:?} is not a number",
                reader.source_name(),
                reader.current_line()
            ))
        })
}

/// Where each row's probability and decision come from.
enum Scoring<'a> {
    /// The file's own columns (a replay output): the probability, and the decision column or,
    /// without one, the model's threshold.
    Given {
        probability: usize,
        decision: Option<usize>,
        threshold: Option<f64>,
    },
    /// No probability column: the reference model scores each row here.
    Here(&'a Artifact),
}

impl<'a> Scoring<'a> {
    /// The file's columns when it has a probability, else the model; refused when it has
    /// neither, since there would be nothing to report on.
    fn choose(
        reader: &TransactionReader,
        model: Option<&'a Artifact>,
        current: &Path,
    ) -> CliResult<Self> {
        match (reader.column(PROBABILITY_COLUMN), model) {
            (Some(probability), model) => Ok(Scoring::Given {
                probability,
                decision: reader.column(PREDICTION_COLUMN),
                threshold: model.map(|m| m.threshold),
            }),
            (None, Some(m)) => Ok(Scoring::Here(m)),
            (None, None) => Err(CliError::Usage(format!(
                "{}: no `{PROBABILITY_COLUMN}` column to report on; score it with `fraud replay`, or pass the model as --reference to score it here",
                current.display()
            ))),
        }
    }

    /// The current row's probability and whether it was denied.
    fn score(
        &self,
        reader: &TransactionReader,
        x: &FeatureVector,
        current: &Path,
    ) -> CliResult<(f64, bool)> {
        match *self {
            Scoring::Given {
                probability,
                decision,
                threshold,
            } => {
                let probability = parse_field(reader, probability, PROBABILITY_COLUMN)?;
                let denied = match (decision, threshold) {
                    (Some(d), _) => parse_field(reader, d, PREDICTION_COLUMN)? >= 0.5,
                    (None, Some(t)) => probability >= t,
                    (None, None) => {
                        return Err(CliError::Usage(format!(
                            "{}: no `{PREDICTION_COLUMN}` column and no model to take the threshold from",
                            current.display()
                        )));
                    }
                };
                Ok((probability, denied))
            }
            Scoring::Here(m) => {
                let probability = m.model.predict_proba(x);
                Ok((probability, probability >= m.threshold))
            }
        }
    }
}

/// Reads every row of the current file into the report, with features computed as the
/// reference model (or no model) would; refuses a file with no rows.
fn collect(
    reader: &mut TransactionReader,
    scoring: &Scoring,
    model: Option<&Artifact>,
    current: &Path,
) -> CliResult<ReportCollector> {
    let bar = progress::file_bar(current, "reading");
    let counter = reader.byte_counter();
    let mut builder = model.map_or_else(
        || FeatureBuilder::with_risk(&NoRisk),
        Artifact::feature_builder,
    );
    let mut collector = ReportCollector::new();
    // Not a `for` loop: the row's extra fields are read from the reader between rows.
    #[allow(clippy::while_let_on_iterator)]
    while let Some(txn) = reader.next() {
        let txn = txn?;
        let x = builder.next(&FeatureInput::from_transaction(&txn));
        let (probability, denied) = scoring.score(reader, &x, current)?;
        collector.add(&txn, probability, denied, &x);
        if collector.rows().is_multiple_of(65_536) {
            bar.set_position(counter.get());
        }
    }
    bar.finish_and_clear();
    if collector.rows() == 0 {
        return Err(CliError::Input(format!(
            "{}: no transactions to report on",
            current.display()
        )));
    }
    Ok(collector)
}

/// Writes report.html, metrics.json and drift.json into `out`; gives the page's path.
fn write_files(out: &Path, report: &Report) -> CliResult<PathBuf> {
    std::fs::create_dir_all(out).map_err(|e| CliError::output(out, e))?;
    let write = |name: &str, bytes: Vec<u8>| -> CliResult<PathBuf> {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(|e| CliError::output(&path, e))?;
        Ok(path)
    };
    let html = write("report.html", render(report).into_bytes())?;
    write("metrics.json", to_json(&report.metrics_file()))?;
    write("drift.json", to_json(&report.drift))?;
    Ok(html)
}

/// One line on what the report found: denials, label metrics when there are labels, drift.
fn print_summary(report: &Report, scored_here: bool) {
    let s = &report.summary;
    println!(
        "{} rows{}: {} denied ({:.2} %){}; {} of {} features drifted{}",
        s.rows,
        if scored_here { " (scored here)" } else { "" },
        s.denied,
        s.deny_rate * 100.0,
        report.metrics.as_ref().zip(report.value.as_ref()).map_or(
            " (no labels: label-based sections left out)".into(),
            |(m, v)| format!(
                "; AUC-PR {:.4}, precision {:.4}, recall {:.4}, value detection rate {:.4}",
                m.auc_pr, m.precision, m.recall, v.value_detection_rate
            )
        ),
        report.drift.drifted.len(),
        report.drift.features.len(),
        if report.drift.drifted.is_empty() {
            String::new()
        } else {
            format!(" ({})", report.drift.drifted.join(", "))
        }
    );
}

pub fn run(args: &ReportArgs) -> CliResult<()> {
    let (stats, model) = reference(&args.reference)?;
    let mut reader = TransactionReader::open(&args.current, ReadMode::Strict)?;
    let scoring = Scoring::choose(&reader, model.as_ref(), &args.current)?;
    let collector = collect(&mut reader, &scoring, model.as_ref(), &args.current)?;
    let context = ReportContext {
        model_version: model.as_ref().map(|m| m.model_version.clone()),
        threshold: model.as_ref().map(|m| m.threshold),
        reference: args.reference.display().to_string(),
        current: args.current.display().to_string(),
        generated_at: fraud_core::time::now_rfc3339(),
    };
    let mut report = collector.finish(context, &stats);
    report.backtest = args.backtest.as_deref().map(read_backtest).transpose()?;
    let html = write_files(&args.out, &report)?;
    print_summary(&report, matches!(scoring, Scoring::Here(_)));
    println!("report: {}", html.display());
    Ok(())
}

/// Pretty JSON with a final newline.
fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("report numbers serialize");
    bytes.push(b'\n');
    bytes
}
