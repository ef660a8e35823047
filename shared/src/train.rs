//! Training: rows in time order, features through the one definition, a time-ordered validation
//! slice (the last 15 % of rows by `unix_time`) for the threshold and any hyper-parameter choice.
//! Nothing here ever sees an evaluation file.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::artifact::{Artifact, ModelParams, TrainingSummary, model_version_of};
use crate::error::{CoreError, Result};
use crate::features::{
    CardRisk, FEATURE_NAMES, FEATURE_SET_VERSION, FeatureBuilder, FeatureInput, FeatureVector,
    N_FEATURES, NoRisk, feature_set_hash,
};
use crate::metrics::{Curve, Metrics, ThresholdRule, ValueMetrics};
use crate::model::{
    CardRiskModel, Classifier, Dataset, ForestModel, ForestParams, GbdtModel, GbdtParams,
    LogisticModel, LogisticParams, Model, ModelKind, undersample_labels,
};
use crate::reader::{ReadMode, TransactionReader};
use crate::stats::reference_stats;

/// Share of the training rows, the latest by time, held out to choose the threshold and params.
pub const VALIDATION_FRACTION: f64 = 0.15;

/// How many of `n` time-ordered rows the model is fitted on; the rest are the validation slice
/// (thresholds, and `fraud policy fit`, are chosen there).
pub fn fit_rows(n: usize) -> usize {
    ((n as f64) * (1.0 - VALIDATION_FRACTION)).round() as usize
}

/// Labelled training rows in time order, ready for the features.
#[derive(Debug)]
pub struct TrainingData {
    /// The rows sorted by `unix_time` (stable: equal times keep file order).
    pub inputs: Vec<FeatureInput>,
    pub labels: Vec<u8>,
    pub source_name: String,
    pub skipped_rows: u64,
}

impl TrainingData {
    pub fn n_rows(&self) -> usize {
        self.labels.len()
    }

    pub fn frauds(&self) -> usize {
        self.labels.iter().filter(|&&y| y == 1).count()
    }
}

/// Reads a labelled file and puts its rows in `unix_time` order (a stable sort, so equal times
/// keep file order). `on_progress` gets the bytes read so far.
pub fn load_training_data(
    path: &Path,
    mode: ReadMode,
    on_progress: &dyn Fn(u64),
) -> Result<TrainingData> {
    load_training_reader(TransactionReader::open(path, mode)?, on_progress)
}

/// [`load_training_data`] from any reader (an S3 object stream, a test buffer), parsed on every
/// core.
pub fn load_training_reader(
    reader: TransactionReader,
    on_progress: &dyn Fn(u64),
) -> Result<TrainingData> {
    let mut reader = reader.without_personal_fields().parallel();
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
    let (inputs, labels) = rows.into_iter().unzip();
    Ok(TrainingData {
        inputs,
        labels,
        source_name,
        skipped_rows: reader.skipped(),
    })
}

/// The features of `inputs` (in time order, through one card history per card, each
/// transaction remembered with `risk`'s score), kept for the rows `keep` (ascending) only.
pub fn features_of(
    inputs: &[FeatureInput],
    labels: &[u8],
    risk: &dyn CardRisk,
    keep: &[usize],
) -> Dataset {
    let n = keep.len();
    let mut columns = vec![0.0; n * N_FEATURES];
    let mut builder = FeatureBuilder::with_risk(risk);
    let mut next_kept = keep.iter().enumerate().peekable();
    for (start, batch) in inputs.chunks(1 << 16).enumerate() {
        let start = start << 16;
        for (offset, x) in builder.next_batch(batch).into_iter().enumerate() {
            if let Some((k, _)) = next_kept.next_if(|&(_, &row)| row == start + offset) {
                for (f, value) in x.into_iter().enumerate() {
                    columns[f * n + k] = value;
                }
            }
        }
    }
    Dataset {
        columns,
        labels: keep.iter().map(|&i| labels[i]).collect(),
    }
}

/// What to train.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub model: ModelKind,
    /// Try a small hyper-parameter grid and keep the best validation AUC-PR.
    pub grid: bool,
    /// How the threshold is chosen on the validation slice.
    pub threshold_rule: ThresholdRule,
    /// The first stage (see [`CardRiskModel`]).
    pub card_risk: GbdtParams,
    pub gbdt: GbdtParams,
    pub forest: ForestParams,
    pub logistic: LogisticParams,
    /// Cold-start rows added to the fit sample (see [`ColdStarts`]).
    pub cold_starts: ColdStarts,
}

/// Fit rows seen as a card with no history sees them. A new deployment, `fraud eval` and every
/// new card start from an empty history, while the fit slice after its first weeks holds only
/// cards with months of it. So the fit slice's features are computed again from empty
/// histories at `restarts` evenly spaced points, and the first `days` days after each point are
/// added to the fit sample (sampled as the fit rows are); 12 restarts of 30 days cover most of
/// the slice a second time. On the validation slice scored from an empty history this raised
/// AUC-PR from 0.9850 to 0.9882 and cut the dollar cost at the least-cost threshold from $18,461
/// to $14,708 (means of four seeds, every seed better), and on the slice with its history the
/// cost went from $7,698 to $6,506. Fewer restarts did less; shorter windows did a little
/// better from an empty history and worse with it (BENCHMARKS.md). The gbdt only: the
/// baselines keep their measured setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ColdStarts {
    /// 0 adds none.
    pub restarts: usize,
    pub days: i64,
}

impl Default for ColdStarts {
    fn default() -> Self {
        ColdStarts {
            restarts: 12,
            days: 30,
        }
    }
}

/// A hyper-parameter override refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OverrideError {
    #[error("unknown parameter {key} (valid: {valid:?})")]
    Unknown { key: String, valid: Vec<String> },
    #[error("parameters: {0}")]
    Invalid(String),
}

impl TrainConfig {
    /// Sets the chosen model's hyper-parameters named in `overrides`, through their serde form,
    /// so every field is settable (`fraud train --set`, the train function's `params`) and an
    /// unknown key is refused with the valid ones.
    pub fn override_params(
        &mut self,
        overrides: &serde_json::Map<String, serde_json::Value>,
    ) -> std::result::Result<(), OverrideError> {
        fn patched<T: Serialize + serde::de::DeserializeOwned>(
            params: &T,
            overrides: &serde_json::Map<String, serde_json::Value>,
        ) -> std::result::Result<T, OverrideError> {
            let invalid = |e: serde_json::Error| OverrideError::Invalid(e.to_string());
            let mut value = serde_json::to_value(params).map_err(invalid)?;
            let Some(object) = value.as_object_mut() else {
                return Err(OverrideError::Invalid("not a parameter object".into()));
            };
            for (key, v) in overrides {
                if !object.contains_key(key) {
                    let valid = object.keys().cloned().collect();
                    return Err(OverrideError::Unknown {
                        key: key.clone(),
                        valid,
                    });
                }
                object.insert(key.clone(), v.clone());
            }
            serde_json::from_value(value).map_err(invalid)
        }
        if overrides.is_empty() {
            return Ok(());
        }
        match self.model {
            ModelKind::Gbdt => self.gbdt = patched(&self.gbdt, overrides)?,
            ModelKind::Forest => self.forest = patched(&self.forest, overrides)?,
            ModelKind::Logistic => self.logistic = patched(&self.logistic, overrides)?,
        }
        Ok(())
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: ModelKind::default(),
            grid: false,
            threshold_rule: ThresholdRule::default(),
            card_risk: card_risk_defaults(),
            gbdt: GbdtParams::default(),
            forest: ForestParams::default(),
            logistic: LogisticParams::default(),
            cold_starts: ColdStarts::default(),
        }
    }
}

/// The first stage's default hyper-parameters: small, since every decision runs it too (30
/// trees of depth 5 on a tenth of the legitimate rows gave the final model the same validation
/// AUC-PR as 60 or 100 trees, or a fifth of the rows).
pub fn card_risk_defaults() -> GbdtParams {
    GbdtParams {
        iterations: 30,
        learning_rate: 0.3,
        max_depth: 5,
        legit_sample_rate: 0.1,
        ..GbdtParams::default()
    }
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

/// Fits the final model. A gbdt gets the fit rows already sampled at its `legit_sample_rate`;
/// the baselines get them all and sample themselves.
fn fit(fit_rows: &Dataset, params: &ModelParams) -> Result<Model> {
    Ok(match params {
        ModelParams::Gbdt(p) => {
            let all: Vec<usize> = (0..N_FEATURES).collect();
            Model::Gbdt(GbdtModel::fit_sample(fit_rows, &all, p)?)
        }
        ModelParams::Forest(p) => Model::Forest(ForestModel::fit(fit_rows, p)?),
        ModelParams::Logistic(p) => Model::Logistic(LogisticModel::fit(fit_rows, p)?),
    })
}

/// Scores every row of `data` (blocks of rows in parallel: the model is read-only).
pub fn predict_all(model: &Model, data: &Dataset) -> Vec<f64> {
    let rows: Vec<FeatureVector> = (0..data.n_rows()).map(|i| data.row(i)).collect();
    predict_rows(model, &rows)
}

/// [`Model::predict_proba`] of every row, blocks of rows in parallel.
pub fn predict_rows(model: &Model, rows: &[FeatureVector]) -> Vec<f64> {
    use rayon::prelude::*;
    let mut out = vec![0.0; rows.len()];
    out.par_chunks_mut(512)
        .zip(rows.par_chunks(512))
        .for_each(|(out, rows)| model.predict_many(rows, out));
    out
}

/// Fits the first stage and then the candidates on the first 85 % of rows by time, keeps the
/// best validation AUC-PR, chooses its threshold on the last 15 % by `config.threshold_rule`,
/// and packs the artifact.
pub fn train(
    data: &TrainingData,
    config: &TrainConfig,
    on_candidate: &dyn Fn(usize, usize, &ModelParams),
) -> Result<TrainOutcome> {
    let started = Instant::now();
    let prepared = prepare(data, config)?;
    let (best, candidates) = fit_candidates(&prepared, config, on_candidate)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let Best {
        model,
        scores,
        params,
        ..
    } = best;
    let valid_set = &prepared.valid_set;
    let threshold = config
        .threshold_rule
        .choose(&valid_set.labels, &scores, valid_set.column(0));
    let (validation, validation_value) = validation_metrics(data, &prepared, &scores, threshold);
    let training = training_summary(data, &prepared);
    let artifact = Artifact {
        model_version: model_version_of(&prepared.card_risk, &model),
        created_at: crate::time::now_rfc3339(),
        feature_set_version: FEATURE_SET_VERSION,
        feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        feature_hash: feature_set_hash(),
        threshold,
        threshold_rule: config.threshold_rule,
        validation,
        validation_value,
        reference: reference_stats(valid_set),
        params,
        card_risk_params: config.card_risk.clone(),
        training,
        crate_version: env!("CARGO_PKG_VERSION").to_owned(),
        card_risk: prepared.card_risk,
        model,
    };
    Ok(TrainOutcome {
        artifact,
        candidates,
        fit_seconds,
    })
}

/// The candidate with the best validation AUC-PR so far, with its validation scores.
struct Best {
    model: Model,
    scores: Vec<f64>,
    params: ModelParams,
    auc_pr: f64,
}

/// Fits every candidate of `config` on the fit rows and scores it on the validation slice:
/// the best (the first of equals) and how each did.
fn fit_candidates(
    prepared: &Prepared,
    config: &TrainConfig,
    on_candidate: &dyn Fn(usize, usize, &ModelParams),
) -> Result<(Best, Vec<CandidateResult>)> {
    let candidates = config.candidates();
    let mut results = Vec::new();
    let mut best: Option<Best> = None;
    for (k, params) in candidates.iter().enumerate() {
        on_candidate(k, candidates.len(), params);
        let t = Instant::now();
        let model = fit(&prepared.fit_set, params)?;
        let scores = predict_all(&model, &prepared.valid_set);
        let auc_pr = Curve::new(&prepared.valid_set.labels, &scores).average_precision();
        results.push(CandidateResult {
            params: params.clone(),
            validation_auc_pr: auc_pr,
            fit_seconds: t.elapsed().as_secs_f64(),
        });
        if best.as_ref().is_none_or(|b| auc_pr > b.auc_pr) {
            best = Some(Best {
                model,
                scores,
                params: params.clone(),
                auc_pr,
            });
        }
    }
    Ok((best.expect("at least one candidate"), results))
}

/// The chosen model's metrics on the validation slice at `threshold`, and the same in dollars
/// and cards (the slice's rows are the last `n - n_fit` of `data`).
fn validation_metrics(
    data: &TrainingData,
    prepared: &Prepared,
    scores: &[f64],
    threshold: f64,
) -> (Metrics, ValueMetrics) {
    let valid_set = &prepared.valid_set;
    let labels = &valid_set.labels;
    let metrics = Metrics::compute(labels, scores, threshold);
    let valid_inputs = &data.inputs[prepared.n_fit..];
    let value = ValueMetrics::compute(
        labels,
        scores,
        valid_set.column(0),
        &valid_inputs.iter().map(|i| i.card).collect::<Vec<_>>(),
        &valid_inputs
            .iter()
            .map(|i| i.event.unix_time.div_euclid(crate::time::DAY))
            .collect::<Vec<_>>(),
        threshold,
    );
    (metrics, value)
}

/// What the model was trained on: the file, the rows of each slice and their time span.
fn training_summary(data: &TrainingData, prepared: &Prepared) -> TrainingSummary {
    let (n, n_fit) = (data.n_rows(), prepared.n_fit);
    let time = |i: usize| data.inputs[i].event.unix_time;
    TrainingSummary {
        data_source: Path::new(&data.source_name).file_name().map_or_else(
            || data.source_name.clone(),
            |f| f.to_string_lossy().into_owned(),
        ),
        rows: n as u64,
        frauds: data.frauds() as u64,
        fit_rows: n_fit as u64,
        fit_sample_rows: prepared.fit_set.n_rows() as u64,
        validation_rows: (n - n_fit) as u64,
        skipped_rows: data.skipped_rows,
        first_unix_time: time(0),
        validation_start_unix_time: time(n_fit),
        last_unix_time: time(n - 1),
    }
}

/// The first stage and the feature rows the final model is fitted and validated on.
#[derive(Debug)]
pub struct Prepared {
    /// Rows in the fit slice (the first 85 % by time); the rest is the validation slice.
    pub n_fit: usize,
    pub card_risk: CardRiskModel,
    /// The fit rows, sampled at the gbdt's `legit_sample_rate` for a gbdt, all for a baseline,
    /// then the [`ColdStarts`] rows.
    pub fit_set: Dataset,
    /// Every row of the validation slice.
    pub valid_set: Dataset,
}

/// Splits by time, fits the first stage on the fit slice, then computes every feature (the
/// remembered risks included, exactly as serving computes them) for the rows the final model
/// needs.
pub fn prepare(data: &TrainingData, config: &TrainConfig) -> Result<Prepared> {
    let n = data.n_rows();
    let n_fit = fit_rows(n);
    check_slices(data, n_fit)?;
    let fit_labels = &data.labels[..n_fit];
    let fit_inputs = &data.inputs[..n_fit];

    // First stage: fitted on the fit rows' card features, without any remembered risk.
    let risk_params = &config.card_risk;
    risk_params.check()?;
    let risk_rows = undersample_labels(fit_labels, risk_params.legit_sample_rate, risk_params.seed);
    let risk_sample = features_of(fit_inputs, fit_labels, &NoRisk, &risk_rows);
    let cards: Vec<u64> = risk_rows.iter().map(|&i| data.inputs[i].card).collect();
    let card_risk = CardRiskModel::fit(&risk_sample, &cards, risk_params)?;
    drop(risk_sample);

    let final_rows = final_sample(config, fit_labels, 0);
    let keep: Vec<usize> = final_rows.iter().copied().chain(n_fit..n).collect();
    let all = features_of(&data.inputs, &data.labels, &card_risk, &keep);
    let valid_set = all.slice(final_rows.len()..keep.len());
    let mut fit_parts = vec![all.slice(0..final_rows.len())];
    drop(all);
    if config.model == ModelKind::Gbdt {
        fit_parts.extend(cold_start_rows(data, n_fit, &card_risk, config));
    }
    Ok(Prepared {
        n_fit,
        fit_set: Dataset::concat(&fit_parts),
        valid_set,
        card_risk,
    })
}

/// The rows of `labels` the final model is fitted on: a seeded sample of the legitimate ones
/// (every fraud) for a gbdt, every row for a baseline. `part` varies the seed per cold start.
fn final_sample(config: &TrainConfig, labels: &[u8], part: u64) -> Vec<usize> {
    match config.model {
        ModelKind::Gbdt => undersample_labels(
            labels,
            config.gbdt.legit_sample_rate,
            config.gbdt.seed + part,
        ),
        _ => (0..labels.len()).collect(),
    }
}

/// The [`ColdStarts`] rows: for each restart point in the fit slice, the features of the next
/// `days` days computed from empty card histories, sampled as the fit rows are.
fn cold_start_rows(
    data: &TrainingData,
    n_fit: usize,
    risk: &CardRiskModel,
    config: &TrainConfig,
) -> Vec<Dataset> {
    let ColdStarts { restarts, days } = config.cold_starts;
    (1..=restarts)
        .map(|k| {
            let start = n_fit * k / (restarts + 1);
            let until = data.inputs[start].event.unix_time + days * crate::time::DAY;
            let end =
                start + data.inputs[start..n_fit].partition_point(|i| i.event.unix_time < until);
            let labels = &data.labels[start..end];
            let rows = final_sample(config, labels, k as u64);
            features_of(&data.inputs[start..end], labels, risk, &rows)
        })
        .collect()
}

/// Both time slices need both classes.
fn check_slices(data: &TrainingData, n_fit: usize) -> Result<()> {
    let n = data.n_rows();
    let frauds =
        |range: std::ops::Range<usize>| data.labels[range].iter().filter(|&&y| y == 1).count();
    for (what, range) in [("fit", 0..n_fit), ("validation", n_fit..n)] {
        let (f, rows) = (frauds(range.clone()), range.len());
        if f == 0 || f == rows {
            return Err(CoreError::BadData {
                source_name: data.source_name.clone(),
                reason: format!(
                    "the {what} slice has {f} frauds in {rows} rows; training needs both classes in the first 85 % and the last 15 % of rows by time"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(json: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        json.as_object().cloned().unwrap()
    }

    /// Three cards with a transaction every six hours for 40 days, every 15th a fraud.
    fn regular_cards() -> TrainingData {
        let base = FeatureInput::from_transaction(&crate::testing::sample_transaction());
        let (mut inputs, mut labels) = (Vec::new(), Vec::new());
        for step in 0..160i64 {
            for card in 0..3u64 {
                let mut input = base;
                input.card = 1000 + card;
                input.event.unix_time += step * 6 * 3600 + card as i64;
                input.event.amount_cents = 500 + (step * 37 + card as i64 * 11) % 9000;
                inputs.push(input);
                labels.push(u8::from((step + card as i64) % 15 == 0));
            }
        }
        TrainingData {
            inputs,
            labels,
            source_name: "regular".into(),
            skipped_rows: 0,
        }
    }

    #[test]
    fn cold_start_rows_are_the_windows_features_from_empty_histories() {
        let data = regular_cards();
        let secs_since_prev = FEATURE_NAMES
            .iter()
            .position(|&f| f == "secs_since_prev")
            .unwrap();
        let mut config = TrainConfig::default();
        config.gbdt.legit_sample_rate = 1.0;
        config.cold_starts = ColdStarts {
            restarts: 0,
            days: 5,
        };
        let n_fit = fit_rows(data.n_rows());
        assert_eq!(prepare(&data, &config).unwrap().fit_set.n_rows(), n_fit);

        config.cold_starts.restarts = 1;
        let fit_set = prepare(&data, &config).unwrap().fit_set;
        let start = n_fit / 2;
        let window = 5 * 4 * 3; // five days of three cards at four transactions a day
        assert_eq!(fit_set.n_rows(), n_fit + window);
        let gap = fit_set.column(secs_since_prev);
        for j in 0..window {
            // The same transaction: with its card's history in the fit rows, none in the window.
            let (warm, cold) = (gap[start + j], gap[n_fit + j]);
            assert!(
                !warm.is_nan(),
                "row {j} of the window has history in the fit rows"
            );
            assert_eq!(
                cold.is_nan(),
                j < 3,
                "row {j}: only each card's first is without one"
            );
        }
        assert_eq!(
            &fit_set.labels[n_fit..],
            &data.labels[start..start + window]
        );

        // The baselines keep their measured setting: no cold-start rows.
        config.model = ModelKind::Logistic;
        assert_eq!(prepare(&data, &config).unwrap().fit_set.n_rows(), n_fit);
    }

    #[test]
    fn overrides_set_the_chosen_models_parameters_only() {
        let mut config = TrainConfig::default();
        let depth = config.gbdt.max_depth + 1;
        config
            .override_params(&map(serde_json::json!({ "max_depth": depth })))
            .unwrap();
        assert_eq!(config.gbdt.max_depth, depth);
        assert_eq!(config.forest, TrainConfig::default().forest);
    }

    #[test]
    fn an_unknown_or_ill_typed_override_is_refused_by_name() {
        let mut config = TrainConfig::default();
        let err = config
            .override_params(&map(serde_json::json!({ "depht": 3 })))
            .unwrap_err();
        assert!(
            matches!(&err, OverrideError::Unknown { key, valid } if key == "depht" && valid.iter().any(|v| v == "max_depth")),
            "{err}"
        );
        let err = config
            .override_params(&map(serde_json::json!({ "max_depth": "deep" })))
            .unwrap_err();
        assert!(matches!(err, OverrideError::Invalid(_)), "{err}");
        assert_eq!(config.gbdt, TrainConfig::default().gbdt);
    }
}
