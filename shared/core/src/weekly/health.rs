//! What the weekly health report shows, gathered from what Stockbridge keeps: the week's stored
//! reconciliation reports (variance per location per run, corrections by outcome), the inbox's
//! parked events and quarantined deliveries, the dead-letter queue's depth, and sync latency
//! when a source of it is given. Pure: the handler in [`super`] fetches, this computes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ports::{ParkedEvent, QuarantineEntry};
use crate::reconcile::ReconcileReport;
use stockbridge_domain::ids::Timestamp;

/// Unmapped references listed on the page (the most frequent first); the rest are counted.
pub const UNMAPPED_LISTED: usize = 50;

/// The week one report covers: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Week {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Week {
    /// The seven days before `end`.
    pub fn ending(end: Timestamp) -> Self {
        const WEEK_NANOS: i64 = 7 * 24 * 3600 * 1_000_000_000;
        Week {
            start: Timestamp(end.0 - WEEK_NANOS),
            end,
        }
    }

    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }
}

/// One sync latency over the week (from the latency digest), when any was counted: each value
/// the upper bound of the digest's bucket holding it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub samples: u64,
    /// Per day (RFC 3339 date), p50 and p99 in milliseconds.
    #[serde(default)]
    pub daily: Vec<LatencyDay>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyDay {
    pub day: String,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One reconciliation run as the page plots it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunPoint {
    pub run: String,
    pub started_at: String,
    /// Location label (id and warehouse) to its variance, percent.
    pub variance_pct: BTreeMap<String, f64>,
    pub applied: u64,
    pub planned: u64,
    pub held: u64,
    pub stale: u64,
    pub failed: u64,
    pub alert: bool,
}

/// How often a reference the SKU map lacks is named by parked events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmappedReference {
    /// As the resolver names it: `item 123`, `location 9`, `variant 5`, `sku ABC`.
    pub reference: String,
    pub parked_events: u64,
}

/// Everything the page shows, in the order it shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeeklyHealth {
    pub shop: String,
    pub week_start: String,
    pub week_end: String,
    /// Webhook received to applied; `None`: none was counted; the page says so.
    pub latency: Option<LatencySummary>,
    /// Webhook received to acknowledged by the ERP; `None`: none was counted.
    #[serde(default)]
    pub erp_latency: Option<LatencySummary>,
    /// The week's runs, oldest first.
    pub runs: Vec<RunPoint>,
    /// Failures by kind over the week (failed, stale and held corrections; quarantined
    /// deliveries by reason code).
    pub errors: BTreeMap<String, u64>,
    /// `None`: the dead-letter queue was not read.
    pub dlq_depth: Option<u64>,
    pub parked: u64,
    pub quarantined: u64,
    pub unmapped: Vec<UnmappedReference>,
    pub unmapped_not_listed: u64,
    /// Items the newest run found without a mapping, per location label.
    pub unmapped_items: BTreeMap<String, u64>,
}

/// What was read, before it is summarised.
pub struct Readings<'a> {
    pub shop: &'a str,
    pub week: Week,
    /// Reports in any order; those outside the week are left out.
    pub reports: &'a [ReconcileReport],
    pub parked: &'a [ParkedEvent],
    pub quarantined: &'a [QuarantineEntry],
    pub dlq_depth: Option<u64>,
    pub latency: Option<LatencySummary>,
    pub erp_latency: Option<LatencySummary>,
}

/// A report whose start time does not parse: it is not silently left out of the week.
#[derive(Debug, thiserror::Error)]
#[error("reconciliation report {run} has start time {started_at:?}, not an RFC 3339 time; fix or delete the stored report")]
pub struct BadReportTime {
    pub run: String,
    pub started_at: String,
}

fn location_label(t: &stockbridge_domain::variance::LocationTally) -> String {
    match &t.warehouse {
        Some(w) => format!("{} ({w})", t.location),
        None => t.location.to_string(),
    }
}

impl WeeklyHealth {
    /// Summarises `readings` over their week.
    pub fn gather(readings: Readings<'_>) -> Result<Self, BadReportTime> {
        let mut in_week = Vec::new();
        for r in readings.reports {
            let at = Timestamp::parse(&r.started_at).ok_or_else(|| BadReportTime {
                run: r.run.clone(),
                started_at: r.started_at.clone(),
            })?;
            if readings.week.contains(at) {
                in_week.push((at, r));
            }
        }
        in_week.sort_by_key(|(at, r)| (*at, r.run.clone()));

        let mut errors = BTreeMap::new();
        let mut add = |kind: String, n: u64| {
            if n > 0 {
                *errors.entry(kind).or_insert(0) += n;
            }
        };
        let runs: Vec<RunPoint> = in_week
            .iter()
            .map(|(_, r)| RunPoint {
                run: r.run.clone(),
                started_at: r.started_at.clone(),
                variance_pct: r
                    .locations
                    .iter()
                    .map(|t| (location_label(t), t.variance_pct()))
                    .collect(),
                applied: r.corrections_applied,
                planned: r.corrections_planned,
                held: r.corrections_held,
                stale: r.corrections_stale,
                failed: r.corrections_failed,
                alert: r.alert,
            })
            .collect();
        for p in &runs {
            add("correction failed".into(), p.failed);
            add("correction stale".into(), p.stale);
            add("correction held by the cap".into(), p.held);
        }
        for q in readings.quarantined {
            add(format!("quarantined: {}", q.code), 1);
        }

        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for p in readings.parked {
            for m in &p.missing {
                *counts.entry(m.as_str()).or_insert(0) += 1;
            }
        }
        let mut unmapped: Vec<UnmappedReference> = counts
            .into_iter()
            .map(|(reference, n)| UnmappedReference {
                reference: reference.to_string(),
                parked_events: n,
            })
            .collect();
        unmapped.sort_by_key(|u| std::cmp::Reverse(u.parked_events));
        let unmapped_not_listed = unmapped.len().saturating_sub(UNMAPPED_LISTED) as u64;
        unmapped.truncate(UNMAPPED_LISTED);

        let unmapped_items = in_week
            .last()
            .map(|(_, r)| {
                r.locations
                    .iter()
                    .map(|t| (location_label(t), t.unmapped_items))
                    .collect()
            })
            .unwrap_or_default();

        Ok(WeeklyHealth {
            shop: readings.shop.to_string(),
            week_start: readings.week.start.to_rfc3339(),
            week_end: readings.week.end.to_rfc3339(),
            latency: readings.latency,
            erp_latency: readings.erp_latency,
            runs,
            errors,
            dlq_depth: readings.dlq_depth,
            parked: readings.parked.len() as u64,
            quarantined: readings.quarantined.len() as u64,
            unmapped,
            unmapped_not_listed,
            unmapped_items,
        })
    }

    /// The locations plotted, in label order (every location seen in any run).
    pub fn locations(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .runs
            .iter()
            .flat_map(|r| r.variance_pct.keys().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}
