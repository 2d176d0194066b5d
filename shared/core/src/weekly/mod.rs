//! The weekly health report: once a week the reconcile function (schedule input
//! `{"action": "weekly_report"}`) reads the week's stored reconciliation reports, the inbox's
//! parked and quarantined counts and the dead-letter queue's depth, renders one self-contained
//! HTML page with inline SVG charts, keeps it in the report archive (S3) and announces it on the
//! bus ([`READY_DETAIL_TYPE`] with the key). `stockbridge report weekly --out FILE` renders the
//! same page locally.
//!
//! Sync latency comes from the latency digest ([`crate::ports::LatencyDigest`], hourly
//! log-scale histograms the consumer keeps beside its CloudWatch metrics `AppliedLatencyMs` and
//! `EndToEndLatencyMs`): p50/p99 per day and over the week ([`latency`]), each the upper bound
//! of the bucket holding it; "no data" only when the digest holds none for the week.
//!
//! Here: the ports the report needs beyond the inbox ([`ReportHistory`], [`ReportArchive`],
//! [`DeadLetters`]) and the [`WeeklyReporter`]. `health`: what the page shows, computed from
//! what was read. `html`: the page. `svg`: its charts.

pub mod health;
pub mod html;
pub mod latency;
pub mod svg;

pub use health::{LatencySummary, Readings, Week, WeeklyHealth};
pub use html::{escape, render};

use std::future::Future;

use crate::ports::{hour_of, AlertSink, Inbox, LatencyDigest, LatencyKind, PortError};
use crate::reconcile::ReconcileReport;
use stockbridge_domain::ids::{ShopDomain, Timestamp};

/// The detail type of the announcement on the bus.
pub const READY_DETAIL_TYPE: &str = "WeeklyHealthReportReady";
/// The archive's key prefix the reconcile function may write (and nothing else).
pub const KEY_PREFIX: &str = "weekly/";
/// Pages of stored reports read for one week at most (a page is up to 1 MB of reports; a run
/// every 10 minutes is 1,008 reports a week): past it the week is refused, not cut short.
pub const WEEK_PAGES_MAX: usize = 2000;

/// Where finished report pages are kept for operators (S3 in AWS, expiring by lifecycle).
pub trait ReportArchive: Send + Sync {
    /// Keeps `html` under `key`; returns where (e.g. `s3://bucket/key`).
    fn put_page(
        &self,
        key: &str,
        html: &str,
    ) -> impl Future<Output = Result<String, PortError>> + Send;
}

/// One page of stored reconciliation reports (JSON), oldest first, and where the next starts.
#[derive(Clone, Debug, Default)]
pub struct ReportPage {
    pub reports: Vec<String>,
    /// `None` on the last page.
    pub next: Option<String>,
}

/// The stored reconciliation reports of a period, page by page (the inbox's `REPORT#<shop>`).
pub trait ReportHistory: Send + Sync {
    /// Reports of `shop` from the run id of `since` on, oldest first; `after` is the previous
    /// page's [`ReportPage::next`].
    fn reports_since(
        &self,
        shop: &ShopDomain,
        since: Timestamp,
        after: Option<String>,
    ) -> impl Future<Output = Result<ReportPage, PortError>> + Send;
}

/// The dead-letter queue's depth (messages the consumer gave up on).
pub trait DeadLetters: Send + Sync {
    fn depth(&self) -> impl Future<Output = Result<u64, PortError>> + Send;
}

/// Why a weekly report was not produced.
#[derive(Debug, thiserror::Error)]
pub enum WeeklyError {
    #[error(transparent)]
    Store(#[from] PortError),
    #[error(transparent)]
    BadReportTime(#[from] health::BadReportTime),
    #[error("the week's stored reports did not end within {pages} pages; the report was not made (raise WEEK_PAGES_MAX or delete stray reports)")]
    TooManyPages { pages: usize },
}

/// What one weekly run kept and announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeeklyPublished {
    pub key: String,
    pub location: String,
    pub runs: usize,
}

/// The archive key of the week ending at `end`: `weekly/<shop>/<end date>.html`.
pub fn key_for(shop: &ShopDomain, end: Timestamp) -> String {
    let day: String = end.to_rfc3339().chars().take(10).collect();
    format!("{KEY_PREFIX}{shop}/{day}.html")
}

/// Reads the week of `shop` ending at `week.end` from `store` (and the dead-letter depth when
/// given), latency from its digest (the hours the week touches).
pub async fn gather<S, D>(
    store: &S,
    dead_letters: Option<&D>,
    shop: &ShopDomain,
    week: Week,
) -> Result<WeeklyHealth, WeeklyError>
where
    S: Inbox + ReportHistory + LatencyDigest,
    D: DeadLetters,
{
    let mut reports = Vec::new();
    let mut after = None;
    for _ in 0..WEEK_PAGES_MAX {
        let page = store.reports_since(shop, week.start, after.take()).await?;
        for text in &page.reports {
            let mut report: ReconcileReport =
                serde_json::from_str(text).map_err(|e| PortError::Corrupt {
                    key: format!("REPORT#{shop} (after {})", week.start.to_rfc3339()),
                    detail: format!("stored reconciliation report does not read back: {e}"),
                })?;
            // The page needs the tallies, not the variances and corrections listed.
            report.details = Vec::new();
            report.applied = Vec::new();
            reports.push(report);
        }
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    if after.is_some() {
        return Err(WeeklyError::TooManyPages {
            pages: WEEK_PAGES_MAX,
        });
    }
    let parked = store.list_parked(shop).await?;
    let quarantined = store.list_quarantine(shop).await?;
    let last_hour = Timestamp(week.end.0 - 1);
    let digest = store
        .read_latency(shop, &hour_of(week.start), &hour_of(last_hour))
        .await?;
    let dlq_depth = match dead_letters {
        Some(d) => Some(d.depth().await?),
        None => None,
    };
    Ok(WeeklyHealth::gather(Readings {
        shop: shop.as_str(),
        week,
        reports: &reports,
        parked: &parked,
        quarantined: &quarantined,
        dlq_depth,
        latency: latency::summarise(&digest, LatencyKind::Applied),
        erp_latency: latency::summarise(&digest, LatencyKind::ErpAcknowledged),
    })?)
}

/// The weekly run: gather, render, keep, announce.
pub struct WeeklyReporter<S, Ar, D, A> {
    pub shop: ShopDomain,
    pub store: S,
    pub archive: Ar,
    pub dead_letters: D,
    pub alerts: A,
}

impl<S, Ar, D, A> WeeklyReporter<S, Ar, D, A>
where
    S: Inbox + ReportHistory + LatencyDigest,
    Ar: ReportArchive,
    D: DeadLetters,
    A: AlertSink,
{
    /// Produces the report of the week ending at `now`, keeps it and announces it.
    pub async fn publish(&self, now: Timestamp) -> Result<WeeklyPublished, WeeklyError> {
        let week = Week::ending(now);
        let health = gather(&self.store, Some(&self.dead_letters), &self.shop, week).await?;
        let page = render(&health, now);
        let key = key_for(&self.shop, now);
        let location = self.archive.put_page(&key, &page).await?;
        let detail = serde_json::json!({
            "shop": health.shop,
            "key": key,
            "location": location,
            "week_start": health.week_start,
            "week_end": health.week_end,
            "runs": health.runs.len(),
            "runs_alerted": health.runs.iter().filter(|r| r.alert).count(),
            "dlq_depth": health.dlq_depth,
            "parked": health.parked,
            "quarantined": health.quarantined,
        });
        self.alerts.publish(READY_DETAIL_TYPE, &detail).await?;
        tracing::info!(key, runs = health.runs.len(), "weekly health report kept");
        Ok(WeeklyPublished {
            key,
            location,
            runs: health.runs.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::ReconcileReport;
    use std::collections::BTreeMap;
    use stockbridge_domain::ids::LocationId;
    use stockbridge_domain::variance::LocationTally;

    fn at(day: i64, hour: i64) -> Timestamp {
        Timestamp((1_700_000_000 + day * 86_400 + hour * 3600) * 1_000_000_000)
    }

    fn report(when: Timestamp, off: i64, warehouse: &str) -> ReconcileReport {
        ReconcileReport {
            run: crate::reconcile::run_id(when),
            started_at: when.to_rfc3339(),
            locations: vec![
                LocationTally {
                    location: LocationId(1),
                    warehouse: Some(warehouse.into()),
                    master_units: 100,
                    units_off: off,
                    unmapped_items: 2,
                    ..Default::default()
                },
                LocationTally {
                    location: LocationId(2),
                    master_units: 50,
                    units_off: 1,
                    ..Default::default()
                },
            ],
            corrections_applied: off as u64,
            corrections_failed: 1,
            ..Default::default()
        }
    }

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>alert("x&'y")</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#39;y&quot;)&lt;/script&gt;"
        );
    }

    #[test]
    fn the_week_keeps_its_runs_in_order_and_draws_one_line_per_location() {
        let end = at(7, 0);
        let reports = vec![
            report(at(3, 0), 4, "<WH>"),
            report(at(1, 0), 2, "<WH>"),
            report(at(-2, 0), 90, "<WH>"), // before the week
        ];
        let health = WeeklyHealth::gather(Readings {
            shop: "a.myshopify.com",
            week: Week::ending(end),
            reports: &reports,
            parked: &[],
            quarantined: &[],
            dlq_depth: Some(3),
            latency: None,
            erp_latency: None,
        })
        .expect("gather");
        assert_eq!(health.runs.len(), 2);
        assert!(health.runs[0].started_at < health.runs[1].started_at);
        assert_eq!(health.errors.get("correction failed"), Some(&2));
        let page = render(&health, end);
        assert!(!page.contains("<WH>"), "the warehouse name is escaped");
        assert!(page.contains("(&lt;WH&gt;)"));
        let variance = page
            .split("<svg id=\"variance\"")
            .nth(1)
            .expect("variance chart")
            .split("</svg>")
            .next()
            .unwrap();
        assert_eq!(variance.matches("<polyline").count(), 2, "two locations");
        assert!(!variance.contains("points=\"\""));
        assert!(page.contains("No data: latency"), "latency is said missing");
        assert!(!page.contains("<script"));
    }

    #[test]
    fn a_report_whose_time_does_not_parse_is_refused() {
        let mut bad = report(at(1, 0), 1, "WH");
        bad.started_at = "yesterday".into();
        let err = WeeklyHealth::gather(Readings {
            shop: "a.myshopify.com",
            week: Week::ending(at(7, 0)),
            reports: &[bad],
            parked: &[],
            quarantined: &[],
            dlq_depth: None,
            latency: None,
            erp_latency: None,
        })
        .expect_err("refused");
        assert!(err.to_string().contains("yesterday"));
    }

    #[test]
    fn latency_when_given_is_drawn_as_two_lines() {
        let mut health = WeeklyHealth::gather(Readings {
            shop: "a.myshopify.com",
            week: Week::ending(at(7, 0)),
            reports: &[],
            parked: &[],
            quarantined: &[],
            dlq_depth: None,
            latency: None,
            erp_latency: None,
        })
        .unwrap();
        health.latency = Some(LatencySummary {
            p50_ms: 120.0,
            p99_ms: 900.0,
            samples: 10,
            daily: (0..7)
                .map(|d| health::LatencyDay {
                    day: format!("day {d}"),
                    p50_ms: 100.0 + d as f64,
                    p99_ms: 800.0 + d as f64,
                })
                .collect(),
        });
        health.errors = BTreeMap::new();
        let page = render(&health, at(7, 0));
        assert!(page.contains("p99 900 ms"));
        assert_eq!(page.matches("data-series=\"p").count(), 2);
        assert!(page.contains("No data: the dead-letter"));
    }
}
