//! Paged `shop/redact` on [`MemoryStore`], as the DynamoDB adapter scans: every stored record,
//! of any shop, has a place in one fixed order (table, then key); a step reads the next `page`
//! records after the cursor (the name of the last one read), deletes those of the shop, and
//! returns the name of the last one read, or `None` once the end was reached. A record's
//! transaction log counts as one place (its entries go together) and as its entries' number
//! of records; an item mapping counts twice (mapping and listing), as DynamoDB holds it.
//! Redaction progress records and the ERP feed's cursors (no shop's data) are kept apart and
//! never deleted.

use stockbridge_domain::event::RedactCursor;
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, VariantId};
use stockbridge_domain::stock::{LineKey, MovementKey, OrderKey, StockKey};

use crate::store::State;

/// One place in the redaction's order.
#[derive(Clone, Debug)]
enum Place {
    Level(StockKey),
    Log(StockKey),
    Line(LineKey),
    Item((ShopDomain, InventoryItemId)),
    Movement(MovementKey),
    Sale(OrderKey),
    Applied(String),
    ItemMap((ShopDomain, InventoryItemId)),
    Variant((ShopDomain, VariantId)),
    Sku((ShopDomain, String)),
    Location((ShopDomain, LocationId)),
    SalesSettings(ShopDomain),
    Parked((ShopDomain, String)),
    Quarantine((ShopDomain, String)),
    Report((ShopDomain, String)),
    ErpRecord((ShopDomain, String, String)),
    ErpAlias((ShopDomain, String, InventoryItemId)),
    Storefront(ShopDomain),
}

impl State {
    /// Every place, named so the names sort in the redaction's order.
    fn places(&self) -> Vec<(String, Place)> {
        let mut out: Vec<(String, Place)> = Vec::new();
        let mut add = |table: u8, name: String, place: Place| {
            out.push((format!("{table:02}/{name}"), place));
        };
        for k in self.levels.keys() {
            add(0, format!("{k:?}/STATE"), Place::Level(k.clone()));
        }
        for k in self.log.keys() {
            add(0, format!("{k:?}/LOG"), Place::Log(k.clone()));
        }
        for k in self.lines.keys() {
            add(1, format!("{k:?}"), Place::Line(k.clone()));
        }
        for k in self.items.keys() {
            add(2, format!("{k:?}"), Place::Item(k.clone()));
        }
        for k in self.movements.keys() {
            add(3, format!("{k:?}"), Place::Movement(k.clone()));
        }
        // After the movements (`03`) and before the idempotency records (`04`), still among
        // the stock table's records.
        for k in self.sales.keys() {
            add(3, format!("~sale/{k:?}"), Place::Sale(k.clone()));
        }
        // The two-way direction's ERP records, among the stock table's too.
        for k in self.erp_records.keys() {
            add(3, format!("~erp/{k:?}"), Place::ErpRecord(k.clone()));
        }
        for k in self.applied.keys() {
            add(4, k.clone(), Place::Applied(k.clone()));
        }
        for k in self.item_maps.keys() {
            add(5, format!("{k:?}"), Place::ItemMap(k.clone()));
        }
        for k in self.variant_alias.keys() {
            add(6, format!("{k:?}"), Place::Variant(k.clone()));
        }
        for k in self.sku_alias.keys() {
            add(7, format!("{k:?}"), Place::Sku(k.clone()));
        }
        for k in &self.erp_alias {
            add(7, format!("~erp/{k:?}"), Place::ErpAlias(k.clone()));
        }
        for k in self.locations.keys() {
            add(8, format!("{k:?}"), Place::Location(k.clone()));
        }
        // In the locations partition, as DynamoDB keeps it.
        for k in self.sales_settings.keys() {
            add(
                8,
                format!("~settings/{k:?}"),
                Place::SalesSettings(k.clone()),
            );
        }
        for k in self.storefront.keys() {
            add(
                8,
                format!("~storefront/{k:?}"),
                Place::Storefront(k.clone()),
            );
        }
        for k in self.parked.keys() {
            add(9, format!("{k:?}"), Place::Parked(k.clone()));
        }
        for k in self.quarantine.keys() {
            add(10, format!("{k:?}"), Place::Quarantine(k.clone()));
        }
        for k in self.reports.keys() {
            add(11, format!("{k:?}"), Place::Report(k.clone()));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Whether the place holds `shop`'s data (an event key belongs to a shop by its prefix).
    fn of_shop(place: &Place, shop: &ShopDomain) -> bool {
        match place {
            Place::Level(k) | Place::Log(k) => &k.shop == shop,
            Place::Line(k) => &k.shop == shop,
            Place::Movement(k) => &k.shop == shop,
            Place::Sale(k) => &k.shop == shop,
            Place::SalesSettings(k) | Place::Storefront(k) => k == shop,
            Place::ErpRecord(k) => &k.0 == shop,
            Place::ErpAlias(k) => &k.0 == shop,
            Place::Applied(key) => key.starts_with(&format!("{shop}:")),
            Place::Item(k) | Place::ItemMap(k) => &k.0 == shop,
            Place::Variant(k) => &k.0 == shop,
            Place::Location(k) => &k.0 == shop,
            Place::Sku(k) | Place::Parked(k) | Place::Quarantine(k) | Place::Report(k) => {
                &k.0 == shop
            }
        }
    }

    /// How many records a place holds.
    fn weight(&self, place: &Place) -> usize {
        match place {
            Place::Log(k) => self.log.get(k).map_or(0, Vec::len),
            Place::ItemMap(_) => 2,
            _ => 1,
        }
    }

    fn remove(&mut self, place: &Place) -> usize {
        let weight = self.weight(place);
        match place {
            Place::Level(k) => drop(self.levels.remove(k)),
            Place::Log(k) => drop(self.log.remove(k)),
            Place::Line(k) => drop(self.lines.remove(k)),
            Place::Item(k) => drop(self.items.remove(k)),
            Place::Movement(k) => drop(self.movements.remove(k)),
            Place::Sale(k) => drop(self.sales.remove(k)),
            Place::SalesSettings(k) => drop(self.sales_settings.remove(k)),
            Place::Applied(k) => drop(self.applied.remove(k)),
            Place::ItemMap(k) => drop(self.item_maps.remove(k)),
            Place::Variant(k) => drop(self.variant_alias.remove(k)),
            Place::Sku(k) => drop(self.sku_alias.remove(k)),
            Place::Location(k) => drop(self.locations.remove(k)),
            Place::Parked(k) => drop(self.parked.remove(k)),
            Place::Quarantine(k) => drop(self.quarantine.remove(k)),
            Place::Report(k) => drop(self.reports.remove(k)),
            Place::ErpRecord(k) => drop(self.erp_records.remove(k)),
            Place::ErpAlias(k) => drop(self.erp_alias.remove(k)),
            Place::Storefront(k) => drop(self.storefront.remove(k)),
        }
        weight
    }

    /// One redaction step: reads the `page` places after `from`, deletes the shop's; returns
    /// the records deleted and the name of the last place read (`None`: the end was reached).
    pub(crate) fn redact_page(
        &mut self,
        shop: &ShopDomain,
        from: Option<&RedactCursor>,
        page: usize,
    ) -> (usize, Option<RedactCursor>) {
        let places = self.places();
        let after: Vec<&(String, Place)> = places
            .iter()
            .filter(|(name, _)| from.is_none_or(|c| name.as_str() > c.0.as_str()))
            .collect();
        let read = &after[..after.len().min(page.max(1))];
        let mut deleted = 0;
        for (_, place) in read {
            if Self::of_shop(place, shop) {
                deleted += self.remove(place);
            }
        }
        let next = (after.len() > read.len())
            .then(|| read.last().map(|(name, _)| RedactCursor(name.clone())))
            .flatten();
        (deleted, next)
    }

    /// Records held for `shop`, counted as a redaction deletes them.
    pub(crate) fn count_shop(&self, shop: &ShopDomain) -> usize {
        self.places()
            .iter()
            .filter(|(_, p)| Self::of_shop(p, shop))
            .map(|(_, p)| self.weight(p))
            .sum()
    }
}
