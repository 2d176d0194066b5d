//! The in-memory store keeps the order flow's records as the DynamoDB adapter does: the order
//! record commits with its batch (one transaction action, revision-checked), loads back with
//! its revision under `SALE#<shop>#<order>`, `put_sales` is conditional on it, the shop's
//! setting comes back with a look-up (off until set), and `shop/redact` deletes both.

use std::collections::BTreeMap;

use stockbridge_core::ports::{Loaded, PortError, SkuMapStore, StockStore, Wanted};
use stockbridge_domain::batch::Plan;
use stockbridge_domain::event::RedactCursor;
use stockbridge_domain::ids::{InventoryItemId, LineItemId, OrderId, ShopDomain, Timestamp};
use stockbridge_domain::sales::{Decision, GoodsLine, SalesRecord, SalesSettings};
use stockbridge_domain::stock::OrderKey;
use stockbridge_memory::stock::transaction_actions;
use stockbridge_memory::MemoryStore;

fn shop() -> ShopDomain {
    ShopDomain::new("s.myshopify.com")
}

fn order(shop: &ShopDomain, id: u64) -> OrderKey {
    OrderKey {
        shop: shop.clone(),
        order: OrderId(id),
    }
}

fn sale(payment: &str) -> SalesRecord {
    SalesRecord {
        number: Some("#1001".into()),
        payment: Some(payment.into()),
        goods: BTreeMap::from([(
            LineItemId(11),
            GoodsLine {
                item: InventoryItemId(45),
                quantity: 2,
            },
        )]),
        decision: Decision::Goes {
            since: Timestamp(5),
        },
        ..SalesRecord::default()
    }
}

fn plan(key: &OrderKey, record: &SalesRecord) -> Plan {
    let mut plan = Plan::default();
    plan.book.sales.insert(key.clone(), record.clone());
    plan.changed_sales.insert(key.clone());
    plan
}

async fn load(store: &MemoryStore, key: &OrderKey) -> Loaded {
    let mut wanted = Wanted::default();
    wanted.orders.insert(key.clone());
    store.load(&wanted).await.unwrap()
}

fn revision(loaded: &Loaded, key: &OrderKey) -> Option<u64> {
    let pk = format!("SALE#{}#{}", key.shop, key.order);
    loaded.revisions.get(&pk).copied()
}

fn is_conflict(result: &Result<(), PortError>) -> bool {
    matches!(result, Err(PortError::Conflict(_)))
}

#[tokio::test]
async fn an_order_record_commits_as_one_action_and_loads_back_with_its_revision() {
    let store = MemoryStore::new();
    let key = order(&shop(), 820);
    let first = plan(&key, &sale("paid"));
    assert_eq!(transaction_actions(&first, &[]), 1);
    store.commit(&first, &Loaded::default(), &[]).await.unwrap();
    let loaded = load(&store, &key).await;
    assert_eq!(loaded.book.sales.get(&key), Some(&sale("paid")));
    assert_eq!(revision(&loaded, &key), Some(1));

    let stale = store
        .commit(&plan(&key, &sale("voided")), &Loaded::default(), &[])
        .await;
    assert!(is_conflict(&stale), "{stale:?}");
    store
        .commit(&plan(&key, &sale("refunded")), &loaded, &[])
        .await
        .unwrap();
    assert_eq!(store.sale(&key), Some(sale("refunded")));
    assert_eq!(store.sale_revision(&key), Some(2));
}

#[tokio::test]
async fn put_sales_is_conditional_on_the_revision_loaded() {
    let store = MemoryStore::new();
    let key = order(&shop(), 821);
    let none = Loaded::default();
    store.put_sales(&key, &sale("paid"), &none).await.unwrap();
    let again = store.put_sales(&key, &sale("voided"), &none).await;
    assert!(is_conflict(&again), "{again:?}");
    let first = load(&store, &key).await;
    store
        .put_sales(&key, &sale("refunded"), &first)
        .await
        .unwrap();
    let stale = store.put_sales(&key, &sale("voided"), &first).await;
    assert!(is_conflict(&stale), "{stale:?}");
    assert_eq!(store.sale(&key), Some(sale("refunded")));
    assert_eq!(store.sale_revision(&key), Some(2));
}

#[tokio::test]
async fn the_setting_is_off_until_set_and_read_back_by_a_look_up() {
    let store = MemoryStore::new();
    let map = store.lookup(&shop(), &[], &[], &[]).await.unwrap();
    assert_eq!(map.sales, SalesSettings::default());
    let on = SalesSettings {
        enabled: true,
        authorized: true,
    };
    store.put_sales_settings(&shop(), on).await.unwrap();
    assert_eq!(
        store.lookup(&shop(), &[], &[], &[]).await.unwrap().sales,
        on
    );
    let other = ShopDomain::new("o.myshopify.com");
    let theirs = store.lookup(&other, &[], &[], &[]).await.unwrap();
    assert_eq!(theirs.sales, SalesSettings::default());
}

#[tokio::test]
async fn shop_redact_deletes_the_order_records_and_the_setting_only_of_that_shop() {
    let store = MemoryStore::new();
    let other = ShopDomain::new("o.myshopify.com");
    let none = Loaded::default();
    let on = SalesSettings {
        enabled: true,
        authorized: false,
    };
    for s in [shop(), other.clone()] {
        store
            .put_sales(&order(&s, 1), &sale("paid"), &none)
            .await
            .unwrap();
        store
            .put_sales(&order(&s, 2), &sale("paid"), &none)
            .await
            .unwrap();
        store.put_sales_settings(&s, on).await.unwrap();
    }
    assert_eq!(store.shop_record_count(&shop()), 3);
    assert_eq!(store.record_count(), 6);
    let mut cursor: Option<RedactCursor> = None;
    let mut deleted = 0;
    loop {
        let step = store
            .redact_shop(&shop(), cursor.as_ref(), 1)
            .await
            .unwrap();
        deleted += step.deleted;
        cursor = step.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(deleted, 3);
    assert_eq!(store.shop_record_count(&shop()), 0);
    assert_eq!(store.sale(&order(&shop(), 1)), None);
    let map = store.lookup(&shop(), &[], &[], &[]).await.unwrap();
    assert_eq!(map.sales, SalesSettings::default());
    assert_eq!(store.sale(&order(&other, 2)), Some(sale("paid")));
    assert_eq!(store.lookup(&other, &[], &[], &[]).await.unwrap().sales, on);
}
