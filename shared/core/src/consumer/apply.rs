//! The apply path of one chunk: read what its events need (idempotency keys, the SKU map, the
//! records touched), plan in the domain (pure, coalesced), commit in one transaction; and how a
//! batch is cut into chunks whose worst-case transaction fits DynamoDB's 100 actions.

use std::collections::{BTreeSet, HashMap};

use super::{Needs, StockConsumer};
use crate::ports::{
    Erp, EventQueue, LatencyKind, LatencyTally, PortError, ShopifyReads, SkuMapStore, StockStore,
    Wanted,
};
use crate::telemetry::Unit;
use stockbridge_domain::batch::{plan_batch, Masters, Outcome, ResolvedEvent};
use stockbridge_domain::event::{EventBody, InventoryEvent, StockChange};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::resolve::{references, resolve};
use stockbridge_domain::skumap::SkuMap;
use stockbridge_domain::stock::{Fact, LineKey, OrderKey, StockKey};

/// Typical transaction actions per change (its record, a level, a log entry); a plan that still
/// needs more than one transaction takes is split in half and tried again.
const ACTIONS_PER_CHANGE: usize = 3;
const MAX_ACTIONS: usize = 100;

impl<S: StockStore + SkuMapStore, E: Erp, Q: EventQueue, R: ShopifyReads, O>
    StockConsumer<S, E, Q, R, O>
{
    /// Applies a chunk; returns each event's outcome, the stock records each one touches
    /// (duplicates included, so a redelivery can finish an ERP push) and what is left to read
    /// from the Admin API (from the stored state, so a redelivery after a crash reads it too).
    #[allow(clippy::type_complexity)]
    pub(super) async fn try_apply(
        &self,
        events: &[InventoryEvent],
    ) -> Result<(Vec<(String, Outcome)>, Vec<BTreeSet<StockKey>>, Needs), PortError> {
        let keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
        let applied = self.store.applied(&keys).await?;

        let mut maps: HashMap<ShopDomain, SkuMap> = HashMap::new();
        let mut by_shop: HashMap<&ShopDomain, Vec<&InventoryEvent>> = HashMap::new();
        for e in events {
            by_shop.entry(&e.shop).or_default().push(e);
        }
        for (shop, list) in by_shop {
            let (mut items, mut variants, mut skus) = (Vec::new(), Vec::new(), Vec::new());
            for e in list {
                let (i, v, s) = references(e);
                items.extend(i);
                variants.extend(v);
                skus.extend(s);
            }
            let map = self.store.lookup(shop, &items, &variants, &skus).await?;
            maps.insert(shop.clone(), map);
        }
        let empty = SkuMap::default();
        let resolved: Vec<ResolvedEvent> = events
            .iter()
            .map(|e| resolve(e, maps.get(&e.shop).unwrap_or(&empty)))
            .collect();

        let mut wanted = Wanted::default();
        // Where a line fact may make its line count, beside where it counts now.
        let mut line_levels: Vec<StockKey> = Vec::new();
        for fact in resolved.iter().flat_map(|r| &r.facts) {
            match fact {
                Fact::Available { key, .. }
                | Fact::Disconnected { key, .. }
                | Fact::ErpTransfer { key, .. }
                | Fact::Quantities { key, .. } => {
                    wanted.levels.insert(key.clone());
                }
                Fact::Commitment {
                    line, item, named, ..
                } => {
                    wanted.lines.insert(line.clone());
                    if let Some(location) = named {
                        line_levels.push(StockKey {
                            shop: line.shop.clone(),
                            item: *item,
                            location: *location,
                        });
                    }
                }
                Fact::FulfillmentOrder {
                    shop,
                    location,
                    lines,
                    ..
                } => {
                    for (line, item, _) in lines {
                        wanted.lines.insert(LineKey {
                            shop: shop.clone(),
                            line: *line,
                        });
                        line_levels.push(StockKey {
                            shop: shop.clone(),
                            item: *item,
                            location: *location,
                        });
                    }
                }
                Fact::Movement {
                    movement,
                    key,
                    carry,
                    ..
                } => {
                    wanted.movements.insert(movement.clone());
                    wanted.levels.insert(key.clone());
                    if let Some((order, _)) = carry {
                        wanted.orders.insert(OrderKey {
                            shop: key.shop.clone(),
                            order: *order,
                        });
                    }
                }
                Fact::SalesOrder { key, .. } | Fact::SalesRelease { key, .. } => {
                    wanted.orders.insert(key.clone());
                }
                Fact::Item { shop, item, .. } => {
                    wanted.items.insert((shop.clone(), *item));
                }
            }
        }
        let mut loaded = self.store.load(&wanted).await?;
        // A line may leave any location it counts at or holds a fulfillment order at, and join
        // any of those, the one its order names or the one a fulfillment order read names: load
        // every such level too.
        let mut more = Wanted::default();
        for (key, line) in &loaded.book.lines {
            let locations = line
                .counted
                .keys()
                .chain(line.parts.values().map(|p| &p.location))
                .chain(line.named.iter());
            for location in locations {
                more.levels.insert(StockKey {
                    shop: key.shop.clone(),
                    item: line.item,
                    location: *location,
                });
            }
        }
        more.levels.extend(line_levels);
        // An order record may give the movements it carried back to the stock push.
        for record in loaded.book.sales.values() {
            more.levels
                .extend(record.carried.values().map(|c| c.key.clone()));
        }
        more.levels.retain(|k| !wanted.levels.contains(k));
        if !more.levels.is_empty() {
            let extra = self.store.load(&more).await?;
            loaded.book.levels.extend(extra.book.levels);
            loaded.revisions.extend(extra.revisions);
        }

        // Where each loaded order's carried movements are (a release leaves the record).
        let before_carried: HashMap<OrderKey, Vec<StockKey>> = loaded
            .book
            .sales
            .iter()
            .map(|(k, r)| {
                (
                    k.clone(),
                    r.carried.values().map(|c| c.key.clone()).collect(),
                )
            })
            .collect();
        let masters: Masters = maps
            .iter()
            .flat_map(|(shop, map)| {
                map.locations
                    .values()
                    .map(move |l| ((shop.clone(), l.location), l.master))
            })
            .collect();
        let mut plan = plan_batch(loaded.book.clone(), &applied, &resolved, &masters);
        // What the consumer read from the Admin API is a snapshot, harmless to apply again:
        // no idempotency record for it.
        plan.outcomes
            .retain(|(key, _)| !super::refresh::is_read_key(key));
        self.store.commit(&plan, &loaded, events).await?;
        // Items written in the transaction (each costs 2 write units in a DynamoDB transaction).
        let items = plan.changed_levels.len()
            + plan.changed_lines.len()
            + plan.changed_items.len()
            + plan.changed_movements.len()
            + plan.ledger.len()
            + plan.parked.len()
            + plan.new_keys().count();
        self.metrics
            .put("DynamoItemsWritten", items as f64, Unit::Count, None);
        for entry in &plan.ledger {
            tracing::info!(
                shop = %entry.key.shop, item = %entry.key.item, location = %entry.key.location,
                available = entry.after.available, committed = entry.after.committed,
                on_hand = entry.after.on_hand, causes = entry.causes.len(), "stock updated"
            );
        }
        for (key, unresolved) in &plan.parked {
            tracing::warn!(event = %key, missing = ?unresolved.missing, "parked until the mapping arrives");
        }
        // A line fact touches the levels whose commitment it moved: those of its items that the
        // plan changed (a line can leave and join several locations).
        let touched = resolved
            .iter()
            .map(|r| {
                let mut keys: BTreeSet<StockKey> = r.facts.iter().filter_map(fact_key).collect();
                let items: BTreeSet<_> = r.facts.iter().flat_map(line_items).collect();
                // An order snapshot or release may give carried movements back to the push.
                for fact in &r.facts {
                    if let Fact::SalesOrder { key, .. } | Fact::SalesRelease { key, .. } = fact {
                        let held = before_carried.get(key).into_iter().flatten();
                        keys.extend(held.filter(|k| plan.changed_levels.contains(*k)).cloned());
                    }
                }
                keys.extend(
                    plan.changed_levels
                        .iter()
                        .filter(|k| k.shop == r.shop && items.contains(&k.item))
                        .cloned(),
                );
                keys
            })
            .collect();
        // An order snapshot parked for a mapping: the order waits whole (never half placed).
        for (_, unresolved) in &plan.parked {
            let orders = unresolved
                .changes
                .iter()
                .filter(|c| matches!(c, StockChange::SalesOrder { .. }))
                .count();
            if orders > 0 {
                self.metrics
                    .put("OrdersParked", orders as f64, Unit::Count, Some("unmapped"));
            }
        }
        let mut needs = Needs::of(events, &plan.book, &masters);
        needs.orders.extend(plan.changed_sales.iter().cloned());
        Ok((plan.outcomes, touched, needs))
    }

    pub(super) fn record(
        &self,
        events: &[InventoryEvent],
        outcomes: &[(String, Outcome)],
        latency: &mut LatencyTally,
    ) {
        let now = Timestamp::now();
        for ((_, outcome), event) in outcomes.iter().zip(events) {
            let (name, reason) = match outcome {
                Outcome::Applied => ("EventsApplied", None),
                Outcome::AppliedAndParked => ("EventsApplied", Some("partly_parked")),
                Outcome::Parked => ("EventsParked", None),
                Outcome::Duplicate => ("EventsDuplicate", None),
            };
            self.metrics.count(name, reason);
            if matches!(outcome, Outcome::Applied | Outcome::AppliedAndParked) {
                let ms = (now.0 - event.source.received_at.0) as f64 / 1e6;
                self.metrics
                    .put("AppliedLatencyMs", ms.max(0.0), Unit::Milliseconds, None);
                latency.record(&event.shop, LatencyKind::Applied, ms);
            }
        }
    }
}

fn fact_key(fact: &Fact) -> Option<StockKey> {
    match fact {
        Fact::Available { key, .. }
        | Fact::Disconnected { key, .. }
        | Fact::Quantities { key, .. }
        | Fact::ErpTransfer { key, .. }
        | Fact::Movement { key, .. } => Some(key.clone()),
        Fact::Commitment { .. }
        | Fact::FulfillmentOrder { .. }
        | Fact::Item { .. }
        | Fact::SalesOrder { .. }
        | Fact::SalesRelease { .. } => None,
    }
}

/// The items whose order lines a fact moves (none for other facts).
fn line_items(fact: &Fact) -> Vec<stockbridge_domain::ids::InventoryItemId> {
    match fact {
        Fact::Commitment { item, .. } => vec![*item],
        Fact::FulfillmentOrder { lines, .. } => lines.iter().map(|(_, item, _)| *item).collect(),
        _ => Vec::new(),
    }
}

/// Groups events so each group's worst-case transaction stays within DynamoDB's 100 actions.
pub(super) fn chunks(events: &[(String, InventoryEvent)]) -> Vec<&[(String, InventoryEvent)]> {
    let cost = |e: &InventoryEvent| match &e.body {
        EventBody::Stock { changes } => {
            1 + changes
                .iter()
                .map(|c| match c {
                    // Per line: its record, the levels it leaves and joins, their log entries.
                    StockChange::FulfillmentOrder { lines, .. } => 5 * lines.len().max(1),
                    // Its record, the level, a log entry, and the order record carrying it.
                    StockChange::Movement { order: Some(_), .. } => ACTIONS_PER_CHANGE + 1,
                    // The order record, and per line what it may give back to the stock push:
                    // a level and its log entry.
                    StockChange::SalesOrder { lines, .. } => 1 + 2 * lines.len(),
                    StockChange::SalesRelease { movements, .. } => 1 + 2 * movements.len(),
                    _ => ACTIONS_PER_CHANGE,
                })
                .sum::<usize>()
        }
        EventBody::ShopRedact { .. }
        | EventBody::ErpRetry { .. }
        | EventBody::SalesRetry { .. }
        | EventBody::ErpChange { .. }
        | EventBody::Refresh { .. } => 0,
    };
    let mut out = Vec::new();
    let (mut start, mut total) = (0, 0);
    for (i, (_, e)) in events.iter().enumerate() {
        let c = cost(e);
        if i > start && total + c > MAX_ACTIONS {
            out.push(&events[start..i]);
            start = i;
            total = 0;
        }
        total += c;
    }
    if start < events.len() {
        out.push(&events[start..]);
    }
    out
}
