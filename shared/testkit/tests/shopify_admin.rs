//! `ShopifyGraphql` against the local Shopify stand-in (`infra/shopify-standin/standin.py`),
//! started as a subprocess per test on a free loopback port: pagination with ids beyond 2^53,
//! pacing to a small cost bucket, compare-and-set, idempotency keys, chunking, error mapping and
//! the signed `inventory_levels/update` webhook a set causes.
//!
//! Needs `STOCKBRIDGE_TEST_PYTHON` (the venv's python, with graphql-core): `infra/test.sh` sets it.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use stockbridge_core::ports::{ShopifyAdmin, ShopifyError, ShopifyLevel, ShopifySet};
use stockbridge_domain::ids::{InventoryItemId, LocationId};
use stockbridge_shopify::signature;
use stockbridge_shopify_admin::ShopifyGraphql;
use support::standin::{free_port, Options, Standin, TOKEN};
use support::{SECRET, SHOP};

/// Ids beyond 2^53: a float would round them.
const ITEM_BASE: u64 = 271_878_346_596_884_015;
const LOCATION: u64 = 9_007_199_254_740_993;

/// What these tests ask of the stand-in beyond starting it.
trait Seeded {
    async fn seed(&self, n: u64);
    async fn level(&self, item: u64) -> (i64, i64, i64);
}

impl Seeded for Standin {
    /// `n` items at LOCATION: item i has available i and committed i % 3.
    async fn seed(&self, n: u64) {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"id": ITEM_BASE + i, "sku": format!("SKU-{i:04}")}))
            .collect();
        let levels: Vec<Value> = (0..n)
            .map(|i| json!({"item": ITEM_BASE + i, "location": LOCATION, "available": i, "committed": i % 3}))
            .collect();
        self.post(
            "/_standin/seed",
            json!({
                "items": items,
                "locations": [{"id": LOCATION, "name": "Warehouse"}],
                "levels": levels,
            }),
        )
        .await;
    }

    /// (available, committed, on_hand) of one level, from the stand-in's own state.
    async fn level(&self, item: u64) -> (i64, i64, i64) {
        let state = self.get("/_standin/state").await;
        let level = state["levels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| {
                l["item_id"].as_u64() == Some(item) && l["location_id"].as_u64() == Some(LOCATION)
            })
            .unwrap_or_else(|| panic!("no level for item {item}"));
        (
            level["available"].as_i64().unwrap(),
            level["committed"].as_i64().unwrap(),
            level["on_hand"].as_i64().unwrap(),
        )
    }
}

fn set(i: u64, expected: i64, quantity: i64) -> ShopifySet {
    ShopifySet {
        item: InventoryItemId(ITEM_BASE + i),
        location: LocationId(LOCATION),
        quantity,
        expected,
    }
}

/// Reads every level at LOCATION; a `Throttled` is waited out and counted.
async fn read_all(client: &ShopifyGraphql) -> (Vec<ShopifyLevel>, usize, usize) {
    let mut levels = Vec::new();
    let mut cursor = None;
    let (mut pages, mut throttled) = (0, 0);
    loop {
        match client
            .levels_page(LocationId(LOCATION), cursor.clone())
            .await
        {
            Ok((page, next)) => {
                pages += 1;
                levels.extend(page);
                match next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            Err(ShopifyError::Throttled { retry_after_ms }) => {
                throttled += 1;
                assert!(throttled < 20, "throttled again and again");
                tokio::time::sleep(Duration::from_millis(retry_after_ms)).await;
            }
            Err(e) => panic!("levels_page: {e}"),
        }
    }
    (levels, pages, throttled)
}

fn check_levels(levels: &[ShopifyLevel], n: u64) {
    assert_eq!(levels.len() as u64, n, "every level, once");
    let ids: HashSet<u64> = levels.iter().map(|l| l.item.0).collect();
    assert_eq!(ids, (0..n).map(|i| ITEM_BASE + i).collect::<HashSet<_>>());
    for l in levels {
        let i = l.item.0 - ITEM_BASE;
        assert_eq!(l.location, LocationId(LOCATION));
        assert_eq!(l.available, i as i64);
        assert_eq!(l.committed, (i % 3) as i64);
        assert_eq!(l.on_hand, l.available + l.committed);
    }
}

// ---------------------------------------------------------------------------------------------
// Reads

#[tokio::test]
async fn pagination_returns_every_level_with_ids_beyond_2_pow_53_intact() {
    let standin = Standin::start(Options::default()).await;
    standin.seed(120).await;
    let client = standin.client();
    let (levels, pages, throttled) = read_all(&client).await;
    check_levels(&levels, 120);
    assert!(pages >= 2, "paged ({pages} pages)");
    assert_eq!(throttled, 0);
    let status = client
        .throttle_status()
        .expect("a throttle status was seen");
    assert_eq!(status.maximum_available, 1000.0);
    assert_eq!(status.restore_rate, 100.0);
}

#[tokio::test]
async fn a_small_bucket_slows_the_read_down_instead_of_being_throttled() {
    // 50 points, 25 per second: 120 levels cost about 400 points, so the read must wait for
    // the bucket several times; the pages are sized to what it holds.
    let standin = Standin::start(Options {
        bucket: 50,
        restore: 25,
        ..Options::default()
    })
    .await;
    standin.seed(120).await;
    let client = standin.client();
    let started = Instant::now();
    let (levels, pages, throttled) = read_all(&client).await;
    let elapsed = started.elapsed();
    check_levels(&levels, 120);
    assert!(pages >= 8, "pages fit a 50-point bucket ({pages} pages)");
    assert!(
        elapsed >= Duration::from_secs(8),
        "paced by the restore rate (took {elapsed:?})"
    );
    let stats = standin.get("/_standin/stats").await;
    let min_available = stats["min_available"].as_f64().unwrap();
    let max_debt = stats["max_debt"].as_f64().unwrap();
    assert!(min_available >= 0.0, "bucket went below zero: {stats}");
    assert!(max_debt <= 50.0, "debt beyond the bucket: {stats}");
    let server_throttled = stats["throttled"].as_u64().unwrap();
    println!(
        "120 levels in {pages} pages, {elapsed:?}; min available {min_available}, max debt {max_debt}, throttled {server_throttled}"
    );
    assert_eq!(server_throttled as usize, throttled);
    assert!(server_throttled <= 1, "paced, not throttled: {stats}");
}

#[tokio::test]
async fn an_unknown_location_and_a_wrong_token_are_rejected() {
    let standin = Standin::start(Options::default()).await;
    standin.seed(1).await;
    let err = standin
        .client()
        .levels_page(LocationId(42), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ShopifyError::Rejected(_)), "{err:?}");
    let wrong = ShopifyGraphql::new(&standin.base, "shpat_wrong").unwrap();
    match wrong.levels_page(LocationId(LOCATION), None).await {
        Err(ShopifyError::Rejected(m)) => assert!(m.contains("read_inventory"), "{m}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    let err = wrong
        .set_available(&[set(0, 0, 1)], "correction", "k-wrong")
        .await
        .unwrap_err();
    assert!(matches!(err, ShopifyError::Rejected(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_shop_is_unavailable() {
    let client = ShopifyGraphql::new(&format!("http://127.0.0.1:{}", free_port()), TOKEN).unwrap();
    let err = client
        .levels_page(LocationId(LOCATION), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ShopifyError::Unavailable(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Writes

#[tokio::test]
async fn set_available_applies_and_moves_on_hand_with_it() {
    let standin = Standin::start(Options::default()).await;
    standin.seed(6).await;
    let client = standin.client();
    // Item 5: available 5, committed 2.
    client
        .set_available(&[set(5, 5, 9), set(4, 4, 0)], "correction", "set-1")
        .await
        .expect("applied");
    assert_eq!(standin.level(ITEM_BASE + 5).await, (9, 2, 11));
    assert_eq!(standin.level(ITEM_BASE + 4).await, (0, 1, 1));
    let (levels, _, _) = read_all(&client).await;
    let five = levels.iter().find(|l| l.item.0 == ITEM_BASE + 5).unwrap();
    assert_eq!((five.available, five.committed, five.on_hand), (9, 2, 11));
}

#[tokio::test]
async fn a_stale_expectation_is_refused_and_changes_nothing() {
    let standin = Standin::start(Options::default()).await;
    standin.seed(6).await;
    let client = standin.client();
    // Someone sold one of item 3 in the Shopify admin meanwhile.
    standin
        .post(
            "/_standin/set",
            json!({"item": ITEM_BASE + 3, "location": LOCATION, "available": 2, "silent": true}),
        )
        .await;
    let err = client
        .set_available(&[set(1, 1, 10), set(3, 3, 10)], "correction", "stale-1")
        .await
        .unwrap_err();
    assert_eq!(err, ShopifyError::Stale);
    // The whole mutation changed nothing: item 1 (whose expectation held) is untouched too.
    assert_eq!(standin.level(ITEM_BASE + 1).await, (1, 1, 2));
    assert_eq!(standin.level(ITEM_BASE + 3).await, (2, 0, 2));
    // Re-read and decide again: with the right expectation it applies.
    client
        .set_available(&[set(1, 1, 10), set(3, 2, 10)], "correction", "stale-2")
        .await
        .expect("applied");
    assert_eq!(standin.level(ITEM_BASE + 3).await, (10, 0, 10));
}

#[tokio::test]
async fn the_same_idempotency_key_applies_once() {
    let standin = Standin::start(Options::default()).await;
    standin.seed(3).await;
    let client = standin.client();
    let sets = [set(2, 2, 7)];
    client
        .set_available(&sets, "correction", "key-A")
        .await
        .expect("applied");
    assert_eq!(standin.level(ITEM_BASE + 2).await.0, 7);
    // A merchant puts it back to 2; a retry of the first call (same key) must not apply again.
    standin
        .post(
            "/_standin/set",
            json!({"item": ITEM_BASE + 2, "location": LOCATION, "available": 2, "silent": true}),
        )
        .await;
    client
        .set_available(&sets, "correction", "key-A")
        .await
        .expect("the first result, replayed");
    assert_eq!(standin.level(ITEM_BASE + 2).await.0, 2, "not applied twice");
    let stats = standin.get("/_standin/stats").await;
    assert_eq!(stats["mutations_applied"], 1);
    assert_eq!(stats["idempotent_replays"], 1);
}

#[tokio::test]
async fn more_than_250_quantities_go_in_chunks_with_derived_keys() {
    let standin = Standin::start(Options::default()).await;
    standin.seed(300).await;
    let client = standin.client();
    let sets: Vec<ShopifySet> = (0..300)
        .map(|i| set(i, i as i64, 1000 + i as i64))
        .collect();
    client
        .set_available(&sets, "cycle_count_available", "bulk-1")
        .await
        .expect("applied");
    // Again under the same key: both chunks replay, nothing applies twice.
    client
        .set_available(&sets, "cycle_count_available", "bulk-1")
        .await
        .expect("replayed");
    let stats = standin.get("/_standin/stats").await;
    assert_eq!(stats["mutations_applied"], 2, "two chunks: {stats}");
    assert_eq!(stats["idempotent_replays"], 2, "{stats}");
    let state = standin.get("/_standin/state").await;
    for level in state["levels"].as_array().unwrap() {
        let i = level["item_id"].as_u64().unwrap() - ITEM_BASE;
        assert_eq!(level["available"].as_i64().unwrap(), 1000 + i as i64);
    }
}

#[tokio::test]
async fn an_unknown_reason_is_rejected() {
    let standin = Standin::start(Options::default()).await;
    standin.seed(1).await;
    match standin
        .client()
        .set_available(&[set(0, 0, 1)], "because", "reason-1")
        .await
    {
        Err(ShopifyError::Rejected(m)) => assert!(m.contains("INVALID_REASON"), "{m}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(standin.level(ITEM_BASE).await.0, 0);
}

// ---------------------------------------------------------------------------------------------
// Webhooks

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receive(State(received): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    received.lock().unwrap().push((headers, body));
    StatusCode::OK
}

#[tokio::test]
async fn a_set_sends_a_signed_inventory_levels_update_webhook() {
    let received: Received = Arc::default();
    let app = Router::new()
        .route("/webhooks/shopify", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}/webhooks/shopify", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });

    let standin = Standin::start(Options {
        webhook_url: Some(receiver),
        ..Options::default()
    })
    .await;
    standin.seed(2).await;
    standin
        .client()
        .set_available(&[set(1, 1, 42)], "correction", "hook-1")
        .await
        .expect("applied");

    let deadline = Instant::now() + Duration::from_secs(10);
    let (headers, body) = loop {
        if let Some(first) = received.lock().unwrap().first().cloned() {
            break first;
        }
        assert!(Instant::now() < deadline, "no webhook arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let header = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        signature::verify(&[SECRET], &body, &header("x-shopify-hmac-sha256")),
        Some(0),
        "signed with the webhook secret"
    );
    assert_eq!(
        signature::verify(&["another-secret"], &body, &header("x-shopify-hmac-sha256")),
        None
    );
    assert_eq!(header("x-shopify-topic"), "inventory_levels/update");
    assert_eq!(header("x-shopify-shop-domain"), SHOP);
    assert_eq!(header("x-shopify-api-version"), "2026-04");
    assert!(!header("x-shopify-webhook-id").is_empty());
    assert!(!header("x-shopify-event-id").is_empty());
    assert!(header("x-shopify-triggered-at").ends_with('Z'));
    let payload: BTreeMap<String, Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["inventory_item_id"].as_u64(), Some(ITEM_BASE + 1));
    assert_eq!(payload["location_id"].as_u64(), Some(LOCATION));
    assert_eq!(payload["available"], 42);
    assert!(payload["updated_at"].is_string());
    assert_eq!(
        payload["admin_graphql_api_id"],
        format!(
            "gid://shopify/InventoryLevel/{LOCATION}?inventory_item_id={}",
            ITEM_BASE + 1
        )
    );

    // The stand-in records the delivery; a silent manual change sends nothing (a lost webhook).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = standin.get("/_standin/stats").await;
        if stats["deliveries"]["delivered"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "delivery not recorded: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    standin
        .post(
            "/_standin/set",
            json!({"item": ITEM_BASE, "location": LOCATION, "available": 5, "silent": true}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received.lock().unwrap().len(), 1);
    server.abort();
}
