//! The webhook's bad-input catalogue (`docs/webhook-bad-input.md`), over real HTTP into the
//! webhook router on a loopback port, with real SQS, DynamoDB and S3 (moto): every class of
//! malformed, forged, oversized or out-of-range delivery, each with its expected status and what
//! is kept, then the proof that nothing authentic was lost: every authentic delivery is on the
//! queue or in quarantine (under its reason), nothing inauthentic is anywhere, and every answer
//! has its reason metric.
//!
//! `TEST_MOTO_PORT=4611 TEST_TRYTON_PORT=8811 TEST_TRYTON_STATE=/tmp/tryton-bad-input \
//!  bash infra/test.sh --test bad_input`

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::s3::{QuarantineSettings, S3Bodies};
use stockbridge_core::config::ShopSecrets;
use stockbridge_core::ports::{sha256_hex, BodyStore, Inbox, QuarantineEntry};
use stockbridge_core::telemetry::Metrics;
use stockbridge_core::webhook::{WebhookService, DEFAULT_MAX_BODY_BYTES};
use stockbridge_domain::event::InventoryEvent;
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_shopify::signature::sign;
use support::{stack, Stack, SECRET, SHOP};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PREVIOUS: &str = "previous-secret";
const LEVEL: &str = r#"{"inventory_item_id":45000000000000001,"location_id":72000000001,"available":12,"updated_at":"2026-11-27T12:00:00Z"}"#;

/// What an answer should leave behind.
#[derive(Clone, Debug, PartialEq)]
enum Kept {
    /// This many events on the queue.
    Queued(usize),
    /// A quarantine entry with this reason code; `in_s3` when its body is in the bucket.
    Quarantined { code: &'static str, in_s3: bool },
    /// A privacy request answered; nothing kept.
    Acknowledged,
    /// Refused: nothing kept anywhere.
    Nothing,
}

/// How the request is sent.
#[derive(Clone, Debug)]
enum Send {
    /// Through reqwest: headers as given (repeats allowed), the body with its length.
    Http,
    /// Raw TCP: `Content-Length` claims this many bytes, none are sent.
    Declared(usize),
    /// Raw TCP: chunked, no length declared, this many bytes streamed.
    Streamed(usize),
}

struct Case {
    class: &'static str,
    name: &'static str,
    webhook_id: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    send: Send,
    status: u16,
    /// The answer's `status` field (the rejection reason for 4xx).
    answer: &'static str,
    kept: Kept,
}

/// A delivery as Shopify sends it: its headers, signed with `secret`.
fn case(
    class: &'static str,
    name: &'static str,
    topic: &str,
    body: impl Into<Vec<u8>>,
    secret: &str,
) -> Case {
    let body = body.into();
    let webhook_id = format!("bad-input-{name}");
    Case {
        class,
        name,
        headers: vec![
            ("X-Shopify-Topic".into(), topic.into()),
            (
                "X-Shopify-Hmac-Sha256".into(),
                sign(secret.as_bytes(), &body),
            ),
            ("X-Shopify-Shop-Domain".into(), SHOP.into()),
            ("X-Shopify-Webhook-Id".into(), webhook_id.clone()),
            ("X-Shopify-API-Version".into(), "2026-04".into()),
            (
                "X-Shopify-Triggered-At".into(),
                "2026-11-27T12:00:00.5Z".into(),
            ),
        ],
        webhook_id,
        body,
        send: Send::Http,
        status: 200,
        answer: "accepted",
        kept: Kept::Queued(1),
    }
}

impl Case {
    fn expect(mut self, status: u16, answer: &'static str, kept: Kept) -> Self {
        self.status = status;
        self.answer = answer;
        self.kept = kept;
        self
    }
    fn quarantined(self, code: &'static str) -> Self {
        self.expect(200, "quarantined", Kept::Quarantined { code, in_s3: false })
    }
    fn quarantined_in_s3(self, code: &'static str) -> Self {
        self.expect(200, "quarantined", Kept::Quarantined { code, in_s3: true })
    }
    fn refused(self, status: u16, reason: &'static str) -> Self {
        self.expect(status, reason, Kept::Nothing)
    }
    fn without(mut self, header: &str) -> Self {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case(header));
        self
    }
    fn with(mut self, header: &str, value: &str) -> Self {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case(header));
        self.headers.push((header.into(), value.into()));
        self
    }
    fn also(mut self, header: &str, value: &str) -> Self {
        self.headers.push((header.into(), value.into()));
        self
    }
    fn id(mut self, webhook_id: &str) -> Self {
        self.webhook_id = webhook_id.into();
        self.with("X-Shopify-Webhook-Id", webhook_id)
    }
    fn sent(mut self, send: Send) -> Self {
        self.send = send;
        self
    }
}

fn level(available: &str) -> String {
    format!(
        r#"{{"inventory_item_id":45000000000000001,"location_id":72000000001,"available":{available},"updated_at":"2026-11-27T12:00:00Z"}}"#
    )
}

fn order(line: &str) -> String {
    format!(
        r#"{{"id":9100,"name":"SB9100","updated_at":"2026-11-27T12:00:00Z","email":"arya@winterfell.example","tags":"Engrave: Arya","line_items":[{line}]}}"#
    )
}

/// A JSON-looking body of about 1 MB that is not JSON (it never closes).
fn megabyte_not_json() -> Vec<u8> {
    let mut body = br#"{"id":1,"line_items":["#.to_vec();
    while body.len() < 1024 * 1024 {
        body.extend_from_slice(br#"{"id":1,"variant_id":2,"quantity":1},"#);
    }
    body
}

/// A valid order of about 1 MB, one line of which has a negative quantity.
fn megabyte_order() -> String {
    let mut lines = Vec::new();
    let mut n = 1u64;
    let mut size = 0;
    while size < 1024 * 1024 {
        let line = format!(
            r#"{{"id":{n},"variant_id":46000000000000001,"sku":"TEE-{n:08}","quantity":1,"fulfillable_quantity":1,"name":"Arya's tee"}}"#
        );
        size += line.len();
        lines.push(line);
        n += 1;
    }
    lines.push(format!(
        r#"{{"id":{n},"variant_id":46000000000000001,"quantity":-1,"fulfillable_quantity":0}}"#
    ));
    format!(r#"{{"id":9200,"line_items":[{}]}}"#, lines.join(","))
}

fn catalogue() -> Vec<Case> {
    let lvl = "inventory_levels/update";
    let other_sig = sign(SECRET.as_bytes(), b"{}");
    let good_sig = sign(SECRET.as_bytes(), LEVEL.as_bytes());
    let flipped_case: String = good_sig
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    let deep_unread = format!(
        r#"{{"inventory_item_id":45000000000000001,"location_id":72000000001,"available":3,"x":{}{}}}"#,
        "[".repeat(400),
        "]".repeat(400)
    );
    let deep_unknown = format!(r#"{{"id":1,"x":{}{}}}"#, "[".repeat(400), "]".repeat(400));
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(LEVEL.as_bytes());
    let latin1 = b"{\"inventory_item_id\":45000000000000001,\"location_id\":72000000001,\"available\":1,\"note\":\"caf\xe9\"}".to_vec();
    let gzip = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00".to_vec();
    let long_sku = "S".repeat(1100);
    vec![
        // ---- signatures
        case("signature", "missing", lvl, LEVEL, SECRET)
            .without("X-Shopify-Hmac-Sha256")
            .refused(400, "missing_header"),
        case("signature", "over-another-body", lvl, LEVEL, SECRET)
            .with("X-Shopify-Hmac-Sha256", &other_sig)
            .refused(401, "bad_signature"),
        case("signature", "wrong-secret", lvl, LEVEL, "guessed-secret")
            .refused(401, "bad_signature"),
        case("signature", "previous-secret-during-rotation", lvl, LEVEL, PREVIOUS),
        case("signature", "base64-junk", lvl, LEVEL, SECRET)
            .with("X-Shopify-Hmac-Sha256", "not*base64!!")
            .refused(401, "bad_signature"),
        case("signature", "short-digest", lvl, LEVEL, SECRET)
            .with("X-Shopify-Hmac-Sha256", "AAAA")
            .refused(401, "bad_signature"),
        case("signature", "letter-case-changed", lvl, LEVEL, SECRET)
            .with("X-Shopify-Hmac-Sha256", &flipped_case)
            .refused(401, "bad_signature"),
        case("signature", "hex-not-base64", lvl, LEVEL, SECRET)
            .with("X-Shopify-Hmac-Sha256", &sha256_hex(LEVEL.as_bytes()))
            .refused(401, "bad_signature"),
        // ---- headers
        case("headers", "missing-shop", lvl, LEVEL, SECRET)
            .without("X-Shopify-Shop-Domain")
            .refused(400, "missing_header"),
        case("headers", "missing-topic", lvl, LEVEL, SECRET)
            .without("X-Shopify-Topic")
            .refused(400, "missing_header"),
        case("headers", "blank-topic", lvl, LEVEL, SECRET)
            .with("X-Shopify-Topic", "   ")
            .refused(400, "missing_header"),
        case("headers", "blank-signature", lvl, LEVEL, SECRET)
            .with("X-Shopify-Hmac-Sha256", "")
            .refused(400, "missing_header"),
        case("headers", "duplicated-topic", lvl, LEVEL, SECRET)
            .also("X-Shopify-Topic", "orders/create")
            .refused(400, "duplicate_header"),
        case("headers", "duplicated-signature", lvl, LEVEL, SECRET)
            .also("X-Shopify-Hmac-Sha256", &good_sig)
            .refused(400, "duplicate_header"),
        case("headers", "duplicated-webhook-id", lvl, LEVEL, SECRET)
            .also("X-Shopify-Webhook-Id", "another-id")
            .refused(400, "duplicate_header"),
        case("headers", "unknown-shop", lvl, LEVEL, SECRET)
            .with("X-Shopify-Shop-Domain", "stranger.myshopify.com")
            .refused(401, "unknown_shop"),
        case("headers", "names-and-shop-in-other-case", lvl, LEVEL, SECRET)
            .with("x-SHOPIFY-topic", "INVENTORY_LEVELS_UPDATE")
            .with("X-Shopify-Shop-Domain", &SHOP.to_uppercase()),
        case("headers", "no-webhook-id", lvl, level("13"), SECRET).without("X-Shopify-Webhook-Id"),
        case("headers", "unparsable-triggered-at", lvl, level("14"), SECRET)
            .with("X-Shopify-Triggered-At", "yesterday"),
        // ---- sizes
        case("sizes", "declared-over-limit", lvl, LEVEL, SECRET)
            .sent(Send::Declared(DEFAULT_MAX_BODY_BYTES + 1))
            .refused(413, "body_too_large"),
        case("sizes", "streamed-over-limit", lvl, LEVEL, SECRET)
            .sent(Send::Streamed(DEFAULT_MAX_BODY_BYTES + 64 * 1024))
            .refused(413, "body_too_large"),
        case("sizes", "empty-body", lvl, "", SECRET).quarantined("bad_json"),
        case("sizes", "one-megabyte-not-json", "orders/create", megabyte_not_json(), SECRET)
            .id("bad-input-big-raw")
            .quarantined_in_s3("bad_json"),
        case("sizes", "one-megabyte-order-unusable", "orders/create", megabyte_order(), SECRET)
            .id("bad-input-big-order")
            .quarantined_in_s3("negative_quantity"),
        // ---- encodings
        case("encodings", "not-utf8", lvl, latin1, SECRET).quarantined_in_s3("bad_encoding"),
        case("encodings", "byte-order-mark", lvl, bom, SECRET).quarantined("bad_encoding"),
        case("encodings", "gzip-without-header", lvl, gzip, SECRET)
            .quarantined_in_s3("bad_encoding"),
        // ---- JSON shapes
        case("json", "not-json", "orders/create", "{not json", SECRET).quarantined("bad_json"),
        case("json", "trailing-data", lvl, format!("{LEVEL} {{}}"), SECRET)
            .quarantined("bad_json"),
        case("json", "duplicate-key", lvl, format!(r#"{{"available":1,{}"#, &LEVEL[1..]), SECRET)
            .quarantined("bad_json"),
        case("json", "array", lvl, "[45000000000000001,72000000001,12]", SECRET)
            .quarantined("not_an_object"),
        case("json", "line-item-as-array", "orders/create", order("[1,2,\"SKU\",1]"), SECRET)
            .quarantined("bad_field"),
        case(
            "json",
            "wrong-type-flag",
            "inventory_items/update",
            r#"{"id":45000000000000001,"sku":"TEE","tracked":"yes"}"#,
            SECRET,
        )
        .quarantined("bad_field"),
        case("json", "missing-ids", lvl, r#"{"available":4}"#, SECRET).quarantined("unmappable"),
        case(
            "json",
            "null-ids",
            lvl,
            r#"{"inventory_item_id":null,"location_id":null,"available":null}"#,
            SECRET,
        )
        .quarantined("unmappable"),
        case("json", "null-available-is-untracked", lvl, level("null"), SECRET),
        case("json", "deep-nesting-in-unread-field", lvl, deep_unread, SECRET),
        case("json", "deep-nesting-unknown-topic", "products/update", deep_unknown, SECRET)
            .quarantined("unhandled_topic"),
        // ---- quantities
        case("quantities", "float-available", lvl, level("2.5"), SECRET)
            .quarantined("bad_quantity"),
        case("quantities", "huge-number", lvl, level("99999999999999999999999"), SECRET)
            .quarantined("bad_quantity"),
        case("quantities", "text-available", lvl, level(r#""twelve""#), SECRET)
            .quarantined("bad_quantity"),
        case("quantities", "beyond-a-billion", lvl, level("1000000001"), SECRET)
            .quarantined("quantity_out_of_range"),
        case("quantities", "negative-available-oversold", lvl, level("-5"), SECRET),
        case(
            "quantities",
            "order-line-out-of-range",
            "orders/create",
            order(r#"{"id":1,"variant_id":46000000000000001,"quantity":5000000000,"fulfillable_quantity":5000000000,"properties":[{"name":"Engraving","value":"Arya"}]}"#),
            SECRET,
        )
        .quarantined("quantity_out_of_range"),
        case(
            "quantities",
            "negative-fulfilment-line",
            "fulfillments/create",
            r#"{"id":31,"order_id":9100,"status":"success","location_id":72000000001,"line_items":[{"id":1,"variant_id":46000000000000001,"quantity":-3}]}"#,
            SECRET,
        )
        .quarantined("negative_quantity"),
        case(
            "quantities",
            "negative-refund-line",
            "refunds/create",
            r#"{"id":41,"order_id":9100,"refund_line_items":[{"id":1,"line_item_id":1,"quantity":-1,"location_id":72000000001,"restock_type":"return","line_item":{"id":1,"variant_id":46000000000000001}}]}"#,
            SECRET,
        )
        .quarantined("negative_quantity"),
        // ---- ids and topics
        case("ids", "webhook-id-too-long", lvl, LEVEL, SECRET)
            .id(&"w".repeat(300))
            .quarantined("key_too_long"),
        case(
            "ids",
            "sku-too-long",
            "inventory_items/update",
            format!(r#"{{"id":45000000000000001,"sku":"{long_sku}"}}"#),
            SECRET,
        )
        .quarantined("key_too_long"),
        case(
            "ids",
            "unparsable-order-location",
            "orders/create",
            r#"{"id":9300,"location_id":"north-store","line_items":[{"id":1,"variant_id":46000000000000001,"quantity":1,"fulfillable_quantity":1}]}"#,
            SECRET,
        )
        .quarantined("bad_id"),
        case("ids", "float-id", lvl, r#"{"inventory_item_id":4.5e16,"location_id":72000000001,"available":1}"#, SECRET)
            .quarantined("bad_id"),
        case("ids", "unknown-topic", "products/update", r#"{"id":1,"title":"Arya's tee"}"#, SECRET)
            .quarantined("unhandled_topic"),
        // ---- privacy
        case(
            "privacy",
            "customers-redact",
            "customers/redact",
            r#"{"shop_id":1,"shop_domain":"stockbridge-demo.myshopify.com","customer":{"id":1,"email":"arya@winterfell.example"}}"#,
            SECRET,
        )
        .expect(200, "acknowledged", Kept::Acknowledged),
    ]
}

/// The webhook with the limits as deployed (2 MiB) and the quarantine bucket, on loopback.
async fn serve(s: &Stack) -> (String, DynamoStore, Metrics) {
    let tables = Tables {
        stock: s.env["STOCK_TABLE"].clone(),
        idempotency: s.env["IDEMPOTENCY_TABLE"].clone(),
        skumap: s.env["SKUMAP_TABLE"].clone(),
        inbox: s.env["INBOX_TABLE"].clone(),
    };
    let inbox = DynamoStore::new(aws_sdk_dynamodb::Client::new(&s.sdk), tables).with_quarantine(
        QuarantineSettings {
            bodies: Some(S3Bodies::new(&s.sdk, s.env["QUARANTINE_BUCKET"].clone())),
            retention_days: 30,
        },
    );
    let metrics = Metrics::silent("webhook");
    let service = WebhookService {
        shops: ShopSecrets::parse(&format!("{SHOP}={SECRET},{PREVIOUS}")).unwrap(),
        queue: s.queue.clone(),
        inbox: inbox.clone(),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        metrics: metrics.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(tx);
    tokio::spawn(stockbridge_lambda::local::serve(
        listener,
        stockbridge_lambda::http_api::router(Arc::new(service)),
        rx,
    ));
    (addr.to_string(), inbox, metrics)
}

/// Sends one case; returns the status and the answer's JSON.
async fn send(addr: &str, c: &Case) -> (u16, serde_json::Value) {
    let (status, text) = match c.send {
        Send::Http => {
            let mut request = reqwest::Client::new()
                .post(format!("http://{addr}/webhooks/shopify"))
                .body(c.body.clone());
            for (k, v) in &c.headers {
                request = request.header(k.as_str(), v.as_str());
            }
            let resp = request.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
        Send::Declared(len) => raw(addr, c, &format!("Content-Length: {len}"), None).await,
        Send::Streamed(len) => raw(addr, c, "Transfer-Encoding: chunked", Some(len)).await,
    };
    (status, serde_json::from_str(&text).unwrap_or_default())
}

/// A request written by hand: a declared length with no body, or a chunked body of `stream`
/// bytes. The webhook may answer before it has read everything; writes after that may fail.
async fn raw(addr: &str, c: &Case, framing: &str, stream: Option<usize>) -> (u16, String) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("POST /webhooks/shopify HTTP/1.1\r\nHost: {addr}\r\n{framing}\r\n");
    for (k, v) in &c.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    if let Some(total) = stream {
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            let frame = format!("{:x}\r\n", chunk.len());
            if conn.write_all(frame.as_bytes()).await.is_err()
                || conn.write_all(&chunk).await.is_err()
                || conn.write_all(b"\r\n").await.is_err()
            {
                break;
            }
            sent += chunk.len();
        }
        let _ = conn.write_all(b"0\r\n\r\n").await;
    }
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Every event on the queue, by webhook id (received and deleted).
async fn queued(s: &Stack) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut empty = 0;
    while empty < 3 {
        let resp = s
            .sqs
            .receive_message()
            .queue_url(&s.env["EVENTS_QUEUE_URL"])
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
            let event = InventoryEvent::from_json(m.body().unwrap_or_default()).unwrap();
            *out.entry(event.source.webhook_id.clone()).or_default() += 1;
            s.sqs
                .delete_message()
                .queue_url(&s.env["EVENTS_QUEUE_URL"])
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap();
        }
    }
    out
}

#[tokio::test]
async fn every_bad_input_class_has_its_status_and_nothing_authentic_is_lost() {
    let s = stack().await;
    let (addr, inbox, metrics) = serve(&s).await;
    let cases = catalogue();
    assert!(cases.len() >= 25, "{} classes", cases.len());
    let mut answers: HashMap<&str, u16> = HashMap::new();
    let mut failures = Vec::new();
    for c in &cases {
        let (status, answer) = send(&addr, c).await;
        let reason = answer["status"].as_str().unwrap_or("(no JSON answer)");
        if (status, reason) != (c.status, c.answer) {
            failures.push(format!(
                "{}/{}: got {status} {reason} ({}), expected {} {}",
                c.class, c.name, answer["message"], c.status, c.answer
            ));
        }
        answers.insert(c.name, status);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // What each answer left behind.
    let on_queue = queued(&s).await;
    let kept: Vec<QuarantineEntry> = inbox.list_quarantine(&s.shop()).await.unwrap();
    let by_id: HashMap<&str, &QuarantineEntry> =
        kept.iter().map(|q| (q.webhook_id.as_str(), q)).collect();
    let mut expected_queued = 0;
    for c in &cases {
        let id = if c.webhook_id.len() > 256 {
            format!("sha256-{}", sha256_hex(c.webhook_id.as_bytes()))
        } else {
            c.webhook_id.clone()
        };
        let quarantined = by_id.get(id.as_str());
        let queued_n = on_queue.get(&id).copied().unwrap_or(0);
        match &c.kept {
            Kept::Queued(n) => {
                let n = if c.name == "no-webhook-id" {
                    // Keyed by the body's digest instead.
                    on_queue
                        .get(&format!("sha256-{}", sha256_hex(&c.body)))
                        .copied()
                        .unwrap_or(0)
                } else {
                    assert_eq!(queued_n, *n, "{}: queued", c.name);
                    queued_n
                };
                assert_eq!(n, 1, "{}: queued once", c.name);
                expected_queued += n;
                assert!(quarantined.is_none(), "{}: not quarantined", c.name);
            }
            Kept::Quarantined { code, in_s3 } => {
                let q = quarantined.unwrap_or_else(|| panic!("{}: not in quarantine", c.name));
                assert_eq!(q.code, *code, "{}", c.name);
                assert_eq!(
                    q.body_ref.is_some(),
                    *in_s3,
                    "{}: where the body is",
                    c.name
                );
                assert_eq!(queued_n, 0, "{}: nothing queued", c.name);
                // Never the input's text in the stored reason.
                assert!(
                    !q.reason.contains("Arya") && !q.reason.contains("twelve"),
                    "{}: {}",
                    c.name,
                    q.reason
                );
            }
            Kept::Acknowledged | Kept::Nothing => {
                assert!(quarantined.is_none(), "{}: nothing kept", c.name);
                assert_eq!(queued_n, 0, "{}: nothing queued", c.name);
            }
        }
    }
    // Nothing else anywhere: the queue holds exactly the accepted, the quarantine exactly the
    // quarantined.
    assert_eq!(on_queue.values().sum::<usize>(), expected_queued);
    let quarantined_cases = cases
        .iter()
        .filter(|c| matches!(c.kept, Kept::Quarantined { .. }))
        .count();
    assert_eq!(kept.len(), quarantined_cases);

    // Every answer counted under its reason.
    let count = |f: &dyn Fn(&Case) -> Option<String>| {
        let mut by: BTreeMap<String, f64> = BTreeMap::new();
        for c in &cases {
            if let Some(k) = f(c) {
                *by.entry(k).or_default() += 1.0;
            }
        }
        by
    };
    for (name, n) in count(&|c| (c.status >= 400).then(|| format!("WebhookRejected/{}", c.answer)))
        .into_iter()
        .chain(count(&|c| match c.kept {
            Kept::Quarantined { code, .. } => Some(format!("WebhookQuarantined/{code}")),
            _ => None,
        }))
    {
        assert_eq!(metrics.total(&name), n, "{name}");
    }
    assert_eq!(
        metrics.total("WebhookAccepted"),
        cases
            .iter()
            .filter(|c| matches!(c.kept, Kept::Queued(_)))
            .count() as f64
    );
    assert_eq!(metrics.total("WebhookPreviousSecret"), 1.0);

    // Redaction kept nothing personal of the quarantined orders.
    for q in &kept {
        for personal in ["arya@winterfell.example", "Engrave", "Arya"] {
            assert!(!q.body.contains(personal), "{}: {personal}", q.webhook_id);
        }
    }
}

#[tokio::test]
async fn a_one_megabyte_unusable_payload_is_kept_whole_encrypted_expiring_and_replayable() {
    let s = stack().await;
    let (addr, inbox, _) = serve(&s).await;
    let body = megabyte_not_json();
    let c = case("sizes", "mb", "orders/create", body.clone(), SECRET).id("mb-1");
    let (status, answer) = send(&addr, &c).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("quarantined"))
    );
    let kept = inbox.list_quarantine(&s.shop()).await.unwrap();
    let entry = kept.iter().find(|q| q.webhook_id == "mb-1").unwrap();
    let at = entry.body_ref.clone().expect("a pointer, not the body");
    assert!(entry.body.is_empty());
    assert_eq!(at.size, body.len() as u64);
    assert_eq!(at.sha256, sha256_hex(&body));
    // Whole, byte for byte, and encrypted.
    let bodies = S3Bodies::new(&s.sdk, s.env["QUARANTINE_BUCKET"].clone());
    assert_eq!(bodies.get_body(&at).await.unwrap(), body);
    let head = bodies
        .client()
        .head_object()
        .bucket(&at.bucket)
        .key(&at.key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption().map(|e| e.as_str()),
        Some("AES256")
    );
    // The bucket expires it after the retention, and so does the inbox record.
    let lifecycle = bodies
        .client()
        .get_bucket_lifecycle_configuration()
        .bucket(&at.bucket)
        .send()
        .await
        .unwrap();
    let days: Vec<Option<i32>> = lifecycle
        .rules()
        .iter()
        .map(|r| r.expiration().and_then(|e| e.days()))
        .collect();
    assert_eq!(days, [Some(30)]);
    let items = s
        .store
        .client()
        .query()
        .table_name(&s.env["INBOX_TABLE"])
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("QUARANTINE#{SHOP}")),
        )
        .send()
        .await
        .unwrap();
    let item = &items.items()[0];
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires, entry.received_at.as_secs() + 30 * 86_400);
    assert_eq!(
        item["body_key"].as_s().unwrap(),
        &format!("{}/{}", at.bucket, at.key)
    );

    // Replay reads it back (still not JSON: it stays, body included).
    let (replayed, still_bad) =
        stockbridge_ops::replay_quarantine(&inbox, &s.queue, &s.shop(), Some("mb-1"))
            .await
            .unwrap();
    assert_eq!((replayed, still_bad), (0, 1));
    assert_eq!(bodies.get_body(&at).await.unwrap(), body);

    // A large body an older release quarantined, which normalises now: replayed from S3,
    // queued, and removed with its body.
    let order = {
        let lines: Vec<String> = (1..=60)
            .map(|i| {
                format!(
                    r#"{{"id":{i},"variant_id":46000000000000001,"quantity":1,"fulfillable_quantity":1,"title":"{}"}}"#,
                    "x".repeat(10_000)
                )
            })
            .collect();
        format!(
            r#"{{"id":9400,"name":"SB9400","line_items":[{}]}}"#,
            lines.join(",")
        )
    };
    let shop = ShopDomain::new(SHOP);
    let at = inbox
        .put_body(&shop, &sha256_hex(order.as_bytes()), order.as_bytes())
        .await
        .unwrap();
    let older = QuarantineEntry {
        shop: shop.clone(),
        topic: "orders/create".into(),
        webhook_id: "older-release".into(),
        event_id: None,
        api_version: Some("2026-04".into()),
        triggered_at: None,
        received_at: Timestamp::parse("2026-11-27T10:00:00Z").unwrap(),
        code: "unmappable".into(),
        reason: "kept by an older release".into(),
        body: String::new(),
        redacted: true,
        body_ref: Some(at.clone()),
    };
    inbox.quarantine(&older).await.unwrap();
    let (replayed, _) =
        stockbridge_ops::replay_quarantine(&inbox, &s.queue, &shop, Some("older-release"))
            .await
            .unwrap();
    assert_eq!(replayed, 1);
    assert_eq!(
        queued(&s).await.get("older-release"),
        Some(&4),
        "60 lines, 4 parts"
    );
    assert!(bodies.get_body(&at).await.is_err(), "the body went with it");
    assert!(!inbox
        .list_quarantine(&shop)
        .await
        .unwrap()
        .iter()
        .any(|q| q.webhook_id == "older-release"));
}
