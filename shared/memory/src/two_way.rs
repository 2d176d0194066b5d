//! The two-way direction's stores on [`MemoryStore`], as the DynamoDB adapter answers them:
//!
//! - `FeedCursorStore`: the ERP feed's cursors per source (`FEED#<source>`), none stored reads
//!   as [`FeedCursors::default`] (revision 0); a write stores revision `previous + 1` only if
//!   the stored revision is still `previous` (0: none stored), else `Conflict`. Not a shop's
//!   data: `shop/redact` never deletes them.
//! - `ErpRecords`: one record per shop, ERP warehouse and ERP item
//!   (`ERP#<shop>#<warehouse>#<item>`), revision 1 on creation and +1 per write, each write
//!   conditional on the revision read (0: must not exist), else `Conflict`; redacted with the
//!   shop.
//! - `StorefrontMap`: a look-up by ERP item goes through the ERP item aliases `put_items` writes
//!   (`crate::skumap`), which a re-map leaves behind, and keeps only the mappings whose ERP item
//!   still is the one asked (exact, case-sensitive), with every location of the shop and its
//!   order-flow setting, as `SkuMapStore::lookup` returns them; `by_variant` and `by_sku` (SKU
//!   upper-cased) name the items found. Storefront settings overwrite; none stored reads as
//!   [`StorefrontSettings::default`]; redacted with the shop.
//!
//! Every call counts and takes faults like the other ports ([`StoreOp::FeedCursors`],
//! [`StoreOp::ErpRecords`], [`StoreOp::LookupErpItems`], ...).

use std::collections::{BTreeSet, HashMap};

use stockbridge_core::ports::{
    ErpRecords, FeedCursorStore, FeedCursors, PortError, StorefrontMap, StorefrontSettings,
};
use stockbridge_domain::ids::{InventoryItemId, ShopDomain};
use stockbridge_domain::skumap::SkuMap;
use stockbridge_domain::storefront::ErpStockRecord;

use crate::store::{MemoryStore, StoreOp, Stored};

/// The record name the DynamoDB adapter gives an ERP record (its partition key).
fn erp_pk(shop: &ShopDomain, (warehouse, item): &(String, String)) -> String {
    format!("ERP#{shop}#{warehouse}#{item}")
}

/// `Conflict` unless the stored revision is the one the writer read.
fn expect_revision(name: &str, stored: u64, previous: u64) -> Result<(), PortError> {
    if stored == previous {
        Ok(())
    } else {
        Err(PortError::Conflict(format!(
            "{name}: revision {previous} expected, {stored} stored"
        )))
    }
}

impl FeedCursorStore for MemoryStore {
    async fn feed_cursors(&self, source: &str) -> Result<FeedCursors, PortError> {
        let lost = self.enter(StoreOp::FeedCursors).await?;
        let found = self
            .lock()
            .feed_cursors
            .get(source)
            .cloned()
            .unwrap_or_default();
        Self::finish(StoreOp::FeedCursors, lost, Ok(found))
    }

    async fn put_feed_cursors(
        &self,
        source: &str,
        cursors: &FeedCursors,
        previous: u64,
    ) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::PutFeedCursors).await?;
        let mut s = self.lock();
        let stored = s.feed_cursors.get(source).map_or(0, |c| c.revision);
        expect_revision(&format!("FEED#{source}"), stored, previous)?;
        let mut value = cursors.clone();
        value.revision = previous.saturating_add(1);
        s.feed_cursors.insert(source.to_string(), value);
        Self::finish(StoreOp::PutFeedCursors, lost, Ok(()))
    }
}

impl ErpRecords for MemoryStore {
    async fn erp_records(
        &self,
        shop: &ShopDomain,
        pairs: &[(String, String)],
    ) -> Result<HashMap<(String, String), (ErpStockRecord, u64)>, PortError> {
        let lost = self.enter(StoreOp::ErpRecords).await?;
        let s = self.lock();
        let found = pairs
            .iter()
            .filter_map(|(w, i)| {
                let stored = s.erp_records.get(&(shop.clone(), w.clone(), i.clone()))?;
                Some(((w.clone(), i.clone()), (stored.value.clone(), stored.rev)))
            })
            .collect();
        Self::finish(StoreOp::ErpRecords, lost, Ok(found))
    }

    async fn put_erp_record(
        &self,
        shop: &ShopDomain,
        pair: &(String, String),
        record: &ErpStockRecord,
        previous: u64,
    ) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::PutErpRecord).await?;
        let mut s = self.lock();
        let key = (shop.clone(), pair.0.clone(), pair.1.clone());
        let stored = s.erp_records.get(&key).map_or(0, |r| r.rev);
        expect_revision(&erp_pk(shop, pair), stored, previous)?;
        let value = record.clone();
        let rev = previous.saturating_add(1);
        s.erp_records.insert(key, Stored { value, rev });
        Self::finish(StoreOp::PutErpRecord, lost, Ok(()))
    }
}

impl StorefrontMap for MemoryStore {
    async fn lookup_erp_items(
        &self,
        shop: &ShopDomain,
        erp_items: &[String],
    ) -> Result<SkuMap, PortError> {
        let lost = self.enter(StoreOp::LookupErpItems).await?;
        let s = self.lock();
        let mut map = SkuMap::default();
        let asked: BTreeSet<&String> = erp_items.iter().collect();
        for code in asked {
            let from = (shop.clone(), code.clone(), InventoryItemId(0));
            let aliased = s
                .erp_alias
                .range(from..)
                .take_while(|(sh, c, _)| sh == shop && c == code);
            for (_, _, id) in aliased {
                // An alias left behind by a re-map names an item now sold as another ERP item.
                let Some(m) = s.item_maps.get(&(shop.clone(), *id)) else {
                    continue;
                };
                if &m.erp_item != code {
                    continue;
                }
                map.by_variant.insert(m.variant, m.item);
                map.by_sku.insert(m.sku.to_ascii_uppercase(), m.item);
                map.items.insert(m.item, m.clone());
            }
        }
        s.fill_shop(shop, &mut map);
        Self::finish(StoreOp::LookupErpItems, lost, Ok(map))
    }

    async fn storefront_settings(
        &self,
        shop: &ShopDomain,
    ) -> Result<StorefrontSettings, PortError> {
        let lost = self.enter(StoreOp::StorefrontSettings).await?;
        let found = self
            .lock()
            .storefront
            .get(shop)
            .cloned()
            .unwrap_or_default();
        Self::finish(StoreOp::StorefrontSettings, lost, Ok(found))
    }

    async fn put_storefront_settings(
        &self,
        shop: &ShopDomain,
        settings: &StorefrontSettings,
    ) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::PutStorefrontSettings).await?;
        self.lock()
            .storefront
            .insert(shop.clone(), settings.clone());
        Self::finish(StoreOp::PutStorefrontSettings, lost, Ok(()))
    }
}
