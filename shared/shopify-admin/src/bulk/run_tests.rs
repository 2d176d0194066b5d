//! Waiting for a bulk operation against a scripted GraphQL server on loopback: the operation
//! answers `CREATED`, then `RUNNING` for a while; the client's bulk timeout decides how long the
//! run waits before giving up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use stockbridge_core::ports::ShopifyError;
use stockbridge_domain::ids::LocationId;

use crate::{ShopifyGraphql, GRAPHQL_PATH};

const OP: &str = "gid://shopify/BulkOperation/1";

/// A shop whose bulk operation is `RUNNING` for the first `running` polls, then `COMPLETED`
/// with no result (it found nothing); returns the shop's base URL and the polls counted.
async fn shop_running_for(running: usize) -> (String, Arc<Mutex<usize>>) {
    let polls = Arc::new(Mutex::new(0usize));
    async fn handle(
        State((running, polls)): State<(usize, Arc<Mutex<usize>>)>,
        Json(body): Json<Value>,
    ) -> Json<Value> {
        let cost = json!({"cost": {"requestedQueryCost": 10, "actualQueryCost": 10, "throttleStatus":
            {"maximumAvailable": 1000.0, "currentlyAvailable": 990.0, "restoreRate": 100.0}}});
        let query = body["query"].as_str().unwrap_or_default();
        if query.contains("bulkOperationRunQuery") {
            return Json(
                json!({"data": {"bulkOperationRunQuery": {"bulkOperation": {"id": OP, "status": "CREATED"},
                "userErrors": []}}, "extensions": cost}),
            );
        }
        let mut seen = polls.lock().unwrap();
        *seen += 1;
        let status = if *seen > running {
            "COMPLETED"
        } else {
            "RUNNING"
        };
        Json(
            json!({"data": {"currentBulkOperation": {"id": OP, "status": status, "errorCode": null,
            "objectCount": "0", "url": null}}, "extensions": cost}),
        )
    }
    let app = Router::new()
        .route(GRAPHQL_PATH, post(handle))
        .with_state((running, polls.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{port}"), polls)
}

#[tokio::test]
async fn a_bulk_still_running_after_the_clients_bulk_timeout_is_given_up() {
    let (base, polls) = shop_running_for(usize::MAX).await;
    let client = ShopifyGraphql::new(&base, "shpat_t")
        .unwrap()
        .with_bulk_timeout(Duration::from_millis(600));
    let waited = tokio::time::timeout(
        Duration::from_secs(10),
        client.read_bulk_levels(LocationId(7)),
    );
    let Err(err) = waited
        .await
        .expect("gave up within the client's bulk timeout")
    else {
        panic!("a bulk still running after the timeout was not given up");
    };
    assert!(
        matches!(&err, ShopifyError::Unavailable(m) if m.contains("still running")),
        "{err:?}"
    );
    assert!(*polls.lock().unwrap() >= 2, "it polled before giving up");
}

#[tokio::test]
async fn a_longer_bulk_timeout_waits_for_the_operation_to_complete() {
    // RUNNING for 3 polls (250 + 500 + 1000 ms of waits): longer than the 600 ms above.
    let (base, polls) = shop_running_for(3).await;
    let client = ShopifyGraphql::new(&base, "shpat_t")
        .unwrap()
        .with_bulk_timeout(Duration::from_secs(30));
    let levels = client.read_bulk_levels(LocationId(7)).await.unwrap();
    assert_eq!(
        levels.count(),
        0,
        "a completed operation without a url found nothing"
    );
    assert_eq!(*polls.lock().unwrap(), 4);
}
