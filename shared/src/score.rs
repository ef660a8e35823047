//! Batch scoring of a transaction stream: rows parsed ahead on every core, features in arrival
//! order per card (the cards' shards worked in parallel, each model's first stage remembered in
//! its own card histories), predictions in parallel, results handed back in input order.
//! Memory stays flat in the file size apart from a few numbers per labelled row (label, amount,
//! card, day, and one score per model) for the metrics.

use std::io::Write;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::artifact::Artifact;
use crate::error::{CoreError, Result};
use crate::features::{FeatureBuilder, FeatureInput, FeatureVector};
use crate::metrics::{Metrics, ValueMetrics};
use crate::reader::{RowIssue, TransactionReader};
use crate::schema::Transaction;

const CHUNK: usize = 32_768;

/// One transaction's score: the model's probability and whether it reaches the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct RowScore {
    pub probability: f64,
    /// `probability >= threshold`.
    pub fraud: bool,
}

/// Totals of a scoring run; `metrics` and `value` when every scored row had a label.
#[derive(Debug, Clone)]
pub struct ScoreSummary {
    pub rows: u64,
    pub skipped_rows: u64,
    pub unlabeled_rows: u64,
    pub predicted_frauds: u64,
    pub metrics: Option<Metrics>,
    /// The dollar and card view of the same rows at the same threshold.
    pub value: Option<ValueMetrics>,
}

/// Adds every row of `reader` to the card histories without scoring (`--history`), one builder
/// per model.
pub fn replay_history(
    reader: &mut TransactionReader,
    builders: &mut [FeatureBuilder<'_>],
) -> Result<u64> {
    let mut rows = 0;
    let mut chunk: Vec<FeatureInput> = Vec::with_capacity(CHUNK);
    let mut flush = |chunk: &mut Vec<FeatureInput>| {
        for builder in builders.iter_mut() {
            builder.next_batch(chunk);
        }
        chunk.clear();
    };
    for txn in reader.by_ref() {
        chunk.push(FeatureInput::from_transaction(&txn?));
        rows += 1;
        if chunk.len() == CHUNK {
            flush(&mut chunk);
        }
    }
    flush(&mut chunk);
    Ok(rows)
}

/// Scores every row of `reader` in file order, calling `sink` for each in order.
pub fn score_stream(
    reader: &mut TransactionReader,
    artifact: &Artifact,
    builder: &mut FeatureBuilder<'_>,
    sink: &mut dyn FnMut(&Transaction, &RowScore) -> Result<()>,
) -> Result<ScoreSummary> {
    let builders = std::slice::from_mut(builder);
    let mut summaries = score_stream_models(reader, &[artifact], builders, &mut |txn, _, d| {
        sink(txn, &d[0])
    })?;
    Ok(summaries.remove(0))
}

/// Receives each scored row of [`score_stream_models`]: the row, its features (for the first
/// model), one decision per model.
pub type ModelsSink<'a> = dyn FnMut(&Transaction, &FeatureVector, &[RowScore]) -> Result<()> + 'a;

/// Scores every row with several models in one pass over the file: `builders[m]` holds the card
/// histories of `artifacts[m]` (see [`Artifact::feature_builder`]). The sink gets one decision
/// per model, in the order of `artifacts`; one summary per model. An eval gate compares a
/// challenger with the champion on the same rows this way.
pub fn score_stream_models(
    reader: &mut TransactionReader,
    artifacts: &[&Artifact],
    builders: &mut [FeatureBuilder<'_>],
    sink: &mut ModelsSink<'_>,
) -> Result<Vec<ScoreSummary>> {
    assert_eq!(
        artifacts.len(),
        builders.len(),
        "one card history per model"
    );
    let mut tally = Tally::new(artifacts);
    let mut decisions: Vec<RowScore> = Vec::with_capacity(artifacts.len());
    score_overlapped(reader, artifacts, builders, |scored| {
        for (i, txn) in scored.rows.iter().enumerate() {
            tally.decide(txn, |m| scored.probabilities[m][i], &mut decisions);
            sink(txn, &scored.features[i], &decisions)?;
        }
        Ok(())
    })?;
    Ok(tally.into_summaries(reader.skipped()))
}

/// Scores the file chunk by chunk and hands each scored chunk to `hand_over`, in file order. A
/// chunk is scored on the pool while the previous one goes through `hand_over` here, so the
/// sink's serial work (formatting, writing) overlaps the scoring.
fn score_overlapped(
    reader: &mut TransactionReader,
    artifacts: &[&Artifact],
    builders: &mut [FeatureBuilder<'_>],
    mut hand_over: impl FnMut(Scored) -> Result<()>,
) -> Result<()> {
    let mut pending: Option<Scored> = None;
    loop {
        let chunk = read_chunk(reader)?;
        if chunk.is_empty() && pending.is_none() {
            return Ok(());
        }
        let builders = &mut *builders;
        let (handed, scored) = std::thread::scope(|s| {
            let scoring =
                (!chunk.is_empty()).then(|| s.spawn(|| score_chunk(chunk, artifacts, builders)));
            let handed = pending.take().map_or(Ok(()), &mut hand_over);
            (
                handed,
                scoring.map(|t| t.join().expect("the scoring thread does not panic")),
            )
        });
        handed?;
        pending = scored;
    }
}

/// The next [`CHUNK`] rows of `reader` (fewer at the end of the file, none after it).
fn read_chunk(reader: &mut TransactionReader) -> Result<Vec<Transaction>> {
    let mut chunk: Vec<Transaction> = Vec::with_capacity(CHUNK);
    reader.read_into(&mut chunk, CHUNK)?;
    Ok(chunk)
}

/// What the summaries need of the rows decided so far: the counts per model and, of the
/// labelled rows, a few numbers each for the metrics.
struct Tally<'a> {
    artifacts: &'a [&'a Artifact],
    summaries: Vec<ScoreSummary>,
    labelled: LabelledRows,
    /// `scores[m]`: model `m`'s probability of each labelled row.
    scores: Vec<Vec<f64>>,
}

/// The labelled rows' columns the metrics read. The card numbers stay in memory, never written.
#[derive(Default)]
struct LabelledRows {
    labels: Vec<u8>,
    amounts: Vec<f64>,
    cards: Vec<u64>,
    days: Vec<i64>,
}

impl<'a> Tally<'a> {
    fn new(artifacts: &'a [&'a Artifact]) -> Self {
        let empty = ScoreSummary {
            rows: 0,
            skipped_rows: 0,
            unlabeled_rows: 0,
            predicted_frauds: 0,
            metrics: None,
            value: None,
        };
        Tally {
            artifacts,
            summaries: vec![empty; artifacts.len()],
            labelled: LabelledRows::default(),
            scores: vec![Vec::new(); artifacts.len()],
        }
    }

    /// Decides `txn` with each model (`probability(m)` is model `m`'s) into `decisions`, and
    /// counts it.
    fn decide(
        &mut self,
        txn: &Transaction,
        probability: impl Fn(usize) -> f64,
        decisions: &mut Vec<RowScore>,
    ) {
        decisions.clear();
        if let Some(label) = txn.is_fraud {
            let labelled = &mut self.labelled;
            labelled.labels.push(label);
            labelled.amounts.push(txn.amt);
            labelled.cards.push(txn.cc_num);
            labelled.days.push(txn.unix_time.div_euclid(86_400));
        }
        for (m, artifact) in self.artifacts.iter().enumerate() {
            let probability = probability(m);
            let decision = RowScore {
                probability,
                fraud: probability >= artifact.threshold,
            };
            let summary = &mut self.summaries[m];
            summary.rows += 1;
            summary.predicted_frauds += u64::from(decision.fraud);
            match txn.is_fraud {
                Some(_) => self.scores[m].push(probability),
                None => summary.unlabeled_rows += 1,
            }
            decisions.push(decision);
        }
    }

    /// The summaries, with the metrics when every row had a label.
    fn into_summaries(mut self, skipped_rows: u64) -> Vec<ScoreSummary> {
        let LabelledRows {
            labels,
            amounts,
            cards,
            days,
        } = &self.labelled;
        let models = self
            .summaries
            .iter_mut()
            .zip(self.artifacts)
            .zip(&self.scores);
        for ((summary, artifact), scores) in models {
            summary.skipped_rows = skipped_rows;
            if summary.unlabeled_rows == 0 && !labels.is_empty() {
                let threshold = artifact.threshold;
                let (metrics, value) = rayon::join(
                    || Metrics::compute(labels, scores, threshold),
                    || ValueMetrics::compute(labels, scores, amounts, cards, days, threshold),
                );
                summary.metrics = Some(metrics);
                summary.value = Some(value);
            }
        }
        self.summaries
    }
}

/// A chunk of rows with the first model's features and every model's probabilities.
struct Scored {
    rows: Vec<Transaction>,
    features: Vec<FeatureVector>,
    probabilities: Vec<Vec<f64>>,
}

fn score_chunk(
    rows: Vec<Transaction>,
    artifacts: &[&Artifact],
    builders: &mut [FeatureBuilder<'_>],
) -> Scored {
    let inputs: Vec<FeatureInput> = rows
        .par_iter()
        .map(FeatureInput::from_transaction)
        .collect();
    let mut features = Vec::new();
    let mut probabilities = Vec::with_capacity(artifacts.len());
    for (m, (artifact, builder)) in artifacts.iter().zip(builders.iter_mut()).enumerate() {
        let x = builder.next_batch(&inputs);
        probabilities.push(crate::train::predict_rows(&artifact.model, &x));
        if m == 0 {
            features = x;
        }
    }
    Scored {
        rows,
        features,
        probabilities,
    }
}

/// `predictions.csv`: `trans_num,fraud_probability,prediction`, one line per scored row, the
/// same from `fraud eval` and the eval function.
pub struct PredictionsCsv<W: Write> {
    out: csv::Writer<W>,
    /// Named in errors.
    name: String,
    /// Reused for each probability's text.
    number: String,
}

impl<W: Write> PredictionsCsv<W> {
    pub fn new(out: W, name: impl Into<String>) -> Result<Self> {
        let mut this = PredictionsCsv {
            out: csv::Writer::from_writer(out),
            name: name.into(),
            number: String::new(),
        };
        this.record(["trans_num", "fraud_probability", "prediction"])?;
        Ok(this)
    }

    fn record<const N: usize>(&mut self, fields: [&str; N]) -> Result<()> {
        self.out
            .write_record(fields)
            .map_err(|e| CoreError::io(self.name.clone(), std::io::Error::other(e)))
    }

    pub fn write(&mut self, txn: &Transaction, decision: &RowScore) -> Result<()> {
        use std::fmt::Write as _;
        let mut probability = std::mem::take(&mut self.number);
        probability.clear();
        let _ = write!(probability, "{}", decision.probability);
        let written = self.record([
            txn.trans_num.as_str(),
            &probability,
            if decision.fraud { "1" } else { "0" },
        ]);
        self.number = probability;
        written
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

/// `metrics.json` of a labelled evaluation: the metrics, their dollar and card view (flattened:
/// `value_detection_rate` sits next to `auc_pr`) and what was scored with what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    #[serde(flatten)]
    pub metrics: Metrics,
    #[serde(flatten)]
    pub value: ValueMetrics,
    pub model_version: String,
    pub data: String,
    pub history: Option<String>,
}
