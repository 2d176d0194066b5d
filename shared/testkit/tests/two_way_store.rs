//! The two-way direction's storage on DynamoDB (moto): the feed cursors and the ERP records are
//! written only on the revision read (create-only at 0, a stale revision conflicts and writes
//! nothing), ERP records come back in one batch read, a look-up by ERP item finds every Shopify
//! item of it and ignores an alias a re-map left behind, the storefront settings round-trip and
//! are never read as a location, and `shop/redact` deletes the shop's ERP records and ERP item
//! aliases (and no other shop's, and no feed cursor). Run with
//! `bash infra/test.sh --test two_way_store`.

mod support;

use std::collections::{BTreeMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use rust_decimal::Decimal;
use stockbridge_core::ports::{
    ErpRecords, FeedCursor, FeedCursorStore, FeedCursors, PortError, SkuMapStore, StockStore,
    StorefrontMap, StorefrontSettings,
};
use stockbridge_domain::event::RedactCursor;
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp, VariantId};
use stockbridge_domain::sales::SalesSettings;
use stockbridge_domain::skumap::{ItemMapping, LocationMapping, Master, SkuMap, UomFactor};
use stockbridge_domain::storefront::{ErpStockRecord, SellRule, SellRules};
use support::{stack, Stack, SHOP};

fn shop() -> ShopDomain {
    ShopDomain::new(SHOP)
}

fn other() -> ShopDomain {
    ShopDomain::new("other-shop.myshopify.com")
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, PortError>) -> bool {
    matches!(r, Err(PortError::Conflict(_)))
}

fn pair(warehouse: &str, item: &str) -> (String, String) {
    (warehouse.to_string(), item.to_string())
}

fn record(on_hand: i64) -> ErpStockRecord {
    ErpStockRecord {
        on_hand: Some(Decimal::new(on_hand * 10 + 5, 1)),
        as_of: Some(Timestamp(1_764_000_000_000_000_000 + on_hand)),
        reorder_point: Some(Decimal::from(4)),
        ..ErpStockRecord::default()
    }
}

fn cursors(moves: &str) -> FeedCursors {
    FeedCursors {
        moves: Some(FeedCursor(moves.into())),
        purchases: Some(FeedCursor("p-1".into())),
        items: None,
        revision: 0,
        updated_at: Some(Timestamp(1_764_000_000_000_000_000)),
    }
}

fn mapping(shop: &ShopDomain, item: u64, sku: &str, erp_item: &str, uom: &str) -> ItemMapping {
    ItemMapping {
        shop: shop.clone(),
        item: InventoryItemId(item),
        variant: VariantId(item + 1_000),
        sku: sku.into(),
        erp_item: erp_item.into(),
        uom: UomFactor::new(uom, "each").expect("known unit"),
    }
}

fn location(shop: &ShopDomain, id: u64, warehouse: &str) -> LocationMapping {
    LocationMapping {
        shop: shop.clone(),
        location: LocationId(id),
        name: format!("Location {id}"),
        erp_warehouse: warehouse.into(),
        master: Master::Erp,
        default: id == 1,
    }
}

fn settings() -> StorefrontSettings {
    StorefrontSettings {
        rules: SellRules {
            locations: BTreeMap::from([(
                LocationId(1),
                SellRule {
                    buffer: 2,
                    sellable: true,
                },
            )]),
            items: BTreeMap::from([(
                (LocationId(2), InventoryItemId(10)),
                SellRule {
                    buffer: 0,
                    sellable: false,
                },
            )]),
        },
        reorder_points: BTreeMap::from([("MUG".to_string(), Decimal::new(35, 1))]),
        ..StorefrontSettings::default()
    }
}

fn ids(map: &SkuMap) -> HashSet<u64> {
    map.items.keys().map(|i| i.0).collect()
}

/// The partition keys a table holds that begin with `prefix` (a scan).
async fn pks(s: &Stack, table: &str, prefix: &str) -> HashSet<String> {
    let mut pages = s
        .store
        .client()
        .scan()
        .table_name(table)
        .filter_expression("begins_with(pk, :p)")
        .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
        .into_paginator()
        .items()
        .send();
    let mut out = HashSet::new();
    while let Some(item) = pages.next().await {
        let item = item.unwrap();
        out.insert(item["pk"].as_s().unwrap().clone());
    }
    out
}

async fn redact(s: &Stack, shop: &ShopDomain) -> usize {
    let mut cursor: Option<RedactCursor> = None;
    let mut deleted = 0;
    for _ in 0..200 {
        let step = s
            .store
            .redact_shop(shop, cursor.as_ref(), 10)
            .await
            .unwrap();
        deleted += step.deleted;
        cursor = step.next;
        if cursor.is_none() {
            return deleted;
        }
    }
    panic!("the redaction did not finish");
}

#[tokio::test]
async fn feed_cursors_are_created_once_and_then_written_only_on_their_revision() {
    let s = stack().await;
    assert_eq!(
        s.store.feed_cursors("tryton").await.unwrap(),
        FeedCursors::default(),
        "none stored: revision 0"
    );
    s.store
        .put_feed_cursors("tryton", &cursors("m-1"), 0)
        .await
        .unwrap();
    let first = s.store.feed_cursors("tryton").await.unwrap();
    assert_eq!(
        first,
        FeedCursors {
            revision: 1,
            ..cursors("m-1")
        }
    );

    // Create-only at 0: a second poller that also read none loses and writes nothing.
    let again = s.store.put_feed_cursors("tryton", &cursors("m-9"), 0).await;
    assert!(is_conflict(&again), "{again:?}");
    s.store
        .put_feed_cursors("tryton", &cursors("m-2"), 1)
        .await
        .unwrap();
    let stale = s.store.put_feed_cursors("tryton", &cursors("m-9"), 1).await;
    assert!(is_conflict(&stale), "{stale:?}");
    let ahead = s.store.put_feed_cursors("tryton", &cursors("m-9"), 7).await;
    assert!(is_conflict(&ahead), "{ahead:?}");
    let now = s.store.feed_cursors("tryton").await.unwrap();
    assert_eq!(
        (now.revision, now.moves),
        (2, Some(FeedCursor("m-2".into())))
    );
    assert_eq!(s.store.feed_cursors("http").await.unwrap().revision, 0);
}

#[tokio::test]
async fn erp_records_round_trip_and_are_written_only_on_their_revision() {
    let s = stack().await;
    let a = pair("WH", "MUG");
    s.store
        .put_erp_record(&shop(), &a, &record(10), 0)
        .await
        .unwrap();
    let create_again = s.store.put_erp_record(&shop(), &a, &record(11), 0).await;
    assert!(is_conflict(&create_again), "{create_again:?}");
    s.store
        .put_erp_record(&shop(), &a, &record(12), 1)
        .await
        .unwrap();
    let stale = s.store.put_erp_record(&shop(), &a, &record(13), 1).await;
    assert!(is_conflict(&stale), "{stale:?}");
    let read = s
        .store
        .erp_records(&shop(), &[a.clone(), pair("WH", "NONE")])
        .await
        .unwrap();
    assert_eq!(
        read.len(),
        1,
        "an absent pair is not in the result: {read:?}"
    );
    assert_eq!(read.get(&a), Some(&(record(12), 2)));
    assert!(s
        .store
        .erp_records(&other(), std::slice::from_ref(&a))
        .await
        .unwrap()
        .is_empty());

    // Codes with `#` keep apart; more pairs than one BatchGetItem takes come back whole.
    let tricky = [pair("A#B", "C"), pair("A", "B#C")];
    for (n, p) in tricky.iter().enumerate() {
        s.store
            .put_erp_record(&shop(), p, &record(n as i64), 0)
            .await
            .unwrap();
    }
    let many: Vec<(String, String)> = (0..110).map(|n| pair("WH2", &format!("IT-{n}"))).collect();
    for (n, p) in many.iter().enumerate() {
        s.store
            .put_erp_record(&shop(), p, &record(n as i64), 0)
            .await
            .unwrap();
    }
    let mut asked = many.clone();
    asked.extend(tricky.iter().cloned());
    asked.push(a.clone());
    let read = s.store.erp_records(&shop(), &asked).await.unwrap();
    assert_eq!(read.len(), 113);
    assert_eq!(read[&many[105]], (record(105), 1));
    assert_eq!(read[&tricky[0]], (record(0), 1));
    assert_eq!(read[&tricky[1]], (record(1), 1));
}

#[tokio::test]
async fn a_look_up_by_erp_item_finds_both_shopify_items_and_ignores_a_stale_alias() {
    let s = stack().await;
    s.store
        .put_items(&[
            mapping(&shop(), 10, "MUG-1", "MUG", "each"),
            mapping(&shop(), 11, "mug-6", "MUG", "pack6"),
            mapping(&shop(), 12, "CUP-1", "CUP", "each"),
            mapping(&other(), 10, "MUG-1", "MUG", "each"),
        ])
        .await
        .unwrap();
    s.store
        .put_locations(&[location(&shop(), 1, "WH"), location(&shop(), 2, "WH2")])
        .await
        .unwrap();
    s.store
        .put_locations(&[location(&other(), 3, "WH")])
        .await
        .unwrap();
    let on = SalesSettings {
        enabled: true,
        authorized: true,
    };
    s.store.put_sales_settings(&shop(), on).await.unwrap();
    s.store
        .put_storefront_settings(&shop(), &settings())
        .await
        .unwrap();

    let map = s
        .store
        .lookup_erp_items(&shop(), &["MUG".to_string()])
        .await
        .unwrap();
    assert_eq!(
        ids(&map),
        HashSet::from([10, 11]),
        "two Shopify items of MUG"
    );
    assert_eq!(map.items[&InventoryItemId(11)].uom.shopify_uom, "pack6");
    assert_eq!(
        map.by_variant.get(&VariantId(1_011)),
        Some(&InventoryItemId(11))
    );
    assert_eq!(map.by_sku.get("MUG-6"), Some(&InventoryItemId(11)));
    let locations: HashSet<u64> = map.locations.keys().map(|l| l.0).collect();
    assert_eq!(
        locations,
        HashSet::from([1, 2]),
        "all the shop's, no setting"
    );
    assert_eq!(map.sales, on);
    let none = s
        .store
        .lookup_erp_items(&shop(), &["mug".to_string()])
        .await
        .unwrap();
    assert!(none.items.is_empty(), "exact: {none:?}");

    // Item 11 re-mapped to CUP: its MUG alias stays in the table and is ignored.
    s.store
        .put_items(&[mapping(&shop(), 11, "mug-6", "CUP", "pack6")])
        .await
        .unwrap();
    let alias = format!("ERPITEM#{SHOP}#MUG");
    assert!(pks(&s, &s.store.tables().skumap, &alias)
        .await
        .contains(&alias));
    let mugs = s
        .store
        .lookup_erp_items(&shop(), &["MUG".to_string()])
        .await
        .unwrap();
    assert_eq!(ids(&mugs), HashSet::from([10]));
    assert!(!mugs.by_variant.contains_key(&VariantId(1_011)));
    let both = s
        .store
        .lookup_erp_items(&shop(), &["CUP".to_string(), "MUG".to_string()])
        .await
        .unwrap();
    assert_eq!(ids(&both), HashSet::from([10, 11, 12]));
    assert_eq!(both.items[&InventoryItemId(11)].erp_item, "CUP");
}

#[tokio::test]
async fn storefront_settings_round_trip_and_a_look_up_returns_exactly_the_locations() {
    let s = stack().await;
    s.store
        .put_locations(&[location(&shop(), 1, "WH"), location(&shop(), 2, "WH2")])
        .await
        .unwrap();
    assert_eq!(
        s.store.storefront_settings(&shop()).await.unwrap(),
        StorefrontSettings::default(),
        "none stored: the default"
    );
    let before = s.store.lookup(&shop(), &[], &[], &[]).await.unwrap();
    s.store
        .put_storefront_settings(&shop(), &settings())
        .await
        .unwrap();
    s.store
        .put_sales_settings(&shop(), SalesSettings::default())
        .await
        .unwrap();
    assert_eq!(
        s.store.storefront_settings(&shop()).await.unwrap(),
        settings()
    );
    assert_eq!(
        s.store.storefront_settings(&other()).await.unwrap(),
        StorefrontSettings::default()
    );
    let after = s.store.lookup(&shop(), &[], &[], &[]).await.unwrap();
    assert_eq!(after.locations.len(), 2);
    assert_eq!(
        after.locations, before.locations,
        "the settings are no location"
    );

    // A stored record that does not decode is corrupt, never the default.
    let mut bad = s
        .store
        .client()
        .get_item()
        .table_name(&s.store.tables().skumap)
        .key("pk", AttributeValue::S(format!("LOCATIONS#{SHOP}")))
        .key("sk", AttributeValue::S("SETTINGS#storefront".into()))
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
        .expect("the settings item");
    bad.insert(
        "settings".into(),
        AttributeValue::S("{\"rules\": 3}".into()),
    );
    s.store
        .client()
        .put_item()
        .table_name(&s.store.tables().skumap)
        .set_item(Some(bad))
        .send()
        .await
        .unwrap();
    let corrupt = s.store.storefront_settings(&shop()).await;
    assert!(
        matches!(&corrupt, Err(PortError::Corrupt { key, .. }) if key.contains("SETTINGS#storefront")),
        "{corrupt:?}"
    );
    // The look-up never reads it.
    assert_eq!(
        s.store
            .lookup(&shop(), &[], &[], &[])
            .await
            .unwrap()
            .locations,
        before.locations
    );
}

#[tokio::test]
async fn shop_redact_deletes_the_erp_records_and_erp_item_aliases_of_that_shop_only() {
    let s = stack().await;
    for sh in [shop(), other()] {
        s.store
            .put_erp_record(&sh, &pair("WH", "MUG"), &record(1), 0)
            .await
            .unwrap();
        s.store
            .put_erp_record(&sh, &pair("WH2", "CUP"), &record(2), 0)
            .await
            .unwrap();
        s.store
            .put_items(&[
                mapping(&sh, 10, "MUG-1", "MUG", "each"),
                mapping(&sh, 11, "MUG-6", "MUG", "pack6"),
            ])
            .await
            .unwrap();
    }
    s.store
        .put_feed_cursors("tryton", &cursors("m-1"), 0)
        .await
        .unwrap();
    let (stock, skumap, inbox) = {
        let t = s.store.tables();
        (t.stock.clone(), t.skumap.clone(), t.inbox.clone())
    };
    let mine_erp = format!("ERP#{SHOP}#");
    let mine_alias = format!("ERPITEM#{SHOP}#");
    assert_eq!(pks(&s, &stock, &mine_erp).await.len(), 2);
    assert_eq!(
        pks(&s, &skumap, &mine_alias).await.len(),
        1,
        "one partition, two rows"
    );

    // 2 ERP records; per mapping the mapping, its listing, variant, SKU and ERP item aliases.
    assert_eq!(redact(&s, &shop()).await, 2 + 2 * 5);

    assert!(pks(&s, &stock, &mine_erp).await.is_empty());
    assert!(pks(&s, &skumap, &mine_alias).await.is_empty());
    assert!(s
        .store
        .erp_records(&shop(), &[pair("WH", "MUG"), pair("WH2", "CUP")])
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .store
        .lookup_erp_items(&shop(), &["MUG".to_string()])
        .await
        .unwrap()
        .items
        .is_empty());

    // The other shop's are kept, and the feed cursor (no shop's data).
    let theirs = s
        .store
        .erp_records(&other(), &[pair("WH", "MUG"), pair("WH2", "CUP")])
        .await
        .unwrap();
    assert_eq!(theirs.len(), 2);
    let map = s
        .store
        .lookup_erp_items(&other(), &["MUG".to_string()])
        .await
        .unwrap();
    assert_eq!(ids(&map), HashSet::from([10, 11]));
    assert_eq!(
        pks(&s, &inbox, "FEED#").await,
        HashSet::from(["FEED#tryton".to_string()])
    );
    assert_eq!(s.store.feed_cursors("tryton").await.unwrap().revision, 1);
}
