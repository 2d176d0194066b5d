//! The corrections reconciliation makes toward a location's master: what each changes, its
//! before and after, the side it changes, its reverse (an operator's revert), and the units it
//! counts against a run's cap.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::event::ShopifyQuantities;
use crate::ids::{InventoryItemId, LocationId};

/// A correction toward the master, with the follower's quantity before and after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Correction {
    /// Record Shopify's `available` in Stockbridge as a new level snapshot.
    RecordLevel {
        item: InventoryItemId,
        location: LocationId,
        before: i64,
        after: i64,
    },
    /// Adjust the ERP's on-hand (ERP units).
    AdjustErp {
        item: InventoryItemId,
        location: LocationId,
        warehouse: String,
        erp_item: String,
        before: Decimal,
        after: Decimal,
    },
    /// Set Shopify's `available`, compare-and-set from `before`.
    SetShopify {
        item: InventoryItemId,
        location: LocationId,
        before: i64,
        after: i64,
    },
    /// Record every quantity name Shopify read (`available` and the states; `committed` and
    /// `on_hand` follow from the order lines) in Stockbridge as a `Quantities` snapshot.
    RecordQuantities {
        item: InventoryItemId,
        location: LocationId,
        before: ShopifyQuantities,
        after: ShopifyQuantities,
    },
    /// Stockbridge's `committed` is not Shopify's (a lost `fulfillment_orders/*` or order
    /// webhook): the open fulfillment orders at the location are read again by the consumer.
    RepairCommitments {
        item: InventoryItemId,
        location: LocationId,
        before: i64,
        after: i64,
    },
}

impl Correction {
    pub fn item(&self) -> InventoryItemId {
        match self {
            Correction::RecordLevel { item, .. }
            | Correction::AdjustErp { item, .. }
            | Correction::SetShopify { item, .. }
            | Correction::RecordQuantities { item, .. }
            | Correction::RepairCommitments { item, .. } => *item,
        }
    }

    pub fn location(&self) -> LocationId {
        match self {
            Correction::RecordLevel { location, .. }
            | Correction::AdjustErp { location, .. }
            | Correction::SetShopify { location, .. }
            | Correction::RecordQuantities { location, .. }
            | Correction::RepairCommitments { location, .. } => *location,
        }
    }

    /// Which side it changes.
    pub fn side(&self) -> &'static str {
        match self {
            Correction::RecordLevel { .. }
            | Correction::RecordQuantities { .. }
            | Correction::RepairCommitments { .. } => "stockbridge",
            Correction::AdjustErp { .. } => "erp",
            Correction::SetShopify { .. } => "shopify",
        }
    }

    /// The correction that undoes this one (an operator's revert).
    pub fn reversed(&self) -> Correction {
        let mut back = self.clone();
        match &mut back {
            Correction::RecordLevel { before, after, .. }
            | Correction::SetShopify { before, after, .. }
            | Correction::RepairCommitments { before, after, .. } => std::mem::swap(before, after),
            Correction::AdjustErp { before, after, .. } => std::mem::swap(before, after),
            Correction::RecordQuantities { before, after, .. } => std::mem::swap(before, after),
        }
        back
    }

    /// The Shopify units this correction changes, counted against the cap: `available` and
    /// the states for a snapshot, `committed` for a repair, the difference otherwise (`None`
    /// for an ERP adjustment, in ERP units: its variance's units count).
    pub fn units(&self) -> Option<i64> {
        match self {
            Correction::RecordLevel { before, after, .. }
            | Correction::SetShopify { before, after, .. }
            | Correction::RepairCommitments { before, after, .. } => Some((after - before).abs()),
            Correction::RecordQuantities { before, after, .. } => Some(
                (after.available - before.available).abs()
                    + (after.reserved - before.reserved).abs()
                    + (after.damaged - before.damaged).abs()
                    + (after.safety_stock - before.safety_stock).abs()
                    + (after.quality_control - before.quality_control).abs()
                    + (after.incoming - before.incoming).abs(),
            ),
            Correction::AdjustErp { .. } => None,
        }
    }
}
