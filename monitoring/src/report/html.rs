//! `report.html`: one self-contained page (inline CSS and SVG, no script, no font or CDN), so it
//! opens offline, from an S3 download or an MLflow artifact view alike.

use std::fmt::Write;

use super::{ClassLine, DriftSection, HISTOGRAM_BINS, Period, Report};
use crate::drift::{DriftLevel, FeatureDrift};
use fraud_core::metrics::{CurvePoint, Metrics, ValueMetrics, format_dollars};

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;color:#1d2330;padding:0 16px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde;padding-bottom:4px}\
.muted{color:#667}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}\
.card{border:1px solid #dde;border-radius:6px;padding:8px 12px;min-width:110px}.card b{display:block;font-size:19px}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(330px,1fr));gap:14px}\
figure{margin:0;border:1px solid #eef;border-radius:6px;padding:6px}figcaption{font-size:12px;color:#556}\
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eef;text-align:right}\
th:first-child,td:first-child{text-align:left}.drifted{color:#b3261e;font-weight:600}.watch{color:#9a6700}\
.note{background:#f6f7fb;border-left:3px solid #99a;padding:6px 10px}svg text{font:11px system-ui,sans-serif;fill:#445}";

const BLUE: &str = "#2f6fdf";
const RED: &str = "#d1352b";
const GREY: &str = "#8a94a6";

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "–".into()
    }
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2} %", x * 100.0)
    } else {
        "–".into()
    }
}

/// A line chart over [0, 1] x [0, 1] (curves), with optional vertical marker.
struct Chart {
    width: f64,
    height: f64,
    left: f64,
    bottom: f64,
}

impl Chart {
    const STD: Chart = Chart {
        width: 340.0,
        height: 240.0,
        left: 40.0,
        bottom: 30.0,
    };

    fn x(&self, v: f64) -> f64 {
        self.left + v.clamp(0.0, 1.0) * (self.width - self.left - 10.0)
    }

    fn y(&self, v: f64) -> f64 {
        (self.height - self.bottom) - v.clamp(0.0, 1.0) * (self.height - self.bottom - 10.0)
    }

    /// An open `<svg>` with the grid, ticks and axis labels drawn; [`figure`] closes it.
    fn open(&self, label: &str, x_label: &str, y_label: &str) -> String {
        let mut out = String::new();
        let (w, h) = (self.width, self.height);
        let _ = write!(
            out,
            "<svg class=\"plot\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\">",
            esc(label)
        );
        for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let (x, y) = (self.x(t), self.y(t));
            let _ = write!(
                out,
                "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#eef\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{t}</text>\
                 <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{t}</text>",
                self.x(0.0),
                self.x(1.0),
                self.left - 4.0,
                y + 4.0,
                h - self.bottom + 14.0
            );
        }
        let _ = write!(
            out,
            "<line x1=\"{l}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#99a\"/><line x1=\"{l}\" y1=\"{b}\" x2=\"{l}\" y2=\"10\" stroke=\"#99a\"/>\
             <text x=\"{cx}\" y=\"{h2}\" text-anchor=\"middle\">{}</text><text x=\"10\" y=\"{cy}\" transform=\"rotate(-90 10 {cy})\" text-anchor=\"middle\">{}</text>",
            esc(x_label),
            esc(y_label),
            l = self.x(0.0),
            r = self.x(1.0),
            b = self.y(0.0),
            cx = (self.x(0.0) + self.x(1.0)) / 2.0,
            h2 = h - 2.0,
            cy = (self.y(0.0) + self.y(1.0)) / 2.0,
        );
        out
    }

    fn line(&self, out: &mut String, points: impl Iterator<Item = (f64, f64)>, color: &str) {
        let path: Vec<String> = points
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| format!("{:.1},{:.1}", self.x(x), self.y(y)))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\" points=\"{}\"/>",
            path.join(" ")
        );
    }

    /// A line that breaks where a point is missing rather than bridging the gap; a lone point
    /// is a dot.
    fn broken_line(&self, out: &mut String, points: &[Option<(f64, f64)>], color: &str) {
        for run in points.split(Option::is_none) {
            let run: Vec<(f64, f64)> = run.iter().flatten().copied().collect();
            match run.as_slice() {
                [] => {}
                [(x, y)] => {
                    let _ = write!(
                        out,
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"/>",
                        self.x(*x),
                        self.y(*y)
                    );
                }
                _ => self.line(out, run.iter().copied(), color),
            }
        }
    }

    fn marker(&self, out: &mut String, x: f64, label: &str) {
        let _ = write!(
            out,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"10\" stroke=\"#333\" stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"20\">{}</text>",
            self.y(0.0),
            x + 3.0,
            esc(label),
            x = self.x(x)
        );
    }

    fn legend(&self, out: &mut String, items: &[(&str, &str)]) {
        for (k, (name, color)) in items.iter().enumerate() {
            let y = 18.0 + 14.0 * k as f64;
            let x = self.width - 120.0;
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"3\" fill=\"{color}\"/><text x=\"{}\" y=\"{y}\">{}</text>",
                y - 4.0,
                x + 14.0,
                esc(name)
            );
        }
    }
}

fn figure(out: &mut String, svg: String, caption: &str) {
    let _ = write!(
        out,
        "<figure>{svg}</svg><figcaption>{}</figcaption></figure>",
        esc(caption)
    );
}

fn bars(chart: &Chart, out: &mut String, series: &[(&[f64], &str)]) {
    let max = series
        .iter()
        .flat_map(|(v, _)| v.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let n = series.first().map_or(0, |(v, _)| v.len()).max(1) as f64;
    let slot = 1.0 / n;
    let width = chart.x(slot) - chart.x(0.0);
    let each = width / series.len() as f64;
    for (s, (values, color)) in series.iter().enumerate() {
        for (i, &v) in values.iter().enumerate() {
            let top = chart.y(v / max);
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" fill-opacity=\"0.75\"/>",
                chart.x(i as f64 * slot) + each * s as f64,
                (each - 0.5).max(0.5),
                chart.y(0.0) - top
            );
        }
    }
}

fn drift_plot(f: &FeatureDrift) -> String {
    let chart = Chart {
        width: 180.0,
        height: 46.0,
        left: 2.0,
        bottom: 2.0,
    };
    let mut out = format!(
        "<svg class=\"plot drift\" role=\"img\" aria-label=\"{} reference and current shares per bin\" viewBox=\"0 0 180 46\" width=\"180\" height=\"46\">",
        esc(&f.feature)
    );
    let reference: Vec<f64> = f.bins.iter().map(|b| b.reference).collect();
    let current: Vec<f64> = f.bins.iter().map(|b| b.current).collect();
    bars(&chart, &mut out, &[(&reference, GREY), (&current, BLUE)]);
    let titles: Vec<String> = f
        .bins
        .iter()
        .map(|b| format!("{}: {} vs {}", b.label, pct(b.reference), pct(b.current)))
        .collect();
    let _ = write!(out, "<title>{}</title></svg>", esc(&titles.join("; ")));
    out
}

fn class_table(lines: &[ClassLine]) -> String {
    let mut out = String::from(
        "<table id=\"classification\"><tr><th></th><th>precision</th><th>recall</th><th>f1-score</th><th>support</th></tr>",
    );
    for l in lines {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.label),
            num(l.precision, 4),
            num(l.recall, 4),
            num(l.f1, 4),
            l.support
        );
    }
    out + "</table>"
}

/// The decision policy replayed on these rows: the whole policy against its thresholds alone and
/// the model's threshold, then what each list and rule decided.
fn policy_section(out: &mut String, b: &fraud_policy::BacktestReport) {
    let prices = format!(
        "a false decline costs {}, a review {}",
        match b.false_decline_cost {
            fraud_policy::FalseDeclineCost::Amount => "its amount".to_owned(),
            fraud_policy::FalseDeclineCost::Dollars(d) => format_dollars(d),
        },
        b.review_cost
            .map_or("nothing (off)".to_owned(), format_dollars)
    );
    let _ = write!(
        out,
        "<h2>Decision policy backtest</h2><p class=\"muted\">policy {} · model {} · {}</p><table id=\"policy\"><tr><th></th><th>cost</th><th>value detection</th><th>frauds caught</th><th>false declines</th><th>good spend declined</th><th>reviews</th></tr>",
        esc(&b.policy_version),
        esc(&b.model_version),
        esc(&prices)
    );
    for (name, f) in [
        ("policy", &b.policy),
        ("its thresholds alone", &b.thresholds_only),
        ("the model's threshold", &b.model_only),
    ] {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} of {}</td><td>{}</td><td>{}</td><td>{} ({})</td></tr>",
            esc(name),
            esc(&format_dollars(f.cost)),
            num(f.value_detection_rate, 4),
            f.frauds_caught,
            f.frauds,
            f.false_declines,
            esc(&format_dollars(f.false_decline_dollars)),
            f.reviews,
            num(f.review_rate, 4)
        );
    }
    out.push_str("</table><table id=\"policy-rules\"><tr><th>decided by</th><th>outcome</th><th>transactions</th><th>frauds</th><th>fraud $</th><th>good</th><th>good $</th></tr>");
    for r in &b.by_rule {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.rule),
            r.outcome.as_str(),
            r.transactions,
            r.frauds,
            esc(&format_dollars(r.fraud_dollars)),
            r.good,
            esc(&format_dollars(r.good_dollars))
        );
    }
    out.push_str("</table>");
}

/// The page: one section after the other, each written by its own step.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(256 * 1024);
    page_head(&mut out, report);
    headline(&mut out, report);
    model_quality(&mut out, report);
    if let Some(lines) = &report.classification {
        out.push_str("<h2>Classification report</h2>");
        out.push_str(&class_table(lines));
    }
    over_time(&mut out, report);
    if let Some(backtest) = &report.backtest {
        policy_section(&mut out, backtest);
    }
    drift_section(&mut out, &report.drift);
    out.push_str("</body></html>\n");
    out
}

/// The document head and the title line: which model, on which data, against which reference.
fn page_head(out: &mut String, r: &Report) {
    let (s, c) = (&r.summary, &r.context);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Fraud model monitoring: {}</title><style>{CSS}</style></head><body>",
        esc(c.model_version.as_deref().unwrap_or("unknown model"))
    );
    let _ = write!(
        out,
        "<h1>Fraud model monitoring</h1><p class=\"muted\">model {} · data {} · reference {} · {} to {} · generated {}</p>",
        esc(c.model_version.as_deref().unwrap_or("unknown")),
        esc(&c.current),
        esc(&c.reference),
        esc(s.first_day.as_deref().unwrap_or("–")),
        esc(s.last_day.as_deref().unwrap_or("–")),
        esc(&c.generated_at)
    );
}

/// One headline number with its name under it.
fn card(out: &mut String, name: &str, value: String) {
    let _ = write!(
        out,
        "<div class=\"card\"><b>{}</b>{}</div>",
        esc(&value),
        esc(name)
    );
}

/// The headline cards (the label-based ones only with labels), then a note saying which
/// sections are left out when the file has no labels.
fn headline(out: &mut String, r: &Report) {
    let s = &r.summary;
    out.push_str("<div class=\"cards\" id=\"headline\">");
    card(out, "rows", s.rows.to_string());
    card(
        out,
        "denied",
        format!("{} ({})", s.denied, pct(s.deny_rate)),
    );
    if let Some(m) = &r.metrics {
        metric_cards(out, m);
    }
    if let Some(v) = &r.value {
        value_cards(out, v);
    }
    card(
        out,
        "threshold",
        r.context.threshold.map_or("unknown".into(), |t| num(t, 4)),
    );
    card(out, "drifted features", r.drift.drifted.len().to_string());
    out.push_str("</div>");
    if !s.labelled {
        out.push_str(
            "<p class=\"note\" id=\"no-labels\">This file has no labels (<code>is_fraud</code>) on every row, so the \
             label-based sections (metrics, curves, classification report, precision and recall over time) are left out. \
             Score distribution, decisions over time and data drift do not need labels and are below.</p>",
        );
    }
}

/// The model's metrics at its decisions.
fn metric_cards(out: &mut String, m: &Metrics) {
    card(
        out,
        "frauds",
        format!(
            "{} ({})",
            m.frauds,
            pct(m.frauds as f64 / (m.rows.max(1)) as f64)
        ),
    );
    card(out, "AUC-PR", num(m.auc_pr, 4));
    card(out, "AUC-ROC", num(m.auc_roc, 4));
    card(out, "precision", num(m.precision, 4));
    card(out, "recall", num(m.recall, 4));
    card(out, "F1", num(m.f1, 4));
    card(out, "recall at 1 % FPR", num(m.recall_at_1pct_fpr, 4));
}

/// The same decisions in dollars and cards.
fn value_cards(out: &mut String, v: &ValueMetrics) {
    card(
        out,
        &format!(
            "value detection rate ({} of {} fraud caught)",
            format_dollars(v.fraud_dollars_caught),
            format_dollars(v.fraud_dollars)
        ),
        pct(v.value_detection_rate),
    );
    card(
        out,
        "good spend declined",
        format_dollars(v.good_dollars_declined),
    );
    card(
        out,
        "false-decline rate",
        if v.false_decline_rate.is_finite() {
            format!("{:.3} %", v.false_decline_rate * 100.0)
        } else {
            "–".into()
        },
    );
    card(out, "recall at 0.1 % FPR", num(v.recall_at_0_1pct_fpr, 4));
    card(
        out,
        &format!(
            "card precision@100 (mean of {} days)",
            v.card_precision_days
        ),
        num(v.card_precision_at_100, 4),
    );
}

/// "Model quality": the label-based curves when there are labels, and the score histogram.
fn model_quality(out: &mut String, r: &Report) {
    out.push_str("<h2>Model quality</h2><div class=\"grid\">");
    if let Some(curve) = &r.curve {
        precision_recall_chart(out, curve);
        roc_chart(out, curve);
        threshold_chart(out, curve, r.context.threshold);
    }
    score_histogram(out, r);
    out.push_str("</div>");
}

/// Precision against recall.
fn precision_recall_chart(out: &mut String, curve: &[CurvePoint]) {
    let chart = Chart::STD;
    let mut svg = chart.open("precision-recall curve", "recall", "precision");
    chart.line(
        &mut svg,
        curve.iter().map(|p| (p.recall, p.precision)),
        BLUE,
    );
    figure(out, svg, "Precision against recall over every threshold.");
}

/// The ROC curve, from the origin, over the diagonal of a random score.
fn roc_chart(out: &mut String, curve: &[CurvePoint]) {
    let chart = Chart::STD;
    let mut svg = chart.open("ROC curve", "false-positive rate", "true-positive rate");
    chart.line(&mut svg, [(0.0, 0.0), (1.0, 1.0)].into_iter(), "#ccd");
    chart.line(
        &mut svg,
        [(0.0, 0.0)]
            .into_iter()
            .chain(curve.iter().map(|p| (p.fpr, p.recall))),
        BLUE,
    );
    figure(out, svg, "ROC curve (diagonal: a random score).");
}

/// Precision and recall against the threshold, with the model's own threshold marked.
fn threshold_chart(out: &mut String, curve: &[CurvePoint], threshold: Option<f64>) {
    let chart = Chart::STD;
    let mut svg = chart.open("precision and recall against threshold", "threshold", "");
    let mut by_t: Vec<_> = curve.iter().filter(|p| p.threshold.is_finite()).collect();
    by_t.sort_by(|a, b| a.threshold.total_cmp(&b.threshold));
    chart.line(
        &mut svg,
        by_t.iter().map(|p| (p.threshold, p.precision)),
        BLUE,
    );
    chart.line(&mut svg, by_t.iter().map(|p| (p.threshold, p.recall)), RED);
    chart.legend(&mut svg, &[("precision", BLUE), ("recall", RED)]);
    if let Some(t) = threshold {
        chart.marker(&mut svg, t, &format!("threshold {}", num(t, 3)));
    }
    figure(
        out,
        svg,
        "Precision and recall if the decision threshold were moved; the dashed line is the model's.",
    );
}

/// The score histogram, by true class when there are labels.
fn score_histogram(out: &mut String, r: &Report) {
    let chart = Chart::STD;
    let mut svg = chart.open(
        "score histogram by class",
        "fraud probability",
        "share of class (scaled)",
    );
    match &r.histograms.fraud {
        Some(fraud) => {
            bars(
                &chart,
                &mut svg,
                &[(&r.histograms.legit_or_all, GREY), (fraud, RED)],
            );
            chart.legend(&mut svg, &[("legit", GREY), ("fraud", RED)]);
        }
        None => bars(&chart, &mut svg, &[(&r.histograms.legit_or_all, BLUE)]),
    }
    if let Some(t) = r.context.threshold {
        chart.marker(&mut svg, t, "threshold");
    }
    figure(
        out,
        svg,
        &format!(
            "Fraud probability in {HISTOGRAM_BINS} bins, each series scaled to its own tallest bin{}.",
            if r.histograms.fraud.is_some() {
                ", by true class"
            } else {
                ""
            }
        ),
    );
}

/// "Over time": the chart (given two periods or more to draw between) and the periods table.
fn over_time(out: &mut String, r: &Report) {
    let _ = write!(
        out,
        "<h2>Over time (by {})</h2><div class=\"grid\">",
        esc(&r.period)
    );
    if r.periods.len() > 1 {
        periods_chart(out, r);
    }
    out.push_str("</div>");
    periods_table(out, r);
}

/// The deny rate per period (scaled to its maximum) and, with labels, the decisions' precision
/// and recall.
fn periods_chart(out: &mut String, r: &Report) {
    let labelled = r.summary.labelled;
    let n = (r.periods.len() - 1) as f64;
    let chart = Chart::STD;
    let mut svg = chart.open(
        "metrics over time",
        &format!("{} (first to last)", r.period),
        "",
    );
    let max_deny = r
        .periods
        .iter()
        .map(|p| p.deny_rate)
        .fold(0.0, f64::max)
        .max(1e-9);
    chart.line(
        &mut svg,
        r.periods
            .iter()
            .enumerate()
            .map(|(i, p)| (i as f64 / n, p.deny_rate / max_deny)),
        GREY,
    );
    let mut legend = vec![("deny rate (scaled)", GREY)];
    if labelled {
        // A period without frauds (or without denials) has no recall (precision).
        type Series = (fn(&Period) -> Option<f64>, &'static str);
        let series: [Series; 2] = [(|p| p.precision, BLUE), (|p| p.recall, RED)];
        for (value, color) in series {
            let points: Vec<Option<(f64, f64)>> = r
                .periods
                .iter()
                .enumerate()
                .map(|(i, p)| value(p).map(|v| (i as f64 / n, v)))
                .collect();
            chart.broken_line(&mut svg, &points, color);
        }
        legend.extend([("precision", BLUE), ("recall", RED)]);
    }
    chart.legend(&mut svg, &legend);
    figure(
        out,
        svg,
        &format!(
            "Per {}: deny rate (scaled to its maximum, {}){}.",
            r.period,
            pct(max_deny),
            if labelled {
                ", precision and recall of the decisions"
            } else {
                ""
            }
        ),
    );
}

/// One table row per period; the label-based columns only with labels.
fn periods_table(out: &mut String, r: &Report) {
    let labelled = r.summary.labelled;
    out.push_str(
        "<table id=\"periods\"><tr><th>from</th><th>rows</th><th>denied</th><th>deny rate</th>",
    );
    if labelled {
        out.push_str("<th>frauds</th><th>precision</th><th>recall</th><th>AUC-PR</th>");
    }
    out.push_str("</tr>");
    for p in &r.periods {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            esc(&p.start),
            p.rows,
            p.denied,
            pct(p.deny_rate)
        );
        if labelled {
            let opt = |v: Option<f64>| v.map_or("–".into(), |v| num(v, 4));
            let _ = write!(
                out,
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                p.frauds.unwrap_or(0),
                opt(p.precision),
                opt(p.recall),
                opt(p.auc_pr)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// "Data drift": the thresholds and the drifted features in words, then one row per feature
/// with its numbers and bin plot.
fn drift_section(out: &mut String, d: &DriftSection) {
    let _ = write!(
        out,
        "<h2>Data drift</h2><p>Each feature of this file against the training data's statistics stored in the model \
         (reference deciles plus a missing-value bin). <b>Drifted</b>: PSI ≥ {} or KS ≥ {}; <b>watch</b>: PSI ≥ {}. \
         Plots: grey reference, blue current share per bin. {} of {} features drifted{}.</p>",
        d.psi_drift,
        d.ks_drift,
        d.psi_watch,
        d.drifted.len(),
        d.features.len(),
        if d.drifted.is_empty() {
            String::new()
        } else {
            format!(": {}", esc(&d.drifted.join(", ")))
        }
    );
    out.push_str("<table id=\"drift\"><tr><th>feature</th><th>PSI</th><th>KS</th><th>verdict</th><th>mean (ref → cur)</th><th>missing (ref → cur)</th><th>bins</th></tr>");
    for f in &d.features {
        let class = match f.level {
            DriftLevel::Drifted => "drifted",
            DriftLevel::Watch => "watch",
            DriftLevel::Stable => "stable",
        };
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{class}</td><td>{} → {}</td><td>{} → {}</td><td>{}</td></tr>",
            esc(&f.feature),
            num(f.psi, 3),
            num(f.ks, 3),
            num(f.reference_mean, 3),
            num(f.current_mean, 3),
            pct(f.reference_missing),
            pct(f.current_missing),
            drift_plot(f)
        );
    }
    out.push_str("</table>");
}
