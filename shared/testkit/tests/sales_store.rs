//! The order flow's storage on DynamoDB (moto): the order record commits with its batch and
//! loads back with its revision, `put_sales` is conditional on that revision, the shop's
//! setting is read back by a SKU map look-up (beside the locations), and `shop/redact` deletes
//! both. Run with `bash infra/test.sh --test sales_store`.

mod support;

use std::collections::BTreeMap;

use stockbridge_core::ports::{Loaded, PortError, SkuMapStore, StockStore, Wanted};
use stockbridge_domain::batch::Plan;
use stockbridge_domain::event::RedactCursor;
use stockbridge_domain::ids::{InventoryItemId, LineItemId, LocationId, OrderId, ShopDomain};
use stockbridge_domain::ids::{Timestamp, Version};
use stockbridge_domain::sales::{Decision, GoodsLine, SalesRecord, SalesSettings};
use stockbridge_domain::stock::{OrderKey, StockKey, StockLevel};
use support::{stack, Stack, SHOP};

fn shop() -> ShopDomain {
    ShopDomain::new(SHOP)
}

fn order(shop: &ShopDomain, id: u64) -> OrderKey {
    OrderKey {
        shop: shop.clone(),
        order: OrderId(id),
    }
}

fn level_key() -> StockKey {
    StockKey {
        shop: shop(),
        item: InventoryItemId(45_000_000_000_001),
        location: LocationId(72_000_000_001),
    }
}

fn sale(payment: &str) -> SalesRecord {
    let at = Timestamp(1_764_000_000_000_000_000);
    SalesRecord {
        number: Some("#1001".into()),
        version: Some(Version::new(at, at)),
        payment: Some(payment.into()),
        goods: BTreeMap::from([(
            LineItemId(11),
            GoodsLine {
                item: level_key().item,
                quantity: 2,
            },
        )]),
        decision: Decision::Goes { since: at },
        ..SalesRecord::default()
    }
}

/// A batch that sets a level and writes an order record.
fn plan(key: &OrderKey, record: &SalesRecord, available: i64) -> Plan {
    let mut plan = Plan::default();
    let level = StockLevel {
        available,
        ..StockLevel::default()
    };
    plan.book.levels.insert(level_key(), level);
    plan.changed_levels.insert(level_key());
    plan.book.sales.insert(key.clone(), record.clone());
    plan.changed_sales.insert(key.clone());
    plan
}

async fn load(s: &Stack, key: &OrderKey) -> Loaded {
    let mut wanted = Wanted::default();
    wanted.orders.insert(key.clone());
    wanted.levels.insert(level_key());
    s.store.load(&wanted).await.unwrap()
}

fn revision(loaded: &Loaded, key: &OrderKey) -> Option<u64> {
    loaded
        .revisions
        .get(&format!("SALE#{}#{}", key.shop, key.order))
        .copied()
}

fn is_conflict(result: &Result<(), PortError>) -> bool {
    matches!(result, Err(PortError::Conflict(_)))
}

#[tokio::test]
async fn an_order_record_commits_with_its_batch_and_loads_back_with_its_revision() {
    let s = stack().await;
    let key = order(&shop(), 820);
    s.store
        .commit(&plan(&key, &sale("paid"), 5), &Loaded::default(), &[])
        .await
        .unwrap();
    let loaded = load(&s, &key).await;
    assert_eq!(loaded.book.sales.get(&key), Some(&sale("paid")));
    assert_eq!(revision(&loaded, &key), Some(1));
    assert_eq!(
        loaded.book.levels.get(&level_key()).map(|l| l.available),
        Some(5)
    );

    // A batch that did not see the record (another consumer wrote it meanwhile) conflicts,
    // and writes nothing, not even its level.
    let stale = s
        .store
        .commit(&plan(&key, &sale("refunded"), 9), &Loaded::default(), &[])
        .await;
    assert!(is_conflict(&stale), "{stale:?}");
    let after = load(&s, &key).await;
    assert_eq!(after.book.sales.get(&key), Some(&sale("paid")));
    assert_eq!(
        after.book.levels.get(&level_key()).map(|l| l.available),
        Some(5)
    );

    // With what it loaded, the next batch writes the record at the next revision.
    s.store
        .commit(&plan(&key, &sale("refunded"), 9), &after, &[])
        .await
        .unwrap();
    let last = load(&s, &key).await;
    assert_eq!(last.book.sales.get(&key), Some(&sale("refunded")));
    assert_eq!(revision(&last, &key), Some(2));
}

#[tokio::test]
async fn put_sales_is_conditional_on_the_revision_loaded() {
    let s = stack().await;
    let key = order(&shop(), 821);
    let none = Loaded::default();
    s.store.put_sales(&key, &sale("paid"), &none).await.unwrap();
    let first = load(&s, &key).await;
    assert_eq!(revision(&first, &key), Some(1));

    // Loaded had none, but the record exists now: a second writer of a new record loses.
    let again = s.store.put_sales(&key, &sale("voided"), &none).await;
    assert!(is_conflict(&again), "{again:?}");

    // Loaded at revision 1: writes revision 2; then revision 1 is stale.
    let mut leased = sale("paid");
    leased.confirmed_at = Some(Timestamp(7));
    s.store.put_sales(&key, &leased, &first).await.unwrap();
    let stale = s.store.put_sales(&key, &sale("voided"), &first).await;
    assert!(is_conflict(&stale), "{stale:?}");
    let now = load(&s, &key).await;
    assert_eq!(now.book.sales.get(&key), Some(&leased));
    assert_eq!(revision(&now, &key), Some(2));
}

#[tokio::test]
async fn a_look_up_returns_the_setting_beside_the_locations() {
    let s = stack().await;
    s.import_sample_map().await;
    let before = s.store.lookup(&shop(), &[], &[], &[]).await.unwrap();
    assert_eq!(before.sales, SalesSettings::default(), "never set: off");
    assert!(!before.locations.is_empty());

    let on = SalesSettings {
        enabled: true,
        authorized: true,
    };
    s.store.put_sales_settings(&shop(), on).await.unwrap();
    let after = s.store.lookup(&shop(), &[], &[], &[]).await.unwrap();
    assert_eq!(after.sales, on);
    assert_eq!(
        after.locations, before.locations,
        "the setting is no location"
    );
    let other = ShopDomain::new("other-shop.myshopify.com");
    let theirs = s.store.lookup(&other, &[], &[], &[]).await.unwrap();
    assert_eq!(theirs.sales, SalesSettings::default());

    let off = SalesSettings {
        enabled: false,
        authorized: true,
    };
    s.store.put_sales_settings(&shop(), off).await.unwrap();
    let last = s.store.lookup(&shop(), &[], &[], &[]).await.unwrap();
    assert_eq!(last.sales, off);
}

#[tokio::test]
async fn shop_redact_deletes_the_order_records_and_the_setting() {
    let s = stack().await;
    let other = ShopDomain::new("other-shop.myshopify.com");
    let (mine, theirs) = (order(&shop(), 822), order(&other, 822));
    let none = Loaded::default();
    s.store
        .put_sales(&mine, &sale("paid"), &none)
        .await
        .unwrap();
    s.store
        .put_sales(&theirs, &sale("paid"), &none)
        .await
        .unwrap();
    let on = SalesSettings {
        enabled: true,
        authorized: false,
    };
    s.store.put_sales_settings(&shop(), on).await.unwrap();
    s.store.put_sales_settings(&other, on).await.unwrap();

    let mut cursor: Option<RedactCursor> = None;
    let mut deleted = 0;
    for _ in 0..100 {
        let step = s
            .store
            .redact_shop(&shop(), cursor.as_ref(), 10)
            .await
            .unwrap();
        deleted += step.deleted;
        cursor = step.next;
        if cursor.is_none() {
            break;
        }
    }
    assert!(cursor.is_none(), "the redaction did not finish");
    assert_eq!(deleted, 2, "the order record and the setting");

    assert!(load(&s, &mine).await.book.sales.is_empty());
    let map = s.store.lookup(&shop(), &[], &[], &[]).await.unwrap();
    assert_eq!(map.sales, SalesSettings::default());
    // Another shop's are kept.
    assert_eq!(
        load(&s, &theirs).await.book.sales.get(&theirs),
        Some(&sale("paid"))
    );
    assert_eq!(
        s.store.lookup(&other, &[], &[], &[]).await.unwrap().sales,
        on
    );
}
