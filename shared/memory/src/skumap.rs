//! `SkuMapStore` for [`MemoryStore`], as the DynamoDB adapter answers it: a look-up returns the
//! mappings of the items named directly or through a variant or SKU alias (SKUs compared
//! upper-cased), the aliases found even when their item has no mapping, and every location of
//! the shop, and the shop's order-flow setting (none set: [`SalesSettings::default`], off);
//! listing is in inventory item order; writes overwrite, and an alias once written (by variant,
//! SKU, and ERP item for `crate::two_way`) stays until the shop is redacted.

use std::collections::BTreeSet;

use stockbridge_core::ports::{PortError, SkuMapStore};
use stockbridge_domain::ids::{InventoryItemId, ShopDomain, VariantId};
use stockbridge_domain::sales::SalesSettings;
use stockbridge_domain::skumap::{ItemMapping, LocationMapping, SkuMap};

use crate::store::{MemoryStore, State, StoreOp};

impl State {
    /// What every look-up returns beside the mappings: all the shop's locations and its
    /// order-flow setting (none set: off).
    pub(crate) fn fill_shop(&self, shop: &ShopDomain, map: &mut SkuMap) {
        for ((sh, location), l) in &self.locations {
            if sh == shop {
                map.locations.insert(*location, l.clone());
            }
        }
        map.sales = self.sales_settings.get(shop).copied().unwrap_or_default();
    }
}

impl SkuMapStore for MemoryStore {
    async fn lookup(
        &self,
        shop: &ShopDomain,
        items: &[InventoryItemId],
        variants: &[VariantId],
        skus: &[String],
    ) -> Result<SkuMap, PortError> {
        let lost = self.enter(StoreOp::Lookup).await?;
        let s = self.lock();
        let mut map = SkuMap::default();
        let mut wanted: BTreeSet<InventoryItemId> = items.iter().copied().collect();
        for v in variants {
            if let Some(id) = s.variant_alias.get(&(shop.clone(), *v)) {
                map.by_variant.insert(*v, *id);
                wanted.insert(*id);
            }
        }
        for sku in skus {
            let sku = sku.to_ascii_uppercase();
            if let Some(id) = s.sku_alias.get(&(shop.clone(), sku.clone())) {
                map.by_sku.insert(sku, *id);
                wanted.insert(*id);
            }
        }
        for id in wanted {
            if let Some(m) = s.item_maps.get(&(shop.clone(), id)) {
                map.items.insert(id, m.clone());
            }
        }
        s.fill_shop(shop, &mut map);
        Self::finish(StoreOp::Lookup, lost, Ok(map))
    }

    async fn items_after(
        &self,
        shop: &ShopDomain,
        after: Option<InventoryItemId>,
        limit: usize,
    ) -> Result<Vec<ItemMapping>, PortError> {
        let lost = self.enter(StoreOp::ItemsAfter).await?;
        let s = self.lock();
        let page = s
            .item_maps
            .iter()
            .filter(|((sh, id), _)| sh == shop && after.is_none_or(|a| *id > a))
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect();
        Self::finish(StoreOp::ItemsAfter, lost, Ok(page))
    }

    async fn put_items(&self, rows: &[ItemMapping]) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::PutItems).await?;
        let mut s = self.lock();
        for m in rows {
            s.item_maps.insert((m.shop.clone(), m.item), m.clone());
            s.variant_alias.insert((m.shop.clone(), m.variant), m.item);
            s.sku_alias
                .insert((m.shop.clone(), m.sku.to_ascii_uppercase()), m.item);
            s.erp_alias
                .insert((m.shop.clone(), m.erp_item.clone(), m.item));
        }
        Self::finish(StoreOp::PutItems, lost, Ok(()))
    }

    async fn put_locations(&self, rows: &[LocationMapping]) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::PutLocations).await?;
        let mut s = self.lock();
        for l in rows {
            s.locations.insert((l.shop.clone(), l.location), l.clone());
        }
        Self::finish(StoreOp::PutLocations, lost, Ok(()))
    }

    async fn put_sales_settings(
        &self,
        shop: &ShopDomain,
        settings: SalesSettings,
    ) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::PutSalesSettings).await?;
        self.lock().sales_settings.insert(shop.clone(), settings);
        Self::finish(StoreOp::PutSalesSettings, lost, Ok(()))
    }
}
