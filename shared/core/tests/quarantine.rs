//! Quarantine over the in-memory adapters: a body too large for an inbox record is kept whole in
//! the body store and replayed from it; redaction keeps only what replay needs; ids too long for
//! a key and repeated headers are handled before anything is keyed.

mod support;

use stockbridge_core::ports::{BodyRef, BodyStore, Inbox, QuarantineEntry};
use stockbridge_core::webhook::{Body, RequestHeaders};
use stockbridge_domain::ids::Timestamp;
use stockbridge_memory::{Fault, MemoryQueue, MemoryStore, StoreOp};
use stockbridge_ops::replay_quarantine;
use support::*;

fn intake() -> (MemoryQueue, MemoryStore) {
    (MemoryQueue::new(), MemoryStore::new())
}

/// An orders/create of about `bytes` bytes whose last line has a negative quantity.
fn large_order(bytes: usize) -> String {
    let mut lines = Vec::new();
    let mut n = 1u64;
    while lines.iter().map(String::len).sum::<usize>() < bytes {
        lines.push(format!(
            r#"{{"id":{n},"variant_id":{n},"sku":"SKU-{n}","quantity":1,"fulfillable_quantity":1}}"#
        ));
        n += 1;
    }
    lines.push(format!(
        r#"{{"id":{n},"variant_id":{n},"quantity":-1,"fulfillable_quantity":-1}}"#
    ));
    format!(r#"{{"id":77,"line_items":[{}]}}"#, lines.join(","))
}

#[tokio::test]
async fn a_large_unusable_body_is_kept_whole_in_the_body_store_and_replayed_from_it() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    // Not JSON at all, and larger than a DynamoDB item: kept raw, byte for byte.
    let raw: Vec<u8> = std::iter::repeat_n(b"{not json ".as_slice(), 100_000)
        .flatten()
        .copied()
        .collect();
    let headers = signed("orders/create", &raw, SECRET, "big-raw");
    let answer = service.receive(&headers, Body::Complete(&raw)).await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (200, Some("quarantined"))
    );
    let kept = inbox.quarantined(&shop());
    let entry = kept.iter().find(|q| q.webhook_id == "big-raw").unwrap();
    let at = entry.body_ref.as_ref().expect("kept in the body store");
    assert_eq!(inbox.body(&at.key).as_deref(), Some(&raw[..]));
    assert_eq!(at.size, raw.len() as u64);
    assert!(entry.body.is_empty() && !entry.redacted);

    // Valid JSON, too large even redacted: kept redacted, whole, in the body store.
    let order = large_order(600 * 1024);
    let headers = signed("orders/create", order.as_bytes(), SECRET, "big-order");
    let answer = service
        .receive(&headers, Body::Complete(order.as_bytes()))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let kept = inbox.quarantined(&shop());
    let entry = kept.iter().find(|q| q.webhook_id == "big-order").unwrap();
    assert_eq!(entry.code, "negative_quantity");
    let at = entry.body_ref.clone().expect("kept in the body store");
    let body = inbox.body(&at.key).unwrap();
    at.check(&body).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        value["line_items"].as_array().unwrap().len(),
        order.matches(r#""sku""#).count() + 1,
        "no line was dropped"
    );

    // Replay reads both back: still unusable, both stay (the bodies too).
    let (replayed, still_bad) = replay_quarantine(&inbox, &queue, &shop(), None)
        .await
        .unwrap();
    assert_eq!((replayed, still_bad), (0, 2));
    assert_eq!(inbox.body_count(), 2);
    assert_eq!(queue.sends(), 0);
}

#[tokio::test]
async fn a_kept_body_that_now_normalises_is_replayed_and_removed_with_its_body() {
    let inbox = MemoryStore::new();
    let queue = MemoryQueue::new();
    let lines: Vec<String> = (1..=40)
        .map(|i| {
            format!(
                r#"{{"id":{i},"variant_id":{i},"quantity":1,"fulfillable_quantity":1,"title":"{}"}}"#,
                "x".repeat(10_000)
            )
        })
        .collect();
    let body = format!(
        r#"{{"id":5,"name":"SB1005","line_items":[{}]}}"#,
        lines.join(",")
    );
    let sha = stockbridge_core::ports::sha256_hex(body.as_bytes());
    let at = inbox
        .put_body(&shop(), &sha, body.as_bytes())
        .await
        .unwrap();
    inbox
        .quarantine(&entry("kept-1", Some(at.clone())))
        .await
        .unwrap();
    // A second entry whose body is gone: still unusable, not an error for the first.
    let gone = BodyRef {
        key: "gone".into(),
        ..at.clone()
    };
    inbox
        .quarantine(&entry("gone-1", Some(gone)))
        .await
        .unwrap();
    let (replayed, still_bad) = replay_quarantine(&inbox, &queue, &shop(), None)
        .await
        .unwrap();
    assert_eq!((replayed, still_bad), (1, 1));
    assert_eq!(queue.sent().len(), 3, "40 lines in 3 parts");
    assert!(
        inbox.body(&at.key).is_none(),
        "the body went with the entry"
    );
    assert_eq!(inbox.quarantined(&shop()).len(), 1);
}

fn entry(webhook_id: &str, body_ref: Option<BodyRef>) -> QuarantineEntry {
    QuarantineEntry {
        shop: shop(),
        topic: "orders/create".into(),
        webhook_id: webhook_id.into(),
        event_id: None,
        api_version: None,
        triggered_at: None,
        received_at: Timestamp::parse("2026-11-27T10:00:00Z").unwrap(),
        code: "unhandled".into(),
        reason: "kept by an older release".into(),
        body: String::new(),
        redacted: true,
        body_ref,
    }
}

#[tokio::test]
async fn a_body_store_failure_is_answered_503_and_the_retry_keeps_it() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    let raw = vec![b'['; 300 * 1024];
    let headers = signed("orders/create", &raw, SECRET, "big-1");
    inbox.fail_next(StoreOp::PutBody, 1, Fault::Unavailable);
    let answer = service.receive(&headers, Body::Complete(&raw)).await;
    assert_eq!(answer.status, 503);
    assert!(inbox.quarantined(&shop()).is_empty());
    let answer = service.receive(&headers, Body::Complete(&raw)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(inbox.quarantined(&shop()).len(), 1);
}

#[tokio::test]
async fn a_redacted_order_keeps_no_personal_data_and_still_replays_the_same_way() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    let mut order: serde_json::Value =
        serde_json::from_slice(&fixture("2026-04/orders__create.json")).unwrap();
    order["tags"] = "engraving for Arya Stark".into();
    order["note"] = "leave with the neighbour, Arya".into();
    order["note_attributes"] = serde_json::json!([{"name": "gift", "value": "Arya Stark"}]);
    for line in order["line_items"].as_array_mut().unwrap() {
        line["properties"] = serde_json::json!([{"name": "Engraving", "value": "Arya Stark"}]);
    }
    // Unusable (before and after the allow-list): a stocked line without its id.
    order["line_items"][0].as_object_mut().unwrap().remove("id");
    let body = serde_json::to_vec(&order).unwrap();
    let headers = signed("orders/create", &body, SECRET, "pii-1");
    let answer = service.receive(&headers, Body::Complete(&body)).await;
    assert_eq!(answer.body["status"], "quarantined");
    let kept = inbox.quarantined(&shop());
    let entry = &kept[0];
    assert_eq!(entry.code, "unmappable");
    assert!(entry.redacted);
    for personal in [
        "Arya",
        "jon@example.com",
        "engraving",
        "Engraving",
        "neighbour",
    ] {
        assert!(
            !entry.body.contains(personal),
            "{personal} survived: {}",
            entry.body
        );
    }
    // The redacted body fails replay the same way, and nothing is sent.
    let (replayed, still_bad) = replay_quarantine(&inbox, &queue, &shop(), None)
        .await
        .unwrap();
    assert_eq!((replayed, still_bad), (0, 1));
}

#[tokio::test]
async fn a_webhook_id_too_long_for_a_key_is_quarantined_under_its_digest() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    let body = fixture("2023-10/inventory_levels__connect.json");
    let long = "x".repeat(3000);
    let headers = signed("inventory_levels/connect", &body, SECRET, &long);
    let answer = service.receive(&headers, Body::Complete(&body)).await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (200, Some("quarantined"))
    );
    assert_eq!(queue.sends(), 0, "no event key over the limit was made");
    let kept = inbox.quarantined(&shop());
    assert_eq!(kept[0].code, "key_too_long");
    assert!(kept[0].webhook_id.starts_with("sha256-") && kept[0].webhook_id.len() < 80);
    assert_eq!(
        service.metrics.total("WebhookQuarantined/key_too_long"),
        1.0
    );
    // Replayed, it is queued under the digest.
    let (replayed, _) = replay_quarantine(&inbox, &queue, &shop(), None)
        .await
        .unwrap();
    assert_eq!(replayed, 1);
    assert!(queue.sent()[0].event.key.len() < 200);
}

#[tokio::test]
async fn a_repeated_shopify_header_is_refused() {
    let (queue, inbox) = intake();
    let service = webhook(&queue, &inbox);
    let body = fixture("2023-10/inventory_levels__connect.json");
    let hmac = stockbridge_shopify::signature::sign(SECRET.as_bytes(), &body);
    let headers = RequestHeaders::new([
        ("X-Shopify-Topic", "inventory_levels/connect"),
        ("X-Shopify-Topic", "orders/create"),
        ("X-Shopify-Hmac-Sha256", hmac.as_str()),
        ("X-Shopify-Shop-Domain", SHOP),
    ]);
    let answer = service.receive(&headers, Body::Complete(&body)).await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (400, Some("duplicate_header"))
    );
    assert_eq!((queue.sends(), inbox.record_count()), (0, 0));
    assert_eq!(
        service.metrics.total("WebhookRejected/duplicate_header"),
        1.0
    );
}
