//! The in-memory two-way stores keep DynamoDB's semantics: the feed cursors and the ERP records
//! are written only on the revision read (create-only at 0, a stale revision is a `Conflict`
//! and writes nothing), a look-up by ERP item finds every Shopify item of it and ignores an
//! alias a re-map left behind, storefront settings round-trip without becoming a location, and
//! `shop/redact` deletes the shop's ERP records, aliases and settings but no feed cursor.

use std::collections::{BTreeMap, HashSet};

use rust_decimal::Decimal;
use stockbridge_core::ports::{
    ErpRecords, FeedCursor, FeedCursorStore, FeedCursors, PortError, SkuMapStore, StockStore,
    StorefrontMap, StorefrontSettings,
};
use stockbridge_domain::event::RedactCursor;
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp, VariantId};
use stockbridge_domain::sales::SalesSettings;
use stockbridge_domain::skumap::{ItemMapping, LocationMapping, Master, UomFactor};
use stockbridge_domain::storefront::{ErpStockRecord, SellRule, SellRules};
use stockbridge_memory::{Fault, MemoryStore, StoreOp};

fn shop() -> ShopDomain {
    ShopDomain::new("s.myshopify.com")
}

fn other() -> ShopDomain {
    ShopDomain::new("o.myshopify.com")
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, PortError>) -> bool {
    matches!(r, Err(PortError::Conflict(_)))
}

fn cursors(moves: &str) -> FeedCursors {
    FeedCursors {
        moves: Some(FeedCursor(moves.into())),
        purchases: None,
        items: Some(FeedCursor("i-1".into())),
        revision: 0,
        updated_at: Some(Timestamp(5)),
    }
}

fn record(on_hand: i64) -> ErpStockRecord {
    ErpStockRecord {
        on_hand: Some(Decimal::from(on_hand)),
        as_of: Some(Timestamp(on_hand)),
        reorder_point: Some(Decimal::from(3)),
        ..ErpStockRecord::default()
    }
}

fn pair(warehouse: &str, item: &str) -> (String, String) {
    (warehouse.to_string(), item.to_string())
}

fn mapping(shop: &ShopDomain, item: u64, sku: &str, erp_item: &str, uom: &str) -> ItemMapping {
    ItemMapping {
        shop: shop.clone(),
        item: InventoryItemId(item),
        variant: VariantId(item + 1000),
        sku: sku.into(),
        erp_item: erp_item.into(),
        uom: UomFactor::new(uom, "each").unwrap(),
    }
}

fn location(shop: &ShopDomain, id: u64, warehouse: &str) -> LocationMapping {
    LocationMapping {
        shop: shop.clone(),
        location: LocationId(id),
        name: format!("loc {id}"),
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
        reorder_points: BTreeMap::from([("MUG".to_string(), Decimal::from(4))]),
        ..StorefrontSettings::default()
    }
}

fn ids(map: &stockbridge_domain::skumap::SkuMap) -> HashSet<u64> {
    map.items.keys().map(|i| i.0).collect()
}

#[tokio::test]
async fn feed_cursors_are_written_only_on_the_revision_read() {
    let store = MemoryStore::new();
    assert_eq!(
        store.feed_cursors("tryton").await.unwrap(),
        FeedCursors::default()
    );
    store
        .put_feed_cursors("tryton", &cursors("m-1"), 0)
        .await
        .unwrap();
    let first = store.feed_cursors("tryton").await.unwrap();
    assert_eq!(first.revision, 1);
    assert_eq!(first.moves, Some(FeedCursor("m-1".into())));
    assert_eq!(first.items, Some(FeedCursor("i-1".into())));

    // A second poller that also read none loses, and writes nothing.
    let again = store.put_feed_cursors("tryton", &cursors("m-9"), 0).await;
    assert!(is_conflict(&again), "{again:?}");
    // The revision stored is `previous + 1`, whatever the cursors carried.
    let mut next = cursors("m-2");
    next.revision = 77;
    store.put_feed_cursors("tryton", &next, 1).await.unwrap();
    let stale = store.put_feed_cursors("tryton", &cursors("m-9"), 1).await;
    assert!(is_conflict(&stale), "{stale:?}");
    let now = store.feed_cursors("tryton").await.unwrap();
    assert_eq!(
        (now.revision, now.moves),
        (2, Some(FeedCursor("m-2".into())))
    );

    // Another source has its own.
    assert_eq!(store.feed_cursors("http").await.unwrap().revision, 0);
}

#[tokio::test]
async fn erp_records_are_created_once_and_then_written_on_their_revision() {
    let store = MemoryStore::new();
    let (a, b) = (pair("WH", "MUG"), pair("WH", "CUP"));
    assert!(store
        .erp_records(&shop(), &[a.clone(), b.clone()])
        .await
        .unwrap()
        .is_empty());

    store
        .put_erp_record(&shop(), &a, &record(10), 0)
        .await
        .unwrap();
    let create_again = store.put_erp_record(&shop(), &a, &record(11), 0).await;
    assert!(is_conflict(&create_again), "{create_again:?}");
    let read = store
        .erp_records(&shop(), &[a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(read.len(), 1, "an absent pair is not in the result");
    assert_eq!(read.get(&a), Some(&(record(10), 1)));

    store
        .put_erp_record(&shop(), &a, &record(12), 1)
        .await
        .unwrap();
    let stale = store.put_erp_record(&shop(), &a, &record(13), 1).await;
    assert!(is_conflict(&stale), "{stale:?}");
    let ahead = store.put_erp_record(&shop(), &a, &record(13), 5).await;
    assert!(is_conflict(&ahead), "{ahead:?}");
    let read = store
        .erp_records(&shop(), std::slice::from_ref(&a))
        .await
        .unwrap();
    assert_eq!(read.get(&a), Some(&(record(12), 2)));

    // Per shop and per warehouse.
    assert!(store
        .erp_records(&other(), std::slice::from_ref(&a))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .erp_records(&shop(), &[pair("WH2", "MUG")])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_fault_on_an_erp_record_write_is_injected_like_on_the_other_ports() {
    let store = MemoryStore::new();
    let a = pair("WH", "MUG");
    store.fail_next(StoreOp::PutErpRecord, 1, Fault::AnswerLost);
    let lost = store.put_erp_record(&shop(), &a, &record(1), 0).await;
    assert!(
        matches!(lost, Err(PortError::Unavailable { .. })),
        "{lost:?}"
    );
    // It took effect: the retry with the revision it read conflicts.
    let retry = store.put_erp_record(&shop(), &a, &record(1), 0).await;
    assert!(is_conflict(&retry), "{retry:?}");
    assert_eq!(store.calls(StoreOp::PutErpRecord), 2);
}

#[tokio::test]
async fn a_look_up_by_erp_item_finds_every_item_of_it_and_ignores_a_stale_alias() {
    let store = MemoryStore::new();
    store
        .put_items(&[
            mapping(&shop(), 10, "mug-1", "MUG", "each"),
            mapping(&shop(), 11, "mug-6", "MUG", "pack6"),
            mapping(&shop(), 12, "cup-1", "CUP", "each"),
            mapping(&other(), 10, "mug-1", "MUG", "each"),
        ])
        .await
        .unwrap();
    store
        .put_locations(&[location(&shop(), 1, "WH"), location(&shop(), 2, "WH2")])
        .await
        .unwrap();
    store
        .put_locations(&[location(&other(), 3, "WH")])
        .await
        .unwrap();
    let on = SalesSettings {
        enabled: true,
        authorized: false,
    };
    store.put_sales_settings(&shop(), on).await.unwrap();

    let map = store
        .lookup_erp_items(&shop(), &["MUG".to_string()])
        .await
        .unwrap();
    assert_eq!(ids(&map), HashSet::from([10, 11]));
    assert_eq!(
        map.by_variant.get(&VariantId(1011)),
        Some(&InventoryItemId(11))
    );
    assert_eq!(map.by_sku.get("MUG-6"), Some(&InventoryItemId(11)));
    assert_eq!(map.by_sku.len(), 2);
    let locations: HashSet<u64> = map.locations.keys().map(|l| l.0).collect();
    assert_eq!(locations, HashSet::from([1, 2]), "all the shop's locations");
    assert_eq!(map.sales, on);

    // Exact: another case is another ERP item.
    let none = store
        .lookup_erp_items(&shop(), &["mug".to_string()])
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.by_sku.is_empty());
    assert_eq!(none.locations.len(), 2);

    // Item 11 re-mapped to CUP: the MUG alias stays behind and is ignored.
    store
        .put_items(&[mapping(&shop(), 11, "mug-6", "CUP", "pack6")])
        .await
        .unwrap();
    let mugs = store
        .lookup_erp_items(&shop(), &["MUG".to_string()])
        .await
        .unwrap();
    assert_eq!(ids(&mugs), HashSet::from([10]));
    assert!(!mugs.by_variant.contains_key(&VariantId(1011)));
    let both = store
        .lookup_erp_items(&shop(), &["CUP".to_string(), "MUG".to_string()])
        .await
        .unwrap();
    assert_eq!(ids(&both), HashSet::from([10, 11, 12]));
    assert_eq!(both.items[&InventoryItemId(11)].erp_item, "CUP");
}

#[tokio::test]
async fn storefront_settings_round_trip_and_are_no_location() {
    let store = MemoryStore::new();
    store
        .put_locations(&[location(&shop(), 1, "WH")])
        .await
        .unwrap();
    assert_eq!(
        store.storefront_settings(&shop()).await.unwrap(),
        StorefrontSettings::default()
    );
    store
        .put_storefront_settings(&shop(), &settings())
        .await
        .unwrap();
    assert_eq!(
        store.storefront_settings(&shop()).await.unwrap(),
        settings()
    );
    assert_eq!(
        store.storefront_settings(&other()).await.unwrap(),
        StorefrontSettings::default()
    );
    let map = store.lookup(&shop(), &[], &[], &[]).await.unwrap();
    assert_eq!(map.locations.len(), 1);
    assert!(map.locations.contains_key(&LocationId(1)));
}

#[tokio::test]
async fn shop_redact_deletes_the_shops_erp_records_aliases_and_settings_only() {
    let store = MemoryStore::new();
    for s in [shop(), other()] {
        store
            .put_erp_record(&s, &pair("WH", "MUG"), &record(1), 0)
            .await
            .unwrap();
        store
            .put_items(&[mapping(&s, 10, "mug-1", "MUG", "each")])
            .await
            .unwrap();
        store
            .put_storefront_settings(&s, &settings())
            .await
            .unwrap();
    }
    store
        .put_feed_cursors("tryton", &cursors("m-1"), 0)
        .await
        .unwrap();
    // Per shop: the ERP record, the mapping (2), its variant, SKU and ERP item aliases, the
    // settings; the feed cursor is no shop's.
    assert_eq!(store.shop_record_count(&shop()), 7);
    assert_eq!(store.record_count(), 14);

    let mut cursor: Option<RedactCursor> = None;
    let mut deleted = 0;
    loop {
        let step = store
            .redact_shop(&shop(), cursor.as_ref(), 2)
            .await
            .unwrap();
        deleted += step.deleted;
        cursor = step.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(deleted, 7);
    assert_eq!(store.shop_record_count(&shop()), 0);
    assert!(store
        .erp_records(&shop(), &[pair("WH", "MUG")])
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .lookup_erp_items(&shop(), &["MUG".to_string()])
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(
        store.storefront_settings(&shop()).await.unwrap(),
        StorefrontSettings::default()
    );

    // The other shop and the feed cursor are untouched.
    assert_eq!(store.shop_record_count(&other()), 7);
    assert_eq!(
        store
            .erp_records(&other(), &[pair("WH", "MUG")])
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        ids(&store
            .lookup_erp_items(&other(), &["MUG".to_string()])
            .await
            .unwrap()),
        HashSet::from([10])
    );
    assert_eq!(
        store.storefront_settings(&other()).await.unwrap(),
        settings()
    );
    assert_eq!(store.feed_cursors("tryton").await.unwrap().revision, 1);
}
