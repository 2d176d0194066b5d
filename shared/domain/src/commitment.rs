//! Where an order line's open quantity counts as `committed`: at the locations Shopify assigned
//! it to, as its fulfillment orders say.
//!
//! Two kinds of snapshot describe a line, each kept newest-first on its own:
//! - the line's **open quantity** (`fulfillable_quantity`, 0 once cancelled), from every
//!   `orders/*` payload, and the location the order names, if it names one (POS orders do);
//! - per **fulfillment order** holding the line, its assigned location, whether it is still to
//!   be fulfilled and the line's remaining quantity there, read from the Admin API after a
//!   `fulfillment_orders/*` webhook (the payloads are too thin to say).
//!
//! [`allocate`] derives from the two what the line adds to each location's `committed`
//! (`OrderLine::counted`); the stock records change by the difference. The rule, also in
//! ARCHITECTURE.md:
//! - no fulfillment order known: at the location the order names, else **nowhere** (an online
//!   order before its routing is read). A line counted nowhere leaves its location's `on_hand`
//!   unexplained, so that location's figure is not settled and the ERP is told nothing from it
//!   until the routing (or a read of the level) explains it;
//! - fulfillment orders newer than the order snapshot: their remaining quantities, as read;
//! - an order snapshot newer than them: its open quantity, spread as the fulfillment orders
//!   spread it; a shortfall is taken from the highest location id first, an excess added where
//!   the order names or else where most of the line is, and the line is marked for a re-read
//!   (`recheck`) whenever that spread was a guess (more than one location, or an excess).
//!
//! Each snapshot is absolute and versioned, and the counts are derived from the newest of each,
//! so any interleaving ends in the same counts as applying the history in order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{FulfillmentOrderId, InventoryItemId, LocationId, OrderId, Version};

/// The newest snapshot of one order line and where it counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub order: OrderId,
    pub item: InventoryItemId,
    /// The open quantity of the newest `orders/*` snapshot (0 before one arrived).
    pub open: i64,
    /// Version of that snapshot; `None` while the line is known from fulfillment orders only.
    pub version: Option<Version>,
    /// The location the order itself names (POS), if it names one.
    #[serde(default)]
    pub named: Option<LocationId>,
    /// The fulfillment orders holding the line, as last read.
    #[serde(default)]
    pub parts: BTreeMap<FulfillmentOrderId, FoPart>,
    /// What the line adds to `committed` at each location now ([`allocate`]).
    #[serde(default)]
    pub counted: BTreeMap<LocationId, i64>,
    /// The counts were a guess: read the line's fulfillment orders again.
    #[serde(default)]
    pub recheck: bool,
}

/// One fulfillment order's share of a line, as read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoPart {
    pub location: LocationId,
    /// Units of the line this fulfillment order still has to fulfil.
    pub remaining: i64,
    /// False once the fulfillment order is closed or cancelled.
    pub open: bool,
    pub version: Version,
}

impl OrderLine {
    /// A line first known from `item` (its counts are empty until a snapshot says more).
    pub fn new(order: OrderId, item: InventoryItemId) -> Self {
        OrderLine {
            order,
            item,
            open: 0,
            version: None,
            named: None,
            parts: BTreeMap::new(),
            counted: BTreeMap::new(),
            recheck: false,
        }
    }

    /// Units of the line counted at no location (an online order before its routing is read).
    pub fn uncounted(&self) -> i64 {
        let counted: i64 = self.counted.values().sum();
        match self.version {
            Some(_) => (self.open - counted).max(0),
            None => 0,
        }
    }
}

/// What the line adds to `committed` at each location, and whether that was a guess (see the
/// module's rule). Only positive counts are listed.
pub fn allocate(line: &OrderLine) -> (BTreeMap<LocationId, i64>, bool) {
    let mut live: BTreeMap<LocationId, i64> = BTreeMap::new();
    for part in line.parts.values().filter(|p| p.open && p.remaining > 0) {
        *live.entry(part.location).or_default() += part.remaining;
    }
    let newest_part = line.parts.values().map(|p| p.version).max();
    let positive = |m: BTreeMap<LocationId, i64>| -> BTreeMap<LocationId, i64> {
        m.into_iter().filter(|(_, q)| *q > 0).collect()
    };
    let Some(order_version) = line.version else {
        return (positive(live), false);
    };
    if line.parts.is_empty() {
        let counted = line
            .named
            .map(|l| BTreeMap::from([(l, line.open)]))
            .unwrap_or_default();
        return (positive(counted), false);
    }
    let sum: i64 = live.values().sum();
    let open = line.open.max(0);
    if newest_part.is_some_and(|p| p > order_version) {
        // As read; but if the read parts disagree with the order's open quantity, one of them
        // is older than the rest (a move whose webhook was lost leaves the old fulfillment order
        // open here): read them all again.
        let disagree = sum != open && line.parts.values().any(|p| Some(p.version) != newest_part);
        return (positive(live), disagree);
    }
    if open == sum {
        return (positive(live), false);
    }
    let guess = live.len() > 1 || open > sum;
    if open < sum {
        let mut short = sum - open;
        for (_, q) in live.iter_mut().rev() {
            let take = short.min(*q);
            *q -= take;
            short -= take;
            if short == 0 {
                break;
            }
        }
        return (positive(live), guess);
    }
    let extra = open - sum;
    let target = line.named.or_else(|| {
        live.iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(l, _)| *l)
    });
    if let Some(target) = target {
        *live.entry(target).or_default() += extra;
    }
    (positive(live), guess)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Timestamp;

    fn v(t: i64) -> Version {
        Version::new(Timestamp(t), Timestamp(0))
    }

    fn part(location: u64, remaining: i64, open: bool, t: i64) -> FoPart {
        FoPart {
            location: LocationId(location),
            remaining,
            open,
            version: v(t),
        }
    }

    fn line(open: i64, t: Option<i64>) -> OrderLine {
        OrderLine {
            open,
            version: t.map(v),
            ..OrderLine::new(OrderId(1), InventoryItemId(2))
        }
    }

    fn at(pairs: &[(u64, i64)]) -> BTreeMap<LocationId, i64> {
        pairs.iter().map(|(l, q)| (LocationId(*l), *q)).collect()
    }

    #[test]
    fn an_online_line_counts_nowhere_until_its_routing_is_read() {
        let l = line(3, Some(1));
        assert_eq!(allocate(&l), (BTreeMap::new(), false));
        assert_eq!(l.uncounted(), 3);
        let pos = OrderLine {
            named: Some(LocationId(7)),
            ..line(2, Some(1))
        };
        assert_eq!(allocate(&pos), (at(&[(7, 2)]), false));
    }

    #[test]
    fn newer_fulfillment_orders_count_as_read_and_a_move_moves_the_commitment() {
        let mut l = line(3, Some(1));
        l.parts.insert(FulfillmentOrderId(10), part(1, 3, true, 2));
        assert_eq!(allocate(&l), (at(&[(1, 3)]), false));
        // Moved to location 2: the old fulfillment order closes, a new one holds the line.
        l.parts.insert(FulfillmentOrderId(10), part(1, 3, false, 3));
        l.parts.insert(FulfillmentOrderId(11), part(2, 3, true, 3));
        assert_eq!(allocate(&l), (at(&[(2, 3)]), false));
        // A move whose webhook was lost: the new fulfillment order is read, the old one still
        // looks open. Counted as read, and a re-read of both asked.
        let mut lost = line(3, Some(1));
        lost.parts
            .insert(FulfillmentOrderId(10), part(1, 3, true, 2));
        lost.parts
            .insert(FulfillmentOrderId(11), part(2, 3, true, 4));
        assert_eq!(allocate(&lost), (at(&[(1, 3), (2, 3)]), true));
    }

    #[test]
    fn a_newer_order_snapshot_spreads_its_open_quantity_over_the_assignment() {
        let mut l = line(1, Some(5));
        l.parts.insert(FulfillmentOrderId(10), part(1, 3, true, 2));
        // One location: exact, no guess.
        assert_eq!(allocate(&l), (at(&[(1, 1)]), false));
        // Two locations: the shortfall from the highest location id, and a re-read asked.
        l.parts.insert(FulfillmentOrderId(11), part(2, 2, true, 2));
        assert_eq!(allocate(&l), (at(&[(1, 1)]), true));
        // An excess goes where most of the line is.
        l.open = 7;
        assert_eq!(allocate(&l), (at(&[(1, 5), (2, 2)]), true));
        // Cancelled: nothing anywhere.
        l.open = 0;
        assert_eq!(allocate(&l).0, BTreeMap::new());
    }
}
