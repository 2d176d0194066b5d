//! [`apply_change`]: the one function that moves stock, one fact at a time, over the records a
//! batch loaded ([`Book`]). What each fact means is in [`crate::stock`] (levels, the settled
//! `on_hand`), [`crate::commitment`] (where a line counts) and the functions below (a read of a
//! level's quantity names, movements).

use std::collections::BTreeMap;

use crate::commitment::{allocate, FoPart, OrderLine};
use crate::event::{MovementKind, ShopifyQuantities};
use crate::ids::{LocationId, Version};
use crate::stock::{
    Book, Effect, Fact, LineKey, MovementRecord, OrderKey, States, StockKey, MAX_COMMITTED,
    MAX_QUANTITY,
};

/// Applies one fact to the book. Idempotent and order-independent per resource: a fact whose
/// version is not newer than what is known is [`Effect::Stale`].
pub fn apply_change(book: &mut Book, fact: &Fact) -> Effect {
    match fact {
        Fact::Available {
            key,
            available,
            version,
        } => {
            if available.is_some_and(|q| q.unsigned_abs() > MAX_QUANTITY as u64) {
                return out_of_range(key, "available");
            }
            let level = book.level_mut(key);
            if level.level_version.is_some_and(|known| *version <= known) {
                return Effect::Stale;
            }
            level.level_version = Some(*version);
            level.saw(*version);
            level.connected = true;
            match available {
                Some(quantity) => {
                    level.available = *quantity;
                    level.tracked = true;
                }
                // Untracked: no quantity is known. Keeping the last number would make the result
                // depend on delivery order (an older number arriving after the null is stale).
                None => {
                    level.available = 0;
                    level.tracked = false;
                }
            }
            Effect::Changed(vec![key.clone()])
        }
        Fact::Disconnected { key, version } => {
            let level = book.level_mut(key);
            if level.level_version.is_some_and(|known| *version <= known) {
                return Effect::Stale;
            }
            // Shopify deletes the level: nothing is available there any more.
            level.level_version = Some(*version);
            level.saw(*version);
            level.connected = false;
            level.available = 0;
            level.tracked = true;
            Effect::Changed(vec![key.clone()])
        }
        Fact::Commitment {
            line,
            order,
            item,
            named,
            open,
            version,
        } => {
            let previous = book.lines.get(line);
            if previous.is_some_and(|p| p.version.is_some_and(|known| *version <= known)) {
                return Effect::Stale;
            }
            let open = (*open).max(0);
            let key = StockKey {
                shop: line.shop.clone(),
                item: *item,
                location: named.unwrap_or_default(),
            };
            if open > MAX_QUANTITY {
                return out_of_range(&key, "an order line's open quantity");
            }
            let mut next = previous
                .cloned()
                .unwrap_or_else(|| OrderLine::new(*order, *item));
            next.order = *order;
            next.item = *item;
            next.open = open;
            next.version = Some(*version);
            next.named = *named;
            recount(book, line, next, *version)
        }
        Fact::FulfillmentOrder {
            shop,
            fulfillment_order,
            order,
            location,
            open,
            lines,
            version,
        } => {
            let mut touched: Vec<StockKey> = Vec::new();
            for (id, item, remaining) in lines {
                let line = LineKey {
                    shop: shop.clone(),
                    line: *id,
                };
                let previous = book.lines.get(&line);
                if previous
                    .and_then(|p| p.parts.get(fulfillment_order))
                    .is_some_and(|p| *version <= p.version)
                {
                    continue;
                }
                let key = StockKey {
                    shop: shop.clone(),
                    item: *item,
                    location: *location,
                };
                if remaining.unsigned_abs() > MAX_QUANTITY as u64 {
                    return out_of_range(&key, "a fulfillment order line's remaining quantity");
                }
                let mut next = previous
                    .cloned()
                    .unwrap_or_else(|| OrderLine::new(*order, *item));
                next.parts.insert(
                    *fulfillment_order,
                    FoPart {
                        location: *location,
                        remaining: (*remaining).max(0),
                        open: *open,
                        version: *version,
                    },
                );
                match recount(book, &line, next, *version) {
                    Effect::Changed(keys) => {
                        for k in keys {
                            if !touched.contains(&k) {
                                touched.push(k);
                            }
                        }
                    }
                    refused @ Effect::OutOfRange(..) => return refused,
                    _ => {}
                }
            }
            if touched.is_empty() {
                Effect::Stale
            } else {
                Effect::Changed(touched)
            }
        }
        Fact::Quantities {
            key,
            quantities,
            version,
        } => read_level(book, key, quantities.as_ref(), *version),
        Fact::Movement {
            movement,
            key,
            kind,
            reference,
            quantity,
            version,
            carry,
        } => {
            if quantity.unsigned_abs() > MAX_QUANTITY as u64 {
                return out_of_range(key, "a movement's quantity");
            }
            let previous = book.movements.get(movement);
            if previous.is_some_and(|p| *version <= p.version) {
                return Effect::Stale;
            }
            let effect = erp_movement(*kind, *quantity);
            let label = format!("{} {quantity} ({reference})", movement_label(*kind));
            let mut notes = Vec::with_capacity(2);
            let before = match previous {
                Some(p) if p.key != *key => {
                    // Moved to another location: the old one gives its part back.
                    let back = format!("{label}: noted at location {} before", p.key.location);
                    notes.push((p.key.clone(), back, -p.erp_effect));
                    0
                }
                Some(p) => p.erp_effect,
                None => 0,
            };
            let Some(delta) = effect.checked_sub(before) else {
                return out_of_range(key, "a movement's change");
            };
            notes.push((key.clone(), label, delta));
            for (k, _, _) in &notes {
                book.level_mut(k).saw(*version);
            }
            book.movements.insert(
                movement.clone(),
                MovementRecord {
                    key: key.clone(),
                    erp_effect: effect,
                    version: *version,
                },
            );
            // The one-movement rule: an order the ERP holds (or may yet hold) as a sales
            // order carries its movements.
            let carried = match carry {
                Some((order, line)) => {
                    let record = book
                        .sales
                        .entry(OrderKey {
                            shop: key.shop.clone(),
                            order: *order,
                        })
                        .or_default();
                    let carries = record.carries();
                    if carries {
                        record.carry(&movement.id, key.clone(), *line, effect);
                    }
                    carries
                }
                None => false,
            };
            Effect::Noted { notes, carried }
        }
        Fact::SalesRelease { key, movements } => {
            let Some(record) = book.sales.get_mut(key) else {
                return Effect::Stale;
            };
            let released: Vec<(StockKey, String, i64)> = record
                .release(movements)
                .into_iter()
                .map(|(k, due)| {
                    let note = format!(
                        "order {} could not carry its movement of {due} in the ERP: pushed as stock",
                        record.number.as_deref().unwrap_or("?")
                    );
                    (k, note, due)
                })
                .collect();
            if released.is_empty() {
                return Effect::Stale;
            }
            Effect::SalesChanged {
                key: key.clone(),
                released,
            }
        }
        Fact::SalesOrder {
            key,
            snapshot,
            settings,
            at,
        } => {
            // With the flow off, only a record kept from when it was on has anything to learn.
            if !settings.enabled && !book.sales.contains_key(key) {
                return Effect::Stale;
            }
            let record = book.sales.entry(key.clone()).or_default();
            match record.observe(snapshot, *settings, *at) {
                None => Effect::Stale,
                Some(released) => {
                    let why = match &record.decision {
                        crate::sales::Decision::Never { reason } => reason.clone(),
                        _ => String::new(),
                    };
                    let released = released
                        .into_iter()
                        .map(|(k, effect)| {
                            let note = format!(
                                "order {} never goes to the ERP ({why}): its movement of {effect} is pushed as stock",
                                snapshot.number
                            );
                            (k, note, effect)
                        })
                        .collect();
                    Effect::SalesChanged {
                        key: key.clone(),
                        released,
                    }
                }
            }
        }
        Fact::ErpTransfer {
            key,
            quantity,
            transfer,
        } => {
            if quantity.unsigned_abs() > MAX_QUANTITY as u64 {
                return out_of_range(key, "transfer quantity");
            }
            let level = book.level_mut(key);
            let Some(ahead) = level.erp_ahead.checked_add(*quantity) else {
                return out_of_range(key, "units booked ahead by the ERP");
            };
            level.erp_ahead = ahead;
            Effect::Noted {
                notes: vec![(
                    key.clone(),
                    format!(
                        "ERP transfer {transfer}: {quantity:+} booked in the ERP ahead of Shopify's receipt"
                    ),
                    0,
                )],
                carried: false,
            }
        }
        Fact::Item { shop, item, record } => {
            let slot = (shop.clone(), *item);
            if book
                .items
                .get(&slot)
                .is_some_and(|known| record.version <= known.version)
            {
                return Effect::Stale;
            }
            book.items.insert(slot, record.clone());
            Effect::ItemUpdated
        }
    }
}

fn out_of_range(key: &StockKey, what: &str) -> Effect {
    Effect::OutOfRange(
        key.clone(),
        format!(
            "{what} would leave the bounds (±{MAX_QUANTITY} per fact, {MAX_COMMITTED} committed)"
        ),
    )
}

/// What a Shopify movement line, in its latest state, means for an ERP-kept count: goods shipped
/// left (minus), goods restocked from a return came back (plus); a cancelled fulfilment moved
/// nothing after all; unfulfilled units cancelled or removed never left the ERP's shelves.
pub fn erp_movement(kind: MovementKind, quantity: i64) -> i64 {
    match kind {
        MovementKind::Fulfilled => -quantity,
        MovementKind::RestockedReturn => quantity,
        MovementKind::FulfillmentCancelled
        | MovementKind::RestockedCancel
        | MovementKind::RemovedNoRestock => 0,
    }
}

fn movement_label(kind: MovementKind) -> &'static str {
    match kind {
        MovementKind::Fulfilled => "fulfilled",
        MovementKind::FulfillmentCancelled => "fulfilment cancelled",
        MovementKind::RestockedReturn => "returned and restocked",
        MovementKind::RestockedCancel => "cancelled and restocked",
        MovementKind::RemovedNoRestock => "removed without restock",
    }
}

/// Stores `next` as the line's snapshot and moves what it counts where ([`allocate`]): the
/// stock records it leaves and joins change by the difference. Refused whole when a sum would
/// leave its bounds.
fn recount(book: &mut Book, line: &LineKey, mut next: OrderLine, version: Version) -> Effect {
    let (counted, recheck) = allocate(&next);
    let before = book
        .lines
        .get(line)
        .map(|l| l.counted.clone())
        .unwrap_or_default();
    let mut deltas: BTreeMap<LocationId, i64> = BTreeMap::new();
    for (location, q) in &before {
        *deltas.entry(*location).or_default() -= q;
    }
    for (location, q) in &counted {
        *deltas.entry(*location).or_default() += q;
    }
    let key = |location: LocationId| StockKey {
        shop: line.shop.clone(),
        item: next.item,
        location,
    };
    // Every sum is computed before anything changes: one out of bounds refuses the fact.
    let mut sums = Vec::with_capacity(deltas.len());
    for (location, delta) in &deltas {
        let k = key(*location);
        match book.level(&k).committed.checked_add(*delta) {
            Some(c) if (0..=MAX_COMMITTED).contains(&c) => sums.push((k, c)),
            _ => return out_of_range(&k, "committed"),
        }
    }
    let mut touched = Vec::with_capacity(sums.len());
    for (k, committed) in sums {
        let level = book.level_mut(&k);
        if level.committed != committed {
            level.committed = committed;
            level.saw(version);
            touched.push(k);
        }
    }
    next.counted = counted;
    next.recheck = recheck;
    book.lines.insert(line.clone(), next);
    Effect::Changed(touched)
}

/// Applies a read of every quantity name at `key` (see [`Effect::Read`]).
fn read_level(
    book: &mut Book,
    key: &StockKey,
    read: Option<&ShopifyQuantities>,
    version: Version,
) -> Effect {
    let none = ShopifyQuantities::default();
    let q = read.unwrap_or(&none);
    let bounded = [
        q.available,
        q.reserved,
        q.damaged,
        q.safety_stock,
        q.quality_control,
        q.incoming,
    ]
    .iter()
    .all(|x| x.unsigned_abs() <= MAX_QUANTITY as u64)
        && (0..=MAX_COMMITTED).contains(&q.committed)
        && q.on_hand.unsigned_abs() <= (MAX_COMMITTED + 5 * MAX_QUANTITY) as u64;
    if !bounded {
        return out_of_range(key, "a read quantity");
    }
    let level = book.level_mut(key);
    let states = States {
        reserved: q.reserved,
        damaged: q.damaged,
        safety_stock: q.safety_stock,
        quality_control: q.quality_control,
        incoming: q.incoming,
    };
    let newest = level.fact_version.is_none_or(|known| version > known);
    let mut changed = false;
    if level.level_version.is_none_or(|known| version > known) {
        level.level_version = Some(version);
        changed |= level.available != q.available || level.connected != read.is_some();
        level.available = q.available;
        level.connected = read.is_some();
        level.tracked = true;
    }
    if level.states_version.is_none_or(|known| version > known) {
        changed |= level.states != states;
        level.states = states;
        level.states_version = Some(version);
    }
    // Confirmed when, what is newer of the read applied, the figures agree with it all (the
    // facts explain what Shopify has), or when it is newer than every fact known here.
    let agrees = level.available == q.available
        && level.committed == q.committed
        && level.states == states
        && level.connected == read.is_some();
    let confirmed = (agrees || newest).then_some(q.on_hand);
    if !changed && confirmed.is_none() {
        return Effect::Stale;
    }
    Effect::Read(key.clone(), confirmed)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{InventoryItemId, LineItemId, OrderId, ShopDomain, Timestamp};

    fn key(location: u64) -> StockKey {
        StockKey {
            shop: ShopDomain::new("s.myshopify.com"),
            item: InventoryItemId(1 << 60),
            location: LocationId(location),
        }
    }

    fn v(t: i64) -> Version {
        Version::new(Timestamp(t), Timestamp(0))
    }

    fn commit(line: u64, location: u64, open: i64, t: i64) -> Fact {
        Fact::Commitment {
            line: LineKey {
                shop: ShopDomain::new("s.myshopify.com"),
                line: LineItemId(line),
            },
            order: OrderId(9),
            item: key(location).item,
            named: Some(LocationId(location)),
            open,
            version: v(t),
        }
    }

    #[test]
    fn newer_level_wins_and_older_is_stale() {
        let mut book = Book::default();
        let set = |a, t| Fact::Available {
            key: key(1),
            available: Some(a),
            version: v(t),
        };
        assert!(matches!(
            apply_change(&mut book, &set(10, 2)),
            Effect::Changed(_)
        ));
        assert_eq!(apply_change(&mut book, &set(99, 1)), Effect::Stale);
        assert_eq!(apply_change(&mut book, &set(99, 2)), Effect::Stale);
        assert_eq!(book.level(&key(1)).available, 10);
    }

    #[test]
    fn null_available_marks_untracked_with_no_quantity() {
        let mut book = Book::default();
        apply_change(
            &mut book,
            &Fact::Available {
                key: key(1),
                available: Some(4),
                version: v(1),
            },
        );
        apply_change(
            &mut book,
            &Fact::Available {
                key: key(1),
                available: None,
                version: v(2),
            },
        );
        let level = book.level(&key(1));
        assert_eq!((level.available, level.tracked), (0, false));
    }

    #[test]
    fn order_counts_once_in_on_hand() {
        // Stock 10; an order of 2 arrives as a level change (10 -> 8) and as orders/create.
        let mut book = Book::default();
        let level = |a, t| Fact::Available {
            key: key(1),
            available: Some(a),
            version: v(t),
        };
        apply_change(&mut book, &level(10, 1));
        apply_change(&mut book, &level(8, 2));
        apply_change(&mut book, &commit(7, 1, 2, 2));
        let q = book.level(&key(1)).quantities();
        assert_eq!((q.available, q.committed, q.on_hand), (8, 2, 10));
        // Fulfilled: commitment 0, available unchanged, on hand 8.
        apply_change(&mut book, &commit(7, 1, 0, 3));
        assert_eq!(book.level(&key(1)).on_hand(), 8);
    }

    #[test]
    fn a_line_attributed_elsewhere_moves_its_commitment() {
        let mut book = Book::default();
        apply_change(&mut book, &commit(7, 1, 3, 1));
        apply_change(&mut book, &commit(7, 2, 1, 2));
        assert_eq!(book.level(&key(1)).committed, 0);
        assert_eq!(book.level(&key(2)).committed, 1);
    }

    #[test]
    fn disconnect_then_older_update_is_stale() {
        let mut book = Book::default();
        apply_change(
            &mut book,
            &Fact::Disconnected {
                key: key(1),
                version: v(5),
            },
        );
        let stale = Fact::Available {
            key: key(1),
            available: Some(3),
            version: v(4),
        };
        assert_eq!(apply_change(&mut book, &stale), Effect::Stale);
        assert!(!book.level(&key(1)).connected);
    }
}
