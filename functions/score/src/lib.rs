//! The score Lambda's own part: CloudWatch EMF lines of its decisions (counts, latency, the
//! probability and its bucket), so dashboards and alarms need no extra code. Everything else is
//! the scoring service (`fraud-service`); its settings come from the environment ([`settings`]);
//! `main.rs` only wires.

pub mod settings;

use std::sync::Arc;

use fraud_service::Prediction;
use fraud_service::service::DecisionSink;

/// A sink that writes each decision's EMF line to `out` (stdout on Lambda).
pub fn emf_sink(out: impl Fn(&str) + Send + Sync + 'static) -> DecisionSink {
    Arc::new(move |p: &Prediction, latency_us: u64| out(&decision_line(p, latency_us)))
}

/// EMF lines to stdout, where the Lambda runtime hands them to CloudWatch.
pub fn stdout_emf_sink() -> DecisionSink {
    emf_sink(|line| {
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    })
}

/// The EMF line of one decision.
pub fn decision_line(p: &Prediction, latency_us: u64) -> String {
    use fraud_lambda::emf::{Directive, line, now_ms, probability_bucket};
    line(
        now_ms(),
        &[
            ("Service", "score".into()),
            ("ModelVersion", p.model_version.clone().into()),
            (
                "ProbabilityBucket",
                probability_bucket(p.fraud_probability).into(),
            ),
        ],
        &[
            Directive {
                dimensions: &["Service"],
                metrics: &[
                    ("Requests", "Count", 1.0),
                    ("Denied", "Count", f64::from(p.prediction)),
                    (
                        "StatelessFallback",
                        "Count",
                        f64::from(u8::from(!p.card_history_used)),
                    ),
                    ("LatencyMs", "Milliseconds", latency_us as f64 / 1000.0),
                    ("FraudProbability", "None", p.fraud_probability),
                ],
            },
            Directive {
                dimensions: &["Service", "ProbabilityBucket"],
                metrics: &[("Scored", "Count", 1.0)],
            },
        ],
    )
}
