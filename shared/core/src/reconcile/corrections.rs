//! Corrections: one applied toward its master (or only planned in a dry run, or held back past
//! the cap), each logged with the variance that called for it, the log and the level snapshots
//! flushed in batches; and an operator's revert of a run.

use super::report::{ReconcileReport, ReportedCorrection, APPLIED, DRY_RUN, HELD, STALE};
use super::{
    commitments_refresh, correction_key, level_snapshot, quantities_snapshot, read_shopify, run_id,
    with_retries, ReconcileError, Reconciler, RunOptions, CORRECTIONS,
};
use crate::ports::RunLock;
use crate::ports::{
    AlertSink, CorrectionRecord, Erp, EventQueue, Inbox, ShopifyAdmin, ShopifyError, ShopifyReads,
    ShopifySet, SkuMapStore, StockStore,
};
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_domain::event::InventoryEvent;
use stockbridge_domain::ids::{FulfillmentOrderId, LocationId, Timestamp};
use stockbridge_domain::stock::StockKey;
use stockbridge_domain::variance::{CapBudget, Correction, Variance};

/// Log entries written at a time (one `BatchWriteItem` takes 25).
const LOG_BATCH: usize = 25;
/// Level snapshots sent at a time (one SQS batch takes 10).
const SNAPSHOT_BATCH: usize = 10;

/// The corrections of a run in progress: what the cap still admits, and the log entries and
/// level snapshots not yet written.
#[derive(Debug, Default)]
pub(super) struct Corrections {
    pub budget: CapBudget,
    pub log: Vec<CorrectionRecord>,
    pub snapshots: Vec<InventoryEvent>,
    /// The commitments repair of the location being compared.
    pub repair: Repair,
}

/// A location's commitments repair in progress: its open fulfillment orders (read once, at the
/// first repair admitted; the error if that read failed) and the levels whose `committed`
/// differs. Sent as `refresh` messages when the location's pass ends.
#[derive(Debug, Default)]
pub(super) struct Repair {
    pub open: Option<Result<Vec<FulfillmentOrderId>, String>>,
    pub levels: Vec<StockKey>,
}

impl Corrections {
    /// A batch of log entries or snapshots is ready to write.
    pub fn batch_ready(&self) -> bool {
        self.log.len() >= LOG_BATCH || self.snapshots.len() >= SNAPSHOT_BATCH
    }
}

/// Why a correction was not applied.
enum ApplyError {
    /// Shopify's level changed since the read: left for the next run.
    Stale,
    Failed(String),
}

impl<St, E, S, Q, A> Reconciler<St, E, S, Q, A>
where
    St: StockStore + SkuMapStore + Inbox + RunLock,
    E: Erp,
    S: ShopifyAdmin + crate::ports::ShopifyReads,
    Q: EventQueue,
    A: AlertSink,
{
    /// Undoes the corrections a run applied (an operator's decision): each is applied reversed,
    /// logged and reported under a new run id. Shopify's compare-and-set refuses to undo a
    /// level that changed since (`stale`).
    pub async fn revert(
        &self,
        original: &ReconcileReport,
    ) -> Result<ReconcileReport, ReconcileError> {
        let started_at = Timestamp::now();
        let run = format!("{}-revert", run_id(started_at));
        self.exclusively(&run, self.revert_as(&run, started_at, original))
            .await
    }

    async fn revert_as(
        &self,
        run: &str,
        started_at: Timestamp,
        original: &ReconcileReport,
    ) -> Result<ReconcileReport, ReconcileError> {
        let started = std::time::Instant::now();
        let run = run.to_string();
        let mut report = ReconcileReport {
            reverts: Some(original.run.clone()),
            ..ReconcileReport::begin(&run, &self.shop, started_at)
        };
        let mut pending = Corrections::default();
        // A commitments repair has nothing to undo: it made the consumer read Shopify again.
        let undoable = original
            .applied
            .iter()
            .filter(|c| !matches!(c, Correction::RepairCommitments { .. }));
        for correction in undoable.map(Correction::reversed) {
            let outcome = self
                .apply(&run, &correction, started_at, &mut pending)
                .await;
            let done = ReportedCorrection {
                correction,
                outcome: outcome_name(outcome),
            };
            report.count_correction(&done);
            pending.log.push(CorrectionRecord {
                shop: self.shop.clone(),
                run: run.clone(),
                correction: done.correction,
                reason: format!("revert of {}", original.run),
                outcome: done.outcome,
                at: Timestamp::now(),
            });
            if pending.batch_ready() {
                self.flush(&mut pending).await?;
            }
        }
        self.flush(&mut pending).await?;
        report.finish(started.elapsed());
        self.store_report(&report).await?;
        Ok(report)
    }

    /// Applies (or plans, or holds) one correction and records it for the log.
    pub(super) async fn correct(
        &self,
        run: &str,
        correction: &Correction,
        variance: &Variance,
        read_at: Timestamp,
        options: &RunOptions,
        pending: &mut Corrections,
    ) -> Result<ReportedCorrection, ReconcileError> {
        let outcome = if options.policy.dry_run {
            DRY_RUN.to_string()
        } else if !pending.budget.admit(
            &options.policy,
            correction.units().unwrap_or(variance.units),
        ) && !options.lift_cap
        {
            HELD.to_string()
        } else {
            let applied = self.apply(run, correction, read_at, pending).await;
            if let Err(ApplyError::Failed(why)) = &applied {
                tracing::warn!(run, item = %correction.item(), error = %why, "correction failed");
            }
            outcome_name(applied)
        };
        pending.log.push(CorrectionRecord {
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

    /// Changes the follower: a level or quantities snapshot for Stockbridge (sent with the next
    /// flush), a commitments repair (sent when the location's pass ends), an ERP write under the
    /// correction's key, a compare-and-set of Shopify's `available`.
    async fn apply(
        &self,
        run: &str,
        correction: &Correction,
        read_at: Timestamp,
        pending: &mut Corrections,
    ) -> Result<(), ApplyError> {
        let snapshots = &mut pending.snapshots;
        match correction {
            Correction::RecordQuantities {
                item,
                location,
                after,
                ..
            } => {
                snapshots.push(quantities_snapshot(
                    &self.shop, run, *item, *location, *after, read_at,
                ));
                Ok(())
            }
            Correction::RepairCommitments { item, location, .. } => {
                if pending.repair.open.is_none() {
                    let read = self.open_fulfillment_orders(*location).await;
                    pending.repair.open = Some(read.map_err(|e| e.to_string()));
                }
                match pending.repair.open.as_ref() {
                    Some(Ok(_)) => {
                        pending.repair.levels.push(StockKey {
                            shop: self.shop.clone(),
                            item: *item,
                            location: *location,
                        });
                        Ok(())
                    }
                    Some(Err(why)) => Err(ApplyError::Failed(format!(
                        "reading the open fulfillment orders at {location}: {why}"
                    ))),
                    None => Err(ApplyError::Failed("no fulfillment order read".into())),
                }
            }
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
                with_retries("ERP", &CORRECTIONS, || self.erp.apply(&write))
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
                let call = || {
                    self.shopify
                        .set_available(std::slice::from_ref(&set), "correction", &key)
                };
                match with_retries("Shopify", &CORRECTIONS, call).await {
                    Ok(()) => Ok(()),
                    Err(ShopifyError::Stale) => Err(ApplyError::Stale),
                    Err(e) => Err(ApplyError::Failed(e.to_string())),
                }
            }
        }
    }

    /// Every open fulfillment order assigned to `location`, all pages.
    async fn open_fulfillment_orders(
        &self,
        location: LocationId,
    ) -> Result<Vec<FulfillmentOrderId>, ReconcileError> {
        open_fulfillment_orders(&self.shopify, location).await
    }

    /// At the end of a location's pass: the `refresh` messages of its commitments repair (the
    /// open fulfillment orders read, the levels whose `committed` differs), queued for the
    /// next flush; the repair is cleared for the next location.
    pub(super) fn end_repair(&self, run: &str, location: LocationId, pending: &mut Corrections) {
        let repair = std::mem::take(&mut pending.repair);
        if let (Some(Ok(open)), false) = (repair.open, repair.levels.is_empty()) {
            let events = commitments_refresh(&self.shop, run, location, &open, &repair.levels);
            pending.snapshots.extend(events);
        }
    }

    /// Sends the buffered level snapshots and writes the buffered log entries.
    pub(super) async fn flush(&self, pending: &mut Corrections) -> Result<(), ReconcileError> {
        for batch in pending.snapshots.chunks(SNAPSHOT_BATCH) {
            self.queue.send(batch).await?;
        }
        pending.snapshots.clear();
        if !pending.log.is_empty() {
            self.store.log_corrections(&pending.log).await?;
            pending.log.clear();
        }
        Ok(())
    }
}

/// Every open fulfillment order assigned to `location`, all pages, each read under the
/// reconciliation's retries: what a commitments repair ([`commitments_refresh`]) names (the
/// backfill sends one too).
pub async fn open_fulfillment_orders<R: ShopifyReads>(
    shopify: &R,
    location: LocationId,
) -> Result<Vec<FulfillmentOrderId>, ReconcileError> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let c = cursor.clone();
        let (page, next) =
            read_shopify(|| shopify.open_fulfillment_orders(location, c.clone())).await?;
        ids.extend(page.into_iter().map(|fo| fo.id));
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok(ids),
        }
    }
}

/// The outcome a correction is logged and reported with.
fn outcome_name(applied: Result<(), ApplyError>) -> String {
    match applied {
        Ok(()) => APPLIED.to_string(),
        Err(ApplyError::Stale) => STALE.to_string(),
        Err(ApplyError::Failed(why)) => format!("failed: {why}"),
    }
}

/// The reason a correction's log entry gives: the variance's kind and every side's figures.
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
