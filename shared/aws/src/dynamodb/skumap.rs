//! [`SkuMapStore`] over the SKU map table: looking mappings up by inventory item, variant or SKU
//! (through the alias records), paging through a shop's item listing, and writing item and
//! location mappings and the shop's order-flow setting. Also the operator's read of a shop's
//! whole map.
//!
//! The setting lives in the shop's locations partition (`SETTINGS#sales`), so the look-up's one
//! `Query` of that partition reads it with the locations: no extra round trip. Like the
//! locations it is read without `ConsistentRead`, so a change applies within a second or so.
//! Other settings in that partition (`SETTINGS#storefront`) are skipped, never read as a
//! location. The look-up by ERP item (`super::two_way`) shares the mappings' and the
//! partition's reads ([`DynamoStore::mappings`], [`DynamoStore::fill_shop`]).

use std::collections::HashSet;

use stockbridge_core::ports::{PortError, SkuMapStore};
use stockbridge_domain::ids::{InventoryItemId, ShopDomain, Timestamp, VariantId};
use stockbridge_domain::sales::SalesSettings;
use stockbridge_domain::skumap::{ItemMapping, LocationMapping, SkuMap};

use super::codec::{self, kind, s, Item};
use super::keys::{self, Alias, MAP};
use super::{put_request, sdk_unavailable, DynamoStore};

/// Most items one page of the listing asks for (a page also stops at 1 MB).
const LISTING_PAGE: usize = 1000;

impl DynamoStore {
    /// The whole SKU map of a shop (operator tooling and reconciliation; a scan).
    pub async fn full_map(&self, shop: &ShopDomain) -> Result<SkuMap, PortError> {
        let items = self
            .scan(
                &self.tables.skumap,
                "shop = :s AND kind = :k",
                &[(":s", s(shop.as_str())), (":k", s(kind::ITEM_MAP))],
            )
            .await?;
        let ids: Vec<InventoryItemId> = items
            .iter()
            .map(codec::read_mapped_item)
            .collect::<Result<_, _>>()?;
        self.lookup(shop, &ids, &[], &[]).await
    }

    /// The mappings of these items (consistent reads); an item without one is left out.
    pub(super) async fn mappings(
        &self,
        shop: &ShopDomain,
        items: impl IntoIterator<Item = InventoryItemId>,
    ) -> Result<Vec<ItemMapping>, PortError> {
        let keys = items
            .into_iter()
            .map(|id| keys::key(&keys::item_pk(shop, id), MAP))
            .collect();
        self.batch_get(&self.tables.skumap, keys)
            .await?
            .iter()
            .map(codec::read_mapping)
            .collect()
    }

    /// What every look-up returns beside the mappings, from one `Query` of the shop's locations
    /// partition: all its locations and its order-flow setting (none stored: the documented
    /// default, off). The partition's other settings (`SETTINGS#…`) are no locations.
    pub(super) async fn fill_shop(
        &self,
        shop: &ShopDomain,
        map: &mut SkuMap,
    ) -> Result<(), PortError> {
        let rows = self
            .query_partition(&self.tables.skumap, &keys::locations_pk(shop), None)
            .await?;
        for i in &rows {
            let sk = codec::read_sk(i)?;
            if sk == keys::SALES_SETTINGS_SK {
                map.sales = codec::read_sales_settings(i)?;
            } else if !sk.starts_with(keys::SETTINGS_PREFIX) {
                let l = codec::read_location(i, shop)?;
                map.locations.insert(l.location, l);
            }
        }
        Ok(())
    }
}

impl SkuMapStore for DynamoStore {
    async fn lookup(
        &self,
        shop: &ShopDomain,
        items: &[InventoryItemId],
        variants: &[VariantId],
        skus: &[String],
    ) -> Result<SkuMap, PortError> {
        let table = &self.tables.skumap;
        let mut map = SkuMap::default();
        let variant_set: HashSet<&VariantId> = variants.iter().collect();
        let sku_set: HashSet<String> = skus.iter().map(|s| s.to_ascii_uppercase()).collect();
        let mut aliases: Vec<Item> = Vec::new();
        aliases.extend(
            variant_set
                .iter()
                .map(|v| keys::key(&keys::variant_alias_pk(shop, **v), MAP)),
        );
        aliases.extend(
            sku_set
                .iter()
                .map(|k| keys::key(&keys::sku_alias_pk(shop, k), MAP)),
        );
        let mut wanted: HashSet<InventoryItemId> = items.iter().copied().collect();
        for alias in self.batch_get(table, aliases).await? {
            let (alias, id) = codec::read_alias(&alias, shop)?;
            match alias {
                Alias::Variant(v) => map.by_variant.insert(v, id),
                Alias::Sku(k) => map.by_sku.insert(k, id),
            };
            wanted.insert(id);
        }
        for m in self.mappings(shop, wanted).await? {
            map.items.insert(m.item, m);
        }
        self.fill_shop(shop, &mut map).await?;
        Ok(map)
    }

    async fn items_after(
        &self,
        shop: &ShopDomain,
        after: Option<InventoryItemId>,
        limit: usize,
    ) -> Result<Vec<ItemMapping>, PortError> {
        let mut out = Vec::with_capacity(limit);
        let mut start: Option<Item> = None;
        // A page of a Query stops at `limit` items or 1 MB, whichever first; ask again until
        // `limit` mappings are in hand or the listing ends.
        while out.len() < limit {
            let mut query = self
                .client
                .query()
                .table_name(&self.tables.skumap)
                .expression_attribute_values(":pk", s(&keys::items_listing_pk(shop)));
            query = match after {
                Some(after) => query
                    .key_condition_expression("pk = :pk AND sk > :after")
                    .expression_attribute_values(":after", s(&keys::item_listing_sk(after))),
                None => query.key_condition_expression("pk = :pk"),
            };
            let resp = query
                .limit((limit - out.len()).min(LISTING_PAGE) as i32)
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(sdk_unavailable)?;
            for i in resp.items() {
                out.push(codec::read_mapping(i)?);
            }
            match resp.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn put_items(&self, rows: &[ItemMapping]) -> Result<(), PortError> {
        let writes = rows
            .iter()
            .flat_map(codec::write_mapping)
            .map(put_request)
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(&self.tables.skumap, writes).await
    }

    async fn put_locations(&self, rows: &[LocationMapping]) -> Result<(), PortError> {
        let writes = rows
            .iter()
            .map(|l| put_request(codec::write_location(l)))
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(&self.tables.skumap, writes).await
    }

    async fn put_sales_settings(
        &self,
        shop: &ShopDomain,
        settings: SalesSettings,
    ) -> Result<(), PortError> {
        let item = codec::write_sales_settings(shop, settings, Timestamp::now());
        self.client
            .put_item()
            .table_name(&self.tables.skumap)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_unavailable)?;
        Ok(())
    }
}
