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

/// The cards of a day a fraud team checks in [`ValueMetrics::card_precision_at_100`].
pub const CARD_PRECISION_K: usize = 100;

/// What a labelled evaluation means in money and in investigators' work, at the model's
/// threshold (a score at or above it is a decline). Row counts weigh a $2 fraud like a $2,000
/// one and a customer with one transaction like one with fifty; these do not. Card numbers are
/// only used, in memory, to group rows: none is kept here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueMetrics {
    /// Sum of `amt` over the fraud rows: the money at stake.
    pub fraud_dollars: f64,
    /// Sum of `amt` over the declined fraud rows: the loss prevented.
    pub fraud_dollars_caught: f64,
    /// `fraud_dollars_caught / fraud_dollars` (0 without fraud): recall weighted by amount, the
    /// share of the fraud loss the model stops.
    pub value_detection_rate: f64,
    /// Sum of `amt` over the declined legitimate rows: good customers' spend turned away.
    pub good_dollars_declined: f64,
    /// Declined legitimate rows / legitimate rows (0 without any): how often a good customer is
    /// refused, the cost that drives card holders to another card.
    pub false_decline_rate: f64,
    /// Recall at the best threshold whose false-positive rate is at most 0.1 % (NaN without
    /// fraud): the tight operating point issuers run at, where 1 % FPR is far too many declines.
    pub recall_at_0_1pct_fpr: f64,
    /// CP@100 of Le Borgne et al.'s fraud-detection handbook: each day (UTC day of `unix_time`),
    /// the 100 cards with the highest score that day (a card's score is its highest transaction
    /// score of the day; ties by card number), and the share of them with a fraud that day;
    /// averaged over days (0 without any). What a team that can check 100 cards a day finds.
    /// A day with fewer than 100 cards counts the share of the cards it has (the handbook
    /// divides by 100 regardless).
    pub card_precision_at_100: f64,
    /// The days averaged in `card_precision_at_100`.
    pub card_precision_days: u64,
}

impl ValueMetrics {
    /// The value metrics of labelled rows (`labels` 0/1, `scores`, `amounts` in dollars, card
    /// ids, days since the epoch: one entry per row in each) at `threshold`.
    pub fn compute(
        labels: &[u8],
        scores: &[f64],
        amounts: &[f64],
        cards: &[u64],
        days: &[i64],
        threshold: f64,
    ) -> Self {
        Self::build(labels, scores, amounts, cards, days, |i| {
            scores[i] >= threshold
        })
    }

    /// The same with the decisions actually taken (`declined`, one per row) in place of a
    /// threshold: the monitoring report reads them from a predictions file.
    pub fn with_decisions(
        labels: &[u8],
        scores: &[f64],
        amounts: &[f64],
        cards: &[u64],
        days: &[i64],
        declined: &[bool],
    ) -> Self {
        assert_eq!(labels.len(), declined.len(), "one decision per label");
        Self::build(labels, scores, amounts, cards, days, |i| declined[i])
    }

    fn build(
        labels: &[u8],
        scores: &[f64],
        amounts: &[f64],
        cards: &[u64],
        days: &[i64],
        declined: impl Fn(usize) -> bool,
    ) -> Self {
        let n = labels.len();
        assert!(
            [scores.len(), amounts.len(), cards.len(), days.len()]
                .iter()
                .all(|&len| len == n),
            "one score, amount, card and day per label"
        );
        // Amounts carry two decimals: summed in whole cents, the totals are exact and do not
        // depend on the order of the rows.
        let cents = |i: usize| (amounts[i] * 100.0).round() as i64;
        let (mut fraud, mut caught, mut good_declined) = (0i64, 0i64, 0i64);
        let (mut legit_rows, mut legit_declined) = (0u64, 0u64);
        for (i, &label) in labels.iter().enumerate() {
            let d = declined(i);
            if label == 1 {
                fraud += cents(i);
                if d {
                    caught += cents(i);
                }
            } else {
                legit_rows += 1;
                if d {
                    legit_declined += 1;
                    good_declined += cents(i);
                }
            }
        }
        let (card_precision_at_100, card_precision_days) =
            card_precision_at_k(labels, scores, cards, days, CARD_PRECISION_K);
        ValueMetrics {
            fraud_dollars: fraud as f64 / 100.0,
            fraud_dollars_caught: caught as f64 / 100.0,
            value_detection_rate: if fraud == 0 {
                0.0
            } else {
                caught as f64 / fraud as f64
            },
            good_dollars_declined: good_declined as f64 / 100.0,
            false_decline_rate: ratio(legit_declined, legit_rows),
            recall_at_0_1pct_fpr: Curve::new(labels, scores).recall_at_fpr(0.001),
            card_precision_at_100,
            card_precision_days,
        }
    }

    /// Every figure by its `metrics.json` name (for run records and experiment logs).
    pub fn named(&self) -> [(&'static str, f64); 8] {
        [
            ("fraud_dollars", self.fraud_dollars),
            ("fraud_dollars_caught", self.fraud_dollars_caught),
            ("value_detection_rate", self.value_detection_rate),
            ("good_dollars_declined", self.good_dollars_declined),
            ("false_decline_rate", self.false_decline_rate),
            ("recall_at_0_1pct_fpr", self.recall_at_0_1pct_fpr),
            ("card_precision_at_100", self.card_precision_at_100),
            ("card_precision_days", self.card_precision_days as f64),
        ]
    }
}

/// Card precision top-`k` averaged over days, and the number of days (see
/// [`ValueMetrics::card_precision_at_100`]); `(0, 0)` without rows.
pub fn card_precision_at_k(
    labels: &[u8],
    scores: &[f64],
    cards: &[u64],
    days: &[i64],
    k: usize,
) -> (f64, u64) {
    assert!(
        [scores.len(), cards.len(), days.len()]
            .iter()
            .all(|&len| len == labels.len()),
        "one score, card and day per label"
    );
    // Sorted by (day, card) on the keys themselves, not through the index (cache misses).
    let mut keyed: Vec<(i64, u64, usize)> =
        (0..labels.len()).map(|i| (days[i], cards[i], i)).collect();
    keyed.sort_unstable();
    let order: Vec<usize> = keyed.into_iter().map(|(_, _, i)| i).collect();
    // The cards of one day: (day score, card, a fraud that day).
    let mut day_cards: Vec<(f64, u64, bool)> = Vec::new();
    let (mut sum, mut n_days) = (0.0, 0u64);
    let mut start = 0;
    while start < order.len() {
        let day = days[order[start]];
        let end = start + order[start..].partition_point(|&i| days[i] == day);
        day_cards.clear();
        for &i in &order[start..end] {
            let fraud = labels[i] == 1;
            match day_cards.last_mut() {
                Some(last) if last.1 == cards[i] => {
                    last.0 = last.0.max(scores[i]);
                    last.2 |= fraud;
                }
                _ => day_cards.push((scores[i], cards[i], fraud)),
            }
        }
        day_cards.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let top = &day_cards[..k.min(day_cards.len())];
        sum += ratio(top.iter().filter(|c| c.2).count() as u64, top.len() as u64);
        n_days += 1;
        start = end;
    }
    if n_days == 0 {
        (0.0, 0)
    } else {
        (sum / n_days as f64, n_days)
    }
}

/// Whole dollars with thousands separators: `$1,289,292`.
pub fn format_dollars(amount: f64) -> String {
    if !amount.is_finite() {
        return "–".into();
    }
    let whole = amount.abs().round() as u64;
    let digits = whole.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 2);
    if amount.round() < 0.0 {
        out.push('-');
    }
    out.push('$');
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A point of the ROC and precision-recall curves: flagging every score at or above `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub fpr: f64,
}

/// How the decision threshold is chosen on the validation slice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdRule {
    /// The least dollar cost: missed fraud dollars plus declined good dollars (see
    /// [`least_dollar_cost_threshold`]). The default, since the product protects money: on the
    /// validation slice it catches 99.4 % of the fraud dollars where the F1 rule caught 98.6 %,
    /// for 0.003 of F1 (BENCHMARKS.md).
    #[default]
    DollarCost,
    /// The maximum F1: every fraud and every false decline weighs the same, whatever the amount.
    F1,
}

impl ThresholdRule {
    pub fn as_str(self) -> &'static str {
        match self {
            ThresholdRule::DollarCost => "dollar_cost",
            ThresholdRule::F1 => "f1",
        }
    }

    /// What the rule minimises or maximises, in words.
    pub fn describe(self) -> &'static str {
        match self {
            ThresholdRule::DollarCost => "least dollar cost",
            ThresholdRule::F1 => "max F1",
        }
    }

    /// The threshold this rule chooses for `scores` of rows with `labels` and `amounts`.
    pub fn choose(self, labels: &[u8], scores: &[f64], amounts: &[f64]) -> f64 {
        match self {
            ThresholdRule::DollarCost => least_dollar_cost_threshold(labels, scores, amounts).0,
            ThresholdRule::F1 => Curve::new(labels, scores).best_f1_threshold().0,
        }
    }
}

impl std::str::FromStr for ThresholdRule {
    type Err = crate::error::UnknownName;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "dollar_cost" | "dollar-cost" => Ok(ThresholdRule::DollarCost),
            "f1" => Ok(ThresholdRule::F1),
            other => Err(crate::error::UnknownName {
                what: "threshold rule",
                value: other.to_owned(),
                valid: "dollar_cost, f1",
            }),
        }
    }
}

/// The threshold with the least dollar cost on labelled rows, and that cost in dollars: a
/// missed fraud costs its amount (the loss) and a declined good transaction its amount (the
/// customer's purchase turned away), so a dollar of either weighs the same. Where F1 counts a $2
/// "testing" fraud like a $900 one, this follows the money the product exists to protect. The
/// threshold sits halfway between the lowest score declined and the next lower score, as in
/// [`Curve::best_f1_threshold`]; with no row worth declining it is above every score.
pub fn least_dollar_cost_threshold(labels: &[u8], scores: &[f64], amounts: &[f64]) -> (f64, f64) {
    assert!(
        labels.len() == scores.len() && scores.len() == amounts.len(),
        "one score and amount per label"
    );
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    // Whole cents, so the sums are exact and do not depend on the order of equal scores.
    let cents = |i: usize| (amounts[i] * 100.0).round() as i64;
    let fraud: i64 = (0..labels.len())
        .filter(|&i| labels[i] == 1)
        .map(cents)
        .sum();
    let above_all = order.first().map_or(1.0, |&i| scores[i]).next_up();
    let (mut cost, mut best) = (fraud, (above_all, fraud));
    for (k, &i) in order.iter().enumerate() {
        cost += if labels[i] == 1 { -cents(i) } else { cents(i) };
        let below = order.get(k + 1).map(|&j| scores[j]);
        if below == Some(scores[i]) {
            continue; // declining part of a tie is not a threshold
        }
        if cost < best.1 {
            best = ((scores[i] + below.unwrap_or(scores[i])) / 2.0, cost);
        }
    }
    (best.0, best.1 as f64 / 100.0)
}

/// An integer that orders as `f64::total_cmp` orders the floats (sign bit flipped for positives,
/// every bit flipped for negatives).
fn total_order_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

fn from_total_order_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
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
        // (score as an ordered integer key, label), sorted highest first: the pairs are compared
        // in place, without reaching back into `scores` for every comparison (twice as fast on
        // half a million rows, where the indirect sort missed the cache).
        let mut order: Vec<(u64, bool)> = scores
            .iter()
            .zip(labels)
            .map(|(&score, &label)| (total_order_key(score), label == 1))
            .collect();
        order.sort_unstable_by_key(|&(key, _)| std::cmp::Reverse(key));
        let mut points: Vec<Point> = Vec::new();
        let (mut tp, mut fp) = (0, 0);
        for (k, &(key, fraud)) in order.iter().enumerate() {
            if fraud {
                tp += 1;
            } else {
                fp += 1;
            }
            if order.get(k + 1).is_none_or(|next| next.0 != key) {
                points.push(Point {
                    score: from_total_order_key(key),
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
    #[test]
    fn the_integer_key_orders_and_round_trips_as_total_cmp() {
        let values = [
            f64::NEG_INFINITY,
            -1.5,
            -0.0,
            0.0,
            1e-300,
            0.25,
            0.5,
            1.0,
            f64::INFINITY,
            f64::NAN,
            -f64::NAN,
        ];
        for a in values {
            assert_eq!(
                from_total_order_key(total_order_key(a)).to_bits(),
                a.to_bits()
            );
            for b in values {
                assert_eq!(
                    total_order_key(a).cmp(&total_order_key(b)),
                    a.total_cmp(&b),
                    "{a} {b}"
                );
            }
        }
    }

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
    fn least_dollar_cost_threshold_follows_the_money() {
        // A $900 fraud scored below two $5 good ones: F1 stops above them (declining all three
        // gains no F1), but declining them saves $900 for $10.
        let labels = [1, 0, 0, 1, 0];
        let scores = [0.9, 0.6, 0.5, 0.4, 0.1];
        let amounts = [2.00, 5.00, 5.00, 900.00, 300.00];
        let (t, cost) = least_dollar_cost_threshold(&labels, &scores, &amounts);
        assert_eq!((t, cost), ((0.4 + 0.1) / 2.0, 10.0));
        let (f1_t, _) = Curve::new(&labels, &scores).best_f1_threshold();
        assert_eq!(f1_t, (0.9 + 0.6) / 2.0);
        // Nothing worth declining: above every score, and the cost is all the fraud.
        let (t, cost) = least_dollar_cost_threshold(&[0, 1], &[0.8, 0.2], &[50.0, 10.0]);
        assert!(t > 0.8 && t < 0.80001, "{t}");
        assert_eq!(cost, 10.0);
    }

    #[test]
    fn least_dollar_cost_matches_a_scan_of_every_threshold() {
        let mut state = 7u64;
        let mut next = move |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 33) % n
        };
        for _ in 0..50 {
            let n = 1 + next(60) as usize;
            let labels: Vec<u8> = (0..n).map(|_| u8::from(next(4) == 0)).collect();
            // Few distinct scores, so ties are common.
            let scores: Vec<f64> = (0..n).map(|_| next(12) as f64 / 11.0).collect();
            let amounts: Vec<f64> = (0..n).map(|_| (1 + next(100_000)) as f64 / 100.0).collect();
            let cost_at = |t: f64| -> i64 {
                (0..n)
                    .map(|i| {
                        let cents = (amounts[i] * 100.0).round() as i64;
                        match (labels[i], scores[i] >= t) {
                            (1, false) | (0, true) => cents,
                            _ => 0,
                        }
                    })
                    .sum()
            };
            let best = scores
                .iter()
                .map(|&t| cost_at(t))
                .chain([cost_at(2.0)])
                .min();
            let (t, cost) = least_dollar_cost_threshold(&labels, &scores, &amounts);
            assert_eq!(Some((cost * 100.0).round() as i64), best);
            assert_eq!(
                cost_at(t),
                best.unwrap(),
                "the threshold gives the cost it reports"
            );
        }
    }

    #[test]
    fn dollar_metrics_count_declined_amounts_by_class() {
        let labels = [1, 1, 0, 0, 0, 1];
        let scores = [0.9, 0.2, 0.8, 0.1, 0.5, 0.5];
        let amounts = [100.10, 50.25, 20.00, 5.55, 7.45, 0.01];
        let (cards, days) = ([1, 2, 3, 4, 5, 6], [0; 6]);
        let v = ValueMetrics::compute(&labels, &scores, &amounts, &cards, &days, 0.5);
        // Declined: rows 0 and 5 (fraud, $100.10 + $0.01), rows 2 and 4 (legit, $20 + $7.45).
        assert_eq!(v.fraud_dollars, 150.36);
        assert_eq!(v.fraud_dollars_caught, 100.11);
        assert_eq!(v.value_detection_rate, 10_011.0 / 15_036.0);
        assert_eq!(v.good_dollars_declined, 27.45);
        assert_eq!(v.false_decline_rate, 2.0 / 3.0);
        // Three legitimate rows: 0.1 % of them is no false positive at all, so the threshold
        // stops at 0.9 (one fraud of three).
        assert_eq!(v.recall_at_0_1pct_fpr, 1.0 / 3.0);
        // One day, six cards, fewer than 100: the share of all six (three are fraud).
        assert_eq!((v.card_precision_at_100, v.card_precision_days), (0.5, 1));
        let declined = scores.map(|p| p >= 0.5);
        assert_eq!(
            ValueMetrics::with_decisions(&labels, &scores, &amounts, &cards, &days, &declined),
            v
        );
        let named = v.named();
        assert_eq!(named.len(), 8);
        assert!(named.contains(&("value_detection_rate", v.value_detection_rate)));
        assert!(named.contains(&("card_precision_days", 1.0)));
    }

    #[test]
    fn without_fraud_or_rows_the_rates_are_zero_not_a_panic() {
        let v = ValueMetrics::compute(
            &[0, 0, 0],
            &[0.9, 0.1, 0.2],
            &[10.0, 20.0, 30.0],
            &[7, 7, 8],
            &[4, 5, 5],
            0.5,
        );
        assert_eq!((v.fraud_dollars, v.fraud_dollars_caught), (0.0, 0.0));
        assert_eq!(v.value_detection_rate, 0.0);
        assert_eq!(
            (v.good_dollars_declined, v.false_decline_rate),
            (10.0, 1.0 / 3.0)
        );
        // Like recall_at_1pct_fpr: no recall without fraud.
        assert!(v.recall_at_0_1pct_fpr.is_nan());
        assert_eq!((v.card_precision_at_100, v.card_precision_days), (0.0, 2));
        let v = ValueMetrics::compute(&[], &[], &[], &[], &[], 0.5);
        assert_eq!(
            (
                v.value_detection_rate,
                v.false_decline_rate,
                v.card_precision_at_100,
                v.card_precision_days
            ),
            (0.0, 0.0, 0.0, 0)
        );
        // Only frauds: no legitimate row to decline.
        let v = ValueMetrics::compute(&[1], &[0.7], &[5.0], &[1], &[0], 0.5);
        assert_eq!((v.value_detection_rate, v.false_decline_rate), (1.0, 0.0));
    }

    #[test]
    fn card_precision_ranks_cards_by_their_highest_score_of_the_day() {
        // (label, score, card, day), in no particular order.
        let rows = [
            (0, 0.2, 10, 1),
            (1, 0.3, 10, 0), // card 10 on day 0: a fraud, and a legitimate row at 0.9 below
            (0, 0.9, 20, 0), // card 20 ties card 10's day score: card 10 ranks first
            (1, 0.1, 5, 0),
            (0, 0.9, 10, 0),
            (0, 0.6, 7, 1), // day 1: no fraud at all
        ];
        let labels = rows.map(|r| r.0);
        let scores = rows.map(|r| r.1);
        let cards = rows.map(|r| r.2);
        let days = rows.map(|r| r.3);
        let cp = |k| card_precision_at_k(&labels, &scores, &cards, &days, k);
        // Day 0 ranks 10 (0.9, fraud), 20 (0.9), 5 (0.1, fraud); day 1 has no fraud card.
        assert_eq!(cp(1), ((1.0 + 0.0) / 2.0, 2));
        assert_eq!(cp(2), ((0.5 + 0.0) / 2.0, 2));
        // Fewer cards than k: the share of the cards there are.
        assert_eq!(cp(100), ((2.0 / 3.0 + 0.0) / 2.0, 2));
        let amounts = [1.0; 6];
        let v = ValueMetrics::compute(&labels, &scores, &amounts, &cards, &days, 0.5);
        assert_eq!((v.card_precision_at_100, v.card_precision_days), cp(100));
    }

    #[test]
    fn card_precision_at_100_takes_the_100_highest_cards_with_ties_by_card() {
        // One day of 150 cards: card c scores c / 150 and is a fraud card when c % 5 == 0, except
        // that card 49 ties card 50. The top 100 are cards 51..=149 (19 fraud cards: 55, ..., 145)
        // and card 49, which wins the tie for the last place against card 50 (a fraud card).
        let cards: Vec<u64> = (0..150).collect();
        let scores: Vec<f64> = cards
            .iter()
            .map(|&c| if c == 49 { 50.0 } else { c as f64 } / 150.0)
            .collect();
        let labels: Vec<u8> = cards.iter().map(|&c| u8::from(c % 5 == 0)).collect();
        let days = vec![18_000; 150];
        let amounts = vec![1.0; 150];
        let v = ValueMetrics::compute(&labels, &scores, &amounts, &cards, &days, 2.0);
        assert_eq!((v.card_precision_at_100, v.card_precision_days), (0.19, 1));
        assert_eq!((v.fraud_dollars, v.fraud_dollars_caught), (30.0, 0.0));
    }

    #[test]
    fn dollars_are_whole_with_thousands_separators() {
        assert_eq!(format_dollars(1_289_292.4), "$1,289,292");
        assert_eq!(format_dollars(37_525.0), "$37,525");
        assert_eq!(format_dollars(999.5), "$1,000");
        assert_eq!(format_dollars(0.2), "$0");
        assert_eq!(format_dollars(-1_234.0), "-$1,234");
        assert_eq!(format_dollars(f64::NAN), "–");
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
