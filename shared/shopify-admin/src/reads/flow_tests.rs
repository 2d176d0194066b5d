//! The reads' request flow against a scripted GraphQL server on loopback: batching and order,
//! splitting a request refused as too costly, waiting out `THROTTLED`, further line pages (and
//! reading again when the order changed meanwhile), the open listing's filter, the points sum.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use stockbridge_core::ports::{ShopifyError, ShopifyReads};
use stockbridge_domain::ids::{FulfillmentOrderId, InventoryItemId, LocationId};

use crate::{ShopifyGraphql, GRAPHQL_PATH};

type Respond = Box<dyn FnMut(&Value) -> Value + Send>;

struct Script {
    respond: Respond,
    requests: Vec<Value>,
}

/// A server answering each request with `respond(body)`; returns the client and the requests.
async fn serve(respond: Respond) -> (ShopifyGraphql, Arc<Mutex<Script>>) {
    let script = Arc::new(Mutex::new(Script {
        respond,
        requests: Vec::new(),
    }));
    async fn handle(
        State(script): State<Arc<Mutex<Script>>>,
        Json(body): Json<Value>,
    ) -> Json<Value> {
        let mut script = script.lock().unwrap();
        script.requests.push(body.clone());
        Json((script.respond)(&body))
    }
    let app = Router::new()
        .route(GRAPHQL_PATH, post(handle))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = ShopifyGraphql::new(&format!("http://127.0.0.1:{port}"), "shpat_t").unwrap();
    (client, script)
}

fn cost(requested: f64, actual: Option<f64>, available: f64) -> Value {
    json!({"cost": {
        "requestedQueryCost": requested,
        "actualQueryCost": actual,
        "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": available, "restoreRate": 100.0},
    }})
}

fn gid_number(gid: &Value) -> u64 {
    let text = gid.as_str().unwrap();
    let tail = text.rsplit('/').next().unwrap();
    tail.split('?').next().unwrap().parse().unwrap()
}

/// Fulfillment order `n` at location 7 with one line of item `n`; ids over 1000 are unknown.
fn fo_node(n: u64, lines: Value, more: Option<&str>, updated: &str) -> Value {
    json!({
        "id": format!("gid://shopify/FulfillmentOrder/{n}"),
        "status": "OPEN",
        "updatedAt": updated,
        "orderId": format!("gid://shopify/Order/{}", 500 + n),
        "assignedLocation": {"location": {"id": "gid://shopify/Location/7"}},
        "lineItems": {"pageInfo": {"hasNextPage": more.is_some(), "endCursor": more}, "nodes": lines},
    })
}

/// A date-time `seconds` after a fixed one.
fn at(seconds: u32) -> String {
    format!("2026-04-02T10:00:{seconds:02}Z")
}

fn line(n: u64) -> Value {
    json!({"id": format!("gid://shopify/FulfillmentOrderLineItem/{n}"), "remainingQuantity": 1,
        "totalQuantity": 1, "inventoryItemId": format!("gid://shopify/InventoryItem/{n}"),
        "lineItem": {"id": format!("gid://shopify/LineItem/{n}")}})
}

fn ids_of(request: &Value) -> Vec<u64> {
    request["variables"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(gid_number)
        .collect()
}

fn simple_fos(body: &Value) -> Value {
    let nodes: Vec<Value> = ids_of(body)
        .into_iter()
        .map(|n| {
            if n > 1000 {
                Value::Null
            } else {
                fo_node(n, json!([line(n)]), None, &at(0))
            }
        })
        .collect();
    let n = nodes.len() as f64;
    json!({"data": {"nodes": nodes}, "extensions": cost(n * 40.0, Some(n * 10.0), 1000.0)})
}

fn fo_ids(ns: impl IntoIterator<Item = u64>) -> Vec<FulfillmentOrderId> {
    ns.into_iter().map(FulfillmentOrderId).collect()
}

#[tokio::test]
async fn forty_five_ids_go_in_three_requests_in_order_once_each() {
    let (client, script) = serve(Box::new(simple_fos)).await;
    let mut ids = fo_ids(1..=44);
    ids.push(FulfillmentOrderId(3)); // a repeat: read once
    ids.push(FulfillmentOrderId(2001)); // unknown: left out
    let reads = client.fulfillment_orders(&ids).await.unwrap();
    assert_eq!(
        reads.iter().map(|r| r.id.0).collect::<Vec<_>>(),
        (1..=44).collect::<Vec<_>>()
    );
    assert_eq!(reads[0].lines[0].item, InventoryItemId(1));
    assert_eq!(sizes(&script), vec![20, 20, 5]);
    assert_eq!(client.points_spent(), 450.0);
    assert!(client.fulfillment_orders(&[]).await.unwrap().is_empty());
    assert_eq!(
        script.lock().unwrap().requests.len(),
        3,
        "nothing asked, nothing sent"
    );
}

/// Fulfillment orders costing 150 points each: more than 1000 is refused (stating the cost
/// when `state_cost`).
fn costly_fos(body: &Value, state_cost: bool) -> Value {
    let n = ids_of(body).len() as f64;
    if n * 150.0 > 1000.0 {
        let mut extensions = json!({"code": "MAX_COST_EXCEEDED"});
        if state_cost {
            extensions["cost"] = json!(n * 150.0);
            extensions["maxCost"] = json!(1000);
        }
        return json!({"errors": [{"message": "Query cost is too high", "extensions": extensions}]});
    }
    let mut answer = simple_fos(body);
    answer["extensions"] = cost(n * 150.0, Some(n * 10.0), 1000.0);
    answer
}

fn sizes(script: &Arc<Mutex<Script>>) -> Vec<usize> {
    let script = script.lock().unwrap();
    script.requests.iter().map(|r| ids_of(r).len()).collect()
}

#[tokio::test]
async fn a_request_refused_as_too_costly_is_split() {
    let (client, script) = serve(Box::new(|b: &Value| costly_fos(b, true))).await;
    let reads = client.fulfillment_orders(&fo_ids(1..=20)).await.unwrap();
    assert_eq!(reads.len(), 20);
    // 20 at the first estimate (45 each) refused; then as many as fit in 1000 at 150 each.
    assert_eq!(sizes(&script), vec![20, 6, 6, 6, 2]);

    // Refused without saying why it costs too much: half as many.
    let (client, script) = serve(Box::new(|b: &Value| costly_fos(b, false))).await;
    let reads = client.fulfillment_orders(&fo_ids(1..=20)).await.unwrap();
    assert_eq!(reads.len(), 20);
    assert_eq!(sizes(&script), vec![20, 10, 5, 5, 5, 5]);

    // A single node over the limit is refused for good.
    let over = |_: &Value| json!({"errors": [{"message": "Query cost is 1050", "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 1050, "maxCost": 1000}}]});
    let (client, _) = serve(Box::new(over)).await;
    let err = client.fulfillment_orders(&fo_ids(1..=2)).await.unwrap_err();
    assert!(matches!(err, ShopifyError::Rejected(d) if d.contains("MAX_COST_EXCEEDED")));
}

#[tokio::test]
async fn throttled_answers_are_waited_out_a_few_times_then_returned() {
    let throttled = |body: &Value, left: &mut u32| {
        if *left > 0 {
            *left -= 1;
            return json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                "extensions": cost(40.0, None, 39.0)});
        }
        simple_fos(body)
    };
    let mut left = 2;
    let (client, script) = serve(Box::new(move |b| throttled(b, &mut left))).await;
    let reads = client.fulfillment_orders(&fo_ids([1])).await.unwrap();
    assert_eq!(reads.len(), 1);
    assert_eq!(script.lock().unwrap().requests.len(), 3);

    let mut left = 3;
    let (client, script) = serve(Box::new(move |b| throttled(b, &mut left))).await;
    let err = client.fulfillment_orders(&fo_ids([1])).await.unwrap_err();
    assert!(
        matches!(err, ShopifyError::Throttled { retry_after_ms } if retry_after_ms <= 1000),
        "{err:?}"
    );
    assert_eq!(script.lock().unwrap().requests.len(), 3);
}

#[tokio::test]
async fn other_graphql_errors_are_rejected_with_shopifys_message() {
    let respond = |_: &Value| {
        json!({"errors": [{"message": "Access denied for fulfillmentOrders field.",
            "extensions": {"code": "ACCESS_DENIED"}}]})
    };
    let (client, _) = serve(Box::new(respond)).await;
    let err = client.fulfillment_orders(&fo_ids([1])).await.unwrap_err();
    assert!(
        matches!(&err, ShopifyError::Rejected(d) if d.contains("Access denied for fulfillmentOrders field.")),
        "{err:?}"
    );
}

/// Fulfillment order 1 with 3 lines, 2 on its first page, unchanged between the pages.
fn long_order(body: &Value) -> Value {
    let query = body["query"].as_str().unwrap();
    if query.contains("StockbridgeFulfillmentOrderLines") {
        assert_eq!(body["variables"]["after"], "c1");
        return json!({"data": {"nodes": [{
            "id": "gid://shopify/FulfillmentOrder/1", "updatedAt": at(1),
            "lineItems": {"pageInfo": {"hasNextPage": false, "endCursor": "c2"}, "nodes": [line(3)]},
        }]}, "extensions": cost(55.0, Some(5.0), 1000.0)});
    }
    let node = fo_node(1, json!([line(1), line(2)]), Some("c1"), &at(1));
    json!({"data": {"nodes": [node]}, "extensions": cost(49.0, Some(5.0), 1000.0)})
}

#[tokio::test]
async fn the_rest_of_a_long_order_is_read_and_read_again_when_it_changed() {
    let (client, script) = serve(Box::new(long_order)).await;
    let got = client.fulfillment_orders(&fo_ids([1])).await.unwrap();
    let items: Vec<u64> = got[0].lines.iter().map(|l| l.item.0).collect();
    assert_eq!(items, vec![1, 2, 3]);
    assert_eq!(script.lock().unwrap().requests.len(), 2);

    // Changed once between the pages: the first page is read again, then the rest.
    let mut reads = 0;
    let changing = move |b: &Value| {
        let query = b["query"].as_str().unwrap();
        if query.contains("StockbridgeFulfillmentOrderLines") {
            let updated = if reads >= 2 { at(2) } else { at(9) };
            return json!({"data": {"nodes": [{
                "id": "gid://shopify/FulfillmentOrder/1", "updatedAt": updated,
                "lineItems": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": [line(3)]},
            }]}, "extensions": cost(55.0, Some(5.0), 1000.0)});
        }
        reads += 1;
        let node = fo_node(1, json!([line(1), line(2)]), Some("c1"), &at(reads));
        json!({"data": {"nodes": [node]}, "extensions": cost(49.0, Some(5.0), 1000.0)})
    };
    let (client, script) = serve(Box::new(changing)).await;
    let got = client.fulfillment_orders(&fo_ids([1])).await.unwrap();
    assert_eq!(got[0].lines.len(), 3);
    assert_eq!(script.lock().unwrap().requests.len(), 4);

    // Changing on every read: given up, to be retried later.
    let always = |b: &Value| {
        let query = b["query"].as_str().unwrap();
        if query.contains("StockbridgeFulfillmentOrderLines") {
            return json!({"data": {"nodes": [{
                "id": "gid://shopify/FulfillmentOrder/1", "updatedAt": at(9),
                "lineItems": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": []},
            }]}});
        }
        json!({"data": {"nodes": [fo_node(1, json!([line(1)]), Some("c1"), &at(1))]}})
    };
    let (client, _) = serve(Box::new(always)).await;
    let err = client.fulfillment_orders(&fo_ids([1])).await.unwrap_err();
    assert!(
        matches!(err, ShopifyError::Unavailable(d) if d.contains("changed while its lines were read"))
    );
}

#[tokio::test]
async fn levels_read_every_name_and_a_missing_level_is_none() {
    let respond = |body: &Value| {
        assert_eq!(body["variables"]["names"].as_array().unwrap().len(), 8);
        let nodes: Vec<Value> = body["variables"]["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| {
                let text = id.as_str().unwrap();
                let (location, item) = text
                    .strip_prefix("gid://shopify/InventoryLevel/")
                    .unwrap()
                    .split_once("?inventory_item_id=")
                    .unwrap();
                if item == "2" {
                    return Value::Null;
                }
                let names = ["available", "committed", "on_hand", "reserved", "damaged",
                    "safety_stock", "quality_control", "incoming"];
                json!({"id": text, "updatedAt": at(0),
                    "location": {"id": format!("gid://shopify/Location/{location}")},
                    "item": {"id": format!("gid://shopify/InventoryItem/{item}")},
                    "quantities": names.iter().map(|n| json!({"name": n, "quantity": if *n == "damaged" { 3 } else { 1 }})).collect::<Vec<_>>()})
            })
            .collect();
        json!({"data": {"nodes": nodes}})
    };
    let (client, script) = serve(Box::new(respond)).await;
    let mut pairs: Vec<(InventoryItemId, LocationId)> = (1..=150)
        .map(|i| (InventoryItemId(i), LocationId(7)))
        .collect();
    pairs.push((InventoryItemId(1), LocationId(7)));
    let reads = client.quantities(&pairs).await.unwrap();
    assert_eq!(reads.len(), 150);
    assert_eq!(reads[0].quantities.unwrap().damaged, 3);
    assert_eq!(reads[1].item, InventoryItemId(2));
    assert_eq!(reads[1].quantities, None);
    assert_eq!(sizes(&script), vec![100, 50]);
}

#[tokio::test]
async fn the_open_listing_keeps_open_orders_at_the_location_and_pages_on() {
    let respond = |body: &Value| {
        assert_eq!(body["variables"]["query"], "assigned_location_id:7");
        assert_eq!(body["variables"]["first"], 20);
        let mut closed = fo_node(2, json!([line(2)]), None, &at(0));
        closed["status"] = json!("CLOSED");
        let mut moved = fo_node(3, json!([line(3)]), None, &at(0));
        moved["assignedLocation"]["location"]["id"] = json!("gid://shopify/Location/8");
        json!({"data": {"fulfillmentOrders": {
            "pageInfo": {"hasNextPage": true, "endCursor": "next"},
            "nodes": [fo_node(1, json!([line(1)]), None, &at(0)), closed, moved],
        }}})
    };
    let (client, _) = serve(Box::new(respond)).await;
    let (reads, next) = client
        .open_fulfillment_orders(LocationId(7), None)
        .await
        .unwrap();
    assert_eq!(reads.iter().map(|r| r.id.0).collect::<Vec<_>>(), vec![1]);
    assert_eq!(next.as_deref(), Some("next"));
}

#[tokio::test]
async fn an_answer_with_the_wrong_number_of_nodes_is_an_error() {
    let respond = |_: &Value| json!({"data": {"nodes": [null]}});
    let (client, _) = serve(Box::new(respond)).await;
    let err = client
        .fulfillment_orders(&fo_ids([1, 2]))
        .await
        .unwrap_err();
    assert!(matches!(err, ShopifyError::Unavailable(d) if d.contains("asked for 2 nodes")));
}
