//! The stock consumer at its limits, over the in-memory adapters: a batch that cannot finish
//! before the invocation's deadline (a slow store), an event the store refuses among good ones,
//! and a `shop/redact` too large for one invocation, done in recorded steps and resumed after a
//! crash.

mod support;

use std::time::{Duration, Instant};

use stockbridge_core::consumer::{ConsumerSettings, StockConsumer};
use stockbridge_core::erp_push::ErpPush;
use stockbridge_core::ports::StockStore;
use stockbridge_core::redact::RedactSettings;
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::batch::Outcome;
use stockbridge_domain::event::{EventBody, InventoryEvent};
use stockbridge_domain::ids::ShopDomain;
use stockbridge_memory::{Fault, MemoryErp, MemoryQueue, MemoryStore, StoreOp};
use support::*;

/// An event whose declared changes (33 levels: 1 + 3 x 33 = 100 actions at worst) fill a
/// transaction, so each such event is a chunk of its own.
fn chunk_sized(webhook: &str, n: u32) -> InventoryEvent {
    let changes = (0..33)
        .map(|i| level(TEE.0, WH, i64::from(n * 100 + i), n * 40 + i))
        .collect();
    event(webhook, changes)
}

fn settings(margin_ms: u64) -> ConsumerSettings {
    ConsumerSettings {
        deadline_margin: Duration::from_millis(margin_ms),
        ..ConsumerSettings::default()
    }
}

#[tokio::test]
async fn a_batch_longer_than_its_deadline_returns_in_time_with_only_the_undone_messages_failed() {
    let store = mapped_store().await;
    // Every transaction takes 150 ms: eight chunks need 1.2 s, the invocation has 0.6 s.
    store.fail_next(StoreOp::Commit, 8, Fault::Delay(Duration::from_millis(150)));
    let c = consumer(&store).with_settings(settings(200));
    let events: Vec<InventoryEvent> = (0..8).map(|n| chunk_sized(&format!("w{n}"), n)).collect();
    let batch = messages(&events);
    let deadline = Instant::now() + Duration::from_millis(600);
    let report = c.apply_messages_until(&batch, Some(deadline)).await;
    assert!(
        Instant::now() < deadline,
        "the consumer answered after its deadline"
    );

    assert!(
        !report.failed.is_empty(),
        "nothing was left undone: {report:?}"
    );
    assert!(report.failed.len() < 8, "nothing was done in time");
    assert_eq!(
        report.failed, report.deferred,
        "every failure is for want of time"
    );
    let applied = store
        .applied(&events.iter().map(|e| e.key.clone()).collect::<Vec<_>>())
        .await
        .unwrap();
    for ((id, _), e) in batch.iter().zip(&events) {
        let failed = report.failed.contains(id);
        assert_eq!(
            applied.contains(&e.key),
            !failed,
            "{id}: reported failed = {failed}, but applied = {}",
            !failed
        );
    }
    assert_eq!(
        c.metrics.total("ConsumerDeferred"),
        report.failed.len() as f64
    );

    // Only the undone come back, and then they apply.
    let again: Vec<(String, String)> = batch
        .iter()
        .filter(|(id, _)| report.failed.contains(id))
        .cloned()
        .collect();
    let report = c.apply_messages(&again).await;
    assert!(report.failed.is_empty());
    let all = store
        .applied(&events.iter().map(|e| e.key.clone()).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(all.len(), 8);
}

#[tokio::test]
async fn a_lost_race_is_not_retried_into_the_deadline() {
    let store = mapped_store().await;
    // The first attempt reads slowly and loses its race within the margin: no second starts.
    store.fail_next(StoreOp::Load, 1, Fault::Delay(Duration::from_millis(250)));
    store.fail_next(StoreOp::Commit, 5, Fault::Conflict);
    let c = consumer(&store).with_settings(settings(200));
    let batch = message(&event("race", vec![level(TEE.0, WH, 5, 1)]));
    let deadline = Instant::now() + Duration::from_millis(400);
    let report = c.apply_messages_until(&batch, Some(deadline)).await;
    assert!(Instant::now() < deadline);
    assert_eq!(report.deferred, vec!["e0".to_string()]);
    assert_eq!(
        store.calls(StoreOp::Commit),
        1,
        "no attempt started after the margin"
    );
}

#[tokio::test]
async fn the_erp_push_is_deferred_to_an_erp_retry_when_the_deadline_is_near() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    let push = ErpPush::new(erp.clone(), fast_push(), Metrics::silent("test-push"));
    let c = StockConsumer::with_erp(
        store.clone(),
        Metrics::silent("test-consumer"),
        push,
        Some(queue.clone()),
    )
    .with_shopify(Some(stockbridge_memory::EchoShopify::new(
        store.clone(),
        shop(),
    )))
    .with_settings(ConsumerSettings {
        deadline_margin: Duration::from_millis(100),
        erp_reserve: Duration::from_secs(10),
        ..ConsumerSettings::default()
    });
    let batch = messages(&[event("count", vec![level(TEE.0, STORE, 10, 1)])]);
    let report = c
        .apply_messages_until(&batch, Some(Instant::now() + Duration::from_secs(2)))
        .await;
    assert!(
        report.failed.is_empty(),
        "the stock was applied: {report:?}"
    );
    assert!(erp.calls().is_empty(), "no ERP call with 2 s left");
    assert_eq!(owed(&store).get(&format!("{}@{STORE}", TEE.0)), Some(&10));
    let sent = queue.sent();
    assert_eq!(sent.len(), 1);
    assert!(matches!(
        &sent[0].event.body,
        EventBody::ErpRetry { attempt: 0, keys } if keys == &vec![key(TEE.0, STORE)]
    ));
    // The retry, with time to spare, settles the debt.
    let report = c.apply_messages(&queue.drain()).await;
    assert!(report.failed.is_empty());
    assert_eq!(
        erp.on_hand("STORE", "TEE"),
        Some(rust_decimal::Decimal::from(10))
    );
    assert!(owed(&store).is_empty());
}

#[tokio::test]
async fn an_event_the_store_refuses_fails_alone_and_the_rest_of_its_chunk_applies() {
    let store = mapped_store().await;
    let c = consumer(&store);
    let long_id = "x".repeat(2100);
    let mut events: Vec<InventoryEvent> = (0..6)
        .map(|n| {
            event(
                &format!("good-{n}"),
                vec![level(TEE.0, WH, n, n as u32 + 1)],
            )
        })
        .collect();
    events.insert(3, event(&long_id, vec![level(MUG.0, WH, 4, 1)]));
    let batch = messages(&events);
    let report = c.apply_messages(&batch).await;
    assert_eq!(report.failed, vec!["e3".to_string()], "{report:?}");
    let applied: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Applied)
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(applied.len(), 6);
    assert_eq!(stock(&store)[&format!("{}@{WH}", TEE.0)].0, 5);
    assert!(!stock(&store).contains_key(&format!("{}@{WH}", MUG.0)));
    assert_eq!(c.metrics.total("ConsumerRefused"), 1.0);
    // Delivered again, it fails again: the queue moves it to the dead-letter queue.
    let report = c.apply_messages(&batch[3..4]).await;
    assert_eq!(report.failed, vec!["e3".to_string()]);
}

/// A consumer paging redactions by `page` records, `max_steps` steps a message, handing the
/// rest on through `queue`.
fn redactor(
    store: &MemoryStore,
    queue: Option<&MemoryQueue>,
    page: usize,
    max_steps: u32,
) -> StockConsumer<MemoryStore, stockbridge_core::ports::NoErp, MemoryQueue> {
    let c = StockConsumer::new(store.clone(), Metrics::silent("test-consumer")).with_settings(
        ConsumerSettings {
            redact: RedactSettings { page, max_steps },
            ..ConsumerSettings::default()
        },
    );
    match queue {
        Some(q) => c.with_queue(q.clone()),
        None => StockConsumer {
            store: c.store,
            metrics: c.metrics,
            erp: None,
            retries: None,
            shopify: None,
            sales: None,
            settings: c.settings,
        },
    }
}

fn redact_request(webhook: &str) -> Vec<(String, String)> {
    let mut e = event(webhook, vec![]);
    e.source.topic = "shop/redact".into();
    e.body = EventBody::ShopRedact { resume: None };
    vec![(format!("redact-{webhook}"), e.to_json())]
}

/// A store holding the messy day of the test shop and a record of another shop.
async fn busy_store() -> (MemoryStore, ShopDomain) {
    let store = mapped_store().await;
    let queue = MemoryQueue::new();
    day::deliver_messy(&webhook(&queue, &store)).await;
    drain(&queue, &consumer(&store)).await;
    let other = ShopDomain::new("other.myshopify.com");
    stockbridge_core::ports::Inbox::put_report(&store, &other, "run-1", "{}")
        .await
        .unwrap();
    (store, other)
}

#[tokio::test]
async fn a_redaction_larger_than_one_invocation_goes_on_in_continuations_until_done() {
    let (store, other) = busy_store().await;
    let held = store.shop_record_count(&shop());
    assert!(held > 40, "{held} records");
    let queue = MemoryQueue::new();
    let c = redactor(&store, Some(&queue), 5, 3);
    let report = c.apply_messages(&redact_request("r1")).await;
    assert!(report.failed.is_empty());
    assert_eq!(queue.waiting(), 1, "the rest is handed on");
    let progress = store.redact_progress(&shop()).await.unwrap().unwrap();
    assert_eq!((progress.steps, progress.continuations), (3, 1));
    assert!(progress.finished_at.is_none() && progress.cursor.is_some());

    let drained = drain(&queue, &c).await;
    assert_eq!(drained.failed, 0);
    assert!(drained.receives >= 2, "several continuations: {drained:?}");
    assert_eq!(store.shop_record_count(&shop()), 0);
    assert_eq!(
        store.record_count(),
        1,
        "only the other shop's report is left"
    );
    assert_eq!(
        stockbridge_core::ports::Inbox::reports(&store, &other, 1)
            .await
            .unwrap(),
        vec!["{}".to_string()]
    );
    let progress = store.redact_progress(&shop()).await.unwrap().unwrap();
    assert_eq!(progress.deleted, held as u64);
    assert!(progress.finished_at.is_some() && progress.cursor.is_none());
    assert_eq!(progress.run, format!("{SHOP}:r1:0"));
    assert_eq!(c.metrics.total("ShopRedacted"), 1.0);

    // The request delivered once more changes nothing and reads nothing.
    let steps = store.calls(StoreOp::RedactShop);
    let report = c.apply_messages(&redact_request("r1")).await;
    assert!(report.failed.is_empty());
    assert_eq!(report.outcomes[0].1, Outcome::Duplicate);
    assert_eq!(store.calls(StoreOp::RedactShop), steps);
}

#[tokio::test]
async fn a_redaction_that_crashed_after_a_step_resumes_from_its_recorded_cursor() {
    let (store, _) = busy_store().await;
    let held = store.shop_record_count(&shop());
    let queue = MemoryQueue::new();
    let c = redactor(&store, Some(&queue), 5, 1_000);
    // The first step goes through; the second finds the store gone (the invocation dies).
    store.fail_next(StoreOp::RedactShop, 1, Fault::Delay(Duration::ZERO));
    store.fail_next(StoreOp::RedactShop, 1, Fault::Unavailable);
    let report = c.apply_messages(&redact_request("r1")).await;
    assert_eq!(report.failed.len(), 1, "the message comes back");
    let crashed = store.redact_progress(&shop()).await.unwrap().unwrap();
    assert_eq!(crashed.steps, 1);
    assert!(crashed.cursor.is_some());

    // Delivered again: it carries on from the cursor, no step is taken twice.
    let report = c.apply_messages(&redact_request("r1")).await;
    assert!(report.failed.is_empty());
    let done = store.redact_progress(&shop()).await.unwrap().unwrap();
    assert!(done.finished_at.is_some());
    assert_eq!(
        done.started_at, crashed.started_at,
        "the same redaction, resumed"
    );
    assert_eq!(
        done.steps as usize,
        store.calls(StoreOp::RedactShop) - 1,
        "every successful step counted once: none repeated"
    );
    assert_eq!(done.deleted, held as u64);
    assert_eq!(store.shop_record_count(&shop()), 0);
}

#[tokio::test]
async fn a_redaction_out_of_time_before_its_first_step_comes_back_untouched() {
    let (store, _) = busy_store().await;
    let held = store.shop_record_count(&shop());
    let c = redactor(&store, Some(&MemoryQueue::new()), 5, 1_000).with_settings(ConsumerSettings {
        deadline_margin: Duration::from_secs(5),
        redact: RedactSettings {
            page: 5,
            max_steps: 1_000,
        },
        ..ConsumerSettings::default()
    });
    let report = c
        .apply_messages_until(
            &redact_request("r1"),
            Some(Instant::now() + Duration::from_secs(1)),
        )
        .await;
    assert_eq!(report.deferred.len(), 1);
    assert_eq!(store.calls(StoreOp::RedactShop), 0);
    assert_eq!(store.shop_record_count(&shop()), held);
}
