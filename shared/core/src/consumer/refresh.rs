//! Reading what a batch left unexplained ([`Needs`]) from Shopify's Admin API, and applying what
//! Shopify says like any other fact.
//!
//! Webhooks leave two things open: where Shopify assigned an online order's lines (the
//! `fulfillment_orders/*` payloads name the fulfillment orders, not their lines or location), and
//! the quantity names beside `available` (a count, or units moved to `damaged`, arrive as a bare
//! `available`). After the batch, the consumer reads first the fulfillment orders (which explain
//! most of what orders did), then every quantity name of the records still unsettled, each in
//! as few requests as the adapter's batching allows, and applies the answers as snapshot facts
//! versioned by Shopify's `updatedAt` of what was read (else one second before the read, as
//! reconciliation does, so a webhook sent meanwhile still wins). What is asked comes from the stored state (unsettled records,
//! lines marked `recheck`) and from the batch's `fulfillment_orders/*` events, duplicates
//! included: a redelivery after a crash asks again.
//!
//! A read that fails (throttled, Shopify down, not configured) leaves the records unsettled, so
//! the ERP is told nothing from them; the consumer sends itself a `refresh` message with a growing
//! delay (2 s doubling to 15 minutes, [`MAX_REFRESH_ATTEMPTS`] in all), and reconciliation reads
//! every level in any case.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{BatchReport, StockConsumer};
use crate::deadline::Clock;
use crate::ports::{
    Erp, ErpSales, EventQueue, FulfillmentOrderRead, LevelRead, ShopifyReads, SkuMapStore,
    StockStore, Wanted,
};
use crate::telemetry::Unit;
use stockbridge_domain::batch::Masters;
use stockbridge_domain::event::{
    EventBody, InventoryEvent, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{FulfillmentOrderId, ShopDomain, Timestamp, Version};
use stockbridge_domain::stock::{Book, StockKey};

/// A scheduled refresh gives up after this many attempts (about 2 hours of backoff in all);
/// reconciliation reads every level anyway.
pub const MAX_REFRESH_ATTEMPTS: u32 = 12;
const REFRESH_FIRST_DELAY: Duration = Duration::from_secs(2);
const REFRESH_MAX_DELAY: Duration = Duration::from_secs(900);
/// A fulfillment order's lines go in facts of at most this many (each line may write its record,
/// two levels and their log entries: 5 transaction actions).
const LINES_PER_FACT: usize = 15;
/// Quantity reads go in events of at most this many facts.
const LEVELS_PER_EVENT: usize = 19;

/// What is left to read from the Admin API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub fulfillment_orders: BTreeMap<ShopDomain, BTreeSet<FulfillmentOrderId>>,
    /// Records whose `on_hand` is unexplained, at mapped locations.
    pub levels: BTreeSet<StockKey>,
    /// Orders whose record changed: the order flow takes their next steps (not a read).
    pub orders: BTreeSet<stockbridge_domain::stock::OrderKey>,
}

impl Needs {
    pub fn is_empty(&self) -> bool {
        self.fulfillment_orders.values().all(BTreeSet::is_empty) && self.levels.is_empty()
    }

    pub fn merge(&mut self, other: Needs) {
        for (shop, ids) in other.fulfillment_orders {
            self.fulfillment_orders.entry(shop).or_default().extend(ids);
        }
        self.levels.extend(other.levels);
        self.orders.extend(other.orders);
    }

    pub fn add_fulfillment_orders(
        &mut self,
        shop: &ShopDomain,
        ids: impl IntoIterator<Item = FulfillmentOrderId>,
    ) {
        let set = self.fulfillment_orders.entry(shop.clone()).or_default();
        set.extend(ids);
        if set.is_empty() {
            self.fulfillment_orders.remove(shop);
        }
    }

    /// What `events` (duplicates included) and the state after them leave to read: the
    /// fulfillment orders the events name and those of lines marked `recheck`; the records at
    /// mapped locations that are not settled.
    pub fn of(events: &[InventoryEvent], book: &Book, masters: &Masters) -> Needs {
        let mut needs = Needs::default();
        for event in events {
            if let EventBody::Stock { changes } = &event.body {
                for change in changes {
                    if let StockChange::FulfillmentOrdersChanged {
                        fulfillment_orders, ..
                    } = change
                    {
                        needs.add_fulfillment_orders(&event.shop, fulfillment_orders.clone());
                    }
                }
            }
        }
        for (key, line) in book.lines.iter().filter(|(_, l)| l.recheck) {
            needs.add_fulfillment_orders(&key.shop, line.parts.keys().copied());
        }
        needs.levels = book
            .levels
            .iter()
            .filter(|(k, l)| {
                l.unsettled_since.is_some() && masters.contains_key(&(k.shop.clone(), k.location))
            })
            .map(|(k, _)| k.clone())
            .collect();
        needs
    }
}

impl<S: StockStore + SkuMapStore, E: Erp, Q: EventQueue, R: ShopifyReads, O: ErpSales>
    StockConsumer<S, E, Q, R, O>
{
    /// Reads and applies what `needs` asks (see the module), the batch being at `attempt` of its
    /// refresh; what it could not read is scheduled again. Stock the reads settle joins the
    /// ERP push.
    pub(super) async fn refresh(
        &self,
        needs: Needs,
        attempt: u32,
        clock: &Clock,
        report: &mut BatchReport,
    ) {
        if needs.is_empty() {
            return;
        }
        let Some(reads) = &self.shopify else {
            self.metrics.put(
                "StockUnexplained",
                needs.levels.len() as f64,
                Unit::Count,
                None,
            );
            tracing::warn!(
                levels = needs.levels.len(),
                "no Admin API to read what webhooks leave open: those records tell the ERP \
                 nothing until reconciliation reads them"
            );
            return;
        };
        let mut left = Needs::default();
        let mut settled_keys: BTreeSet<StockKey> = BTreeSet::new();
        let mut levels = needs.levels.clone();
        // First the fulfillment orders: they explain what orders did.
        for (shop, ids) in &needs.fulfillment_orders {
            let ids: Vec<FulfillmentOrderId> = ids.iter().copied().collect();
            if !clock.may_start() {
                left.add_fulfillment_orders(shop, ids);
                continue;
            }
            let read_at = Timestamp::now();
            match clock.within_opt(reads.fulfillment_orders(&ids)).await {
                Some(Ok(fos)) => {
                    self.metrics
                        .count("ShopifyReads", Some("fulfillment_orders"));
                    let events = fulfillment_order_events(shop, &fos, read_at);
                    match self.apply_reads(events, clock).await {
                        Some(sub) => {
                            levels.extend(sub.needs.levels.iter().cloned());
                            settled_keys.extend(touched(&sub));
                        }
                        None => left.add_fulfillment_orders(shop, ids),
                    }
                }
                Some(Err(e)) => {
                    self.metrics
                        .count("ShopifyReadFailed", Some("fulfillment_orders"));
                    tracing::warn!(shop = %shop, count = ids.len(), "could not read fulfillment orders: {e}");
                    left.add_fulfillment_orders(shop, ids);
                }
                None => left.add_fulfillment_orders(shop, ids),
            }
        }
        // Then every quantity name of what is still unexplained.
        let unsettled = self.still_unsettled(&levels).await;
        if !unsettled.is_empty() {
            let pairs: Vec<_> = unsettled.iter().map(|k| (k.item, k.location)).collect();
            let read_at = Timestamp::now();
            let read = if clock.may_start() {
                clock.within_opt(reads.quantities(&pairs)).await
            } else {
                None
            };
            match read {
                Some(Ok(answers)) => {
                    self.metrics.count("ShopifyReads", Some("quantities"));
                    let events = quantity_events(&unsettled, &answers, read_at);
                    match self.apply_reads(events, clock).await {
                        Some(sub) => {
                            settled_keys.extend(touched(&sub));
                            // Still unexplained after a read: an order whose routing is not
                            // read yet, or facts newer than the read. The next touch reads again.
                            // (The apply worked them out from the records it wrote.)
                            self.metrics.put(
                                "StockUnsettled",
                                sub.needs.levels.len() as f64,
                                Unit::Count,
                                None,
                            );
                        }
                        None => left.levels.extend(unsettled),
                    }
                }
                Some(Err(e)) => {
                    self.metrics.count("ShopifyReadFailed", Some("quantities"));
                    tracing::warn!(levels = pairs.len(), "could not read quantities: {e}");
                    left.levels.extend(unsettled);
                }
                None => left.levels.extend(unsettled),
            }
        }
        if !settled_keys.is_empty() {
            // Stock the reads explained may owe the ERP: push it with the batch. It rides on the
            // batch's first message, which comes back if its retry cannot be scheduled.
            match report.touched.first_mut() {
                Some((_, keys)) => keys.extend(settled_keys),
                None => report.touched.push((String::new(), settled_keys)),
            }
        }
        if !left.is_empty() {
            self.schedule_refresh(left, attempt).await;
        }
    }

    /// Applies the events built from reads (synthetic, not queue messages); `None` if any of
    /// them could not be applied.
    async fn apply_reads(&self, events: Vec<InventoryEvent>, clock: &Clock) -> Option<BatchReport> {
        let mut sub = BatchReport::default();
        let numbered: Vec<(String, InventoryEvent)> = events
            .into_iter()
            .enumerate()
            .map(|(n, e)| (format!("read-{n}"), e))
            .collect();
        for chunk in super::chunks(&numbered) {
            self.apply_chunk(chunk, clock, &mut sub).await;
        }
        if sub.failed.is_empty() {
            Some(sub)
        } else {
            tracing::warn!(
                failed = sub.failed.len(),
                "could not apply what Shopify answered"
            );
            None
        }
    }

    /// Which of `keys` are still unsettled in the store (unreadable: all of them).
    async fn still_unsettled(&self, keys: &BTreeSet<StockKey>) -> BTreeSet<StockKey> {
        if keys.is_empty() {
            return BTreeSet::new();
        }
        let wanted = Wanted {
            levels: keys.clone(),
            ..Wanted::default()
        };
        match self.store.load(&wanted).await {
            Ok(loaded) => keys
                .iter()
                .filter(|k| {
                    loaded
                        .book
                        .levels
                        .get(*k)
                        .is_some_and(|l| l.unsettled_since.is_some())
                })
                .cloned()
                .collect(),
            Err(e) => {
                tracing::warn!("could not read back which records are unsettled: {e}");
                keys.clone()
            }
        }
    }

    async fn schedule_refresh(&self, left: Needs, attempt: u32) {
        let next = attempt.saturating_add(1);
        if next > MAX_REFRESH_ATTEMPTS {
            self.metrics.count("RefreshAbandoned", None);
            tracing::error!(
                levels = left.levels.len(),
                "gave up reading Shopify after {MAX_REFRESH_ATTEMPTS} attempts; reconciliation \
                 reads these levels (their stock tells the ERP nothing meanwhile)"
            );
            return;
        }
        let Some(queue) = &self.retries else {
            tracing::warn!("no queue to schedule the read again; reconciliation reads it");
            return;
        };
        let delay = REFRESH_FIRST_DELAY
            .saturating_mul(1u32 << attempt.min(9))
            .min(REFRESH_MAX_DELAY);
        for event in refresh_events(&left, next) {
            if let Err(e) = queue.send_after(&[event], delay).await {
                tracing::error!("could not schedule the read again: {e}; reconciliation reads it");
                return;
            }
        }
        self.metrics.count("RefreshScheduled", None);
    }
}

fn touched(report: &BatchReport) -> impl Iterator<Item = StockKey> + '_ {
    report.touched.iter().flat_map(|(_, k)| k.iter().cloned())
}

/// The version of what a read at `at` answered: Shopify's `updatedAt` of what was read (the
/// clock its webhooks' `updated_at` is on, so a webhook of the same change is not older), else
/// one second before the read, so that a webhook sent while it ran still wins.
fn read_version(updated_at: Option<Timestamp>, at: Timestamp) -> Version {
    let as_of = updated_at.unwrap_or(Timestamp(at.0 - 1_000_000_000));
    Version::new(as_of, as_of)
}

/// True for the key of an event made from an Admin API read ([`read_event`]).
pub(super) fn is_read_key(key: &str) -> bool {
    key.contains(READ_KEY_MARK)
}

const READ_KEY_MARK: &str = ":admin-read:";

fn read_event(
    shop: &ShopDomain,
    at: Timestamp,
    n: usize,
    changes: Vec<StockChange>,
) -> InventoryEvent {
    InventoryEvent {
        schema: SCHEMA_VERSION,
        key: format!("{shop}{READ_KEY_MARK}{}:{n}", at.0),
        shop: shop.clone(),
        source: Source::internal("stockbridge/admin-read", at),
        part: Part::WHOLE,
        body: EventBody::Stock { changes },
    }
}

/// One event per fulfillment order (and per [`LINES_PER_FACT`] of its lines).
fn fulfillment_order_events(
    shop: &ShopDomain,
    fos: &[FulfillmentOrderRead],
    at: Timestamp,
) -> Vec<InventoryEvent> {
    let mut events = Vec::new();
    for fo in fos {
        for lines in fo.lines.chunks(LINES_PER_FACT) {
            let change = StockChange::FulfillmentOrder {
                fulfillment_order: fo.id,
                order: fo.order,
                location: fo.location,
                open: fo.open,
                lines: lines.to_vec(),
                version: read_version(fo.updated_at, at),
            };
            let n = events.len();
            events.push(read_event(shop, at, n, vec![change]));
        }
    }
    events
}

/// The quantity reads of `keys` (in the order asked) as events of [`LEVELS_PER_EVENT`] facts.
fn quantity_events(
    keys: &BTreeSet<StockKey>,
    answers: &[LevelRead],
    at: Timestamp,
) -> Vec<InventoryEvent> {
    let mut by_shop: BTreeMap<&ShopDomain, Vec<StockChange>> = BTreeMap::new();
    for key in keys {
        let Some(answer) = answers
            .iter()
            .find(|a| a.item == key.item && a.location == key.location)
        else {
            continue;
        };
        by_shop
            .entry(&key.shop)
            .or_default()
            .push(StockChange::Quantities {
                item: key.item,
                location: key.location,
                quantities: answer.quantities,
                version: read_version(answer.updated_at, at),
            });
    }
    let mut events = Vec::new();
    for (shop, changes) in by_shop {
        for part in changes.chunks(LEVELS_PER_EVENT) {
            let n = events.len();
            events.push(read_event(shop, at, n, part.to_vec()));
        }
    }
    events
}

/// `refresh` messages for what is left, one per shop (levels in messages of at most 500).
fn refresh_events(left: &Needs, attempt: u32) -> Vec<InventoryEvent> {
    let now = Timestamp::now();
    let mut shops: BTreeSet<ShopDomain> = left.fulfillment_orders.keys().cloned().collect();
    shops.extend(left.levels.iter().map(|k| k.shop.clone()));
    let mut events = Vec::new();
    for shop in shops {
        let fos: Vec<FulfillmentOrderId> = left
            .fulfillment_orders
            .get(&shop)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        let levels: Vec<StockKey> = left
            .levels
            .iter()
            .filter(|k| k.shop == shop)
            .cloned()
            .collect();
        let mut level_parts: Vec<Vec<StockKey>> = levels.chunks(500).map(<[_]>::to_vec).collect();
        if level_parts.is_empty() {
            level_parts.push(Vec::new());
        }
        for (n, levels) in level_parts.into_iter().enumerate() {
            let fulfillment_orders = if n == 0 { fos.clone() } else { Vec::new() };
            events.push(InventoryEvent {
                schema: SCHEMA_VERSION,
                key: format!("{shop}:refresh:{attempt}:{}:{n}", now.0),
                shop: shop.clone(),
                source: Source::internal("stockbridge/refresh", now),
                part: Part::WHOLE,
                body: EventBody::Refresh {
                    fulfillment_orders,
                    levels,
                    attempt,
                },
            });
        }
    }
    events
}
