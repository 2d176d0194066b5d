//! The week's sync latency from the latency digest ([`crate::ports::LatencyDigest`]): the
//! hourly histograms of one latency added up per day and over the week, and their p50/p99
//! (each the upper bound of the bucket holding it, as the page says). Pure.

use std::collections::BTreeMap;

use super::health::{LatencyDay, LatencySummary};
use crate::ports::{Histogram, HourDigest, LatencyKind};

/// The week's `kind` latency from its hourly `rows`; `None` when no latency was counted.
pub fn summarise(rows: &[HourDigest], kind: LatencyKind) -> Option<LatencySummary> {
    let mut week = Histogram::default();
    let mut days: BTreeMap<String, Histogram> = BTreeMap::new();
    for row in rows {
        let h = row.of(kind);
        if h.is_empty() {
            continue;
        }
        week.add(h);
        let day: String = row.hour.chars().take(10).collect();
        days.entry(day).or_default().add(h);
    }
    let daily = days
        .into_iter()
        .filter_map(|(day, h)| {
            Some(LatencyDay {
                day,
                p50_ms: h.percentile(0.5)?,
                p99_ms: h.percentile(0.99)?,
            })
        })
        .collect();
    Some(LatencySummary {
        p50_ms: week.percentile(0.5)?,
        p99_ms: week.percentile(0.99)?,
        samples: week.total(),
        daily,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(hour: &str, applied_ms: &[f64]) -> HourDigest {
        let mut d = HourDigest {
            hour: hour.into(),
            ..Default::default()
        };
        for ms in applied_ms {
            d.applied.record(*ms);
        }
        d
    }

    #[test]
    fn hours_add_up_per_day_and_over_the_week() {
        let rows = vec![
            row("2026-11-20T01", &[16.0; 50]),
            row("2026-11-20T02", &[64.0; 50]),
            row("2026-11-21T09", &[256.0; 100]),
        ];
        let s = summarise(&rows, LatencyKind::Applied).expect("counted");
        assert_eq!(s.samples, 200);
        assert_eq!(s.daily.len(), 2);
        assert_eq!(s.daily[0].day, "2026-11-20");
        assert_eq!((s.daily[0].p50_ms, s.daily[0].p99_ms), (16.0, 64.0));
        assert_eq!((s.daily[1].p50_ms, s.daily[1].p99_ms), (256.0, 256.0));
        assert_eq!((s.p50_ms, s.p99_ms), (64.0, 256.0));
        assert_eq!(summarise(&rows, LatencyKind::ErpAcknowledged), None);
        assert_eq!(summarise(&[], LatencyKind::Applied), None);
    }
}
