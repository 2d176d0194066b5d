//! The ERP push hardened, against real moto (DynamoDB, SQS) and a real Tryton 8.2, faults
//! injected by the fault proxy: 500 records owed at once drain; an "out" shipment refused after
//! its "in" is done is sent again under the same key, so the "in" is applied once; two
//! consumers racing past an expired lease create one ERP document; a write refused N times is
//! parked, listed for the operator and released.
//!
//! Each test creates its own Tryton products (unique codes) and provisions its own tables and
//! queue, so tests may share the Tryton of `infra/test.sh` and run in parallel.

mod fault_proxy;
mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use fault_proxy::{Fault, FaultProxy, Matcher};
use stockbridge_core::erp_push::{ErpPush, PushPolicy};
use stockbridge_core::ports::{Erp, EventQueue, SkuMapStore};
use stockbridge_core::retry::RetryPolicy;
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::event::{EventBody, InventoryEvent, Part, Source, StockChange};
use stockbridge_domain::ids::Version;
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp, VariantId};
use stockbridge_domain::skumap::{ItemMapping, UomFactor};
use stockbridge_domain::stock::StockKey;
use stockbridge_erp::tryton::TrytonErp;
use support::erp::{consumer_with_erp, create_products, env, unique};
use support::{Stack, SHOP};

const WH: u64 = 72000000001; // ERP-master warehouse, default location
const STORE: u64 = 72000000002; // Shopify-master shop floor: the ERP follows every change
/// Shopify item and variant ids of this file's items (well away from the sample catalogue's).
const ITEM0: u64 = 45_000_000_000_200_000;
const VARIANT0: u64 = 46_000_000_000_200_000;

fn tryton() -> (String, String) {
    (env("TRYTON_URL"), env("TRYTON_API_KEY"))
}

fn direct_erp() -> TrytonErp {
    let (base, key) = tryton();
    TrytonErp::new(&base, &key, 1).expect("a loopback Tryton URL")
}

/// A Tryton client through `proxy`, waiting up to `request` for each answer.
fn erp_through(proxy: &FaultProxy, request: Duration) -> TrytonErp {
    let (_, key) = tryton();
    TrytonErp::new(format!("{}/stockbridge", proxy.url()), &key, 1)
        .expect("a loopback Tryton URL")
        .with_timeouts(request, Duration::from_secs(1))
        .expect("a client with timeouts")
}

async fn proxy() -> FaultProxy {
    let (base, _) = tryton();
    FaultProxy::start(&base.replace("/stockbridge", "")).await
}

/// Maps the warehouse and the shop floor, and `n` Shopify items (ids from [`ITEM0`]) to the
/// given ERP product codes in turn.
async fn map(s: &Stack, n: u64, codes: &[String]) -> Vec<u64> {
    let locations = format!(
        "shop,location_id,name,erp_warehouse,master,default\n{SHOP},{WH},Warehouse,WH,erp,true\n{SHOP},{STORE},Shop floor,STORE,shopify,false\n"
    );
    stockbridge_ops::import_skumap(&s.store, &s.queue, None, Some(&locations), false)
        .await
        .expect("import the locations");
    let uom = UomFactor::new("each", "each").expect("the unit each");
    let rows: Vec<ItemMapping> = (0..n)
        .map(|i| ItemMapping {
            shop: ShopDomain::new(SHOP),
            item: InventoryItemId(ITEM0 + i),
            variant: VariantId(VARIANT0 + i),
            sku: format!("SB-PUSH-{i}"),
            erp_item: codes[(i as usize) % codes.len()].clone(),
            uom: uom.clone(),
        })
        .collect();
    s.store.put_items(&rows).await.expect("map the items");
    rows.iter().map(|r| r.item.0).collect()
}

fn floor_key(item: u64) -> StockKey {
    StockKey {
        shop: ShopDomain::new(SHOP),
        item: InventoryItemId(item),
        location: LocationId(STORE),
    }
}

/// Shopify's `available` of each item at the shop floor, as of second `n` of the day.
fn counted(tag: &str, levels: &[(u64, i64)], n: u32) -> InventoryEvent {
    let at = Timestamp::parse(&format!("2026-11-27T10:00:{n:02}Z")).expect("a time");
    let now = Timestamp::now();
    InventoryEvent {
        schema: stockbridge_domain::event::SCHEMA_VERSION,
        key: InventoryEvent::delivery_key(&ShopDomain::new(SHOP), tag, Part::WHOLE),
        shop: ShopDomain::new(SHOP),
        source: Source {
            topic: "inventory_levels/update".into(),
            webhook_id: tag.into(),
            event_id: None,
            api_version: Some("2026-04".into()),
            triggered_at: now,
            received_at: now,
        },
        part: Part::WHOLE,
        body: EventBody::Stock {
            changes: levels
                .iter()
                .map(|(item, available)| StockChange::Available {
                    item: InventoryItemId(*item),
                    location: LocationId(STORE),
                    available: Some(*available),
                    version: Version::new(at, at),
                    connect: false,
                })
                .collect(),
        },
    }
}

/// On-hand at the shop floor per product code, normalised.
async fn floor(codes: &[String]) -> HashMap<String, Decimal> {
    direct_erp()
        .levels("STORE", codes)
        .await
        .expect("Tryton levels")
        .into_iter()
        .map(|(k, v)| (k, v.normalize()))
        .collect()
}

/// Records of the shop that still owe the ERP (owed or in flight).
async fn owing(s: &Stack) -> BTreeSet<StockKey> {
    s.store
        .levels(&s.shop())
        .await
        .expect("levels")
        .into_iter()
        .filter(|(_, l)| l.erp_owed != 0 || l.erp_inflight.is_some())
        .map(|(k, _)| k)
        .collect()
}

/// Tryton's internal shipments carrying `reference`.
async fn shipments(reference: &str) -> Vec<Value> {
    let (base, key) = tryton();
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE.encode(v.to_string());
    let domain = json!([["reference", "=", reference]]);
    let r = reqwest::Client::new()
        .get(format!("{base}/rest/model/stock.shipment.internal"))
        .query(&[("d", b64(&domain)), ("f", "state".into())])
        .bearer_auth(&key)
        .header("X-Tryton-Context", b64(&json!({"company": 1})))
        .send()
        .await
        .expect("Tryton reachable");
    let status = r.status();
    let body = r.text().await.expect("body");
    assert!(status.is_success(), "{status} {body}");
    serde_json::from_str(&body).expect("a JSON list")
}

/// Quick retries, a breaker that stays closed: what a test needs to see the push's own logic.
fn quick() -> PushPolicy {
    PushPolicy {
        retry: RetryPolicy {
            attempts: 4,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(200),
            ..PushPolicy::RETRY
        },
        breaker_threshold: 50,
        ..PushPolicy::default()
    }
}

#[tokio::test]
async fn five_hundred_records_owed_at_once_drain() {
    let mut s = support::stack().await;
    // One receive takes the whole count, as a busy queue delivers it.
    s.poller.batching_window = Duration::from_secs(3);
    let codes: Vec<String> = (0..5).map(|i| unique(&format!("BULK{i}"))).collect();
    let (base, key) = tryton();
    create_products(&base, &key, &codes).await;
    let items = map(&s, 500, &codes).await;
    // A count of every item at the shop floor, five items a message, while the ERP is down.
    let events: Vec<InventoryEvent> = items
        .chunks(5)
        .enumerate()
        .map(|(i, chunk)| {
            let levels: Vec<(u64, i64)> = chunk.iter().map(|item| (*item, 1)).collect();
            counted(&unique(&format!("count-{i}")), &levels, 1)
        })
        .collect();
    s.queue.send(&events).await.expect("enqueue the count");
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let down = consumer_with_erp(
        &s,
        TrytonErp::new(format!("http://127.0.0.1:{dead}/stockbridge"), &key, 1)
            .expect("a loopback URL"),
        quick(),
    );
    s.drain_once_with(&down).await;
    assert_eq!(owing(&s).await.len(), 500, "the whole count is owed");
    assert_eq!(s.depth(&s.dlq_url).await, 0);

    // The ERP is back: the scheduled retry drains the debt.
    let up = consumer_with_erp(&s, direct_erp(), PushPolicy::default());
    let until = Instant::now() + Duration::from_secs(90);
    while !owing(&s).await.is_empty() && Instant::now() < until {
        s.drain_once_with(&up).await;
    }
    let left = owing(&s).await.len();
    assert_eq!(left, 0, "{left} records still owe the ERP after 90 s");
    let expected: HashMap<String, Decimal> = codes
        .iter()
        .map(|c| (c.clone(), Decimal::from(100)))
        .collect();
    assert_eq!(floor(&codes).await, expected, "each unit told once");
    assert_eq!(s.depth(&s.dlq_url).await, 0);
}

/// Two items at the shop floor mapped to fresh products: `up` and `down`; `down` opens with 5
/// told to the ERP. Returns the codes and the consumer's proxy.
async fn in_and_out(s: &Stack) -> ([String; 2], FaultProxy) {
    let codes = [unique("UP"), unique("DOWN")];
    let (base, key) = tryton();
    create_products(&base, &key, &codes).await;
    map(s, 2, &codes).await;
    s.queue
        .send(&[counted(&unique("open"), &[(ITEM0 + 1, 5)], 1)])
        .await
        .expect("enqueue");
    let opening = consumer_with_erp(s, direct_erp(), quick());
    s.drain_with(&opening).await;
    assert_eq!(floor(&codes).await[&codes[1]], Decimal::from(5));
    (codes, proxy().await)
}

/// Refuses (HTTP 400) the next `times` creations of an "out" shipment.
fn refuse_outs(proxy: &FaultProxy, times: usize) {
    let creates_out = Matcher {
        method: Some("POST"),
        path_contains: Some("stock.shipment.internal".into()),
        body_contains: Some(":out\"".into()),
    };
    let refusal = Fault::Status {
        code: 400,
        retry_after: None,
    };
    proxy.push_matching(creates_out, refusal, times);
}

#[tokio::test]
async fn an_out_refused_after_its_in_is_done_is_sent_again_and_the_in_is_applied_once() {
    let s = support::stack().await;
    let (codes, proxy) = in_and_out(&s).await;
    refuse_outs(&proxy, 1);
    let c = consumer_with_erp(&s, erp_through(&proxy, Duration::from_secs(10)), quick());
    // One write: +4 of `up` (the "in" shipment, done first), -3 of `down` (the "out", refused).
    let change = counted(&unique("change"), &[(ITEM0, 4), (ITEM0 + 1, 2)], 2);
    s.queue.send(&[change]).await.expect("enqueue");
    s.drain_with(&c).await;
    assert_eq!(proxy.aimed_served(), 1, "the out shipment was refused once");
    let push = c.erp.as_ref().expect("an ERP push");
    assert_eq!(push.metrics.total("ErpRejected"), 1.0);
    let mut expected = HashMap::new();
    expected.insert(codes[0].clone(), Decimal::from(4));
    expected.insert(codes[1].clone(), Decimal::from(2));
    assert_eq!(
        floor(&codes).await,
        expected,
        "the in applied once, the out once"
    );
    assert_eq!(owing(&s).await, BTreeSet::new());
}

#[tokio::test]
async fn two_consumers_racing_past_an_expired_lease_create_one_erp_document() {
    let s = support::stack().await;
    let codes = [unique("RACE")];
    let (base, key) = tryton();
    create_products(&base, &key, &codes).await;
    map(&s, 1, &codes).await;
    // Seven counted at the shop floor, applied by a consumer that does not push.
    s.queue
        .send(&[counted(&unique("count"), &[(ITEM0, 7)], 1)])
        .await
        .expect("enqueue");
    s.drain().await;
    // A slow ERP: the first two product look-ups take 5 s, longer than the lease of 3 s.
    let proxy = proxy().await;
    let lookup = Matcher {
        method: Some("GET"),
        path_contains: Some("product.product".into()),
        body_contains: None,
    };
    proxy.push_matching(lookup, Fault::Delay(Duration::from_secs(5)), 2);
    let policy = PushPolicy {
        lease: Duration::from_secs(3),
        attempt_timeout: Duration::from_millis(1500),
        ..quick()
    };
    let pusher = |name| {
        Arc::new(ErpPush::new(
            erp_through(&proxy, Duration::from_secs(8)),
            policy.clone(),
            Metrics::silent(name),
        ))
    };
    let (a, b) = (pusher("consumer-a"), pusher("consumer-b"));
    let keys = BTreeSet::from([floor_key(ITEM0)]);
    let started = Instant::now();
    let first = {
        let (a, store, keys) = (a.clone(), s.store.clone(), keys.clone());
        tokio::spawn(async move { a.push(&store, &keys).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let levels = s.store.levels(&s.shop()).await.expect("levels");
    let write_key = levels
        .iter()
        .find_map(|(_, l)| l.erp_inflight.as_ref().map(|i| i.key.clone()))
        .expect("consumer a prepared the write");
    // Past the lease as first taken, the second consumer pushes the same record.
    tokio::time::sleep(Duration::from_millis(3300).saturating_sub(started.elapsed())).await;
    let second = b.push(&s.store, &keys).await;
    let first = first.await.expect("consumer a's push");
    assert!(first.pending.is_empty(), "{first:?}");
    assert!(
        second.pending.is_empty() || second.contended == second.pending,
        "{second:?}"
    );
    assert_eq!(
        shipments(&format!("{write_key}:in")).await.len(),
        1,
        "one ERP document for the write"
    );
    assert_eq!(
        floor(&codes).await[&codes[0]],
        Decimal::from(7),
        "told once"
    );
    assert!(
        b.metrics.values("ErpCallMs").is_empty(),
        "the second consumer left the write to its holder"
    );
    assert_eq!(owing(&s).await, BTreeSet::new());
}

#[tokio::test]
async fn a_write_refused_n_times_is_parked_listed_and_released() {
    let s = support::stack().await;
    let (codes, proxy) = in_and_out(&s).await;
    refuse_outs(&proxy, 3);
    let policy = PushPolicy {
        max_refusals: 3,
        ..quick()
    };
    let c = consumer_with_erp(&s, erp_through(&proxy, Duration::from_secs(10)), policy);
    let change = counted(&unique("change"), &[(ITEM0, 4), (ITEM0 + 1, 2)], 2);
    s.queue.send(&[change]).await.expect("enqueue");
    s.drain_with(&c).await;
    let push = c.erp.as_ref().expect("an ERP push");
    assert_eq!(proxy.aimed_served(), 3);
    assert_eq!(push.metrics.total("ErpWriteParked"), 1.0);
    // Parked: not sent again on its own, not even when its record moves again, and listed for
    // the operator with the ERP's reason.
    let forwarded = proxy.requests();
    let more = counted(&unique("more"), &[(ITEM0 + 1, 1)], 3);
    s.queue.send(&[more]).await.expect("enqueue");
    s.drain_with(&c).await;
    assert_eq!(
        proxy.requests(),
        forwarded,
        "no ERP call for a parked write"
    );
    let levels = s.store.levels(&s.shop()).await.expect("levels");
    let parked = stockbridge_ops::erp_parked::parked_writes(&levels);
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(
        (parked[0].refusals, parked[0].warehouse.as_str()),
        (3, "STORE")
    );
    assert!(parked[0]
        .refused
        .as_deref()
        .is_some_and(|r| r.contains("400")));
    let floor_now = floor(&codes).await;
    assert_eq!(floor_now[&codes[0]], Decimal::from(4), "the in, once");
    assert_eq!(floor_now[&codes[1]], Decimal::from(5), "the out not yet");

    // Fixed: the operator releases it; it goes under its key, the in is not applied again.
    let released =
        stockbridge_ops::erp_parked::release_parked(&s.store, &s.queue, &levels, &parked[0].key)
            .await
            .expect("release");
    assert_eq!(released, 2);
    s.drain_with(&c).await;
    let mut expected = HashMap::new();
    expected.insert(codes[0].clone(), Decimal::from(4));
    expected.insert(codes[1].clone(), Decimal::from(1));
    assert_eq!(floor(&codes).await, expected, "the in once, both outs");
    assert_eq!(shipments(&format!("{}:in", parked[0].key)).await.len(), 1);
    assert_eq!(owing(&s).await, BTreeSet::new());
}

type Consumer = Arc<
    stockbridge_core::consumer::StockConsumer<
        stockbridge_aws::dynamodb::DynamoStore,
        TrytonErp,
        stockbridge_aws::sqs::SqsQueue,
        support::erp::EchoDynamo,
    >,
>;

/// Polls the queue with `c` until everything fed is settled (or `until`).
async fn consume_until_settled(
    s: &Stack,
    c: &Consumer,
    fed: &std::sync::atomic::AtomicBool,
    until: Instant,
) {
    while Instant::now() < until {
        if fed.load(std::sync::atomic::Ordering::SeqCst) && owing(s).await.is_empty() {
            return;
        }
        s.drain_once_with(c).await;
    }
}

#[tokio::test]
async fn two_consumers_over_one_warehouse_hand_over_and_never_back_off_for_each_other() {
    let s = support::stack().await;
    let codes = [unique("BUSY0"), unique("BUSY1"), unique("BUSY2")];
    let (base, key) = tryton();
    create_products(&base, &key, &codes).await;
    let items = map(&s, 3, &codes).await;
    // A slow ERP (each shipment call 300 ms), so that the two consumers' pushes overlap.
    let proxy = proxy().await;
    let shipment_calls = Matcher {
        method: None,
        path_contains: Some("stock.shipment.internal".into()),
        body_contains: None,
    };
    proxy.push_matching(
        shipment_calls,
        Fault::Delay(Duration::from_millis(300)),
        100_000,
    );
    let a = consumer_with_erp(
        &s,
        erp_through(&proxy, Duration::from_secs(10)),
        PushPolicy::default(),
    );
    let b = consumer_with_erp(
        &s,
        erp_through(&proxy, Duration::from_secs(10)),
        PushPolicy::default(),
    );
    let fed = std::sync::atomic::AtomicBool::new(false);
    // Twenty counts of the three items at the shop floor, one every 150 ms.
    let feed = async {
        for n in 1..=20u32 {
            let levels: Vec<(u64, i64)> = items.iter().map(|i| (*i, i64::from(n))).collect();
            s.queue
                .send(&[counted(&unique(&format!("busy-{n}")), &levels, n)])
                .await
                .expect("enqueue");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        fed.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let until = Instant::now() + Duration::from_secs(90);
    tokio::join!(
        feed,
        consume_until_settled(&s, &a, &fed, until),
        consume_until_settled(&s, &b, &fed, until)
    );
    let left = owing(&s).await.len();
    assert_eq!(left, 0, "{left} records still owe the ERP after 90 s");
    let expected: HashMap<String, Decimal> = codes
        .iter()
        .map(|c| (c.clone(), Decimal::from(20)))
        .collect();
    assert_eq!(floor(&codes).await, expected, "each change told once");
    // Meeting the other's write in flight scheduled no ERP-failure retry: none escalated.
    let total = |name: &str| a.metrics.total(name) + b.metrics.total(name);
    assert_eq!(
        total("ErpRetryScheduled/erp"),
        0.0,
        "retries scheduled as if the ERP had failed"
    );
    let push = |c: &Consumer| {
        c.erp
            .as_ref()
            .map_or(0.0, |p| p.metrics.total("ErpContended"))
    };
    assert!(push(&a) + push(&b) >= 1.0, "the two consumers never met");
    assert_eq!(s.depth(&s.dlq_url).await, 0);
}

#[test]
fn the_template_alarms_on_parked_writes_old_debt_and_an_open_circuit() {
    let template =
        std::fs::read_to_string(support::repo_root().join("template.yaml")).expect("template.yaml");
    // Resources are the blocks that start at an indent of two spaces.
    let mut blocks: Vec<String> = Vec::new();
    for line in template.lines() {
        let starts = line.starts_with("  ") && !line.starts_with("   ");
        match blocks.last_mut() {
            Some(block) if !starts => {
                block.push_str(line);
                block.push('\n');
            }
            _ => blocks.push(format!("{line}\n")),
        }
    }
    let alarms: Vec<&String> = blocks
        .iter()
        .filter(|block| block.contains("Type: AWS::CloudWatch::Alarm"))
        .collect();
    for metric in [
        "ErpWriteParked",
        "ErpOldestDebtAgeSeconds",
        "ErpCircuitOpen",
    ] {
        let alarm = alarms
            .iter()
            .find(|a| a.contains(&format!("MetricName: {metric}\n")))
            .unwrap_or_else(|| panic!("no alarm watches {metric}"));
        assert!(
            alarm.contains("Namespace: Stockbridge")
                && alarm.contains("AlarmActions: [!Ref AlarmTopic]")
                && alarm.contains("AlarmName: !Sub ${AWS::StackName}-"),
            "the alarm on {metric} does not reach the alarm topic: {alarm}"
        );
    }
}
