//! The stock consumer at its limits, through the real local poller, SQS and DynamoDB (moto):
//! a batch longer than the invocation's deadline (DynamoDB slowed down by the fault proxy), an
//! event DynamoDB refuses (a key over 2 KB) among good ones, and a `shop/redact` of hundreds of
//! records done page by page over several invocations, and resumed after a crash.

mod fault_proxy;
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use fault_proxy::{Fault, FaultProxy, Matcher};
use stockbridge_aws::dynamodb::DynamoStore;
use stockbridge_core::consumer::{ConsumerSettings, StockConsumer};
use stockbridge_core::ports::{EventQueue, Inbox, NoErp, SkuMapStore, StockStore};
use stockbridge_core::redact::RedactSettings;
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::event::{
    EventBody, InventoryEvent, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{
    InventoryItemId, LocationId, ShopDomain, Timestamp, VariantId, Version,
};
use stockbridge_domain::skumap::{ItemMapping, UomFactor};
use stockbridge_lambda::local::poll_once;
use support::{stack, Stack, SHOP};

const TEE: u64 = 45000000000000001;
const WH: u64 = 72000000001;

fn shop() -> ShopDomain {
    ShopDomain::new(SHOP)
}

/// An event of `shop` as the webhook would enqueue delivery `webhook`.
fn event_of(shop: &ShopDomain, webhook: &str, body: EventBody) -> InventoryEvent {
    let now = Timestamp::now();
    InventoryEvent {
        schema: SCHEMA_VERSION,
        key: InventoryEvent::delivery_key(shop, webhook, Part::WHOLE),
        shop: shop.clone(),
        source: Source {
            topic: "inventory_levels/update".into(),
            webhook_id: webhook.into(),
            event_id: None,
            api_version: Some("2026-04".into()),
            triggered_at: now,
            received_at: now,
        },
        part: Part::WHOLE,
        body,
    }
}

fn available(item: u64, location: u64, quantity: i64, second: i64) -> StockChange {
    let at = Timestamp(1_795_780_800_000_000_000 + second * 1_000_000_000);
    StockChange::Available {
        item: InventoryItemId(item),
        location: LocationId(location),
        available: Some(quantity),
        version: Version::new(at, at),
        connect: false,
    }
}

fn levels(webhook: &str, changes: Vec<StockChange>) -> InventoryEvent {
    event_of(&shop(), webhook, EventBody::Stock { changes })
}

/// The keys of these events DynamoDB holds as applied.
async fn applied(s: &Stack, events: &[InventoryEvent]) -> usize {
    let keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
    s.store.applied(&keys).await.unwrap().len()
}

#[tokio::test]
async fn a_batch_longer_than_its_deadline_answers_in_time_and_only_the_undone_come_back() {
    let s = stack().await;
    s.import_sample_map().await;
    // DynamoDB behind the fault proxy: every transaction takes 600 ms more.
    let proxy = FaultProxy::start(&std::env::var("AWS_ENDPOINT_URL").unwrap()).await;
    proxy.push_matching(
        Matcher {
            body_contains: Some("TransactItems".into()),
            ..Matcher::default()
        },
        Fault::Delay(Duration::from_millis(600)),
        100,
    );
    let slow_sdk = s.sdk.to_builder().endpoint_url(proxy.url()).build();
    let slow = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&slow_sdk),
        s.store.tables().clone(),
    );
    let consumer = Arc::new(
        StockConsumer::new(slow, Metrics::silent("stock-consumer")).with_settings(
            ConsumerSettings {
                deadline_margin: Duration::from_millis(1200),
                ..ConsumerSettings::default()
            },
        ),
    );
    // Eight events of 33 changes: a transaction each, 4.8 s of DynamoDB against 3 s.
    let events: Vec<InventoryEvent> = (0..8)
        .map(|n| {
            let changes = (0..33)
                .map(|i| available(TEE, WH, n * 100 + i, n * 40 + i))
                .collect();
            levels(&format!("slow-{n}-{}", std::process::id()), changes)
        })
        .collect();
    s.queue.send(&events).await.unwrap();

    let mut poller = s.poller.clone();
    poller.timeout = Duration::from_secs(3);
    let seen: Arc<Mutex<Option<(bool, usize)>>> = Arc::default();
    let handler = {
        let (consumer, seen) = (consumer.clone(), seen.clone());
        move |event, deadline: Instant| {
            let (consumer, seen) = (consumer.clone(), seen.clone());
            async move {
                let response =
                    stockbridge_lambda::sqs_batch::consume(&consumer, event, Some(deadline)).await;
                let in_time = Instant::now() < deadline;
                *seen.lock().unwrap() = Some((in_time, response.batch_item_failures.len()));
                response
            }
        }
    };
    let mut received = 0;
    for _ in 0..10 {
        received = poll_once(&s.sqs, &poller, &handler).await.unwrap().received;
        if received > 0 {
            break;
        }
    }
    assert_eq!(received, 8, "one batch of all eight");
    let (in_time, failed) = seen.lock().unwrap().expect("the handler ran");
    assert!(in_time, "the consumer answered after its deadline");
    assert!(failed > 0 && failed < 8, "{failed} of 8 failed");
    assert_eq!(
        applied(&s, &events).await,
        8 - failed,
        "the ones not failed are applied"
    );

    // The undone come back alone (the done were deleted) and apply.
    s.drain().await;
    assert_eq!(applied(&s, &events).await, 8);
    assert_eq!(s.depth(&s.dlq_url).await, 0);
    assert_eq!(
        s.consumer.metrics.total("EventsApplied"),
        failed as f64,
        "only the undone were delivered again"
    );
}

#[tokio::test]
async fn an_event_dynamodb_refuses_fails_alone_and_the_good_ones_of_its_batch_apply() {
    let s = stack().await;
    s.import_sample_map().await;
    let mut events: Vec<InventoryEvent> = (0..5)
        .map(|n| levels(&format!("good-{n}"), vec![available(TEE, WH, 10 + n, n)]))
        .collect();
    // A webhook id long enough that the idempotency key exceeds DynamoDB's 2,048 bytes.
    let bad = levels(&"w".repeat(2100), vec![available(TEE + 1, WH, 3, 1)]);
    events.insert(2, bad.clone());
    s.queue.send(&events).await.unwrap();
    s.drain().await;

    assert_eq!(applied(&s, &events).await, 5);
    let stock = s.stock().await;
    assert_eq!(stock[&format!("{TEE}@{WH}")].0, 14, "the good ones applied");
    assert!(!stock.contains_key(&format!("{}@{WH}", TEE + 1)));
    let dead = s
        .sqs
        .receive_message()
        .queue_url(&s.dlq_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<InventoryEvent> = dead
        .messages()
        .iter()
        .map(|m| InventoryEvent::from_json(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies.len(), 1, "only the refused event is dead-lettered");
    assert_eq!(bodies[0].key, bad.key);
    assert!(s.consumer.metrics.total("ConsumerRefused") >= 1.0);
}

// ---------------------------------------------------------------- shop/redact

/// The records a table holds for `shop` (stock, SKU map, inbox: `shop`; idempotency: keys).
async fn held(s: &Stack, shop: &ShopDomain) -> [usize; 4] {
    let t = s.store.tables();
    let client = s.store.client();
    let mut counts = [0; 4];
    for (i, table) in [&t.stock, &t.skumap, &t.inbox, &t.idempotency]
        .into_iter()
        .enumerate()
    {
        let (filter, value) = if i == 3 {
            ("begins_with(pk, :v)", format!("{shop}:"))
        } else {
            ("shop = :v", shop.to_string())
        };
        let mut pages = client
            .scan()
            .table_name(table)
            .filter_expression(filter)
            .expression_attribute_values(":v", AttributeValue::S(value))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            item.unwrap();
            counts[i] += 1;
        }
    }
    counts
}

/// `n` item mappings of `shop` (5 records each: mapping, listing, three aliases).
fn mappings(shop: &ShopDomain, first: u64, n: u64) -> Vec<ItemMapping> {
    let uom = UomFactor::new("each", "each").unwrap();
    (first..first + n)
        .map(|i| ItemMapping {
            shop: shop.clone(),
            item: InventoryItemId(45_100_000_000_000_000 + i),
            variant: VariantId(46_100_000_000_000_000 + i),
            sku: format!("SB-BULK-{i}"),
            erp_item: format!("BULK-{i}"),
            uom: uom.clone(),
        })
        .collect()
}

/// Seeds the demo shop with over 600 records across the four tables (and another shop with a
/// few); returns the other shop and what each holds.
async fn seed(s: &Stack) -> (ShopDomain, [usize; 4], [usize; 4]) {
    s.import_sample_map().await;
    s.store.put_items(&mappings(&shop(), 0, 100)).await.unwrap();
    // 120 level changes: a stock record and a log entry each, and the idempotency record; 30
    // of them for unmapped items: parked in the inbox.
    let events: Vec<InventoryEvent> = (0..150)
        .map(|n| {
            let item = if n < 120 {
                45_100_000_000_000_000 + n as u64
            } else {
                1 + n as u64
            };
            levels(&format!("seed-{n}"), vec![available(item, WH, 5, n)])
        })
        .collect();
    for chunk in events.chunks(10) {
        s.queue.send(chunk).await.unwrap();
    }
    s.drain().await;
    let other = ShopDomain::new("other-shop.myshopify.com");
    s.store.put_items(&mappings(&other, 0, 5)).await.unwrap();
    s.store.put_report(&other, "run-1", "{}").await.unwrap();
    let (mine, theirs) = (held(s, &shop()).await, held(s, &other).await);
    assert!(mine.iter().sum::<usize>() >= 600, "seeded {mine:?}");
    assert!(
        mine.iter().all(|n| *n > 0),
        "records in every table: {mine:?}"
    );
    (other, mine, theirs)
}

/// A consumer redacting `page` records a step, at most `max_steps` steps per message, handing
/// on through the events queue (or, without it, failing the message to come back).
fn redactor(
    s: &Stack,
    page: usize,
    max_steps: u32,
    hand_on: bool,
) -> Arc<StockConsumer<DynamoStore, NoErp, stockbridge_aws::sqs::SqsQueue>> {
    let c = StockConsumer::new(s.store.clone(), Metrics::silent("redactor")).with_settings(
        ConsumerSettings {
            redact: RedactSettings { page, max_steps },
            ..ConsumerSettings::default()
        },
    );
    let c = c.with_queue(s.queue.clone());
    Arc::new(if hand_on {
        c
    } else {
        StockConsumer { retries: None, ..c }
    })
}

async fn request_redaction(s: &Stack, webhook: &str) -> InventoryEvent {
    let mut e = event_of(&shop(), webhook, EventBody::ShopRedact { resume: None });
    e.source.topic = "shop/redact".into();
    s.queue.send(std::slice::from_ref(&e)).await.unwrap();
    e
}

#[tokio::test]
async fn a_redaction_of_hundreds_of_records_goes_on_over_several_invocations_until_all_are_gone() {
    let s = stack().await;
    let (other, mine, theirs) = seed(&s).await;
    let request = request_redaction(&s, "redact-1").await;
    let c = redactor(&s, 50, 3, true);
    s.drain_with(&c).await;

    assert_eq!(
        held(&s, &shop()).await,
        [0; 4],
        "the shop's records are all gone"
    );
    assert_eq!(
        held(&s, &other).await,
        theirs,
        "the other shop is untouched"
    );
    let progress = s.store.redact_progress(&shop()).await.unwrap().unwrap();
    assert_eq!(progress.run, request.key);
    assert!(progress.finished_at.is_some() && progress.cursor.is_none());
    assert_eq!(progress.deleted as usize, mine.iter().sum::<usize>());
    assert!(
        progress.continuations >= 3,
        "several invocations: {progress:?}"
    );
    assert!(
        progress.steps <= 3 * (u64::from(progress.continuations) + 1),
        "no invocation took more than its 3 steps: {progress:?}"
    );
    assert_eq!(c.metrics.total("ShopRedacted"), 1.0);
    assert_eq!(s.depth(&s.dlq_url).await, 0);
}

#[tokio::test]
async fn a_redaction_that_stops_after_one_step_resumes_from_its_recorded_cursor() {
    let s = stack().await;
    let (other, mine, theirs) = seed(&s).await;
    request_redaction(&s, "redact-crash").await;

    // One step, then the invocation ends without handing on (as if it died): the message fails.
    let crashing = redactor(&s, 50, 1, false);
    for _ in 0..10 {
        s.drain_once_with(&crashing).await;
        if s.store.redact_progress(&shop()).await.unwrap().is_some() {
            break;
        }
    }
    let crashed = s.store.redact_progress(&shop()).await.unwrap().unwrap();
    assert_eq!(crashed.steps, 1);
    let cursor = crashed
        .cursor
        .clone()
        .expect("a cursor after the first page");
    assert_eq!(
        s.depth(&s.poller.queue_url).await,
        1,
        "the request comes back"
    );

    // Delivered again: one more step, from the recorded cursor (from the start, it would have
    // read the first page again and recorded the same cursor).
    let resuming = redactor(&s, 50, 1, true);
    for _ in 0..10 {
        s.drain_once_with(&resuming).await;
        if s.store
            .redact_progress(&shop())
            .await
            .unwrap()
            .unwrap()
            .steps
            > 1
        {
            break;
        }
    }
    let resumed = s.store.redact_progress(&shop()).await.unwrap().unwrap();
    assert_eq!(resumed.steps, 2);
    assert_ne!(
        resumed.cursor.as_ref(),
        Some(&cursor),
        "it went on from the cursor"
    );
    assert_eq!(resumed.started_at, crashed.started_at, "the same redaction");

    s.drain_with(&redactor(&s, 50, 1_000, true)).await;
    assert_eq!(held(&s, &shop()).await, [0; 4]);
    assert_eq!(held(&s, &other).await, theirs);
    let done = s.store.redact_progress(&shop()).await.unwrap().unwrap();
    assert!(done.finished_at.is_some());
    // What was seeded, and the failure record the crashed delivery left (the consumer keeps one
    // per failed message, with the shop, so the redaction deletes it too).
    assert_eq!(done.deleted as usize, mine.iter().sum::<usize>() + 1);
    assert_eq!(s.depth(&s.dlq_url).await, 0);
}
