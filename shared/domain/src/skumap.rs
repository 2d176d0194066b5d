//! The SKU map: the master reference table from Shopify inventory items and locations to ERP items
//! and warehouses, with a unit-of-measure factor (a case of 12 is not 1), the SKU naming policy,
//! and the masters. (Reading it from CSV is the operator crate's: `stockbridge-ops`.)

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::{InventoryItemId, LocationId, ShopDomain, VariantId};

/// Units a mapping may name, with how many single pieces each holds.
pub const UNITS: &[(&str, u32)] = &[
    ("each", 1),
    ("pair", 2),
    ("pack3", 3),
    ("pack4", 4),
    ("pack6", 6),
    ("pack10", 10),
    ("dozen", 12),
    ("case12", 12),
    ("case24", 24),
    ("case48", 48),
];

fn unit_pieces(name: &str) -> Option<u32> {
    UNITS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// How one Shopify unit converts to ERP units: `erp = shopify * num / den`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UomFactor {
    pub shopify_uom: String,
    pub erp_uom: String,
    pub num: u32,
    pub den: u32,
}

impl UomFactor {
    pub fn new(shopify_uom: &str, erp_uom: &str) -> Option<Self> {
        let (s, e) = (unit_pieces(shopify_uom)?, unit_pieces(erp_uom)?);
        let g = gcd(s, e);
        Some(UomFactor {
            shopify_uom: shopify_uom.to_string(),
            erp_uom: erp_uom.to_string(),
            num: s / g,
            den: e / g,
        })
    }

    pub fn identity() -> Self {
        UomFactor::new("each", "each").unwrap_or(UomFactor {
            shopify_uom: "each".into(),
            erp_uom: "each".into(),
            num: 1,
            den: 1,
        })
    }

    /// Shopify quantity in ERP units, exact (a fraction of a case stays a fraction).
    pub fn to_erp(&self, shopify_quantity: i64) -> Decimal {
        Decimal::from(shopify_quantity) * Decimal::from(self.num) / Decimal::from(self.den)
    }

    /// ERP quantity in Shopify units, rounded down: Shopify sells whole units only, and selling a
    /// unit that is not there is worse than hiding part of one.
    pub fn to_shopify(&self, erp_quantity: Decimal) -> i64 {
        let units = erp_quantity * Decimal::from(self.den) / Decimal::from(self.num);
        i64::try_from(units.floor()).unwrap_or(0)
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a.max(1)
    } else {
        gcd(b, a % b)
    }
}

/// One Shopify inventory item mapped to one ERP item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemMapping {
    pub shop: ShopDomain,
    pub item: InventoryItemId,
    pub variant: VariantId,
    pub sku: String,
    pub erp_item: String,
    pub uom: UomFactor,
}

/// Which side is right about a location's quantity when they disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Master {
    /// The ERP counts the stock (a warehouse): Shopify follows the ERP.
    Erp,
    /// Shopify counts the stock (a shop floor with POS): the ERP follows Shopify.
    Shopify,
}

/// One Shopify location mapped to one ERP warehouse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationMapping {
    pub shop: ShopDomain,
    pub location: LocationId,
    pub name: String,
    pub erp_warehouse: String,
    pub master: Master,
    /// Where an order that names no location is committed.
    pub default: bool,
}

/// The part of one shop's SKU map a batch asked for, and all of its locations.
#[derive(Clone, Debug, Default)]
pub struct SkuMap {
    pub items: HashMap<InventoryItemId, ItemMapping>,
    pub by_variant: HashMap<VariantId, InventoryItemId>,
    pub by_sku: HashMap<String, InventoryItemId>,
    pub locations: HashMap<LocationId, LocationMapping>,
    /// The shop's setting for the order flow (off unless set).
    pub sales: crate::sales::SalesSettings,
}

impl SkuMap {
    pub fn default_location(&self) -> Option<LocationId> {
        let mut defaults = self.locations.values().filter(|l| l.default);
        match (defaults.next(), self.locations.len()) {
            (Some(l), _) => Some(l.location),
            (None, 1) => self.locations.keys().next().copied(),
            _ => None,
        }
    }
}

/// The SKU naming policy: 1 to 64 characters from `A-Z a-z 0-9 - _ .`, no spaces.
pub fn check_sku(sku: &str) -> Result<(), String> {
    if sku.is_empty() || sku.len() > 64 {
        return Err(format!("SKU {sku:?} must be 1 to 64 characters"));
    }
    if let Some(c) = sku
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "SKU {sku:?} has {c:?}; allowed are letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_factors_convert_both_ways_exactly_or_down() {
        let case = UomFactor::new("each", "case12").unwrap();
        assert_eq!(case.to_erp(6), Decimal::new(5, 1));
        assert_eq!(case.to_shopify(Decimal::new(25, 1)), 30);
        let pack = UomFactor::new("pack6", "each").unwrap();
        assert_eq!(pack.to_shopify(Decimal::from(17)), 2);
        assert_eq!(pack.to_erp(-1), Decimal::from(-6));
    }
}
