//! The webhook intake (`WebhookService::receive`) over the in-memory queue and inbox: what is
//! enqueued, refused, quarantined or answered 503, and that nothing authentic is lost.

mod support;

use stockbridge_core::webhook::{Body, RequestHeaders};
use stockbridge_domain::event::{EventBody, InventoryEvent, StockChange};
use stockbridge_domain::ids::{InventoryItemId, LocationId};
use stockbridge_memory::{Fault, MemoryQueue, MemoryStore, StoreOp};
use stockbridge_ops::replay_quarantine;
use support::*;

fn intake() -> (MemoryQueue, MemoryStore) {
    (MemoryQueue::new(), MemoryStore::new())
}

#[tokio::test]
async fn a_signed_delivery_is_enqueued_as_its_event() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    // Shopify's own example, tracked (available 6).
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("2023-07/inventory_levels__update.json")).unwrap();
    body["available"] = 6.into();
    let body = serde_json::to_vec(&body).unwrap();
    let headers = signed("inventory_levels/update", &body, SECRET, "wh-1");
    let answer = service.receive(&headers, Body::Complete(&body)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        serde_json::json!({"status": "accepted", "events": 1})
    );
    let sent = queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].delay.as_secs(), 0);
    let event = InventoryEvent::from_json(&sent[0].body).unwrap();
    assert_eq!(event.key, format!("{SHOP}:wh-1:0"));
    let EventBody::Stock { changes } = event.body else {
        panic!("not a stock event: {:?}", event.body);
    };
    assert!(
        matches!(
            changes.as_slice(),
            [StockChange::Available { item, location, available: Some(6), .. }]
                if *item == InventoryItemId(271878346596884000) && *location == LocationId(24826418)
        ),
        "{changes:?}"
    );
    assert!(inbox.quarantined(&shop()).is_empty());
    assert_eq!(service.metrics.total("WebhookAccepted"), 1.0);
}

#[tokio::test]
async fn a_delivery_signed_with_the_previous_secret_is_accepted_during_a_rotation() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    let body = fixture("2023-10/inventory_levels__connect.json");
    let headers = signed("inventory_levels/connect", &body, OLD_SECRET, "wh-2");
    let answer = service.receive(&headers, Body::Complete(&body)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(queue.waiting(), 1);
    assert_eq!(service.metrics.total("WebhookPreviousSecret"), 1.0);
}

#[tokio::test]
async fn a_bad_signature_is_401_and_nothing_is_kept() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    let body = fixture("2023-07/inventory_levels__update.json");
    // Signed with a secret the shop does not have; then a genuine signature over other bytes.
    let wrong = signed("inventory_levels/update", &body, "guess", "wh-3");
    let tampered = signed("inventory_levels/update", b"{}", SECRET, "wh-4");
    for headers in [wrong, tampered] {
        let answer = service.receive(&headers, Body::Complete(&body)).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.body["status"], "bad_signature");
    }
    assert_eq!((queue.sends(), queue.waiting()), (0, 0));
    assert_eq!(inbox.record_count(), 0);
    assert_eq!(service.metrics.total("WebhookRejected/bad_signature"), 2.0);
}

#[tokio::test]
async fn an_unknown_shop_a_missing_header_and_an_oversized_body_are_refused() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    let body = fixture("2023-07/inventory_levels__update.json");
    let hmac = stockbridge_shopify::signature::sign(SECRET.as_bytes(), &body);
    let stranger = RequestHeaders::new([
        ("X-Shopify-Topic", "inventory_levels/update"),
        ("X-Shopify-Hmac-Sha256", hmac.as_str()),
        ("X-Shopify-Shop-Domain", "stranger.myshopify.com"),
    ]);
    let answer = service.receive(&stranger, Body::Complete(&body)).await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (401, Some("unknown_shop"))
    );
    let no_topic = RequestHeaders::new([
        ("X-Shopify-Hmac-Sha256", hmac.as_str()),
        ("X-Shopify-Shop-Domain", SHOP),
    ]);
    let answer = service.receive(&no_topic, Body::Complete(&body)).await;
    assert_eq!(answer.status, 400);
    assert!(answer.body["message"]
        .as_str()
        .unwrap()
        .contains("X-Shopify-Topic"));
    let headers = signed("inventory_levels/update", &body, SECRET, "wh-5");
    let answer = service.receive(&headers, Body::TooLarge).await;
    assert_eq!(answer.status, 413);
    let small = stockbridge_core::webhook::WebhookService {
        max_body_bytes: body.len() - 1,
        ..webhook(&queue, &inbox)
    };
    assert_eq!(
        small.receive(&headers, Body::Complete(&body)).await.status,
        413
    );
    assert_eq!((queue.sends(), inbox.record_count()), (0, 0));
}

#[tokio::test]
async fn an_authentic_unusable_body_is_quarantined_without_personal_data() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    // Not JSON: kept raw.
    let raw = b"{not json";
    let headers = signed("orders/create", raw, SECRET, "wh-6");
    let answer = service.receive(&headers, Body::Complete(raw)).await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (200, Some("quarantined"))
    );
    // A topic Stockbridge does not handle, full of personal fields: kept redacted.
    let body = fixture("2023-10/app__uninstalled.json");
    let headers = signed("app/uninstalled", &body, SECRET, "wh-7");
    let answer = service.receive(&headers, Body::Complete(&body)).await;
    assert_eq!(answer.status, 200);

    let kept = inbox.quarantined(&shop());
    assert_eq!(kept.len(), 2);
    let by_id = |id: &str| kept.iter().find(|q| q.webhook_id == id).unwrap();
    let bad = by_id("wh-6");
    assert_eq!(
        (bad.code.as_str(), bad.redacted, bad.body.as_str()),
        ("bad_json", false, "{not json")
    );
    let app = by_id("wh-7");
    assert_eq!((app.code.as_str(), app.redacted), ("unhandled_topic", true));
    assert_eq!(app.topic, "app/uninstalled");
    assert!(!app.body.contains("super@supertoys.com") && !app.body.contains("190 MacLaren"));
    assert_eq!((queue.sends(), queue.waiting()), (0, 0));
    assert_eq!(service.metrics.total("WebhookQuarantined"), 2.0);

    // A replay after "a new release" still cannot use them: they stay.
    let (replayed, still_bad) = replay_quarantine(&inbox, &queue, &shop(), None)
        .await
        .unwrap();
    assert_eq!((replayed, still_bad), (0, 2));
    assert_eq!(inbox.quarantined(&shop()).len(), 2);
}

#[tokio::test]
async fn a_queue_failure_is_answered_503_so_shopify_delivers_again() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    let body = fixture("2023-10/inventory_levels__connect.json");
    let headers = signed("inventory_levels/connect", &body, SECRET, "wh-8");
    queue.fail_next_sends(1);
    let answer = service.receive(&headers, Body::Complete(&body)).await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (503, Some("queue_unavailable"))
    );
    assert_eq!(queue.waiting(), 0);
    assert!(
        inbox.quarantined(&shop()).is_empty(),
        "a retryable failure is not quarantined"
    );
    // Shopify's retry of the same delivery goes through, under the same key.
    let answer = service.receive(&headers, Body::Complete(&body)).await;
    assert_eq!(answer.status, 200);
    let sent = queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].event.key, format!("{SHOP}:wh-8:0"));
}

#[tokio::test]
async fn an_inbox_failure_while_quarantining_is_answered_503() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    inbox.fail_next(StoreOp::Quarantine, 1, Fault::Unavailable);
    let headers = signed("orders/create", b"[", SECRET, "wh-9");
    let answer = service.receive(&headers, Body::Complete(b"[")).await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (503, Some("inbox_unavailable"))
    );
    assert!(inbox.quarantined(&shop()).is_empty());
    let answer = service.receive(&headers, Body::Complete(b"[")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(inbox.quarantined(&shop()).len(), 1);
}

#[tokio::test]
async fn a_privacy_request_is_acknowledged_and_nothing_is_kept() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    for (topic, path) in [
        ("customers/redact", "2024-04/customers__redact.json"),
        (
            "customers/data_request",
            "2025-04/customers__data_request.json",
        ),
    ] {
        let body = fixture(path);
        let headers = signed(topic, &body, SECRET, topic);
        let answer = service.receive(&headers, Body::Complete(&body)).await;
        assert_eq!(
            (answer.status, answer.body["status"].as_str()),
            (200, Some("acknowledged"))
        );
    }
    assert_eq!((queue.sends(), inbox.record_count()), (0, 0));
}
