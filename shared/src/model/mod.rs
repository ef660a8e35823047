//! The models, behind one trait: `gbdt` (forust-ml gradient boosting, the default) and the two
//! smartcore baselines `forest` and `logistic`. Training libraries are used to fit; every fitted
//! model is converted to a small scoring form of our own (flat trees or a linear function), which
//! is what the artifact stores and what scoring runs.

mod forest;
mod gbdt;
mod invalid;
mod logistic;
mod risk;
pub mod trees;

use serde::{Deserialize, Serialize};

pub use forest::{ForestModel, ForestParams};
pub use gbdt::{GbdtModel, GbdtParams};
pub use invalid::InvalidModel;
pub use logistic::{LogisticModel, LogisticParams};
pub use risk::CardRiskModel;

use crate::error::{CoreError, Result};
use crate::features::{FeatureVector, N_FEATURES};

/// A column-major feature matrix with labels: the training form of a data set.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// `columns[f * n_rows + i]` is feature `f` of row `i`.
    pub columns: Vec<f64>,
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Builds the column-major matrix from rows.
    pub fn from_rows(rows: &[FeatureVector], labels: Vec<u8>) -> Self {
        assert_eq!(rows.len(), labels.len(), "one label per row");
        let n = rows.len();
        let mut columns = vec![0.0; n * N_FEATURES];
        for (i, row) in rows.iter().enumerate() {
            for (f, &x) in row.iter().enumerate() {
                columns[f * n + i] = x;
            }
        }
        Dataset { columns, labels }
    }

    pub fn n_rows(&self) -> usize {
        self.labels.len()
    }

    pub fn column(&self, f: usize) -> &[f64] {
        let n = self.n_rows();
        &self.columns[f * n..(f + 1) * n]
    }

    pub fn row(&self, i: usize) -> FeatureVector {
        let n = self.n_rows();
        std::array::from_fn(|f| self.columns[f * n + i])
    }

    pub fn frauds(&self) -> usize {
        self.labels.iter().filter(|&&y| y == 1).count()
    }

    /// The rows `range` as a new data set (e.g. the time-ordered fit and validation slices).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        let mut columns = Vec::with_capacity(range.len() * N_FEATURES);
        for f in 0..N_FEATURES {
            columns.extend_from_slice(&self.column(f)[range.clone()]);
        }
        Dataset {
            columns,
            labels: self.labels[range].to_vec(),
        }
    }

    /// The rows of every part, one part after the other.
    pub fn concat(parts: &[Dataset]) -> Dataset {
        let rows: usize = parts.iter().map(Dataset::n_rows).sum();
        let mut columns = Vec::with_capacity(rows * N_FEATURES);
        for f in 0..N_FEATURES {
            for part in parts {
                columns.extend_from_slice(part.column(f));
            }
        }
        let labels = parts
            .iter()
            .flat_map(|p| p.labels.iter().copied())
            .collect();
        Dataset { columns, labels }
    }

    /// The rows at `indices`, in that order.
    pub fn take(&self, indices: &[usize]) -> Dataset {
        let mut columns = Vec::with_capacity(indices.len() * N_FEATURES);
        for f in 0..N_FEATURES {
            let column = self.column(f);
            columns.extend(indices.iter().map(|&i| column[i]));
        }
        Dataset {
            columns,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }
}

/// What every model does: fit on a labelled data set, then give a fraud probability per row.
pub trait Classifier: Sized {
    /// Hyper-parameters, checked before fitting.
    type Params: Clone + std::fmt::Debug + Serialize;

    fn fit(data: &Dataset, params: &Self::Params) -> Result<Self>;

    /// Probability of fraud for one feature vector (NaN marks a missing value).
    fn predict_proba(&self, row: &FeatureVector) -> f64;

    /// How much each feature pushed this row's log-odds of fraud up (+) or down (-).
    fn contributions(&self, row: &FeatureVector) -> FeatureVector;

    /// The probability and the contributions together (one pass where the model allows).
    fn explain(&self, row: &FeatureVector) -> (f64, FeatureVector) {
        (self.predict_proba(row), self.contributions(row))
    }
}

/// Which model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    #[default]
    Gbdt,
    Forest,
    Logistic,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Gbdt => "gbdt",
            ModelKind::Forest => "forest",
            ModelKind::Logistic => "logistic",
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = crate::error::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gbdt" => Ok(ModelKind::Gbdt),
            "forest" => Ok(ModelKind::Forest),
            "logistic" => Ok(ModelKind::Logistic),
            other => Err(crate::error::UnknownName {
                what: "model",
                value: other.to_owned(),
                valid: "gbdt, forest, logistic",
            }),
        }
    }
}

/// A fitted model of any kind, as stored in the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Model {
    Gbdt(GbdtModel),
    Forest(ForestModel),
    Logistic(LogisticModel),
}

impl Model {
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Gbdt(_) => ModelKind::Gbdt,
            Model::Forest(_) => ModelKind::Forest,
            Model::Logistic(_) => ModelKind::Logistic,
        }
    }

    pub fn predict_proba(&self, row: &FeatureVector) -> f64 {
        match self {
            Model::Gbdt(m) => m.predict_proba(row),
            Model::Forest(m) => m.predict_proba(row),
            Model::Logistic(m) => m.predict_proba(row),
        }
    }

    /// [`Self::predict_proba`] of each of `rows` into `out` (the same values; the tree models
    /// walk eight rows at a time).
    pub fn predict_many(&self, rows: &[FeatureVector], out: &mut [f64]) {
        match self {
            Model::Gbdt(m) => m.predict_many(rows, out),
            _ => {
                for (o, row) in out.iter_mut().zip(rows) {
                    *o = self.predict_proba(row);
                }
            }
        }
    }

    pub fn contributions(&self, row: &FeatureVector) -> FeatureVector {
        match self {
            Model::Gbdt(m) => m.contributions(row),
            Model::Forest(m) => m.contributions(row),
            Model::Logistic(m) => m.contributions(row),
        }
    }

    /// The probability and each feature's contribution, in one pass for the tree models.
    pub fn explain(&self, row: &FeatureVector) -> (f64, FeatureVector) {
        match self {
            Model::Gbdt(m) => m.explain(row),
            Model::Forest(m) => m.explain(row),
            Model::Logistic(m) => m.explain(row),
        }
    }

    /// Structural checks after loading, so a damaged model fails at load, not while scoring.
    pub fn validate(&self) -> Result<(), InvalidModel> {
        match self {
            Model::Gbdt(m) => m.trees.validate(N_FEATURES),
            Model::Forest(m) => m.trees.validate(N_FEATURES),
            Model::Logistic(m) => m.validate(),
        }
    }
}

/// The error for a hyper-parameter outside its range.
pub(crate) fn invalid<T>(
    name: &'static str,
    value: impl std::fmt::Display,
    reason: &str,
) -> Result<T> {
    Err(CoreError::InvalidParameter {
        name,
        value: value.to_string(),
        reason: reason.into(),
    })
}

/// Every model samples its legitimate rows at a share in (0, 1], checked the same way.
pub(crate) fn check_legit_sample_rate(rate: f64) -> Result<()> {
    if !(rate > 0.0 && rate <= 1.0) {
        return invalid("legit_sample_rate", rate, "must be in (0, 1]");
    }
    Ok(())
}

/// The error for a fitted `model` that the scoring layout refuses, named by its kind.
pub(crate) fn unusable_fit(model: &'static str) -> impl Fn(InvalidModel) -> CoreError {
    move |source| CoreError::InvalidFit { model, source }
}

pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Keeps every fraud and a seeded `rate` share of the legitimate rows: the baselines cannot take
/// weights (smartcore) and cannot train on a million rows in minutes. The shift in base rate is
/// undone in the model's output by a log-odds offset of `ln(rate)`.
pub(crate) fn undersample(data: &Dataset, rate: f64, seed: u64) -> Vec<usize> {
    undersample_labels(&data.labels, rate, seed)
}

/// [`undersample`] over labels alone: the indices of the rows kept, in order. A rate of 1 keeps
/// every row.
pub fn undersample_labels(labels: &[u8], rate: f64, seed: u64) -> Vec<usize> {
    if rate >= 1.0 {
        return (0..labels.len()).collect();
    }
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // splitmix64: a tiny, seeded, dependency-free generator for a sampling decision.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    };
    (0..labels.len())
        .filter(|&i| labels[i] == 1 || next() < rate)
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small separable-ish problem: fraud when feature 0 is high and feature 12 (cnt_24h) too.
    pub fn toy(n: usize, seed: u64) -> Dataset {
        let mut s = seed;
        let mut rnd = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let mut row = [0.0; N_FEATURES];
            for x in row.iter_mut() {
                *x = rnd();
            }
            let fraud = row[0] + row[12] + 0.3 * rnd() > 1.5;
            if rnd() < 0.05 {
                row[16] = f64::NAN;
            }
            rows.push(row);
            labels.push(u8::from(fraud));
        }
        Dataset::from_rows(&rows, labels)
    }

    #[test]
    fn slices_and_takes_keep_rows_intact() {
        let d = toy(50, 1);
        let s = d.slice(10..20);
        assert_eq!(s.n_rows(), 10);
        assert_eq!(s.row(3)[5].to_bits(), d.row(13)[5].to_bits());
        let t = d.take(&[4, 2]);
        assert_eq!(t.row(1)[7], d.row(2)[7]);
        assert_eq!(t.labels, vec![d.labels[4], d.labels[2]]);
    }

    #[test]
    fn undersampling_keeps_every_fraud_and_is_seeded() {
        let d = toy(2000, 3);
        let a = undersample(&d, 0.2, 9);
        assert_eq!(a, undersample(&d, 0.2, 9));
        assert_eq!(a.iter().filter(|&&i| d.labels[i] == 1).count(), d.frauds());
        let legit = a.len() - d.frauds();
        let all_legit = d.n_rows() - d.frauds();
        assert!((legit as f64 / all_legit as f64 - 0.2).abs() < 0.05);
    }
}
