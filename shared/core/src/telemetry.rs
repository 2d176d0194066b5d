//! Logs and metrics. Logs go through `tracing` (JSON in Lambda); metrics are CloudWatch Embedded
//! Metric Format lines on stdout (namespace `Stockbridge`), which CloudWatch turns into metrics
//! with no API call. Each metric is published with no dimension (what the template's alarms
//! watch) and, when given, per `Reason`. A copy of every count is kept in memory so tests and
//! the drill report can read what was emitted.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use stockbridge_domain::ids::Timestamp;

pub const NAMESPACE: &str = "Stockbridge";

#[derive(Clone, Copy, Debug)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// Emits metrics for one function. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    function: &'static str,
    emit: bool,
    /// Keep every timing value (tests, drills); in production only totals are kept.
    keep_values: bool,
    seen: Arc<Mutex<HashMap<String, f64>>>,
    /// Every value of timing metrics, for drills (bounded), with the second it was put.
    values: Arc<Mutex<HashMap<String, Timeline>>>,
}

/// (Unix seconds, value) pairs.
type Timeline = Vec<(f64, f64)>;

/// At most this many values are kept per metric name, by [`Metrics::silent`] only.
pub const MAX_VALUES: usize = 1_000_000;

impl Metrics {
    /// Metrics that print EMF lines to stdout (the functions). Only the totals per name are kept
    /// in memory, never the values: a long-lived Lambda does not grow.
    pub fn new(function: &'static str) -> Self {
        Metrics {
            function,
            emit: std::env::var_os("STOCKBRIDGE_METRICS_OFF").is_none(),
            keep_values: false,
            seen: Arc::default(),
            values: Arc::default(),
        }
    }

    /// Metrics that are only counted in memory, timings included, up to [`MAX_VALUES`] per name
    /// (tests, drills).
    pub fn silent(function: &'static str) -> Self {
        Metrics {
            function,
            emit: false,
            keep_values: true,
            seen: Arc::default(),
            values: Arc::default(),
        }
    }

    /// Publishes `value` of `name`, optionally per `reason`.
    pub fn put(&self, name: &str, value: f64, unit: Unit, reason: Option<&str>) {
        if let Ok(mut seen) = self.seen.lock() {
            *seen.entry(name.to_string()).or_default() += value;
            if let Some(r) = reason {
                *seen.entry(format!("{name}/{r}")).or_default() += value;
            }
        }
        if self.keep_values && matches!(unit, Unit::Milliseconds) {
            if let Ok(mut values) = self.values.lock() {
                let list = values.entry(name.to_string()).or_default();
                if list.len() < MAX_VALUES {
                    list.push((Timestamp::now().0 as f64 / 1e9, value));
                }
            }
        }
        if !self.emit {
            return;
        }
        let dimensions = if reason.is_some() {
            serde_json::json!([[], ["Reason"]])
        } else {
            serde_json::json!([[]])
        };
        let mut line = serde_json::json!({
            "_aws": {
                "Timestamp": Timestamp::now().as_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": dimensions,
                    "Metrics": [{"Name": name, "Unit": unit.as_str()}],
                }],
            },
            "Function": self.function,
        });
        line[name] = serde_json::json!(value);
        if let Some(r) = reason {
            line["Reason"] = serde_json::json!(r);
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }

    pub fn count(&self, name: &str, reason: Option<&str>) {
        self.put(name, 1.0, Unit::Count, reason);
    }

    /// Every value of a timing metric emitted so far (drills, tests).
    pub fn values(&self, name: &str) -> Vec<f64> {
        self.timeline(name).into_iter().map(|(_, v)| v).collect()
    }

    /// Every value of a timing metric with when it was put (Unix seconds).
    pub fn timeline(&self, name: &str) -> Vec<(f64, f64)> {
        self.values
            .lock()
            .map(|v| v.get(name).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// The total emitted so far for `name` (or `name/reason`).
    pub fn total(&self, name: &str) -> f64 {
        self.seen
            .lock()
            .map(|s| s.get(name).copied().unwrap_or(0.0))
            .unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_metrics_keep_totals_not_values() {
        let production = Metrics::new("t");
        let drill = Metrics::silent("t");
        for i in 0..1000 {
            production.put("LatencyMs", f64::from(i), Unit::Milliseconds, None);
            drill.put("LatencyMs", f64::from(i), Unit::Milliseconds, None);
        }
        assert!(production.values("LatencyMs").is_empty());
        assert_eq!(production.total("LatencyMs"), 499_500.0);
        assert_eq!(drill.values("LatencyMs").len(), 1000);
    }
}
