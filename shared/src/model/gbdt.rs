//! Gradient-boosted trees, fitted by forust-ml and flattened for scoring.
//!
//! Pitfalls measured on this data (see the issue): without a minimum child hessian or L2 >= 1
//! the boosting collapses on the nearly separable classes, and forust's `predict` is log-odds.

use forust_ml::GradientBooster;
use forust_ml::data::Matrix;
use forust_ml::gradientbooster::GrowPolicy;
use forust_ml::objective::ObjectiveType;
use serde::{Deserialize, Serialize};

use super::trees::{SplitNode, TreeEnsemble};
use super::{
    Classifier, Dataset, check_legit_sample_rate, invalid, sigmoid, undersample, unusable_fit,
};
use crate::error::{CoreError, Result};
use crate::features::{FeatureVector, N_FEATURES};

/// Hyper-parameters of the gradient-boosted trees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GbdtParams {
    pub iterations: usize,
    pub learning_rate: f64,
    pub max_depth: usize,
    /// Minimum hessian sum in a leaf; >= 1 keeps the rare class from diverging.
    pub min_leaf_weight: f64,
    pub l2: f64,
    /// Weight of a fraud row against 1 for a legitimate one (class imbalance). Its effect on the
    /// base rate is removed from the output, so probabilities stay on the data's scale.
    pub fraud_weight: f64,
    /// Share of the legitimate rows fitted on; every fraud is kept (negative downsampling, the
    /// usual way to train on rare events: a fraction of the time, nearly the same model). The
    /// shift in base rate is removed from the output like the fraud weight's.
    pub legit_sample_rate: f64,
    /// Fraud rows weigh `fraud_weight * (amt / mean fraud amt)^amount_power`, rescaled so their
    /// mean weight stays `fraud_weight`: above 0 the fit cares more about costly frauds.
    pub amount_power: f64,
    pub nbins: u16,
    pub seed: u64,
}

impl Default for GbdtParams {
    fn default() -> Self {
        // Chosen on the validation slice with every feature (BENCHMARKS.md, model card): a fifth
        // of the legitimate rows gave AUC-PR 0.9912 (a tenth 0.9909, all of them with 200 trees
        // 0.9926 but four times the training time), and 100 trees at 0.25 matched 200 at 0.15
        // on the sample at half the scoring time.
        GbdtParams {
            iterations: 100,
            learning_rate: 0.25,
            max_depth: 6,
            min_leaf_weight: 1.0,
            l2: 1.0,
            fraud_weight: 5.0,
            legit_sample_rate: 0.2,
            amount_power: 0.0,
            nbins: 256,
            seed: 0,
        }
    }
}

impl GbdtParams {
    /// Rejects parameters that cannot train or that are known to collapse on this data.
    pub fn check(&self) -> Result<()> {
        if !(1..=10_000).contains(&self.iterations) {
            return invalid("iterations", self.iterations, "must be 1 to 10000");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return invalid("learning_rate", self.learning_rate, "must be in (0, 1]");
        }
        if !(1..=16).contains(&self.max_depth) {
            return invalid("max_depth", self.max_depth, "must be 1 to 16");
        }
        if !(self.min_leaf_weight >= 1.0 || self.l2 >= 1.0) {
            return invalid(
                "min_leaf_weight",
                self.min_leaf_weight,
                "min_leaf_weight or l2 must be >= 1 (boosting collapses on this data otherwise)",
            );
        }
        if !(self.fraud_weight.is_finite() && self.fraud_weight >= 1.0) {
            return invalid("fraud_weight", self.fraud_weight, "must be >= 1");
        }
        check_legit_sample_rate(self.legit_sample_rate)?;
        if !(16..=1024).contains(&self.nbins) {
            return invalid("nbins", self.nbins, "must be 16 to 1024");
        }
        Ok(())
    }
}

/// Each row's weight in the fit: 1 for a legitimate row, `fraud_weight` on average for a fraud,
/// shared out by amount when `amount_power` is above 0.
fn row_weights(sample: &Dataset, params: &GbdtParams) -> Vec<f64> {
    let amounts = sample.column(0);
    let raw = |i: usize| amounts[i].max(0.01).powf(params.amount_power);
    let frauds: Vec<usize> = (0..sample.n_rows())
        .filter(|&i| sample.labels[i] == 1)
        .collect();
    let mean = frauds.iter().map(|&i| raw(i)).sum::<f64>() / frauds.len().max(1) as f64;
    (0..sample.n_rows())
        .map(|i| {
            if sample.labels[i] == 1 {
                params.fraud_weight * raw(i) / mean
            } else {
                1.0
            }
        })
        .collect()
}

/// Fitted boosted trees: `sigmoid(offset + sum of leaf values)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GbdtModel {
    pub trees: TreeEnsemble,
    /// forust's base score minus `ln(fraud_weight)` plus `ln(legit_sample_rate)`.
    pub offset: f64,
}

impl GbdtModel {
    /// Fits forust's booster on the columns `features` of `sample` (kept public for the parity
    /// test and the speed comparison in `examples/flat_vs_forust.rs`).
    pub fn fit_booster(
        sample: &Dataset,
        features: &[usize],
        params: &GbdtParams,
    ) -> Result<GradientBooster> {
        params.check()?;
        let failed = |e: forust_ml::errors::ForustError| CoreError::Training {
            model: "gbdt",
            reason: e.to_string(),
        };
        let mut booster = GradientBooster::default()
            .set_objective_type(ObjectiveType::LogLoss)
            .set_iterations(params.iterations)
            .set_learning_rate(params.learning_rate as f32)
            .set_max_depth(params.max_depth)
            .set_min_leaf_weight(params.min_leaf_weight as f32)
            .set_l2(params.l2 as f32)
            .set_nbins(params.nbins)
            .set_seed(params.seed)
            .set_parallel(true)
            .set_allow_missing_splits(true)
            .set_missing(f64::NAN);
        booster.grow_policy = GrowPolicy::DepthWise;
        let n = sample.n_rows();
        let mut columns = Vec::with_capacity(n * features.len());
        for &f in features {
            columns.extend_from_slice(sample.column(f));
        }
        let matrix = Matrix::new(&columns, n, features.len());
        let y: Vec<f64> = sample.labels.iter().map(|&l| f64::from(l)).collect();
        let w = row_weights(sample, params);
        booster.fit(&matrix, &y, &w, None).map_err(failed)?;
        Ok(booster)
    }

    /// The scoring form of a booster fitted on the columns `features`: its trees index the whole
    /// feature vector, and the offset undoes the fraud weight and the sampling of `params`.
    pub fn from_booster(
        booster: &GradientBooster,
        features: &[usize],
        params: &GbdtParams,
    ) -> Result<Self> {
        let mut trees = TreeEnsemble::default();
        for tree in &booster.trees {
            let nodes: Vec<SplitNode> = tree
                .nodes
                .iter()
                .map(|n| SplitNode {
                    feature: (!n.is_leaf).then(|| features[n.split_feature] as u16),
                    threshold: n.split_value,
                    left: n.left_child as u32,
                    right: n.right_child as u32,
                    missing: n.missing_node as u32,
                    value: f64::from(n.weight_value),
                })
                .collect();
            trees.push_tree(&nodes).map_err(unusable_fit("gbdt"))?;
        }
        Ok(GbdtModel {
            trees,
            offset: booster.base_score - params.fraud_weight.ln() + params.legit_sample_rate.ln(),
        })
    }

    /// Fits on `sample`, a data set whose legitimate rows were already kept at
    /// `params.legit_sample_rate` (every fraud kept), using the columns `features` only.
    pub fn fit_sample(sample: &Dataset, features: &[usize], params: &GbdtParams) -> Result<Self> {
        let booster = Self::fit_booster(sample, features, params)?;
        Self::from_booster(&booster, features, params)
    }

    /// A model without trees that always answers `probability`.
    pub fn constant(probability: f64) -> Self {
        GbdtModel {
            trees: TreeEnsemble::default(),
            offset: (probability / (1.0 - probability)).ln(),
        }
    }

    /// [`Classifier::predict_proba`] of each of `rows` into `out`, with the same bits.
    pub fn predict_many(&self, rows: &[FeatureVector], out: &mut [f64]) {
        self.trees.sum_many(rows, out);
        for p in out.iter_mut() {
            *p = sigmoid(self.offset + *p);
        }
    }

    /// Log-odds of fraud.
    pub fn log_odds(&self, row: &FeatureVector) -> f64 {
        self.offset + self.trees.sum(row)
    }
}

impl Classifier for GbdtModel {
    type Params = GbdtParams;

    fn fit(data: &Dataset, params: &GbdtParams) -> Result<Self> {
        params.check()?;
        let sample = data.take(&undersample(data, params.legit_sample_rate, params.seed));
        let all: Vec<usize> = (0..N_FEATURES).collect();
        Self::fit_sample(&sample, &all, params)
    }

    fn predict_proba(&self, row: &FeatureVector) -> f64 {
        sigmoid(self.log_odds(row))
    }

    fn contributions(&self, row: &FeatureVector) -> FeatureVector {
        self.explain(row).1
    }

    fn explain(&self, row: &FeatureVector) -> (f64, FeatureVector) {
        let mut out = [0.0; N_FEATURES];
        let sum = self.trees.sum_and_contributions(row, &mut out);
        (sigmoid(self.offset + sum), out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Curve;
    use crate::model::tests::toy;

    fn small() -> GbdtParams {
        GbdtParams {
            iterations: 40,
            max_depth: 4,
            ..GbdtParams::default()
        }
    }

    #[test]
    fn flattened_trees_score_like_forust() {
        let data = toy(3000, 5);
        let all: Vec<usize> = (0..N_FEATURES).collect();
        let params = GbdtParams {
            fraud_weight: 1.0,
            legit_sample_rate: 1.0,
            ..small()
        };
        let booster = GbdtModel::fit_booster(&data, &all, &params).unwrap();
        let model = GbdtModel::from_booster(&booster, &all, &params).unwrap();
        model.trees.validate(N_FEATURES).unwrap();
        let matrix = Matrix::new(&data.columns, data.n_rows(), N_FEATURES);
        let theirs = booster.predict(&matrix, false);
        for (i, expected) in theirs.iter().enumerate() {
            let ours = model.log_odds(&data.row(i));
            assert!(
                (ours - expected).abs() < 1e-9,
                "row {i}: {ours} vs {expected}"
            );
        }
    }

    #[test]
    fn learns_the_toy_problem_and_is_deterministic() {
        let (train, test) = (toy(4000, 1), toy(2000, 2));
        let a = GbdtModel::fit(&train, &small()).unwrap();
        let b = GbdtModel::fit(&train, &small()).unwrap();
        assert!(a == b, "same data and parameters, same model");
        let scores: Vec<f64> = (0..test.n_rows())
            .map(|i| a.predict_proba(&test.row(i)))
            .collect();
        let auc = Curve::new(&test.labels, &scores).auc_roc();
        assert!(auc > 0.95, "AUC {auc}");
        assert!(scores.iter().all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn explain_gives_the_same_probability_as_predict() {
        let data = toy(2000, 9);
        let model = GbdtModel::fit(&data, &small()).unwrap();
        for i in 0..200 {
            let row = data.row(i);
            let (p, _) = model.explain(&row);
            assert!((p - model.predict_proba(&row)).abs() < 1e-12);
        }
    }

    #[test]
    fn contributions_add_up_to_the_log_odds() {
        let data = toy(2000, 8);
        let model = GbdtModel::fit(&data, &small()).unwrap();
        let row = data.row(17);
        let bias: f64 = model
            .trees
            .roots
            .iter()
            .map(|&r| f64::from(model.trees.values[r as usize]))
            .sum();
        let total: f64 = model.contributions(&row).iter().sum::<f64>() + bias + model.offset;
        assert!((total - model.log_odds(&row)).abs() < 1e-9);
    }

    #[test]
    fn negative_downsampling_keeps_probabilities_calibrated() {
        let (train, test) = (toy(20_000, 4), toy(20_000, 5));
        let rate = test.frauds() as f64 / test.n_rows() as f64;
        let mean_p = |legit_sample_rate: f64| {
            let params = GbdtParams {
                fraud_weight: 1.0,
                legit_sample_rate,
                ..small()
            };
            let model = GbdtModel::fit(&train, &params).unwrap();
            (0..test.n_rows())
                .map(|i| model.predict_proba(&test.row(i)))
                .sum::<f64>()
                / test.n_rows() as f64
        };
        for sampled in [1.0, 0.25] {
            let p = mean_p(sampled);
            assert!(
                (p - rate).abs() < 0.1 * rate,
                "rate {sampled}: mean {p} vs {rate}"
            );
        }
    }

    #[test]
    fn amount_power_shares_the_fraud_weight_out_by_amount() {
        let rows: Vec<FeatureVector> = [10.0, 1000.0, 50.0, 250.0]
            .iter()
            .map(|&amt| {
                let mut row = [0.0; N_FEATURES];
                row[0] = amt;
                row
            })
            .collect();
        let data = Dataset::from_rows(&rows, vec![1, 1, 0, 0]);
        let flat = row_weights(&data, &small());
        assert_eq!(flat, vec![5.0, 5.0, 1.0, 1.0]);
        let params = GbdtParams {
            amount_power: 0.5,
            ..small()
        };
        let w = row_weights(&data, &params);
        assert!(
            (w[0] + w[1] - 10.0).abs() < 1e-12,
            "the mean fraud weight stays 5: {w:?}"
        );
        assert!((w[1] / w[0] - 10.0).abs() < 1e-12, "sqrt(1000 / 10): {w:?}");
        assert_eq!((w[2], w[3]), (1.0, 1.0));
    }

    #[test]
    fn collapse_prone_parameters_are_refused() {
        let params = GbdtParams {
            min_leaf_weight: 0.001,
            l2: 0.0,
            ..GbdtParams::default()
        };
        let err = params.check().unwrap_err().to_string();
        assert!(err.contains("min_leaf_weight"), "{err}");
        let err = GbdtParams {
            learning_rate: 0.0,
            ..GbdtParams::default()
        }
        .check()
        .unwrap_err();
        assert!(err.to_string().contains("learning_rate"));
    }
}
