//! The ERP sync (`ErpSync`) over the in-memory store, Shopify, bus and queue: an ERP receipt
//! reaches Shopify once whatever is delivered twice or late, a storefront sale racing the write
//! survives, the buffer and a never-sellable location hold, a write owed to the ERP defers the
//! change, Shopify down schedules a retry, the reorder signal fires once per window, and the
//! restock date and the field map reach the variant's metafields.

mod support;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use stockbridge_core::erp_sync::{ErpSync, REORDER_DETAIL_TYPE};
use stockbridge_core::ports::{
    Loaded, ShopifyError, StockStore, StorefrontMap, StorefrontSettings,
};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::event::{
    EventBody, InventoryEvent, Part, ShopifyQuantities, Source, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{InventoryItemId, LocationId, Timestamp};
use stockbridge_domain::stock::StockLevel;
use stockbridge_domain::storefront::{
    ErpChange, ErpMove, FieldLink, FieldMap, Restock, SellRule, RESTOCK_DATE_KEY,
    RESTOCK_NAMESPACE, RESTOCK_QUANTITY_KEY,
};
use stockbridge_memory::{MemoryAlerts, MemoryQueue, MemoryShopify, MemoryStore};
use support::*;

type Sync = ErpSync<MemoryStore, MemoryShopify, MemoryAlerts, MemoryQueue>;

struct World {
    store: MemoryStore,
    shopify: MemoryShopify,
    alerts: MemoryAlerts,
    queue: MemoryQueue,
    sync: Sync,
}

async fn world() -> World {
    let store = mapped_store().await;
    let shopify = MemoryShopify::new();
    // Tees: 50 available at the warehouse, 10 at the shop floor.
    shopify.set_level(TEE.0, WH, quantities(50, 0));
    shopify.set_level(TEE.0, STORE, quantities(10, 0));
    shopify.set_level(MUG.0, WH, quantities(4, 0));
    let alerts = MemoryAlerts::new();
    let queue = MemoryQueue::new();
    let sync = ErpSync {
        shop: shop(),
        store: store.clone(),
        shopify: shopify.clone(),
        alerts: alerts.clone(),
        retries: queue.clone(),
        stock_events: queue.clone(),
        metrics: Metrics::silent("test-erp-sync"),
    };
    World {
        store,
        shopify,
        alerts,
        queue,
        sync,
    }
}

fn quantities(available: i64, committed: i64) -> ShopifyQuantities {
    ShopifyQuantities {
        available,
        committed,
        on_hand: 0,
        reserved: 0,
        damaged: 0,
        safety_stock: 0,
        quality_control: 0,
        incoming: 0,
    }
}

fn at(n: i64) -> Timestamp {
    Timestamp(1_800_000_000_000_000_000 + n * 1_000_000_000)
}

fn receipt(id: &str, on_hand: i64, n: i64) -> ErpChange {
    ErpChange::Stock {
        warehouse: "WH".into(),
        item: "TEE".into(),
        on_hand: Decimal::from(on_hand),
        as_of: at(n),
        moves: vec![ErpMove {
            id: id.into(),
            quantity: Decimal::from(10),
            kind: "receipt".into(),
            document: Some("PO-1".into()),
            done_at: at(n),
        }],
        reorder_point: None,
    }
}

fn erp_event(key: &str, changes: Vec<ErpChange>) -> InventoryEvent {
    InventoryEvent {
        schema: SCHEMA_VERSION,
        key: format!("{SHOP}:erp:{key}"),
        shop: shop(),
        source: Source::internal("erp/poll", Timestamp::now()),
        part: Part::WHOLE,
        body: EventBody::ErpChange {
            changes,
            attempt: 0,
        },
    }
}

fn available(w: &World, item: u64, location: u64) -> i64 {
    let level = w
        .shopify
        .adjustments()
        .into_iter()
        .rev()
        .find(|a| a.item == InventoryItemId(item) && a.location == LocationId(location))
        .map(|a| a.after);
    level.unwrap_or(i64::MIN)
}

#[tokio::test]
async fn a_receipt_reaches_shopify_once_whatever_is_delivered_twice_or_late() {
    let w = world().await;
    let first = erp_event("p1", vec![receipt("m1", 60, 10)]);
    let report = w.sync.apply_messages(&message(&first)).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.writes, 1);
    // Delivered again, and an older snapshot arriving late: nothing more.
    w.sync.apply_messages(&message(&first)).await;
    w.sync
        .apply_messages(&message(&erp_event("p0", vec![receipt("m0", 55, 5)])))
        .await;
    let ours = w.shopify.adjustments();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!((ours[0].delta, ours[0].after), (10, 60));
    assert!(ours[0].key.starts_with("sb-erp-"));
    // The shop floor (Shopify-master) is never written from the ERP.
    assert!(ours.iter().all(|a| a.location == LocationId(WH)));
}

#[tokio::test]
async fn a_storefront_sale_racing_the_write_survives() {
    let w = world().await;
    // A sale of 1 lands between the sync's read and its write.
    w.shopify.before_next_write(|levels| {
        if let Some(q) = levels.get_mut(&(InventoryItemId(TEE.0), LocationId(WH))) {
            q.available -= 1;
            q.committed += 1;
        }
    });
    let report = w
        .sync
        .apply_messages(&message(&erp_event("p1", vec![receipt("m1", 60, 10)])))
        .await;
    assert!(report.failed.is_empty(), "{report:?}");
    let ours = w.shopify.adjustments();
    assert_eq!(ours.len(), 1, "one change, after the re-read: {ours:?}");
    // 60 on hand, 1 committed by the sale: 59 sellable; the sale's unit is not sold twice.
    assert_eq!(ours[0].after, 59);
    assert_eq!(w.sync.metrics.total("StorefrontStale"), 1.0);
}

#[tokio::test]
async fn the_buffer_and_a_never_sellable_location_hold() {
    let w = world().await;
    let mut settings = StorefrontSettings::default();
    settings.rules.locations.insert(
        LocationId(WH),
        SellRule {
            buffer: 5,
            sellable: true,
        },
    );
    w.store
        .put_storefront_settings(&shop(), &settings)
        .await
        .expect("settings");
    w.sync
        .apply_messages(&message(&erp_event("p1", vec![receipt("m1", 60, 10)])))
        .await;
    assert_eq!(available(&w, TEE.0, WH), 55);
    settings.rules.locations.insert(
        LocationId(WH),
        SellRule {
            buffer: 0,
            sellable: false,
        },
    );
    w.store
        .put_storefront_settings(&shop(), &settings)
        .await
        .expect("settings");
    w.sync
        .apply_messages(&message(&erp_event("p2", vec![receipt("m2", 70, 20)])))
        .await;
    assert_eq!(available(&w, TEE.0, WH), 0);
}

#[tokio::test]
async fn a_write_owed_to_the_erp_defers_the_change_and_shopify_down_retries_it() {
    let w = world().await;
    let level = StockLevel {
        available: 50,
        erp_owed: -2,
        ..StockLevel::default()
    };
    w.store
        .put_levels(&[(key(TEE.0, WH), level)], &Loaded::default())
        .await
        .expect("level");
    let report = w
        .sync
        .apply_messages(&message(&erp_event("p1", vec![receipt("m1", 60, 10)])))
        .await;
    assert!(
        report.failed.is_empty() && report.retried == 1,
        "{report:?}"
    );
    assert!(w.shopify.adjustments().is_empty());
    let again = w.queue.sent();
    assert_eq!(again.len(), 1);
    assert!(again[0].body.contains("\"attempt\":1"), "{}", again[0].body);

    // Shopify down: sent again, nothing written, nothing failed.
    let w = world().await;
    w.shopify
        .fail_next([ShopifyError::Unavailable("down".into())]);
    let report = w
        .sync
        .apply_messages(&message(&erp_event("p1", vec![receipt("m1", 60, 10)])))
        .await;
    assert_eq!((report.failed.len(), report.retried), (0, 1), "{report:?}");
    // The retry, delivered, writes once.
    let retry = w.queue.drain();
    let report = w.sync.apply_messages(&retry).await;
    assert_eq!(report.writes, 1, "{report:?}");
    assert_eq!(available(&w, TEE.0, WH), 60);
}

#[tokio::test]
async fn the_reorder_signal_fires_once_per_window() {
    let w = world().await;
    let settings = StorefrontSettings {
        reorder_points: BTreeMap::from([("TEE".to_string(), Decimal::from(20))]),
        ..StorefrontSettings::default()
    };
    w.store
        .put_storefront_settings(&shop(), &settings)
        .await
        .expect("settings");
    for (n, on_hand) in [(1, 19), (2, 15), (3, 25), (4, 18)] {
        let e = erp_event(
            &format!("p{n}"),
            vec![receipt(&format!("m{n}"), on_hand, n)],
        );
        let report = w.sync.apply_messages(&message(&e)).await;
        assert!(report.failed.is_empty(), "{report:?}");
    }
    let signals: Vec<_> = w
        .alerts
        .published()
        .into_iter()
        .filter(|(t, _)| t == REORDER_DETAIL_TYPE)
        .collect();
    assert_eq!(signals.len(), 1, "{signals:?}");
    assert_eq!(signals[0].1["erp_item"], "TEE");
    assert_eq!(signals[0].1["point_from"], "skumap");
}

#[tokio::test]
async fn the_restock_date_is_set_moved_and_cleared() {
    let w = world().await;
    let restock = |date: &str, n: i64| ErpChange::Restock {
        item: "MUG".into(),
        next: Some(Restock {
            date: date.into(),
            quantity: Decimal::from(36),
        }),
        as_of: at(n),
    };
    let metafield = |key: &str| w.shopify.metafield(MUG.1, RESTOCK_NAMESPACE, key);
    w.sync
        .apply_messages(&message(&erp_event("r1", vec![restock("2026-12-20", 1)])))
        .await;
    assert_eq!(
        metafield(RESTOCK_DATE_KEY),
        Some(("date".into(), "2026-12-20".into()))
    );
    // 36 ERP units of a dozen listing: 3.
    assert_eq!(
        metafield(RESTOCK_QUANTITY_KEY),
        Some(("number_integer".into(), "3".into()))
    );
    w.sync
        .apply_messages(&message(&erp_event("r2", vec![restock("2026-12-24", 2)])))
        .await;
    assert_eq!(
        metafield(RESTOCK_DATE_KEY).map(|m| m.1).as_deref(),
        Some("2026-12-24")
    );
    // An older statement arriving late changes nothing.
    w.sync
        .apply_messages(&message(&erp_event("r0", vec![restock("2026-12-01", 0)])))
        .await;
    assert_eq!(
        metafield(RESTOCK_DATE_KEY).map(|m| m.1).as_deref(),
        Some("2026-12-24")
    );
    let cleared = ErpChange::Restock {
        item: "MUG".into(),
        next: None,
        as_of: at(3),
    };
    w.sync
        .apply_messages(&message(&erp_event("r3", vec![cleared])))
        .await;
    assert_eq!(metafield(RESTOCK_DATE_KEY), None);
    assert_eq!(metafield(RESTOCK_QUANTITY_KEY), None);
}

#[tokio::test]
async fn the_field_map_carries_only_what_the_shop_switched_on() {
    let w = world().await;
    let link = |field: &str, enabled: bool| FieldLink {
        erp_field: field.into(),
        namespace: "stockbridge".into(),
        key: field.into(),
        kind: "boolean".into(),
        enabled,
    };
    let settings = StorefrontSettings {
        fields: FieldMap {
            links: vec![link("pre_order", true), link("discontinued", false)],
        },
        ..StorefrontSettings::default()
    };
    w.store
        .put_storefront_settings(&shop(), &settings)
        .await
        .expect("settings");
    let fields = ErpChange::Fields {
        item: "TEE".into(),
        fields: BTreeMap::from([
            ("pre_order".to_string(), "true".to_string()),
            ("discontinued".to_string(), "true".to_string()),
        ]),
        as_of: at(1),
    };
    w.sync
        .apply_messages(&message(&erp_event("f1", vec![fields])))
        .await;
    assert_eq!(
        w.shopify.metafield(TEE.1, "stockbridge", "pre_order"),
        Some(("boolean".into(), "true".into()))
    );
    assert_eq!(
        w.shopify.metafield(TEE.1, "stockbridge", "discontinued"),
        None
    );
}

#[tokio::test]
async fn a_message_that_is_not_an_erp_change_fails_alone() {
    let w = world().await;
    let mut batch = message(&erp_event("p1", vec![receipt("m1", 60, 10)]));
    batch.push(("bad".into(), "{not json".into()));
    let report = w.sync.apply_messages(&batch).await;
    assert_eq!(report.failed, vec!["bad".to_string()]);
    assert_eq!(report.writes, 1);
}

/// What the consumer owes the ERP at the shop floor after Shopify's on-hand there moved by
/// `moved` (received, or sent off), with or without the ERP's transfer of them seen first.
async fn owed_after(moved: i64, transfer_seen: bool) -> (i64, i64) {
    let w = world().await;
    let consumer = consumer_echo(&w.store);
    let stock = |webhook: &str, available: i64, n: u32| {
        message(&event(webhook, vec![level(TEE.0, STORE, available, n)]))
    };
    consumer.apply_messages(&stock("w1", 10, 1)).await;
    let before = w
        .store
        .load(&stockbridge_core::ports::Wanted {
            levels: [key(TEE.0, STORE)].into_iter().collect(),
            ..Default::default()
        })
        .await
        .expect("load")
        .book
        .level(&key(TEE.0, STORE))
        .erp_owed;
    if transfer_seen {
        // The ERP moved 10 tees WH -> STORE: at STORE's warehouse the move is a transfer in.
        let change = ErpChange::Stock {
            warehouse: "STORE".into(),
            item: "TEE".into(),
            on_hand: Decimal::from(10 + moved),
            as_of: at(5),
            moves: vec![ErpMove {
                id: "t1".into(),
                quantity: Decimal::from(moved),
                kind: "transfer".into(),
                document: Some("IS-7".into()),
                done_at: at(5),
            }],
            reorder_point: None,
        };
        let report = w
            .sync
            .apply_messages(&message(&erp_event("t1", vec![change])))
            .await;
        assert!(report.failed.is_empty(), "{report:?}");
        // Shopify is not written at a Shopify-master location.
        assert!(w.shopify.adjustments().is_empty());
        // The credit goes to the stock consumer, once even if the fact comes twice.
        let sent = w.queue.drain();
        assert_eq!(sent.len(), 1, "{sent:?}");
        let twice = [sent.clone(), sent].concat();
        let report = consumer.apply_messages(&twice).await;
        assert!(report.failed.is_empty(), "{report:?}");
    }
    // The shop floor receives (or sends off) the goods in Shopify.
    consumer.apply_messages(&stock("w2", 10 + moved, 10)).await;
    let level = w
        .store
        .load(&stockbridge_core::ports::Wanted {
            levels: [key(TEE.0, STORE)].into_iter().collect(),
            ..Default::default()
        })
        .await
        .expect("load")
        .book
        .level(&key(TEE.0, STORE));
    (level.erp_owed - before, level.erp_ahead)
}

#[tokio::test]
async fn a_transfer_to_the_shop_floor_counts_once_in_each_system() {
    // Without the ERP's transfer seen, Shopify's receipt is owed to the ERP (+10)...
    assert_eq!(owed_after(10, false).await, (10, 0));
    // ...with it, the ERP already has it: nothing owed, and the credit is used up.
    assert_eq!(owed_after(10, true).await, (0, 0));
    // The same for a transfer out of the shop floor, sent off in Shopify.
    assert_eq!(owed_after(-4, false).await, (-4, 0));
    assert_eq!(owed_after(-4, true).await, (0, 0));
}

#[tokio::test]
async fn a_change_for_another_shop_fails_and_writes_nothing() {
    let w = world().await;
    let mut e = erp_event("p1", vec![receipt("m1", 60, 10)]);
    e.shop = stockbridge_domain::ids::ShopDomain::new("other.myshopify.com");
    let report = w.sync.apply_messages(&message(&e)).await;
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report
        .reasons
        .values()
        .any(|r| r.contains("other.myshopify.com")));
    assert!(w.shopify.adjustments().is_empty());
}
