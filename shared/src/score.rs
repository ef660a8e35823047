//! Batch scoring of a transaction stream with one model: features in arrival order through the
//! per-card history, predictions in parallel chunks, results handed back in input order.
//! Memory stays flat in the file size apart from one score and label per labelled row.

use rayon::prelude::*;

use crate::artifact::Artifact;
use crate::error::Result;
use crate::features::{FeatureBuilder, FeatureInput, FeatureVector};
use crate::metrics::Metrics;
use crate::reader::TransactionReader;
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
    let mut labels: Vec<u8> = Vec::new();
    let mut scores: Vec<f64> = Vec::new();
    let mut summary = ScoreSummary {
        rows: 0,
        skipped_rows: 0,
        unlabeled_rows: 0,
        predicted_frauds: 0,
        metrics: None,
    };
    let mut chunk: Vec<(Transaction, FeatureVector)> = Vec::with_capacity(CHUNK);
    let mut flush =
        |chunk: &mut Vec<(Transaction, FeatureVector)>, summary: &mut ScoreSummary| -> Result<()> {
            let probabilities: Vec<f64> = chunk
                .par_iter()
                .map(|(_, x)| artifact.model.predict_proba(x))
                .collect();
            for ((txn, _), probability) in chunk.iter().zip(probabilities) {
                let decision = Decision {
                    probability,
                    fraud: probability >= artifact.threshold,
                };
                summary.rows += 1;
                summary.predicted_frauds += u64::from(decision.fraud);
                match txn.is_fraud {
                    Some(label) => {
                        labels.push(label);
                        scores.push(probability);
                    }
                    None => summary.unlabeled_rows += 1,
                }
                sink(txn, &decision)?;
            }
            chunk.clear();
            Ok(())
        };
    for txn in reader.by_ref() {
        let txn = txn?;
        let features = builder.next(&FeatureInput::from_transaction(&txn));
        chunk.push((txn, features));
        if chunk.len() == CHUNK {
            flush(&mut chunk, &mut summary)?;
        }
    }
    flush(&mut chunk, &mut summary)?;
    summary.skipped_rows = reader.skipped();
    if summary.unlabeled_rows == 0 && !labels.is_empty() {
        summary.metrics = Some(Metrics::compute(&labels, &scores, artifact.threshold));
    }
    Ok(summary)
}
