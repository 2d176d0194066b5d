//! The backfill's plan, free of I/O: how Shopify's levels at a location and the SKU map pair up
//! (both in inventory item order), what each pair says about the differences the operator
//! reviews before anything is written, and the stock record a level becomes.

use std::cmp::Ordering;

use rust_decimal::Decimal;
use serde::Serialize;

use stockbridge_domain::event::ShopifyQuantities;
use stockbridge_domain::ids::{InventoryItemId, LocationId, Timestamp, Version};
use stockbridge_domain::skumap::{ItemMapping, Master};
use stockbridge_domain::stock::{States, StockLevel};
use stockbridge_domain::variance::ShopifyLevel;

/// Differences kept in full per location (the rest are counted only).
pub const EXAMPLES: usize = 20;

/// Which of the two item-ordered streams the next pair comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// The same item in both: stocked in Shopify and mapped.
    Both,
    /// Shopify's level only: stocked there, not in the SKU map.
    Level,
    /// The map's item only: mapped, no level at this location.
    Mapping,
    Done,
}

/// The next step of the merge, from the item ids at the head of each stream.
pub fn take(level: Option<InventoryItemId>, mapping: Option<InventoryItemId>) -> Take {
    match (level, mapping) {
        (None, None) => Take::Done,
        (Some(_), None) => Take::Level,
        (None, Some(_)) => Take::Mapping,
        (Some(l), Some(m)) => match l.cmp(&m) {
            Ordering::Less => Take::Level,
            Ordering::Greater => Take::Mapping,
            Ordering::Equal => Take::Both,
        },
    }
}

/// One difference the operator sees before the backfill writes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// Stocked in Shopify here, not in the SKU map: recorded, but no event about it reaches the
    /// ERP until it is mapped.
    OnlyInShopify { item: InventoryItemId, on_hand: i64 },
    /// In the SKU map, no level in Shopify here.
    OnlyInMap { item: InventoryItemId, sku: String },
    /// Mapped, and the ERP does not know the item at this warehouse.
    ErpUnknown {
        item: InventoryItemId,
        erp_item: String,
        shopify_erp_units: Decimal,
    },
    /// Shopify's on-hand (in ERP units) is not the ERP's.
    OnHand {
        item: InventoryItemId,
        erp_item: String,
        shopify_erp_units: Decimal,
        erp: Decimal,
    },
}

/// What one location's backfill finds, before anything is written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LocationSurvey {
    pub location: LocationId,
    pub warehouse: String,
    pub master: Master,
    /// Where the survey started: the checkpoint of an earlier run (`None`: from the start).
    pub resumed_after: Option<InventoryItemId>,
    /// The location's backfill was finished by an earlier run: nothing to do.
    pub finished: bool,
    /// Levels Shopify has here (after the checkpoint): what a run records.
    pub shopify_items: u64,
    pub mapped_items: u64,
    pub only_in_shopify: u64,
    pub only_in_map: u64,
    pub erp_unknown: u64,
    pub on_hand_differs: u64,
    /// The sum of |Shopify's on-hand - the ERP's| over the differing items, in ERP units.
    pub erp_units_apart: Decimal,
    /// The first [`EXAMPLES`] differences, in item order.
    pub examples: Vec<Difference>,
}

impl LocationSurvey {
    pub fn new(
        location: LocationId,
        warehouse: &str,
        master: Master,
        resumed_after: Option<InventoryItemId>,
    ) -> Self {
        LocationSurvey {
            location,
            warehouse: warehouse.to_string(),
            master,
            resumed_after,
            finished: false,
            shopify_items: 0,
            mapped_items: 0,
            only_in_shopify: 0,
            only_in_map: 0,
            erp_unknown: 0,
            on_hand_differs: 0,
            erp_units_apart: Decimal::ZERO,
            examples: Vec::new(),
        }
    }

    /// Counts one pair; `erp` is the ERP's on-hand of the mapped item (`None`: unknown there).
    pub fn count(
        &mut self,
        level: Option<&ShopifyLevel>,
        mapping: Option<&ItemMapping>,
        erp: Option<Decimal>,
    ) {
        if level.is_some() {
            self.shopify_items += 1;
        }
        if mapping.is_some() {
            self.mapped_items += 1;
        }
        let difference = match (level, mapping) {
            (None, None) => None,
            (Some(l), None) => {
                self.only_in_shopify += 1;
                Some(Difference::OnlyInShopify {
                    item: l.item,
                    on_hand: on_hand(l),
                })
            }
            (None, Some(m)) => {
                self.only_in_map += 1;
                Some(Difference::OnlyInMap {
                    item: m.item,
                    sku: m.sku.clone(),
                })
            }
            (Some(l), Some(m)) => {
                let shopify_erp_units = m.uom.to_erp(on_hand(l));
                match erp {
                    None => {
                        self.erp_unknown += 1;
                        Some(Difference::ErpUnknown {
                            item: l.item,
                            erp_item: m.erp_item.clone(),
                            shopify_erp_units,
                        })
                    }
                    Some(erp) if erp != shopify_erp_units => {
                        self.on_hand_differs += 1;
                        self.erp_units_apart += (shopify_erp_units - erp).abs();
                        Some(Difference::OnHand {
                            item: l.item,
                            erp_item: m.erp_item.clone(),
                            shopify_erp_units,
                            erp,
                        })
                    }
                    Some(_) => None,
                }
            }
        };
        if let Some(d) = difference {
            if self.examples.len() < EXAMPLES {
                self.examples.push(d);
            }
        }
    }
}

/// Shopify's on-hand as Stockbridge counts it: `available + committed + unavailable states`.
pub fn on_hand(level: &ShopifyLevel) -> i64 {
    level
        .available
        .saturating_add(level.committed)
        .saturating_add(level.reserved)
        .saturating_add(level.damaged)
        .saturating_add(level.safety_stock)
        .saturating_add(level.quality_control)
}

/// The version a snapshot read at `read_at` carries: a second before the read, as the
/// reconciliation's snapshots (Shopify's `updated_at` has whole seconds, so a change made just
/// after the read is newer).
pub fn snapshot_version(read_at: Timestamp) -> Version {
    let at = Timestamp(read_at.0 - 1_000_000_000);
    Version::new(at, at)
}

/// The starting stock record of one level: Shopify's quantities as read but `committed`,
/// settled at Shopify's on-hand, owing the ERP nothing (the ERP's own count stands for what is
/// there already).
///
/// `committed` starts at 0: Stockbridge derives it from the order lines it holds, and the
/// starting state holds none. Recording Shopify's figure would count an open order twice once
/// its next `orders/*` webhook brings the line. Until the commitments repair the backfill sends
/// (the location's open fulfillment orders, read by the consumer) brings the lines in, a record
/// with a `committed` is unsettled (`on_hand` short of `settled` by it): it tells the ERP nothing,
/// and when the lines arrive `on_hand` meets `settled` again with nothing owed.
pub fn starting_level(level: &ShopifyLevel, version: Version) -> StockLevel {
    let unsettled_since = (level.committed != 0).then_some(version.as_of);
    StockLevel {
        available: level.available,
        committed: 0,
        tracked: true,
        connected: true,
        level_version: Some(version),
        states: States {
            reserved: level.reserved,
            damaged: level.damaged,
            safety_stock: level.safety_stock,
            quality_control: level.quality_control,
            incoming: level.incoming,
        },
        states_version: Some(version),
        fact_version: Some(version),
        settled: on_hand(level),
        unsettled_since,
        ..StockLevel::default()
    }
}

/// Every quantity name of the starting record, as the log entry states it.
pub fn snapshot_quantities(level: &ShopifyLevel) -> ShopifyQuantities {
    ShopifyQuantities {
        available: level.available,
        committed: level.committed,
        on_hand: on_hand(level),
        reserved: level.reserved,
        damaged: level.damaged,
        safety_stock: level.safety_stock,
        quality_control: level.quality_control,
        incoming: level.incoming,
    }
}

/// The quantities are within the bounds every stock record keeps (a read outside them is
/// refused, never recorded).
pub fn in_bounds(level: &ShopifyLevel) -> bool {
    use stockbridge_domain::stock::{MAX_COMMITTED, MAX_QUANTITY};
    [
        level.available,
        level.reserved,
        level.damaged,
        level.safety_stock,
        level.quality_control,
        level.incoming,
    ]
    .iter()
    .all(|q| q.unsigned_abs() <= MAX_QUANTITY as u64)
        && (0..=MAX_COMMITTED).contains(&level.committed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockbridge_domain::ids::{ShopDomain, VariantId};
    use stockbridge_domain::skumap::UomFactor;

    fn level(item: u64, available: i64, committed: i64) -> ShopifyLevel {
        ShopifyLevel {
            item: InventoryItemId(item),
            location: LocationId(9),
            available,
            committed,
            on_hand: available + committed,
            reserved: 0,
            damaged: 0,
            safety_stock: 0,
            quality_control: 0,
            incoming: 0,
        }
    }

    fn mapping(item: u64, uom: UomFactor) -> ItemMapping {
        ItemMapping {
            shop: ShopDomain::new("s.myshopify.com"),
            item: InventoryItemId(item),
            variant: VariantId(item),
            sku: format!("SKU-{item}"),
            erp_item: format!("E{item}"),
            uom,
        }
    }

    #[test]
    fn the_merge_takes_the_smaller_item_first_and_pairs_equal_ones() {
        let i = |n| Some(InventoryItemId(n));
        assert_eq!(take(i(1), i(1)), Take::Both);
        assert_eq!(take(i(1), i(2)), Take::Level);
        assert_eq!(take(i(3), i(2)), Take::Mapping);
        assert_eq!(take(None, i(2)), Take::Mapping);
        assert_eq!(take(i(2), None), Take::Level);
        assert_eq!(take(None, None), Take::Done);
    }

    #[test]
    fn differences_are_counted_by_kind_in_erp_units() {
        let mut s = LocationSurvey::new(LocationId(9), "WH", Master::Erp, None);
        let each = UomFactor::identity();
        // In step.
        s.count(
            Some(&level(1, 5, 1)),
            Some(&mapping(1, each.clone())),
            Some(Decimal::from(6)),
        );
        // Shopify has 10, the ERP 4: 6 apart.
        s.count(
            Some(&level(2, 10, 0)),
            Some(&mapping(2, each.clone())),
            Some(Decimal::from(4)),
        );
        // Sold by the piece, counted in packs of six in the ERP: 12 pieces are 2 packs.
        let packs = UomFactor::new("each", "pack6").expect("a known unit");
        s.count(
            Some(&level(3, 12, 0)),
            Some(&mapping(3, packs)),
            Some(Decimal::from(2)),
        );
        s.count(Some(&level(4, 3, 0)), Some(&mapping(4, each.clone())), None);
        s.count(Some(&level(5, 7, 0)), None, None);
        s.count(None, Some(&mapping(6, each)), None);
        assert_eq!(s.shopify_items, 5);
        assert_eq!(s.mapped_items, 5);
        assert_eq!(
            (
                s.only_in_shopify,
                s.only_in_map,
                s.erp_unknown,
                s.on_hand_differs
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(s.erp_units_apart, Decimal::from(6));
        assert_eq!(
            s.examples[0],
            Difference::OnHand {
                item: InventoryItemId(2),
                erp_item: "E2".into(),
                shopify_erp_units: Decimal::from(10),
                erp: Decimal::from(4),
            }
        );
        assert_eq!(s.examples.len(), 4);
    }

    #[test]
    fn examples_stop_at_the_limit_while_counting_goes_on() {
        let mut s = LocationSurvey::new(LocationId(9), "WH", Master::Shopify, None);
        for n in 0..(EXAMPLES as u64 + 5) {
            s.count(Some(&level(n, 1, 0)), None, None);
        }
        assert_eq!(s.only_in_shopify, EXAMPLES as u64 + 5);
        assert_eq!(s.examples.len(), EXAMPLES);
    }

    #[test]
    fn a_starting_record_is_settled_at_shopifys_on_hand_and_owes_nothing() {
        let mut l = level(1, 5, 2);
        l.damaged = 3;
        l.incoming = 4;
        let v = snapshot_version(Timestamp(10_000_000_000));
        let r = starting_level(&l, v);
        assert_eq!(r.committed, 0, "no order line is held yet");
        assert_eq!(r.on_hand(), 8);
        assert_eq!(r.settled, 10, "Shopify's on-hand");
        assert!(
            !r.is_settled(),
            "short of the 2 committed until the lines arrive"
        );
        assert_eq!(r.unsettled_since, Some(v.as_of));
        assert_eq!(r.erp_owed, 0);
        assert_eq!(r.states.incoming, 4);
        assert_eq!(r.level_version, Some(v));
        assert_eq!(v.as_of, Timestamp(9_000_000_000));
        assert_eq!(snapshot_quantities(&l).on_hand, 10);
        let without = starting_level(&level(2, 5, 0), v);
        assert!(without.is_settled() && without.unsettled_since.is_none());
        assert_eq!((without.on_hand(), without.settled), (5, 5));
    }

    #[test]
    fn a_level_beyond_the_bounds_is_not_recorded() {
        assert!(in_bounds(&level(1, 5, 0)));
        assert!(!in_bounds(&level(1, 5, -1)));
        assert!(!in_bounds(&level(1, 2_000_000_000, 0)));
    }
}
