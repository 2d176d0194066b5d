//! The ERP webhook intake (`ErpWebhookService::receive`) over the in-memory queue and inbox:
//! what is enqueued (one event per shop served, in parts), refused (and nothing kept),
//! quarantined whole (authentic but unusable) or answered 503, and the secret's rotation.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use stockbridge_core::erp_webhook::{
    sign, ErpSecrets, ErpSetup, ErpWebhookService, MAX_CHANGES, TOPIC,
};
use stockbridge_core::telemetry::Metrics;
use stockbridge_core::webhook::{Body, RequestHeaders, DEFAULT_MAX_BODY_BYTES};
use stockbridge_domain::event::{EventBody, InventoryEvent, Part};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::storefront::{ErpChange, ErpMove, Restock};
use stockbridge_memory::{Fault, MemoryQueue, MemoryStore, StoreOp};

const CURRENT: &str = "erp-current-secret";
const PREVIOUS: &str = "erp-previous-secret";
const SHOPS: [&str; 2] = ["north.myshopify.com", "south.myshopify.com"];

fn shops() -> Vec<ShopDomain> {
    SHOPS.iter().map(|s| ShopDomain::new(s)).collect()
}

fn service(
    queue: &MemoryQueue,
    inbox: &MemoryStore,
) -> ErpWebhookService<MemoryQueue, MemoryStore> {
    ErpWebhookService {
        setup: Ok(ErpSetup {
            shops: shops(),
            secrets: ErpSecrets::parse(&format!("{CURRENT}, {PREVIOUS}")).unwrap(),
            queue: queue.clone(),
        }),
        inbox: inbox.clone(),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        metrics: Metrics::silent("webhook"),
    }
}

fn signed(body: &[u8], secret: &str) -> RequestHeaders {
    RequestHeaders::new([("X-Stockbridge-Signature", sign(secret.as_bytes(), body))])
}

const STOCK: &str = r#"{"type":"stock","warehouse":"WH","item":"TEE-M","on_hand":"42","as_of":"2026-12-01T10:00:00Z","moves":[{"id":"mv-1","quantity":"5","kind":"receipt","document":"PO-1","done_at":"2026-12-01T09:59:00Z"}],"reorder_point":"10"}"#;
const RESTOCK: &str = r#"{"type":"restock","item":"TEE-M","next":{"date":"2026-12-20","quantity":"24"},"as_of":"2026-12-01T10:00:00.5+01:00"}"#;
const FIELDS: &str = r#"{"type":"fields","item":"TEE-M","fields":{"pre_order":"true"},"as_of":"2026-12-01T10:00:00Z"}"#;

fn notification(id: &str, changes: &[&str]) -> String {
    format!(
        r#"{{"notification_id":"{id}","sent_at":"2026-12-01T10:00:01Z","changes":[{}]}}"#,
        changes.join(",")
    )
}

fn t(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

#[tokio::test]
async fn a_signed_notification_is_one_event_per_shop_on_the_queue() {
    let (queue, inbox) = (MemoryQueue::new(), MemoryStore::new());
    let intake = service(&queue, &inbox);
    let body = notification("n-1", &[STOCK, RESTOCK, FIELDS]);
    let answer = intake
        .receive(
            &signed(body.as_bytes(), CURRENT),
            Body::Complete(body.as_bytes()),
        )
        .await;
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(
        answer.body,
        serde_json::json!({"status": "accepted", "changes": 3, "events": 2})
    );
    let expected = vec![
        ErpChange::Stock {
            warehouse: "WH".into(),
            item: "TEE-M".into(),
            on_hand: Decimal::from(42),
            as_of: t("2026-12-01T10:00:00Z"),
            moves: vec![ErpMove {
                id: "mv-1".into(),
                quantity: Decimal::from(5),
                kind: "receipt".into(),
                document: Some("PO-1".into()),
                done_at: t("2026-12-01T09:59:00Z"),
            }],
            reorder_point: Some(Decimal::from(10)),
        },
        ErpChange::Restock {
            item: "TEE-M".into(),
            next: Some(Restock {
                date: "2026-12-20".into(),
                quantity: Decimal::from(24),
            }),
            as_of: t("2026-12-01T09:00:00.5Z"),
        },
        ErpChange::Fields {
            item: "TEE-M".into(),
            fields: BTreeMap::from([("pre_order".to_string(), "true".to_string())]),
            as_of: t("2026-12-01T10:00:00Z"),
        },
    ];
    let sent = queue.sent();
    assert_eq!(sent.len(), 2);
    for (message, shop) in sent.iter().zip(shops()) {
        // What the consumer reads is what was meant, through the queue's own text.
        let event = InventoryEvent::from_json(&message.body).unwrap();
        assert_eq!(event.key, format!("{shop}:erp:n-1:0"));
        assert_eq!(event.shop, shop);
        assert_eq!(event.part, Part::WHOLE);
        assert_eq!(event.source.topic, TOPIC);
        assert_eq!(event.source.webhook_id, "n-1");
        assert_eq!(event.source.triggered_at, t("2026-12-01T10:00:01Z"));
        assert_eq!(
            event.body,
            EventBody::ErpChange {
                changes: expected.clone(),
                attempt: 0
            }
        );
    }
    assert_eq!(inbox.record_count(), 0);
    assert_eq!(intake.metrics.total("ErpWebhookAccepted"), 1.0);

    // Sent again (a lost answer): the same keys, so the consumer applies it once.
    let again = intake
        .receive(
            &signed(body.as_bytes(), CURRENT),
            Body::Complete(body.as_bytes()),
        )
        .await;
    assert_eq!(again.status, 202);
    let keys: Vec<String> = queue.sent().iter().map(|m| m.event.key.clone()).collect();
    assert_eq!(keys[..2], keys[2..]);
}

#[tokio::test]
async fn the_previous_secret_is_accepted_during_a_rotation_and_a_third_is_not() {
    let (queue, inbox) = (MemoryQueue::new(), MemoryStore::new());
    let intake = service(&queue, &inbox);
    let body = notification("n-rot", &[STOCK]);
    let old = intake
        .receive(
            &signed(body.as_bytes(), PREVIOUS),
            Body::Complete(body.as_bytes()),
        )
        .await;
    assert_eq!(old.status, 202);
    assert_eq!(queue.waiting(), 2);
    assert_eq!(intake.metrics.total("ErpWebhookPreviousSecret"), 1.0);
    let third = intake
        .receive(
            &signed(body.as_bytes(), "erp-older-secret"),
            Body::Complete(body.as_bytes()),
        )
        .await;
    assert_eq!(third.status, 401);
    assert_eq!(third.body["status"], "bad_signature");
    assert_eq!(queue.waiting(), 2);
    assert_eq!(
        intake.metrics.total("ErpWebhookRejected/bad_signature"),
        1.0
    );
}

#[tokio::test]
async fn what_is_not_authentic_is_refused_and_nothing_is_kept() {
    let (queue, inbox) = (MemoryQueue::new(), MemoryStore::new());
    let intake = service(&queue, &inbox);
    let body = notification("n-forged", &[STOCK]);
    let good = sign(CURRENT.as_bytes(), body.as_bytes());
    let header = |v: &str| vec![("X-Stockbridge-Signature".to_string(), v.to_string())];
    type Headers = Vec<(String, String)>;
    let cases: Vec<(&str, Headers, u16, &str)> = vec![
        ("missing", vec![], 401, "missing_signature"),
        ("blank", header("  "), 401, "missing_signature"),
        (
            "over another body",
            header(&sign(CURRENT.as_bytes(), b"{}")),
            401,
            "bad_signature",
        ),
        ("no prefix", header(&good[7..]), 401, "bad_signature"),
        (
            "other algorithm",
            header(&good.replace("sha256=", "sha1=")),
            401,
            "bad_signature",
        ),
        ("short", header("sha256=f7bc83f4"), 401, "bad_signature"),
        (
            "not hex",
            header(&good.replace(&good[8..9], "z")),
            401,
            "bad_signature",
        ),
        (
            "base64 as Shopify signs",
            header(&stockbridge_shopify::signature::sign(
                CURRENT.as_bytes(),
                body.as_bytes(),
            )),
            401,
            "bad_signature",
        ),
        (
            "given twice",
            [header(&good), header(&good)].concat(),
            400,
            "duplicate_header",
        ),
    ];
    for (name, headers, status, reason) in cases {
        let answer = intake
            .receive(
                &RequestHeaders::new(headers),
                Body::Complete(body.as_bytes()),
            )
            .await;
        assert_eq!(
            (answer.status, answer.body["status"].as_str()),
            (status, Some(reason)),
            "{name}"
        );
        assert!(answer.body["reason"].is_string(), "{name}");
    }
    // Over the limit, declared or read: not even looked at.
    let answer = intake
        .receive(&signed(b"{}", CURRENT), Body::TooLarge)
        .await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (413, Some("body_too_large"))
    );
    let big = vec![b' '; DEFAULT_MAX_BODY_BYTES + 1];
    let answer = intake
        .receive(&signed(&big, CURRENT), Body::Complete(&big))
        .await;
    assert_eq!(answer.status, 413);

    assert_eq!((queue.sends(), queue.waiting()), (0, 0));
    assert_eq!(inbox.record_count(), 0);
    assert_eq!(inbox.body_count(), 0);
    assert_eq!(
        intake.metrics.total("ErpWebhookRejected/missing_signature"),
        2.0
    );
    assert_eq!(
        intake.metrics.total("ErpWebhookRejected/bad_signature"),
        6.0
    );
    assert_eq!(
        intake.metrics.total("ErpWebhookRejected/duplicate_header"),
        1.0
    );
    assert_eq!(
        intake.metrics.total("ErpWebhookRejected/body_too_large"),
        2.0
    );
}

#[tokio::test]
async fn an_authentic_but_unusable_notification_is_kept_whole_and_answered_202() {
    let long_id = "n".repeat(300);
    let long_item = STOCK.replace("TEE-M", &"T".repeat(1100));
    let too_many = notification("n-many", &vec![STOCK; MAX_CHANGES + 1]);
    let huge_field = FIELDS.replace("\"true\"", &format!("\"{}\"", "x".repeat(200 * 1024)));
    // A notification that never closes, 1 MiB: over an inbox record, whole in the body store.
    let mut never_closes = br#"{"notification_id":"n-open","changes":["#.to_vec();
    while never_closes.len() < 1024 * 1024 {
        never_closes.extend_from_slice(STOCK.as_bytes());
        never_closes.push(b',');
    }
    let cases: Vec<(&str, Vec<u8>, &str, bool)> = vec![
        ("1 MiB, not JSON", never_closes, "bad_json", true),
        (
            "not UTF-8",
            b"{\"notification_id\":\"caf\xe9\"}".to_vec(),
            "bad_encoding",
            true,
        ),
        ("empty", vec![], "bad_json", false),
        ("not JSON", b"{not json".to_vec(), "bad_json", false),
        (
            "trailing data",
            format!("{} {{}}", notification("n-t", &[STOCK])).into_bytes(),
            "bad_json",
            false,
        ),
        ("an array", b"[1,2]".to_vec(), "bad_field", false),
        (
            "no changes field",
            br#"{"notification_id":"n-x","sent_at":"2026-12-01T10:00:01Z"}"#.to_vec(),
            "bad_field",
            false,
        ),
        (
            "duplicate key",
            notification(
                "n-dup",
                &[&STOCK.replace("\"on_hand\":\"42\"", "\"on_hand\":\"42\",\"on_hand\":\"0\"")],
            )
            .into_bytes(),
            "bad_field",
            false,
        ),
        (
            "unknown change type",
            notification(
                "n-u",
                &[r#"{"type":"price","item":"TEE-M","as_of":"2026-12-01T10:00:00Z"}"#],
            )
            .into_bytes(),
            "unknown_change",
            false,
        ),
        (
            "decimal as a number",
            notification("n-num", &[&STOCK.replace("\"42\"", "42")]).into_bytes(),
            "bad_field",
            false,
        ),
        (
            "bad decimal",
            notification("n-dec", &[&STOCK.replace("\"42\"", "\"4x\"")]).into_bytes(),
            "bad_quantity",
            false,
        ),
        (
            "float notation",
            notification("n-exp", &[&STOCK.replace("\"42\"", "\"4e2\"")]).into_bytes(),
            "bad_quantity",
            false,
        ),
        (
            "beyond a billion",
            notification("n-big", &[&STOCK.replace("\"42\"", "\"1000000000.5\"")]).into_bytes(),
            "quantity_out_of_range",
            false,
        ),
        (
            "move beyond a billion",
            notification("n-mv", &[&STOCK.replace("\"5\"", "\"-1000000001\"")]).into_bytes(),
            "quantity_out_of_range",
            false,
        ),
        (
            "bad time",
            notification(
                "n-time",
                &[&STOCK.replace("2026-12-01T10:00:00Z", "yesterday")],
            )
            .into_bytes(),
            "bad_time",
            false,
        ),
        (
            "bad restock date",
            notification("n-date", &[&RESTOCK.replace("2026-12-20", "20.12.2026")]).into_bytes(),
            "bad_time",
            false,
        ),
        (
            "empty id",
            notification("", &[STOCK]).into_bytes(),
            "bad_id",
            false,
        ),
        (
            "id too long",
            notification(&long_id, &[STOCK]).into_bytes(),
            "key_too_long",
            false,
        ),
        (
            "item too long",
            notification("n-item", &[&long_item]).into_bytes(),
            "key_too_long",
            false,
        ),
        (
            "too many changes",
            too_many.into_bytes(),
            "too_many_changes",
            false,
        ),
        (
            "one change over a message",
            notification("n-huge", &[&huge_field]).into_bytes(),
            "change_too_large",
            false,
        ),
    ];
    for (name, body, code, in_store) in cases {
        let (queue, inbox) = (MemoryQueue::new(), MemoryStore::new());
        let intake = service(&queue, &inbox);
        let answer = intake
            .receive(&signed(&body, CURRENT), Body::Complete(&body))
            .await;
        assert_eq!(
            (answer.status, answer.body["status"].as_str()),
            (202, Some("quarantined")),
            "{name}: {answer:?}"
        );
        assert!(answer.body["reason"].is_string(), "{name}");
        assert_eq!(queue.sends(), 0, "{name}: nothing of it is queued");
        for shop in shops() {
            let kept = inbox.quarantined(&shop);
            assert_eq!(kept.len(), 1, "{name}: one entry per shop served");
            let entry = &kept[0];
            assert_eq!(
                (entry.topic.as_str(), entry.code.as_str()),
                (TOPIC, code),
                "{name}"
            );
            assert!(!entry.redacted, "{name}");
            // Kept whole: in the record, or byte for byte in the body store.
            match &entry.body_ref {
                Some(at) => {
                    assert!(in_store, "{name}: unexpectedly in the body store");
                    assert_eq!(inbox.body(&at.key).as_deref(), Some(&body[..]), "{name}");
                    at.check(&body).unwrap();
                }
                None => {
                    assert!(!in_store, "{name}: expected in the body store");
                    assert_eq!(entry.body.as_bytes(), &body[..], "{name}");
                }
            }
            if name == "id too long" {
                assert!(entry.webhook_id.starts_with("sha256-"), "{name}");
            }
        }
        // The reason says where, never what the ERP sent.
        let reason = answer.body["reason"].as_str().unwrap_or_default();
        assert!(
            !reason.contains("4x") && !reason.contains("yesterday") && !reason.contains("price"),
            "{name}: {reason}"
        );
        assert_eq!(
            intake
                .metrics
                .total(&format!("ErpWebhookQuarantined/{code}")),
            1.0,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_notification_too_large_for_one_message_is_split_into_parts_per_shop() {
    let (queue, inbox) = (MemoryQueue::new(), MemoryStore::new());
    let intake = service(&queue, &inbox);
    let items: Vec<String> = (0..50)
        .map(|i| STOCK.replace("TEE-M", &format!("TEE-{i}")))
        .collect();
    // Three changes of 90 KB each: by size, two parts at least.
    let fat: Vec<String> = (0..3)
        .map(|i| {
            FIELDS
                .replace("TEE-M", &format!("FAT-{i}"))
                .replace("\"true\"", &format!("\"{}\"", "y".repeat(90 * 1024)))
        })
        .collect();
    for (id, changes, parts) in [("n-50", &items, 3u32), ("n-fat", &fat, 2)] {
        let refs: Vec<&str> = changes.iter().map(String::as_str).collect();
        let body = notification(id, &refs);
        let answer = intake
            .receive(
                &signed(body.as_bytes(), CURRENT),
                Body::Complete(body.as_bytes()),
            )
            .await;
        assert_eq!(answer.status, 202, "{id}: {answer:?}");
        let sent: Vec<InventoryEvent> = queue
            .sent()
            .into_iter()
            .map(|m| m.event)
            .filter(|e| e.source.webhook_id == id)
            .collect();
        assert_eq!(sent.len(), 2 * parts as usize, "{id}");
        for shop in shops() {
            let mine: Vec<&InventoryEvent> = sent.iter().filter(|e| e.shop == shop).collect();
            let mut carried = Vec::new();
            for (index, e) in mine.iter().enumerate() {
                assert_eq!(e.key, format!("{shop}:erp:{id}:{index}"));
                assert_eq!(
                    e.part,
                    Part {
                        index: index as u32,
                        count: parts
                    }
                );
                assert!(
                    e.to_json().len() < 256 * 1024,
                    "{id}: part {index} fits a message"
                );
                let EventBody::ErpChange { changes, .. } = &e.body else {
                    panic!("not an ERP change: {:?}", e.body);
                };
                assert!(changes.len() <= 19);
                carried.extend(changes.iter().map(|c| c.item().to_string()));
            }
            // Every change once, in order.
            let expected: Vec<String> = refs
                .iter()
                .map(|c| {
                    serde_json::from_str::<serde_json::Value>(c).unwrap()["item"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            assert_eq!(carried, expected, "{id}");
        }
    }
}

#[tokio::test]
async fn a_queue_or_quarantine_failure_is_503_so_the_erp_sends_it_again() {
    let (queue, inbox) = (MemoryQueue::new(), MemoryStore::new());
    let intake = service(&queue, &inbox);
    let body = notification("n-503", &[STOCK]);
    queue.fail_next_sends(1);
    let answer = intake
        .receive(
            &signed(body.as_bytes(), CURRENT),
            Body::Complete(body.as_bytes()),
        )
        .await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (503, Some("queue_unavailable"))
    );
    assert_eq!(queue.waiting(), 0);
    assert_eq!(
        intake
            .metrics
            .total("ErpWebhookRetryAsked/queue_unavailable"),
        1.0
    );
    // The ERP's retry goes through.
    let answer = intake
        .receive(
            &signed(body.as_bytes(), CURRENT),
            Body::Complete(body.as_bytes()),
        )
        .await;
    assert_eq!(answer.status, 202);
    assert_eq!(queue.waiting(), 2);

    let unusable = b"{not json".to_vec();
    inbox.fail_next(StoreOp::Quarantine, 1, Fault::Unavailable);
    let answer = intake
        .receive(&signed(&unusable, CURRENT), Body::Complete(&unusable))
        .await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (503, Some("inbox_unavailable"))
    );
    assert_eq!(
        intake
            .metrics
            .total("ErpWebhookRetryAsked/inbox_unavailable"),
        1.0
    );
    let answer = intake
        .receive(&signed(&unusable, CURRENT), Body::Complete(&unusable))
        .await;
    assert_eq!(answer.status, 202);
    for shop in shops() {
        assert_eq!(inbox.quarantined(&shop).len(), 1);
    }
}

#[tokio::test]
async fn an_intake_not_configured_answers_503_naming_what_is_missing() {
    let inbox = MemoryStore::new();
    let intake: ErpWebhookService<MemoryQueue, MemoryStore> = ErpWebhookService {
        setup: Err("ERP_SHOPS is not set".into()),
        inbox: inbox.clone(),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        metrics: Metrics::silent("webhook"),
    };
    let body = notification("n-off", &[STOCK]);
    let answer = intake
        .receive(
            &signed(body.as_bytes(), CURRENT),
            Body::Complete(body.as_bytes()),
        )
        .await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (503, Some("not_configured"))
    );
    assert!(answer.body["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("ERP_SHOPS"));
    assert_eq!(inbox.record_count(), 0);
    assert_eq!(
        intake.metrics.total("ErpWebhookRetryAsked/not_configured"),
        1.0
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let s = ErpSecrets::parse("current-one, previous-one").unwrap();
    assert_eq!(s.len(), 2);
    let shown = format!("{s:?}");
    assert!(shown.contains("2 secret(s)") && !shown.contains("one"));
    assert!(ErpSecrets::parse(" , ").is_none());
}

#[tokio::test]
async fn a_notification_without_changes_is_accepted_and_queues_nothing() {
    let (queue, inbox) = (MemoryQueue::new(), MemoryStore::new());
    let intake = service(&queue, &inbox);
    let body = notification("n-empty", &[]);
    let answer = intake
        .receive(
            &signed(body.as_bytes(), CURRENT),
            Body::Complete(body.as_bytes()),
        )
        .await;
    assert_eq!(
        (
            answer.status,
            answer.body["status"].as_str(),
            answer.body["events"].as_u64()
        ),
        (202, Some("accepted"), Some(0))
    );
    assert_eq!((queue.waiting(), inbox.record_count()), (0, 0));
}

#[tokio::test]
async fn a_quarantined_notification_is_replayed_to_the_erp_changes_queue_once_usable() {
    use stockbridge_core::ports::Inbox;
    let (queue, inbox) = (MemoryQueue::new(), MemoryStore::new());
    let intake = service(&queue, &inbox);
    // Authentic, but a change type this release does not read: quarantined, per shop.
    let odd = r#"{"type":"price","item":"TEE-M","as_of":"2026-12-01T10:00:00Z"}"#;
    let body = notification("n-q", &[STOCK, odd]);
    let answer = intake
        .receive(
            &signed(body.as_bytes(), CURRENT),
            Body::Complete(body.as_bytes()),
        )
        .await;
    assert_eq!(answer.status, 202, "{answer:?}");
    let north = ShopDomain::new(SHOPS[0]);
    let kept = inbox.list_quarantine(&north).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].topic, TOPIC);
    let (events, erp_changes) = (MemoryQueue::new(), MemoryQueue::new());
    // Still unusable: it stays; without the ERP changes queue it stays too.
    let (done, bad) =
        stockbridge_ops::replay_quarantine_with(&inbox, &events, Some(&erp_changes), &north, None)
            .await
            .unwrap();
    assert_eq!((done, bad), (0, 1));
    // A release that reads it (here: the entry's body as the ERP meant it) replays it, to the
    // ERP changes queue, for that shop only, and removes it.
    let mut entry = kept[0].clone();
    inbox.remove_quarantine(&entry).await.unwrap();
    entry.body = notification("n-q", &[STOCK]);
    inbox.quarantine(&entry).await.unwrap();
    let (done, bad) = stockbridge_ops::replay_quarantine(&inbox, &events, &north, None)
        .await
        .unwrap();
    assert_eq!((done, bad), (0, 1), "no ERP changes queue: kept");
    let (done, bad) =
        stockbridge_ops::replay_quarantine_with(&inbox, &events, Some(&erp_changes), &north, None)
            .await
            .unwrap();
    assert_eq!((done, bad), (1, 0));
    assert!(
        events.sent().is_empty(),
        "never onto the Shopify events queue"
    );
    let sent = erp_changes.sent();
    assert_eq!(sent.len(), 1);
    let event = InventoryEvent::from_json(&sent[0].body).unwrap();
    assert_eq!(event.shop, north);
    assert_eq!(event.key, format!("{}:erp:n-q:0", SHOPS[0]));
    assert!(inbox.list_quarantine(&north).await.unwrap().is_empty());
}
