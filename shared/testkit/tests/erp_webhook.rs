//! The ERP webhook (`POST /webhooks/erp`, `docs/erp-http-api.yaml` `webhooks: stockChanged`)
//! over real HTTP into the webhook's router on a loopback port (merged with the Shopify route,
//! as the function serves them), with real SQS, DynamoDB and S3 (moto): signed notifications
//! become one event per shop on the ERP changes queue (a queue of their own, not the Shopify
//! events queue), in parts when large; the previous secret is still taken during a rotation, a
//! third is not; what is not authentic is refused and nothing of it is kept; what is authentic
//! but unusable is kept whole in the quarantine (S3 when large or not UTF-8) and answered 202;
//! a queue that cannot be reached is a 503.
//!
//! `bash infra/test.sh --test erp_webhook`

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::s3::{QuarantineSettings, S3Bodies};
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::config::ShopSecrets;
use stockbridge_core::erp_webhook::{parse_shops, sign, ErpSecrets, ErpSetup, ErpWebhookService};
use stockbridge_core::ports::{BodyStore, Inbox};
use stockbridge_core::telemetry::Metrics;
use stockbridge_core::webhook::{WebhookService, DEFAULT_MAX_BODY_BYTES};
use stockbridge_domain::event::{EventBody, InventoryEvent};
use stockbridge_domain::ids::ShopDomain;
use support::{level_body, stack, Stack, SECRET, SHOP};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CURRENT: &str = "erp-current-secret";
const PREVIOUS: &str = "erp-previous-secret";
const SHOPS: &str = "north.myshopify.com,south.myshopify.com";

const STOCK: &str = r#"{"type":"stock","warehouse":"WH","item":"TEE-M","on_hand":"42","as_of":"2026-12-01T10:00:00Z","moves":[{"id":"mv-1","quantity":"5","kind":"receipt","document":"PO-1","done_at":"2026-12-01T09:59:00Z"}],"reorder_point":"10"}"#;
const RESTOCK: &str = r#"{"type":"restock","item":"TEE-M","next":{"date":"2026-12-20","quantity":"24"},"as_of":"2026-12-01T10:00:00Z"}"#;
const FIELDS: &str = r#"{"type":"fields","item":"TEE-M","fields":{"pre_order":"true"},"as_of":"2026-12-01T10:00:00Z"}"#;

fn notification(id: &str, changes: &[&str]) -> String {
    format!(
        r#"{{"notification_id":"{id}","sent_at":"2026-12-01T10:00:01Z","changes":[{}]}}"#,
        changes.join(",")
    )
}

fn shops() -> Vec<ShopDomain> {
    parse_shops(SHOPS).unwrap()
}

/// A queue of the stack's own for the ERP's changes (the template does not have it yet).
async fn erp_queue(s: &Stack) -> String {
    let events = &s.env["EVENTS_QUEUE_URL"];
    let name = format!("{}-erp-changes", events.rsplit('/').next().unwrap_or("erp"));
    s.sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string()
}

fn inbox(s: &Stack) -> DynamoStore {
    let tables = Tables {
        stock: s.env["STOCK_TABLE"].clone(),
        idempotency: s.env["IDEMPOTENCY_TABLE"].clone(),
        skumap: s.env["SKUMAP_TABLE"].clone(),
        inbox: s.env["INBOX_TABLE"].clone(),
    };
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&s.sdk), tables).with_quarantine(
        QuarantineSettings {
            bodies: Some(S3Bodies::new(&s.sdk, s.env["QUARANTINE_BUCKET"].clone())),
            retention_days: 30,
        },
    )
}

/// Both routes on one loopback port, as the function serves them; the ERP's on `queue_url`.
async fn serve(s: &Stack, queue_url: &str) -> (String, Metrics) {
    let inbox = inbox(s);
    let metrics = Metrics::silent("webhook");
    let shopify = WebhookService {
        shops: ShopSecrets::parse(&format!("{SHOP}={SECRET}")).unwrap(),
        queue: s.queue.clone(),
        inbox: inbox.clone(),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        metrics: metrics.clone(),
    };
    let erp = ErpWebhookService {
        setup: Ok(ErpSetup {
            shops: shops(),
            secrets: ErpSecrets::parse(&format!("{CURRENT},{PREVIOUS}")).unwrap(),
            queue: SqsQueue::new(s.sqs.clone(), queue_url),
        }),
        inbox,
        max_body_bytes: shopify.max_body_bytes,
        metrics: metrics.clone(),
    };
    let app = stockbridge_lambda::http_api::router(Arc::new(shopify))
        .merge(stockbridge_lambda::http_api::erp_router(Arc::new(erp)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(tx);
    tokio::spawn(stockbridge_lambda::local::serve(listener, app, rx));
    (addr, metrics)
}

/// Posts `body` with these signature headers; the status and the answer's JSON.
async fn post(addr: &str, body: &[u8], signatures: &[String]) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/erp"))
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    for s in signatures {
        request = request.header("X-Stockbridge-Signature", s.as_str());
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

/// A request that declares a body over the limit and sends none.
async fn declared_too_large(addr: &str) -> u16 {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /webhooks/erp HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nX-Stockbridge-Signature: {}\r\nConnection: close\r\n\r\n",
        DEFAULT_MAX_BODY_BYTES + 1,
        sign(CURRENT.as_bytes(), b"{}")
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Every event on a queue, taken off it.
async fn take_all(s: &Stack, url: &str) -> Vec<InventoryEvent> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let resp = s
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if resp.messages().is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        for m in resp.messages() {
            out.push(InventoryEvent::from_json(m.body().unwrap_or_default()).unwrap());
            s.sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap();
        }
    }
    out
}

#[tokio::test]
async fn erp_notifications_over_http_reach_their_queue_or_the_quarantine_and_forgeries_nothing() {
    let s = stack().await;
    let queue_url = erp_queue(&s).await;
    let (addr, metrics) = serve(&s, &queue_url).await;
    let signed = |body: &[u8], secret: &str| vec![sign(secret.as_bytes(), body)];

    // Accepted: the current secret, the previous one (a rotation), and one of 50 changes.
    let whole = notification("n-whole", &[STOCK, RESTOCK, FIELDS]);
    let rotated = notification("n-rotated", &[STOCK]);
    let items: Vec<String> = (0..50)
        .map(|i| STOCK.replace("TEE-M", &format!("TEE-{i}")))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let large = notification("n-large", &refs);
    for (body, secret, changes, events) in [
        (&whole, CURRENT, 3, 2),
        (&rotated, PREVIOUS, 1, 2),
        (&large, CURRENT, 50, 6),
    ] {
        let (status, answer) = post(&addr, body.as_bytes(), &signed(body.as_bytes(), secret)).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(
            answer,
            serde_json::json!({"status": "accepted", "changes": changes, "events": events})
        );
    }

    // Not authentic: refused, nothing kept.
    let forged = notification("n-forged", &[STOCK]);
    let good = sign(CURRENT.as_bytes(), forged.as_bytes());
    for (name, signatures, status, reason) in [
        (
            "a third secret",
            signed(forged.as_bytes(), "erp-older-secret"),
            401,
            "bad_signature",
        ),
        ("no signature", vec![], 401, "missing_signature"),
        (
            "over another body",
            signed(b"{}", CURRENT),
            401,
            "bad_signature",
        ),
        (
            "hex without the prefix",
            vec![good[7..].to_string()],
            401,
            "bad_signature",
        ),
        (
            "given twice",
            vec![good.clone(), good.clone()],
            400,
            "duplicate_header",
        ),
    ] {
        let (got, answer) = post(&addr, forged.as_bytes(), &signatures).await;
        assert_eq!(
            (got, answer["status"].as_str()),
            (status, Some(reason)),
            "{name}: {answer}"
        );
    }
    assert_eq!(declared_too_large(&addr).await, 413);

    // Authentic but unusable: kept whole, answered 202 so the ERP does not send it again.
    let mut latin1 = br#"{"notification_id":"caf"#.to_vec();
    latin1.push(0xe9);
    latin1.extend_from_slice(br#"","changes":[]}"#);
    let unusable: Vec<(&str, Vec<u8>, &str, bool)> = vec![
        ("not JSON", b"{not json".to_vec(), "bad_json", false),
        ("not UTF-8", latin1, "bad_encoding", true),
        (
            "unknown change type",
            notification(
                "n-type",
                &[r#"{"type":"price","item":"TEE-M","as_of":"2026-12-01T10:00:00Z"}"#],
            )
            .into_bytes(),
            "unknown_change",
            false,
        ),
        (
            "quantity beyond a billion",
            notification("n-billion", &[&STOCK.replace("\"42\"", "\"1000000001\"")]).into_bytes(),
            "quantity_out_of_range",
            false,
        ),
        (
            "bad decimal",
            notification("n-decimal", &[&STOCK.replace("\"42\"", "\"forty-two\"")]).into_bytes(),
            "bad_quantity",
            false,
        ),
    ];
    for (name, body, _, _) in &unusable {
        let (status, answer) = post(&addr, body, &signed(body, CURRENT)).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (202, Some("quarantined")),
            "{name}: {answer}"
        );
        assert!(answer["reason"].is_string(), "{name}");
    }

    // The ERP changes queue holds exactly the accepted notifications, per shop and part.
    let events = take_all(&s, &queue_url).await;
    let keys: BTreeSet<String> = events.iter().map(|e| e.key.clone()).collect();
    let mut expected = BTreeSet::new();
    for shop in shops() {
        expected.insert(format!("{shop}:erp:n-whole:0"));
        expected.insert(format!("{shop}:erp:n-rotated:0"));
        for part in 0..3 {
            expected.insert(format!("{shop}:erp:n-large:{part}"));
        }
    }
    assert_eq!(keys, expected);
    assert_eq!(events.len(), expected.len(), "each event once");
    let mut per_shop: BTreeMap<(ShopDomain, String), usize> = BTreeMap::new();
    for e in &events {
        assert_eq!(e.source.topic, "erp/stock");
        let EventBody::ErpChange { changes, attempt } = &e.body else {
            panic!("not an ERP change: {:?}", e.body);
        };
        assert_eq!(*attempt, 0);
        *per_shop
            .entry((e.shop.clone(), e.source.webhook_id.clone()))
            .or_default() += changes.len();
    }
    for shop in shops() {
        assert_eq!(per_shop[&(shop.clone(), "n-large".to_string())], 50);
        assert_eq!(per_shop[&(shop, "n-whole".to_string())], 3);
    }
    // Nothing of the ERP's went to the Shopify events queue.
    assert_eq!(s.depth(&s.env["EVENTS_QUEUE_URL"]).await, 0);

    // The quarantine holds each unusable notification once per shop, whole, and nothing else.
    let store = inbox(&s);
    for shop in shops() {
        let kept = store.list_quarantine(&shop).await.unwrap();
        assert_eq!(kept.len(), unusable.len(), "{shop}: {kept:?}");
        for (name, body, code, in_s3) in &unusable {
            let entry = kept
                .iter()
                .find(|e| e.code == *code)
                .unwrap_or_else(|| panic!("{shop}: {name} not kept"));
            assert_eq!(entry.topic, "erp/stock");
            match &entry.body_ref {
                Some(at) => {
                    assert!(in_s3, "{name}");
                    let bytes = store.get_body(at).await.unwrap();
                    at.check(&bytes).unwrap();
                    assert_eq!(&bytes, body, "{name}");
                }
                None => {
                    assert!(!in_s3, "{name}");
                    assert_eq!(entry.body.as_bytes(), &body[..], "{name}");
                }
            }
        }
    }

    // The Shopify route still answers beside it.
    let level = level_body(45000000000000001, 72000000001, 3, "2026-12-01T10:00:00Z");
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/shopify"))
        .header("X-Shopify-Topic", "inventory_levels/update")
        .header(
            "X-Shopify-Hmac-Sha256",
            stockbridge_shopify::signature::sign(SECRET.as_bytes(), level.as_bytes()),
        )
        .header("X-Shopify-Shop-Domain", SHOP)
        .body(level)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    for (name, total) in [
        ("ErpWebhookAccepted", 3.0),
        ("ErpWebhookPreviousSecret", 1.0),
        ("ErpWebhookRejected/bad_signature", 3.0),
        ("ErpWebhookRejected/missing_signature", 1.0),
        ("ErpWebhookRejected/duplicate_header", 1.0),
        ("ErpWebhookRejected/body_too_large", 1.0),
        ("ErpWebhookQuarantined", unusable.len() as f64),
        ("ErpWebhookQuarantined/bad_encoding", 1.0),
    ] {
        assert_eq!(metrics.total(name), total, "{name}");
    }
}

#[tokio::test]
async fn when_the_erp_changes_queue_is_down_the_erp_is_asked_to_send_again() {
    let s = stack().await;
    let (addr, metrics) = serve(&s, "http://127.0.0.1:1/000000000000/no-such-queue").await;
    let body = notification("n-down", &[STOCK]);
    let (status, answer) = post(
        &addr,
        body.as_bytes(),
        &[sign(CURRENT.as_bytes(), body.as_bytes())],
    )
    .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (503, Some("queue_unavailable")),
        "{answer}"
    );
    assert_eq!(metrics.total("ErpWebhookRetryAsked/queue_unavailable"), 1.0);
    // Nothing was quarantined in its place: the ERP still holds it.
    for shop in shops() {
        assert!(inbox(&s).list_quarantine(&shop).await.unwrap().is_empty());
    }
}
