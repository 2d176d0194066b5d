//! The two-way direction's stores over the four tables: [`FeedCursorStore`] (inbox table,
//! `FEED#<source>` / `CURSOR`), [`ErpRecords`] (stock table, `ERP#<shop>#<warehouse>#<ERP item>`
//! / `STATE`) and [`StorefrontMap`] (SKU map table: the ERP item aliases
//! `ERPITEM#<shop>#<ERP item>` and the storefront settings `LOCATIONS#<shop>` /
//! `SETTINGS#storefront`). Records as [`super::codec`] writes them.
//!
//! - Cursors and ERP records are revisioned: a write is one `PutItem` conditional on the
//!   revision read (`rev = :previous`, or `attribute_not_exists(pk)` when `previous` is 0), and a
//!   failed condition is [`PortError::Conflict`]. Both are read consistently (ERP records with
//!   `BatchGetItem`).
//! - A look-up by ERP item reads each asked item's alias partition, gets the mappings they name
//!   and keeps only those whose ERP item still is the one asked (a re-map leaves the old alias
//!   behind), then the shop's locations and order-flow setting exactly as
//!   [`SkuMapStore::lookup`](stockbridge_core::ports::SkuMapStore::lookup) does
//!   ([`DynamoStore::fill_shop`]).
//! - Storefront settings are read without `ConsistentRead` like the rest of the configuration
//!   (a change applies within a second or so); none stored is the default, a stored one that
//!   does not decode is [`PortError::Corrupt`].
//!
//! `shop/redact` deletes the ERP records, aliases and settings (they carry `shop`), never the
//! feed cursors (no shop's data).

use std::collections::{BTreeSet, HashMap, HashSet};

use aws_sdk_dynamodb::error::SdkError;

use stockbridge_core::ports::{
    ErpRecords, FeedCursorStore, FeedCursors, PortError, StorefrontMap, StorefrontSettings,
};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::skumap::SkuMap;
use stockbridge_domain::storefront::ErpStockRecord;

use super::codec::{self, n, Item};
use super::keys::{self, CURSOR, STATE};
use super::{sdk_unavailable, DynamoStore};

impl DynamoStore {
    /// One `PutItem` of a revisioned record: `item` (which carries revision `previous + 1`)
    /// replaces revision `previous`, or is created when `previous` is 0.
    async fn put_revisioned(
        &self,
        table: &str,
        item: Item,
        previous: u64,
        name: &str,
    ) -> Result<(), PortError> {
        let put = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item));
        let put = if previous == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("rev = :rev")
                .expression_attribute_values(":rev", n(previous))
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(PortError::Conflict(format!(
                    "{name}: revision {previous} expected, changed meanwhile"
                )))
            }
            Err(e) => Err(sdk_unavailable(e)),
        }
    }
}

impl FeedCursorStore for DynamoStore {
    async fn feed_cursors(&self, source: &str) -> Result<FeedCursors, PortError> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.tables.inbox)
            .set_key(Some(keys::key(&keys::feed_pk(source), CURSOR)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_unavailable)?;
        match resp.item() {
            Some(item) => codec::read_feed_cursors(item),
            None => Ok(FeedCursors::default()),
        }
    }

    async fn put_feed_cursors(
        &self,
        source: &str,
        cursors: &FeedCursors,
        previous: u64,
    ) -> Result<(), PortError> {
        let rev = previous.saturating_add(1);
        let item = codec::write_feed_cursors(source, cursors, rev, Timestamp::now());
        let name = keys::feed_pk(source);
        self.put_revisioned(&self.tables.inbox, item, previous, &name)
            .await
    }
}

impl ErpRecords for DynamoStore {
    async fn erp_records(
        &self,
        shop: &ShopDomain,
        pairs: &[(String, String)],
    ) -> Result<HashMap<(String, String), (ErpStockRecord, u64)>, PortError> {
        let asked: HashSet<&(String, String)> = pairs.iter().collect();
        let keys = asked
            .iter()
            .map(|(w, i)| keys::key(&keys::erp_record_pk(shop, w, i), STATE))
            .collect();
        let mut out = HashMap::new();
        for item in self.batch_get(&self.tables.stock, keys).await? {
            let (pair, record, rev) = codec::read_erp_record(&item)?;
            if !asked.contains(&pair) {
                return Err(codec::corrupt(
                    &item,
                    format!("attributes warehouse/erp_item = {pair:?} are not its key's"),
                ));
            }
            out.insert(pair, (record, rev));
        }
        Ok(out)
    }

    async fn put_erp_record(
        &self,
        shop: &ShopDomain,
        pair: &(String, String),
        record: &ErpStockRecord,
        previous: u64,
    ) -> Result<(), PortError> {
        let rev = previous.saturating_add(1);
        let item = codec::write_erp_record(shop, pair, record, rev, Timestamp::now());
        let name = keys::erp_record_pk(shop, &pair.0, &pair.1);
        self.put_revisioned(&self.tables.stock, item, previous, &name)
            .await
    }
}

impl StorefrontMap for DynamoStore {
    async fn lookup_erp_items(
        &self,
        shop: &ShopDomain,
        erp_items: &[String],
    ) -> Result<SkuMap, PortError> {
        let table = &self.tables.skumap;
        let asked: BTreeSet<&String> = erp_items.iter().collect();
        let mut aliased = BTreeSet::new();
        for code in &asked {
            let pk = keys::erp_item_alias_pk(shop, code);
            let rows = self
                .query_partition(table, &pk, Some(keys::ERP_ITEM_ALIAS_PREFIX))
                .await?;
            for row in &rows {
                aliased.insert(codec::read_erp_item_alias(row)?);
            }
        }
        let mut map = SkuMap::default();
        for m in self.mappings(shop, aliased).await? {
            // An alias left behind by a re-map names an item now sold as another ERP item.
            if !asked.contains(&m.erp_item) {
                continue;
            }
            map.by_variant.insert(m.variant, m.item);
            map.by_sku.insert(m.sku.to_ascii_uppercase(), m.item);
            map.items.insert(m.item, m);
        }
        self.fill_shop(shop, &mut map).await?;
        Ok(map)
    }

    async fn storefront_settings(
        &self,
        shop: &ShopDomain,
    ) -> Result<StorefrontSettings, PortError> {
        let key = keys::key(&keys::locations_pk(shop), keys::STOREFRONT_SETTINGS_SK);
        let resp = self
            .client
            .get_item()
            .table_name(&self.tables.skumap)
            .set_key(Some(key))
            .send()
            .await
            .map_err(sdk_unavailable)?;
        match resp.item() {
            Some(item) => codec::read_storefront_settings(item),
            None => Ok(StorefrontSettings::default()),
        }
    }

    async fn put_storefront_settings(
        &self,
        shop: &ShopDomain,
        settings: &StorefrontSettings,
    ) -> Result<(), PortError> {
        let item = codec::write_storefront_settings(shop, settings, Timestamp::now());
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
