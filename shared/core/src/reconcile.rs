//! The reconcile handler: one run compares Shopify, Stockbridge (DynamoDB) and the ERP for one
//! shop, corrects the followers toward each location's master, logs every correction, keeps a
//! report and raises an alert when a location is over the threshold.
//!
//! It streams: per mapped location, Shopify's levels are read page by page (the adapter paces
//! itself by Shopify's `throttleStatus`) while the SKU map is read page by page in the same item
//! order, each page of mappings joined with its stock records (one BatchGetItem) and the ERP's
//! on-hand (one call). [`LocationPass`] merges the two streams; memory holds a page of each,
//! whatever the catalogue size. The rule is in [`stockbridge_domain::reconcile`].
//!
//! Corrections:
//! - Stockbridge behind Shopify: a level snapshot is sent through the event queue, so the
//!   consumer applies it like any webhook (exactly once, logged, and the ERP told the difference
//!   at Shopify-master locations). Its version is the time of Shopify's read minus one second
//!   (Shopify's `updated_at` has whole seconds), so a webhook for a later change still wins.
//! - ERP drift: one ERP write of the difference under a key derived from the run and the item,
//!   so a retried call does not apply it twice.
//! - Shopify drift: `inventorySetQuantities` with `changeFromQuantity` (a concurrent change makes
//!   it `stale`, left for the next run) under an idempotency key derived from the run and item.
//!
//! Dry run plans and logs without correcting. The cap ([`Policy::cap_units`],
//! [`Policy::cap_corrections`]) bounds what one run changes on its own: past it corrections are
//! logged as `held` and the run alerts so an operator can look and re-run with the cap lifted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ports::{
    AlertSink, CorrectionRecord, Erp, ErpError, EventQueue, Inbox, PortError, ShopifyAdmin,
    ShopifyError, ShopifySet, SkuMapStore, StockStore, Wanted,
};
use crate::telemetry::{Metrics, Unit};
use stockbridge_domain::erp::{ErpLine, ErpWrite};
use stockbridge_domain::event::{
    EventBody, InventoryEvent, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp, Version};
use stockbridge_domain::reconcile::{
    CapBudget, Correction, Known, LocationPass, LocationTally, OutOfOrder, Policy, Variance,
};
use stockbridge_domain::skumap::LocationMapping;
use stockbridge_domain::stock::StockKey;

/// Mappings read per page of the SKU map (one BatchGetItem of stock records, one ERP call).
pub const MAPPING_PAGE: usize = 100;
/// Levels fed to the merge at a time from a bulk operation's sorted output.
pub const SHOPIFY_PAGE: usize = 250;
/// Variances kept in a stored report (all are counted; an item's log holds every correction).
pub const REPORT_VARIANCES: usize = 200;
/// Applied corrections listed in a stored report.
pub const REPORT_CORRECTIONS: usize = 1000;
/// Attempts of one read before the run gives up (transient errors, throttling).
const READ_ATTEMPTS: u32 = 6;
/// The detail type of the alert event.
pub const ALERT_DETAIL_TYPE: &str = "InventoryVarianceDetected";
/// The topic of level snapshots a run sends through the queue.
pub const RECONCILE_TOPIC: &str = "stockbridge/reconcile";

/// Why a run stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("reading Shopify failed: {0}")]
    Shopify(ShopifyError),
    #[error("reading the ERP failed: {0}")]
    Erp(ErpError),
    #[error(transparent)]
    Store(#[from] PortError),
    #[error(transparent)]
    OutOfOrder(#[from] OutOfOrder),
}

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

/// How Shopify's levels are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShopifyRead {
    /// Pages of `location.inventoryLevels`, paced by the cost budget (small catalogues).
    #[default]
    Paged,
    /// One bulk operation per location (large catalogues: no per-item cost).
    Bulk,
}

impl std::str::FromStr for ShopifyRead {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "paged" => Ok(ShopifyRead::Paged),
            "bulk" => Ok(ShopifyRead::Bulk),
            other => Err(format!("{other:?} is not paged or bulk")),
        }
    }
}

impl ShopifyRead {
    /// `RECONCILE_SHOPIFY_READ` (`paged` or `bulk`; paged when unset).
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        match std::env::var("RECONCILE_SHOPIFY_READ") {
            Ok(v) if !v.trim().is_empty() => {
                v.trim()
                    .parse()
                    .map_err(|detail| crate::config::ConfigError::Invalid {
                        name: "RECONCILE_SHOPIFY_READ",
                        detail,
                    })
            }
            _ => Ok(ShopifyRead::Paged),
        }
    }
}

/// Options of one run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub policy: Policy,
    /// An operator lifted the cap for this run.
    pub lift_cap: bool,
    pub read: ShopifyRead,
}

/// The reconcile handler for one shop.
pub struct Reconciler<St, E, S, Q, A> {
    pub shop: ShopDomain,
    pub store: St,
    pub erp: E,
    pub shopify: S,
    pub queue: Q,
    pub alerts: A,
    pub metrics: Metrics,
}

impl<St, E, S, Q, A> Reconciler<St, E, S, Q, A>
where
    St: StockStore + SkuMapStore + Inbox,
    E: Erp,
    S: ShopifyAdmin,
    Q: EventQueue,
    A: AlertSink,
{
    /// Runs one reconciliation; the report is stored and returned.
    pub async fn run(&self, options: &RunOptions) -> Result<ReconcileReport, ReconcileError> {
        let started_at = Timestamp::now();
        let run = run_id(started_at);
        let result = self.run_inner(&run, started_at, options).await;
        match &result {
            Ok(report) => {
                self.metrics.put(
                    "ReconcileDurationMs",
                    report.duration_ms as f64,
                    Unit::Milliseconds,
                    None,
                );
            }
            Err(e) => {
                tracing::error!(run, error = %e, "reconciliation failed");
                self.metrics.count("ReconcileFailed", None);
            }
        }
        result
    }

    async fn run_inner(
        &self,
        run: &str,
        started_at: Timestamp,
        options: &RunOptions,
    ) -> Result<ReconcileReport, ReconcileError> {
        let started = Instant::now();
        let policy = &options.policy;
        let mut report = ReconcileReport {
            run: run.to_string(),
            shop: self.shop.to_string(),
            started_at: started_at.to_rfc3339(),
            policy: Some(policy.clone()),
            cap_lifted: options.lift_cap,
            ..Default::default()
        };
        let mapped: BTreeMap<LocationId, LocationMapping> = self
            .store
            .lookup(&self.shop, &[], &[], &[])
            .await?
            .locations
            .into_iter()
            .collect();
        let at_shopify: BTreeSet<LocationId> = retry_shopify(|| self.shopify.locations())
            .await?
            .into_iter()
            .collect();
        for location in at_shopify.iter().filter(|l| !mapped.contains_key(l)) {
            report
                .unmapped_locations
                .push(self.unmapped_location(*location).await?);
        }
        let mut budget = CapBudget::default();
        let mut log = Vec::new();
        let mut snapshots = Vec::new();
        for mapping in mapped.values() {
            if !at_shopify.contains(&mapping.location) {
                tracing::warn!(
                    location = %mapping.location,
                    "mapped location is not an active Shopify location; skipped"
                );
                continue;
            }
            let tally = self
                .pass(
                    run,
                    mapping,
                    options,
                    &mut budget,
                    &mut report,
                    &mut log,
                    &mut snapshots,
                )
                .await?;
            self.metrics.put(
                "ReconcileVariancePct",
                tally.variance_pct(),
                Unit::Count,
                Some(&format!("location:{}", mapping.location)),
            );
            report.items_compared += tally.items;
            report.locations.push(tally);
        }
        self.flush(&mut log, &mut snapshots).await?;
        let total = LocationTally {
            units_off: report.locations.iter().map(|t| t.units_off).sum(),
            master_units: report.locations.iter().map(|t| t.master_units).sum(),
            ..Default::default()
        };
        report.total_units_off = total.units_off;
        report.total_master_units = total.master_units;
        report.total_variance_pct = total.variance_pct();

        for t in &report.locations {
            if t.over_threshold(policy) {
                report.alert_reasons.push(format!(
                    "location {} ({}) is {:.2} % off ({} units over {}; largest single item {} units)",
                    t.location,
                    t.warehouse.as_deref().unwrap_or("-"),
                    t.variance_pct(),
                    t.units_off,
                    t.master_units,
                    t.largest
                ));
            }
        }
        for u in report.unmapped_locations.iter().filter(|u| u.on_hand != 0) {
            report.alert_reasons.push(format!(
                "Shopify location {} holds {} units and has no mapping: none of it is synced",
                u.location, u.on_hand
            ));
        }
        if report.corrections_held > 0 {
            report.alert_reasons.push(format!(
                "{} corrections held back by the cap ({} units, {} corrections per run): an operator must review and re-run with the cap lifted",
                report.corrections_held, policy.cap_units, policy.cap_corrections
            ));
        }
        report.alert = !report.alert_reasons.is_empty();
        report.duration_ms = started.elapsed().as_millis() as u64;
        report.finished_at = Timestamp::now().to_rfc3339();

        let m = &self.metrics;
        m.count("ReconcileRuns", None);
        m.put(
            "ReconcileItemsCompared",
            report.items_compared as f64,
            Unit::Count,
            None,
        );
        m.put(
            "ReconcileVariances",
            report.variances as f64,
            Unit::Count,
            None,
        );
        m.put(
            "ReconcileVarianceUnits",
            report.locations.iter().map(|t| t.units_off).sum::<i64>() as f64,
            Unit::Count,
            None,
        );
        m.put(
            "ReconcileCorrections",
            report.corrections_applied as f64,
            Unit::Count,
            Some("applied"),
        );
        m.put(
            "ReconcileCorrections",
            report.corrections_held as f64,
            Unit::Count,
            Some("held"),
        );
        m.put(
            "ReconcileUnmappedItems",
            report
                .locations
                .iter()
                .map(|t| t.unmapped_items)
                .sum::<u64>() as f64,
            Unit::Count,
            None,
        );
        m.put(
            "ReconcileUnmappedLocations",
            report.unmapped_locations.len() as f64,
            Unit::Count,
            None,
        );

        let stored = serde_json::to_string(&report).unwrap_or_default();
        self.store.put_report(&self.shop, run, &stored).await?;
        if report.alert {
            let detail = alert_detail(&report);
            // The report is stored and the metrics are out; a failed alert fails the run so the
            // scheduler retries it and the failure metric alarms.
            self.alerts.publish(ALERT_DETAIL_TYPE, &detail).await?;
            m.count("ReconcileAlerts", None);
        }
        tracing::info!(
            run,
            items = report.items_compared,
            variances = report.variances,
            applied = report.corrections_applied,
            held = report.corrections_held,
            alert = report.alert,
            ms = report.duration_ms,
            "reconciliation done"
        );
        Ok(report)
    }

    /// Undoes the corrections a run applied (an operator's decision): each is applied reversed,
    /// logged and reported under a new run id. Shopify's compare-and-set refuses to undo a
    /// level that changed since (`stale`).
    pub async fn revert(
        &self,
        original: &ReconcileReport,
    ) -> Result<ReconcileReport, ReconcileError> {
        let started = Instant::now();
        let started_at = Timestamp::now();
        let run = format!("{}-revert", run_id(started_at));
        let mut report = ReconcileReport {
            run: run.clone(),
            shop: self.shop.to_string(),
            started_at: started_at.to_rfc3339(),
            reverts: Some(original.run.clone()),
            ..Default::default()
        };
        let (mut log, mut snapshots) = (Vec::new(), Vec::new());
        for correction in original.applied.iter().map(Correction::reversed) {
            let outcome = match self
                .apply(&run, &correction, started_at, &mut snapshots)
                .await
            {
                Ok(()) => {
                    report.corrections_applied += 1;
                    report.applied.push(correction.clone());
                    "applied".to_string()
                }
                Err(ApplyError::Stale) => {
                    report.corrections_stale += 1;
                    "stale".to_string()
                }
                Err(ApplyError::Failed(why)) => {
                    report.corrections_failed += 1;
                    format!("failed: {why}")
                }
            };
            log.push(CorrectionRecord {
                shop: self.shop.clone(),
                run: run.clone(),
                correction,
                reason: format!("revert of {}", original.run),
                outcome,
                at: Timestamp::now(),
            });
            if log.len() >= 25 || snapshots.len() >= 10 {
                self.flush(&mut log, &mut snapshots).await?;
            }
        }
        self.flush(&mut log, &mut snapshots).await?;
        report.duration_ms = started.elapsed().as_millis() as u64;
        report.finished_at = Timestamp::now().to_rfc3339();
        let stored = serde_json::to_string(&report).unwrap_or_default();
        self.store.put_report(&self.shop, &run, &stored).await?;
        Ok(report)
    }

    /// One location: the merge of Shopify's levels and the SKU map joined with our records and
    /// the ERP.
    #[allow(clippy::too_many_arguments)]
    async fn pass(
        &self,
        run: &str,
        mapping: &LocationMapping,
        options: &RunOptions,
        budget: &mut CapBudget,
        report: &mut ReconcileReport,
        log: &mut Vec<CorrectionRecord>,
        snapshots: &mut Vec<InventoryEvent>,
    ) -> Result<LocationTally, ReconcileError> {
        let mut pass = LocationPass::new(mapping.clone());
        let mut cursor: Option<String> = None;
        let mut after: Option<InventoryItemId> = None;
        let mut read_at = Timestamp::now();
        let mut bulk = match options.read {
            ShopifyRead::Bulk => {
                Some(retry_shopify(|| self.shopify.bulk_levels(mapping.location)).await?)
            }
            ShopifyRead::Paged => None,
        };
        while !pass.finished() {
            if let (true, Some(sorted)) = (pass.wants_shopify(), bulk.as_mut()) {
                let mut page = Vec::with_capacity(SHOPIFY_PAGE);
                for level in sorted.by_ref().take(SHOPIFY_PAGE) {
                    page.push(level.map_err(ReconcileError::Shopify)?);
                }
                let last = page.len() < SHOPIFY_PAGE;
                pass.push_shopify(page, last)?;
            } else if pass.wants_shopify() {
                read_at = Timestamp::now();
                let c = cursor.clone();
                let (levels, next) =
                    retry_shopify(|| self.shopify.levels_page(mapping.location, c.clone())).await?;
                let last = next.is_none();
                cursor = next;
                pass.push_shopify(levels.into_iter(), last)?;
            }
            if pass.wants_known() {
                let page = self.known_page(mapping, after).await?;
                let last = page.len() < MAPPING_PAGE;
                after = page.last().map(|k| k.item).or(after);
                pass.push_known(page, last)?;
            }
            for variance in pass.step() {
                report.variances += 1;
                let done = match &variance.correction {
                    Some(c) => Some(
                        self.correct(run, c, &variance, read_at, options, budget, log, snapshots)
                            .await?,
                    ),
                    None => None,
                };
                if let Some(d) = &done {
                    if d.outcome == "applied" {
                        if report.applied.len() < REPORT_CORRECTIONS {
                            report.applied.push(d.correction.clone());
                        } else {
                            report.applied_truncated += 1;
                        }
                    }
                    match d.outcome.as_str() {
                        "applied" => report.corrections_applied += 1,
                        "dry_run" => report.corrections_planned += 1,
                        "held" => report.corrections_held += 1,
                        "stale" => report.corrections_stale += 1,
                        _ => report.corrections_failed += 1,
                    }
                }
                if report.details.len() < REPORT_VARIANCES {
                    report.details.push((variance, done));
                } else {
                    report.details_truncated += 1;
                }
            }
            if log.len() >= 25 || snapshots.len() >= 10 {
                self.flush(log, snapshots).await?;
            }
        }
        Ok(pass.tally)
    }

    /// The next page of the SKU map after `after`, with each item's stock record at this
    /// location and the ERP's on-hand.
    async fn known_page(
        &self,
        mapping: &LocationMapping,
        after: Option<InventoryItemId>,
    ) -> Result<Vec<Known>, ReconcileError> {
        let items = self
            .store
            .items_after(&self.shop, after, MAPPING_PAGE)
            .await?;
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let key = |item| StockKey {
            shop: self.shop.clone(),
            item,
            location: mapping.location,
        };
        let wanted = Wanted {
            levels: items.iter().map(|m| key(m.item)).collect(),
            ..Default::default()
        };
        let mut loaded = self.store.load(&wanted).await?;
        let codes: Vec<String> = items.iter().map(|m| m.erp_item.clone()).collect();
        let erp = retry_erp(|| self.erp.levels(&mapping.erp_warehouse, &codes)).await?;
        Ok(items
            .into_iter()
            .map(|m| Known {
                item: m.item,
                ours: loaded.book.levels.remove(&key(m.item)),
                erp: erp.get(&m.erp_item).copied(),
                sku: m.sku,
                erp_item: m.erp_item,
                uom: m.uom,
            })
            .collect())
    }

    /// Applies (or plans, or holds) one correction and records it for the log.
    #[allow(clippy::too_many_arguments)]
    async fn correct(
        &self,
        run: &str,
        correction: &Correction,
        variance: &Variance,
        read_at: Timestamp,
        options: &RunOptions,
        budget: &mut CapBudget,
        log: &mut Vec<CorrectionRecord>,
        snapshots: &mut Vec<InventoryEvent>,
    ) -> Result<ReportedCorrection, ReconcileError> {
        let outcome = if options.policy.dry_run {
            "dry_run".to_string()
        } else if !budget.admit(&options.policy, variance.units) && !options.lift_cap {
            "held".to_string()
        } else {
            match self.apply(run, correction, read_at, snapshots).await {
                Ok(()) => "applied".to_string(),
                Err(ApplyError::Stale) => "stale".to_string(),
                Err(ApplyError::Failed(why)) => {
                    tracing::warn!(run, item = %correction.item(), error = %why, "correction failed");
                    format!("failed: {why}")
                }
            }
        };
        log.push(CorrectionRecord {
            shop: self.shop.clone(),
            run: run.to_string(),
            correction: correction.clone(),
            reason: describe(variance),
            outcome: outcome.clone(),
            at: Timestamp::now(),
        });
        Ok(ReportedCorrection {
            correction: correction.clone(),
            outcome,
        })
    }

    async fn apply(
        &self,
        run: &str,
        correction: &Correction,
        read_at: Timestamp,
        snapshots: &mut Vec<InventoryEvent>,
    ) -> Result<(), ApplyError> {
        match correction {
            Correction::RecordLevel {
                item,
                location,
                after,
                ..
            } => {
                snapshots.push(level_snapshot(
                    &self.shop, run, *item, *location, *after, read_at,
                ));
                Ok(())
            }
            Correction::AdjustErp {
                item,
                warehouse,
                erp_item,
                before,
                after,
                ..
            } => {
                let write = ErpWrite {
                    key: correction_key(run, warehouse, *item),
                    warehouse: warehouse.clone(),
                    reason: format!(
                        "stockbridge reconcile {run}: ERP set back to the Shopify-master count"
                    ),
                    as_of: read_at.to_rfc3339(),
                    lines: vec![ErpLine {
                        item: erp_item.clone(),
                        change: *after - *before,
                        target: Some(*after),
                    }],
                };
                retry_erp(|| self.erp.apply(&write))
                    .await
                    .map_err(|e| ApplyError::Failed(e.to_string()))
            }
            Correction::SetShopify {
                item,
                location,
                before,
                after,
            } => {
                let set = ShopifySet {
                    item: *item,
                    location: *location,
                    quantity: *after,
                    expected: *before,
                };
                let key = format!("{run}-{item}-{location}");
                match retry_shopify_call(|| {
                    self.shopify
                        .set_available(std::slice::from_ref(&set), "correction", &key)
                })
                .await
                {
                    Ok(()) => Ok(()),
                    Err(ShopifyError::Stale) => Err(ApplyError::Stale),
                    Err(e) => Err(ApplyError::Failed(e.to_string())),
                }
            }
        }
    }

    /// Writes the buffered log entries and sends the buffered level snapshots.
    async fn flush(
        &self,
        log: &mut Vec<CorrectionRecord>,
        snapshots: &mut Vec<InventoryEvent>,
    ) -> Result<(), ReconcileError> {
        if !snapshots.is_empty() {
            self.queue.send(snapshots).await?;
            snapshots.clear();
        }
        if !log.is_empty() {
            self.store.log_corrections(log).await?;
            log.clear();
        }
        Ok(())
    }

    async fn unmapped_location(
        &self,
        location: LocationId,
    ) -> Result<UnmappedLocation, ReconcileError> {
        let mut found = UnmappedLocation {
            location,
            items: 0,
            on_hand: 0,
        };
        let mut cursor = None;
        loop {
            let c: Option<String> = cursor.clone();
            let (levels, next) =
                retry_shopify(|| self.shopify.levels_page(location, c.clone())).await?;
            found.items += levels.len() as u64;
            found.on_hand += levels.iter().map(|l| l.on_hand).sum::<i64>();
            match next {
                Some(n) => cursor = Some(n),
                None => return Ok(found),
            }
        }
    }
}

/// The policy the template configures: `RECONCILE_THRESHOLD_PCT`,
/// `RECONCILE_MAX_UNITS_PER_ITEM`, `RECONCILE_CAP_UNITS`, `RECONCILE_CAP_CORRECTIONS`,
/// `RECONCILE_DRY_RUN`; defaults for what is unset, an error for what does not parse.
pub fn policy_from_env() -> Result<Policy, crate::config::ConfigError> {
    use crate::config::{env_or as parse, ConfigError};
    let d = Policy::default();
    let policy = Policy {
        threshold_pct: parse("RECONCILE_THRESHOLD_PCT", d.threshold_pct)?,
        max_units_per_item: parse("RECONCILE_MAX_UNITS_PER_ITEM", d.max_units_per_item)?,
        cap_units: parse("RECONCILE_CAP_UNITS", d.cap_units)?,
        cap_corrections: parse("RECONCILE_CAP_CORRECTIONS", d.cap_corrections)?,
        dry_run: parse("RECONCILE_DRY_RUN", d.dry_run)?,
    };
    if !(policy.threshold_pct >= 0.0 && policy.threshold_pct.is_finite()) {
        return Err(ConfigError::Invalid {
            name: "RECONCILE_THRESHOLD_PCT",
            detail: "must be a percentage >= 0".into(),
        });
    }
    Ok(policy)
}

/// What a scheduled invocation may ask for (the schedule's `Input`, or an operator's).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub lift_cap: bool,
    #[serde(default)]
    pub read: Option<ShopifyRead>,
}

enum ApplyError {
    Stale,
    Failed(String),
}

/// `rc-YYYYMMDDTHHMMSSZ-<ns>`: sorts by time, unique per run.
pub fn run_id(at: Timestamp) -> String {
    let rfc = at.to_rfc3339();
    let compact: String = rfc
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("rc-{compact}Z-{:09}", at.0.rem_euclid(1_000_000_000))
}

/// The key of an ERP correction: the same run, warehouse and item always give the same key.
pub fn correction_key(run: &str, warehouse: &str, item: InventoryItemId) -> String {
    stockbridge_domain::erp::push_key(
        warehouse,
        &[(format!("{run}#{item}"), 0)],
        u128::from(item.0),
    )
    .replacen("sb-", "rc-", 1)
}

/// The event that records Shopify's `available` in Stockbridge, through the normal pipeline.
pub fn level_snapshot(
    shop: &ShopDomain,
    run: &str,
    item: InventoryItemId,
    location: LocationId,
    available: i64,
    read_at: Timestamp,
) -> InventoryEvent {
    let webhook_id = format!("{run}:{item}:{location}");
    // One second before the read: Shopify's `updated_at` has whole seconds, so a change made
    // just after the read still carries a newer version than this snapshot.
    let as_of = Timestamp(read_at.0 - 1_000_000_000);
    InventoryEvent {
        schema: SCHEMA_VERSION,
        key: InventoryEvent::delivery_key(shop, &webhook_id, Part::WHOLE),
        shop: shop.clone(),
        source: Source {
            topic: RECONCILE_TOPIC.into(),
            webhook_id,
            event_id: None,
            api_version: None,
            triggered_at: as_of,
            received_at: Timestamp::now(),
        },
        part: Part::WHOLE,
        body: EventBody::Stock {
            changes: vec![StockChange::Available {
                item,
                location,
                available: Some(available),
                version: Version::new(as_of, as_of),
                connect: false,
            }],
        },
    }
}

fn describe(v: &Variance) -> String {
    let opt = |x: Option<i64>| x.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    format!(
        "{:?}: Shopify available {} on hand {}, Stockbridge available {} on hand {}, ERP on hand {}",
        v.kind,
        opt(v.shopify_available),
        opt(v.shopify_on_hand),
        opt(v.stockbridge_available),
        opt(v.stockbridge_on_hand),
        v.erp_on_hand
            .map(|d| d.normalize().to_string())
            .unwrap_or_else(|| "-".into()),
    )
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

/// Calls Shopify, waiting out throttling and transient failures a few times.
async fn retry_shopify<T, F, Fut>(call: F) -> Result<T, ReconcileError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ShopifyError>>,
{
    retry_shopify_call(call)
        .await
        .map_err(ReconcileError::Shopify)
}

async fn retry_shopify_call<T, F, Fut>(call: F) -> Result<T, ShopifyError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ShopifyError>>,
{
    retry("Shopify", call, |e, attempt| match e {
        ShopifyError::Throttled { retry_after_ms } => Some((*retry_after_ms).max(100)),
        ShopifyError::Unavailable(_) => Some(200 << attempt),
        ShopifyError::Stale | ShopifyError::Rejected(_) => None,
    })
    .await
}

/// Calls the ERP, waiting out throttling and transient failures a few times.
async fn retry_erp<T, F, Fut>(call: F) -> Result<T, ReconcileError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ErpError>>,
{
    retry("ERP", call, |e, attempt| match e {
        ErpError::Throttled { retry_after_ms } => Some((*retry_after_ms).max(100)),
        ErpError::Unavailable(_) => Some(200 << attempt),
        ErpError::Rejected(_) => None,
    })
    .await
    .map_err(ReconcileError::Erp)
}

/// Calls `call` until it succeeds, fails for good, or [`READ_ATTEMPTS`] are spent; `wait_ms`
/// says how long to wait before another attempt after an error (`None`: do not retry it).
async fn retry<T, E, F, Fut>(
    service: &str,
    mut call: F,
    wait_ms: impl Fn(&E, u32) -> Option<u64>,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => match wait_ms(&e, attempt) {
                Some(wait) if attempt + 1 < READ_ATTEMPTS => {
                    tracing::warn!(service, error = %e, wait_ms = wait, "call failed; retrying");
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    attempt += 1;
                }
                _ => return Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time() {
        let a = run_id(Timestamp(1_795_000_000_000_000_000));
        let b = run_id(Timestamp(1_795_000_001_000_000_000));
        assert!(a < b, "{a} {b}");
        assert!(a.starts_with("rc-20") && a.contains('T'), "{a}");
    }

    #[test]
    fn correction_keys_are_stable_per_run_and_item() {
        let k = correction_key("rc-1", "WH", InventoryItemId(5));
        assert_eq!(k, correction_key("rc-1", "WH", InventoryItemId(5)));
        assert_ne!(k, correction_key("rc-2", "WH", InventoryItemId(5)));
        assert_ne!(k, correction_key("rc-1", "WH", InventoryItemId(6)));
        assert!(k.starts_with("rc-WH-"));
    }

    #[test]
    fn a_snapshot_is_versioned_a_second_before_the_read() {
        let shop = ShopDomain::new("t.myshopify.com");
        let e = level_snapshot(
            &shop,
            "rc-1",
            InventoryItemId(1),
            LocationId(2),
            7,
            Timestamp(5_000_000_000),
        );
        assert_eq!(e.source.topic, RECONCILE_TOPIC);
        let EventBody::Stock { changes } = &e.body else {
            panic!("not a stock event")
        };
        match &changes[0] {
            StockChange::Available {
                available, version, ..
            } => {
                assert_eq!(*available, Some(7));
                assert_eq!(version.as_of, Timestamp(4_000_000_000));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.key, "t.myshopify.com:rc-1:1:2:0");
    }
}
