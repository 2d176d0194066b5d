//! The stock consumer (`StockConsumer`) and the operator's SKU map import driven over the
//! in-memory adapters: a messy day through the webhook, exactly-once under duplicate delivery,
//! out-of-order snapshots, parking and replay, lost races, store failures, poison messages, a
//! plan too large for one transaction, and a shop redaction. No service; milliseconds each
//! (waits in the retry paths run on tokio's paused clock).

mod support;

use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::ports::Inbox;
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::batch::Outcome;
use stockbridge_domain::event::EventBody;
use stockbridge_domain::ids::{LineItemId, ShopDomain};
use stockbridge_domain::stock::LineKey;
use stockbridge_memory::{Fault, MemoryQueue, MemoryStore, StoreOp};
use stockbridge_ops::import_skumap;
use support::*;

#[tokio::test]
async fn a_messy_day_through_the_webhook_ends_in_the_figures_worked_out_by_hand() {
    let store = mapped_store().await;
    let queue = MemoryQueue::new();
    let delivered = day::deliver_messy(&webhook(&queue, &store)).await;
    assert_eq!(delivered, 2 * day::webhooks().len());
    // Shopify read back agrees with its webhooks: what they leave unexplained is confirmed.
    let c = consumer_echo(&store);
    let drained = drain(&queue, &c).await;
    assert_eq!(drained.failed, 0);
    assert_eq!(stock(&store), day::shopify_stock());
    assert_eq!(owed(&store), day::erp_owed());
    // Every delivery of the first round applied, every one of the second a duplicate.
    let duplicates = drained
        .outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Duplicate)
        .count();
    assert_eq!(duplicates, day::webhooks().len());
    assert_eq!(store.applied_keys().len(), day::webhooks().len());
}

#[tokio::test]
async fn a_message_delivered_again_is_applied_once() {
    let store = mapped_store().await;
    let c = consumer(&store);
    // A sale with no level change: committed and on_hand up, unexplained (no read here), so
    // nothing is owed to the ERP yet.
    let sale = event("sale", vec![commitment(1, 11, TEE.1, Some(STORE), 2, 3)]);
    let body = sale.to_json();
    // Twice in one batch, then again in a later batch (SQS at-least-once).
    let first = c
        .apply_messages(&[("a".into(), body.clone()), ("b".into(), body.clone())])
        .await;
    let again = c.apply_messages(&[("c".into(), body)]).await;
    assert_eq!(
        first.outcomes,
        vec![
            (sale.key.clone(), Outcome::Applied),
            (sale.key.clone(), Outcome::Duplicate)
        ]
    );
    assert_eq!(again.outcomes, vec![(sale.key.clone(), Outcome::Duplicate)]);
    assert_eq!(stock(&store)[&format!("{}@{STORE}", TEE.0)], (0, 2, 2));
    assert_eq!(owed(&store), std::collections::BTreeMap::new());
    // One log entry, one idempotency record, one write of the stock record.
    assert_eq!(store.ledger(&key(TEE.0, STORE)).len(), 1);
    assert_eq!(store.applied_keys().len(), 1);
    assert_eq!(store.revision(&key(TEE.0, STORE)), Some(1));
}

#[tokio::test]
async fn an_older_level_arriving_after_a_newer_one_changes_nothing() {
    let store = mapped_store().await;
    let c = consumer(&store);
    let newer = event("newer", vec![level(TEE.0, WH, 5, 30)]);
    let older = event("older", vec![level(TEE.0, WH, 10, 20)]);
    c.apply_messages(&messages(&[newer])).await;
    let report = c.apply_messages(&message(&older)).await;
    // Recorded as applied (it was seen) but stale: the newer snapshot stands.
    assert_eq!(report.outcomes, vec![(older.key, Outcome::Applied)]);
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)], (5, 0, 5));
    assert_eq!(store.ledger(&key(TEE.0, WH)).len(), 1);
    // Both in one batch, older last: the same.
    let store = mapped_store().await;
    let c = consumer(&store);
    let batch = [
        event("n", vec![level(TEE.0, WH, 5, 30)]),
        event("o", vec![level(TEE.0, WH, 10, 20)]),
    ];
    c.apply_messages(&messages(&batch)).await;
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)], (5, 0, 5));
}

#[tokio::test]
async fn an_unmapped_item_is_parked_and_replayed_when_the_mapping_is_imported() {
    let store = mapped_store().await;
    let queue = MemoryQueue::new();
    let c = consumer(&store);
    const NEW: u64 = 45000000000000077;
    let arrival = event(
        "new-item",
        vec![level(NEW, WH, 7, 1), level(TEE.0, WH, 50, 1)],
    );
    let report = c.apply_messages(&message(&arrival)).await;
    assert_eq!(
        report.outcomes,
        vec![(arrival.key.clone(), Outcome::AppliedAndParked)]
    );
    let parked = store.parked(&shop());
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].missing, vec![format!("item {NEW}")]);
    assert_eq!(
        parked[0].event.body,
        EventBody::Stock {
            changes: vec![level(NEW, WH, 7, 1)]
        },
        "only the unmapped change waits"
    );
    assert_eq!(
        stock(&store).len(),
        1,
        "the mapped tee applied, nothing for the new item"
    );

    let items = format!(
        "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n{SHOP},{NEW},46000000000000077,SB-NEW,NEW,each,each\n"
    );
    let summary = import_skumap(&store, &queue, Some(&items), None, false)
        .await
        .unwrap();
    assert_eq!(summary.items_written, 1);
    assert_eq!(summary.replayed.len(), 1);
    assert_eq!(
        (
            summary.replayed[0].replayed,
            summary.replayed[0].still_waiting
        ),
        (1, 0)
    );
    assert!(store.parked(&shop()).is_empty());
    let sent = queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].event.key, format!("{}~r1", arrival.key));

    let drained = drain(&queue, &c).await;
    assert_eq!(
        drained.outcomes,
        vec![(format!("{}~r1", arrival.key), Outcome::Applied)]
    );
    assert_eq!(stock(&store)[&format!("{NEW}@{WH}")], (7, 0, 7));
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)], (50, 0, 50));
}

#[tokio::test]
async fn a_replay_that_still_lacks_a_mapping_keeps_waiting() {
    let store = mapped_store().await;
    let queue = MemoryQueue::new();
    let c = consumer(&store);
    let arrival = event("lost", vec![level(45000000000000078, WH, 7, 1)]);
    c.apply_messages(&messages(&[arrival])).await;
    // A mapping for another item arrives: nothing to replay yet.
    let items = format!(
        "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n{SHOP},45000000000000079,46000000000000079,SB-OTHER,OTHER,each,each\n"
    );
    let summary = import_skumap(&store, &queue, Some(&items), None, false)
        .await
        .unwrap();
    assert_eq!(
        (
            summary.replayed[0].replayed,
            summary.replayed[0].still_waiting
        ),
        (0, 1)
    );
    assert_eq!(store.parked(&shop()).len(), 1);
    assert_eq!(queue.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_race_lost_to_a_newer_snapshot_is_planned_again_from_fresh_reads() {
    let store = mapped_store().await;
    let c = consumer(&store);
    c.apply_messages(&messages(&[event(
        "opening",
        vec![level(TEE.0, WH, 50, 0)],
    )]))
    .await;
    // Between our read and our commit another consumer applies a newer count.
    store.before_next_commit(|store| async move {
        let other = StockConsumer::new(store, Metrics::silent("racer"));
        let newer = event("newer", vec![level(TEE.0, WH, 40, 5)]);
        let report = other.apply_messages(&messages(&[newer])).await;
        assert!(report.failed.is_empty());
    });
    let older = event("older", vec![level(TEE.0, WH, 45, 3)]);
    let report = c.apply_messages(&message(&older)).await;
    assert!(report.failed.is_empty());
    assert_eq!(report.outcomes, vec![(older.key, Outcome::Applied)]);
    assert_eq!(c.metrics.total("ConsumerConflictRetry"), 1.0);
    // A blind write would have left 45; planned again, the older count is stale.
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)], (40, 0, 40));
    // Opening, ours (refused), the racer's, ours again.
    assert_eq!(store.calls(StoreOp::Commit), 4);
    assert_eq!(
        store.ledger(&key(TEE.0, WH)).len(),
        2,
        "opening and the racer only"
    );
}

#[tokio::test(start_paused = true)]
async fn the_same_message_handled_by_two_consumers_at_once_is_applied_once() {
    let store = mapped_store().await;
    let c = consumer(&store);
    let sale = event("sale", vec![commitment(1, 11, TEE.1, Some(WH), 3, 3)]);
    let body = sale.to_json();
    let racing = body.clone();
    store.before_next_commit(move |store| async move {
        let other = StockConsumer::new(store, Metrics::silent("racer"));
        other.apply_messages(&[("x".into(), racing)]).await;
    });
    let report = c.apply_messages(&[("y".into(), body)]).await;
    assert_eq!(report.outcomes, vec![(sale.key, Outcome::Duplicate)]);
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)], (0, 3, 3));
    assert_eq!(store.ledger(&key(TEE.0, WH)).len(), 1);
    assert_eq!(c.metrics.total("ConsumerConflictRetry"), 1.0);

    // A stale event writes nothing but its key: the key alone decides the race.
    let stale = event("stale", vec![level(TEE.0, WH, 1, 0)]);
    c.apply_messages(&messages(&[event("now", vec![level(TEE.0, WH, 7, 9)])]))
        .await;
    let racing = stale.to_json();
    store.before_next_commit(move |store| async move {
        let other = StockConsumer::new(store, Metrics::silent("racer"));
        other.apply_messages(&[("x".into(), racing)]).await;
    });
    let report = c.apply_messages(&message(&stale)).await;
    assert_eq!(report.outcomes, vec![(stale.key, Outcome::Duplicate)]);
    assert_eq!(c.metrics.total("ConsumerConflictRetry"), 2.0);
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)], (7, 3, 10));
}

#[tokio::test(start_paused = true)]
async fn conflicts_are_retried_and_a_persistent_one_fails_the_messages() {
    let store = mapped_store().await;
    let c = consumer(&store);
    store.fail_next(StoreOp::Commit, 2, Fault::Conflict);
    let first = event("first", vec![level(TEE.0, WH, 9, 1)]);
    let report = c.apply_messages(&messages(&[first])).await;
    assert!(report.failed.is_empty());
    assert_eq!(store.calls(StoreOp::Commit), 3);
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)], (9, 0, 9));

    // Six conflicts in a row: the consumer gives up and SQS delivers the message again.
    store.fail_next(StoreOp::Commit, 6, Fault::Conflict);
    let second = event("second", vec![level(TEE.0, WH, 8, 2)]);
    let report = c.apply_messages(&message(&second)).await;
    assert_eq!(report.failed, vec!["e0".to_string()]);
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)], (9, 0, 9));
    assert!(!store.applied_keys().contains_key(&second.key));
    let report = c.apply_messages(&messages(&[second])).await;
    assert!(report.failed.is_empty());
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)], (8, 0, 8));
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_reports_every_message_of_the_chunk_as_failed() {
    let store = mapped_store().await;
    let c = consumer(&store);
    let batch = [
        event("a", vec![level(TEE.0, WH, 9, 1)]),
        event("b", vec![level(MUG.0, WH, 2, 1)]),
    ];
    // Unavailable three times: two retries, then the chunk fails as a whole.
    store.fail_next(StoreOp::Commit, 3, Fault::Unavailable);
    let report = c.apply_messages(&messages(&batch)).await;
    assert_eq!(report.failed, vec!["e0".to_string(), "e1".to_string()]);
    assert!(report.outcomes.is_empty());
    assert!(store.levels(&shop()).is_empty() && store.applied_keys().is_empty());
    assert_eq!(c.metrics.total("ConsumerFailed"), 2.0);

    // Twice: retried within the invocation, nothing failed.
    store.fail_next(StoreOp::Load, 2, Fault::Unavailable);
    let report = c.apply_messages(&messages(&batch)).await;
    assert!(report.failed.is_empty());
    assert_eq!(stock(&store).len(), 2);

    // A corrupt record is not retried: failed at once.
    store.fail_next(StoreOp::Applied, 1, Fault::Corrupt);
    let calls = store.calls(StoreOp::Applied);
    let report = c
        .apply_messages(&messages(&[event("c", vec![level(CAP.0, WH, 1, 1)])]))
        .await;
    assert_eq!(report.failed, vec!["e0".to_string()]);
    assert_eq!(store.calls(StoreOp::Applied), calls + 1);
}

#[tokio::test(start_paused = true)]
async fn a_commit_whose_answer_was_lost_is_not_applied_twice() {
    let store = mapped_store().await;
    let c = consumer(&store);
    store.fail_next(StoreOp::Commit, 1, Fault::AnswerLost);
    let sale = event("sale", vec![commitment(1, 11, TEE.1, Some(WH), 3, 3)]);
    let report = c.apply_messages(&message(&sale)).await;
    // The retry finds the key recorded by the commit that "failed".
    assert!(report.failed.is_empty());
    assert_eq!(report.outcomes, vec![(sale.key, Outcome::Duplicate)]);
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)], (0, 3, 3));
    assert_eq!(store.ledger(&key(TEE.0, WH)).len(), 1);
}

#[tokio::test]
async fn a_poison_message_fails_alone() {
    let store = mapped_store().await;
    let queue = MemoryQueue::new();
    let c = consumer(&store);
    let poison = queue.send_raw("not an event");
    let future = queue.send_raw(r#"{"schema":99}"#);
    let good = event("good", vec![level(TEE.0, WH, 3, 1)]);
    let mut batch = queue.drain();
    batch.push(("g".into(), good.to_json()));
    let report = c.apply_messages(&batch).await;
    assert_eq!(report.failed, vec![poison, future]);
    assert_eq!(report.outcomes, vec![(good.key, Outcome::Applied)]);
    assert_eq!(c.metrics.total("ConsumerUndecodable"), 2.0);
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)], (3, 0, 3));
}

/// Thirty order lines on thirty items; each order names six.
async fn thirty_items_store() -> MemoryStore {
    let store = mapped_store().await;
    let mut items =
        String::from("shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n");
    for i in 0..30u64 {
        items.push_str(&format!(
            "{SHOP},{},{},SB-{i},E{i},each,each\n",
            100 + i,
            200 + i
        ));
    }
    import_skumap(&store, &MemoryQueue::new(), Some(&items), None, false)
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn a_batch_too_large_for_one_transaction_is_split() {
    let store = thirty_items_store().await;
    let c = consumer(&store);
    let orders = |location: Option<u64>, n: u32, tag: &str| -> Vec<_> {
        (0..5u64)
            .map(|o| {
                let changes = (0..6u64)
                    .map(|l| {
                        let i = o * 6 + l;
                        commitment(o + 1, 1000 + i, 200 + i, location, 1, n)
                    })
                    .collect();
                event(&format!("{tag}-{o}"), changes)
            })
            .collect()
    };
    // Thirty new lines at the warehouse: 5 + 30 x 3 = 95 actions, one transaction.
    let report = c
        .apply_messages(&messages(&orders(Some(WH), 1, "placed")))
        .await;
    assert!(report.failed.is_empty());
    assert_eq!(store.calls(StoreOp::Commit), 1);
    // Every line moves to the shop floor: 5 + 30 x 5 = 155 actions; split into 2 and 3 orders.
    let report = c
        .apply_messages(&messages(&orders(Some(STORE), 2, "moved")))
        .await;
    assert!(report.failed.is_empty());
    assert_eq!(report.outcomes.len(), 5);
    assert_eq!(store.calls(StoreOp::Commit), 4);
    for i in 0..30u64 {
        assert_eq!(
            store.level(&key(100 + i, STORE)).map(|l| l.committed),
            Some(1)
        );
        assert_eq!(store.level(&key(100 + i, WH)).map(|l| l.committed), Some(0));
        let line = store.line(&LineKey {
            shop: shop(),
            line: LineItemId(1000 + i),
        });
        let counted: Vec<(u64, i64)> = line
            .map(|l| l.counted.iter().map(|(k, v)| (k.0, *v)).collect())
            .unwrap_or_default();
        assert_eq!(counted, vec![(STORE, 1)]);
    }
}

#[tokio::test]
async fn a_shop_redaction_deletes_everything_kept_for_the_shop() {
    let store = mapped_store().await;
    let queue = MemoryQueue::new();
    let service = webhook(&queue, &store);
    day::deliver_messy(&service).await;
    // Something quarantined and something parked too.
    assert_eq!(post(&service, "app/uninstalled", "{}", "bye").await, 200);
    let c = consumer(&store);
    c.apply_messages(&messages(&[event("unmapped", vec![level(1, WH, 1, 1)])]))
        .await;
    drain(&queue, &c).await;
    let other = ShopDomain::new("other.myshopify.com");
    store.put_report(&other, "run-1", "{}").await.unwrap();
    let before = store.record_count();
    assert!(before > 50, "{before} records");

    let body = String::from_utf8(fixture("2024-10/shop__redact.json")).unwrap();
    assert_eq!(post(&service, "shop/redact", &body, "redact").await, 200);
    let report = c.apply_messages(&queue.drain()).await;
    assert!(report.failed.is_empty());
    assert_eq!(c.metrics.total("ShopRedacted"), 1.0);
    assert!(store.levels(&shop()).is_empty());
    assert!(store.parked(&shop()).is_empty() && store.quarantined(&shop()).is_empty());
    assert!(store.applied_keys().is_empty());
    assert_eq!(
        store.record_count(),
        1,
        "only the other shop's report is left"
    );
    assert!(store.ledger(&key(TEE.0, WH)).is_empty());
}
