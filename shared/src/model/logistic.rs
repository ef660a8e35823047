//! Logistic-regression baseline, fitted by smartcore.
//!
//! smartcore's `LogisticRegression` returns labels only, so the probability is computed from its
//! `coefficients()` and `intercept()`. Its default `alpha` of 0 can give NaN coefficients on this
//! data, so the default here is 1. Inputs are compressed with a signed `ln(1 + |x|)` (amounts and
//! populations span six orders of magnitude), standardised, and a missing value contributes 0
//! (the training mean). Like the forest it trains on every fraud plus a sample of legitimate rows.

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

use super::{
    Classifier, Dataset, InvalidModel, check_legit_sample_rate, invalid, sigmoid, undersample,
    unusable_fit,
};
use crate::error::{CoreError, Result};
use crate::features::{FeatureVector, N_FEATURES};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticParams {
    /// L2 penalty.
    pub alpha: f64,
    pub legit_sample_rate: f64,
    pub seed: u64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            alpha: 1.0,
            legit_sample_rate: 0.15,
            seed: 0,
        }
    }
}

impl LogisticParams {
    pub fn check(&self) -> Result<()> {
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return invalid(
                "alpha",
                self.alpha,
                "must be > 0 (alpha 0 gives NaN coefficients on this data)",
            );
        }
        check_legit_sample_rate(self.legit_sample_rate)
    }
}

/// `sigmoid(intercept + sum_i w_i * z_i)`, `z_i` the standardised compressed feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    pub means: Vec<f64>,
    pub scales: Vec<f64>,
    pub weights: Vec<f64>,
    /// Includes the `ln(legit_sample_rate)` correction for the sampling.
    pub intercept: f64,
}

fn compress(x: f64) -> f64 {
    x.signum() * x.abs().ln_1p()
}

impl LogisticModel {
    fn standardised(&self, f: usize, x: f64) -> f64 {
        if x.is_nan() {
            0.0
        } else {
            (compress(x) - self.means[f]) / self.scales[f]
        }
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidModel> {
        let lengths = [self.means.len(), self.scales.len(), self.weights.len()];
        if lengths != [N_FEATURES; 3] {
            return Err(InvalidModel::CoefficientCount {
                lengths,
                expected: N_FEATURES,
            });
        }
        let all = self.means.iter().chain(&self.scales).chain(&self.weights);
        if !all.chain([&self.intercept]).all(|v| v.is_finite())
            || self.scales.iter().any(|&s| s <= 0.0)
        {
            return Err(InvalidModel::NonFiniteCoefficients);
        }
        Ok(())
    }
}

impl Classifier for LogisticModel {
    type Params = LogisticParams;

    fn fit(data: &Dataset, params: &LogisticParams) -> Result<Self> {
        params.check()?;
        let failed = |reason: String| CoreError::Training {
            model: "logistic",
            reason,
        };
        let sample = data.take(&undersample(data, params.legit_sample_rate, params.seed));
        let n = sample.n_rows();
        if sample.frauds() == 0 || sample.frauds() == n {
            return Err(failed("the training rows hold only one class".into()));
        }
        let mut means = vec![0.0; N_FEATURES];
        let mut scales = vec![1.0; N_FEATURES];
        for f in 0..N_FEATURES {
            let present: Vec<f64> = sample
                .column(f)
                .iter()
                .filter(|x| !x.is_nan())
                .map(|&x| compress(x))
                .collect();
            if present.is_empty() {
                continue;
            }
            let mean = present.iter().sum::<f64>() / present.len() as f64;
            let var =
                present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / present.len() as f64;
            means[f] = mean;
            scales[f] = if var > 0.0 { var.sqrt() } else { 1.0 };
        }
        let mut model = LogisticModel {
            means,
            scales,
            weights: vec![0.0; N_FEATURES],
            intercept: 0.0,
        };
        let mut values = Vec::with_capacity(n * N_FEATURES);
        for f in 0..N_FEATURES {
            values.extend(sample.column(f).iter().map(|&x| model.standardised(f, x)));
        }
        let x = DenseMatrix::new(n, N_FEATURES, values, true).map_err(|e| failed(e.to_string()))?;
        let y: Vec<i32> = sample.labels.iter().map(|&l| i32::from(l)).collect();
        let lr = LogisticRegression::fit(
            &x,
            &y,
            LogisticRegressionParameters::default().with_alpha(params.alpha),
        )
        .map_err(|e| failed(e.to_string()))?;
        model.weights = (0..N_FEATURES)
            .map(|f| *lr.coefficients().get((0, f)))
            .collect();
        model.intercept = *lr.intercept().get((0, 0)) + params.legit_sample_rate.ln();
        model.validate().map_err(unusable_fit("logistic"))?;
        Ok(model)
    }

    fn predict_proba(&self, row: &FeatureVector) -> f64 {
        let z: f64 = (0..N_FEATURES)
            .map(|f| self.weights[f] * self.standardised(f, row[f]))
            .sum();
        sigmoid(self.intercept + z)
    }

    fn contributions(&self, row: &FeatureVector) -> FeatureVector {
        std::array::from_fn(|f| self.weights[f] * self.standardised(f, row[f]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Curve;
    use crate::model::tests::toy;

    #[test]
    fn learns_the_toy_problem_with_finite_coefficients() {
        let (train, test) = (toy(4000, 1), toy(2000, 2));
        let model = LogisticModel::fit(&train, &LogisticParams::default()).unwrap();
        model.validate().unwrap();
        // The toy fraud rule is feature 0 plus feature 12: both weigh most.
        let mut order: Vec<usize> = (0..N_FEATURES).collect();
        order.sort_by(|&a, &b| model.weights[b].abs().total_cmp(&model.weights[a].abs()));
        assert!(
            order[..2].contains(&0) && order[..2].contains(&12),
            "{:?}",
            model.weights
        );
        let scores: Vec<f64> = (0..test.n_rows())
            .map(|i| model.predict_proba(&test.row(i)))
            .collect();
        assert!(Curve::new(&test.labels, &scores).auc_roc() > 0.9);
    }

    #[test]
    fn alpha_zero_is_refused() {
        let err = LogisticParams {
            alpha: 0.0,
            ..LogisticParams::default()
        }
        .check()
        .unwrap_err();
        assert!(err.to_string().contains("alpha"));
    }
}
