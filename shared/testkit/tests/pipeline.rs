//! The ingest pipeline end to end, over real HTTP into the webhook router and through real SQS
//! and DynamoDB (moto): every path that can fail is driven to fail here.

mod support;

use std::collections::HashMap;

use stockbridge_core::ports::Inbox;
use stockbridge_domain::ids::{InventoryItemId, LocationId};
use stockbridge_domain::stock::StockKey;
use support::{level_body, repo_root, stack, SECRET, SHOP};

const TEE: u64 = 45000000000000001;
const WH: u64 = 72000000001;

fn sample_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("events/webhook"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(|c: char| c.is_ascii_digit())
        })
        .collect();
    files.sort();
    files
}

fn expected_stock() -> HashMap<String, (i64, i64, i64)> {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("events/webhook/EXPECTED.json")).unwrap(),
    )
    .unwrap();
    v[SHOP]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, q)| {
            let n = |f: &str| q[f].as_i64().unwrap();
            (k.clone(), (n("available"), n("committed"), n("on_hand")))
        })
        .collect()
}

#[tokio::test]
async fn every_sample_webhook_is_applied() {
    let s = stack().await;
    s.import_sample_map().await;
    let files = sample_files();
    assert!(
        files.len() >= 15,
        "expected the sample story in events/webhook"
    );
    for f in &files {
        let (status, body) = s.post_event_file(f).await;
        assert_eq!(status, 200, "{}: {body}", f.display());
    }
    s.drain().await;
    assert_eq!(s.stock().await, expected_stock());
    let parked = s.store.list_parked(&s.shop()).await.unwrap();
    assert_eq!(parked.len(), 1, "the unmapped item is parked: {parked:?}");
    assert!(parked[0].missing[0].contains("45000000000000099"));
}

#[tokio::test]
async fn reordered_and_repeated_samples_end_in_the_same_stock() {
    let s = stack().await;
    s.import_sample_map().await;
    let mut files = sample_files();
    files.reverse();
    let again: Vec<_> = files.iter().step_by(3).cloned().collect();
    for f in files.iter().chain(&again) {
        assert_eq!(s.post_event_file(f).await.0, 200);
    }
    s.drain().await;
    assert_eq!(s.stock().await, expected_stock());
}

#[tokio::test]
async fn the_same_webhook_five_times_is_applied_once() {
    let s = stack().await;
    s.import_sample_map().await;
    let body = level_body(TEE, WH, 12, "2026-11-27T10:00:00Z");
    for _ in 0..5 {
        assert_eq!(
            s.post("inventory_levels/update", &body, SECRET, "dup-1")
                .await
                .0,
            200
        );
    }
    s.drain().await;
    assert_eq!(s.stock().await[&format!("{TEE}@{WH}")], (12, 0, 12));
    assert_eq!(s.consumer.metrics.total("EventsApplied"), 1.0);
    assert_eq!(s.consumer.metrics.total("EventsDuplicate"), 4.0);
    let key = StockKey {
        shop: s.shop(),
        item: InventoryItemId(TEE),
        location: LocationId(WH),
    };
    assert_eq!(
        s.store.ledger(&key).await.unwrap().len(),
        1,
        "one log entry"
    );
}

#[tokio::test]
async fn an_older_level_after_a_newer_one_is_ignored() {
    let s = stack().await;
    s.import_sample_map().await;
    let newer = level_body(TEE, WH, 7, "2026-11-27T10:00:05Z");
    let older = level_body(TEE, WH, 50, "2026-11-27T10:00:01Z");
    assert_eq!(
        s.post("inventory_levels/update", &newer, SECRET, "n")
            .await
            .0,
        200
    );
    s.drain().await;
    assert_eq!(
        s.post("inventory_levels/update", &older, SECRET, "o")
            .await
            .0,
        200
    );
    s.drain().await;
    assert_eq!(s.stock().await[&format!("{TEE}@{WH}")], (7, 0, 7));
}

#[tokio::test]
async fn inauthentic_webhooks_are_refused_and_nothing_is_queued() {
    let s = stack().await;
    let body = level_body(TEE, WH, 3, "2026-11-27T10:00:00Z");
    let (status, text) = s
        .post("inventory_levels/update", &body, "wrong-secret", "x1")
        .await;
    assert_eq!((status, text.contains("bad_signature")), (401, true));
    // Tampered body: signed over one body, another sent.
    let hmac = stockbridge_shopify::signature::sign(SECRET.as_bytes(), body.as_bytes());
    let resp = reqwest::Client::new()
        .post(&s.url)
        .header("X-Shopify-Topic", "inventory_levels/update")
        .header("X-Shopify-Hmac-Sha256", &hmac)
        .header("X-Shopify-Shop-Domain", SHOP)
        .body(body.replace(":3,", ":3000,"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Unknown shop, correctly signed for another shop's secret.
    let resp = reqwest::Client::new()
        .post(&s.url)
        .header("X-Shopify-Topic", "inventory_levels/update")
        .header("X-Shopify-Hmac-Sha256", &hmac)
        .header("X-Shopify-Shop-Domain", "stranger.myshopify.com")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Missing signature header.
    let resp = reqwest::Client::new()
        .post(&s.url)
        .header("X-Shopify-Topic", "inventory_levels/update")
        .header("X-Shopify-Shop-Domain", SHOP)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().await.unwrap().contains("X-Shopify-Hmac-Sha256"));
    assert_eq!(s.depth(&s.poller.queue_url).await, 0);
    assert!(s.store.list_quarantine(&s.shop()).await.unwrap().is_empty());
    assert_eq!(
        s.webhook_metrics.total("WebhookRejected/bad_signature"),
        2.0
    );
    assert_eq!(s.webhook_metrics.total("WebhookRejected/unknown_shop"), 1.0);
    assert_eq!(
        s.webhook_metrics.total("WebhookRejected/missing_header"),
        1.0
    );
}

#[tokio::test]
async fn the_previous_secret_still_verifies_during_rotation() {
    let s = stack().await;
    s.import_sample_map().await;
    let body = level_body(TEE, WH, 4, "2026-11-27T10:00:00Z");
    assert_eq!(
        s.post("inventory_levels/update", &body, "previous-secret", "rot")
            .await
            .0,
        200
    );
    assert_eq!(s.webhook_metrics.total("WebhookPreviousSecret"), 1.0);
}

#[tokio::test]
async fn oversized_and_unusable_bodies_get_their_status_and_nothing_is_lost() {
    let s = stack().await;
    let huge = format!(r#"{{"id":1,"note":"{}"}}"#, "x".repeat(70 * 1024));
    assert_eq!(s.post("orders/create", &huge, SECRET, "big").await.0, 413);

    let malformed = r#"{"inventory_item_id": 4500"#;
    let (status, text) = s
        .post("inventory_levels/update", malformed, SECRET, "bad-json")
        .await;
    assert_eq!((status, text.contains("quarantined")), (200, true));
    let unhandled = r#"{"id":1,"title":"Shirt","email":"owner@example.com"}"#;
    assert_eq!(
        s.post("products/update", unhandled, SECRET, "other-topic")
            .await
            .0,
        200
    );
    let unmappable = r#"{"location_id":1,"available":3}"#;
    assert_eq!(
        s.post("inventory_levels/update", unmappable, SECRET, "no-item")
            .await
            .0,
        200
    );

    let kept = s.store.list_quarantine(&s.shop()).await.unwrap();
    let mut codes: Vec<&str> = kept.iter().map(|q| q.code.as_str()).collect();
    codes.sort();
    assert_eq!(codes, ["bad_json", "unhandled_topic", "unmappable"]);
    let products = kept.iter().find(|q| q.topic == "products/update").unwrap();
    assert!(
        products.redacted && !products.body.contains("owner@example.com"),
        "personal data removed"
    );
    let raw = kept.iter().find(|q| q.code == "bad_json").unwrap();
    assert_eq!(
        (raw.redacted, raw.body.as_str()),
        (false, malformed),
        "raw body kept as received"
    );
    assert_eq!(s.depth(&s.poller.queue_url).await, 0);
}

#[tokio::test]
async fn an_unmapped_item_is_parked_and_applied_once_the_mapping_arrives() {
    let s = stack().await;
    s.import_sample_map().await;
    let item = 45000000000000077u64;
    let body = level_body(item, WH, 33, "2026-11-27T10:00:00Z");
    assert_eq!(
        s.post("inventory_levels/update", &body, SECRET, "unmapped")
            .await
            .0,
        200
    );
    s.drain().await;
    assert!(!s.stock().await.contains_key(&format!("{item}@{WH}")));
    let parked = s.store.list_parked(&s.shop()).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].missing, vec![format!("item {item}")]);
    assert_eq!(s.consumer.metrics.total("EventsParked"), 1.0);

    let csv = format!(
        "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n{SHOP},{item},46000000000000077,SB-NEW,NEW,each,each\n"
    );
    let summary = stockbridge_ops::import_skumap(&s.store, &s.queue, Some(&csv), None, false)
        .await
        .unwrap();
    assert_eq!(summary.replayed[0].replayed, 1);
    s.drain().await;
    assert_eq!(s.stock().await[&format!("{item}@{WH}")], (33, 0, 33));
    assert!(s.store.list_parked(&s.shop()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dead_letter_queue() {
    let s = stack().await;
    s.sqs
        .send_message()
        .queue_url(&s.poller.queue_url)
        .message_body("this is not an inventory event")
        .send()
        .await
        .unwrap();
    for _ in 0..30 {
        s.drain_once().await;
        if s.depth(&s.dlq_url).await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    assert_eq!(
        s.depth(&s.dlq_url).await,
        1,
        "poison message moved to the DLQ by the redrive policy"
    );
    assert_eq!(s.depth(&s.poller.queue_url).await, 0);
    assert!(s.consumer.metrics.total("ConsumerUndecodable") >= 2.0);
}

#[tokio::test]
async fn a_partial_batch_failure_returns_only_the_failed_messages() {
    let s = stack().await;
    s.import_sample_map().await;
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("events/sqs/stock-consumer-batch.json")).unwrap(),
    )
    .unwrap();
    let poison: Vec<String> = event
        .records
        .iter()
        .filter(|r| {
            stockbridge_domain::event::InventoryEvent::from_json(r.body.as_deref().unwrap_or(""))
                .is_err()
        })
        .map(|r| r.message_id.clone().unwrap())
        .collect();
    assert_eq!(poison.len(), 1);
    let response = stockbridge_lambda::sqs_batch::consume(&s.consumer, event, None).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, poison);
    assert!(s.consumer.metrics.total("EventsApplied") >= 1.0);
}

#[tokio::test]
async fn when_the_queue_is_down_the_webhook_asks_shopify_to_retry() {
    let s = stack().await;
    // A webhook service whose queue cannot be reached.
    let broken = stockbridge_core::webhook::WebhookService {
        shops: stockbridge_core::config::ShopSecrets::parse(&format!("{SHOP}={SECRET}")).unwrap(),
        queue: stockbridge_aws::sqs::SqsQueue::new(
            aws_sdk_sqs::Client::new(&s.sdk),
            "http://127.0.0.1:1/000000000000/no-such-queue",
        ),
        inbox: s.store.clone(),
        max_body_bytes: 1024 * 1024,
        metrics: stockbridge_core::telemetry::Metrics::silent("webhook"),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/shopify", listener.local_addr().unwrap());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stockbridge_lambda::local::serve(
        listener,
        stockbridge_lambda::http_api::router(std::sync::Arc::new(broken)),
        rx,
    ));
    let body = level_body(TEE, WH, 3, "2026-11-27T10:00:00Z");
    let resp = reqwest::Client::new()
        .post(&url)
        .header("X-Shopify-Topic", "inventory_levels/update")
        .header(
            "X-Shopify-Hmac-Sha256",
            stockbridge_shopify::signature::sign(SECRET.as_bytes(), body.as_bytes()),
        )
        .header("X-Shopify-Shop-Domain", SHOP)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503, "Shopify will deliver again");
}

#[tokio::test]
async fn racing_consumers_apply_each_event_exactly_once() {
    let s = stack().await;
    s.import_sample_map().await;
    // 20 level updates and 10 order snapshots, each delivered twice, drained by two consumers.
    for n in 0..20 {
        let body = level_body(TEE, WH, 100 - n, &format!("2026-11-27T10:00:{n:02}Z"));
        s.post(
            "inventory_levels/update",
            &body,
            SECRET,
            &format!("lvl-{n}"),
        )
        .await;
        s.post(
            "inventory_levels/update",
            &body,
            SECRET,
            &format!("lvl-{n}"),
        )
        .await;
    }
    for n in 0..10u64 {
        let body = format!(
            r#"{{"id":{},"name":"SB1001","updated_at":"2026-11-27T10:01:00Z","line_items":[{{"id":{},"variant_id":46000000000000001,"quantity":2,"fulfillable_quantity":2}}]}}"#,
            9_000_000_000_000_000_000u64 + n,
            9_100_000_000_000_000_000u64 + n
        );
        s.post("orders/create", &body, SECRET, &format!("ord-{n}"))
            .await;
        s.post("orders/updated", &body, SECRET, &format!("ord-again-{n}"))
            .await;
    }
    tokio::join!(s.drain(), s.drain());
    // Online orders (no location, no routing read): their lines count nowhere.
    assert_eq!(s.stock().await[&format!("{TEE}@{WH}")], (81, 0, 81));
}

#[tokio::test]
async fn shop_redact_deletes_everything_kept_for_the_shop() {
    let s = stack().await;
    s.import_sample_map().await;
    let body = level_body(TEE, WH, 5, "2026-11-27T10:00:00Z");
    s.post("inventory_levels/update", &body, SECRET, "before-redact")
        .await;
    s.post("products/update", "{}", SECRET, "q").await;
    s.drain().await;
    assert!(!s.stock().await.is_empty());
    let redact = format!(r#"{{"shop_id":954889,"shop_domain":"{SHOP}"}}"#);
    assert_eq!(
        s.post("shop/redact", &redact, SECRET, "redact").await.0,
        200
    );
    s.drain().await;
    assert!(s.stock().await.is_empty());
    assert!(s.store.list_quarantine(&s.shop()).await.unwrap().is_empty());
    let (_, text) = s
        .post(
            "customers/redact",
            r#"{"customer":{"email":"a@b.c"}}"#,
            SECRET,
            "c",
        )
        .await;
    assert!(text.contains("acknowledged"));
}
