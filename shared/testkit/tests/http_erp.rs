//! `HttpErp` against a small in-test ERP that checks the contract of `docs/erp-http-api.yaml`
//! (bearer token, `Idempotency-Key` equal to the body's key, decimals as strings, required
//! fields; 422 otherwise), keeps levels in memory and applies each key once. Faults (429, 5xx,
//! slow or silent servers) come from the fault proxy in front of it.

mod fault_proxy;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fault_proxy::{Fault, FaultProxy};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use stockbridge_core::ports::{Erp, ErpError};
use stockbridge_domain::erp_write::{ErpLine, ErpWrite, Incoming};
use stockbridge_erp::http_erp::HttpErp;

const TOKEN: &str = "test-token-7f3a";
const WH: &str = "WH";
const TEE: &str = "TEE-BLK-M";
const CAP: &str = "CAP-RED";

// ---------------------------------------------------------------------------------------------
// The test ERP

#[derive(Default)]
struct Ledger {
    /// (warehouse, sku) -> on hand.
    levels: HashMap<(String, String), Decimal>,
    /// (warehouse, sku, quantity, expected date).
    incoming: Vec<(String, String, Decimal, Option<String>)>,
    applied: HashSet<String>,
    writes: usize,
    duplicates: usize,
    reads: usize,
    rejections: Vec<String>,
}

struct TestErp {
    url: String,
    ledger: Arc<Mutex<Ledger>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestErp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestErp {
    async fn start() -> TestErp {
        let mut ledger = Ledger::default();
        ledger.levels.insert((WH.into(), TEE.into()), d("100"));
        ledger.levels.insert((WH.into(), CAP.into()), d("5"));
        ledger.levels.insert(("OTHER".into(), TEE.into()), d("7"));
        ledger
            .incoming
            .push((WH.into(), TEE.into(), d("10"), Some("2026-12-15".into())));
        ledger
            .incoming
            .push((WH.into(), CAP.into(), d("2.5"), None));
        ledger
            .incoming
            .push(("OTHER".into(), TEE.into(), d("99"), None));
        let ledger = Arc::new(Mutex::new(ledger));
        let app = Router::new()
            .route("/api/v1/inventory", get(get_inventory).post(post_inventory))
            .route("/api/v1/incoming", get(get_incoming))
            .with_state(ledger.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/api/v1", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        TestErp { url, ledger, task }
    }

    fn level(&self, sku: &str) -> Decimal {
        self.ledger.lock().expect("ledger").levels[&(WH.to_string(), sku.to_string())]
    }

    fn counts(&self) -> (usize, usize) {
        let l = self.ledger.lock().expect("ledger");
        (l.writes, l.duplicates)
    }
}

type Shared = State<Arc<Mutex<Ledger>>>;

fn unprocessable(ledger: &Mutex<Ledger>, message: String) -> Response {
    ledger
        .lock()
        .expect("ledger")
        .rejections
        .push(message.clone());
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "error": message })),
    )
        .into_response()
}

/// The 401 to answer when the bearer token is missing or wrong.
fn auth_failure(headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {TOKEN}");
    match headers.get("authorization").map(|v| v.to_str()) {
        Some(Ok(v)) if v == expected => None,
        _ => Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": "missing or invalid bearer token" })),
            )
                .into_response(),
        ),
    }
}

struct Write {
    key: String,
    warehouse: String,
    lines: Vec<(String, Decimal)>,
}

fn string<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match obj.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(format!("{name}: must be a non-empty string")),
        None => Err(format!("{name}: required")),
    }
}

fn decimal(obj: &serde_json::Map<String, Value>, name: &str) -> Result<Decimal, String> {
    let s = string(obj, name).map_err(|e| format!("{e} (decimals are strings)"))?;
    s.parse::<Decimal>()
        .map_err(|_| format!("{name}: {s:?} is not a decimal"))
}

fn only(obj: &serde_json::Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: unknown field {k}")),
        None => Ok(()),
    }
}

/// Everything the contract requires of a write request, checked.
fn parse_write(headers: &HeaderMap, body: &[u8]) -> Result<Write, String> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        return Err(format!(
            "content-type {content_type:?}: must be application/json"
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("body: {e}"))?;
    let obj = value.as_object().ok_or("body: must be an object")?;
    only(
        obj,
        &[
            "idempotency_key",
            "warehouse",
            "reason",
            "timestamp",
            "lines",
        ],
        "body",
    )?;
    let key = string(obj, "idempotency_key")?;
    let header = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .ok_or("Idempotency-Key header: required")?;
    if header != key {
        return Err("Idempotency-Key header differs from idempotency_key".into());
    }
    let warehouse = string(obj, "warehouse")?;
    string(obj, "reason")?;
    let timestamp = string(obj, "timestamp")?;
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("timestamp: {timestamp:?} is not RFC 3339"))?;
    let lines = match obj.get("lines") {
        Some(Value::Array(lines)) if !lines.is_empty() => lines,
        _ => return Err("lines: required non-empty array".into()),
    };
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let line = line
            .as_object()
            .ok_or(format!("lines[{i}]: must be an object"))?;
        let at = |e: String| format!("lines[{i}].{e}");
        only(
            line,
            &[
                "sku",
                "location_id",
                "quantity_change",
                "available_quantity",
            ],
            &format!("lines[{i}]"),
        )?;
        let sku = string(line, "sku").map_err(at)?;
        if string(line, "location_id").map_err(at)? != warehouse {
            return Err(format!("lines[{i}].location_id: must be the warehouse"));
        }
        let change = decimal(line, "quantity_change").map_err(at)?;
        if line.contains_key("available_quantity") {
            decimal(line, "available_quantity").map_err(at)?;
        }
        out.push((sku.to_string(), change));
    }
    Ok(Write {
        key: key.into(),
        warehouse: warehouse.into(),
        lines: out,
    })
}

async fn post_inventory(State(ledger): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(denied) = auth_failure(&headers) {
        return denied;
    }
    let write = match parse_write(&headers, &body) {
        Ok(w) => w,
        Err(message) => return unprocessable(&ledger, message),
    };
    let mut l = ledger.lock().expect("ledger");
    if l.applied.contains(&write.key) {
        l.duplicates += 1;
        return (StatusCode::OK, Json(json!({ "status": "duplicate" }))).into_response();
    }
    for (sku, _) in &write.lines {
        if !l
            .levels
            .contains_key(&(write.warehouse.clone(), sku.clone()))
        {
            drop(l);
            return unprocessable(&ledger, format!("unknown sku {sku} at {}", write.warehouse));
        }
    }
    for (sku, change) in &write.lines {
        *l.levels
            .entry((write.warehouse.clone(), sku.clone()))
            .or_default() += *change;
    }
    l.applied.insert(write.key);
    l.writes += 1;
    (StatusCode::CREATED, Json(json!({ "status": "applied" }))).into_response()
}

/// `warehouse` and the `sku` list of a read, or the 422 message.
fn read_query(uri: &Uri) -> Result<(String, Vec<String>), String> {
    let url = reqwest::Url::parse(&format!("http://erp{uri}")).map_err(|e| e.to_string())?;
    let mut warehouse = None;
    let mut skus = Vec::new();
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "warehouse" => warehouse = Some(value.into_owned()),
            "sku" => skus.push(value.into_owned()),
            other => return Err(format!("unknown query parameter {other}")),
        }
    }
    let warehouse = warehouse.ok_or("warehouse: required")?;
    if skus.is_empty() || skus.len() > 50 {
        return Err("sku: 1 to 50 required".into());
    }
    Ok((warehouse, skus))
}

async fn get_inventory(State(ledger): Shared, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(denied) = auth_failure(&headers) {
        return denied;
    }
    let (warehouse, skus) = match read_query(&uri) {
        Ok(q) => q,
        Err(message) => return unprocessable(&ledger, message),
    };
    let mut l = ledger.lock().expect("ledger");
    l.reads += 1;
    let levels: Vec<Value> = skus
        .iter()
        .filter_map(|sku| {
            l.levels
                .get(&(warehouse.clone(), sku.clone()))
                .map(|q| json!({ "sku": sku, "location_id": warehouse, "on_hand": q.to_string() }))
        })
        .collect();
    Json(json!({ "levels": levels })).into_response()
}

async fn get_incoming(State(ledger): Shared, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(denied) = auth_failure(&headers) {
        return denied;
    }
    let (warehouse, skus) = match read_query(&uri) {
        Ok(q) => q,
        Err(message) => return unprocessable(&ledger, message),
    };
    let mut l = ledger.lock().expect("ledger");
    l.reads += 1;
    let incoming: Vec<Value> = l
        .incoming
        .iter()
        .filter(|(wh, sku, _, _)| *wh == warehouse && skus.contains(sku))
        .map(|(_, sku, q, date)| {
            json!({ "sku": sku, "quantity": q.to_string(), "expected_date": date })
        })
        .collect();
    Json(json!({ "incoming": incoming })).into_response()
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal literal")
}

fn write(key: &str) -> ErpWrite {
    ErpWrite {
        key: key.into(),
        warehouse: WH.into(),
        reason: "shopify sales and adjustments".into(),
        as_of: "2026-03-01T10:15:00Z".into(),
        lines: vec![
            ErpLine {
                item: TEE.into(),
                change: d("-2"),
                target: Some(d("98")),
            },
            ErpLine {
                item: CAP.into(),
                change: d("0.5"),
                target: None,
            },
        ],
    }
}

fn client(url: &str) -> HttpErp {
    HttpErp::new(url, TOKEN).expect("valid configuration")
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn a_write_changes_levels() {
    let erp = TestErp::start().await;
    let http = client(&erp.url);
    http.apply(&write("sb-WH-a1")).await.expect("applied");
    assert_eq!(erp.level(TEE), d("98"));
    assert_eq!(erp.level(CAP), d("5.5"));
    let levels = http
        .levels(WH, &[TEE.into(), CAP.into(), "NOT-IN-ERP".into()])
        .await
        .expect("levels");
    assert_eq!(
        levels,
        HashMap::from([(TEE.to_string(), d("98")), (CAP.to_string(), d("5.5"))])
    );
}

#[tokio::test]
async fn the_same_write_twice_applies_once() {
    let erp = TestErp::start().await;
    let http = client(&erp.url);
    let w = write("sb-WH-twice");
    http.apply(&w).await.expect("first");
    http.apply(&w).await.expect("a duplicate is success");
    assert_eq!(erp.level(TEE), d("98"));
    assert_eq!(erp.counts(), (1, 1));
}

#[tokio::test]
async fn contract_violations_and_refusals_are_rejected() {
    let erp = TestErp::start().await;
    let http = client(&erp.url);

    let mut bad_time = write("sb-WH-bad-time");
    bad_time.as_of = "yesterday".into();
    let err = http.apply(&bad_time).await.expect_err("server refuses");
    assert!(
        matches!(&err, ErpError::Rejected(m) if m.contains("422") && m.contains("timestamp: \"yesterday\" is not RFC 3339")),
        "{err:?}"
    );
    assert!(!err.is_transient());

    let mut unknown = write("sb-WH-unknown");
    unknown.lines[1].item = "NOT-IN-ERP".into();
    let err = http.apply(&unknown).await.expect_err("unknown sku");
    assert!(
        matches!(&err, ErpError::Rejected(m) if m.contains("unknown sku NOT-IN-ERP")),
        "{err:?}"
    );

    let wrong_token = HttpErp::new(&erp.url, "not-the-token").expect("valid configuration");
    let err = wrong_token
        .apply(&write("sb-WH-auth"))
        .await
        .expect_err("401");
    assert!(
        matches!(&err, ErpError::Rejected(m) if m.contains("401") && m.contains("bearer token")),
        "{err:?}"
    );
    assert!(matches!(
        wrong_token.levels(WH, &[TEE.into()]).await,
        Err(ErpError::Rejected(_))
    ));

    assert_eq!(erp.level(TEE), d("100"), "nothing was applied");
    assert_eq!(erp.counts(), (0, 0));
    assert_eq!(erp.ledger.lock().expect("ledger").rejections.len(), 2);
}

#[tokio::test]
async fn throttling_carries_retry_after() {
    let erp = TestErp::start().await;
    let proxy = FaultProxy::start(&erp.url).await;
    let http = client(&proxy.url());
    proxy.push(Fault::Status {
        code: 429,
        retry_after: Some(2),
    });
    proxy.push(Fault::Status {
        code: 429,
        retry_after: None,
    });
    assert_eq!(
        http.apply(&write("sb-WH-429")).await,
        Err(ErpError::Throttled {
            retry_after_ms: 2000
        })
    );
    assert_eq!(
        http.levels(WH, &[TEE.into()]).await,
        Err(ErpError::Throttled {
            retry_after_ms: 1000
        })
    );
    assert_eq!(proxy.requests(), 0);
    http.apply(&write("sb-WH-429")).await.expect("then applied");
    assert_eq!(erp.level(TEE), d("98"));
}

#[tokio::test]
async fn server_errors_and_no_server_are_unavailable_and_409_is_success() {
    let erp = TestErp::start().await;
    let proxy = FaultProxy::start(&erp.url).await;
    let http = client(&proxy.url());
    proxy.push(Fault::Status {
        code: 500,
        retry_after: None,
    });
    let err = http.apply(&write("sb-WH-500")).await.expect_err("500");
    assert!(
        matches!(&err, ErpError::Unavailable(m) if m.contains("500") && m.contains("injected")),
        "{err:?}"
    );
    assert!(err.is_transient());
    proxy.push(Fault::Status {
        code: 503,
        retry_after: None,
    });
    assert!(matches!(
        http.incoming(WH, &[TEE.into()]).await,
        Err(ErpError::Unavailable(_))
    ));

    proxy.push(Fault::Status {
        code: 409,
        retry_after: None,
    });
    http.apply(&write("sb-WH-409"))
        .await
        .expect("409 means the key is already applied");

    // Nothing listening.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let err = client(&dead)
        .apply(&write("sb-WH-dead"))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, ErpError::Unavailable(m) if m.contains("could not connect")),
        "{err:?}"
    );
}

#[tokio::test]
async fn two_server_errors_then_success_applies_once() {
    let erp = TestErp::start().await;
    let proxy = FaultProxy::start(&erp.url).await;
    let http = client(&proxy.url());
    for _ in 0..2 {
        proxy.push(Fault::Status {
            code: 500,
            retry_after: None,
        });
    }
    let w = write("sb-WH-retry");
    let mut attempts = 0;
    let outcome = loop {
        attempts += 1;
        match http.apply(&w).await {
            Err(e) if e.is_transient() && attempts < 5 => continue,
            other => break other,
        }
    };
    assert_eq!(outcome, Ok(()));
    assert_eq!(attempts, 3);
    assert_eq!(proxy.faults_served(), 2);
    assert_eq!(proxy.requests(), 1);
    assert_eq!(erp.level(TEE), d("98"));
    assert_eq!(erp.counts(), (1, 0));
}

#[tokio::test]
async fn a_timeout_is_unavailable_and_the_retry_is_a_duplicate() {
    let erp = TestErp::start().await;
    let proxy = FaultProxy::start(&erp.url).await;
    let http = client(&proxy.url())
        .with_timeouts(Duration::from_millis(300), Duration::from_secs(2))
        .expect("client");

    // The ERP gets the write, but only after the client gave up.
    proxy.push(Fault::Delay(Duration::from_millis(800)));
    let w = write("sb-WH-slow");
    let err = http.apply(&w).await.expect_err("times out");
    assert!(
        matches!(&err, ErpError::Unavailable(m) if m.contains("timed out")),
        "{err:?}"
    );
    for _ in 0..50 {
        if erp.counts().0 == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(erp.counts(), (1, 0), "the delayed write arrived");
    http.apply(&w).await.expect("the retry finds it applied");
    assert_eq!(erp.counts(), (1, 1));
    assert_eq!(erp.level(TEE), d("98"));

    // A server that never answers.
    proxy.push(Fault::Drop);
    let err = http.levels(WH, &[TEE.into()]).await.expect_err("no answer");
    assert!(matches!(&err, ErpError::Unavailable(m) if m.contains("timed out")));
    assert_eq!(proxy.requests(), 2, "dropped requests are not forwarded");
}

#[tokio::test]
async fn levels_and_incoming_round_trip() {
    let erp = TestErp::start().await;
    let http = client(&format!("{}/", erp.url));

    assert!(http.levels(WH, &[]).await.expect("empty").is_empty());
    let levels = http
        .levels(WH, &[TEE.into(), CAP.into()])
        .await
        .expect("levels");
    assert_eq!(
        levels,
        HashMap::from([(TEE.to_string(), d("100")), (CAP.to_string(), d("5"))])
    );
    let other = http.levels("OTHER", &[TEE.into()]).await.expect("levels");
    assert_eq!(other, HashMap::from([(TEE.to_string(), d("7"))]));

    // More SKUs than one request takes: split, and SKUs needing escaping survive.
    let mut many: Vec<String> = (0..120).map(|i| format!("SKU {i}&x=1")).collect();
    many.push(TEE.into());
    let reads_before = erp.ledger.lock().expect("ledger").reads;
    let levels = http.levels(WH, &many).await.expect("levels");
    assert_eq!(levels, HashMap::from([(TEE.to_string(), d("100"))]));
    assert_eq!(erp.ledger.lock().expect("ledger").reads - reads_before, 3);

    let mut incoming = http
        .incoming(WH, &[TEE.into(), CAP.into()])
        .await
        .expect("incoming");
    incoming.sort_by(|a, b| a.item.cmp(&b.item));
    assert_eq!(
        incoming,
        vec![
            Incoming {
                item: CAP.into(),
                quantity: d("2.5"),
                expected: None,
            },
            Incoming {
                item: TEE.into(),
                quantity: d("10"),
                expected: Some("2026-12-15".into()),
            },
        ]
    );
}
