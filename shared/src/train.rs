//! Training: rows in time order, features through the one definition, a time-ordered validation
//! slice (the last 15 % of rows by `unix_time`) for the threshold and any hyper-parameter choice.
//! Nothing here ever sees an evaluation file.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::artifact::{Artifact, ModelParams, TrainingSummary, model_version_of};
use crate::error::{CoreError, Result};
use crate::features::{
    FEATURE_NAMES, FEATURE_SET_VERSION, FeatureBuilder, FeatureInput, FeatureVector,
    feature_set_hash,
};
use crate::metrics::{Curve, Metrics};
use crate::model::{
    Classifier, Dataset, ForestModel, ForestParams, GbdtModel, GbdtParams, LogisticModel,
    LogisticParams, Model, ModelKind,
};
use crate::reader::{ReadMode, TransactionReader};
use crate::stats::reference_stats;

/// Share of the training rows, the latest by time, held out to choose the threshold and params.
pub const VALIDATION_FRACTION: f64 = 0.15;

/// Labelled training rows in time order, with their features.
#[derive(Debug)]
pub struct TrainingData {
    pub dataset: Dataset,
    /// `unix_time` of each row (ascending).
    pub times: Vec<i64>,
    pub source_name: String,
    pub skipped_rows: u64,
}

/// Reads a labelled file and computes its features in `unix_time` order (a stable sort, so
/// equal times keep file order). `on_progress` gets the bytes read so far.
pub fn load_training_data(
    path: &Path,
    mode: ReadMode,
    on_progress: &dyn Fn(u64),
) -> Result<TrainingData> {
    load_training_reader(TransactionReader::open(path, mode)?, on_progress)
}

/// [`load_training_data`] from any reader (an S3 object stream, a test buffer).
pub fn load_training_reader(
    mut reader: TransactionReader,
    on_progress: &dyn Fn(u64),
) -> Result<TrainingData> {
    let source_name = reader.source_name().to_owned();
    if !reader.has_labels() {
        return Err(CoreError::BadHeader {
            source_name,
            reason: "training needs the `is_fraud` column".into(),
        });
    }
    let counter = reader.byte_counter();
    let mut rows: Vec<(FeatureInput, u8)> = Vec::new();
    for txn in reader.by_ref() {
        let txn = txn?;
        // The header has `is_fraud`, so an empty label is a bad row, not an unlabeled one.
        let Some(label) = txn.is_fraud else {
            return Err(CoreError::BadData {
                source_name,
                reason: format!("row {} has an empty `is_fraud`", rows.len() + 1),
            });
        };
        rows.push((FeatureInput::from_transaction(&txn), label));
        if rows.len().is_multiple_of(65_536) {
            on_progress(counter.get());
        }
    }
    on_progress(counter.get());
    if rows.is_empty() {
        return Err(CoreError::BadData {
            source_name,
            reason: "no transactions after the header".into(),
        });
    }
    rows.sort_by_key(|(input, _)| input.event.unix_time);
    let mut builder = FeatureBuilder::new();
    let features: Vec<FeatureVector> = rows.iter().map(|(input, _)| builder.next(input)).collect();
    let times = rows
        .iter()
        .map(|(input, _)| input.event.unix_time)
        .collect();
    let labels = rows.iter().map(|(_, label)| *label).collect();
    Ok(TrainingData {
        dataset: Dataset::from_rows(&features, labels),
        times,
        source_name,
        skipped_rows: reader.skipped(),
    })
}

/// What to train.
#[derive(Debug, Clone, Default)]
pub struct TrainConfig {
    pub model: ModelKind,
    /// Try a small hyper-parameter grid and keep the best validation AUC-PR.
    pub grid: bool,
    pub gbdt: GbdtParams,
    pub forest: ForestParams,
    pub logistic: LogisticParams,
}

impl TrainConfig {
    /// The parameter sets to try: the configured one, or a small grid around it.
    pub fn candidates(&self) -> Vec<ModelParams> {
        match (self.model, self.grid) {
            (ModelKind::Gbdt, false) => vec![ModelParams::Gbdt(self.gbdt.clone())],
            (ModelKind::Gbdt, true) => {
                let mut out = Vec::new();
                for (depth, weight) in [(6, 5.0), (5, 5.0), (7, 5.0), (6, 1.0), (6, 20.0)] {
                    out.push(ModelParams::Gbdt(GbdtParams {
                        max_depth: depth,
                        fraud_weight: weight,
                        ..self.gbdt.clone()
                    }));
                }
                out
            }
            (ModelKind::Forest, false) => vec![ModelParams::Forest(self.forest.clone())],
            (ModelKind::Forest, true) => [12, 16, 24]
                .into_iter()
                .map(|max_depth| {
                    ModelParams::Forest(ForestParams {
                        max_depth,
                        ..self.forest.clone()
                    })
                })
                .collect(),
            (ModelKind::Logistic, false) => vec![ModelParams::Logistic(self.logistic.clone())],
            (ModelKind::Logistic, true) => [0.1, 1.0, 10.0]
                .into_iter()
                .map(|alpha| {
                    ModelParams::Logistic(LogisticParams {
                        alpha,
                        ..self.logistic.clone()
                    })
                })
                .collect(),
        }
    }
}

/// One fitted candidate and how it did on the validation slice.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateResult {
    pub params: ModelParams,
    pub validation_auc_pr: f64,
    pub fit_seconds: f64,
}

/// The trained artifact and how it was chosen.
#[derive(Debug)]
pub struct TrainOutcome {
    pub artifact: Artifact,
    pub candidates: Vec<CandidateResult>,
    pub fit_seconds: f64,
}

fn fit(data: &Dataset, params: &ModelParams) -> Result<Model> {
    Ok(match params {
        ModelParams::Gbdt(p) => Model::Gbdt(GbdtModel::fit(data, p)?),
        ModelParams::Forest(p) => Model::Forest(ForestModel::fit(data, p)?),
        ModelParams::Logistic(p) => Model::Logistic(LogisticModel::fit(data, p)?),
    })
}

/// Scores every row of `data` (rows in parallel: the model is read-only).
pub fn predict_all(model: &Model, data: &Dataset) -> Vec<f64> {
    use rayon::prelude::*;
    (0..data.n_rows())
        .into_par_iter()
        .map(|i| model.predict_proba(&data.row(i)))
        .collect()
}

/// Fits the candidates on the first 85 % of rows by time, keeps the best validation AUC-PR,
/// chooses its F1-maximising threshold on the last 15 %, and packs the artifact.
pub fn train(
    data: &TrainingData,
    config: &TrainConfig,
    on_candidate: &dyn Fn(usize, usize, &ModelParams),
) -> Result<TrainOutcome> {
    let n = data.dataset.n_rows();
    let n_fit = ((n as f64) * (1.0 - VALIDATION_FRACTION)).round() as usize;
    let (fit_set, valid_set) = (data.dataset.slice(0..n_fit), data.dataset.slice(n_fit..n));
    let too_few = |what: &str, frauds: usize, rows: usize| CoreError::BadData {
        source_name: data.source_name.clone(),
        reason: format!(
            "the {what} slice has {frauds} frauds in {rows} rows; training needs both classes in the first 85 % and the last 15 % of rows by time"
        ),
    };
    if fit_set.frauds() == 0 || fit_set.frauds() == n_fit {
        return Err(too_few("fit", fit_set.frauds(), n_fit));
    }
    if valid_set.frauds() == 0 || valid_set.frauds() == valid_set.n_rows() {
        return Err(too_few(
            "validation",
            valid_set.frauds(),
            valid_set.n_rows(),
        ));
    }

    let candidates = config.candidates();
    let started = Instant::now();
    let mut results = Vec::new();
    let mut best: Option<(Model, Vec<f64>, ModelParams, f64)> = None;
    for (k, params) in candidates.iter().enumerate() {
        on_candidate(k, candidates.len(), params);
        let t = Instant::now();
        let model = fit(&fit_set, params)?;
        let scores = predict_all(&model, &valid_set);
        let auc_pr = Curve::new(&valid_set.labels, &scores).average_precision();
        results.push(CandidateResult {
            params: params.clone(),
            validation_auc_pr: auc_pr,
            fit_seconds: t.elapsed().as_secs_f64(),
        });
        if best.as_ref().is_none_or(|b| auc_pr > b.3) {
            best = Some((model, scores, params.clone(), auc_pr));
        }
    }
    let fit_seconds = started.elapsed().as_secs_f64();
    let (model, scores, params, _) = best.expect("at least one candidate");
    let (threshold, _) = Curve::new(&valid_set.labels, &scores).best_f1_threshold();
    let validation = Metrics::compute(&valid_set.labels, &scores, threshold);

    let artifact = Artifact {
        model_version: model_version_of(&model),
        created_at: crate::time::now_rfc3339(),
        feature_set_version: FEATURE_SET_VERSION,
        feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        feature_hash: feature_set_hash(),
        threshold,
        validation,
        reference: reference_stats(&fit_set),
        params,
        training: TrainingSummary {
            data_source: Path::new(&data.source_name).file_name().map_or_else(
                || data.source_name.clone(),
                |f| f.to_string_lossy().into_owned(),
            ),
            rows: n as u64,
            frauds: data.dataset.frauds() as u64,
            fit_rows: n_fit as u64,
            validation_rows: (n - n_fit) as u64,
            skipped_rows: data.skipped_rows,
            first_unix_time: data.times[0],
            validation_start_unix_time: data.times[n_fit],
            last_unix_time: data.times[n - 1],
        },
        crate_version: env!("CARGO_PKG_VERSION").to_owned(),
        model,
    };
    Ok(TrainOutcome {
        artifact,
        candidates: results,
        fit_seconds,
    })
}
