//! Per-feature reference statistics of the training data, stored in the model artifact so that
//! drift can later be measured against exactly what the model learned from.

use serde::{Deserialize, Serialize};

use crate::features::{FEATURE_NAMES, N_FEATURES};
use crate::model::Dataset;

/// Number of quantile steps kept (101 points: 0 %, 1 %, ..., 100 %), enough for PSI bins and an
/// approximate KS statistic.
pub const QUANTILE_STEPS: usize = 100;

/// Distribution summary of one feature over the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    pub name: String,
    pub count: u64,
    pub missing: u64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// `quantiles[k]` is the k-th percentile of the present (non-missing) values.
    pub quantiles: Vec<f64>,
}

impl FeatureStats {
    pub fn of(name: &str, values: &[f64]) -> Self {
        let mut present: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        present.sort_unstable_by(f64::total_cmp);
        let n = present.len();
        let missing = (values.len() - n) as u64;
        if n == 0 {
            return FeatureStats {
                name: name.to_owned(),
                count: 0,
                missing,
                mean: f64::NAN,
                std: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
                quantiles: Vec::new(),
            };
        }
        let mean = present.iter().sum::<f64>() / n as f64;
        let var = present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Nearest-rank percentiles: actual training values, so discrete features stay discrete.
        let quantiles = (0..=QUANTILE_STEPS)
            .map(|k| present[((k * (n - 1)) as f64 / QUANTILE_STEPS as f64).round() as usize])
            .collect();
        FeatureStats {
            name: name.to_owned(),
            count: n as u64,
            missing,
            mean,
            std: var.sqrt(),
            min: present[0],
            max: present[n - 1],
            quantiles,
        }
    }
}

/// Statistics of every feature column of `data`, in feature order.
pub fn reference_stats(data: &Dataset) -> Vec<FeatureStats> {
    (0..N_FEATURES)
        .map(|f| FeatureStats::of(FEATURE_NAMES[f], data.column(f)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_present_values_and_counts_missing() {
        let mut values: Vec<f64> = (0..=1000).map(f64::from).collect();
        values.push(f64::NAN);
        let s = FeatureStats::of("x", &values);
        assert_eq!((s.count, s.missing), (1001, 1));
        assert_eq!((s.min, s.max, s.mean), (0.0, 1000.0, 500.0));
        assert_eq!(s.quantiles.len(), 101);
        assert_eq!(
            (s.quantiles[0], s.quantiles[50], s.quantiles[100]),
            (0.0, 500.0, 1000.0)
        );
        assert_eq!(s.quantiles[1], 10.0);
    }

    #[test]
    fn an_all_missing_column_is_not_an_error() {
        let s = FeatureStats::of("x", &[f64::NAN; 3]);
        assert_eq!((s.count, s.missing), (0, 3));
        assert!(s.quantiles.is_empty());
    }
}
