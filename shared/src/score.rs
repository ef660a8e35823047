//! Batch scoring of a transaction stream with one model: features in arrival order through the
//! per-card history, predictions in parallel chunks, results handed back in input order.
//! Memory stays flat in the file size apart from one score and label per labelled row.

use std::io::Write;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::artifact::Artifact;
use crate::error::{CoreError, Result};
use crate::features::{FeatureBuilder, FeatureInput, FeatureVector};
use crate::metrics::Metrics;
use crate::reader::{RowIssue, TransactionReader};
use crate::schema::Transaction;

const CHUNK: usize = 8192;

/// One scored transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub probability: f64,
    /// `probability >= threshold`.
    pub fraud: bool,
}

/// Totals of a scoring run; `metrics` when every scored row had a label.
#[derive(Debug, Clone)]
pub struct ScoreSummary {
    pub rows: u64,
    pub skipped_rows: u64,
    pub unlabeled_rows: u64,
    pub predicted_frauds: u64,
    pub metrics: Option<Metrics>,
}

/// Adds every row of `reader` to the card histories without scoring (`--history`).
pub fn replay_history(reader: &mut TransactionReader, builder: &mut FeatureBuilder) -> Result<u64> {
    let mut rows = 0;
    for txn in reader.by_ref() {
        builder.record(&FeatureInput::from_transaction(&txn?));
        rows += 1;
    }
    Ok(rows)
}

/// Scores every row of `reader` in file order, calling `sink` for each in order.
pub fn score_stream(
    reader: &mut TransactionReader,
    artifact: &Artifact,
    builder: &mut FeatureBuilder,
    sink: &mut dyn FnMut(&Transaction, &Decision) -> Result<()>,
) -> Result<ScoreSummary> {
    let mut summaries = score_stream_models(reader, &[artifact], builder, &mut |txn, _, d| {
        sink(txn, &d[0])
    })?;
    Ok(summaries.remove(0))
}

/// Receives each scored row of [`score_stream_models`]: the row, its features, one decision per
/// model.
pub type ModelsSink<'a> = dyn FnMut(&Transaction, &FeatureVector, &[Decision]) -> Result<()> + 'a;

/// Scores every row with several models in one pass (the features are computed once): the
/// sink gets the features and one decision per model, in the order of `artifacts`; one summary
/// per model.
/// An eval gate compares a challenger with the champion on the same rows this way.
pub fn score_stream_models(
    reader: &mut TransactionReader,
    artifacts: &[&Artifact],
    builder: &mut FeatureBuilder,
    sink: &mut ModelsSink<'_>,
) -> Result<Vec<ScoreSummary>> {
    let mut labels: Vec<u8> = Vec::new();
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); artifacts.len()];
    let mut summaries = vec![
        ScoreSummary {
            rows: 0,
            skipped_rows: 0,
            unlabeled_rows: 0,
            predicted_frauds: 0,
            metrics: None,
        };
        artifacts.len()
    ];
    let mut chunk: Vec<(Transaction, FeatureVector)> = Vec::with_capacity(CHUNK);
    let mut decisions: Vec<Decision> = Vec::with_capacity(artifacts.len());
    let mut flush = |chunk: &mut Vec<(Transaction, FeatureVector)>,
                     summaries: &mut [ScoreSummary]|
     -> Result<()> {
        let probabilities: Vec<Vec<f64>> = chunk
            .par_iter()
            .map(|(_, x)| artifacts.iter().map(|a| a.model.predict_proba(x)).collect())
            .collect();
        for ((txn, features), row) in chunk.iter().zip(probabilities) {
            decisions.clear();
            if let Some(label) = txn.is_fraud {
                labels.push(label);
            }
            for (m, (artifact, probability)) in artifacts.iter().zip(row).enumerate() {
                let decision = Decision {
                    probability,
                    fraud: probability >= artifact.threshold,
                };
                let summary = &mut summaries[m];
                summary.rows += 1;
                summary.predicted_frauds += u64::from(decision.fraud);
                match txn.is_fraud {
                    Some(_) => scores[m].push(probability),
                    None => summary.unlabeled_rows += 1,
                }
                decisions.push(decision);
            }
            sink(txn, features, &decisions)?;
        }
        chunk.clear();
        Ok(())
    };
    for txn in reader.by_ref() {
        let txn = txn?;
        let features = builder.next(&FeatureInput::from_transaction(&txn));
        chunk.push((txn, features));
        if chunk.len() == CHUNK {
            flush(&mut chunk, &mut summaries)?;
        }
    }
    flush(&mut chunk, &mut summaries)?;
    for ((summary, artifact), scores) in summaries.iter_mut().zip(artifacts).zip(&scores) {
        summary.skipped_rows = reader.skipped();
        if summary.unlabeled_rows == 0 && !labels.is_empty() {
            summary.metrics = Some(Metrics::compute(&labels, scores, artifact.threshold));
        }
    }
    Ok(summaries)
}

/// `predictions.csv`: `trans_num,fraud_probability,prediction`, one line per scored row, the
/// same from `fraud eval` and the eval function.
pub struct PredictionsCsv<W: Write> {
    out: csv::Writer<W>,
    /// Named in errors.
    name: String,
}

impl<W: Write> PredictionsCsv<W> {
    pub fn new(out: W, name: impl Into<String>) -> Result<Self> {
        let mut this = PredictionsCsv {
            out: csv::Writer::from_writer(out),
            name: name.into(),
        };
        this.record(["trans_num", "fraud_probability", "prediction"])?;
        Ok(this)
    }

    fn record<const N: usize>(&mut self, fields: [&str; N]) -> Result<()> {
        self.out
            .write_record(fields)
            .map_err(|e| CoreError::io(self.name.clone(), std::io::Error::other(e)))
    }

    pub fn write(&mut self, txn: &Transaction, decision: &Decision) -> Result<()> {
        let probability = decision.probability.to_string();
        self.record([
            txn.trans_num.as_str(),
            &probability,
            if decision.fraud { "1" } else { "0" },
        ])
    }

    /// Flushes and hands back the writer.
    pub fn finish(self) -> Result<W> {
        let name = self.name;
        self.out
            .into_inner()
            .map_err(|e| CoreError::io(name, std::io::Error::other(e.to_string())))
    }
}

/// `errors.csv`: `line,field,problem` for the malformed rows a lenient read skipped (the first
/// [`crate::reader::KEPT_ISSUES`]; the total is in the summary).
pub fn write_issues_csv<W: Write>(issues: &[RowIssue], out: W, name: &str) -> Result<W> {
    let failed = |e: csv::Error| CoreError::io(name.to_owned(), std::io::Error::other(e));
    let mut out = csv::Writer::from_writer(out);
    out.write_record(["line", "field", "problem"])
        .map_err(failed)?;
    for issue in issues {
        out.write_record([
            issue.line.to_string(),
            issue.problem.field().unwrap_or("").to_owned(),
            issue.problem.to_string(),
        ])
        .map_err(failed)?;
    }
    out.into_inner()
        .map_err(|e| CoreError::io(name.to_owned(), std::io::Error::other(e.to_string())))
}

/// `metrics.json` of a labelled evaluation: the metrics and what was scored with what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    #[serde(flatten)]
    pub metrics: Metrics,
    pub model_version: String,
    pub data: String,
    pub history: Option<String>,
}
