//! The ports of the two-way direction (ERP → Shopify): the ERP's change feed ([`ErpFeed`], for
//! ERPs that cannot call out, polled), its durable cursor ([`FeedCursorStore`]), what is kept per
//! ERP warehouse and item ([`ErpRecords`]), the look-up of Shopify items by ERP item and the
//! shop's storefront settings ([`StorefrontMap`]), and Shopify's metafields ([`Metafields`]).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use stockbridge_domain::erp_write::Incoming;
use stockbridge_domain::ids::{ShopDomain, Timestamp, VariantId};
use stockbridge_domain::skumap::SkuMap;
use stockbridge_domain::storefront::{ErpStockRecord, FieldMap, SellRules};

use super::{ErpError, PortError, ShopifyError};

/// One stock move the ERP has done, as the feed reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedMove {
    /// The ERP's id of the move (stable, unique).
    pub id: String,
    /// The warehouse whose stock it changed (its code) and the signed quantity there (ERP
    /// units, the item's default unit): a move between two warehouses is read as two
    /// [`FeedMove`]s with the same id, one per warehouse.
    pub warehouse: String,
    pub item: String,
    pub quantity: Decimal,
    /// `receipt` (from a supplier), `shipment` (to a customer), `transfer` (between
    /// warehouses), `adjustment` (counts, lost and found).
    pub kind: String,
    /// The reference of the document it belongs to (shipment reference, purchase number):
    /// Stockbridge's own (`sb-…`, `shopify:…`) are never sent back to Shopify.
    pub reference: Option<String>,
    /// The other end of a transfer (its warehouse code), when the move is one.
    pub counterpart: Option<String>,
    pub done_at: Timestamp,
}

/// Where a read of the feed continues: opaque outside the adapter that wrote it (Tryton's:
/// the last `write_date` and id read, so the order is stable and nothing is skipped).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FeedCursor(pub String);

/// One page of a feed read: what changed after the cursor, oldest first, and the cursor
/// after the last of it (`None`: nothing was newer; the cursor stays).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedPage<T> {
    pub rows: Vec<T>,
    pub next: Option<FeedCursor>,
    /// More rows may be waiting after `next` (the page was full).
    pub more: bool,
}

/// What an ERP that cannot call out offers the poller. Every list is in a stable order after
/// its cursor, so a page read twice (after a crash) is the same rows.
pub trait ErpFeed: Send + Sync {
    /// Done stock moves after `after`, oldest first, at most `limit` (a move between two
    /// warehouses counts once toward the limit and gives one row per warehouse).
    fn moves_after(
        &self,
        after: Option<&FeedCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<FeedPage<FeedMove>, ErpError>> + Send;
    /// On-hand now per item at a warehouse (ERP units); unknown items are absent.
    fn on_hand(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Decimal>, ErpError>> + Send;
    /// The ERP's reorder points per item at a warehouse (Tryton's `stock.order_point`
    /// minimum); items without one are absent.
    fn order_points(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Decimal>, ErpError>> + Send;
    /// The items whose purchase lines changed after `after` (confirmed, date moved,
    /// cancelled, received), oldest change first.
    fn purchases_changed_after(
        &self,
        after: Option<&FeedCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<FeedPage<String>, ErpError>> + Send;
    /// The open purchase quantities of these items into any warehouse, with their expected
    /// dates (confirmed lines still to receive).
    fn open_purchases(
        &self,
        items: &[String],
    ) -> impl Future<Output = Result<Vec<Incoming>, ErpError>> + Send;
    /// The items whose record changed after `after`, oldest first (for the field map).
    fn items_changed_after(
        &self,
        after: Option<&FeedCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<FeedPage<String>, ErpError>> + Send;
    /// Named fields of these items, as text; an item the ERP does not know is absent, a field
    /// it does not have is an error naming it.
    fn item_fields(
        &self,
        items: &[String],
        fields: &[String],
    ) -> impl Future<Output = Result<HashMap<String, BTreeMap<String, String>>, ErpError>> + Send;
    /// Writes one named field of an item (the field map's way back).
    fn set_item_field(
        &self,
        item: &str,
        field: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), ErpError>> + Send;
}

/// The feed's three cursors, kept together per ERP source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedCursors {
    pub moves: Option<FeedCursor>,
    pub purchases: Option<FeedCursor>,
    pub items: Option<FeedCursor>,
    /// Bumped on every write: the poller writes conditionally on the revision it read, so
    /// two pollers never both advance it.
    pub revision: u64,
    pub updated_at: Option<Timestamp>,
}

/// The durable cursor of the ERP feed (the inbox table's `FEED#<source>` / `CURSOR`).
pub trait FeedCursorStore: Send + Sync {
    fn feed_cursors(
        &self,
        source: &str,
    ) -> impl Future<Output = Result<FeedCursors, PortError>> + Send;
    /// Stores `cursors` with revision `previous + 1` if the stored revision is still
    /// `previous` (0: none stored); [`PortError::Conflict`] otherwise.
    fn put_feed_cursors(
        &self,
        source: &str,
        cursors: &FeedCursors,
        previous: u64,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// ERP records by `(warehouse, item)`, each with its revision.
pub type ErpRecordsRead = HashMap<(String, String), (ErpStockRecord, u64)>;

/// What is kept per shop, ERP warehouse and ERP item (`ERP#<shop>#<warehouse>#<item>` in the
/// stock table), revisioned like every stock record.
pub trait ErpRecords: Send + Sync {
    /// The records of these `(warehouse, item)` pairs with their revisions; absent ones are
    /// not in the result.
    fn erp_records(
        &self,
        shop: &ShopDomain,
        pairs: &[(String, String)],
    ) -> impl Future<Output = Result<ErpRecordsRead, PortError>> + Send;
    /// Writes a record with revision `previous + 1` if the stored one is still at `previous`
    /// (0: must not exist); [`PortError::Conflict`] otherwise.
    fn put_erp_record(
        &self,
        shop: &ShopDomain,
        pair: &(String, String),
        record: &ErpStockRecord,
        previous: u64,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The shop's map seen from the ERP side, and its storefront settings.
pub trait StorefrontMap: Send + Sync {
    /// The item mappings whose ERP item is one of `erp_items` (several Shopify items may sell
    /// one ERP item, in other units), with all the shop's locations, its order-flow setting
    /// and its storefront settings.
    fn lookup_erp_items(
        &self,
        shop: &ShopDomain,
        erp_items: &[String],
    ) -> impl Future<Output = Result<SkuMap, PortError>> + Send;
    /// The shop's available-to-sell rules and field map (defaults when none are stored).
    fn storefront_settings(
        &self,
        shop: &ShopDomain,
    ) -> impl Future<Output = Result<StorefrontSettings, PortError>> + Send;
    fn put_storefront_settings(
        &self,
        shop: &ShopDomain,
        settings: &StorefrontSettings,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// A shop's storefront settings, read on every batch from the configuration table (the SKU
/// map table's `LOCATIONS#<shop>` / `SETTINGS#storefront`), so a change needs no redeploy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StorefrontSettings {
    #[serde(default)]
    pub rules: SellRules,
    #[serde(default)]
    pub fields: FieldMap,
    /// Reorder points per ERP item (ERP units), where the ERP has none.
    #[serde(default)]
    pub reorder_points: BTreeMap<String, Decimal>,
}

/// One metafield to write on a product variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetafieldWrite {
    pub owner: VariantId,
    pub namespace: String,
    pub key: String,
    /// Shopify's type name (`date`, `number_integer`, `boolean`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// One metafield to delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetafieldRef {
    pub owner: VariantId,
    pub namespace: String,
    pub key: String,
}

/// One variant metafield as Shopify holds it now (the field map's way back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantMetafield {
    pub variant: VariantId,
    pub namespace: String,
    pub key: String,
    /// `None`: the metafield is not set (deleted).
    pub value: Option<String>,
    /// When Shopify last changed it (`Metafield.updatedAt`).
    pub updated_at: Timestamp,
}

/// Shopify's metafields on product variants (`metafieldsSet`, `metafieldsDelete`).
pub trait Metafields: Send + Sync {
    /// The variant metafields of these `(namespace, key)`s changed after `since`, oldest first,
    /// at most `limit` variants a page (the field map's way back). A page read again gives the
    /// same rows or newer ones.
    fn variant_metafields_changed(
        &self,
        namespaces_keys: &[(String, String)],
        since: Option<FeedCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<FeedPage<VariantMetafield>, ShopifyError>> + Send;
    /// Sets them all or none (Shopify's `metafieldsSet` is atomic, at most 25 per call; the
    /// adapter splits larger sets, each part atomic).
    fn set_metafields(
        &self,
        writes: &[MetafieldWrite],
    ) -> impl Future<Output = Result<(), ShopifyError>> + Send;
    /// Deletes them; one already gone is no error.
    fn delete_metafields(
        &self,
        refs: &[MetafieldRef],
    ) -> impl Future<Output = Result<(), ShopifyError>> + Send;
}
