//! The reconcile handler: one run compares Shopify, Stockbridge (DynamoDB) and the ERP for one
//! shop, corrects the followers toward each location's master, logs every correction, keeps a
//! report and raises an alert when a location is over the threshold.
//!
//! It streams: per mapped location, Shopify's levels are read page by page (the adapter paces
//! itself by Shopify's `throttleStatus`) while the SKU map is read page by page in the same item
//! order, each page of mappings joined with its stock records (one BatchGetItem) and the ERP's
//! on-hand (one call). [`LocationPass`] merges the two streams; memory holds a page of each,
//! whatever the catalogue size. The rule is in [`stockbridge_domain::variance`].
//!
//! Corrections:
//! - Stockbridge behind Shopify (`available`, `committed` or a state): a `Quantities` snapshot of
//!   every name Shopify read is sent through the event queue, so the consumer applies it like its
//!   own reads (exactly once, logged). Its version is the time of Shopify's read minus one second
//!   (Shopify's `updated_at` has whole seconds), so a webhook for a later change still wins.
//! - `committed` differs (a lost `fulfillment_orders/*` or order webhook): the location's open
//!   fulfillment orders are read once (at the first such item admitted) and, when the location's
//!   pass ends, `refresh` messages name them and the differing levels: the consumer reads and
//!   applies what Shopify says (and re-reads lines marked `recheck` by its own logic). Each
//!   repair is a correction of its own, counted against the cap by the units of `committed` off.
//! - ERP drift: one ERP write of the difference under a key derived from the run and the item,
//!   so a retried call does not apply it twice.
//! - Shopify drift: `inventorySetQuantities` with `changeFromQuantity` (a concurrent change makes
//!   it `stale`, left for the next run) under an idempotency key derived from the run and item.
//!
//! Dry run plans and logs without correcting. The cap ([`Policy::cap_units`],
//! [`Policy::cap_corrections`]) bounds what one run changes on its own: past it corrections are
//! logged as `held` and the run alerts so an operator can look and re-run with the cap lifted.
//!
//! Here: the [`Reconciler`] and a run's steps. `pass`: one location's streaming pass.
//! `corrections`: applying, holding and logging corrections; revert. `report`: the
//! [`ReconcileReport`], its totals and alert. `keys`: run ids, correction keys, level snapshots.
//! `options`: what a run is asked to do.
//!
//! [`LocationPass`]: stockbridge_domain::variance::LocationPass
//! [`Policy::cap_units`]: stockbridge_domain::variance::Policy::cap_units
//! [`Policy::cap_corrections`]: stockbridge_domain::variance::Policy::cap_corrections

mod corrections;
mod keys;
mod options;
mod pass;
mod report;

pub use corrections::open_fulfillment_orders;
pub use keys::{
    commitments_refresh, correction_key, level_snapshot, quantities_snapshot, run_id, REFRESH_CHUNK,
};
pub use options::{policy_from_env, Action, RunOptions, RunRequest, ShopifyRead};
pub use report::{
    alert_detail, ReconcileReport, ReportedCorrection, UnmappedLocation, REPORT_CORRECTIONS,
    REPORT_VARIANCES,
};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::ports::{
    AlertSink, Erp, ErpError, EventQueue, Inbox, PortError, RunLock, ShopifyAdmin, ShopifyError,
    SkuMapStore, StockStore,
};
use crate::retry::{RetryPolicy, Retryable};
use crate::telemetry::{Metrics, Unit};
use corrections::Corrections;
use stockbridge_domain::ids::{LocationId, ShopDomain, Timestamp};
use stockbridge_domain::skumap::LocationMapping;
use stockbridge_domain::variance::OutOfOrder;

/// Mappings read per page of the SKU map (one BatchGetItem of stock records, one ERP call).
pub const MAPPING_PAGE: usize = 100;
/// Levels fed to the merge at a time from a bulk operation's sorted output.
pub const SHOPIFY_PAGE: usize = 250;
/// The detail type of the alert event.
pub const ALERT_DETAIL_TYPE: &str = "InventoryVarianceDetected";
/// The topic of level snapshots a run sends through the queue.
pub const RECONCILE_TOPIC: &str = "stockbridge/reconcile";

/// A run's reads of Shopify and the ERP: six calls before the run gives up, 200 ms doubling
/// (with jitter) to 3.2 s after a transient failure; a throttled call waits what the service
/// asks, at least 100 ms, and a wait over a minute fails the run (the next schedule retries).
const READS: RetryPolicy = RetryPolicy {
    attempts: 6,
    min_delay: Duration::from_millis(200),
    max_delay: Duration::from_millis(3200),
    max_wait: Duration::from_secs(60),
    min_after: Duration::from_millis(100),
};
/// A correction's write (an ERP write, a Shopify compare-and-set, each under a key that makes a
/// retry harmless): retried as the reads are. A failed one is reported, not fatal.
const CORRECTIONS: RetryPolicy = READS;

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
    /// Another run of this shop holds the lease: this one did nothing (the schedule tries again).
    #[error(
        "another reconciliation of this shop ({holder}) is running until {until}; nothing was done"
    )]
    AlreadyRunning { holder: String, until: String },
}

/// How long a run holds its shop's lease at most: the function's 15-minute limit, so a crashed
/// run frees it by itself.
pub const RUN_LEASE: Duration = Duration::from_secs(900);

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
    St: StockStore + SkuMapStore + Inbox + RunLock,
    E: Erp,
    S: ShopifyAdmin + crate::ports::ShopifyReads,
    Q: EventQueue,
    A: AlertSink,
{
    /// Runs one reconciliation; the report is stored and returned. One run per shop at a time:
    /// a run that finds the shop's lease held does nothing ([`ReconcileError::AlreadyRunning`]).
    pub async fn run(&self, options: &RunOptions) -> Result<ReconcileReport, ReconcileError> {
        let started_at = Timestamp::now();
        let run = run_id(started_at);
        let result = self
            .exclusively(&run, self.run_inner(&run, started_at, options))
            .await;
        match &result {
            Ok(report) => {
                self.metrics.put(
                    "ReconcileDurationMs",
                    report.duration_ms as f64,
                    Unit::Milliseconds,
                    None,
                );
            }
            Err(ReconcileError::AlreadyRunning { holder, .. }) => {
                tracing::warn!(run, holder, "another reconciliation is running; skipped");
                self.metrics.count("ReconcileOverlap", None);
            }
            Err(e) => {
                tracing::error!(run, error = %e, "reconciliation failed");
                self.metrics.count("ReconcileFailed", None);
            }
        }
        result
    }

    /// Runs `job` holding the shop's lease, given back afterwards whatever the outcome.
    async fn exclusively<T>(
        &self,
        run: &str,
        job: impl Future<Output = Result<T, ReconcileError>>,
    ) -> Result<T, ReconcileError> {
        let name = format!("reconcile#{}", self.shop);
        let until = Timestamp(Timestamp::now().0 + RUN_LEASE.as_nanos() as i64);
        if let Err(held) = self.store.acquire(&name, run, until).await? {
            return Err(ReconcileError::AlreadyRunning {
                holder: held.holder,
                until: held.until.to_rfc3339(),
            });
        }
        let result = job.await;
        if let Err(e) = self.store.release(&name, run).await {
            // The lease runs out by itself; the run's own outcome is what matters.
            tracing::warn!(run, "could not give the lease back: {e}");
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
        let mut report = ReconcileReport::for_run(run, &self.shop, started_at, options);
        let (mapped, at_shopify) = self.locations().await?;
        for location in at_shopify.iter().filter(|l| !mapped.contains_key(l)) {
            let unmapped = self.unmapped_location(*location).await?;
            report.unmapped_locations.push(unmapped);
        }
        self.compare(run, options, &mapped, &at_shopify, &mut report)
            .await?;
        report.conclude(&options.policy, started.elapsed());
        report.emit_metrics(&self.metrics);
        self.store_report(&report).await?;
        self.alert(&report).await?;
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

    /// The locations the SKU map names, and the shop's active locations at Shopify.
    async fn locations(
        &self,
    ) -> Result<(BTreeMap<LocationId, LocationMapping>, BTreeSet<LocationId>), ReconcileError> {
        let mapped = self
            .store
            .lookup(&self.shop, &[], &[], &[])
            .await?
            .locations
            .into_iter()
            .collect();
        let at_shopify = read_shopify(|| self.shopify.locations())
            .await?
            .into_iter()
            .collect();
        Ok((mapped, at_shopify))
    }

    /// One pass per mapped location Shopify still has, then the last corrections flushed.
    async fn compare(
        &self,
        run: &str,
        options: &RunOptions,
        mapped: &BTreeMap<LocationId, LocationMapping>,
        at_shopify: &BTreeSet<LocationId>,
        report: &mut ReconcileReport,
    ) -> Result<(), ReconcileError> {
        let mut pending = Corrections::default();
        for mapping in mapped.values() {
            if !at_shopify.contains(&mapping.location) {
                tracing::warn!(
                    location = %mapping.location,
                    "mapped location is not an active Shopify location; skipped"
                );
                continue;
            }
            let tally = self
                .pass(run, mapping, options, report, &mut pending)
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
        self.flush(&mut pending).await
    }

    /// Stores the report for operators (`stockbridge reconcile report`).
    async fn store_report(&self, report: &ReconcileReport) -> Result<(), ReconcileError> {
        let stored = serde_json::to_string(report).unwrap_or_default();
        self.store
            .put_report(&self.shop, &report.run, &stored)
            .await?;
        Ok(())
    }

    /// Publishes the alert if the report calls for one. The report is stored and the metrics
    /// are out; a failed alert fails the run so the scheduler retries it and the failure metric
    /// alarms.
    async fn alert(&self, report: &ReconcileReport) -> Result<(), ReconcileError> {
        if report.alert {
            let detail = alert_detail(report);
            self.alerts.publish(ALERT_DETAIL_TYPE, &detail).await?;
            self.metrics.count("ReconcileAlerts", None);
        }
        Ok(())
    }
}

/// Calls `service` under `policy`, logging each retry.
async fn with_retries<T, Er, F, Fut>(
    service: &'static str,
    policy: &RetryPolicy,
    call: F,
) -> Result<T, Er>
where
    Er: Retryable + Display,
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = Result<T, Er>> + Send,
{
    policy
        .run(call, |e, wait| {
            let wait_ms = wait.as_millis() as u64;
            tracing::warn!(service, error = %e, wait_ms, "call failed; retrying");
        })
        .await
}

/// Reads Shopify under [`READS`].
async fn read_shopify<T, F, Fut>(call: F) -> Result<T, ReconcileError>
where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = Result<T, ShopifyError>> + Send,
{
    with_retries("Shopify", &READS, call)
        .await
        .map_err(ReconcileError::Shopify)
}

/// Reads the ERP under [`READS`].
async fn read_erp<T, F, Fut>(call: F) -> Result<T, ReconcileError>
where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = Result<T, ErpError>> + Send,
{
    with_retries("ERP", &READS, call)
        .await
        .map_err(ReconcileError::Erp)
}

impl<St, E, S, Q, A> Reconciler<St, E, S, Q, A>
where
    St: StockStore + SkuMapStore + Inbox + RunLock,
    E: Erp,
    S: ShopifyAdmin + crate::ports::ShopifyReads + crate::webhook_health::WebhookSubscriptions,
    Q: EventQueue,
    A: AlertSink,
{
    /// [`Reconciler::run`], first checking the shop's webhook subscriptions and access scopes
    /// against `needs` (metrics `WebhookSubscriptionsMissing`, `AccessScopesMissing`; a check
    /// that cannot read Shopify is logged and counted, and the run goes on).
    pub async fn run_checking_webhooks(
        &self,
        options: &RunOptions,
        needs: &crate::webhook_health::Needs,
    ) -> Result<ReconcileReport, ReconcileError> {
        crate::webhook_health::check_and_record(&self.shopify, needs, &self.metrics).await;
        self.run(options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Calls `with_retries` under [`READS`] with errors served in turn, then success.
    async fn calls_until_done(errors: Vec<ShopifyError>) -> (Result<(), ShopifyError>, u32) {
        let calls = AtomicU32::new(0);
        let result = with_retries("Shopify", &READS, || {
            let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
            let e = errors.get(n).cloned();
            async move { e.map_or(Ok(()), Err) }
        })
        .await;
        (result, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_stale_or_refused_call_is_not_retried() {
        let (result, calls) = calls_until_done(vec![ShopifyError::Stale]).await;
        assert_eq!((result, calls), (Err(ShopifyError::Stale), 1));
        let refused = vec![ShopifyError::Rejected("scope".into())];
        assert_eq!(calls_until_done(refused).await.1, 1);
    }

    #[tokio::test]
    async fn a_throttled_read_waits_at_least_100_ms_then_succeeds() {
        let started = Instant::now();
        let throttled = vec![ShopifyError::Throttled { retry_after_ms: 0 }];
        assert_eq!(calls_until_done(throttled).await, (Ok(()), 2));
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
