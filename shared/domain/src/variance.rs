//! Reconciliation: what Shopify, Stockbridge (DynamoDB) and the ERP hold per SKU per location,
//! where they differ, and which correction brings the follower back to the location's master.
//!
//! Pure and streaming. [`LocationPass`] merges two streams sorted by inventory item id, Shopify's
//! levels at one location and what Stockbridge knows of each mapped item there (its stock record
//! and the ERP's on-hand), holding only the pages it has been given: memory does not grow with
//! the catalogue. Every item is judged by [`assess`]:
//!
//! - **Stockbridge behind Shopify** (either master): its `available`, `committed` or any state
//!   other than Shopify's is a lost webhook: record every quantity name Shopify read as a
//!   snapshot ([`Correction::RecordQuantities`]); when `committed` differs, also re-read the
//!   location's open fulfillment orders ([`Correction::RepairCommitments`]), since committed
//!   follows from the order lines.
//! - **Shopify-master location** (shop floor): Shopify is right; once Stockbridge agrees with it
//!   and its record is settled, an ERP on-hand other than Stockbridge's is a change made in the
//!   ERP: adjust the ERP back ([`Correction::AdjustErp`]).
//! - **ERP-master location** (warehouse): the ERP is right about on-hand. Shopify's `available`
//!   other than ERP on-hand minus Shopify's `committed` and unavailable states is set back with
//!   compare-and-set ([`Correction::SetShopify`]); Shopify's own webhook then updates
//!   Stockbridge. Stockbridge behind an otherwise correct Shopify is a lost webhook, as above.
//! - A record with an ERP write still owed or in flight, or (Shopify-master) an unsettled one
//!   (its on_hand not yet explained), is **pending**, not drift: it is looked at again next run.
//! - Items Shopify stocks that the SKU map lacks are **unmapped** (their units count as
//!   variance: the ERP never hears of them); mapped items Shopify does not stock at the location,
//!   and items the ERP does not know, are reported and left to an operator.
//!
//! Variance per location is units off over the master's units, in percent; a run alerts when a
//! location is over [`Policy::threshold_pct`], a single item is off by more than
//! [`Policy::max_units_per_item`], an unmapped location holds stock, or the cap held corrections
//! back.

use std::collections::VecDeque;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::event::ShopifyQuantities;
use crate::ids::{InventoryItemId, LocationId};
use crate::skumap::{LocationMapping, Master, UomFactor};
use crate::stock::StockLevel;

mod correction;
pub use correction::Correction;

/// Thresholds and limits of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Alert when a location's variance exceeds this share of its units (percent).
    pub threshold_pct: f64,
    /// Alert when any single item is off by more than this many units.
    pub max_units_per_item: i64,
    /// A run corrects at most this many units on its own (sum over corrections); the rest waits
    /// for an operator.
    pub cap_units: i64,
    /// A run makes at most this many corrections on its own.
    pub cap_corrections: usize,
    /// Report only; correct nothing.
    pub dry_run: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            threshold_pct: 2.0,
            max_units_per_item: 10,
            cap_units: 1_000,
            cap_corrections: 500,
            dry_run: false,
        }
    }
}

/// One inventory level as Shopify's Admin API reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopifyLevel {
    pub item: InventoryItemId,
    pub location: LocationId,
    pub available: i64,
    pub on_hand: i64,
    pub committed: i64,
    /// The unavailable states and `incoming`, as `quantities(names:)` reads them.
    #[serde(default)]
    pub reserved: i64,
    #[serde(default)]
    pub damaged: i64,
    #[serde(default)]
    pub safety_stock: i64,
    #[serde(default)]
    pub quality_control: i64,
    #[serde(default)]
    pub incoming: i64,
}

impl ShopifyLevel {
    /// Every quantity name as Shopify read them.
    pub fn quantities(&self) -> ShopifyQuantities {
        ShopifyQuantities {
            available: self.available,
            committed: self.committed,
            on_hand: self.on_hand,
            reserved: self.reserved,
            damaged: self.damaged,
            safety_stock: self.safety_stock,
            quality_control: self.quality_control,
            incoming: self.incoming,
        }
    }

    /// On hand but not sellable: `reserved + damaged + safety_stock + quality_control`.
    pub fn unavailable(&self) -> i64 {
        self.reserved + self.damaged + self.safety_stock + self.quality_control
    }
}

/// What Stockbridge knows of one mapped item at the location: the mapping, its stock record and
/// the ERP's on-hand (ERP units; `None` when the ERP does not know the item).
#[derive(Clone, Debug, PartialEq)]
pub struct Known {
    pub item: InventoryItemId,
    pub sku: String,
    pub erp_item: String,
    pub uom: UomFactor,
    pub ours: Option<StockLevel>,
    pub erp: Option<Decimal>,
}

/// What kind of difference was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarianceKind {
    /// Stockbridge's `available` or a state differs from Shopify's: a webhook was lost or is
    /// late (the unavailable states only ever come from reads).
    StockbridgeBehind,
    /// The ERP differs from what the master implies: a change made in the ERP (Shopify-master).
    ErpDrift,
    /// Shopify differs from what the ERP implies: a change made in Shopify (ERP-master).
    ShopifyDrift,
    /// Stockbridge's `committed` differs from Shopify's: a `fulfillment_orders/*` or order
    /// webhook was lost. Corrected by a snapshot and a re-read of the location's open
    /// fulfillment orders ([`Correction::RepairCommitments`]).
    CommittedDiffers,
    /// Shopify stocks an item the SKU map lacks.
    UnmappedItem,
    /// The ERP does not know a mapped item at all.
    NotInErp,
    /// A mapped item Shopify does not stock at this location, while the ERP or Stockbridge
    /// holds some.
    NotAtLocation,
}

/// One difference found, in Shopify units, with the correction it calls for (if any).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Variance {
    pub item: InventoryItemId,
    pub location: LocationId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    pub kind: VarianceKind,
    /// Shopify's `available` and `on_hand`.
    pub shopify_available: Option<i64>,
    pub shopify_on_hand: Option<i64>,
    /// Stockbridge's `available` and `on_hand`.
    pub stockbridge_available: Option<i64>,
    pub stockbridge_on_hand: Option<i64>,
    /// The ERP's on-hand, ERP units.
    pub erp_on_hand: Option<Decimal>,
    /// How far off the follower is, Shopify units.
    pub units: i64,
    pub correction: Option<Correction>,
    /// With a snapshot when `committed` differs: the commitments repair
    /// ([`Correction::RepairCommitments`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair: Option<Correction>,
}

/// The verdict on one item at one location.
#[derive(Clone, Debug, PartialEq)]
pub enum Assessment {
    InSync {
        master_units: i64,
    },
    /// An ERP write is owed or in flight: judged next run.
    Pending {
        master_units: i64,
    },
    Differs {
        master_units: i64,
        variance: Box<Variance>,
    },
}

/// Judges one item at one location; see the module documentation for the rule.
pub fn assess(
    location: &LocationMapping,
    shopify: Option<&ShopifyLevel>,
    known: Option<&Known>,
) -> Assessment {
    let loc = location.location;
    let blank = |item, kind, units| {
        Box::new(Variance {
            item,
            location: loc,
            sku: known.map(|k| k.sku.clone()),
            kind,
            shopify_available: shopify.map(|s| s.available),
            shopify_on_hand: shopify.map(|s| s.on_hand),
            stockbridge_available: known.and_then(|k| k.ours.as_ref()).map(|o| o.available),
            stockbridge_on_hand: known.and_then(|k| k.ours.as_ref()).map(|o| o.on_hand()),
            erp_on_hand: known.and_then(|k| k.erp),
            units,
            correction: None,
            repair: None,
        })
    };
    let (s, k) = match (shopify, known) {
        (None, None) => return Assessment::InSync { master_units: 0 },
        (Some(s), None) => {
            let units = s.on_hand.abs();
            if units == 0 {
                return Assessment::InSync { master_units: 0 };
            }
            return Assessment::Differs {
                master_units: units,
                variance: blank(s.item, VarianceKind::UnmappedItem, units),
            };
        }
        (None, Some(k)) => {
            let ours = k.ours.as_ref().map(|o| o.on_hand().abs()).unwrap_or(0);
            let erp = k.erp.map(|e| k.uom.to_shopify(e.abs())).unwrap_or(0);
            let units = ours.max(erp);
            if units == 0 {
                return Assessment::InSync { master_units: 0 };
            }
            return Assessment::Differs {
                master_units: units,
                variance: blank(k.item, VarianceKind::NotAtLocation, units),
            };
        }
        (Some(s), Some(k)) => (s, k),
    };
    let ours = k.ours.as_ref();
    // An ERP write owed or in flight, or (Shopify-master) an on_hand not yet explained.
    let pending = ours.is_some_and(|o| o.erp_owed != 0 || o.erp_inflight.is_some());
    let unsettled = ours.is_some_and(|o| !o.is_settled());
    let behind = behind(
        s,
        ours.map(StockLevel::shopify_quantities).unwrap_or_default(),
    );
    match location.master {
        Master::Shopify => {
            let master_units = s.on_hand;
            if let Some(v) = behind {
                return Assessment::Differs {
                    master_units,
                    variance: Box::new(v.into_variance(*blank(s.item, v.kind(), 0), loc)),
                };
            }
            let on_hand = ours.map(StockLevel::on_hand).unwrap_or(0);
            if pending || unsettled {
                return Assessment::Pending { master_units };
            }
            let Some(erp) = k.erp else {
                return Assessment::Differs {
                    master_units,
                    variance: blank(s.item, VarianceKind::NotInErp, on_hand.abs()),
                };
            };
            let want = k.uom.to_erp(on_hand);
            if erp == want {
                return Assessment::InSync { master_units };
            }
            let units = (k.uom.to_shopify(erp) - on_hand).abs().max(1);
            let mut v = blank(s.item, VarianceKind::ErpDrift, units);
            v.correction = Some(Correction::AdjustErp {
                item: s.item,
                location: loc,
                warehouse: location.erp_warehouse.clone(),
                erp_item: k.erp_item.clone(),
                before: erp,
                after: want,
            });
            Assessment::Differs {
                master_units,
                variance: v,
            }
        }
        Master::Erp => {
            let Some(erp) = k.erp else {
                return Assessment::Differs {
                    master_units: s.on_hand,
                    variance: blank(s.item, VarianceKind::NotInErp, s.on_hand.abs()),
                };
            };
            let master_units = k.uom.to_shopify(erp);
            if pending {
                return Assessment::Pending { master_units };
            }
            // What is on hand and neither committed nor in an unavailable state is sellable.
            let target = master_units - s.committed - s.unavailable();
            if s.available != target {
                let mut v = blank(
                    s.item,
                    VarianceKind::ShopifyDrift,
                    (s.available - target).abs(),
                );
                v.correction = Some(Correction::SetShopify {
                    item: s.item,
                    location: loc,
                    before: s.available,
                    after: target,
                });
                return Assessment::Differs {
                    master_units,
                    variance: v,
                };
            }
            if let Some(v) = behind {
                return Assessment::Differs {
                    master_units,
                    variance: Box::new(v.into_variance(*blank(s.item, v.kind(), 0), loc)),
                };
            }
            Assessment::InSync { master_units }
        }
    }
}

/// Where Stockbridge's figures differ from Shopify's at one level (a lost webhook).
#[derive(Clone, Copy, Debug)]
struct Behind {
    ours: ShopifyQuantities,
    shopify: ShopifyQuantities,
    item: InventoryItemId,
}

/// `Some` when `available`, `committed` or any state differs (`on_hand` follows from them).
fn behind(s: &ShopifyLevel, ours: ShopifyQuantities) -> Option<Behind> {
    let mut shopify = s.quantities();
    // Stockbridge's on_hand is derived; compare like with like.
    shopify.on_hand = s.available + s.committed + s.unavailable();
    let mut mine = ours;
    mine.on_hand = shopify.on_hand;
    (mine != shopify).then_some(Behind {
        ours,
        shopify: s.quantities(),
        item: s.item,
    })
}

impl Behind {
    fn kind(&self) -> VarianceKind {
        if self.ours.committed != self.shopify.committed {
            VarianceKind::CommittedDiffers
        } else {
            VarianceKind::StockbridgeBehind
        }
    }

    /// The snapshot, and the commitments repair when `committed` differs.
    fn into_variance(self, mut v: Variance, location: LocationId) -> Variance {
        let snapshot = Correction::RecordQuantities {
            item: self.item,
            location,
            before: self.ours,
            after: self.shopify,
        };
        v.units = snapshot.units().unwrap_or(0);
        v.correction = Some(snapshot);
        if self.ours.committed != self.shopify.committed {
            let repair = Correction::RepairCommitments {
                item: self.item,
                location,
                before: self.ours.committed,
                after: self.shopify.committed,
            };
            v.units += repair.units().unwrap_or(0);
            v.repair = Some(repair);
        }
        v
    }
}

/// The figures of one location in one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LocationTally {
    pub location: LocationId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<Master>,
    /// Items looked at (in either stream).
    pub items: u64,
    pub in_sync: u64,
    pub pending: u64,
    pub variances: u64,
    pub unmapped_items: u64,
    /// The master's units at this location (the base of the percentage).
    pub master_units: i64,
    /// Units off, summed over the items that differ.
    pub units_off: i64,
    /// The largest single difference.
    pub largest: i64,
}

impl LocationTally {
    /// Units off as a share of the master's units, percent (100 when there are none but some
    /// are off).
    pub fn variance_pct(&self) -> f64 {
        if self.units_off == 0 {
            0.0
        } else if self.master_units <= 0 {
            100.0
        } else {
            100.0 * self.units_off as f64 / self.master_units as f64
        }
    }

    pub fn over_threshold(&self, policy: &Policy) -> bool {
        self.variance_pct() > policy.threshold_pct || self.largest > policy.max_units_per_item
    }

    fn count(&mut self, assessment: &Assessment) {
        self.items += 1;
        match assessment {
            Assessment::InSync { master_units } => {
                self.in_sync += 1;
                self.master_units += master_units.max(&0);
            }
            Assessment::Pending { master_units } => {
                self.pending += 1;
                self.master_units += master_units.max(&0);
            }
            Assessment::Differs {
                master_units,
                variance,
            } => {
                self.variances += 1;
                if variance.kind == VarianceKind::UnmappedItem {
                    self.unmapped_items += 1;
                }
                self.master_units += master_units.max(&0);
                self.units_off += variance.units;
                self.largest = self.largest.max(variance.units);
            }
        }
    }
}

/// A stream arrived out of item order: the merge would report false differences, so the run stops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stream} is not sorted by inventory item id ({previous} then {next}); the comparison needs both streams in item order")]
pub struct OutOfOrder {
    pub stream: &'static str,
    pub previous: u64,
    pub next: u64,
}

/// The merge of one location's two streams. Feed pages with [`push_shopify`](Self::push_shopify)
/// and [`push_known`](Self::push_known), mark each stream finished, and call
/// [`step`](Self::step): it judges every item both streams have passed and returns the
/// differences; the tally accumulates.
#[derive(Debug)]
pub struct LocationPass {
    location: LocationMapping,
    shopify: VecDeque<ShopifyLevel>,
    known: VecDeque<Known>,
    shopify_done: bool,
    known_done: bool,
    last_shopify: Option<u64>,
    last_known: Option<u64>,
    pub tally: LocationTally,
}

impl LocationPass {
    pub fn new(location: LocationMapping) -> Self {
        let tally = LocationTally {
            location: location.location,
            warehouse: Some(location.erp_warehouse.clone()),
            master: Some(location.master),
            ..Default::default()
        };
        LocationPass {
            location,
            shopify: VecDeque::new(),
            known: VecDeque::new(),
            shopify_done: false,
            known_done: false,
            last_shopify: None,
            last_known: None,
            tally,
        }
    }

    /// True when the Shopify stream must be read further before more can be judged.
    pub fn wants_shopify(&self) -> bool {
        !self.shopify_done && self.shopify.is_empty()
    }

    pub fn wants_known(&self) -> bool {
        !self.known_done && self.known.is_empty()
    }

    pub fn finished(&self) -> bool {
        self.shopify_done && self.known_done && self.shopify.is_empty() && self.known.is_empty()
    }

    pub fn push_shopify(
        &mut self,
        page: impl IntoIterator<Item = ShopifyLevel>,
        last: bool,
    ) -> Result<(), OutOfOrder> {
        for s in page {
            check_order("Shopify's levels", &mut self.last_shopify, s.item.0)?;
            self.shopify.push_back(s);
        }
        self.shopify_done |= last;
        Ok(())
    }

    pub fn push_known(
        &mut self,
        page: impl IntoIterator<Item = Known>,
        last: bool,
    ) -> Result<(), OutOfOrder> {
        for k in page {
            check_order("the SKU map", &mut self.last_known, k.item.0)?;
            self.known.push_back(k);
        }
        self.known_done |= last;
        Ok(())
    }

    /// Judges every item both streams have passed; returns the differences found.
    pub fn step(&mut self) -> Vec<Variance> {
        let mut found = Vec::new();
        loop {
            let next_s = self.shopify.front().map(|s| s.item.0);
            let next_k = self.known.front().map(|k| k.item.0);
            let (take_s, take_k) = match (next_s, next_k) {
                (Some(a), Some(b)) => (a <= b, b <= a),
                (Some(_), None) if self.known_done => (true, false),
                (None, Some(_)) if self.shopify_done => (false, true),
                _ => break,
            };
            let s = if take_s {
                self.shopify.pop_front()
            } else {
                None
            };
            let k = if take_k { self.known.pop_front() } else { None };
            let assessment = assess(&self.location, s.as_ref(), k.as_ref());
            self.tally.count(&assessment);
            if let Assessment::Differs { variance, .. } = assessment {
                found.push(*variance);
            }
        }
        found
    }
}

fn check_order(stream: &'static str, last: &mut Option<u64>, next: u64) -> Result<(), OutOfOrder> {
    if let Some(previous) = *last {
        if next <= previous {
            return Err(OutOfOrder {
                stream,
                previous,
                next,
            });
        }
    }
    *last = Some(next);
    Ok(())
}

/// Decides, correction by correction, what a run may apply on its own under the cap.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CapBudget {
    pub units_used: i64,
    pub corrections_used: usize,
    /// Corrections held back for an operator.
    pub held: usize,
}

impl CapBudget {
    /// Takes the correction's units from the budget if they fit; false means hold it back.
    pub fn admit(&mut self, policy: &Policy, units: i64) -> bool {
        if self.corrections_used < policy.cap_corrections
            && self.units_used + units <= policy.cap_units
        {
            self.units_used += units;
            self.corrections_used += 1;
            true
        } else {
            self.held += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ShopDomain;
    use crate::stock::Inflight;

    fn location(master: Master) -> LocationMapping {
        LocationMapping {
            shop: ShopDomain::new("t.myshopify.com"),
            location: LocationId(7),
            name: "L".into(),
            erp_warehouse: "WH".into(),
            master,
            default: true,
        }
    }

    fn shopify(item: u64, available: i64, committed: i64) -> ShopifyLevel {
        ShopifyLevel {
            item: InventoryItemId(item),
            location: LocationId(1),
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

    fn known(item: u64, ours: Option<(i64, i64)>, erp: Option<i64>, uom: &str) -> Known {
        Known {
            item: InventoryItemId(item),
            sku: format!("SKU-{item}"),
            erp_item: format!("E-{item}"),
            uom: UomFactor::new("each", uom).unwrap(),
            ours: ours.map(|(available, committed)| StockLevel {
                available,
                committed,
                settled: available + committed,
                ..Default::default()
            }),
            erp: erp.map(Decimal::from),
        }
    }

    fn differs(a: Assessment) -> Variance {
        match a {
            Assessment::Differs { variance, .. } => *variance,
            other => panic!("expected a difference, got {other:?}"),
        }
    }

    #[test]
    fn all_three_agreeing_is_in_sync() {
        let l = location(Master::Shopify);
        let a = assess(
            &l,
            Some(&shopify(1, 8, 2)),
            Some(&known(1, Some((8, 2)), Some(10), "each")),
        );
        assert_eq!(a, Assessment::InSync { master_units: 10 });
    }

    fn q(available: i64, committed: i64, damaged: i64) -> ShopifyQuantities {
        ShopifyQuantities {
            available,
            committed,
            on_hand: available + committed + damaged,
            damaged,
            ..Default::default()
        }
    }

    #[test]
    fn a_lost_webhook_records_shopifys_quantities() {
        for master in [Master::Shopify, Master::Erp] {
            let l = location(master);
            let v = differs(assess(
                &l,
                Some(&shopify(1, 5, 0)),
                Some(&known(1, Some((8, 0)), Some(5), "each")),
            ));
            assert_eq!(v.kind, VarianceKind::StockbridgeBehind, "{master:?}");
            assert_eq!(v.units, 3);
            assert_eq!(
                v.correction,
                Some(Correction::RecordQuantities {
                    item: InventoryItemId(1),
                    location: LocationId(7),
                    before: q(8, 0, 0),
                    after: q(5, 0, 0),
                })
            );
            assert_eq!(v.repair, None, "committed agrees: nothing to re-read");
        }
    }

    #[test]
    fn units_moved_to_damaged_without_a_webhook_are_recorded_at_either_master() {
        for master in [Master::Shopify, Master::Erp] {
            let l = location(master);
            // Shopify moved 2 of 10 to damaged; Stockbridge heard nothing. ERP has 10.
            let mut s = shopify(1, 8, 0);
            s.damaged = 2;
            s.on_hand = 10;
            let v = differs(assess(
                &l,
                Some(&s),
                Some(&known(1, Some((10, 0)), Some(10), "each")),
            ));
            assert_eq!(v.kind, VarianceKind::StockbridgeBehind, "{master:?}");
            assert_eq!(v.units, 4, "2 off available, 2 off damaged");
            assert_eq!(
                v.correction,
                Some(Correction::RecordQuantities {
                    item: InventoryItemId(1),
                    location: LocationId(7),
                    before: q(10, 0, 0),
                    after: q(8, 0, 2),
                })
            );
        }
    }

    #[test]
    fn a_state_stockbridge_has_but_shopify_not_is_a_difference() {
        let l = location(Master::Shopify);
        let mut k = known(1, Some((5, 0)), Some(5), "each");
        k.ours.as_mut().unwrap().states.incoming = 4;
        let v = differs(assess(&l, Some(&shopify(1, 5, 0)), Some(&k)));
        assert_eq!((v.kind, v.units), (VarianceKind::StockbridgeBehind, 4));
    }

    #[test]
    fn an_erp_change_at_a_shopify_master_location_is_adjusted_back_in_erp_units() {
        let l = location(Master::Shopify);
        // 24 each = 2 dozen; the ERP was set to 3 dozen by hand.
        let v = differs(assess(
            &l,
            Some(&shopify(1, 24, 0)),
            Some(&known(1, Some((24, 0)), Some(3), "dozen")),
        ));
        assert_eq!(v.kind, VarianceKind::ErpDrift);
        assert_eq!(v.units, 12);
        assert_eq!(
            v.correction,
            Some(Correction::AdjustErp {
                item: InventoryItemId(1),
                location: LocationId(7),
                warehouse: "WH".into(),
                erp_item: "E-1".into(),
                before: Decimal::from(3),
                after: Decimal::from(2),
            })
        );
    }

    #[test]
    fn a_shopify_change_at_an_erp_master_location_is_set_back_net_of_commitments() {
        let l = location(Master::Erp);
        // ERP holds 20; Shopify has 3 committed, so available must be 17; someone typed 30.
        let v = differs(assess(
            &l,
            Some(&shopify(1, 30, 3)),
            Some(&known(1, Some((30, 3)), Some(20), "each")),
        ));
        assert_eq!(v.kind, VarianceKind::ShopifyDrift);
        assert_eq!(
            v.correction,
            Some(Correction::SetShopify {
                item: InventoryItemId(1),
                location: LocationId(7),
                before: 30,
                after: 17
            })
        );
        assert_eq!(v.units, 13);
    }

    #[test]
    fn an_erp_write_owed_or_in_flight_is_pending_not_drift() {
        let l = location(Master::Shopify);
        let mut k = known(1, Some((5, 0)), Some(8), "each");
        k.ours.as_mut().unwrap().erp_owed = -3;
        assert_eq!(
            assess(&l, Some(&shopify(1, 5, 0)), Some(&k)),
            Assessment::Pending { master_units: 5 }
        );
        k.ours.as_mut().unwrap().erp_owed = 0;
        k.ours.as_mut().unwrap().erp_inflight = Some(Inflight {
            key: "k".into(),
            warehouse: "WH".into(),
            erp_item: "E-1".into(),
            quantity: -3,
            change: Decimal::from(-3),
            target: None,
            since: None,
            lease_until: None,
            holder: None,
            refusals: 0,
            refused: None,
            parked_at: None,
        });
        assert!(matches!(
            assess(&l, Some(&shopify(1, 5, 0)), Some(&k)),
            Assessment::Pending { .. }
        ));
    }

    #[test]
    fn unmapped_items_and_unknown_erp_items_are_reported_without_correction() {
        let l = location(Master::Shopify);
        let v = differs(assess(&l, Some(&shopify(9, 4, 1)), None));
        assert_eq!(
            (v.kind, v.units, v.correction),
            (VarianceKind::UnmappedItem, 5, None)
        );
        let v = differs(assess(
            &l,
            Some(&shopify(1, 4, 0)),
            Some(&known(1, Some((4, 0)), None, "each")),
        ));
        assert_eq!((v.kind, v.correction), (VarianceKind::NotInErp, None));
        let v = differs(assess(
            &l,
            None,
            Some(&known(1, Some((0, 0)), Some(6), "each")),
        ));
        assert_eq!((v.kind, v.units), (VarianceKind::NotAtLocation, 6));
        assert_eq!(
            assess(&l, Some(&shopify(9, 0, 0)), None),
            Assessment::InSync { master_units: 0 }
        );
    }

    #[test]
    fn a_lost_order_webhook_is_repaired_by_a_snapshot_and_a_commitments_reread() {
        for master in [Master::Shopify, Master::Erp] {
            let l = location(master);
            // ERP 7 = Shopify's on hand: only Stockbridge's committed is off.
            let v = differs(assess(
                &l,
                Some(&shopify(1, 5, 2)),
                Some(&known(1, Some((5, 0)), Some(7), "each")),
            ));
            assert_eq!((v.kind, v.units), (VarianceKind::CommittedDiffers, 2));
            assert_eq!(
                v.correction,
                Some(Correction::RecordQuantities {
                    item: InventoryItemId(1),
                    location: LocationId(7),
                    before: q(5, 0, 0),
                    after: q(5, 2, 0),
                })
            );
            assert_eq!(v.correction.as_ref().and_then(Correction::units), Some(0));
            let repair = Correction::RepairCommitments {
                item: InventoryItemId(1),
                location: LocationId(7),
                before: 0,
                after: 2,
            };
            assert_eq!(repair.units(), Some(2));
            assert_eq!(v.repair, Some(repair), "{master:?}");
        }
    }

    #[test]
    fn at_an_erp_master_location_available_is_net_of_unavailable_states() {
        let l = location(Master::Erp);
        // ERP 20; Shopify 3 committed, 4 damaged: available must be 13.
        let mut s = shopify(1, 16, 3);
        s.damaged = 4;
        s.on_hand = 23;
        let v = differs(assess(
            &l,
            Some(&s),
            Some(&known(1, Some((16, 3)), Some(20), "each")),
        ));
        assert_eq!(v.kind, VarianceKind::ShopifyDrift);
        assert_eq!(
            v.correction,
            Some(Correction::SetShopify {
                item: InventoryItemId(1),
                location: LocationId(7),
                before: 16,
                after: 13
            })
        );
        s.available = 13;
        s.on_hand = 20;
        let mut k = known(1, Some((13, 3)), Some(20), "each");
        k.ours.as_mut().unwrap().states.damaged = 4;
        assert_eq!(
            assess(&l, Some(&s), Some(&k)),
            Assessment::InSync { master_units: 20 }
        );
    }

    #[test]
    fn an_unsettled_record_at_a_shopify_master_location_is_pending_not_erp_drift() {
        let l = location(Master::Shopify);
        let mut k = known(1, Some((5, 0)), Some(8), "each");
        k.ours.as_mut().unwrap().settled = 8;
        assert_eq!(
            assess(&l, Some(&shopify(1, 5, 0)), Some(&k)),
            Assessment::Pending { master_units: 5 }
        );
        k.ours.as_mut().unwrap().settled = 5;
        let v = differs(assess(&l, Some(&shopify(1, 5, 0)), Some(&k)));
        assert_eq!(
            v.kind,
            VarianceKind::ErpDrift,
            "settled: the ERP is set back"
        );
    }

    #[test]
    fn reversing_a_correction_swaps_before_and_after() {
        let c = Correction::SetShopify {
            item: InventoryItemId(1),
            location: LocationId(7),
            before: 30,
            after: 17,
        };
        assert_eq!(
            c.reversed(),
            Correction::SetShopify {
                item: InventoryItemId(1),
                location: LocationId(7),
                before: 17,
                after: 30
            }
        );
        assert_eq!(c.reversed().reversed(), c);
    }

    #[test]
    fn the_merge_pairs_items_across_pages_and_tallies_the_location() {
        let mut pass = LocationPass::new(location(Master::Shopify));
        pass.push_shopify([shopify(1, 10, 0), shopify(3, 5, 0)], false)
            .unwrap();
        pass.push_known([known(1, Some((10, 0)), Some(10), "each")], false)
            .unwrap();
        assert!(pass.step().is_empty(), "item 1 agrees");
        assert!(pass.wants_known() && !pass.wants_shopify());
        pass.push_known(
            [
                known(2, Some((0, 0)), Some(4), "each"),
                known(3, Some((7, 0)), Some(5), "each"),
            ],
            true,
        )
        .unwrap();
        // Shopify's stream is at item 3, so item 2 can no longer appear there: judged now, as
        // is item 3, which both streams have passed.
        let kinds =
            |found: Vec<Variance>| -> Vec<_> { found.iter().map(|v| (v.item.0, v.kind)).collect() };
        assert_eq!(
            kinds(pass.step()),
            vec![
                (2, VarianceKind::NotAtLocation),
                (3, VarianceKind::StockbridgeBehind)
            ]
        );
        assert!(pass.wants_shopify() && !pass.finished());
        pass.push_shopify([shopify(4, 2, 0)], true).unwrap();
        assert_eq!(kinds(pass.step()), vec![(4, VarianceKind::UnmappedItem)]);
        assert!(pass.finished());
        let t = &pass.tally;
        assert_eq!(
            (t.items, t.in_sync, t.variances, t.unmapped_items),
            (4, 1, 3, 1)
        );
        assert_eq!(t.units_off, 4 + 2 + 2);
        assert_eq!(t.master_units, 10 + 4 + 5 + 2);
        assert!(t.over_threshold(&Policy::default()));
    }

    #[test]
    fn a_stream_out_of_item_order_stops_the_run() {
        let mut pass = LocationPass::new(location(Master::Shopify));
        let err = pass
            .push_shopify([shopify(5, 1, 0), shopify(2, 1, 0)], false)
            .unwrap_err();
        assert_eq!((err.previous, err.next), (5, 2));
    }

    #[test]
    fn variance_percentage_and_thresholds() {
        let policy = Policy::default();
        let mut t = LocationTally {
            master_units: 1000,
            units_off: 20,
            largest: 5,
            ..Default::default()
        };
        assert_eq!(t.variance_pct(), 2.0);
        assert!(!t.over_threshold(&policy), "2 % is not over 2 %");
        t.units_off = 21;
        assert!(t.over_threshold(&policy));
        t.units_off = 11;
        t.largest = 11;
        assert!(t.over_threshold(&policy), "one item off by more than 10");
        t.master_units = 0;
        assert_eq!(t.variance_pct(), 100.0);
    }

    proptest::proptest! {
        /// However the two streams are cut into pages, every item is judged exactly once and
        /// the same way as on its own.
        #[test]
        fn page_boundaries_do_not_change_the_verdict(
            rows in proptest::collection::btree_map(
                1u64..400,
                (proptest::option::of((0i64..20, 0i64..3)), proptest::option::of((0i64..20, 0i64..3, 0i64..25))),
                0..60,
            ),
            shopify_page in 1usize..40,
            known_page in 1usize..40,
            erp_master in proptest::bool::ANY,
        ) {
            let l = location(if erp_master { Master::Erp } else { Master::Shopify });
            let mut s_rows = Vec::new();
            let mut k_rows = Vec::new();
            for (item, (s, k)) in &rows {
                if let Some((a, c)) = s {
                    s_rows.push(shopify(*item, *a, *c));
                }
                if let Some((a, c, e)) = k {
                    k_rows.push(known(*item, Some((*a, *c)), Some(*e), "each"));
                }
            }
            let expected: Vec<Variance> = rows
                .keys()
                .filter_map(|item| {
                    let s = s_rows.iter().find(|x| x.item.0 == *item);
                    let k = k_rows.iter().find(|x| x.item.0 == *item);
                    match assess(&l, s, k) {
                        Assessment::Differs { variance, .. } => Some(*variance),
                        _ => None,
                    }
                })
                .collect();
            let mut pass = LocationPass::new(l.clone());
            let (mut s_chunks, mut k_chunks) = (s_rows.chunks(shopify_page), k_rows.chunks(known_page));
            let (mut s_left, mut k_left) = (s_chunks.len(), k_chunks.len());
            if s_left == 0 { pass.push_shopify(Vec::new(), true).unwrap(); }
            if k_left == 0 { pass.push_known(Vec::new(), true).unwrap(); }
            let mut found = Vec::new();
            while !pass.finished() {
                if pass.wants_shopify() {
                    let page = s_chunks.next().unwrap().to_vec();
                    s_left -= 1;
                    pass.push_shopify(page, s_left == 0).unwrap();
                }
                if pass.wants_known() {
                    let page = k_chunks.next().unwrap().to_vec();
                    k_left -= 1;
                    pass.push_known(page, k_left == 0).unwrap();
                }
                found.extend(pass.step());
            }
            proptest::prop_assert_eq!(&found, &expected);
            let both = rows.values().filter(|(s, k)| s.is_some() || k.is_some()).count() as u64;
            proptest::prop_assert_eq!(pass.tally.items, both);
        }
    }

    #[test]
    fn the_cap_admits_corrections_until_units_or_count_run_out() {
        let policy = Policy {
            cap_units: 10,
            cap_corrections: 3,
            ..Default::default()
        };
        let mut b = CapBudget::default();
        assert!(b.admit(&policy, 6));
        assert!(!b.admit(&policy, 5), "6 + 5 > 10");
        assert!(b.admit(&policy, 4));
        assert!(b.admit(&policy, 0));
        assert!(!b.admit(&policy, 0), "a fourth correction");
        assert_eq!((b.units_used, b.corrections_used, b.held), (10, 3, 2));
    }
}
