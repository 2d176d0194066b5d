//! The ERP sync: the ERP's own changes (the `erp_change` events of the ERP changes queue, from
//! the poller or the ERP's webhook) applied to Shopify.
//!
//! Owns the order of the work and its retries; the figures are the domain's
//! ([`stockbridge_domain::storefront`]). Per batch and shop: the shop's storefront settings and
//! the SKU map of the ERP items named are read once; then
//!
//! - **stock** (`stock`): the ERP record of the warehouse and item takes the fact if it is newer
//!   (a duplicate or an older fact changes nothing), and at every ERP-master location mapped to
//!   the warehouse Shopify's `available` is set to the derived figure with compare-and-set
//!   (`changeFromQuantity` = what Shopify was just read to hold) under an `@idempotent` key of
//!   the ERP move: a storefront sale landing between the read and the write makes the write
//!   stale, and the sync re-reads, recomputes and tries again (bounded), so the sale survives.
//!   Shopify is written before the record, so a crash in between is a redelivery that finds
//!   Shopify already right. While a Stockbridge write to the ERP is owed or in flight at the
//!   location, the ERP's figure is about to move by what Shopify already shows: the change is
//!   deferred until it settles. The reorder signal is decided with the record and published
//!   from the record's outbox.
//! - **restock and fields** (`catalogue`): the next restock date and quantity, and the field
//!   map's fields, written to the variant's metafields when they change, deleted when gone.
//!
//! - **transfers** into a Shopify-master location (`stock`): Shopify is not told (the shop floor
//!   receives them in Shopify), but the stock consumer is (`erp_transfer`), so that receipt
//!   is not told to the ERP a second time: counted once in each system.
//!
//! What cannot be done now (Shopify throttled or down, a write deferred, a conflict) is sent
//! again on the ERP changes queue with a growing delay (2 s doubling to 15 minutes, 12
//! attempts, then `ErpSyncAbandoned` and the message fails to the dead-letter queue). Facts are
//! absolute, so a retry is always safe.

mod catalogue;
mod stock;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use stockbridge_domain::event::{EventBody, InventoryEvent, Part, Source, SCHEMA_VERSION};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::storefront::ErpChange;

use crate::ports::{
    AlertSink, ErpRecords, EventQueue, Metafields, ShopifyAdmin, ShopifyReads, StockStore,
    StorefrontMap,
};
use crate::telemetry::Metrics;

/// The detail type of the reorder signal on the project's bus.
pub const REORDER_DETAIL_TYPE: &str = "StockBelowReorderPoint";

/// Tries of one write against a stale answer before the change is sent again later.
pub const STALE_TRIES: u32 = 4;

/// Attempts of a change before it is given up (to the dead-letter queue).
pub const MAX_ATTEMPTS: u32 = 12;

const RETRY_BASE: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(900);

/// The ERP sync over its ports: the store (ERP records, the storefront map, the stock records
/// for what is owed to the ERP), Shopify's Admin API, the bus, and the queue it retries on.
pub struct ErpSync<S, W, A, Q> {
    /// The shop whose Admin API `shopify` is: the sync refuses another shop's changes (one
    /// shop per deployment, as the Admin API token is).
    pub shop: ShopDomain,
    pub store: S,
    pub shopify: W,
    pub alerts: A,
    pub retries: Q,
    /// The stock consumer's queue: a transfer the ERP booked into a Shopify-master location
    /// goes there as an `erp_transfer` change, so Shopify's receipt of it is not told back.
    pub stock_events: Q,
    pub metrics: Metrics,
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SyncReport {
    /// Messages that failed (they come back, then go to the dead-letter queue).
    pub failed: Vec<String>,
    pub reasons: BTreeMap<String, String>,
    /// Shopify writes made (`available` sets, metafield sets and deletes).
    pub writes: u32,
    /// Changes sent again for later.
    pub retried: u32,
}

/// Why one change could not be finished now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Later {
    /// Worth trying again after a delay (Shopify throttled or down, a write owed to the ERP,
    /// a concurrent writer, stale answers).
    Retry(String),
    /// Will fail every time (bad data): counted, logged, and the message fails.
    Fail(String),
}

impl<S, W, A, Q> ErpSync<S, W, A, Q>
where
    S: ErpRecords + StorefrontMap + StockStore,
    W: ShopifyAdmin + ShopifyReads + Metafields,
    A: AlertSink,
    Q: EventQueue,
{
    /// Applies `(message id, body)` pairs.
    pub async fn apply_messages(&self, messages: &[(String, String)]) -> SyncReport {
        let mut report = SyncReport::default();
        let mut by_shop: BTreeMap<ShopDomain, Vec<(String, InventoryEvent)>> = BTreeMap::new();
        for (id, body) in messages {
            match InventoryEvent::from_json(body) {
                Ok(event) if matches!(event.body, EventBody::ErpChange { .. }) => {
                    by_shop
                        .entry(event.shop.clone())
                        .or_default()
                        .push((id.clone(), event));
                }
                Ok(event) => {
                    self.fail(
                        &mut report,
                        id,
                        format!("not an erp_change event: {}", event.key),
                    );
                }
                Err(e) => self.fail(&mut report, id, format!("not an event: {e}")),
            }
        }
        for (shop, events) in by_shop {
            if shop != self.shop {
                for (id, _) in &events {
                    self.fail(
                        &mut report,
                        id,
                        format!(
                            "an ERP change for {shop}, but this sync writes to {}'s Admin API",
                            self.shop
                        ),
                    );
                }
                continue;
            }
            self.apply_shop(&shop, &events, &mut report).await;
        }
        report
    }

    fn fail(&self, report: &mut SyncReport, id: &str, reason: String) {
        self.metrics.count("ErpSyncFailed", None);
        tracing::error!(message_id = %id, "ERP change failed: {reason}");
        report.failed.push(id.to_string());
        report.reasons.insert(id.to_string(), reason);
    }

    async fn apply_shop(
        &self,
        shop: &ShopDomain,
        events: &[(String, InventoryEvent)],
        report: &mut SyncReport,
    ) {
        let items: BTreeSet<String> = events
            .iter()
            .flat_map(|(_, e)| changes_of(e).iter().map(|c| c.item().to_string()))
            .collect();
        let items: Vec<String> = items.into_iter().collect();
        let context = match self.context(shop, &items).await {
            Ok(c) => c,
            Err(reason) => {
                // Nothing could be read: every message comes back.
                for (id, e) in events {
                    self.later(
                        report,
                        id,
                        e,
                        changes_of(e).to_vec(),
                        Later::Retry(reason.clone()),
                    )
                    .await;
                }
                return;
            }
        };
        for (id, event) in events {
            let mut again = Vec::new();
            let mut failure = None;
            let attempt = match &event.body {
                EventBody::ErpChange { attempt, .. } => *attempt,
                _ => 0,
            };
            for change in changes_of(event) {
                let done = match change {
                    ErpChange::Stock { .. } => {
                        self.stock(shop, change, attempt, &context, report).await
                    }
                    ErpChange::Restock { .. } | ErpChange::Fields { .. } => {
                        self.catalogue(shop, change, &context, report).await
                    }
                };
                match done {
                    Ok(()) => self.metrics.count("ErpChangesApplied", None),
                    Err(Later::Retry(why)) => {
                        tracing::info!(key = %event.key, item = change.item(), "later: {why}");
                        again.push(change.clone());
                        failure.get_or_insert(Later::Retry(why));
                    }
                    Err(Later::Fail(why)) => failure = Some(Later::Fail(why)),
                }
            }
            match failure {
                None => {}
                Some(Later::Fail(why)) => self.fail(report, id, why),
                Some(retry) => self.later(report, id, event, again, retry).await,
            }
        }
    }

    /// Sends `changes` of `event` again after the attempt's delay; fails the message if that
    /// cannot be done or the attempts are used up.
    async fn later(
        &self,
        report: &mut SyncReport,
        id: &str,
        event: &InventoryEvent,
        changes: Vec<ErpChange>,
        why: Later,
    ) {
        let attempt = match &event.body {
            EventBody::ErpChange { attempt, .. } => *attempt,
            _ => 0,
        };
        let reason = match why {
            Later::Retry(r) | Later::Fail(r) => r,
        };
        if attempt + 1 >= MAX_ATTEMPTS {
            self.metrics.count("ErpSyncAbandoned", None);
            return self.fail(
                report,
                id,
                format!("given up after {MAX_ATTEMPTS} attempts: {reason}"),
            );
        }
        let retry = InventoryEvent {
            schema: SCHEMA_VERSION,
            key: retry_key(&event.key, attempt + 1),
            shop: event.shop.clone(),
            source: Source::internal("stockbridge/erp-sync-retry", Timestamp::now()),
            part: Part::WHOLE,
            body: EventBody::ErpChange {
                changes,
                attempt: attempt + 1,
            },
        };
        let delay = RETRY_BASE
            .saturating_mul(1u32 << attempt.min(20))
            .min(RETRY_MAX);
        match self.retries.send_after(&[retry], delay).await {
            Ok(()) => {
                self.metrics.count("ErpSyncRetried", None);
                report.retried += 1;
            }
            Err(e) => self.fail(report, id, format!("{reason}; and its retry: {e}")),
        }
    }

    async fn context(&self, shop: &ShopDomain, items: &[String]) -> Result<Context, String> {
        let settings = self
            .store
            .storefront_settings(shop)
            .await
            .map_err(|e| e.to_string())?;
        let map = self
            .store
            .lookup_erp_items(shop, items)
            .await
            .map_err(|e| e.to_string())?;
        let mut by_erp: HashMap<String, Vec<stockbridge_domain::skumap::ItemMapping>> =
            HashMap::new();
        for m in map.items.values() {
            by_erp
                .entry(m.erp_item.clone())
                .or_default()
                .push(m.clone());
        }
        for v in by_erp.values_mut() {
            v.sort_by_key(|m| m.item);
        }
        Ok(Context {
            settings,
            by_erp,
            locations: map.locations.into_values().collect(),
        })
    }
}

/// What a shop's batch reads once.
pub(crate) struct Context {
    pub settings: crate::ports::StorefrontSettings,
    /// The Shopify items selling each ERP item, in item order.
    pub by_erp: HashMap<String, Vec<stockbridge_domain::skumap::ItemMapping>>,
    pub locations: Vec<stockbridge_domain::skumap::LocationMapping>,
}

fn changes_of(event: &InventoryEvent) -> &[ErpChange] {
    match &event.body {
        EventBody::ErpChange { changes, .. } => changes,
        _ => &[],
    }
}

/// The key of the `attempt`th retry of the event keyed `key`.
fn retry_key(key: &str, attempt: u32) -> String {
    let base = key.rsplit_once("~s").map_or(key, |(b, _)| b);
    format!("{base}~s{attempt}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_keys_replace_the_attempt() {
        assert_eq!(retry_key("shop:erp:n1:0", 1), "shop:erp:n1:0~s1");
        assert_eq!(retry_key("shop:erp:n1:0~s1", 2), "shop:erp:n1:0~s2");
    }
}
