//! Ranking and decision metrics for a binary fraud score.
//!
//! Every curve metric walks the scores once, sorted descending, in groups of tied scores (a tie
//! moves both rates at once, as in scikit-learn), so the figures match `roc_auc_score` and
//! `average_precision_score` exactly; see `tests/fixtures/metrics/metrics_expected.json`.

use serde::{Deserialize, Serialize};

/// Confusion matrix at a threshold (a score at or above the threshold is a fraud prediction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl Confusion {
    pub fn at(labels: &[u8], scores: &[f64], threshold: f64) -> Self {
        let mut c = Confusion::default();
        for (&y, &p) in labels.iter().zip(scores) {
            match (y == 1, p >= threshold) {
                (true, true) => c.tp += 1,
                (false, true) => c.fp += 1,
                (false, false) => c.tn += 1,
                (true, false) => c.fn_ += 1,
            }
        }
        c
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

/// `a / b`, 0 when `b` is 0 (scikit-learn's `zero_division=0`).
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The metrics of one labelled evaluation, as written to `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: u64,
    pub frauds: u64,
    pub auc_roc: f64,
    pub auc_pr: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub threshold: f64,
    pub recall_at_1pct_fpr: f64,
    pub confusion: Confusion,
}

impl Metrics {
    /// All metrics of `scores` against `labels` (0/1) at `threshold`.
    pub fn compute(labels: &[u8], scores: &[f64], threshold: f64) -> Self {
        let curve = Curve::new(labels, scores);
        let confusion = Confusion::at(labels, scores, threshold);
        Metrics {
            rows: labels.len() as u64,
            frauds: curve.positives,
            auc_roc: curve.auc_roc(),
            auc_pr: curve.average_precision(),
            precision: confusion.precision(),
            recall: confusion.recall(),
            f1: confusion.f1(),
            threshold,
            recall_at_1pct_fpr: curve.recall_at_fpr(0.01),
            confusion,
        }
    }
}

/// A point of the ROC and precision-recall curves: flagging every score at or above `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub fpr: f64,
}

/// One point per distinct score, from the highest: rows scored at or above it.
#[derive(Debug, Clone, Copy)]
struct Point {
    score: f64,
    tp: u64,
    fp: u64,
}

/// The ROC / precision-recall curve of a score.
#[derive(Debug, Clone)]
pub struct Curve {
    points: Vec<Point>,
    positives: u64,
    negatives: u64,
}

impl Curve {
    pub fn new(labels: &[u8], scores: &[f64]) -> Self {
        assert_eq!(labels.len(), scores.len(), "one label per score");
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let mut points: Vec<Point> = Vec::new();
        let (mut tp, mut fp) = (0, 0);
        for (k, &i) in order.iter().enumerate() {
            if labels[i] == 1 {
                tp += 1;
            } else {
                fp += 1;
            }
            let last_of_group = order
                .get(k + 1)
                .is_none_or(|&j| scores[j].total_cmp(&scores[i]).is_ne());
            if last_of_group {
                points.push(Point {
                    score: scores[i],
                    tp,
                    fp,
                });
            }
        }
        Curve {
            points,
            positives: tp,
            negatives: fp,
        }
    }

    /// Area under the ROC curve (trapezoids, so ties count half); NaN without both classes.
    pub fn auc_roc(&self) -> f64 {
        if self.positives == 0 || self.negatives == 0 {
            return f64::NAN;
        }
        let (mut area, mut prev_tp, mut prev_fp) = (0.0, 0u64, 0u64);
        for p in &self.points {
            area += (p.fp - prev_fp) as f64 * (p.tp + prev_tp) as f64 / 2.0;
            (prev_tp, prev_fp) = (p.tp, p.fp);
        }
        area / (self.positives as f64 * self.negatives as f64)
    }

    /// Average precision: sum over thresholds of (recall gain) x (precision), no interpolation.
    pub fn average_precision(&self) -> f64 {
        if self.positives == 0 {
            return f64::NAN;
        }
        let (mut ap, mut prev_tp) = (0.0, 0u64);
        for p in &self.points {
            ap += (p.tp - prev_tp) as f64 / self.positives as f64 * ratio(p.tp, p.tp + p.fp);
            prev_tp = p.tp;
        }
        ap
    }

    /// The highest recall reached at a threshold whose false-positive rate is at most `max_fpr`
    /// (no interpolation between thresholds).
    pub fn recall_at_fpr(&self, max_fpr: f64) -> f64 {
        if self.positives == 0 {
            return f64::NAN;
        }
        let max_fp = (max_fpr * self.negatives as f64).floor() as u64;
        self.points
            .iter()
            .take_while(|p| p.fp <= max_fp)
            .last()
            .map_or(0.0, |p| ratio(p.tp, self.positives))
    }

    /// About `max_points` points of the curve for plots, from the highest threshold down: evenly
    /// spread over the distinct scores, plus the last point at or above each of 200 evenly
    /// spaced thresholds (a model's scores crowd near 0, so index spacing alone would leave the
    /// high-threshold end, where the decisions are, with a handful of points).
    pub fn sample(&self, max_points: usize) -> Vec<CurvePoint> {
        let n = self.points.len();
        if n == 0 || max_points == 0 {
            return Vec::new();
        }
        let step = n.div_ceil(max_points / 2 + 1).max(1);
        let mut picked: Vec<usize> = (0..n).step_by(step).collect();
        picked.push(n - 1);
        for k in 0..=200 {
            let t = f64::from(k) / 200.0;
            // Points are in descending score order: the last one still at or above `t`.
            let at_or_above = self.points.partition_point(|p| p.score >= t);
            if at_or_above > 0 {
                picked.push(at_or_above - 1);
            }
        }
        picked.sort_unstable();
        picked.dedup();
        picked
            .into_iter()
            .map(|k| {
                let p = self.points[k];
                CurvePoint {
                    threshold: p.score,
                    precision: ratio(p.tp, p.tp + p.fp),
                    recall: ratio(p.tp, self.positives),
                    fpr: ratio(p.fp, self.negatives),
                }
            })
            .collect()
    }

    /// The threshold that maximises F1, and that F1. The threshold sits halfway between the
    /// lowest score flagged and the next lower score, so tiny score shifts do not flip decisions.
    pub fn best_f1_threshold(&self) -> (f64, f64) {
        let mut best = (f64::INFINITY, 0.0);
        for (k, p) in self.points.iter().enumerate() {
            let f1 = ratio(2 * p.tp, p.tp + p.fp + self.positives);
            if f1 > best.1 {
                let below = self.points.get(k + 1).map_or(p.score, |q| q.score);
                best = ((p.score + below) / 2.0, f1);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_reversed_rankings() {
        let labels = [0, 0, 1, 1];
        let c = Curve::new(&labels, &[0.1, 0.2, 0.8, 0.9]);
        assert_eq!(c.auc_roc(), 1.0);
        assert_eq!(c.average_precision(), 1.0);
        assert_eq!(c.recall_at_fpr(0.01), 1.0);
        let (t, f1) = c.best_f1_threshold();
        assert_eq!((t, f1), (0.5, 1.0));
        let c = Curve::new(&labels, &[0.9, 0.8, 0.2, 0.1]);
        assert_eq!(c.auc_roc(), 0.0);
    }

    #[test]
    fn ties_count_half() {
        let c = Curve::new(&[0, 1], &[0.5, 0.5]);
        assert_eq!(c.auc_roc(), 0.5);
        assert_eq!(c.average_precision(), 0.5);
    }

    #[test]
    fn single_class_gives_nan_not_a_panic() {
        let c = Curve::new(&[0, 0], &[0.1, 0.2]);
        assert!(c.auc_roc().is_nan() && c.average_precision().is_nan());
        let m = Metrics::compute(&[], &[], 0.5);
        assert_eq!(m.rows, 0);
    }

    #[test]
    fn confusion_counts_at_or_above_the_threshold() {
        let c = Confusion::at(&[1, 0, 1, 0], &[0.5, 0.5, 0.4, 0.1], 0.5);
        assert_eq!(
            c,
            Confusion {
                tp: 1,
                fp: 1,
                tn: 1,
                fn_: 1
            }
        );
        assert_eq!((c.precision(), c.recall(), c.f1()), (0.5, 0.5, 0.5));
    }
}
