//! The ERP push (`ErpPush`, driven by the stock consumer) over the in-memory store, queue and
//! ERP: debt settled once per write key whatever fails on the way (a transient error, an ERP
//! down for a whole batch, a lost answer, a refusal sent again under its key, no retry queue,
//! two consumers at once), and the messy day ending with the ERP on the figures worked out by
//! hand.

mod support;

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_push::ErpPush;
use stockbridge_core::ports::ErpError;
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::event::EventBody;
use stockbridge_memory::{EchoShopify, MemoryErp, MemoryQueue, MemoryStore};
use support::*;

type ErpConsumer = StockConsumer<MemoryStore, MemoryErp, MemoryQueue, EchoShopify<MemoryStore>>;

/// A consumer pushing to `erp`, scheduling its ERP retries on `retries` (if any).
fn with_erp(store: &MemoryStore, erp: &MemoryErp, retries: Option<&MemoryQueue>) -> ErpConsumer {
    let push = ErpPush::new(erp.clone(), fast_push(), Metrics::silent("test-push"));
    StockConsumer::with_erp(
        store.clone(),
        Metrics::silent("test-consumer"),
        push,
        retries.cloned(),
    )
    .with_shopify(Some(EchoShopify::new(store.clone(), shop())))
}

/// Ten tees counted onto the Shopify-master shop floor: the ERP is owed +10 there.
fn ten_on_the_floor() -> Vec<(String, String)> {
    messages(&[event("count", vec![level(TEE.0, STORE, 10, 1)])])
}

fn floor_tees(erp: &MemoryErp) -> Option<Decimal> {
    erp.on_hand("STORE", "TEE")
}

fn assert_settled(store: &MemoryStore) {
    for (key, level) in store.levels(&shop()) {
        assert_eq!(
            (level.erp_owed, level.erp_inflight.is_none()),
            (0, true),
            "{key} still owes the ERP"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_is_retried_under_the_same_key_and_applied_once() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    let c = with_erp(&store, &erp, Some(&queue));
    erp.fail_next(1, ErpError::Unavailable("502 from the ERP".into()));
    let report = c.apply_messages(&ten_on_the_floor()).await;
    assert!(report.failed.is_empty() && report.erp_pending.is_empty());
    assert_eq!(floor_tees(&erp), Some(Decimal::from(10)));
    let calls = erp.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0], calls[1], "the retry reuses the write's key");
    assert_eq!(erp.writes().len(), 1);
    assert_settled(&store);
    assert_eq!(store.level(&key(TEE.0, STORE)).map(|l| l.erp_seq), Some(1));
    assert_eq!(queue.waiting(), 0, "nothing left to retry");
    // Delivered again: a duplicate, and nothing more for the ERP.
    let report = c.apply_messages(&ten_on_the_floor()).await;
    assert!(report.failed.is_empty());
    assert_eq!(
        (erp.calls().len(), floor_tees(&erp)),
        (2, Some(Decimal::from(10)))
    );
}

#[tokio::test(start_paused = true)]
async fn an_erp_down_for_the_whole_batch_is_retried_later_under_the_same_key() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    let c = with_erp(&store, &erp, Some(&queue));
    erp.fail_next(4, ErpError::Unavailable("connection refused".into()));
    let report = c.apply_messages(&ten_on_the_floor()).await;
    // The message is done; the debt is owed and a retry is scheduled on the queue, delayed.
    assert!(report.failed.is_empty());
    assert_eq!(report.erp_pending, BTreeSet::from([key(TEE.0, STORE)]));
    assert_eq!(floor_tees(&erp), None);
    let level = store.level(&key(TEE.0, STORE)).unwrap();
    assert_eq!(level.erp_owed, 10);
    let inflight = level.erp_inflight.expect("the write stays prepared");
    assert_eq!(inflight.lease_until, None, "its lease is given back");
    let sent = queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].delay.as_secs(), 2);
    assert!(
        matches!(&sent[0].event.body, EventBody::ErpRetry { keys, attempt: 1 } if keys == &vec![key(TEE.0, STORE)])
    );

    let drained = drain(&queue, &c).await;
    assert_eq!(drained.failed, 0);
    assert_eq!(floor_tees(&erp), Some(Decimal::from(10)));
    let calls = erp.calls();
    assert_eq!(calls.len(), 5);
    assert!(calls.iter().all(|k| k == &inflight.key), "{calls:?}");
    assert_eq!(erp.writes().len(), 1);
    assert_settled(&store);
}

#[tokio::test(start_paused = true)]
async fn a_write_whose_answer_was_lost_is_not_applied_twice() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    let c = with_erp(&store, &erp, Some(&queue));
    erp.lose_next_answers(1);
    let report = c.apply_messages(&ten_on_the_floor()).await;
    assert!(report.failed.is_empty() && report.erp_pending.is_empty());
    assert_eq!(erp.calls().len(), 2);
    assert_eq!(floor_tees(&erp), Some(Decimal::from(10)), "not 20");
    assert_settled(&store);
}

#[tokio::test(start_paused = true)]
async fn a_refused_write_keeps_its_key_and_is_sent_again_under_it_later() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    let c = with_erp(&store, &erp, Some(&queue));
    erp.fail_next(1, ErpError::Rejected("unknown item TEE".into()));
    let report = c.apply_messages(&ten_on_the_floor()).await;
    assert_eq!(report.erp_pending, BTreeSet::from([key(TEE.0, STORE)]));
    let level = store.level(&key(TEE.0, STORE)).unwrap();
    // The ERP may have applied part of it: the write and its key stay, the refusal is counted.
    let inflight = level
        .erp_inflight
        .expect("the refused write stays in flight");
    assert_eq!((level.erp_owed, inflight.refusals), (10, 1));
    assert_eq!(erp.calls().len(), 1, "a refusal is not retried at once");
    assert_eq!(queue.waiting(), 1);
    // The operator fixed the ERP; the scheduled retry sends the same write again.
    drain(&queue, &c).await;
    let calls = erp.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0], calls[1],
        "a refused key is sent again, never given up"
    );
    assert_eq!(floor_tees(&erp), Some(Decimal::from(10)));
    assert_settled(&store);
}

#[tokio::test(start_paused = true)]
async fn without_a_retry_queue_the_messages_owing_the_erp_fail_and_come_back() {
    let (store, erp) = (mapped_store().await, MemoryErp::new());
    let c = with_erp(&store, &erp, None);
    erp.fail_next(4, ErpError::Unavailable("down".into()));
    let batch = [
        ten_on_the_floor().remove(0),
        (
            "wh".into(),
            event("wh", vec![level(TEE.0, WH, 50, 1)]).to_json(),
        ),
    ];
    let report = c.apply_messages(&batch).await;
    // Only the floor count owes the ERP (the warehouse is ERP-master: a count owes nothing).
    assert_eq!(report.failed, vec!["e0".to_string()]);
    assert_eq!(stock(&store)[&format!("{}@{STORE}", TEE.0)], (10, 0, 10));
    // Delivered again: a duplicate for the stock, and the push finishes.
    let report = c.apply_messages(&batch[..1]).await;
    assert!(report.failed.is_empty());
    assert_eq!(floor_tees(&erp), Some(Decimal::from(10)));
    assert_eq!(erp.writes().len(), 1);
    assert_settled(&store);
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_cannot_be_scheduled_fails_the_messages() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    let c = with_erp(&store, &erp, Some(&queue));
    erp.fail_next(4, ErpError::Unavailable("down".into()));
    queue.fail_next_sends(1);
    let report = c.apply_messages(&ten_on_the_floor()).await;
    assert_eq!(report.failed, vec!["e0".to_string()]);
    assert_eq!((queue.sends(), queue.waiting()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn two_consumers_pushing_the_same_stock_at_once_call_the_erp_once() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    let (a, b) = (
        with_erp(&store, &erp, Some(&queue)),
        with_erp(&store, &erp, Some(&queue)),
    );
    let count = messages(&[event("count", vec![level(TEE.0, STORE, 10, 1)])]);
    let sale = messages(&[event(
        "sale",
        vec![commitment(1, 11, TEE.1, Some(STORE), 2, 2)],
    )]);
    let (ra, rb) = tokio::join!(a.apply_messages(&count), b.apply_messages(&sale));
    assert!(ra.failed.is_empty() && rb.failed.is_empty());
    drain(&queue, &a).await;
    // On hand 10 + 2 committed = 12, told once per write, never twice.
    assert_eq!(floor_tees(&erp), Some(Decimal::from(12)));
    let calls = erp.calls();
    let distinct: BTreeSet<&String> = calls.iter().collect();
    assert_eq!(calls.len(), distinct.len(), "a key sent twice: {calls:?}");
    assert_settled(&store);
}

/// Two batches of one consumer at once (pollers sharing a process, as the local stack and the
/// drills run them): the process's leases carry one name, so its pushes take turns and no
/// write is sent twice at once (Tryton's find-then-create would make two documents of it).
#[tokio::test]
async fn two_batches_of_one_consumer_pushing_at_once_send_each_key_once() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    erp.set_latency(std::time::Duration::from_millis(30));
    let c = with_erp(&store, &erp, Some(&queue));
    let count = messages(&[event("count", vec![level(TEE.0, STORE, 10, 1)])]);
    let sale = messages(&[event(
        "sale",
        vec![commitment(1, 11, TEE.1, Some(STORE), 2, 2)],
    )]);
    let recount = messages(&[event("recount", vec![level(TEE.0, STORE, 7, 3)])]);
    let (ra, rb, rc) = tokio::join!(
        c.apply_messages(&count),
        c.apply_messages(&sale),
        c.apply_messages(&recount)
    );
    assert!(ra.failed.is_empty() && rb.failed.is_empty() && rc.failed.is_empty());
    drain(&queue, &c).await;
    let calls = erp.calls();
    let distinct: BTreeSet<&String> = calls.iter().collect();
    assert_eq!(calls.len(), distinct.len(), "a key sent twice: {calls:?}");
    // On hand 7 + 2 committed = 9.
    assert_eq!(floor_tees(&erp), Some(Decimal::from(9)));
    assert_settled(&store);
}

/// The messy day through the webhook and the consumer, the ERP opening with the warehouse's
/// stock; `faults` is told to the ERP before the day starts.
async fn messy_day(faults: impl FnOnce(&MemoryErp)) {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    erp.set_on_hand("WH", "TEE", Decimal::from(50));
    erp.set_on_hand("WH", "MUG", Decimal::from(24));
    faults(&erp);
    let delivered = day::deliver_messy(&webhook(&queue, &store)).await;
    let c = with_erp(&store, &erp, Some(&queue));
    let drained = drain(&queue, &c).await;
    assert_eq!(drained.failed, 0);
    assert_eq!(stock(&store), day::shopify_stock());
    assert_eq!(erp.stock(), day::erp_stock());
    assert_settled(&store);
    // Coalesced: far fewer ERP documents than deliveries.
    let writes = erp.writes().len();
    assert!(
        (1..delivered / 4).contains(&writes),
        "{writes} writes for {delivered} deliveries"
    );
}

#[tokio::test(start_paused = true)]
async fn the_messy_day_ends_with_the_erp_on_the_figures_worked_out_by_hand() {
    messy_day(|_| {}).await;
}

#[tokio::test(start_paused = true)]
async fn the_messy_day_over_a_flaky_erp_ends_on_the_same_figures() {
    messy_day(|erp| {
        erp.fail_next(1, ErpError::Throttled { retry_after_ms: 20 });
        erp.lose_next_answers(1);
        erp.fail_next(2, ErpError::Unavailable("down for a while".into()));
    })
    .await;
}
