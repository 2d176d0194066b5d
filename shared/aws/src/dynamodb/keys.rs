//! The table key layout: every partition and sort key this adapter reads or writes, spelled here
//! and nowhere else (`docs/DATA.md` draws the same layout for people).
//!
//! - Stock table: `LEVEL#<shop>#<item>#<location>`, `LINE#<shop>#<line>`, `ITEM#<shop>#<item>`,
//!   `MOVE#<shop>#<movement>`, `SALE#<shop>#<order>`, `ERP#<shop>#<warehouse>#<ERP item>`, each
//!   under sort key `STATE`; a level's log entries and reconciliation corrections share its
//!   partition under `LOG#<time>#<n>` / `LOG#<time>#rc<n>`. ERP codes are the ERP's own text:
//!   in a key, `%` is written `%25` and `#` is written `%23`, so no two pairs share a key.
//! - Idempotency table: the event key itself (`<shop>:<webhook id>:<part>`), no sort key.
//! - SKU map table: `ITEM#<shop>#<item>`, `VARIANT#<shop>#<variant>`, `SKU#<shop>#<SKU upper-case>`
//!   under `MAP`; the listing `ITEMS#<shop>` sorted by the zero-padded item id;
//!   `LOCATIONS#<shop>` sorted by location id, which also holds the shop's settings under
//!   `SETTINGS#<name>` (the order flow's `SETTINGS#sales`, read by the same query, so no extra
//!   round trip; the storefront's `SETTINGS#storefront`); the ERP item alias
//!   `ERPITEM#<shop>#<ERP item>` sorted by `ITEM#<zero-padded item id>` (one row per Shopify
//!   item mapped to it).
//! - Inbox table: `PARKED#<shop>` / event key, `REPORT#<shop>` / run id,
//!   `QUARANTINE#<shop>` / `<received>#<webhook id>`, `REDACT#<shop>` / `PROGRESS`,
//!   `FAILURE#<message id>` / `FAILURE`, `LATENCY#<shop>` / `<yyyy-mm-ddThh>`, the ERP feed's
//!   `FEED#<source>` / `CURSOR`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use stockbridge_domain::ids::{
    InventoryItemId, LocationId, ShopDomain, Timestamp, VariantId, Version,
};
use stockbridge_domain::stock::{LineKey, MovementKey, OrderKey, StockKey};

use super::codec::Item;

/// The partition key attribute of every table.
pub(super) const PK: &str = "pk";
/// The sort key attribute of the stock, SKU map and inbox tables.
pub(super) const SK: &str = "sk";
/// Sort key of a stock table record's current state (level, line, item, movement).
pub(super) const STATE: &str = "STATE";
/// Sort key of a SKU map record (item mapping and its aliases).
pub(super) const MAP: &str = "MAP";
/// Sort key prefix of a level's log entries and corrections.
pub(super) const LOG_PREFIX: &str = "LOG#";

/// The key attributes of a record in a table keyed by `pk` and `sk`.
pub(super) fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(pk.to_string())),
        (SK.to_string(), AttributeValue::S(sk.to_string())),
    ])
}

/// The key attribute of an idempotency record: the event key.
pub(super) fn idempotency_key(event_key: &str) -> Item {
    HashMap::from([(PK.to_string(), AttributeValue::S(event_key.to_string()))])
}

/// Every idempotency key of a shop begins with this (event keys are `<shop>:<webhook id>:<part>`).
pub(super) fn idempotency_prefix(shop: &ShopDomain) -> String {
    format!("{shop}:")
}

/// Partition of a stock level (sort key [`STATE`]) and of its log.
pub fn level_pk(key: &StockKey) -> String {
    format!("LEVEL#{}#{}#{}", key.shop, key.item, key.location)
}

/// Partition of an order line's open quantity (sort key [`STATE`]).
pub(super) fn line_pk(key: &LineKey) -> String {
    format!("LINE#{}#{}", key.shop, key.line)
}

/// Partition of an inventory item: its record in the stock table (sort key [`STATE`]) and its
/// mapping in the SKU map table (sort key [`MAP`]).
pub(super) fn item_pk(shop: &ShopDomain, item: InventoryItemId) -> String {
    format!("ITEM#{shop}#{item}")
}

/// Partition of a fulfilment or refund line already told to the ERP (sort key [`STATE`]).
pub(super) fn movement_pk(key: &MovementKey) -> String {
    format!("MOVE#{}#{}", key.shop, key.id)
}

/// Partition of an order's record for the order flow (sort key [`STATE`]).
pub(super) fn sale_pk(key: &OrderKey) -> String {
    format!("SALE#{}#{}", key.shop, key.order)
}

/// Sort key of the `n`th log entry a batch committed at `at`.
pub(super) fn log_sk(at: Timestamp, n: usize) -> String {
    format!("{LOG_PREFIX}{}#{n:03}", Version::new(at, at).to_key())
}

/// Sort key of the `n`th correction a reconciliation run logged at `at`.
pub(super) fn correction_sk(at: Timestamp, n: usize) -> String {
    format!("{LOG_PREFIX}{}#rc{n:03}", Version::new(at, at).to_key())
}

/// Partition of a variant's alias to its inventory item (sort key [`MAP`]).
pub(super) fn variant_alias_pk(shop: &ShopDomain, variant: VariantId) -> String {
    format!("VARIANT#{shop}#{variant}")
}

/// Partition of a SKU's alias to its inventory item (sort key [`MAP`]); SKUs match without case.
pub(super) fn sku_alias_pk(shop: &ShopDomain, sku: &str) -> String {
    format!("SKU#{shop}#{}", sku.to_ascii_uppercase())
}

/// What an alias partition key names.
#[derive(Debug, PartialEq)]
pub(super) enum Alias {
    Variant(VariantId),
    /// The SKU, upper-case.
    Sku(String),
}

/// Reads an alias partition key of `shop` back; `None` when it is neither kind of alias.
pub(super) fn parse_alias_pk(shop: &ShopDomain, pk: &str) -> Option<Alias> {
    if let Some(v) = pk.strip_prefix(&format!("VARIANT#{shop}#")) {
        v.parse().ok().map(|v| Alias::Variant(VariantId(v)))
    } else {
        pk.strip_prefix(&format!("SKU#{shop}#"))
            .map(|k| Alias::Sku(k.to_string()))
    }
}

/// The listing of a shop's item mappings in item order.
pub(super) fn items_listing_pk(shop: &ShopDomain) -> String {
    format!("ITEMS#{shop}")
}

/// Sort key of an item in the listing: the id zero-padded, so the listing sorts by id.
pub(super) fn item_listing_sk(item: InventoryItemId) -> String {
    format!("{:020}", item.0)
}

/// Partition of a shop's location mappings.
pub(super) fn locations_pk(shop: &ShopDomain) -> String {
    format!("LOCATIONS#{shop}")
}

/// Sort key of the shop's order-flow setting in its locations partition; location sort keys are
/// decimal ids, so it never names a location.
pub(super) const SALES_SETTINGS_SK: &str = "SETTINGS#sales";

/// Sort key prefix of every setting in a shop's locations partition: none names a location.
pub(super) const SETTINGS_PREFIX: &str = "SETTINGS#";

/// Sort key of the shop's storefront settings in its locations partition.
pub(super) const STOREFRONT_SETTINGS_SK: &str = "SETTINGS#storefront";

/// An ERP code (warehouse, item) as a key component: `%` and `#` escaped, so the code cannot
/// end one component early.
fn code(text: &str) -> String {
    text.replace('%', "%25").replace('#', "%23")
}

/// Partition of what is kept per shop, ERP warehouse and ERP item (sort key [`STATE`]).
pub(super) fn erp_record_pk(shop: &ShopDomain, warehouse: &str, erp_item: &str) -> String {
    format!("ERP#{shop}#{}#{}", code(warehouse), code(erp_item))
}

/// Partition of an ERP item's aliases: one row per Shopify item mapped to it.
pub(super) fn erp_item_alias_pk(shop: &ShopDomain, erp_item: &str) -> String {
    format!("ERPITEM#{shop}#{}", code(erp_item))
}

/// Sort key prefix of the rows of an ERP item's alias partition.
pub(super) const ERP_ITEM_ALIAS_PREFIX: &str = "ITEM#";

/// Sort key of one Shopify item in an ERP item's alias partition (the id zero-padded).
pub(super) fn erp_item_alias_sk(item: InventoryItemId) -> String {
    format!("{ERP_ITEM_ALIAS_PREFIX}{:020}", item.0)
}

/// Partition of the ERP feed's cursors of one source in the inbox table (sort key [`CURSOR`]).
pub(super) fn feed_pk(source: &str) -> String {
    format!("FEED#{source}")
}

/// Sort key of the ERP feed's cursors.
pub(super) const CURSOR: &str = "CURSOR";

/// Sort key of a location mapping.
pub(super) fn location_sk(location: LocationId) -> String {
    location.to_string()
}

/// Partition of a shop's parked events (sort key: the event key).
pub(super) fn parked_pk(shop: &ShopDomain) -> String {
    format!("PARKED#{shop}")
}

/// Partition of a shop's reconciliation reports (sort key: the run id, which sorts by time).
pub(super) fn report_pk(shop: &ShopDomain) -> String {
    format!("REPORT#{shop}")
}

/// Partition of a shop's redaction progress (sort key [`PROGRESS`]).
pub(super) fn redact_pk(shop: &ShopDomain) -> String {
    format!("REDACT#{shop}")
}

/// Partition of a shop's backfill checkpoints (sort key: the location id).
pub(super) fn backfill_pk(shop: &ShopDomain) -> String {
    format!("BACKFILL#{shop}")
}

/// Partition of the consumer's failure record of one queue message (sort key [`FAILURE`]).
pub(super) fn failure_pk(message_id: &str) -> String {
    format!("FAILURE#{message_id}")
}

/// Partition of a shop's latency digest in the inbox table (sort key `<yyyy-mm-ddThh>`).
pub(super) fn latency_pk(shop: &ShopDomain) -> String {
    format!("LATENCY#{shop}")
}

/// Sort key of a failure record.
pub(super) const FAILURE: &str = "FAILURE";

/// Sort key of a redaction progress record.
pub(super) const PROGRESS: &str = "PROGRESS";

/// Partition of a shop's quarantined deliveries.
pub(super) fn quarantine_pk(shop: &ShopDomain) -> String {
    format!("QUARANTINE#{shop}")
}

/// Sort key of a quarantined delivery: receipt time, then the webhook id.
/// The lease of a job (`reconcile#<shop>`), one item per job in the inbox table.
pub(super) fn lock_pk(job: &str) -> String {
    format!("LOCK#{job}")
}

pub(super) fn quarantine_sk(received_at: Timestamp, webhook_id: &str) -> String {
    format!(
        "{}#{webhook_id}",
        Version::new(received_at, received_at).to_key()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_read_back() {
        let shop = ShopDomain::new("a.myshopify.com");
        let v = variant_alias_pk(&shop, VariantId(42));
        assert_eq!(
            parse_alias_pk(&shop, &v),
            Some(Alias::Variant(VariantId(42)))
        );
        let k = sku_alias_pk(&shop, "mug-1");
        assert_eq!(parse_alias_pk(&shop, &k), Some(Alias::Sku("MUG-1".into())));
        assert_eq!(parse_alias_pk(&shop, "VARIANT#a.myshopify.com#x"), None);
        assert_eq!(
            parse_alias_pk(&shop, &item_pk(&shop, InventoryItemId(1))),
            None
        );
    }

    #[test]
    fn erp_codes_cannot_run_into_each_other() {
        let shop = ShopDomain::new("a.myshopify.com");
        assert_eq!(
            erp_record_pk(&shop, "WH", "MUG-1"),
            "ERP#a.myshopify.com#WH#MUG-1"
        );
        assert_ne!(
            erp_record_pk(&shop, "A#B", "C"),
            erp_record_pk(&shop, "A", "B#C")
        );
        assert_ne!(
            erp_record_pk(&shop, "A%23B", "C"),
            erp_record_pk(&shop, "A#B", "C")
        );
        assert_eq!(
            erp_item_alias_pk(&shop, "MUG"),
            "ERPITEM#a.myshopify.com#MUG"
        );
        assert_eq!(
            erp_item_alias_sk(InventoryItemId(7)),
            "ITEM#00000000000000000007"
        );
        assert!(STOREFRONT_SETTINGS_SK.starts_with(SETTINGS_PREFIX));
        assert!(SALES_SETTINGS_SK.starts_with(SETTINGS_PREFIX));
    }

    #[test]
    fn listing_sorts_by_id() {
        assert!(item_listing_sk(InventoryItemId(9)) < item_listing_sk(InventoryItemId(10)));
    }
}
