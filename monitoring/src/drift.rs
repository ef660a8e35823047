//! Data drift of each feature: the current values against the reference statistics stored in the
//! model artifact (the training rows' percentiles, [`FeatureStats`]).
//!
//! - PSI (population stability index) over the reference deciles, plus a bin for missing
//!   values: `sum (cur - ref) * ln(cur / ref)`, with proportions floored at 1e-4 so an empty bin
//!   is finite. Read as < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 drifted (the usual
//!   credit-scoring reading).
//! - KS: the largest gap between the two cumulative distributions of present values, taken at
//!   the 101 reference percentiles (so it is the exact statistic up to the percentile grid).
//!   Flagged above 0.1: with hundreds of thousands of rows any gap is "significant", so the
//!   flag is on the size of the gap, not a p-value.

use serde::{Deserialize, Serialize};

use fraud_core::stats::FeatureStats;

/// PSI at or above this: drifted.
pub const PSI_DRIFT: f64 = 0.25;
/// PSI at or above this (and below [`PSI_DRIFT`]): a moderate shift worth watching.
pub const PSI_WATCH: f64 = 0.1;
/// KS statistic at or above this: drifted.
pub const KS_DRIFT: f64 = 0.1;

const FLOOR: f64 = 1e-4;

/// Verdict for one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftLevel {
    Stable,
    Watch,
    Drifted,
}

/// One bin of the PSI table (for the per-feature plot): shares of all rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftBin {
    /// `<= 12.5`, `> 80`, or `missing`.
    pub label: String,
    pub reference: f64,
    pub current: f64,
}

/// A bin edge as a person reads it: up to 4 decimals, no trailing zeros.
pub fn edge_text(x: f64) -> String {
    let text = format!("{x:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// Drift of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    pub feature: String,
    pub psi: f64,
    pub ks: f64,
    pub level: DriftLevel,
    pub reference_mean: f64,
    pub current_mean: f64,
    pub reference_missing: f64,
    pub current_missing: f64,
    pub bins: Vec<DriftBin>,
}

/// The reference CDF at `x`: the share of reference percentiles at or below it. Exact at the
/// percentile grid, which is where it is used.
fn reference_cdf(quantiles: &[f64], x: f64) -> f64 {
    let at_or_below = quantiles.partition_point(|&q| q <= x);
    if at_or_below == 0 {
        return 0.0;
    }
    // Percentile k is the value below which k % of the rows lie; ties (discrete features) put
    // the whole tied mass at the value, so take the highest percentile equal to it.
    (at_or_below - 1) as f64 / (quantiles.len() - 1) as f64
}

fn current_cdf(sorted: &[f64], x: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.partition_point(|&v| v <= x) as f64 / sorted.len() as f64
}

/// Compares `values` (this period's feature column; NaN = missing) with `reference`.
pub fn feature_drift(reference: &FeatureStats, values: &[f64]) -> FeatureDrift {
    let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    present.sort_unstable_by(f64::total_cmp);
    let total_ref = (reference.count + reference.missing).max(1) as f64;
    let ref_missing = reference.missing as f64 / total_ref;
    let cur_missing = if values.is_empty() {
        0.0
    } else {
        (values.len() - present.len()) as f64 / values.len() as f64
    };
    let q = &reference.quantiles;
    let mut bins = decile_bins(q, &present, ref_missing, cur_missing);
    bins.push(DriftBin {
        label: "missing".into(),
        reference: ref_missing,
        current: cur_missing,
    });
    let psi = psi(&bins);
    let ks = ks(q, &present);
    FeatureDrift {
        feature: reference.name.clone(),
        psi,
        ks,
        level: verdict(psi, ks),
        reference_mean: reference.mean,
        current_mean: if present.is_empty() {
            f64::NAN
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        },
        reference_missing: ref_missing,
        current_missing: cur_missing,
        bins,
    }
}

/// The PSI bins of present values: one per reference decile edge and one above the last, as
/// shares of all rows (the missing ones included). Empty without reference percentiles.
fn decile_bins(q: &[f64], present: &[f64], ref_missing: f64, cur_missing: f64) -> Vec<DriftBin> {
    let mut bins = Vec::new();
    if q.is_empty() {
        return bins;
    }
    // Decile edges, without repeats (a discrete feature has fewer distinct ones).
    let mut edges: Vec<f64> = (1..10).map(|d| q[d * (q.len() - 1) / 10]).collect();
    edges.dedup();
    let (mut ref_below, mut cur_below) = (0.0, 0.0);
    let last_edge = edges.last().copied();
    for upper in edges.iter().map(|&e| Some(e)).chain([None]) {
        let (r, c, label) = match upper {
            Some(e) => (
                reference_cdf(q, e),
                current_cdf(present, e),
                format!("<= {}", edge_text(e)),
            ),
            None => (
                1.0,
                1.0,
                format!("> {}", edge_text(last_edge.unwrap_or(f64::NAN))),
            ),
        };
        bins.push(DriftBin {
            label,
            reference: (r - ref_below) * (1.0 - ref_missing),
            current: (c - cur_below) * (1.0 - cur_missing),
        });
        (ref_below, cur_below) = (r, c);
    }
    bins
}

/// The KS statistic of the present values at the reference percentiles (0 when either side
/// has none).
fn ks(q: &[f64], present: &[f64]) -> f64 {
    if q.is_empty() || present.is_empty() {
        return 0.0;
    }
    q.iter()
        .map(|&x| (reference_cdf(q, x) - current_cdf(present, x)).abs())
        .fold(0.0, f64::max)
}

/// The PSI over `bins`, with shares floored at [`FLOOR`] so an empty bin stays finite.
fn psi(bins: &[DriftBin]) -> f64 {
    bins.iter()
        .map(|b| {
            let (r, c) = (b.reference.max(FLOOR), b.current.max(FLOOR));
            (c - r) * (c / r).ln()
        })
        .sum::<f64>()
}

/// The verdict: drifted on either measure, worth watching on a moderate PSI.
fn verdict(psi: f64, ks: f64) -> DriftLevel {
    if psi >= PSI_DRIFT || ks >= KS_DRIFT {
        DriftLevel::Drifted
    } else if psi >= PSI_WATCH {
        DriftLevel::Watch
    } else {
        DriftLevel::Stable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(n: usize, offset: f64) -> Vec<f64> {
        (0..n).map(|i| i as f64 / n as f64 + offset).collect()
    }

    #[test]
    fn the_same_distribution_is_stable_and_a_shifted_one_drifts() {
        let reference = FeatureStats::of("x", &uniform(100_000, 0.0));
        let same = feature_drift(&reference, &uniform(50_000, 0.0));
        assert!(same.psi < 0.01 && same.ks < 0.02, "{same:?}");
        assert_eq!(same.level, DriftLevel::Stable);
        // Ten reference deciles plus the missing bin, each holding about a tenth.
        assert_eq!(same.bins.len(), 11);
        assert!(
            same.bins[..10]
                .iter()
                .all(|b| (b.reference - 0.1).abs() < 0.011)
        );

        let shifted = feature_drift(&reference, &uniform(50_000, 0.3));
        assert!((shifted.ks - 0.3).abs() < 0.02, "{shifted:?}");
        assert!(shifted.psi > PSI_DRIFT, "{shifted:?}");
        assert_eq!(shifted.level, DriftLevel::Drifted);
    }

    #[test]
    fn discrete_features_and_missing_values_are_binned_honestly() {
        // 70 % zeros, 30 % ones, as a count feature.
        let values: Vec<f64> = (0..1000).map(|i| if i < 700 { 0.0 } else { 1.0 }).collect();
        let reference = FeatureStats::of("count", &values);
        let same = feature_drift(&reference, &values);
        assert!(same.psi < 1e-3 && same.ks < 0.02, "{same:?}");
        let more_ones: Vec<f64> = (0..1000).map(|i| if i < 400 { 0.0 } else { 1.0 }).collect();
        let moved = feature_drift(&reference, &more_ones);
        assert!(
            (moved.ks - 0.3).abs() < 0.02 && moved.level == DriftLevel::Drifted,
            "{moved:?}"
        );

        // Half the current values missing where the reference had none.
        let mut half: Vec<f64> = values.clone();
        half.iter_mut().step_by(2).for_each(|v| *v = f64::NAN);
        let missing = feature_drift(&reference, &half);
        assert!((missing.current_missing - 0.5).abs() < 1e-9);
        assert!(missing.psi > PSI_DRIFT, "{missing:?}");
    }

    #[test]
    fn an_empty_period_or_reference_gives_numbers_not_panics() {
        let reference = FeatureStats::of("x", &uniform(100, 0.0));
        let empty = feature_drift(&reference, &[]);
        assert!(empty.psi.is_finite() && empty.ks == 0.0);
        let no_reference = FeatureStats::of("x", &[f64::NAN; 4]);
        let d = feature_drift(&no_reference, &uniform(10, 0.0));
        assert!(d.psi.is_finite(), "{d:?}");
    }
}
