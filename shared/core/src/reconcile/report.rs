//! What a run found and did: the stored [`ReconcileReport`], its totals and the reasons it
//! alerts, the metrics it emits, and the alert's detail ([`alert_detail`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::RunOptions;
use crate::telemetry::{Metrics, Unit};
use stockbridge_domain::ids::{LocationId, ShopDomain, Timestamp};
use stockbridge_domain::variance::{Correction, LocationTally, Policy, Variance};

/// Variances kept in a stored report (all are counted; an item's log holds every correction).
pub const REPORT_VARIANCES: usize = 200;
/// Applied corrections listed in a stored report.
pub const REPORT_CORRECTIONS: usize = 1000;

/// The outcomes a correction is reported with; anything else is a failure (`failed: <why>`).
pub(super) const APPLIED: &str = "applied";
pub(super) const DRY_RUN: &str = "dry_run";
pub(super) const HELD: &str = "held";
pub(super) const STALE: &str = "stale";

/// A correction as the report lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportedCorrection {
    pub correction: Correction,
    pub outcome: String,
}

/// A Shopify location the SKU map does not name: none of its stock is synced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnmappedLocation {
    pub location: LocationId,
    pub items: u64,
    pub on_hand: i64,
}

/// What one run found and did; stored for operators (`stockbridge reconcile report`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconcileReport {
    pub run: String,
    pub shop: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub policy: Option<Policy>,
    pub cap_lifted: bool,
    pub locations: Vec<LocationTally>,
    pub unmapped_locations: Vec<UnmappedLocation>,
    pub items_compared: u64,
    pub variances: u64,
    /// Over every location: units off, the masters' units, and the first over the second (%).
    pub total_units_off: i64,
    pub total_master_units: i64,
    pub total_variance_pct: f64,
    pub corrections_applied: u64,
    pub corrections_planned: u64,
    pub corrections_held: u64,
    pub corrections_stale: u64,
    pub corrections_failed: u64,
    pub alert: bool,
    pub alert_reasons: Vec<String>,
    /// The first [`REPORT_VARIANCES`] variances, with what was done about each.
    pub details: Vec<(Variance, Option<ReportedCorrection>)>,
    pub details_truncated: u64,
    /// Every correction applied (what `stockbridge reconcile revert` undoes), up to
    /// [`REPORT_CORRECTIONS`].
    pub applied: Vec<Correction>,
    pub applied_truncated: u64,
    /// The run this one reverted, if it is a revert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverts: Option<String>,
}

impl ReconcileReport {
    /// An empty report of run `run`, started at `started_at`.
    pub(super) fn begin(run: &str, shop: &ShopDomain, started_at: Timestamp) -> Self {
        ReconcileReport {
            run: run.to_string(),
            shop: shop.to_string(),
            started_at: started_at.to_rfc3339(),
            ..Default::default()
        }
    }

    /// An empty report of a reconciliation run under `options`.
    pub(super) fn for_run(
        run: &str,
        shop: &ShopDomain,
        started_at: Timestamp,
        options: &RunOptions,
    ) -> Self {
        ReconcileReport {
            policy: Some(options.policy.clone()),
            cap_lifted: options.lift_cap,
            ..ReconcileReport::begin(run, shop, started_at)
        }
    }

    /// Counts one variance and what was done about it, keeping it in [`Self::details`] and an
    /// applied correction in [`Self::applied`] while they have room.
    pub(super) fn record_variance(&mut self, variance: Variance, done: Option<ReportedCorrection>) {
        self.variances += 1;
        if let Some(d) = &done {
            self.count_correction(d);
        }
        if self.details.len() < REPORT_VARIANCES {
            self.details.push((variance, done));
        } else {
            self.details_truncated += 1;
        }
    }

    /// Counts one correction by its outcome; an applied one is listed for a revert.
    pub(super) fn count_correction(&mut self, done: &ReportedCorrection) {
        match done.outcome.as_str() {
            APPLIED => {
                self.corrections_applied += 1;
                if self.applied.len() < REPORT_CORRECTIONS {
                    self.applied.push(done.correction.clone());
                } else {
                    self.applied_truncated += 1;
                }
            }
            DRY_RUN => self.corrections_planned += 1,
            HELD => self.corrections_held += 1,
            STALE => self.corrections_stale += 1,
            _ => self.corrections_failed += 1,
        }
    }

    /// After the last location: the totals, the alert and its reasons, and the end time.
    pub(super) fn conclude(&mut self, policy: &Policy, elapsed: Duration) {
        let total = LocationTally {
            units_off: self.locations.iter().map(|t| t.units_off).sum(),
            master_units: self.locations.iter().map(|t| t.master_units).sum(),
            ..Default::default()
        };
        self.total_units_off = total.units_off;
        self.total_master_units = total.master_units;
        self.total_variance_pct = total.variance_pct();
        let reasons = self.reasons_to_alert(policy);
        self.alert_reasons.extend(reasons);
        self.alert = !self.alert_reasons.is_empty();
        self.finish(elapsed);
    }

    /// Records how long the run took and when it finished.
    pub(super) fn finish(&mut self, elapsed: Duration) {
        self.duration_ms = elapsed.as_millis() as u64;
        self.finished_at = Timestamp::now().to_rfc3339();
    }

    /// Why an operator should look: a location over the threshold, stock at a location nothing
    /// syncs, corrections held back by the cap.
    fn reasons_to_alert(&self, policy: &Policy) -> Vec<String> {
        let mut reasons = Vec::new();
        for t in self.locations.iter().filter(|t| t.over_threshold(policy)) {
            reasons.push(format!(
                "location {} ({}) is {:.2} % off ({} units over {}; largest single item {} units)",
                t.location,
                t.warehouse.as_deref().unwrap_or("-"),
                t.variance_pct(),
                t.units_off,
                t.master_units,
                t.largest
            ));
        }
        for u in self.unmapped_locations.iter().filter(|u| u.on_hand != 0) {
            reasons.push(format!(
                "Shopify location {} holds {} units and has no mapping: none of it is synced",
                u.location, u.on_hand
            ));
        }
        if self.corrections_held > 0 {
            reasons.push(format!(
                "{} corrections held back by the cap ({} units, {} corrections per run): an operator must review and re-run with the cap lifted",
                self.corrections_held, policy.cap_units, policy.cap_corrections
            ));
        }
        reasons
    }

    /// The run's metrics (per location, `ReconcileVariancePct` is emitted as each pass ends).
    pub(super) fn emit_metrics(&self, m: &Metrics) {
        m.count("ReconcileRuns", None);
        m.put(
            "ReconcileItemsCompared",
            self.items_compared as f64,
            Unit::Count,
            None,
        );
        m.put(
            "ReconcileVariances",
            self.variances as f64,
            Unit::Count,
            None,
        );
        m.put(
            "ReconcileVarianceUnits",
            self.locations.iter().map(|t| t.units_off).sum::<i64>() as f64,
            Unit::Count,
            None,
        );
        m.put(
            "ReconcileCorrections",
            self.corrections_applied as f64,
            Unit::Count,
            Some(APPLIED),
        );
        m.put(
            "ReconcileCorrections",
            self.corrections_held as f64,
            Unit::Count,
            Some(HELD),
        );
        m.put(
            "ReconcileUnmappedItems",
            self.locations.iter().map(|t| t.unmapped_items).sum::<u64>() as f64,
            Unit::Count,
            None,
        );
        m.put(
            "ReconcileUnmappedLocations",
            self.unmapped_locations.len() as f64,
            Unit::Count,
            None,
        );
    }
}

/// The alert's detail: the figures per location and the largest variances (EventBridge takes
/// 256 KB; this stays far below).
pub fn alert_detail(report: &ReconcileReport) -> serde_json::Value {
    let mut largest: Vec<&Variance> = report.details.iter().map(|(v, _)| v).collect();
    largest.sort_by_key(|v| std::cmp::Reverse(v.units));
    largest.truncate(20);
    json!({
        "shop": report.shop,
        "run": report.run,
        "reasons": report.alert_reasons,
        "locations": report.locations.iter().map(|t| json!({
            "location": t.location.0,
            "warehouse": t.warehouse,
            "master": t.master,
            "variance_pct": (t.variance_pct() * 100.0).round() / 100.0,
            "units_off": t.units_off,
            "master_units": t.master_units,
            "largest": t.largest,
            "variances": t.variances,
            "unmapped_items": t.unmapped_items,
        })).collect::<Vec<_>>(),
        "total": {
            "units_off": report.total_units_off,
            "master_units": report.total_master_units,
            "variance_pct": (report.total_variance_pct * 100.0).round() / 100.0,
        },
        "unmapped_locations": report.unmapped_locations,
        "corrections": {
            "applied": report.corrections_applied,
            "planned": report.corrections_planned,
            "held": report.corrections_held,
            "stale": report.corrections_stale,
            "failed": report.corrections_failed,
        },
        "largest_variances": largest,
        "report": format!("stockbridge reconcile report --shop {} --run {}", report.shop, report.run),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockbridge_domain::ids::InventoryItemId;
    use stockbridge_domain::variance::VarianceKind;

    fn variance(item: u64, units: i64) -> Variance {
        Variance {
            item: InventoryItemId(item),
            location: LocationId(1),
            sku: None,
            kind: VarianceKind::StockbridgeBehind,
            shopify_available: Some(units),
            shopify_on_hand: Some(units),
            stockbridge_available: Some(0),
            stockbridge_on_hand: Some(0),
            erp_on_hand: None,
            units,
            correction: None,
            repair: None,
        }
    }

    fn done(item: u64, outcome: &str) -> Option<ReportedCorrection> {
        Some(ReportedCorrection {
            correction: Correction::RecordLevel {
                item: InventoryItemId(item),
                location: LocationId(1),
                before: 0,
                after: 1,
            },
            outcome: outcome.to_string(),
        })
    }

    #[test]
    fn each_outcome_is_counted_and_only_applied_corrections_are_listed() {
        let mut r = ReconcileReport::default();
        r.record_variance(variance(1, 1), done(1, APPLIED));
        r.record_variance(variance(2, 1), done(2, DRY_RUN));
        r.record_variance(variance(3, 1), done(3, HELD));
        r.record_variance(variance(4, 1), done(4, STALE));
        r.record_variance(variance(5, 1), done(5, "failed: ERP unavailable"));
        r.record_variance(variance(6, 1), None);
        assert_eq!(r.variances, 6);
        let counts = (
            r.corrections_applied,
            r.corrections_planned,
            r.corrections_held,
            r.corrections_stale,
            r.corrections_failed,
        );
        assert_eq!(counts, (1, 1, 1, 1, 1));
        assert_eq!(r.applied.len(), 1);
        assert_eq!(r.details.len(), 6);
    }

    #[test]
    fn details_past_the_limit_are_counted_not_kept() {
        let mut r = ReconcileReport::default();
        for item in 0..REPORT_VARIANCES as u64 + 3 {
            r.record_variance(variance(item, 1), None);
        }
        assert_eq!(r.details.len(), REPORT_VARIANCES);
        assert_eq!(r.details_truncated, 3);
    }

    #[test]
    fn a_run_alerts_for_a_location_over_threshold_unsynced_stock_and_held_corrections() {
        let policy = Policy::default();
        let mut r = ReconcileReport {
            locations: vec![
                LocationTally {
                    location: LocationId(1),
                    master_units: 100,
                    units_off: 5,
                    largest: 5,
                    ..Default::default()
                },
                LocationTally {
                    location: LocationId(2),
                    master_units: 100,
                    ..Default::default()
                },
            ],
            unmapped_locations: vec![UnmappedLocation {
                location: LocationId(9),
                items: 2,
                on_hand: 4,
            }],
            corrections_held: 1,
            ..Default::default()
        };
        r.conclude(&policy, Duration::from_millis(7));
        assert_eq!((r.total_units_off, r.total_master_units), (5, 200));
        assert_eq!(r.total_variance_pct, 2.5);
        assert_eq!(r.alert_reasons.len(), 3, "{:#?}", r.alert_reasons);
        assert!(r.alert_reasons[0].starts_with("location 1 "));
        assert!(r.alert && r.duration_ms == 7 && !r.finished_at.is_empty());

        let mut quiet = ReconcileReport::default();
        quiet.conclude(&policy, Duration::ZERO);
        assert!(!quiet.alert && quiet.alert_reasons.is_empty());
    }
}
