//! The monitoring report: does the model still work (metrics, curves, metrics over time) and has
//! the data moved (drift of every feature against the reference statistics stored in the model
//! artifact)? Built from a stream of scored rows by [`ReportCollector`], written as one
//! self-contained `report.html` (see [`html`]) plus `metrics.json` and `drift.json` with the same
//! numbers, by `fraud report` and by the eval function.

pub mod html;

use fraud_policy::BacktestReport;
use serde::{Deserialize, Serialize};

use crate::drift::{DriftLevel, FeatureDrift, KS_DRIFT, PSI_DRIFT, PSI_WATCH, feature_drift};
use fraud_core::features::{FeatureVector, N_FEATURES};
use fraud_core::metrics::{Confusion, Curve, CurvePoint, Metrics, ValueMetrics};
use fraud_core::schema::Transaction;
use fraud_core::stats::FeatureStats;
use fraud_core::time::format_date;

/// Points kept per curve in the report.
const CURVE_POINTS: usize = 400;
/// Bins of the score histograms.
pub const HISTOGRAM_BINS: usize = 50;
/// Periods longer than this many days are reported by week rather than by day.
const DAILY_UP_TO_DAYS: i64 = 62;

/// What the report is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportContext {
    pub model_version: Option<String>,
    /// The decision threshold, when the model is known.
    pub threshold: Option<f64>,
    /// Where the reference statistics come from (a model file, a reference CSV).
    pub reference: String,
    /// The file or object reported on.
    pub current: String,
    pub generated_at: String,
}

/// Headline numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub rows: u64,
    /// Every row has a label: the label-based sections are present.
    pub labelled: bool,
    pub frauds: Option<u64>,
    pub denied: u64,
    pub deny_rate: f64,
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    pub mean_probability: f64,
}

/// One line of the classification report (scikit-learn's layout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassLine {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

/// Metrics of one day or week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    /// First day of the period (`YYYY-MM-DD`).
    pub start: String,
    pub rows: u64,
    pub denied: u64,
    pub deny_rate: f64,
    pub frauds: Option<u64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    /// NaN-free: `None` when the period has no fraud.
    pub auc_pr: Option<f64>,
}

/// Score histogram (shares of each class per bin of width 1/[`HISTOGRAM_BINS`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// Every row, or the legitimate rows when labelled.
    pub legit_or_all: Vec<f64>,
    pub fraud: Option<Vec<f64>>,
}

/// The drift section: thresholds stated with the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftSection {
    pub psi_watch: f64,
    pub psi_drift: f64,
    pub ks_drift: f64,
    pub drifted: Vec<String>,
    pub features: Vec<FeatureDrift>,
}

/// Everything the report shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub context: ReportContext,
    pub summary: Summary,
    /// At the threshold (or at the given decisions when the threshold is unknown).
    pub metrics: Option<Metrics>,
    /// The dollar and card view of the same decisions.
    pub value: Option<ValueMetrics>,
    pub classification: Option<Vec<ClassLine>>,
    pub curve: Option<Vec<CurvePoint>>,
    pub histograms: Histograms,
    pub period: String,
    pub periods: Vec<Period>,
    pub drift: DriftSection,
    /// The decision policy replayed on the same labelled rows (`fraud report --backtest`, the
    /// eval function with an active policy).
    pub backtest: Option<BacktestReport>,
}

/// `metrics` of the report's `metrics.json`: the metrics with their dollar and card view beside
/// them, the keys of `fraud eval`'s `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledMetrics {
    #[serde(flatten)]
    pub metrics: Metrics,
    #[serde(flatten)]
    pub value: ValueMetrics,
}

/// The machine-readable twins of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsFile {
    pub context: ReportContext,
    pub summary: Summary,
    pub metrics: Option<LabelledMetrics>,
    pub classification: Option<Vec<ClassLine>>,
    pub period: String,
    pub periods: Vec<Period>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backtest: Option<BacktestReport>,
}

impl Report {
    pub fn metrics_file(&self) -> MetricsFile {
        MetricsFile {
            context: self.context.clone(),
            summary: self.summary.clone(),
            metrics: self
                .metrics
                .clone()
                .zip(self.value.clone())
                .map(|(metrics, value)| LabelledMetrics { metrics, value }),
            classification: self.classification.clone(),
            period: self.period.clone(),
            periods: self.periods.clone(),
            backtest: self.backtest.clone(),
        }
    }
}

/// Collects scored rows; memory: 8 bytes per feature value plus ~24 bytes per row, ~24 more per
/// labelled row (the values stay f64 so ties with the reference percentiles bin exactly as in
/// training).
#[derive(Debug, Default)]
pub struct ReportCollector {
    times: Vec<i64>,
    labels: Vec<u8>,
    unlabelled: u64,
    probabilities: Vec<f64>,
    denied: Vec<bool>,
    columns: Vec<Vec<f64>>,
    // Of the labelled rows, for the dollar and card metrics.
    amounts: Vec<f64>,
    cards: Cards,
    days: Vec<i64>,
}

/// Card numbers, in memory only: their `Debug` shows how many, never one.
#[derive(Default)]
struct Cards(Vec<u64>);

impl std::fmt::Debug for Cards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cards({} card numbers, not shown)", self.0.len())
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl ReportCollector {
    pub fn new() -> Self {
        ReportCollector {
            columns: vec![Vec::new(); N_FEATURES],
            ..Default::default()
        }
    }

    /// One scored row: the transaction, its probability, the decision taken and its features.
    /// Periods go by `trans_date_trans_time` (the dates people read; the Kaggle `unix_time`
    /// runs seven years earlier), the card precision's days by `unix_time` as in `fraud eval`.
    pub fn add(
        &mut self,
        txn: &Transaction,
        probability: f64,
        denied: bool,
        features: &FeatureVector,
    ) {
        self.times.push(txn.trans_date_trans_time.0);
        match txn.is_fraud {
            Some(l) => {
                self.labels.push(l);
                self.amounts.push(txn.amt);
                self.cards.0.push(txn.cc_num);
                self.days.push(txn.unix_time.div_euclid(86_400));
            }
            None => self.unlabelled += 1,
        }
        self.probabilities.push(probability);
        self.denied.push(denied);
        for (column, &x) in self.columns.iter_mut().zip(features.iter()) {
            column.push(x);
        }
    }

    pub fn rows(&self) -> usize {
        self.times.len()
    }

    /// The report, against `reference` (the model artifact's statistics, in feature order).
    pub fn finish(self, context: ReportContext, reference: &[FeatureStats]) -> Report {
        let time_range = self.time_range();
        let summary = self.summary(time_range);
        let labelled = summary.labelled;
        let (metrics, value, classification, curve) =
            match labelled.then(|| self.label_based(context.threshold)) {
                Some(l) => (
                    Some(l.metrics),
                    Some(l.value),
                    Some(l.classification),
                    Some(l.curve),
                ),
                None => (None, None, None, None),
            };
        let weekly = is_weekly(time_range);
        Report {
            context,
            summary,
            metrics,
            value,
            classification,
            curve,
            histograms: self.histograms(labelled),
            period: if weekly { "week" } else { "day" }.into(),
            periods: self.periods(labelled, weekly),
            drift: drift_section(reference, &self.columns),
            backtest: None,
        }
    }

    /// The first and the last row's time, unless there is no row.
    fn time_range(&self) -> Option<(i64, i64)> {
        Some((*self.times.iter().min()?, *self.times.iter().max()?))
    }

    /// The headline numbers; the file counts as labelled only when every row has a label.
    fn summary(&self, time_range: Option<(i64, i64)>) -> Summary {
        let rows = self.times.len() as u64;
        let labelled = rows > 0 && self.unlabelled == 0;
        let denied = self.denied.iter().filter(|&&d| d).count() as u64;
        let day = |t: i64| format_date(t.div_euclid(86_400));
        Summary {
            rows,
            labelled,
            frauds: labelled.then(|| self.labels.iter().map(|&l| u64::from(l)).sum()),
            denied,
            deny_rate: ratio(denied, rows).unwrap_or(0.0),
            first_day: time_range.map(|(first, _)| day(first)),
            last_day: time_range.map(|(_, last)| day(last)),
            mean_probability: if rows == 0 {
                0.0
            } else {
                self.probabilities.iter().sum::<f64>() / rows as f64
            },
        }
    }

    /// The sections that need a label on every row, of the decisions actually taken.
    fn label_based(&self, threshold: Option<f64>) -> LabelBased {
        let decisions: Vec<f64> = self
            .denied
            .iter()
            .map(|&d| f64::from(u8::from(d)))
            .collect();
        let confusion = Confusion::at(&self.labels, &decisions, 0.5);
        let mut metrics = Metrics::compute(
            &self.labels,
            &self.probabilities,
            threshold.unwrap_or(f64::NAN),
        );
        // The decisions actually taken (identical to the threshold's when it is known).
        metrics.confusion = confusion;
        metrics.precision = confusion.precision();
        metrics.recall = confusion.recall();
        metrics.f1 = confusion.f1();
        LabelBased {
            metrics,
            classification: classification_report(confusion),
            curve: Curve::new(&self.labels, &self.probabilities).sample(CURVE_POINTS),
            value: ValueMetrics::with_decisions(
                &self.labels,
                &self.probabilities,
                &self.amounts,
                &self.cards.0,
                &self.days,
                &self.denied,
            ),
        }
    }

    /// Shares of the rows per score bin: the frauds apart from the others when labelled.
    fn histograms(&self, labelled: bool) -> Histograms {
        let bin = |p: f64| ((p * HISTOGRAM_BINS as f64) as usize).min(HISTOGRAM_BINS - 1);
        let mut legit_or_all = vec![0u64; HISTOGRAM_BINS];
        let mut fraud = vec![0u64; HISTOGRAM_BINS];
        for (i, &p) in self.probabilities.iter().enumerate() {
            if labelled && self.labels[i] == 1 {
                fraud[bin(p)] += 1;
            } else {
                legit_or_all[bin(p)] += 1;
            }
        }
        let shares = |counts: Vec<u64>| {
            let total = counts.iter().sum::<u64>().max(1) as f64;
            counts.into_iter().map(|c| c as f64 / total).collect()
        };
        Histograms {
            legit_or_all: shares(legit_or_all),
            fraud: labelled.then(|| shares(fraud)),
        }
    }

    /// The rows grouped by day or week, in time order.
    fn periods(&self, labelled: bool, weekly: bool) -> Vec<Period> {
        // Weeks start on Monday (1970-01-01 was a Thursday: day 4 of its week).
        let period_of = |i: usize| {
            let d = self.times[i].div_euclid(86_400);
            if weekly { d - (d + 3).rem_euclid(7) } else { d }
        };
        let mut order: Vec<usize> = (0..self.times.len()).collect();
        order.sort_by_key(|&i| self.times[i]);
        order
            .chunk_by(|&a, &b| period_of(a) == period_of(b))
            .map(|rows| self.period(period_of(rows[0]), rows, labelled))
            .collect()
    }

    /// The numbers of one period: `start` is its first day, `idx` its rows.
    fn period(&self, start: i64, idx: &[usize], labelled: bool) -> Period {
        let n = idx.len() as u64;
        let denied = idx.iter().filter(|&&i| self.denied[i]).count() as u64;
        let (frauds, precision, recall, auc_pr) = if labelled {
            let labels: Vec<u8> = idx.iter().map(|&i| self.labels[i]).collect();
            let frauds = labels.iter().map(|&l| u64::from(l)).sum::<u64>();
            let tp = idx
                .iter()
                .filter(|&&i| self.denied[i] && self.labels[i] == 1)
                .count() as u64;
            let scores: Vec<f64> = idx.iter().map(|&i| self.probabilities[i]).collect();
            let ap = Curve::new(&labels, &scores).average_precision();
            (
                Some(frauds),
                ratio(tp, denied),
                ratio(tp, frauds),
                ap.is_finite().then_some(ap),
            )
        } else {
            (None, None, None, None)
        };
        Period {
            start: format_date(start),
            rows: n,
            denied,
            deny_rate: ratio(denied, n).unwrap_or(0.0),
            frauds,
            precision,
            recall,
            auc_pr,
        }
    }
}

/// What [`ReportCollector::label_based`] computes: the report's sections that need labels.
struct LabelBased {
    metrics: Metrics,
    value: ValueMetrics,
    classification: Vec<ClassLine>,
    curve: Vec<CurvePoint>,
}

/// Periods longer than [`DAILY_UP_TO_DAYS`] are reported by week.
fn is_weekly(time_range: Option<(i64, i64)>) -> bool {
    let span_days = time_range.map_or(0, |(first, last)| (last - first) / 86_400);
    span_days > DAILY_UP_TO_DAYS
}

/// scikit-learn's classification report of the decisions `c`: each class, accuracy, the macro
/// and the support-weighted averages.
fn classification_report(c: Confusion) -> Vec<ClassLine> {
    // The legitimate class's view: its true positives are the fraud class's true negatives.
    let legit = Confusion {
        tp: c.tn,
        fp: c.fn_,
        tn: c.tp,
        fn_: c.fp,
    };
    let line = |label: &str, k: &Confusion| ClassLine {
        label: label.into(),
        precision: k.precision(),
        recall: k.recall(),
        f1: k.f1(),
        support: k.tp + k.fn_,
    };
    let (l0, l1) = (line("legit (0)", &legit), line("fraud (1)", &c));
    let total = (l0.support + l1.support) as f64;
    let average = |label: &str, w0: f64, w1: f64| ClassLine {
        label: label.into(),
        precision: l0.precision * w0 + l1.precision * w1,
        recall: l0.recall * w0 + l1.recall * w1,
        f1: l0.f1 * w0 + l1.f1 * w1,
        support: l0.support + l1.support,
    };
    let accuracy = (c.tp + c.tn) as f64 / total.max(1.0);
    vec![
        l0.clone(),
        l1.clone(),
        ClassLine {
            label: "accuracy".into(),
            precision: f64::NAN,
            recall: f64::NAN,
            f1: accuracy,
            support: l0.support + l1.support,
        },
        average("macro avg", 0.5, 0.5),
        average(
            "weighted avg",
            l0.support as f64 / total.max(1.0),
            l1.support as f64 / total.max(1.0),
        ),
    ]
}

/// The drift of every feature against its reference statistics, with the thresholds used.
fn drift_section(reference: &[FeatureStats], columns: &[Vec<f64>]) -> DriftSection {
    let features: Vec<FeatureDrift> = reference
        .iter()
        .zip(columns)
        .map(|(stats, column)| feature_drift(stats, column))
        .collect();
    let drifted = features
        .iter()
        .filter(|f| f.level == DriftLevel::Drifted)
        .map(|f| f.feature.clone())
        .collect();
    DriftSection {
        psi_watch: PSI_WATCH,
        psi_drift: PSI_DRIFT,
        ks_drift: KS_DRIFT,
        drifted,
        features,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fraud_core::schema::DateTimeText;
    use fraud_core::stats::FeatureStats;

    /// A transaction at `time` (both clocks) of `card` for `amt`.
    fn txn(time: i64, label: Option<u8>, amt: f64, card: u64) -> Transaction {
        let mut t = fraud_core::testing::sample_transaction();
        t.trans_date_trans_time = DateTimeText(time);
        t.unix_time = time;
        t.is_fraud = label;
        t.amt = amt;
        t.cc_num = card;
        t
    }

    fn context(threshold: Option<f64>) -> ReportContext {
        ReportContext {
            model_version: Some("gbdt-test".into()),
            threshold,
            reference: "model.bin".into(),
            current: "current.csv".into(),
            generated_at: "2026-11-24T00:00:00Z".into(),
        }
    }

    /// 90 days of rows; feature 0 shifts upwards in `current` when `shift`.
    fn rows(labelled: bool, shift: f64) -> (ReportCollector, Vec<FeatureStats>) {
        let mut reference_columns = vec![Vec::new(); N_FEATURES];
        let mut collector = ReportCollector::new();
        for i in 0..9_000u32 {
            let u = f64::from(i % 100) / 100.0;
            let mut x = [0.0; N_FEATURES];
            for (f, column) in reference_columns.iter_mut().enumerate() {
                column.push(u + f as f64);
                x[f] = u + f as f64;
            }
            x[0] += shift;
            let fraud = i % 50 == 0;
            let p = if fraud { 0.6 + u * 0.4 } else { u * 0.7 };
            let t = txn(
                1_600_000_000 + i64::from(i) * 864,
                labelled.then_some(u8::from(fraud)),
                if fraud { 40.0 } else { 2.5 },
                4_917_263_058_000 + u64::from(i),
            );
            collector.add(&t, p, p >= 0.5, &x);
        }
        let reference = reference_columns
            .iter()
            .enumerate()
            .map(|(f, c)| FeatureStats::of(fraud_core::features::FEATURE_NAMES[f], c))
            .collect();
        (collector, reference)
    }

    #[test]
    fn a_labelled_report_has_every_section_and_consistent_numbers() {
        let (collector, reference) = rows(true, 0.5);
        let collector_debug = format!("{collector:?}");
        let report = collector.finish(context(Some(0.5)), &reference);
        let m = report.metrics.as_ref().unwrap();
        assert_eq!((m.rows, m.frauds), (9_000, 180));
        assert_eq!(report.summary.frauds, Some(180));
        assert_eq!(report.period, "week");
        assert_eq!(
            report.periods.iter().map(|p| p.rows).sum::<u64>(),
            report.summary.rows
        );
        // Every fraud scores at least 0.6 and is declined; a legitimate row is declined when
        // 0.7 * (i % 100) / 100 >= 0.5, i.e. i % 100 >= 72: 28 of each 100, 2,520 of 8,820.
        let v = report.value.as_ref().unwrap();
        assert_eq!(
            (v.fraud_dollars, v.fraud_dollars_caught),
            (7_200.0, 7_200.0)
        );
        assert_eq!(v.value_detection_rate, 1.0);
        assert_eq!(v.good_dollars_declined, 2_520.0 * 2.5);
        assert_eq!(v.false_decline_rate, 2_520.0 / 8_820.0);
        assert_eq!(v.false_decline_rate, m.confusion.fp as f64 / 8_820.0);
        // 9,000 rows 864 s apart from 2020-09-13 12:26:40 UTC: 91 days.
        assert_eq!(v.card_precision_days, 91);
        assert!(v.card_precision_at_100 > 0.0 && v.card_precision_at_100 <= 1.0);
        let lines = report.classification.as_ref().unwrap();
        assert_eq!(lines[1].support, 180);
        assert_eq!(lines[1].recall, m.recall);
        assert_eq!(
            report.drift.drifted,
            vec![fraud_core::features::FEATURE_NAMES[0].to_owned()]
        );
        let html = html::render(&report);
        for id in ["headline", "classification", "periods", "drift"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        for plot in [
            "precision-recall curve",
            "ROC curve",
            "score histogram by class",
            "precision and recall against threshold",
            "metrics over time",
        ] {
            assert!(html.contains(&format!("aria-label=\"{plot}\"")), "{plot}");
        }
        assert_eq!(html.matches("class=\"plot drift\"").count(), N_FEATURES);
        assert!(!html.contains("NaN") && !html.contains("inf") && !html.contains("<script"));
        assert!(!html.contains("no-labels"));
        for card in [
            "value detection rate ($7,200 of $7,200 fraud caught)",
            "<b>$6,300</b>good spend declined",
            "false-decline rate",
            "recall at 0.1 % FPR",
            "card precision@100 (mean of 91 days)",
        ] {
            assert!(html.contains(card), "headline card {card}");
        }
        let json: serde_json::Value = serde_json::to_value(report.metrics_file()).unwrap();
        let m = &json["metrics"];
        assert_eq!(
            m["auc_pr"].as_f64(),
            Some(report.metrics.as_ref().unwrap().auc_pr)
        );
        assert_eq!(m["value_detection_rate"].as_f64(), Some(1.0));
        assert_eq!(m["good_dollars_declined"].as_f64(), Some(6_300.0));
        assert_eq!(m["card_precision_days"].as_u64(), Some(91));
        for key in [
            "fraud_dollars",
            "fraud_dollars_caught",
            "false_decline_rate",
            "recall_at_0_1pct_fpr",
            "card_precision_at_100",
        ] {
            assert!(m[key].is_number(), "{key}: {m}");
        }
        // Card numbers are grouped on in memory, and shown nowhere.
        let text = format!("{html}{json}{report:?}{collector_debug}");
        assert!(!text.contains("4917263058"), "a card number in the output");
        assert!(collector_debug.contains("9000 card numbers, not shown"));
    }

    #[test]
    fn without_labels_the_label_sections_are_left_out_and_said_so() {
        let (collector, reference) = rows(false, 0.0);
        let report = collector.finish(context(None), &reference);
        assert!(
            report.metrics.is_none()
                && report.value.is_none()
                && report.classification.is_none()
                && report.curve.is_none()
        );
        assert!(
            report.drift.drifted.is_empty(),
            "{:?}",
            report.drift.drifted
        );
        let html = html::render(&report);
        assert!(html.contains("id=\"no-labels\"") && !html.contains("id=\"classification\""));
        assert!(html.contains("aria-label=\"score histogram by class\""));
        assert!(!html.contains("value detection rate") && !html.contains("card precision"));
        assert!(report.metrics_file().metrics.is_none());
    }

    #[test]
    fn a_short_period_is_reported_by_day() {
        let mut collector = ReportCollector::new();
        for i in 0..10 {
            // Four cards; card 3 has the fraud; every score ties.
            let t = txn(
                86_400 * 3 + i * 7_200,
                Some(u8::from(i == 3)),
                12.34,
                1_000_000_000 + (i as u64 % 4),
            );
            collector.add(&t, 0.1, false, &[0.0; N_FEATURES]);
        }
        let report = collector.finish(context(Some(0.5)), &[]);
        assert_eq!(report.period, "day");
        assert_eq!(report.periods.len(), 1);
        assert_eq!(report.periods[0].start, "1970-01-04");
        // Nothing declined; the day's four cards all fit in the top 100, one is a fraud card.
        let v = report.value.unwrap();
        assert_eq!(
            (
                v.fraud_dollars,
                v.fraud_dollars_caught,
                v.value_detection_rate
            ),
            (12.34, 0.0, 0.0)
        );
        assert_eq!((v.good_dollars_declined, v.false_decline_rate), (0.0, 0.0));
        assert_eq!((v.card_precision_at_100, v.card_precision_days), (0.25, 1));
    }
}
