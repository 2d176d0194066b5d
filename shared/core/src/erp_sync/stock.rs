//! A stock fact of the ERP applied: the ERP record, Shopify's `available` at each ERP-master
//! location of the warehouse (compare-and-set, re-read on a stale answer), and the reorder
//! signal through the record's outbox.

use rust_decimal::Decimal;

use stockbridge_domain::event::{
    EventBody, InventoryEvent, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{
    InventoryItemId, LocationId, ShopDomain, StockKey, Timestamp, Version,
};
use stockbridge_domain::skumap::{ItemMapping, LocationMapping, Master};
use stockbridge_domain::storefront::{
    derive, reorder_step, storefront_key, ErpChange, ErpMove, ErpStockRecord, ReorderSignal, Told,
    Written,
};

use super::{Context, ErpSync, Later, SyncReport, REORDER_DETAIL_TYPE, STALE_TRIES};
use crate::ports::{
    AlertSink, ErpRecords, EventQueue, Metafields, PortError, ShopifyAdmin, ShopifyError,
    ShopifyReads, ShopifySet, StockStore, StorefrontMap, Wanted,
};
use crate::telemetry::Unit;

/// Rounds of read-apply-write against a concurrent writer of the same ERP record.
const RECORD_ROUNDS: usize = 3;

fn retry(e: impl std::fmt::Display) -> Later {
    Later::Retry(e.to_string())
}

impl<S, W, A, Q> ErpSync<S, W, A, Q>
where
    S: ErpRecords + StorefrontMap + StockStore,
    W: ShopifyAdmin + ShopifyReads + Metafields,
    A: AlertSink,
    Q: EventQueue,
{
    /// One [`ErpChange::Stock`].
    pub(super) async fn stock(
        &self,
        shop: &ShopDomain,
        change: &ErpChange,
        attempt: u32,
        context: &Context,
        report: &mut SyncReport,
    ) -> Result<(), Later> {
        let ErpChange::Stock {
            warehouse,
            item,
            on_hand,
            as_of,
            moves,
            reorder_point,
        } = change
        else {
            return Ok(());
        };
        let pair = (warehouse.clone(), item.clone());
        let mappings = context.by_erp.get(item).cloned().unwrap_or_default();
        let locations: Vec<&LocationMapping> = context
            .locations
            .iter()
            .filter(|l| l.erp_warehouse == *warehouse && l.master == Master::Erp)
            .collect();
        let mut saved = None;
        for _ in 0..RECORD_ROUNDS {
            let mut records = self
                .store
                .erp_records(shop, std::slice::from_ref(&pair))
                .await
                .map_err(retry)?;
            let (mut record, revision) = records.remove(&pair).unwrap_or_default();
            let fresh = record.apply_stock(*on_hand, *as_of, moves, *reorder_point);
            if !fresh && record.signals.is_empty() {
                self.metrics.count("ErpChangeDuplicate", None);
                return Ok(());
            }
            if fresh {
                if mappings.is_empty() {
                    self.metrics.count("ErpChangeUnmapped", None);
                }
                for m in &mappings {
                    for l in &locations {
                        let told = self
                            .tell_shopify(
                                shop,
                                (warehouse, moves),
                                &record,
                                m,
                                l,
                                context,
                                attempt,
                                report,
                            )
                            .await?;
                        if let Some(told) = told {
                            record
                                .told
                                .insert(ErpStockRecord::told_key(m.item, l.location), told);
                        }
                    }
                }
                self.decide_reorder(&mut record, warehouse, item, &locations, context);
                self.transfers(shop, warehouse, moves, &mappings, context)
                    .await?;
            }
            match self
                .store
                .put_erp_record(shop, &pair, &record, revision)
                .await
            {
                Ok(()) => {
                    saved = Some((record, revision + 1));
                    break;
                }
                Err(PortError::Conflict(_)) => {
                    self.metrics.count("ErpRecordConflict", None);
                    continue;
                }
                Err(e) => return Err(retry(e)),
            }
        }
        let Some((record, revision)) = saved else {
            return Err(Later::Retry(format!(
                "the ERP record of {warehouse}/{item} kept changing under us"
            )));
        };
        self.publish_signals(shop, &pair, record, revision).await
    }

    /// Sets Shopify's `available` for `mapping` at `location` to the derived figure; returns
    /// what was told (`None`: the item is not stocked there).
    #[allow(clippy::too_many_arguments)]
    async fn tell_shopify(
        &self,
        shop: &ShopDomain,
        (warehouse, moves): (&str, &[ErpMove]),
        record: &ErpStockRecord,
        mapping: &ItemMapping,
        location: &LocationMapping,
        context: &Context,
        attempt: u32,
        report: &mut SyncReport,
    ) -> Result<Option<Told>, Later> {
        let key = StockKey {
            shop: shop.clone(),
            item: mapping.item,
            location: location.location,
        };
        // What Stockbridge still owes the ERP here is already in Shopify's figures and not yet
        // in the ERP's: wait until it settles, or the write would undo it.
        let loaded = self
            .store
            .load(&Wanted {
                levels: [key.clone()].into_iter().collect(),
                ..Wanted::default()
            })
            .await
            .map_err(retry)?;
        if let Some(level) = loaded.book.levels.get(&key) {
            if level.erp_owed != 0 || level.erp_inflight.is_some() {
                self.metrics.count("StorefrontDeferred", None);
                return Err(Later::Retry(format!(
                    "{key}: a write to the ERP is owed or in flight"
                )));
            }
        }
        let Some(on_hand) = record.on_hand else {
            // Only a record that took a stock fact is told to Shopify.
            return Ok(None);
        };
        let newest = newest_move(moves, record.as_of);
        let rule = context.settings.rules.rule(location.location, mapping.item);
        for tried in 0..STALE_TRIES {
            let read = self.read_one(mapping.item, location.location).await?;
            let Some(q) = read else {
                self.metrics.count("StorefrontNotStocked", None);
                return Ok(None);
            };
            let unavailable = q.reserved + q.damaged + q.safety_stock + q.quality_control;
            let derivation = derive(
                on_hand,
                mapping.uom.to_shopify(on_hand),
                q.committed,
                unavailable,
                rule,
            );
            let target = derivation.target;
            let mut told = Told {
                item: mapping.item,
                location: location.location,
                derivation,
                before: q.available,
                key: None,
                moves: moves.iter().map(|m| m.id.clone()).collect(),
                at: Timestamp::now(),
                last_write: record
                    .told
                    .get(&ErpStockRecord::told_key(mapping.item, location.location))
                    .and_then(|t| t.last_write.clone()),
            };
            if q.available == target {
                self.metrics.count("StorefrontAlreadyRight", None);
                return Ok(Some(told));
            }
            let idem = storefront_key(
                warehouse,
                &newest,
                mapping.item,
                location.location,
                attempt * STALE_TRIES + tried,
            );
            let set = ShopifySet {
                item: mapping.item,
                location: location.location,
                quantity: target,
                expected: q.available,
            };
            match self
                .shopify
                .set_available(&[set], "correction", &idem)
                .await
            {
                Ok(()) => {
                    report.writes += 1;
                    self.metrics.count("StorefrontWrites", None);
                    if let Some(from) = moves.iter().map(|m| m.done_at).max().or(record.as_of) {
                        let ms = (Timestamp::now().as_millis() - from.as_millis()).max(0);
                        self.metrics
                            .put("ErpToShopifyMs", ms as f64, Unit::Milliseconds, None);
                    }
                    told.at = Timestamp::now();
                    told.last_write = Some(Written {
                        before: q.available,
                        after: target,
                        key: idem.clone(),
                        moves: told.moves.clone(),
                        at: told.at,
                    });
                    told.key = Some(idem);
                    return Ok(Some(told));
                }
                Err(ShopifyError::Stale) => {
                    // A sale (or someone) changed it between our read and our write.
                    self.metrics.count("StorefrontStale", None);
                    continue;
                }
                // The key was used with other figures (a redelivery after Shopify moved on):
                // the next try has a key of its own.
                Err(ShopifyError::KeyReused) => {
                    self.metrics.count("StorefrontKeyReused", None);
                    continue;
                }
                Err(ShopifyError::Rejected(why)) => {
                    self.metrics.count("StorefrontWriteRejected", None);
                    return Err(Later::Fail(format!(
                        "Shopify refused available={target} for item {} at location {}: {why}",
                        mapping.item, location.location
                    )));
                }
                Err(e) => return Err(retry(e)),
            }
        }
        Err(Later::Retry(format!(
            "item {} at location {}: stale {STALE_TRIES} times in a row",
            mapping.item, location.location
        )))
    }

    /// Tells the stock consumer of the transfers the ERP booked at a Shopify-master location of
    /// this warehouse, into it or out of it, once per move (the event key is the move's).
    async fn transfers(
        &self,
        shop: &ShopDomain,
        warehouse: &str,
        moves: &[ErpMove],
        mappings: &[ItemMapping],
        context: &Context,
    ) -> Result<(), Later> {
        // The units go to the first Shopify item selling the ERP item (in its unit).
        let Some(mapping) = mappings.first() else {
            return Ok(());
        };
        let floors = context
            .locations
            .iter()
            .filter(|l| l.erp_warehouse == warehouse && l.master == Master::Shopify);
        let mut events = Vec::new();
        for l in floors {
            for m in moves.iter().filter(|m| m.kind == "transfer") {
                // Whole Shopify units, toward zero either way: never more than the ERP booked.
                let whole = mapping.uom.to_shopify(m.quantity.abs());
                let units = if m.quantity < Decimal::ZERO {
                    -whole
                } else {
                    whole
                };
                if units == 0 {
                    continue;
                }
                let version = Version::new(m.done_at, m.done_at);
                events.push(InventoryEvent {
                    schema: SCHEMA_VERSION,
                    key: format!("{shop}:erp-transfer:{}:{}", m.id, l.location),
                    shop: shop.clone(),
                    source: Source::internal("erp/transfer", Timestamp::now()),
                    part: Part::WHOLE,
                    body: EventBody::Stock {
                        changes: vec![StockChange::ErpTransfer {
                            item: mapping.item,
                            location: l.location,
                            quantity: units,
                            transfer: m.id.clone(),
                            version,
                        }],
                    },
                });
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        self.stock_events.send(&events).await.map_err(retry)?;
        self.metrics
            .put("ErpTransfers", events.len() as f64, Unit::Count, None);
        Ok(())
    }

    async fn read_one(
        &self,
        item: InventoryItemId,
        location: LocationId,
    ) -> Result<Option<stockbridge_domain::event::ShopifyQuantities>, Later> {
        let reads = self
            .shopify
            .quantities(&[(item, location)])
            .await
            .map_err(retry)?;
        Ok(reads
            .into_iter()
            .find(|r| r.item == item && r.location == location)
            .and_then(|r| r.quantities))
    }

    /// Steps the reorder state of each ERP-master location of the warehouse; a signal decided
    /// goes into the record's outbox.
    fn decide_reorder(
        &self,
        record: &mut ErpStockRecord,
        warehouse: &str,
        item: &str,
        locations: &[&LocationMapping],
        context: &Context,
    ) {
        let Some(on_hand) = record.on_hand else {
            return;
        };
        let (point, from) = match record.reorder_point {
            Some(p) => (Some(p), "erp"),
            None => (context.settings.reorder_points.get(item).copied(), "skumap"),
        };
        let now = Timestamp::now();
        for l in locations {
            let state = record
                .reorder
                .get(&l.location.to_string())
                .copied()
                .unwrap_or_default();
            let (state, fire) = reorder_step(state, on_hand, point, now);
            record.reorder.insert(l.location.to_string(), state);
            if let (true, Some(point)) = (fire, point) {
                record.signals.push(ReorderSignal {
                    warehouse: warehouse.to_string(),
                    erp_item: item.to_string(),
                    location: l.location,
                    on_hand,
                    point,
                    point_from: from.to_string(),
                    at: now,
                });
            }
        }
    }

    /// Publishes the record's pending signals, then takes them off it.
    async fn publish_signals(
        &self,
        shop: &ShopDomain,
        pair: &(String, String),
        mut record: ErpStockRecord,
        revision: u64,
    ) -> Result<(), Later> {
        if record.signals.is_empty() {
            return Ok(());
        }
        for s in &record.signals {
            let detail = serde_json::json!({
                "shop": shop,
                "warehouse": s.warehouse,
                "erp_item": s.erp_item,
                "location": s.location,
                "on_hand": s.on_hand.to_string(),
                "reorder_point": s.point.to_string(),
                "point_from": s.point_from,
                "at": s.at.to_rfc3339(),
                "id": format!("{shop}:{}:{}:{}:{}", s.warehouse, s.erp_item, s.location, s.at.0),
            });
            self.alerts
                .publish(REORDER_DETAIL_TYPE, &detail)
                .await
                .map_err(retry)?;
            self.metrics.count(REORDER_DETAIL_TYPE, None);
        }
        record.signals.clear();
        match self
            .store
            .put_erp_record(shop, pair, &record, revision)
            .await
        {
            // Another writer took the record meanwhile: it publishes what it found pending
            // (at worst a signal twice, each with its id), never none.
            Ok(()) | Err(PortError::Conflict(_)) => Ok(()),
            Err(e) => Err(retry(e)),
        }
    }
}

/// What the write is keyed by: the newest ERP move behind the fact and the snapshot's time (a
/// move seen again in a later snapshot, after a crash or when the ERP rewrites a done move,
/// writes other figures under a key of its own; a duplicate of the same snapshot, the same).
fn newest_move(moves: &[ErpMove], as_of: Option<Timestamp>) -> String {
    let at = as_of.map_or(0, |t| t.0);
    moves
        .iter()
        .max_by(|a, b| a.done_at.cmp(&b.done_at).then_with(|| a.id.cmp(&b.id)))
        .map(|m| format!("{}@{at}", m.id))
        .unwrap_or_else(|| format!("at-{at}"))
}
