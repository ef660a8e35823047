//! Run records: what a training or evaluation run did, written next to its outputs
//! (`runs/<version>.json`) so the experiment logger can publish it, and a person can audit it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::artifact::{Artifact, ModelParams};
use crate::metrics::Metrics;

/// Which kind of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Train,
    Eval,
}

/// One run, as `runs/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The model version for a training run; `eval-<model version>-<data etag>` for an eval.
    pub id: String,
    pub kind: RunKind,
    pub model_version: String,
    pub model_kind: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The input data: object key and the ETag (version) that was read.
    pub data_key: String,
    pub data_etag: Option<String>,
    /// Hyper-parameters, as text.
    pub params: BTreeMap<String, String>,
    /// Numbers: validation metrics (train) or evaluation metrics (eval), row counts, timings.
    pub metrics: BTreeMap<String, f64>,
    /// Output objects by role (`model`, `predictions`, `metrics`, `errors`, `report`).
    pub artifacts: BTreeMap<String, String>,
    pub threshold: f64,
}

/// The metrics of a [`Metrics`] as name/value pairs, with `prefix`.
pub fn metric_pairs(prefix: &str, m: &Metrics) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (name, value) in [
        ("rows", m.rows as f64),
        ("frauds", m.frauds as f64),
        ("auc_roc", m.auc_roc),
        ("auc_pr", m.auc_pr),
        ("precision", m.precision),
        ("recall", m.recall),
        ("f1", m.f1),
        ("recall_at_1pct_fpr", m.recall_at_1pct_fpr),
        ("tp", m.confusion.tp as f64),
        ("fp", m.confusion.fp as f64),
        ("tn", m.confusion.tn as f64),
        ("fn", m.confusion.fn_ as f64),
    ] {
        if value.is_finite() {
            out.insert(format!("{prefix}{name}"), value);
        }
    }
    out
}

impl RunRecord {
    /// The record of a training run that produced `artifact`.
    pub fn for_training(
        artifact: &Artifact,
        data_key: &str,
        data_etag: Option<String>,
        model_key: &str,
    ) -> Self {
        let mut metrics = metric_pairs("validation_", &artifact.validation);
        for (name, value) in artifact.validation_value.named() {
            metrics.insert(format!("validation_{name}"), value);
        }
        metrics.insert("train_rows".into(), artifact.training.rows as f64);
        metrics.insert("train_frauds".into(), artifact.training.frauds as f64);
        metrics.insert("skipped_rows".into(), artifact.training.skipped_rows as f64);
        metrics.insert(
            "fit_sample_rows".into(),
            artifact.training.fit_sample_rows as f64,
        );
        let mut params: BTreeMap<String, String> = artifact.params.pairs().into_iter().collect();
        params.insert(
            "threshold_rule".into(),
            artifact.threshold_rule.as_str().into(),
        );
        let first_stage = ModelParams::Gbdt(artifact.card_risk_params.clone());
        params.extend(
            first_stage
                .pairs()
                .into_iter()
                .map(|(k, v)| (format!("card_risk.{k}"), v)),
        );
        RunRecord {
            id: artifact.model_version.clone(),
            kind: RunKind::Train,
            model_version: artifact.model_version.clone(),
            model_kind: artifact.model.kind().as_str().to_owned(),
            created_at: artifact.created_at.clone(),
            data_key: data_key.to_owned(),
            data_etag,
            params,
            metrics,
            artifacts: BTreeMap::from([("model".to_owned(), model_key.to_owned())]),
            threshold: artifact.threshold,
        }
    }
}
