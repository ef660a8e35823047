//! CloudWatch Embedded Metric Format: one JSON log line that CloudWatch turns into metrics,
//! so dashboards and alarms need no agent and no API calls from the function
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).
//! On Lambda, stdout is the log stream.

use serde_json::{Map, Value, json};

/// The metric namespace of every function.
pub const NAMESPACE: &str = "FraudScoring";

/// A metric: name, unit (`Count`, `Milliseconds`, `Seconds`, `None`), value.
pub type Metric<'a> = (&'a str, &'a str, f64);

/// One directive: the dimension names (their values are in `properties`) and its metrics.
pub struct Directive<'a> {
    pub dimensions: &'a [&'a str],
    pub metrics: &'a [Metric<'a>],
}

/// The EMF line for `directives`; `properties` holds the dimension values and any context
/// (searchable in Logs Insights, not metrics). Non-finite values are left out (EMF refuses them).
pub fn line(
    timestamp_ms: i64,
    properties: &[(&str, Value)],
    directives: &[Directive<'_>],
) -> String {
    let mut root = Map::new();
    for (k, v) in properties {
        root.insert((*k).to_owned(), v.clone());
    }
    let mut blocks = Vec::new();
    for d in directives {
        let metrics: Vec<&Metric<'_>> = d.metrics.iter().filter(|m| m.2.is_finite()).collect();
        if metrics.is_empty() {
            continue;
        }
        for (name, _, value) in &metrics {
            root.insert((*name).to_owned(), json!(value));
        }
        blocks.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": [d.dimensions],
            "Metrics": metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
        }));
    }
    root.insert(
        "_aws".into(),
        json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": blocks}),
    );
    Value::Object(root).to_string()
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The probability bucket label of a score: `0.0-0.1`, ..., `0.9-1.0` (a histogram that
/// CloudWatch can graph as ten stacked series).
pub fn probability_bucket(p: f64) -> &'static str {
    const BUCKETS: [&str; 10] = [
        "0.0-0.1", "0.1-0.2", "0.2-0.3", "0.3-0.4", "0.4-0.5", "0.5-0.6", "0.6-0.7", "0.7-0.8",
        "0.8-0.9", "0.9-1.0",
    ];
    BUCKETS[((p * 10.0) as usize).min(9)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_follows_the_specification() {
        let text = line(
            1_700_000_000_000,
            &[
                ("Service", json!("score")),
                ("ProbabilityBucket", json!("0.9-1.0")),
            ],
            &[
                Directive {
                    dimensions: &["Service"],
                    metrics: &[
                        ("Requests", "Count", 1.0),
                        ("LatencyMs", "Milliseconds", f64::NAN),
                    ],
                },
                Directive {
                    dimensions: &["Service", "ProbabilityBucket"],
                    metrics: &[("Scored", "Count", 1.0)],
                },
            ],
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let blocks = v["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0]["Namespace"], NAMESPACE);
        assert_eq!(blocks[0]["Dimensions"], json!([["Service"]]));
        assert_eq!(
            blocks[0]["Metrics"],
            json!([{"Name": "Requests", "Unit": "Count"}])
        );
        assert_eq!(
            (v["Requests"].as_f64(), v["Scored"].as_f64()),
            (Some(1.0), Some(1.0))
        );
        assert!(v.get("LatencyMs").is_none(), "NaN is left out");
        assert_eq!(v["Service"], "score");
        assert!(!text.contains('\n'));
        assert_eq!(probability_bucket(0.95), "0.9-1.0");
        assert_eq!(probability_bucket(1.0), "0.9-1.0");
        assert_eq!(probability_bucket(0.0), "0.0-0.1");
    }
}
