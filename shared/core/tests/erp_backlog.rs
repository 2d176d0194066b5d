//! The ERP push under backlog and contention, over the in-memory store, queue and ERP: two
//! consumers over one warehouse hand over instead of backing off, more owed records than one
//! transaction takes are prepared in chunks and retried in bounded messages, a refused write
//! keeps its key and is parked after too many refusals (listed, released by an operator), and
//! the age of the oldest debt is reported while the ERP fails.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use rust_decimal::Decimal;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_push::{ErpPush, PushPolicy, RETRY_KEYS_PER_MESSAGE};
use stockbridge_core::ports::{ErpError, SkuMapStore};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::event::{EventBody, InventoryEvent};
use stockbridge_domain::ids::{InventoryItemId, Timestamp, VariantId};
use stockbridge_domain::skumap::{ItemMapping, UomFactor};
use stockbridge_memory::{EchoShopify, MemoryErp, MemoryQueue, MemoryStore};
use support::*;

type ErpConsumer = StockConsumer<MemoryStore, MemoryErp, MemoryQueue, EchoShopify<MemoryStore>>;

fn consumer_with(
    store: &MemoryStore,
    erp: &MemoryErp,
    queue: &MemoryQueue,
    policy: PushPolicy,
) -> ErpConsumer {
    let push = ErpPush::new(erp.clone(), policy, Metrics::silent("test-push"));
    StockConsumer::with_erp(
        store.clone(),
        Metrics::silent("test-consumer"),
        push,
        Some(queue.clone()),
    )
    .with_shopify(Some(EchoShopify::new(store.clone(), shop())))
}

fn push_metric(c: &ErpConsumer, name: &str) -> f64 {
    c.erp.as_ref().map_or(0.0, |p| p.metrics.total(name))
}

fn assert_settled(store: &MemoryStore) {
    for (key, level) in store.levels(&shop()) {
        assert_eq!(
            (level.erp_owed, level.erp_inflight.is_none()),
            (0, true),
            "{key} still owes the ERP: {level:?}"
        );
    }
}

/// The attempts of every `erp_retry` sent so far.
fn retry_attempts(queue: &MemoryQueue) -> Vec<u32> {
    queue
        .sent()
        .iter()
        .filter_map(|m| match &m.event.body {
            EventBody::ErpRetry { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn two_consumers_over_one_warehouse_hand_over_instead_of_backing_off() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    // A slow ERP: while one consumer sends, the other applies and pushes the same record.
    erp.set_latency(Duration::from_millis(200));
    let a = consumer_with(&store, &erp, &queue, fast_push());
    let b = consumer_with(&store, &erp, &queue, fast_push());
    for round in 0..10u32 {
        let to_a = messages(&[event(
            &format!("a-{round}"),
            vec![level(TEE.0, STORE, 10 + i64::from(round), 2 * round + 1)],
        )]);
        let to_b = messages(&[event(
            &format!("b-{round}"),
            vec![level(TEE.0, STORE, 20 + i64::from(round), 2 * round + 2)],
        )]);
        let later_b = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            b.apply_messages(&to_b).await
        };
        let (ra, rb) = tokio::join!(a.apply_messages(&to_a), later_b);
        assert!(ra.failed.is_empty() && rb.failed.is_empty());
    }
    let contended = push_metric(&a, "ErpContended") + push_metric(&b, "ErpContended");
    assert!(contended >= 1.0, "the pushes never overlapped");
    // The lease holder sent what became owed while it was sending: nothing waits for a retry.
    assert_settled(&store);
    assert_eq!(erp.on_hand("STORE", "TEE"), Some(Decimal::from(29)));
    // A push that met another's lease scheduled no ERP-failure retry: nothing escalated.
    let attempts = retry_attempts(&queue);
    assert!(attempts.iter().all(|a| *a == 0), "escalated: {attempts:?}");
    assert_eq!(
        a.metrics.total("ErpRetryScheduled/erp") + b.metrics.total("ErpRetryScheduled/erp"),
        0.0
    );
    // The contention retries find nothing left to send.
    let writes = erp.writes().len();
    drain(&queue, &a).await;
    assert_eq!(erp.writes().len(), writes);
    assert_settled(&store);
}

/// Maps `n` more Shopify items (ids from 45000000000100000) to the ERP items `BULK-0`..`BULK-4`.
async fn bulk_items(store: &MemoryStore, n: u64) -> Vec<u64> {
    let Some(uom) = UomFactor::new("each", "each") else {
        panic!("the unit each is known");
    };
    let rows: Vec<ItemMapping> = (0..n)
        .map(|i| ItemMapping {
            shop: shop(),
            item: InventoryItemId(45_000_000_000_100_000 + i),
            variant: VariantId(46_000_000_000_100_000 + i),
            sku: format!("SB-BULK-{i}"),
            erp_item: format!("BULK-{}", i % 5),
            uom: uom.clone(),
        })
        .collect();
    store.put_items(&rows).await.expect("map the bulk items");
    rows.iter().map(|r| r.item.0).collect()
}

/// Counts of one unit for every item at the shop floor, three items per event.
fn counts(items: &[u64], tag: &str, n: u32) -> Vec<(String, String)> {
    let events: Vec<InventoryEvent> = items
        .chunks(3)
        .enumerate()
        .map(|(i, chunk)| {
            event(
                &format!("{tag}-{i}"),
                chunk.iter().map(|item| level(*item, STORE, 1, n)).collect(),
            )
        })
        .collect();
    messages(&events)
}

#[tokio::test(start_paused = true)]
async fn twelve_hundred_records_owed_at_once_are_prepared_in_chunks_and_drain() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    let items = bulk_items(&store, 1200).await;
    let c = consumer_with(&store, &erp, &queue, fast_push());
    // The ERP is down while a whole count comes in, in one batch.
    erp.fail_next(4, ErpError::Unavailable("connection refused".into()));
    let report = c.apply_messages(&counts(&items, "count", 1)).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.erp_pending.len(), 1200);
    let owed_in_flight = store
        .levels(&shop())
        .iter()
        .filter(|(_, l)| l.erp_inflight.is_some())
        .count();
    assert_eq!(owed_in_flight, 1200, "every owed record is prepared");
    // The retry is split into messages SQS takes.
    let retries: Vec<usize> = queue
        .sent()
        .iter()
        .filter_map(|m| match &m.event.body {
            EventBody::ErpRetry { keys, .. } => Some(keys.len()),
            _ => None,
        })
        .collect();
    assert!(
        retries.iter().all(|n| *n <= RETRY_KEYS_PER_MESSAGE),
        "{retries:?}"
    );
    assert_eq!(retries.iter().sum::<usize>(), 1200);
    // The ERP is back: everything drains, each unit told once.
    let drained = drain(&queue, &c).await;
    assert_eq!(drained.failed, 0);
    assert_settled(&store);
    for i in 0..5 {
        assert_eq!(
            erp.on_hand("STORE", &format!("BULK-{i}")),
            Some(Decimal::from(240))
        );
    }
}

fn refusing_policy(max_refusals: u32) -> PushPolicy {
    PushPolicy {
        max_refusals,
        ..fast_push()
    }
}

#[tokio::test(start_paused = true)]
async fn a_write_refused_n_times_is_parked_listed_and_released_by_the_operator() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    let c = consumer_with(&store, &erp, &queue, refusing_policy(3));
    erp.fail_next(
        3,
        ErpError::Rejected("no item TEE at warehouse STORE".into()),
    );
    let count = messages(&[event("count", vec![level(TEE.0, STORE, 10, 1)])]);
    let report = c.apply_messages(&count).await;
    assert!(report.failed.is_empty());
    drain(&queue, &c).await;
    let calls = erp.calls();
    assert_eq!(calls.len(), 3, "refused three times, then left alone");
    assert!(calls.iter().all(|k| k == &calls[0]), "one key: {calls:?}");
    assert_eq!(push_metric(&c, "ErpWriteParked"), 1.0);
    assert_eq!(queue.waiting(), 0, "a parked write is not retried");
    let record = store.level(&key(TEE.0, STORE)).expect("the record");
    let inflight = record.erp_inflight.clone().expect("kept in flight");
    assert_eq!(
        (inflight.key.as_str(), inflight.refusals),
        (calls[0].as_str(), 3)
    );
    assert!(inflight.parked_at.is_some());
    assert!(inflight
        .refused
        .as_deref()
        .is_some_and(|r| r.contains("no item TEE")));

    // More stock on the parked record: still owed, never sent, no retry scheduled.
    let more = messages(&[event("more", vec![level(TEE.0, STORE, 12, 2)])]);
    let report = c.apply_messages(&more).await;
    assert!(report.failed.is_empty() && report.erp_pending.is_empty());
    assert_eq!((erp.calls().len(), queue.waiting()), (3, 0));

    // The operator lists it, fixes the ERP and releases it: the same key goes, then the rest.
    let levels = store.levels(&shop());
    let parked = stockbridge_ops::erp_parked::parked_writes(&levels);
    assert_eq!(parked.len(), 1);
    assert_eq!(
        (parked[0].key.as_str(), parked[0].refusals),
        (calls[0].as_str(), 3)
    );
    let released = stockbridge_ops::erp_parked::release_parked(&store, &queue, &levels, &calls[0])
        .await
        .expect("released");
    assert_eq!(released, 1);
    drain(&queue, &c).await;
    let calls = erp.calls();
    assert_eq!(calls[3], calls[0], "released under its key");
    assert_eq!(erp.on_hand("STORE", "TEE"), Some(Decimal::from(12)));
    assert_settled(&store);
}

#[tokio::test(start_paused = true)]
async fn the_age_of_the_oldest_debt_is_reported_while_the_erp_fails() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    let c = consumer_with(&store, &erp, &queue, fast_push());
    erp.fail_next(4, ErpError::Unavailable("down".into()));
    let mut old = event("count", vec![level(TEE.0, STORE, 10, 1)]);
    old.source.received_at = Timestamp(Timestamp::now().0 - 20 * 60 * 1_000_000_000);
    let report = c.apply_messages(&message(&old)).await;
    assert_eq!(report.erp_pending, BTreeSet::from([key(TEE.0, STORE)]));
    let age = push_metric(&c, "ErpOldestDebtAgeSeconds");
    assert!((1200.0..1300.0).contains(&age), "age {age}");
    assert_eq!(
        push_metric(&c, "EndToEndLatencyMs"),
        0.0,
        "nothing reached the ERP"
    );
}
