//! The order flow's records: the order record in the stock table and the shop's setting in the
//! SKU map table.
//!
//! - Order record, `SALE#<shop>#<order>` / `STATE`, `kind` = `sale`: `shop` (S), `order` (N,
//!   the Shopify order id), `record` (S, the JSON of
//!   [`SalesRecord`](stockbridge_domain::sales::SalesRecord): decision, goods lines, carried
//!   movements, ERP orders placed, exceptions, lease), `rev` (N, the optimistic revision, as
//!   for levels and lines) and `updated_at` (S, RFC 3339). The record is a document the domain
//!   owns, so it is kept whole as JSON; a `record` that is missing or does not decode is
//!   [`PortError::Corrupt`], never an empty record (an empty one would place the order again).
//! - Setting, `LOCATIONS#<shop>` / `SETTINGS#sales`, `kind` = `sales_settings`: `shop` (S),
//!   `enabled` (BOOL), `authorized` (BOOL), `updated_at` (S). It sits in the locations partition
//!   so a SKU map look-up reads it with the locations. No item means the documented default,
//!   [`SalesSettings::default`] (off); an item without either boolean is corrupt.

use stockbridge_core::ports::PortError;
use stockbridge_domain::ids::{OrderId, ShopDomain, Timestamp};
use stockbridge_domain::sales::{SalesRecord, SalesSettings};
use stockbridge_domain::stock::OrderKey;

use super::super::keys::{self, STATE};
use super::attr::{b, json, n, req_bool, req_json, req_n, s, Item};
use super::{kind, read_shop, record};

pub(in super::super) fn write_sale(
    key: &OrderKey,
    sale: &SalesRecord,
    rev: u64,
    now: Timestamp,
) -> Item {
    let mut item = record(&keys::sale_pk(key), STATE, kind::SALE, &key.shop);
    item.insert("order".into(), n(key.order));
    item.insert("record".into(), json(sale));
    item.insert("rev".into(), n(rev));
    item.insert("updated_at".into(), s(&now.to_rfc3339()));
    item
}

pub(in super::super) fn read_sale(item: &Item) -> Result<(OrderKey, SalesRecord), PortError> {
    let key = OrderKey {
        shop: read_shop(item)?,
        order: OrderId(req_n(item, "order")?),
    };
    Ok((key, req_json(item, "record")?))
}

pub(in super::super) fn write_sales_settings(
    shop: &ShopDomain,
    settings: SalesSettings,
    now: Timestamp,
) -> Item {
    let pk = keys::locations_pk(shop);
    let mut item = record(&pk, keys::SALES_SETTINGS_SK, kind::SALES_SETTINGS, shop);
    item.insert("enabled".into(), b(settings.enabled));
    item.insert("authorized".into(), b(settings.authorized));
    item.insert("updated_at".into(), s(&now.to_rfc3339()));
    item
}

pub(in super::super) fn read_sales_settings(item: &Item) -> Result<SalesSettings, PortError> {
    Ok(SalesSettings {
        enabled: req_bool(item, "enabled")?,
        authorized: req_bool(item, "authorized")?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use stockbridge_domain::ids::{InventoryItemId, LineItemId, LocationId, Version};
    use stockbridge_domain::sales::{Carried, Decision, GoodsLine, Lease, Placed};
    use stockbridge_domain::stock::StockKey;

    use super::super::tests::{assert_corrupt, shop};
    use super::super::{read_stock_record, StockRecord};
    use super::*;

    fn key() -> OrderKey {
        OrderKey {
            shop: shop(),
            order: OrderId(820),
        }
    }

    fn full_record() -> SalesRecord {
        let at = Timestamp(1_700_000_000_000_000_000);
        SalesRecord {
            number: Some("#1001".into()),
            version: Some(Version::new(at, at)),
            payment: Some("paid".into()),
            test: false,
            cancelled: false,
            skipped_lines: 1,
            goods: BTreeMap::from([(
                LineItemId(11),
                GoodsLine {
                    item: InventoryItemId(45),
                    quantity: 2,
                },
            )]),
            decision: Decision::Goes { since: at },
            carried: BTreeMap::from([(
                "fulfillment:5:11".to_string(),
                Carried {
                    key: StockKey {
                        shop: shop(),
                        item: InventoryItemId(45),
                        location: LocationId(72),
                    },
                    line: LineItemId(11),
                    effect: -3,
                    told: -1,
                    released: -1,
                },
            )]),
            placed: BTreeMap::from([(
                "WH".to_string(),
                Placed {
                    reference: "shopify:a.myshopify.com:820:WH".into(),
                    lines: BTreeMap::from([(LineItemId(11), 2)]),
                    cancelled: false,
                },
            )]),
            exceptions: BTreeMap::from([("cancel x".to_string(), "shipped".to_string())]),
            confirmed_at: Some(at),
            lease: Some(Lease {
                holder: "consumer-1".into(),
                until: at,
            }),
        }
    }

    #[test]
    fn an_order_record_reads_back_as_written() {
        let item = write_sale(&key(), &full_record(), 3, Timestamp(10));
        assert_eq!(item.get("pk"), Some(&s("SALE#a.myshopify.com#820")));
        assert_eq!(item.get("sk"), Some(&s("STATE")));
        assert_eq!(item.get("kind"), Some(&s("sale")));
        assert_eq!(item.get("shop"), Some(&s("a.myshopify.com")));
        assert_eq!(item.get("rev"), Some(&n(3)));
        assert_eq!(
            read_stock_record(&item).ok(),
            Some(StockRecord::Sale(key(), full_record()))
        );
        let empty = SalesRecord::default();
        let item = write_sale(&key(), &empty, 1, Timestamp(10));
        assert_eq!(read_sale(&item).ok(), Some((key(), empty)));
    }

    #[test]
    fn an_unreadable_order_record_is_corrupt() {
        let at = "SALE#a.myshopify.com#820 / STATE";
        let written = write_sale(&key(), &full_record(), 3, Timestamp(10));
        for (bad, field) in [
            (Some(s("")), "record"),
            (Some(s("{}")), "record"),
            (Some(s("{\"number\": 7}")), "record"),
            (Some(n(1)), "record"),
            (None, "record"),
        ] {
            let mut item = written.clone();
            match bad {
                Some(v) => item.insert(field.into(), v),
                None => item.remove(field),
            };
            assert_corrupt(read_stock_record(&item), at, field);
        }
        let mut item = written.clone();
        item.insert("order".into(), s("820"));
        assert_corrupt(read_stock_record(&item), at, "order");
        let mut item = written;
        item.remove("shop");
        assert_corrupt(read_stock_record(&item), at, "shop");
    }

    #[test]
    fn the_setting_reads_back_as_written_and_a_malformed_one_is_corrupt() {
        for settings in [
            SalesSettings::default(),
            SalesSettings {
                enabled: true,
                authorized: false,
            },
            SalesSettings {
                enabled: true,
                authorized: true,
            },
        ] {
            let item = write_sales_settings(&shop(), settings, Timestamp(10));
            assert_eq!(read_sales_settings(&item).ok(), Some(settings));
        }
        let at = "LOCATIONS#a.myshopify.com / SETTINGS#sales";
        let written = write_sales_settings(&shop(), SalesSettings::default(), Timestamp(10));
        for field in ["enabled", "authorized"] {
            let mut item = written.clone();
            item.remove(field);
            assert_corrupt(read_sales_settings(&item), at, field);
            let mut item = written.clone();
            item.insert(field.into(), s("true"));
            assert_corrupt(read_sales_settings(&item), at, field);
        }
    }
}
