//! The apply path of one chunk: read what its events need (idempotency keys, the SKU map, the
//! records touched), plan in the domain (pure, coalesced), commit in one transaction; and how a
//! batch is cut into chunks whose worst-case transaction fits DynamoDB's 100 actions.

use std::collections::{BTreeSet, HashMap};

use super::StockConsumer;
use crate::ports::{Erp, EventQueue, PortError, SkuMapStore, StockStore, Wanted};
use crate::telemetry::Unit;
use stockbridge_domain::batch::{plan_batch, Masters, Outcome, ResolvedEvent};
use stockbridge_domain::event::{EventBody, InventoryEvent};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::resolve::{references, resolve};
use stockbridge_domain::skumap::SkuMap;
use stockbridge_domain::stock::{Fact, StockKey};

/// Typical transaction actions per change (its record, a level, a log entry); a plan that still
/// needs more than one transaction takes is split in half and tried again.
const ACTIONS_PER_CHANGE: usize = 3;
const MAX_ACTIONS: usize = 100;

impl<S: StockStore + SkuMapStore, E: Erp, Q: EventQueue> StockConsumer<S, E, Q> {
    /// Applies a chunk; returns each event's outcome and the stock records each one touches
    /// (duplicates included, so a redelivery can finish an ERP push).
    #[allow(clippy::type_complexity)]
    pub(super) async fn try_apply(
        &self,
        events: &[InventoryEvent],
    ) -> Result<(Vec<(String, Outcome)>, Vec<BTreeSet<StockKey>>), PortError> {
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
        for fact in resolved.iter().flat_map(|r| &r.facts) {
            match fact {
                Fact::Available { key, .. } | Fact::Disconnected { key, .. } => {
                    wanted.levels.insert(key.clone());
                }
                Fact::Commitment { line, key, .. } => {
                    wanted.lines.insert(line.clone());
                    wanted.levels.insert(key.clone());
                }
                Fact::Movement { movement, key, .. } => {
                    wanted.movements.insert(movement.clone());
                    wanted.levels.insert(key.clone());
                }
                Fact::Item { shop, item, .. } => {
                    wanted.items.insert((shop.clone(), *item));
                }
            }
        }
        let mut loaded = self.store.load(&wanted).await?;
        // A line already attributed elsewhere gives back its commitment there: load that level too.
        let mut more = Wanted::default();
        for (key, line) in &loaded.book.lines {
            let old = StockKey {
                shop: key.shop.clone(),
                item: line.item,
                location: line.location,
            };
            if !wanted.levels.contains(&old) {
                more.levels.insert(old);
            }
        }
        if !more.levels.is_empty() {
            let extra = self.store.load(&more).await?;
            loaded.book.levels.extend(extra.book.levels);
            loaded.revisions.extend(extra.revisions);
        }

        let masters: Masters = maps
            .iter()
            .flat_map(|(shop, map)| {
                map.locations
                    .values()
                    .map(move |l| ((shop.clone(), l.location), l.master))
            })
            .collect();
        let plan = plan_batch(loaded.book.clone(), &applied, &resolved, &masters);
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
        let touched = resolved
            .iter()
            .map(|r| r.facts.iter().filter_map(fact_key).collect())
            .collect();
        Ok((plan.outcomes, touched))
    }

    pub(super) fn record(&self, events: &[InventoryEvent], outcomes: &[(String, Outcome)]) {
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
            }
        }
    }
}

fn fact_key(fact: &Fact) -> Option<StockKey> {
    match fact {
        Fact::Available { key, .. }
        | Fact::Disconnected { key, .. }
        | Fact::Commitment { key, .. }
        | Fact::Movement { key, .. } => Some(key.clone()),
        Fact::Item { .. } => None,
    }
}

/// Groups events so each group's worst-case transaction stays within DynamoDB's 100 actions.
pub(super) fn chunks(events: &[(String, InventoryEvent)]) -> Vec<&[(String, InventoryEvent)]> {
    let cost = |e: &InventoryEvent| match &e.body {
        EventBody::Stock { changes } => 1 + ACTIONS_PER_CHANGE * changes.len(),
        EventBody::ShopRedact { .. } | EventBody::ErpRetry { .. } => 0,
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
