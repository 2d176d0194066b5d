//! Resolution of an event's items and locations through the SKU map.
//!
//! Level facts name the inventory item and location; order lines name a variant or a SKU, and
//! sometimes a location (else the shop's default location carries the commitment). A change
//! whose item or location has no mapping is not dropped and not failed: it is returned as
//! unresolved, parked with what is missing, and replayed when the mapping arrives.

use std::collections::BTreeSet;

use crate::batch::{ResolvedEvent, Unresolved};
use crate::event::{EventBody, InventoryEvent, ItemRef, StockChange};
use crate::ids::{InventoryItemId, LocationId, VariantId};
use crate::skumap::SkuMap;
use crate::stock::{Fact, ItemRecord, LineKey, MovementKey, StockKey};

/// The variants and SKUs an event's changes name (for the map look-up).
pub fn references(event: &InventoryEvent) -> (Vec<InventoryItemId>, Vec<VariantId>, Vec<String>) {
    let (mut items, mut variants, mut skus) = (Vec::new(), Vec::new(), Vec::new());
    if let EventBody::Stock { changes } = &event.body {
        for change in changes {
            match change {
                StockChange::Available { item, .. }
                | StockChange::Disconnected { item, .. }
                | StockChange::Quantities { item, .. }
                | StockChange::ErpTransfer { item, .. }
                | StockChange::Item { item, .. } => items.push(*item),
                StockChange::FulfillmentOrder { lines, .. } => {
                    items.extend(lines.iter().map(|l| l.item));
                }
                StockChange::FulfillmentOrdersChanged { .. } => {}
                StockChange::Commitment { item, .. } | StockChange::Movement { item, .. } => {
                    variants.extend(item.variant);
                    skus.extend(item.sku.clone());
                }
                StockChange::SalesRelease { .. } => {}
                StockChange::SalesOrder { lines, .. } => {
                    for item in lines.iter().filter_map(|l| l.item.as_ref()) {
                        variants.extend(item.variant);
                        skus.extend(item.sku.clone());
                    }
                }
            }
        }
    }
    (items, variants, skus)
}

fn item_of(map: &SkuMap, r: &ItemRef) -> Option<InventoryItemId> {
    r.variant
        .and_then(|v| map.by_variant.get(&v).copied())
        .or_else(|| {
            r.sku
                .as_ref()
                .and_then(|s| map.by_sku.get(&s.to_ascii_uppercase()).copied())
        })
        .filter(|id| map.items.contains_key(id))
}

fn describe(r: &ItemRef) -> String {
    match (&r.variant, &r.sku) {
        (Some(v), Some(s)) => format!("variant {v} (sku {s})"),
        (Some(v), None) => format!("variant {v}"),
        (None, Some(s)) => format!("sku {s}"),
        (None, None) => "an unnamed item".into(),
    }
}

/// Splits an event into facts that can be applied now and changes that must wait for a mapping.
pub fn resolve(event: &InventoryEvent, map: &SkuMap) -> ResolvedEvent {
    let mut facts = Vec::new();
    let mut waiting = Vec::new();
    let mut missing = BTreeSet::new();
    let shop = &event.shop;
    let changes: &[StockChange] = match &event.body {
        EventBody::Stock { changes } => changes,
        EventBody::ShopRedact { .. }
        | EventBody::ErpRetry { .. }
        | EventBody::SalesRetry { .. }
        | EventBody::ErpChange { .. }
        | EventBody::Refresh { .. } => &[],
    };
    let location_ok = |l: LocationId, missing: &mut BTreeSet<String>| {
        let ok = map.locations.contains_key(&l);
        if !ok {
            missing.insert(format!("location {l}"));
        }
        ok
    };
    for change in changes {
        let key = |item, location| StockKey {
            shop: shop.clone(),
            item,
            location,
        };
        let fact = match change {
            StockChange::Available {
                item,
                location,
                available,
                version,
                ..
            } => {
                let item_ok = map.items.contains_key(item);
                if !item_ok {
                    missing.insert(format!("item {item}"));
                }
                (location_ok(*location, &mut missing) && item_ok).then(|| Fact::Available {
                    key: key(*item, *location),
                    available: *available,
                    version: *version,
                })
            }
            StockChange::Disconnected {
                item,
                location,
                version,
            } => {
                let item_ok = map.items.contains_key(item);
                if !item_ok {
                    missing.insert(format!("item {item}"));
                }
                (location_ok(*location, &mut missing) && item_ok).then(|| Fact::Disconnected {
                    key: key(*item, *location),
                    version: *version,
                })
            }
            StockChange::Commitment {
                order,
                line,
                item,
                location,
                open,
                version,
            } => {
                let id = item_of(map, item);
                if id.is_none() {
                    missing.insert(describe(item));
                }
                // The location the order names (POS) must be mapped; an online order names
                // none, and its lines count where Shopify routes them (`crate::commitment`).
                let named_ok = location.is_none_or(|l| location_ok(l, &mut missing));
                id.filter(|_| named_ok).map(|id| Fact::Commitment {
                    line: LineKey {
                        shop: shop.clone(),
                        line: *line,
                    },
                    order: *order,
                    item: id,
                    named: *location,
                    open: *open,
                    version: *version,
                })
            }
            StockChange::Movement {
                movement,
                kind,
                reference,
                item,
                location,
                quantity,
                version,
                order,
                line,
            } => {
                let id = item_of(map, item);
                if id.is_none() {
                    missing.insert(describe(item));
                }
                let loc = pick_location(map, *location, &mut missing);
                id.zip(loc).map(|(id, loc)| Fact::Movement {
                    movement: MovementKey {
                        shop: shop.clone(),
                        id: movement.clone(),
                    },
                    key: key(id, loc),
                    version: *version,
                    kind: *kind,
                    reference: reference.clone(),
                    quantity: *quantity,
                    carry: order.zip(*line).filter(|_| map.sales.enabled),
                })
            }
            // A trigger for a read (the consumer's); nothing to apply.
            StockChange::FulfillmentOrdersChanged { .. } => continue,
            StockChange::SalesRelease {
                order, movements, ..
            } => Some(Fact::SalesRelease {
                key: crate::stock::OrderKey {
                    shop: shop.clone(),
                    order: *order,
                },
                movements: movements.clone(),
            }),
            StockChange::SalesOrder {
                order,
                number,
                payment,
                test,
                cancelled,
                lines,
                version,
                ..
            } => {
                // Parked whole while a goods line is unmapped (when the flow is on): an ERP
                // order is never half created. With the flow off the snapshot only closes
                // records kept from when it was on, and unmapped lines do not matter.
                let mut resolved = Vec::with_capacity(lines.len());
                let mut whole = true;
                for l in lines {
                    let id = match (l.kind, &l.item) {
                        (crate::event::SalesLineKind::Goods, Some(r)) => {
                            let id = item_of(map, r);
                            if id.is_none() {
                                whole = false;
                                if map.sales.enabled {
                                    missing.insert(describe(r));
                                }
                            }
                            id
                        }
                        _ => None,
                    };
                    resolved.push((l.line, id, l.quantity, l.kind));
                }
                if !whole && !map.sales.enabled {
                    continue;
                }
                whole.then(|| Fact::SalesOrder {
                    key: crate::stock::OrderKey {
                        shop: shop.clone(),
                        order: *order,
                    },
                    snapshot: crate::sales::OrderSnapshot {
                        number: number.clone(),
                        payment: payment.clone(),
                        test: *test,
                        cancelled: *cancelled,
                        lines: resolved,
                        version: *version,
                    },
                    settings: map.sales,
                    at: event.source.received_at,
                })
            }
            StockChange::FulfillmentOrder {
                fulfillment_order,
                order,
                location,
                open,
                lines,
                version,
            } => {
                // Lines of items nobody mapped are not stock Stockbridge keeps: left out. A
                // fulfillment order at an unmapped location still counts (as committed there,
                // where no mapped figure is), so a line moved away is taken from the mapped one.
                let mapped: Vec<(crate::ids::LineItemId, InventoryItemId, i64)> = lines
                    .iter()
                    .filter(|l| map.items.contains_key(&l.item))
                    .map(|l| (l.line, l.item, l.remaining))
                    .collect();
                // With the order flow on, an order's line left out for want of a mapping must
                // learn its location once mapped (its order waits for it, whole): that part of
                // the read is parked and replayed with the mapping.
                let unmapped: Vec<crate::event::FulfillmentOrderLine> = lines
                    .iter()
                    .filter(|l| !map.items.contains_key(&l.item))
                    .cloned()
                    .collect();
                if map.sales.enabled && !unmapped.is_empty() {
                    missing.extend(unmapped.iter().map(|l| format!("item {}", l.item)));
                    waiting.push(StockChange::FulfillmentOrder {
                        fulfillment_order: *fulfillment_order,
                        order: *order,
                        location: *location,
                        open: *open,
                        lines: unmapped,
                        version: *version,
                    });
                }
                Some(Fact::FulfillmentOrder {
                    shop: shop.clone(),
                    fulfillment_order: *fulfillment_order,
                    order: *order,
                    location: *location,
                    open: *open,
                    lines: mapped,
                    version: *version,
                })
            }
            StockChange::Quantities {
                item,
                location,
                quantities,
                version,
            } => {
                let item_ok = map.items.contains_key(item);
                if !item_ok {
                    missing.insert(format!("item {item}"));
                }
                (location_ok(*location, &mut missing) && item_ok).then(|| Fact::Quantities {
                    key: key(*item, *location),
                    quantities: *quantities,
                    version: *version,
                })
            }
            StockChange::ErpTransfer {
                item,
                location,
                quantity,
                transfer,
                ..
            } => {
                let item_ok = map.items.contains_key(item);
                if !item_ok {
                    missing.insert(format!("item {item}"));
                }
                (location_ok(*location, &mut missing) && item_ok).then(|| Fact::ErpTransfer {
                    key: key(*item, *location),
                    quantity: *quantity,
                    transfer: transfer.clone(),
                })
            }
            StockChange::Item {
                item,
                sku,
                tracked,
                deleted,
                version,
            } => {
                let ok = map.items.contains_key(item);
                if !ok {
                    missing.insert(format!("item {item}"));
                }
                ok.then(|| Fact::Item {
                    shop: shop.clone(),
                    item: *item,
                    record: ItemRecord {
                        sku: sku.clone(),
                        tracked: *tracked,
                        deleted: *deleted,
                        version: *version,
                    },
                })
            }
        };
        match fact {
            Some(f) => facts.push(f),
            None => waiting.push(change.clone()),
        }
    }
    ResolvedEvent {
        key: event.key.clone(),
        shop: shop.clone(),
        source: event.source.clone(),
        facts,
        unresolved: (!waiting.is_empty()).then(|| Unresolved {
            changes: waiting,
            missing: missing.into_iter().collect(),
        }),
    }
}

fn pick_location(
    map: &SkuMap,
    named: Option<LocationId>,
    missing: &mut BTreeSet<String>,
) -> Option<LocationId> {
    match named {
        Some(l) if map.locations.contains_key(&l) => Some(l),
        Some(l) => {
            missing.insert(format!("location {l}"));
            None
        }
        None => {
            let default = map.default_location();
            if default.is_none() {
                missing.insert("default location".into());
            }
            default
        }
    }
}
