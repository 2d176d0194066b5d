//! The in-memory adapters keep the semantics the handlers rely on, as the DynamoDB, SQS and ERP
//! adapters do: conditional writes, all-or-nothing commits, DynamoDB's transaction limit, the
//! inbox's keys and order, the queue's ids and delays, the ERP's once-per-key writes.

use std::collections::BTreeSet;
use std::time::Duration;

use rust_decimal::Decimal;
use stockbridge_core::ports::{
    Erp, ErpError, EventQueue, Inbox, Loaded, PortError, SkuMapStore, StockStore, Wanted,
};
use stockbridge_domain::batch::{Cause, LedgerEntry, Outcome, Plan};
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_domain::event::{EventBody, InventoryEvent, Part, Source, SCHEMA_VERSION};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp, VariantId};
use stockbridge_domain::skumap::{ItemMapping, UomFactor};
use stockbridge_domain::stock::{Quantities, StockKey, StockLevel};
use stockbridge_memory::{Fault, MemoryErp, MemoryQueue, MemoryStore, StoreOp};

fn shop() -> ShopDomain {
    ShopDomain::new("s.myshopify.com")
}

fn key(item: u64) -> StockKey {
    StockKey {
        shop: shop(),
        item: InventoryItemId(item),
        location: LocationId(1),
    }
}

fn event(key: &str) -> InventoryEvent {
    InventoryEvent {
        schema: SCHEMA_VERSION,
        key: key.into(),
        shop: shop(),
        source: Source {
            topic: "test".into(),
            webhook_id: key.into(),
            event_id: None,
            api_version: None,
            triggered_at: Timestamp(0),
            received_at: Timestamp(0),
        },
        part: Part::WHOLE,
        body: EventBody::Stock { changes: vec![] },
    }
}

/// A plan setting `available` of each item, with a log entry each, marking `keys` done.
fn plan(items: &[(u64, i64)], keys: &[&str]) -> Plan {
    let mut plan = Plan::default();
    for (item, available) in items {
        let level = StockLevel {
            available: *available,
            ..StockLevel::default()
        };
        plan.book.levels.insert(key(*item), level);
        plan.changed_levels.insert(key(*item));
        plan.ledger.push(LedgerEntry {
            key: key(*item),
            before: Quantities::default(),
            after: Quantities {
                available: *available,
                committed: 0,
                on_hand: *available,
                unavailable: 0,
            },
            causes: vec![Cause {
                event_key: "k".into(),
                topic: "test".into(),
                webhook_id: "w".into(),
                event_id: None,
                note: None,
            }],
        });
    }
    plan.outcomes = keys
        .iter()
        .map(|k| (k.to_string(), Outcome::Applied))
        .collect();
    plan
}

async fn load(store: &MemoryStore, items: &[u64]) -> Loaded {
    let wanted = Wanted {
        levels: items.iter().map(|i| key(*i)).collect(),
        ..Wanted::default()
    };
    store.load(&wanted).await.unwrap()
}

#[tokio::test]
async fn a_commit_is_all_or_nothing_against_the_revisions_it_loaded() {
    let store = MemoryStore::new();
    store
        .commit(&plan(&[(1, 5)], &["a"]), &Loaded::default(), &[])
        .await
        .unwrap();
    assert_eq!(store.revision(&key(1)), Some(1));
    let stale = load(&store, &[1, 2]).await;
    store
        .commit(&plan(&[(1, 6)], &["b"]), &stale, &[])
        .await
        .unwrap();
    assert_eq!(store.revision(&key(1)), Some(2));
    // Item 1 changed since `stale` was loaded: nothing of this plan is written, item 2 neither.
    let result = store
        .commit(&plan(&[(1, 7), (2, 1)], &["c"]), &stale, &[])
        .await;
    assert!(matches!(result, Err(PortError::Conflict(_))), "{result:?}");
    assert_eq!(store.level(&key(1)).map(|l| l.available), Some(6));
    assert_eq!(store.level(&key(2)), None);
    assert!(!store.applied_keys().contains_key("c"));
    assert_eq!(store.ledger(&key(1)).len(), 2);
    // A record that exists but was not loaded must not be overwritten either.
    let result = store
        .commit(&plan(&[(1, 8)], &["d"]), &Loaded::default(), &[])
        .await;
    assert!(matches!(result, Err(PortError::Conflict(_))));
}

#[tokio::test]
async fn a_key_recorded_meanwhile_is_a_conflict() {
    let store = MemoryStore::new();
    store
        .commit(&plan(&[], &["a"]), &Loaded::default(), &[])
        .await
        .unwrap();
    let result = store
        .commit(&plan(&[(1, 1)], &["a"]), &Loaded::default(), &[])
        .await;
    assert!(matches!(result, Err(PortError::Conflict(_))));
    assert_eq!(store.level(&key(1)), None);
    let applied = store.applied(&["a".into(), "z".into()]).await.unwrap();
    assert_eq!(applied, ["a".to_string()].into_iter().collect());
}

#[tokio::test]
async fn a_plan_over_100_actions_is_too_large_as_in_dynamodb() {
    let store = MemoryStore::new();
    // 33 levels + 33 log entries + 34 keys = 100 actions: one transaction.
    let items: Vec<(u64, i64)> = (0..33).map(|i| (i, 1)).collect();
    let keys: Vec<String> = (0..34).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    store
        .commit(&plan(&items, &refs), &Loaded::default(), &[])
        .await
        .unwrap();
    // One more key: 101.
    let store = MemoryStore::new();
    let keys: Vec<String> = (0..35).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let result = store
        .commit(&plan(&items, &refs), &Loaded::default(), &[])
        .await;
    assert!(
        matches!(result, Err(PortError::TooLarge(101))),
        "{result:?}"
    );
    assert_eq!(store.record_count(), 0);
    // Parked events count only when their event is in the batch.
    let mut parked = plan(&[], &["p"]);
    parked.parked = vec![(
        "p".into(),
        stockbridge_domain::batch::Unresolved {
            changes: vec![],
            missing: vec!["item 9".into()],
        },
    )];
    let store = MemoryStore::new();
    store
        .commit(&parked, &Loaded::default(), &[])
        .await
        .unwrap();
    assert!(store.parked(&shop()).is_empty());
    store
        .commit(&parked, &Loaded::default(), &[event("p")])
        .await
        .unwrap_err();
    let store = MemoryStore::new();
    store
        .commit(&parked, &Loaded::default(), &[event("p")])
        .await
        .unwrap();
    assert_eq!(store.parked(&shop())[0].missing, vec!["item 9".to_string()]);
}

#[tokio::test]
async fn put_levels_is_conditional_on_the_loaded_revisions() {
    let store = MemoryStore::new();
    store
        .commit(&plan(&[(1, 5)], &["a"]), &Loaded::default(), &[])
        .await
        .unwrap();
    let loaded = load(&store, &[1]).await;
    let owed = StockLevel {
        available: 5,
        erp_owed: 3,
        ..StockLevel::default()
    };
    store
        .put_levels(&[(key(1), owed.clone())], &loaded)
        .await
        .unwrap();
    assert_eq!(
        (store.revision(&key(1)), store.level(&key(1))),
        (Some(2), Some(owed.clone()))
    );
    let again = store.put_levels(&[(key(1), owed.clone())], &loaded).await;
    assert!(matches!(again, Err(PortError::Conflict(_))));
    let many: Vec<_> = (0..101).map(|i| (key(i), owed.clone())).collect();
    assert!(matches!(
        store.put_levels(&many, &loaded).await,
        Err(PortError::TooLarge(101))
    ));
}

#[tokio::test]
async fn faults_fail_the_next_calls_and_a_lost_answer_still_writes() {
    let store = MemoryStore::new();
    store.fail_next(StoreOp::Commit, 1, Fault::Unavailable);
    store.fail_next(StoreOp::Commit, 1, Fault::AnswerLost);
    let p = plan(&[(1, 5)], &["a"]);
    let first = store.commit(&p, &Loaded::default(), &[]).await;
    assert!(matches!(first, Err(PortError::Unavailable { .. })));
    assert_eq!(store.level(&key(1)), None);
    let second = store.commit(&p, &Loaded::default(), &[]).await;
    assert!(matches!(second, Err(PortError::Unavailable { .. })));
    assert_eq!(store.level(&key(1)).map(|l| l.available), Some(5));
    assert_eq!(store.calls(StoreOp::Commit), 2);
}

fn mapping(item: u64, variant: u64, sku: &str) -> ItemMapping {
    ItemMapping {
        shop: shop(),
        item: InventoryItemId(item),
        variant: VariantId(variant),
        sku: sku.into(),
        erp_item: format!("E{item}"),
        uom: UomFactor::identity(),
    }
}

#[tokio::test]
async fn the_sku_map_answers_by_item_variant_and_sku_and_lists_in_item_order() {
    let store = MemoryStore::new();
    store
        .put_items(&[
            mapping(30, 300, "Tee-Red"),
            mapping(10, 100, "MUG"),
            mapping(20, 200, "CAP"),
        ])
        .await
        .unwrap();
    let map = store
        .lookup(
            &shop(),
            &[InventoryItemId(10)],
            &[VariantId(200)],
            &["tee-red".into()],
        )
        .await
        .unwrap();
    let items: BTreeSet<u64> = map.items.keys().map(|i| i.0).collect();
    assert_eq!(items, BTreeSet::from([10, 20, 30]));
    assert_eq!(map.by_sku.get("TEE-RED"), Some(&InventoryItemId(30)));
    let page = store
        .items_after(&shop(), Some(InventoryItemId(10)), 1)
        .await
        .unwrap();
    assert_eq!(page.iter().map(|m| m.item.0).collect::<Vec<_>>(), vec![20]);
    let other = ShopDomain::new("other.myshopify.com");
    assert!(store
        .items_after(&other, None, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_redaction_removes_the_shop_and_counts_records_as_dynamodb_holds_them() {
    let store = MemoryStore::new();
    store.put_items(&[mapping(10, 100, "MUG")]).await.unwrap();
    let other = ShopDomain::new("other.myshopify.com");
    store.put_report(&other, "r1", "{}").await.unwrap();
    store
        .commit(
            &plan(&[(1, 5)], &["s.myshopify.com:w:0"]),
            &Loaded::default(),
            &[],
        )
        .await
        .unwrap();
    // Mapping + listing + 3 aliases (variant, SKU, ERP item), level + log entry, idempotency
    // record; one page at a time, each resuming after the last record the one before read.
    let (mut deleted, mut cursor, mut steps) = (0, None, 0);
    loop {
        let step = store
            .redact_shop(&shop(), cursor.as_ref(), 2)
            .await
            .unwrap();
        deleted += step.deleted;
        steps += 1;
        match step.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(deleted, 8);
    assert!(steps >= 3, "2 places a page: {steps} steps");
    assert_eq!(store.record_count(), 1);
    assert_eq!(store.shop_record_count(&shop()), 0);
    assert_eq!(
        store.reports(&other, 0).await.unwrap(),
        vec!["{}".to_string()]
    );
}

#[tokio::test]
async fn reports_come_newest_first_and_parked_events_go_once() {
    let store = MemoryStore::new();
    for run in ["2026-01", "2026-03", "2026-02"] {
        store.put_report(&shop(), run, run).await.unwrap();
    }
    assert_eq!(
        store.reports(&shop(), 2).await.unwrap(),
        vec!["2026-03", "2026-02"]
    );
    assert!(!store.remove_parked(&shop(), "nothing").await.unwrap());
}

#[tokio::test]
async fn the_queue_keeps_ids_and_delays_and_a_failed_send_enqueues_nothing() {
    let queue = MemoryQueue::new();
    queue.fail_next_sends(1);
    let events = [event("a"), event("b")];
    assert!(queue.send(&events).await.is_err());
    assert_eq!(queue.waiting(), 0);
    queue
        .send_after(&events, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(queue
        .sent()
        .iter()
        .all(|m| m.delay == Duration::from_secs(900)));
    let first = queue.receive(1);
    assert_eq!(first[0].0, "m1");
    queue.redeliver(&first);
    let all = queue.drain();
    assert_eq!(
        all.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        vec!["m2", "m1"]
    );
    assert_eq!(InventoryEvent::from_json(&all[1].1).unwrap().key, "a");
}

fn write(key: &str, item: &str, change: i64) -> ErpWrite {
    ErpWrite {
        key: key.into(),
        warehouse: "WH".into(),
        reason: "test".into(),
        as_of: "2026-11-27T10:00:00Z".into(),
        lines: vec![ErpLine {
            item: item.into(),
            change: Decimal::from(change),
            target: None,
        }],
    }
}

#[tokio::test]
async fn the_erp_applies_each_key_once_and_fails_when_told() {
    let erp = MemoryErp::new();
    erp.set_on_hand("WH", "TEE", Decimal::from(50));
    erp.apply(&write("k1", "TEE", -3)).await.unwrap();
    erp.apply(&write("k1", "TEE", -3)).await.unwrap();
    assert_eq!(erp.on_hand("WH", "TEE"), Some(Decimal::from(47)));
    erp.fail_next(1, ErpError::Throttled { retry_after_ms: 5 });
    assert_eq!(
        erp.apply(&write("k2", "TEE", 1)).await,
        Err(ErpError::Throttled { retry_after_ms: 5 })
    );
    erp.lose_next_answers(1);
    assert!(erp.apply(&write("k2", "TEE", 1)).await.is_err());
    assert_eq!(erp.on_hand("WH", "TEE"), Some(Decimal::from(48)));
    assert_eq!(erp.calls(), vec!["k1", "k1", "k2", "k2"]);
    erp.know_only(["TEE"]);
    assert!(matches!(
        erp.apply(&write("k3", "HAT", 1)).await,
        Err(ErpError::Rejected(_))
    ));
    let levels = erp
        .levels("WH", &["TEE".into(), "HAT".into()])
        .await
        .unwrap();
    assert_eq!(levels.len(), 1);
    assert_eq!(levels["TEE"], Decimal::from(48));
}

#[tokio::test]
async fn alerts_are_kept_in_order_and_a_refused_one_is_not() {
    use stockbridge_core::ports::AlertSink;
    let alerts = stockbridge_memory::MemoryAlerts::new();
    alerts.fail_next(1);
    let detail = serde_json::json!({"sku": "TEE", "variance": -3});
    assert!(alerts
        .publish("InventoryVarianceDetected", &detail)
        .await
        .is_err());
    alerts
        .publish("InventoryVarianceDetected", &detail)
        .await
        .unwrap();
    alerts
        .publish("ReconcileFinished", &serde_json::json!({}))
        .await
        .unwrap();
    let published = alerts.published();
    assert_eq!(published.len(), 2);
    assert_eq!(
        published[0],
        ("InventoryVarianceDetected".to_string(), detail)
    );
    assert_eq!(published[1].0, "ReconcileFinished");
}
