//! Stock per shop, item and location, and the one function that moves it: [`apply_change`].
//!
//! The model follows Shopify's own quantities (`on_hand = available + committed`, the
//! unavailable states aside):
//! - `available` is whatever the newest `inventory_levels/*` payload said, by [`Version`];
//! - `committed` is the sum of the open quantity of every order line attributed to the location,
//!   each line being the newest snapshot of that line from any `orders/*` payload;
//! - `on_hand` is derived from the two, so an order seen as `orders/create` *and* as a level change
//!   is counted once, never twice.
//!
//! Every fact is an absolute snapshot with a version, so a duplicate or an out-of-order delivery
//! changes nothing: the same final state whatever the interleaving (property-tested in `batch`).
//! Nothing is ever summed across locations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::MovementKind;
/// The key of a stock record (defined with the other identifiers).
pub use crate::ids::StockKey;
use crate::ids::{
    InventoryItemId, LineItemId, LocationId, OrderId, ShopDomain, Timestamp, Version,
};

/// The largest quantity one fact may carry, either sign (a level's `available`, a line's open
/// quantity, a movement line). The webhook quarantines anything beyond it
/// (`quantity_out_of_range`), and [`apply_change`] refuses it too ([`Effect::OutOfRange`]), so
/// every sum below works far inside `i64` (see [`MAX_COMMITTED`]).
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// The largest `committed` a stock record may reach (a million lines of [`MAX_QUANTITY`] each):
/// with `|available| <= MAX_QUANTITY`, `on_hand` and any difference of two `on_hand`s stay
/// within `i64` by more than three orders of magnitude.
pub const MAX_COMMITTED: i64 = 1_000_000 * MAX_QUANTITY;

/// One order line, the unit a commitment is tracked by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LineKey {
    pub shop: ShopDomain,
    pub line: LineItemId,
}

/// One Shopify movement line (a fulfilment line, a refund line).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MovementKey {
    pub shop: ShopDomain,
    pub id: String,
}

/// The newest snapshot of one movement line and what it means for an ERP-kept count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovementRecord {
    pub key: StockKey,
    /// See [`erp_movement`].
    pub erp_effect: i64,
    pub version: Version,
}

/// The stock of one item at one location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    /// Shopify `available`: sellable now.
    pub available: i64,
    /// Shopify `committed`: sold, not yet fulfilled.
    pub committed: i64,
    /// False when Shopify said `available: null` (not tracked at this location; `available` is
    /// then 0).
    pub tracked: bool,
    /// False after `inventory_levels/disconnect` (`available` is then 0).
    pub connected: bool,
    /// Version of the newest level fact applied (update, connect, disconnect).
    pub level_version: Option<Version>,
    /// What the ERP is owed and has not been told yet (Shopify units); see [`crate::erp_write`].
    pub erp_owed: i64,
    /// Receipt time of the oldest event in `erp_owed` (for end-to-end latency).
    pub erp_owed_since: Option<Timestamp>,
    /// A write prepared for the ERP and not yet acknowledged: retried with the same key.
    pub erp_inflight: Option<Inflight>,
    /// Number of writes acknowledged by the ERP (part of the next write's key).
    pub erp_seq: u64,
}

/// The part of a stock record's debt to the ERP that is on its way, under a fixed key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inflight {
    pub key: String,
    pub warehouse: String,
    pub erp_item: String,
    /// Shopify units this write settles.
    pub quantity: i64,
    /// The ERP line as prepared (ERP units), so a retry sends exactly the same write. Stored as
    /// decimal strings; one that does not parse makes the record unreadable, never 0.
    pub change: rust_decimal::Decimal,
    pub target: Option<rust_decimal::Decimal>,
    pub since: Option<Timestamp>,
    /// Until when one consumer holds the right to send this write; others leave it alone, so
    /// two consumers never send the same write at once. The holder renews it before each call
    /// to the ERP and bounds each call well inside it.
    #[serde(default)]
    pub lease_until: Option<Timestamp>,
    /// Which consumer process holds the lease: only it renews the lease, gives it back or
    /// records a refusal. `None` when nobody holds it (and in records written before holders).
    #[serde(default)]
    pub holder: Option<String>,
    /// How many times the ERP refused this write. A refused write keeps its key, since the ERP
    /// may have applied part of it (Tryton's "in" shipment before it refused the "out"), and is
    /// sent again later under that key.
    #[serde(default)]
    pub refusals: u32,
    /// The ERP's last refusal, for the operator.
    #[serde(default)]
    pub refused: Option<String>,
    /// Set when the write was parked after too many refusals: it is not sent again until an
    /// operator releases it (`stockbridge erp retry`).
    #[serde(default)]
    pub parked_at: Option<Timestamp>,
}

impl Inflight {
    /// True while another holder than `holder` holds an unexpired lease on it at `now`.
    pub fn leased_to_another(&self, holder: &str, now: Timestamp) -> bool {
        self.lease_until.is_some_and(|until| until > now) && self.holder.as_deref() != Some(holder)
    }
}

impl Default for StockLevel {
    fn default() -> Self {
        StockLevel {
            available: 0,
            committed: 0,
            tracked: true,
            connected: true,
            level_version: None,
            erp_owed: 0,
            erp_owed_since: None,
            erp_inflight: None,
            erp_seq: 0,
        }
    }
}

impl StockLevel {
    /// Physically present: `available + committed`.
    pub fn on_hand(&self) -> i64 {
        self.available + self.committed
    }

    pub fn quantities(&self) -> Quantities {
        Quantities {
            available: self.available,
            committed: self.committed,
            on_hand: self.on_hand(),
        }
    }
}

/// The three figures a person asks about, as logged before and after each change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Quantities {
    pub available: i64,
    pub committed: i64,
    pub on_hand: i64,
}

/// The newest snapshot of one order line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub order: OrderId,
    pub item: InventoryItemId,
    pub location: LocationId,
    pub open: i64,
    pub version: Version,
}

/// What Shopify last said about an inventory item itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub sku: Option<String>,
    pub tracked: Option<bool>,
    pub deleted: bool,
    pub version: Version,
}

/// A stock change whose item and location are resolved to Shopify inventory ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Fact {
    Available {
        key: StockKey,
        available: Option<i64>,
        version: Version,
    },
    Disconnected {
        key: StockKey,
        version: Version,
    },
    Commitment {
        line: LineKey,
        order: OrderId,
        /// The item, and the location the commitment is attributed to: the one the order names,
        /// else the shop's default fulfilment location (the same for every payload of a line).
        key: StockKey,
        open: i64,
        version: Version,
    },
    Movement {
        movement: MovementKey,
        key: StockKey,
        kind: MovementKind,
        reference: String,
        quantity: i64,
        version: Version,
    },
    Item {
        shop: ShopDomain,
        item: InventoryItemId,
        record: ItemRecord,
    },
}

/// What applying one fact did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// State changed; these stock records were touched.
    Changed(Vec<StockKey>),
    /// A movement note for the log; quantities unchanged. The number is what the movement means
    /// for an ERP that keeps the count itself (shipped: minus, taken back into stock: plus).
    Noted(StockKey, String, i64),
    /// The item record changed.
    ItemUpdated,
    /// Older than, or the same as, what is already known.
    Stale,
    /// Refused: the fact carries a quantity beyond [`MAX_QUANTITY`], or applying it would take
    /// a sum beyond its bound ([`MAX_COMMITTED`]). Nothing changed; the reason is logged on the
    /// stock record.
    OutOfRange(StockKey, String),
}

/// The working set the pure logic reads and writes: the records a batch touches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Book {
    pub levels: BTreeMap<StockKey, StockLevel>,
    pub lines: BTreeMap<LineKey, OrderLine>,
    pub items: BTreeMap<(ShopDomain, InventoryItemId), ItemRecord>,
    pub movements: BTreeMap<MovementKey, MovementRecord>,
}

impl Book {
    pub fn level(&self, key: &StockKey) -> StockLevel {
        self.levels.get(key).cloned().unwrap_or_default()
    }

    fn level_mut(&mut self, key: &StockKey) -> &mut StockLevel {
        self.levels.entry(key.clone()).or_default()
    }
}

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
            level.connected = false;
            level.available = 0;
            level.tracked = true;
            Effect::Changed(vec![key.clone()])
        }
        Fact::Commitment {
            line,
            order,
            key,
            open,
            version,
        } => {
            let previous = book.lines.get(line).cloned();
            if previous.as_ref().is_some_and(|p| *version <= p.version) {
                return Effect::Stale;
            }
            let new_key = key.clone();
            let open = (*open).max(0);
            if open > MAX_QUANTITY {
                return out_of_range(key, "an order line's open quantity");
            }
            // Both sums are computed before anything changes: one out of bounds refuses the fact.
            let old_key = previous.as_ref().map(|p| StockKey {
                shop: key.shop.clone(),
                item: p.item,
                location: p.location,
            });
            let within = |c: i64| (0..=MAX_COMMITTED).contains(&c).then_some(c);
            let left = match (&previous, &old_key) {
                (Some(p), Some(k)) => book.level(k).committed.checked_sub(p.open),
                _ => Some(0),
            };
            let joined = if old_key.as_ref() == Some(&new_key) {
                left.and_then(|c| c.checked_add(open))
            } else {
                book.level(&new_key).committed.checked_add(open)
            };
            let (Some(left), Some(joined)) = (left, joined.and_then(within)) else {
                return out_of_range(key, "committed");
            };
            let mut touched = Vec::with_capacity(2);
            if let Some(old_key) = old_key {
                book.level_mut(&old_key).committed = left;
                touched.push(old_key);
            }
            book.level_mut(&new_key).committed = joined;
            if !touched.contains(&new_key) {
                touched.push(new_key);
            }
            book.lines.insert(
                line.clone(),
                OrderLine {
                    order: *order,
                    item: key.item,
                    location: key.location,
                    open,
                    version: *version,
                },
            );
            Effect::Changed(touched)
        }
        Fact::Movement {
            movement,
            key,
            kind,
            reference,
            quantity,
            version,
        } => {
            if quantity.unsigned_abs() > MAX_QUANTITY as u64 {
                return out_of_range(key, "a movement's quantity");
            }
            let previous = book.movements.get(movement);
            if previous.is_some_and(|p| *version <= p.version) {
                return Effect::Stale;
            }
            let effect = erp_movement(*kind, *quantity);
            let Some(delta) = effect.checked_sub(previous.map_or(0, |p| p.erp_effect)) else {
                return out_of_range(key, "a movement's change");
            };
            book.movements.insert(
                movement.clone(),
                MovementRecord {
                    key: key.clone(),
                    erp_effect: effect,
                    version: *version,
                },
            );
            Effect::Noted(
                key.clone(),
                format!("{} {quantity} ({reference})", movement_label(*kind)),
                delta,
            )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Timestamp;

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
            key: key(location),
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
