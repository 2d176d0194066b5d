//! The two-way direction's records (ERP → Shopify):
//!
//! - ERP record, stock table, `ERP#<shop>#<warehouse>#<ERP item>` / `STATE`, `kind` =
//!   `erp_record`: `shop` (S, so `shop/redact` deletes it), `warehouse` and `erp_item` (S, the
//!   ERP's codes as given), `record` (S, the JSON of
//!   [`ErpStockRecord`](stockbridge_domain::storefront::ErpStockRecord)), `rev` (N, the optimistic
//!   revision, as every stock table record has it) and `updated_at` (S, RFC 3339).
//! - Feed cursors, inbox table, `FEED#<source>` / `CURSOR`, `kind` = `feed_cursors`: `source`
//!   (S), `cursors` (S, the JSON of [`FeedCursors`]), `rev` (N; the revision read back is this
//!   attribute, never the JSON's) and `updated_at`. No `shop`: the feed is no shop's data.
//! - ERP item alias, SKU map table, `ERPITEM#<shop>#<ERP item>` / `ITEM#<zero-padded item id>`,
//!   `kind` = `erp_item_alias`: `shop`, `item` (N, the Shopify inventory item), `erp_item` (S).
//!   Written with the mapping and never removed by a re-map, so a reader checks the mapping.
//! - Storefront settings, SKU map table, `LOCATIONS#<shop>` / `SETTINGS#storefront`, `kind` =
//!   `storefront_settings`: `shop`, `settings` (S, the JSON of [`StorefrontSettings`]),
//!   `updated_at`.
//!
//! A `record`, `cursors` or `settings` that is missing or does not decode is
//! [`PortError::Corrupt`], never a default: a default would re-send, re-arm or re-read what
//! nobody asked for.

use stockbridge_core::ports::{FeedCursors, PortError, StorefrontSettings};
use stockbridge_domain::ids::{InventoryItemId, ShopDomain, Timestamp};
use stockbridge_domain::skumap::ItemMapping;
use stockbridge_domain::storefront::ErpStockRecord;

use super::super::keys::{self, CURSOR, STATE};
use super::attr::{json, n, req_json, req_n, req_s, s, Item};
use super::{kind, record};

pub(in super::super) fn write_erp_record(
    shop: &ShopDomain,
    (warehouse, erp_item): &(String, String),
    erp: &ErpStockRecord,
    rev: u64,
    now: Timestamp,
) -> Item {
    let pk = keys::erp_record_pk(shop, warehouse, erp_item);
    let mut item = record(&pk, STATE, kind::ERP_RECORD, shop);
    item.insert("warehouse".into(), s(warehouse));
    item.insert("erp_item".into(), s(erp_item));
    item.insert("record".into(), json(erp));
    item.insert("rev".into(), n(rev));
    item.insert("updated_at".into(), s(&now.to_rfc3339()));
    item
}

/// An ERP record: its `(warehouse, ERP item)`, the record and its revision.
pub(in super::super) fn read_erp_record(
    item: &Item,
) -> Result<((String, String), ErpStockRecord, u64), PortError> {
    let pair = (req_s(item, "warehouse")?, req_s(item, "erp_item")?);
    Ok((pair, req_json(item, "record")?, req_n(item, "rev")?))
}

pub(in super::super) fn write_feed_cursors(
    source: &str,
    cursors: &FeedCursors,
    rev: u64,
    now: Timestamp,
) -> Item {
    let mut item = keys::key(&keys::feed_pk(source), CURSOR);
    item.insert("kind".into(), s(kind::FEED_CURSORS));
    item.insert("source".into(), s(source));
    let mut stored = cursors.clone();
    stored.revision = rev;
    item.insert("cursors".into(), json(&stored));
    item.insert("rev".into(), n(rev));
    item.insert("updated_at".into(), s(&now.to_rfc3339()));
    item
}

pub(in super::super) fn read_feed_cursors(item: &Item) -> Result<FeedCursors, PortError> {
    let mut cursors: FeedCursors = req_json(item, "cursors")?;
    cursors.revision = req_n(item, "rev")?;
    Ok(cursors)
}

/// The alias by which a mapping is found from its ERP item.
pub(in super::super) fn write_erp_item_alias(m: &ItemMapping) -> Item {
    let pk = keys::erp_item_alias_pk(&m.shop, &m.erp_item);
    let sk = keys::erp_item_alias_sk(m.item);
    let mut alias = record(&pk, &sk, kind::ERP_ITEM_ALIAS, &m.shop);
    alias.insert("item".into(), n(m.item));
    alias.insert("erp_item".into(), s(&m.erp_item));
    alias
}

/// The Shopify item an ERP item alias points at.
pub(in super::super) fn read_erp_item_alias(item: &Item) -> Result<InventoryItemId, PortError> {
    req_n(item, "item").map(InventoryItemId)
}

pub(in super::super) fn write_storefront_settings(
    shop: &ShopDomain,
    settings: &StorefrontSettings,
    now: Timestamp,
) -> Item {
    let pk = keys::locations_pk(shop);
    let sk = keys::STOREFRONT_SETTINGS_SK;
    let mut item = record(&pk, sk, kind::STOREFRONT_SETTINGS, shop);
    item.insert("settings".into(), json(settings));
    item.insert("updated_at".into(), s(&now.to_rfc3339()));
    item
}

pub(in super::super) fn read_storefront_settings(
    item: &Item,
) -> Result<StorefrontSettings, PortError> {
    req_json(item, "settings")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rust_decimal::Decimal;
    use stockbridge_core::ports::FeedCursor;
    use stockbridge_domain::ids::{LocationId, VariantId};
    use stockbridge_domain::skumap::UomFactor;
    use stockbridge_domain::storefront::{
        ErpMove, FieldLink, FieldMap, ReorderState, SellRule, SellRules,
    };

    use super::super::tests::{assert_corrupt, shop};
    use super::*;

    fn erp() -> ErpStockRecord {
        let at = Timestamp(1_700_000_000_000_000_000);
        ErpStockRecord {
            on_hand: Some(Decimal::new(125, 1)),
            as_of: Some(at),
            moves: vec![ErpMove {
                id: "m-1".into(),
                quantity: Decimal::from(-2),
                kind: "shipment".into(),
                document: Some("OUT/1".into()),
                done_at: at,
            }],
            reorder_point: Some(Decimal::from(5)),
            reorder: BTreeMap::from([(
                "72".to_string(),
                ReorderState {
                    armed: false,
                    fired_at: Some(at),
                },
            )]),
            ..ErpStockRecord::default()
        }
    }

    fn pair() -> (String, String) {
        ("WH#1".to_string(), "MUG".to_string())
    }

    #[test]
    fn an_erp_record_reads_back_as_written_and_an_unreadable_one_is_corrupt() {
        let item = write_erp_record(&shop(), &pair(), &erp(), 3, Timestamp(10));
        let at = "ERP#a.myshopify.com#WH%231#MUG / STATE";
        assert_eq!(item.get("pk"), Some(&s("ERP#a.myshopify.com#WH%231#MUG")));
        assert_eq!(item.get("kind"), Some(&s("erp_record")));
        assert_eq!(item.get("shop"), Some(&s("a.myshopify.com")));
        assert_eq!(read_erp_record(&item).ok(), Some((pair(), erp(), 3)));
        for (field, bad) in [
            ("record", Some(s("{\"on_hand\": []}"))),
            ("record", Some(s(""))),
            ("record", None),
            ("rev", Some(s("3"))),
            ("rev", None),
            ("warehouse", None),
        ] {
            let mut broken = item.clone();
            match bad {
                Some(v) => broken.insert(field.into(), v),
                None => broken.remove(field),
            };
            assert_corrupt(read_erp_record(&broken), at, field);
        }
    }

    #[test]
    fn feed_cursors_read_back_with_the_stored_revision() {
        let cursors = FeedCursors {
            moves: Some(FeedCursor("2026-01-01T00:00:00#9".into())),
            purchases: None,
            items: Some(FeedCursor("x".into())),
            revision: 99,
            updated_at: Some(Timestamp(7)),
        };
        let item = write_feed_cursors("tryton", &cursors, 4, Timestamp(10));
        assert_eq!(item.get("pk"), Some(&s("FEED#tryton")));
        assert_eq!(item.get("sk"), Some(&s("CURSOR")));
        assert!(!item.contains_key("shop"), "no shop's data");
        let read = read_feed_cursors(&item).ok();
        assert_eq!(
            read,
            Some(FeedCursors {
                revision: 4,
                ..cursors
            })
        );
        let mut broken = item;
        broken.insert("cursors".into(), s("[]"));
        assert_corrupt(
            read_feed_cursors(&broken),
            "FEED#tryton / CURSOR",
            "cursors",
        );
    }

    #[test]
    fn an_erp_item_alias_names_its_shopify_item() {
        let m = ItemMapping {
            shop: shop(),
            item: InventoryItemId(45),
            variant: VariantId(46),
            sku: "mug".into(),
            erp_item: "MUG-A".into(),
            uom: UomFactor::new("each", "each").unwrap(),
        };
        let alias = write_erp_item_alias(&m);
        assert_eq!(alias.get("pk"), Some(&s("ERPITEM#a.myshopify.com#MUG-A")));
        assert_eq!(alias.get("sk"), Some(&s("ITEM#00000000000000000045")));
        assert_eq!(alias.get("shop"), Some(&s("a.myshopify.com")));
        assert_eq!(read_erp_item_alias(&alias).ok(), Some(InventoryItemId(45)));
    }

    #[test]
    fn storefront_settings_read_back_as_written_and_unreadable_ones_are_corrupt() {
        let settings = StorefrontSettings {
            rules: SellRules {
                locations: BTreeMap::from([(
                    LocationId(72),
                    SellRule {
                        buffer: 3,
                        sellable: true,
                    },
                )]),
                items: BTreeMap::from([(
                    (LocationId(72), InventoryItemId(45)),
                    SellRule {
                        buffer: 0,
                        sellable: false,
                    },
                )]),
            },
            fields: FieldMap {
                links: vec![FieldLink {
                    erp_field: "weight".into(),
                    namespace: "erp".into(),
                    key: "weight".into(),
                    kind: "number_integer".into(),
                    enabled: true,
                }],
            },
            reorder_points: BTreeMap::from([("MUG".to_string(), Decimal::from(4))]),
        };
        let item = write_storefront_settings(&shop(), &settings, Timestamp(10));
        assert_eq!(item.get("sk"), Some(&s("SETTINGS#storefront")));
        assert_eq!(read_storefront_settings(&item).ok(), Some(settings));
        let at = "LOCATIONS#a.myshopify.com / SETTINGS#storefront";
        for bad in [
            s("not json"),
            s("{\"rules\": {\"items\": {\"72\": {}}}}"),
            n(1),
        ] {
            let mut broken = item.clone();
            broken.insert("settings".into(), bad);
            assert_corrupt(read_storefront_settings(&broken), at, "settings");
        }
        let mut broken = item;
        broken.remove("settings");
        assert_corrupt(read_storefront_settings(&broken), at, "settings");
    }
}
