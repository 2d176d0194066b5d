//! `ShopifyGraphql` as `ShopifyReads` against the local Shopify stand-in
//! (`infra/shopify-standin/standin.py`), started per test: fulfillment orders read after an order
//! is routed, moved, fulfilled and cancelled; a fulfillment order longer than a page of lines;
//! every quantity name after units move to `damaged`, and a missing level; requests batched by
//! 20 and 100; the open listing at a location paged; a small bucket paced, and a drained one
//! waited out.
//!
//! Needs `STOCKBRIDGE_TEST_PYTHON` (the venv's python, with graphql-core): `infra/test.sh` sets it.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stockbridge_core::ports::{FulfillmentOrderRead, ShopifyReads};
use stockbridge_domain::event::{FulfillmentOrderLine, ShopifyQuantities};
use stockbridge_domain::ids::{
    FulfillmentOrderId, InventoryItemId, LineItemId, LocationId, OrderId,
};
use stockbridge_shopify_admin::ShopifyGraphql;
use support::standin::{Options, Standin, TOKEN};

/// Ids beyond 2^53: a float would round them.
const ITEM_A: u64 = 271_878_346_596_884_015;
const ITEM_B: u64 = ITEM_A + 1;
/// Stocked only at the warehouse.
const ITEM_C: u64 = ITEM_A + 2;
/// The primary location (the lowest id: where the stand-in routes online orders).
const WAREHOUSE: u64 = 9_007_199_254_740_993;
const STORE: u64 = WAREHOUSE + 2;

async fn start(bucket: u32, restore: u32) -> Standin {
    let standin = Standin::start(Options {
        bucket,
        restore,
        webhook_url: None,
    })
    .await;
    standin
        .post(
            "/_standin/seed",
            json!({
                "items": [
                    {"id": ITEM_A, "sku": "SKU-A"},
                    {"id": ITEM_B, "sku": "SKU-B"},
                    {"id": ITEM_C, "sku": "SKU-C"},
                ],
                "locations": [{"id": WAREHOUSE, "name": "Warehouse"}, {"id": STORE, "name": "Store"}],
                "levels": [
                    {"item": ITEM_A, "location": WAREHOUSE, "available": 1000},
                    {"item": ITEM_B, "location": WAREHOUSE, "available": 1000},
                    {"item": ITEM_C, "location": WAREHOUSE, "available": 1000},
                    {"item": ITEM_A, "location": STORE, "available": 50},
                    {"item": ITEM_B, "location": STORE, "available": 50},
                ],
            }),
        )
        .await;
    standin
}

/// An online order of `lines` (`[{sku, quantity}]`); its fulfillment orders as the stand-in
/// keeps them.
async fn order(standin: &Standin, lines: Value) -> (Value, Vec<Value>) {
    let placed = standin
        .post("/_standin/order", json!({ "lines": lines }))
        .await;
    let fos = placed["fulfillment_orders"].as_array().unwrap().clone();
    (placed["order"].clone(), fos)
}

fn fo_id(fo: &Value) -> FulfillmentOrderId {
    FulfillmentOrderId(fo["id"].as_u64().unwrap())
}

/// The read the stand-in's own record of a fulfillment order implies.
fn expected(fo: &Value) -> FulfillmentOrderRead {
    let lines = fo["line_items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| !l["inventory_item_id"].is_null())
        .map(|l| FulfillmentOrderLine {
            line: LineItemId(l["line_item_id"].as_u64().unwrap()),
            item: InventoryItemId(l["inventory_item_id"].as_u64().unwrap()),
            remaining: l["remaining_quantity"].as_i64().unwrap(),
        })
        .collect();
    FulfillmentOrderRead {
        id: fo_id(fo),
        order: OrderId(fo["order_id"].as_u64().unwrap()),
        location: LocationId(fo["location_id"].as_u64().unwrap()),
        open: fo["open"].as_bool().unwrap(),
        lines,
        updated_at: stockbridge_domain::ids::Timestamp::parse(fo["updated_at"].as_str().unwrap()),
    }
}

/// The stand-in's current record of fulfillment order `id`.
async fn fo_state(standin: &Standin, id: FulfillmentOrderId) -> Value {
    let state = standin.get("/_standin/state").await;
    state["fulfillment_orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"].as_u64() == Some(id.0))
        .unwrap_or_else(|| panic!("no fulfillment order {id}"))
        .clone()
}

async fn stat(standin: &Standin, name: &str) -> u64 {
    standin.get("/_standin/stats").await[name].as_u64().unwrap()
}

fn client(standin: &Standin) -> ShopifyGraphql {
    ShopifyGraphql::new(&standin.base, TOKEN).expect("client")
}

#[tokio::test]
async fn fulfillment_orders_are_read_as_routed_moved_fulfilled_and_cancelled() {
    let standin = start(1000, 100).await;
    let reads = client(&standin);
    let (placed, fos) = order(
        &standin,
        json!([
            {"sku": "SKU-A", "quantity": 2},
            {"sku": "SKU-B", "quantity": 1},
            {"custom": true, "title": "Gift wrap", "quantity": 1},
        ]),
    )
    .await;
    assert_eq!(fos.len(), 1, "one location, one fulfillment order");
    let first = fo_id(&fos[0]);

    // Routed: at the warehouse, open, the two stocked lines (the custom line has no item).
    let got = reads.fulfillment_orders(&[first]).await.unwrap();
    assert_eq!(got, vec![expected(&fos[0])]);
    assert_eq!(got[0].location, LocationId(WAREHOUSE));
    assert_eq!(got[0].order, OrderId(placed["id"].as_u64().unwrap()));
    assert!(got[0].open);
    let items: Vec<(u64, i64)> = got[0]
        .lines
        .iter()
        .map(|l| (l.item.0, l.remaining))
        .collect();
    assert_eq!(items, vec![(ITEM_A, 2), (ITEM_B, 1)]);
    // The line ids are the order's (beyond 2^53).
    let order_lines: Vec<u64> = placed["line_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got[0].lines[0].line.0, order_lines[0]);
    assert!(got[0].lines[0].line.0 > 1 << 53);
    assert!(got[0].updated_at.is_some());

    // Moved whole and untouched: the same fulfillment order, now at the store.
    standin
        .post(
            "/_standin/move",
            json!({"fulfillment_order": first.0, "location": STORE}),
        )
        .await;
    let got = reads.fulfillment_orders(&[first]).await.unwrap();
    assert_eq!(got[0].location, LocationId(STORE));
    assert_eq!(got, vec![expected(&fo_state(&standin, first).await)]);

    // Part of a line moved: the original keeps the rest, a new one at the store has the unit.
    let (_, fos) = order(&standin, json!([{"sku": "SKU-A", "quantity": 3}])).await;
    let original = fo_id(&fos[0]);
    let line = fos[0]["line_items"][0]["id"].as_u64().unwrap();
    let moved = standin
        .post(
            "/_standin/move",
            json!({"fulfillment_order": original.0, "location": STORE,
                   "lines": [{"id": line, "quantity": 1}]}),
        )
        .await;
    let moved = fo_id(&moved["moved_fulfillment_order"]);
    assert_ne!(moved, original);
    let got = reads.fulfillment_orders(&[original, moved]).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].location, got[0].lines[0].remaining),
        (LocationId(WAREHOUSE), 2)
    );
    assert_eq!(
        (got[1].location, got[1].lines[0].remaining),
        (LocationId(STORE), 1)
    );
    assert_eq!(got[0], expected(&fo_state(&standin, original).await));
    assert_eq!(got[1], expected(&fo_state(&standin, moved).await));

    // Fulfilled: closed, nothing remaining.
    standin
        .post(
            "/_standin/fulfill",
            json!({"fulfillment_order": original.0}),
        )
        .await;
    // Cancelled (never fulfilled from): CANCELLED.
    let (cancelled_order, fos) = order(&standin, json!([{"sku": "SKU-B", "quantity": 1}])).await;
    let cancelled = fo_id(&fos[0]);
    standin
        .post(
            "/_standin/cancel",
            json!({"order": cancelled_order["id"].as_u64().unwrap()}),
        )
        .await;
    assert_eq!(fo_state(&standin, cancelled).await["status"], "CANCELLED");
    // An id Shopify does not know is left out; a repeat is read once.
    let unknown = FulfillmentOrderId(1);
    let got = reads
        .fulfillment_orders(&[original, unknown, cancelled, original])
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].id, got[0].open), (original, false));
    assert_eq!(got[0].lines[0].remaining, 0);
    assert_eq!((got[1].id, got[1].open), (cancelled, false));
}

#[tokio::test]
async fn a_fulfillment_order_longer_than_a_page_is_read_whole() {
    let standin = start(1000, 100).await;
    let reads = client(&standin);
    let lines: Vec<Value> = (0..61)
        .map(|i| {
            let sku = ["SKU-A", "SKU-B", "SKU-C"][i % 3];
            json!({"sku": sku, "quantity": 1 + i % 2})
        })
        .collect();
    let (_, fos) = order(&standin, Value::Array(lines)).await;
    let before = stat(&standin, "graphql_requests").await;
    let got = reads.fulfillment_orders(&[fo_id(&fos[0])]).await.unwrap();
    assert_eq!(got[0].lines.len(), 61);
    assert_eq!(got, vec![expected(&fos[0])]);
    // The first 20 lines with the order, the other 41 after its cursor.
    assert_eq!(stat(&standin, "graphql_requests").await - before, 2);
}

#[tokio::test]
async fn quantities_read_every_name_and_a_missing_level_is_none() {
    let standin = start(1000, 100).await;
    let reads = client(&standin);
    order(&standin, json!([{"sku": "SKU-A", "quantity": 4}])).await;
    let pairs = [
        (InventoryItemId(ITEM_A), LocationId(WAREHOUSE)),
        (InventoryItemId(ITEM_C), LocationId(STORE)), // not stocked there
        (InventoryItemId(ITEM_A), LocationId(STORE)),
    ];
    let before = reads.quantities(&pairs).await.unwrap();
    assert_eq!(before.len(), 3);
    let a = before[0].quantities.expect("stocked");
    assert_eq!(
        (a.available, a.committed, a.on_hand, a.damaged),
        (996, 4, 1000, 0)
    );
    assert_eq!(before[1].quantities, None);
    assert_eq!(before[1].updated_at, None);
    assert_eq!(before[2].quantities.unwrap().available, 50);

    // Three units found damaged: available down, damaged up, on_hand unchanged.
    standin
        .post(
            "/_standin/state",
            json!({"item": ITEM_A, "location": WAREHOUSE, "from": "available", "to": "damaged",
                   "quantity": 3}),
        )
        .await;
    let after = reads.quantities(&pairs[..1]).await.unwrap();
    let a = after[0].quantities.unwrap();
    assert_eq!(
        (a.available, a.committed, a.on_hand, a.damaged),
        (993, 4, 1000, 3)
    );
    // Every name as the stand-in keeps it.
    let state = standin.get("/_standin/state").await;
    let level = state["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["item_id"].as_u64() == Some(ITEM_A) && l["location_id"].as_u64() == Some(WAREHOUSE)
        })
        .unwrap()
        .clone();
    let mut kept = ShopifyQuantities::default();
    for name in ShopifyQuantities::NAMES {
        assert!(kept.set(name, level[name].as_i64().unwrap()));
    }
    assert_eq!(a, kept);
    assert!(after[0].updated_at.is_some());
}

#[tokio::test]
async fn requests_carry_at_most_20_fulfillment_orders_and_100_levels() {
    let standin = start(1000, 100).await;
    let reads = client(&standin);
    let mut ids = Vec::new();
    for _ in 0..45 {
        let (_, fos) = order(&standin, json!([{"sku": "SKU-C", "quantity": 1}])).await;
        ids.push(fo_id(&fos[0]));
    }
    let before = stat(&standin, "graphql_requests").await;
    let got = reads.fulfillment_orders(&ids).await.unwrap();
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), ids);
    assert_eq!(
        stat(&standin, "graphql_requests").await - before,
        3,
        "20 + 20 + 5"
    );

    let pairs: Vec<(InventoryItemId, LocationId)> = (0..150)
        .map(|i| (InventoryItemId(ITEM_A + 1000 + i), LocationId(WAREHOUSE)))
        .collect();
    let before = stat(&standin, "graphql_requests").await;
    let got = reads.quantities(&pairs).await.unwrap();
    assert_eq!(got.len(), 150);
    assert!(
        got.iter().all(|l| l.quantities.is_none()),
        "none is stocked"
    );
    assert_eq!(
        stat(&standin, "graphql_requests").await - before,
        2,
        "100 + 50"
    );
}

/// Places `n` orders of 20 one-unit lines of item C (at the warehouse): fulfillment orders
/// charged all their requested cost (45 points: 20 lines are read with the order).
async fn long_orders(standin: &Standin, n: usize) -> Vec<FulfillmentOrderId> {
    let lines: Vec<Value> = (0..20)
        .map(|_| json!({"sku": "SKU-C", "quantity": 1}))
        .collect();
    let mut ids = Vec::new();
    for _ in 0..n {
        let (_, fos) = order(standin, Value::Array(lines.clone())).await;
        ids.push(fo_id(&fos[0]));
    }
    ids
}

/// Every open fulfillment order at `location`, page by page; and how many pages.
async fn open_at(reads: &ShopifyGraphql, location: u64) -> (Vec<FulfillmentOrderId>, usize) {
    let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, None);
    loop {
        let (page, next) = reads
            .open_fulfillment_orders(LocationId(location), cursor)
            .await
            .unwrap();
        pages += 1;
        ids.extend(page.iter().map(|f| f.id));
        assert!(page
            .iter()
            .all(|f| f.open && f.location == LocationId(location)));
        match next {
            Some(next) => cursor = Some(next),
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn the_open_listing_pages_through_a_location_and_leaves_closed_ones_out() {
    let standin = start(1000, 1000).await;
    let reads = client(&standin);
    let mut ids = long_orders(&standin, 25).await;
    // One fulfilled (closed), one moved to the store.
    standin
        .post("/_standin/fulfill", json!({"fulfillment_order": ids[3].0}))
        .await;
    let (_, fos) = order(&standin, json!([{"sku": "SKU-B", "quantity": 1}])).await;
    standin
        .post(
            "/_standin/move",
            json!({"fulfillment_order": fo_id(&fos[0]).0, "location": STORE}),
        )
        .await;
    let closed = ids.remove(3);
    let spent = reads.points_spent();
    let (open, pages) = open_at(&reads, WAREHOUSE).await;
    assert_eq!(open, ids, "every open one at the warehouse, in order, once");
    assert!(!open.contains(&closed));
    // 20 a page: 24 in two pages.
    assert_eq!(pages, 2);
    let (at_store, _) = open_at(&reads, STORE).await;
    assert_eq!(at_store, vec![fo_id(&fos[0])]);
    // Charged by what came back: 24 orders of 20 lines at 45 points, a page 2 more.
    assert!(
        reads.points_spent() - spent >= 24.0 * 45.0 + 4.0,
        "points spent: {}",
        reads.points_spent() - spent
    );
}

#[tokio::test]
async fn a_small_bucket_is_paced_and_a_drained_one_waited_out() {
    // 250 points restored at 100 a second: five 20-line orders (227 points) a page at most.
    let standin = start(250, 100).await;
    let reads = client(&standin);
    let ids = long_orders(&standin, 15).await;
    let started = Instant::now();
    let (open, pages) = open_at(&reads, WAREHOUSE).await;
    assert_eq!(open, ids);
    assert_eq!(pages, 3);
    // Each page after the first waited for the bucket to refill rather than being throttled.
    assert_eq!(stat(&standin, "throttled").await, 0);
    assert!(
        started.elapsed() >= Duration::from_millis(2 * 1500),
        "{:?}",
        started.elapsed()
    );

    // Once the bucket is full again (as the client also reckons), someone else drains it: the
    // read is throttled, waits and gets its answer.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let drained = standin
        .http
        .post(format!("{}/admin/api/2026-04/graphql.json", standin.base))
        .header("X-Shopify-Access-Token", TOKEN)
        .json(&json!({"query": "query Drain($q: String!) { fulfillmentOrders(first: 5, query: $q) { nodes { lineItems(first: 20) { nodes { id lineItem { id } } } } } }",
                      "variables": {"q": format!("assigned_location_id:{WAREHOUSE}")}}))
        .send()
        .await
        .unwrap();
    assert!(drained.status().is_success());
    assert_eq!(
        stat(&standin, "throttled").await,
        0,
        "the drain itself went through"
    );
    let (page, _) = reads
        .open_fulfillment_orders(LocationId(WAREHOUSE), None)
        .await
        .expect("throttled, then answered");
    assert_eq!(page.iter().map(|f| f.id).collect::<Vec<_>>(), ids[..5]);
    assert_eq!(
        stat(&standin, "throttled").await,
        1,
        "the read was throttled once"
    );
    assert!(
        standin.get("/_standin/stats").await["min_available"]
            .as_f64()
            .unwrap()
            >= 0.0
    );
}
