//! The Tryton adapter against a real Tryton 8.2 (`infra/erp/tryton.sh`), run via `infra/test.sh`
//! which exports `TRYTON_URL` and `TRYTON_API_KEY`.
//!
//! Tests share one Tryton and may run in any order and in parallel: each creates its own
//! products (unique codes), uses unique write keys, and asserts changes relative to levels read
//! before, so nothing another test does can move the quantities it looks at.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use base64::Engine as _;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::ports::{Erp, ErpError};
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_erp::tryton::TrytonErp;

const WAREHOUSE: &str = "WH";

fn env(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not set: these tests need a running Tryton; run via infra/test.sh \
             (or infra/erp/tryton.sh init+start, then `set -a; . <state>/erp.env; set +a`)"
            )
        })
}

fn company() -> i64 {
    std::env::var("TRYTON_COMPANY_ID")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn erp() -> TrytonErp {
    TrytonErp::new(env("TRYTON_URL"), env("TRYTON_API_KEY"), company())
        .expect("a loopback Tryton URL")
}

/// Unique within this run and across runs on the same Tryton.
fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or(0);
    format!(
        "t{}-{}-{}-{tag}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

fn line(item: &str, change: &str) -> ErpLine {
    ErpLine {
        item: item.to_string(),
        change: dec(change),
        target: None,
    }
}

fn write(key: &str, lines: Vec<ErpLine>) -> ErpWrite {
    ErpWrite {
        key: key.to_string(),
        warehouse: WAREHOUSE.to_string(),
        reason: "stockbridge test".to_string(),
        as_of: "2026-01-01T00:00:00Z".to_string(),
        lines,
    }
}

/// A plain REST client for setting up what the adapter does not do (products, drafts, POs).
struct Rest {
    client: reqwest::Client,
    base: String,
    key: String,
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

impl Rest {
    fn new() -> Self {
        Rest {
            client: reqwest::Client::new(),
            base: env("TRYTON_URL"),
            key: env("TRYTON_API_KEY"),
        }
    }

    fn ctx(&self) -> String {
        b64(&json!({"company": company()}))
    }

    async fn search(&self, model: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
        let mut q: Vec<(&str, String)> = vec![("d", b64(&domain))];
        q.extend(fields.iter().map(|f| ("f", f.to_string())));
        let r = self
            .client
            .get(format!("{}/rest/model/{model}", self.base))
            .query(&q)
            .bearer_auth(&self.key)
            .header("X-Tryton-Context", self.ctx())
            .send()
            .await
            .expect("Tryton reachable");
        let status = r.status();
        let body = r.text().await.expect("body");
        assert!(status.is_success(), "search {model}: {status} {body}");
        serde_json::from_str::<Vec<Value>>(&body).expect("JSON list")
    }

    async fn post(&self, path: &str, body: Value, fields: &[&str]) -> Value {
        let q: Vec<(&str, &str)> = fields.iter().map(|f| ("f", *f)).collect();
        let r = self
            .client
            .post(format!("{}/rest/model/{path}", self.base))
            .query(&q)
            .bearer_auth(&self.key)
            .header("X-Tryton-Context", self.ctx())
            .json(&body)
            .send()
            .await
            .expect("Tryton reachable");
        let status = r.status();
        let text = r.text().await.expect("body");
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).expect("JSON")
    }

    /// Creates a product per tag with a unique code in unit `uom` (1 = "u", 2 = "kg").
    async fn products(&self, tags: &[&str], uom: i64) -> Vec<String> {
        let mut codes = Vec::new();
        for tag in tags {
            let code = unique(tag);
            let body = json!({
                "name": format!("test {code}"), "code": code, "type": "goods",
                "default_uom": uom, "purchasable": true, "purchase_uom": uom,
                "products": [["create", [{}]]],
            });
            let t = self.post("product.template", body, &["products"]).await;
            assert_eq!(t["products"].as_array().map(Vec::len), Some(1), "{t}");
            codes.push(code);
        }
        codes
    }

    /// (warehouse id, input, storage, lost_found) of `WAREHOUSE`.
    async fn warehouse(&self) -> (i64, i64, i64, i64) {
        let rows = self
            .search(
                "stock.location",
                json!([["type", "=", "warehouse"], ["code", "=", WAREHOUSE]]),
                &["input_location", "storage_location", "lost_found_location"],
            )
            .await;
        let r = &rows[0];
        let id = |k: &str| r[k].as_i64().unwrap_or_else(|| panic!("{k} in {r}"));
        (
            id("id"),
            id("input_location"),
            id("storage_location"),
            id("lost_found_location"),
        )
    }

    async fn product_id(&self, code: &str) -> i64 {
        let rows = self
            .search("product.product", json!([["code", "=", code]]), &["code"])
            .await;
        rows[0]["id"].as_i64().expect("product id")
    }

    async fn shipments(&self, reference: &str) -> Vec<Value> {
        self.search(
            "stock.shipment.internal",
            json!([["reference", "=", reference]]),
            &["state", "moves"],
        )
        .await
    }
}

async fn levels(erp: &TrytonErp, items: &[String]) -> HashMap<String, Decimal> {
    erp.levels(WAREHOUSE, items).await.expect("levels")
}

fn delta(
    before: &HashMap<String, Decimal>,
    after: &HashMap<String, Decimal>,
    item: &str,
) -> Decimal {
    after[item] - before[item]
}

#[tokio::test]
async fn a_write_moves_stock_both_ways_by_exactly_the_change() {
    let rest = Rest::new();
    let erp = erp();
    let codes = rest.products(&["a", "b", "c"], 1).await;
    let before = levels(&erp, &codes).await;
    assert_eq!(before.len(), 3, "new products are known: {before:?}");
    assert!(before.values().all(|q| q.is_zero()));

    let w = write(
        &unique("both"),
        vec![
            line(&codes[0], "5"),
            line(&codes[1], "-3"),
            line(&codes[2], "0"),
        ],
    );
    erp.apply(&w).await.expect("apply");
    let after = levels(&erp, &codes).await;
    assert_eq!(delta(&before, &after, &codes[0]), dec("5"));
    assert_eq!(delta(&before, &after, &codes[1]), dec("-3"));
    assert_eq!(delta(&before, &after, &codes[2]), dec("0"));

    // One document per direction, both done; the zero line made no move.
    let inn = rest.shipments(&format!("{}:in", w.key)).await;
    let out = rest.shipments(&format!("{}:out", w.key)).await;
    assert_eq!((inn.len(), out.len()), (1, 1));
    assert_eq!(inn[0]["state"], "done");
    assert_eq!(out[0]["state"], "done");
    assert_eq!(inn[0]["moves"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_same_write_twice_changes_stock_once() {
    let rest = Rest::new();
    let erp = erp();
    let codes = rest.products(&["twice-a", "twice-b"], 1).await;
    let before = levels(&erp, &codes).await;
    let w = write(
        &unique("twice"),
        vec![line(&codes[0], "4"), line(&codes[1], "-2")],
    );
    erp.apply(&w).await.expect("first apply");
    erp.apply(&w).await.expect("retry");
    // A fresh adapter (empty caches, as after a cold start) does not apply it either.
    super_erp_apply(&w).await;
    let after = levels(&erp, &codes).await;
    assert_eq!(delta(&before, &after, &codes[0]), dec("4"));
    assert_eq!(delta(&before, &after, &codes[1]), dec("-2"));
    assert_eq!(rest.shipments(&format!("{}:in", w.key)).await.len(), 1);
    assert_eq!(rest.shipments(&format!("{}:out", w.key)).await.len(), 1);
}

async fn super_erp_apply(w: &ErpWrite) {
    erp().apply(w).await.expect("apply from a fresh adapter");
}

/// An earlier attempt died after creating the shipment (draft) or after `wait` (waiting):
/// apply finishes that document instead of creating another.
#[tokio::test]
async fn a_write_left_mid_workflow_is_finished_not_duplicated() {
    let rest = Rest::new();
    let erp = erp();
    let codes = rest.products(&["mid-a", "mid-b"], 1).await;
    let (_, _, storage, lost_found) = rest.warehouse().await;
    let (pa, pb) = (
        rest.product_id(&codes[0]).await,
        rest.product_id(&codes[1]).await,
    );
    let before = levels(&erp, &codes).await;
    let w = write(
        &unique("mid"),
        vec![line(&codes[0], "7"), line(&codes[1], "-1")],
    );
    // ":in" left in draft, ":out" left waiting.
    let qty = |q: &str| json!({"__class__": "Decimal", "decimal": q});
    rest.post(
        "stock.shipment.internal",
        json!({
            "reference": format!("{}:in", w.key), "from_location": lost_found, "to_location": storage,
            "moves": [["create", [{"product": pa, "unit": 1, "quantity": qty("7"),
                "from_location": lost_found, "to_location": storage}]]],
        }),
        &["state"],
    )
    .await;
    let out = rest
        .post(
            "stock.shipment.internal",
            json!({
                "reference": format!("{}:out", w.key), "from_location": storage, "to_location": lost_found,
                "moves": [["create", [{"product": pb, "unit": 1, "quantity": qty("1"),
                    "from_location": storage, "to_location": lost_found}]]],
            }),
            &["state"],
        )
        .await;
    let out_id = out["id"].as_i64().expect("id");
    let waited = rest
        .post(
            &format!("stock.shipment.internal/{out_id}/wait"),
            json!({}),
            &["state"],
        )
        .await;
    assert_eq!(waited["state"], "waiting");
    assert_eq!(
        levels(&erp, &codes).await,
        before,
        "drafts do not move stock"
    );

    erp.apply(&w).await.expect("apply finishes the drafts");
    erp.apply(&w).await.expect("and a retry is a no-op");
    let after = levels(&erp, &codes).await;
    assert_eq!(delta(&before, &after, &codes[0]), dec("7"));
    assert_eq!(delta(&before, &after, &codes[1]), dec("-1"));
    for dir in ["in", "out"] {
        let s = rest.shipments(&format!("{}:{dir}", w.key)).await;
        assert_eq!(s.len(), 1, "{dir}: {s:?}");
        assert_eq!(s[0]["state"], "done");
    }
}

#[tokio::test]
async fn an_unknown_item_is_rejected_and_nothing_changes() {
    let rest = Rest::new();
    let erp = erp();
    let codes = rest.products(&["known"], 1).await;
    let before = levels(&erp, &codes).await;
    let ghost = unique("no-such-item");
    let w = write(
        &unique("unknown"),
        vec![line(&codes[0], "3"), line(&ghost, "-1")],
    );
    match erp.apply(&w).await {
        Err(ErpError::Rejected(m)) => assert!(m.contains(&ghost), "names the item: {m}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(levels(&erp, &codes).await, before);
    assert!(rest.shipments(&format!("{}:in", w.key)).await.is_empty());
    // Absent from levels: unknown to the ERP.
    let l = erp
        .levels(WAREHOUSE, &[codes[0].clone(), ghost.clone()])
        .await
        .expect("levels");
    assert!(l.contains_key(&codes[0]) && !l.contains_key(&ghost));
}

#[tokio::test]
async fn an_unknown_warehouse_is_rejected() {
    let erp = erp();
    let mut w = write(&unique("nowh"), vec![line("MUG", "1")]);
    w.warehouse = unique("NOWH");
    match erp.apply(&w).await {
        Err(ErpError::Rejected(m)) => assert!(m.contains(&w.warehouse), "{m}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(matches!(
        erp.levels(&w.warehouse, &["MUG".to_string()]).await,
        Err(ErpError::Rejected(_))
    ));
}

#[tokio::test]
async fn fractional_quantities_must_fit_the_unit() {
    let rest = Rest::new();
    let erp = erp();
    let kg = rest.products(&["kg"], 2).await; // kg: rounding 0.01
    let u = rest.products(&["u"], 1).await; // u: rounding 1
    let before = levels(&erp, &[kg[0].clone(), u[0].clone()]).await;
    erp.apply(&write(&unique("kg"), vec![line(&kg[0], "2.25")]))
        .await
        .expect("2.25 kg fits");
    let w = write(&unique("half"), vec![line(&kg[0], "1"), line(&u[0], "2.5")]);
    match erp.apply(&w).await {
        Err(ErpError::Rejected(m)) => assert!(m.contains(&u[0]) && m.contains("2.5"), "{m}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    let after = levels(&erp, &[kg[0].clone(), u[0].clone()]).await;
    assert_eq!(delta(&before, &after, &kg[0]), dec("2.25"));
    assert_eq!(delta(&before, &after, &u[0]), dec("0"));
}

#[tokio::test]
async fn a_bad_api_key_is_rejected() {
    let bad = TrytonErp::new(env("TRYTON_URL"), "0".repeat(128), company())
        .expect("a loopback Tryton URL");
    match bad.levels(WAREHOUSE, &["MUG".to_string()]).await {
        Err(ErpError::Rejected(m)) => assert!(m.contains("API key"), "{m}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    match bad
        .apply(&write(&unique("badkey"), vec![line("MUG", "1")]))
        .await
    {
        Err(ErpError::Rejected(m)) => assert!(m.contains("API key"), "{m}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stopped_server_is_unavailable() {
    // A port nobody listens on: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let down = TrytonErp::new(format!("http://127.0.0.1:{port}/stockbridge"), "k", 1)
        .expect("a loopback Tryton URL");
    let started = Instant::now();
    let err = down
        .apply(&write(&unique("down"), vec![line("MUG", "1")]))
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, ErpError::Unavailable(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(matches!(
        down.levels(WAREHOUSE, &["MUG".to_string()]).await,
        Err(ErpError::Unavailable(_))
    ));
    assert!(started.elapsed().as_secs() < 5, "fails fast");
}

#[tokio::test]
async fn incoming_shows_an_open_purchase_with_its_date() {
    let rest = Rest::new();
    let erp = erp();
    let codes = rest.products(&["po-a", "po-b"], 1).await;
    let (wh, ..) = rest.warehouse().await;
    let date = time::OffsetDateTime::now_utc().date() + time::Duration::days(45);
    let expected = format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    let pid = |v: &str, d: i64| {
        std::env::var(v)
            .ok()
            .and_then(|x| x.parse::<i64>().ok())
            .unwrap_or(d)
    };
    let price = json!({"__class__": "Decimal", "decimal": "8.00"});
    let lines: Vec<Value> = vec![
        json!({"product": rest.product_id(&codes[0]).await, "quantity": 24, "unit": 1, "unit_price": price}),
        json!({"product": rest.product_id(&codes[0]).await, "quantity": 6, "unit": 1, "unit_price": price}),
    ];
    let po = rest
        .post(
            "purchase.purchase",
            json!({
                "party": pid("TRYTON_SUPPLIER_PARTY_ID", 2),
                "invoice_address": pid("TRYTON_SUPPLIER_ADDRESS_ID", 2),
                "warehouse": wh, "currency": pid("TRYTON_CURRENCY_ID", 1),
                "delivery_date": {"__class__": "date", "year": date.year(),
                    "month": u8::from(date.month()), "day": date.day()},
                "lines": [["create", lines]],
            }),
            &["state"],
        )
        .await;
    let id = po["id"].as_i64().expect("purchase id");
    for button in ["quote", "confirm"] {
        rest.post(
            &format!("purchase.purchase/{id}/{button}"),
            json!({}),
            &["state"],
        )
        .await;
    }
    let incoming = erp.incoming(WAREHOUSE, &codes).await.expect("incoming");
    let mine: Vec<_> = incoming.iter().filter(|i| i.item == codes[0]).collect();
    assert_eq!(mine.len(), 1, "{incoming:?}");
    assert_eq!(mine[0].quantity, dec("30"), "both lines, one date");
    assert_eq!(mine[0].expected.as_deref(), Some(expected.as_str()));
    assert!(
        incoming.iter().all(|i| i.item != codes[1]),
        "nothing ordered for {}",
        codes[1]
    );
    // On hand is untouched by an open purchase.
    assert_eq!(levels(&erp, &codes).await[&codes[0]], dec("0"));
}

/// Prints the time of one apply of N lines (`--nocapture` to see it), from a fresh adapter
/// (so the warehouse and product look-ups are included).
#[tokio::test]
async fn timing_of_one_apply() {
    let rest = Rest::new();
    for (ins, outs) in [(1usize, 0usize), (1, 1), (10, 0), (20, 20)] {
        let erp = erp();
        let tags: Vec<String> = (0..ins.max(outs)).map(|i| format!("perf{i}")).collect();
        let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
        let codes = rest.products(&tag_refs, 1).await;
        let before = levels(&erp, &codes).await;
        let mut lines = Vec::new();
        for (i, c) in codes.iter().enumerate() {
            if i < ins {
                lines.push(line(c, "3"));
            }
            if i < outs {
                lines.push(line(c, "-1"));
            }
        }
        let w = write(&unique("perf"), lines);
        let fresh = TrytonErp::new(env("TRYTON_URL"), env("TRYTON_API_KEY"), company())
            .expect("a loopback Tryton URL");
        let t = Instant::now();
        fresh.apply(&w).await.expect("apply");
        let first = t.elapsed();
        let t = Instant::now();
        fresh.apply(&w).await.expect("retry");
        let retry = t.elapsed();
        let t = Instant::now();
        let after = levels(&erp, &codes).await;
        let read = t.elapsed();
        for (i, c) in codes.iter().enumerate() {
            let want = if i < ins { 3 } else { 0 } - if i < outs { 1 } else { 0 };
            assert_eq!(delta(&before, &after, c), Decimal::from(want));
        }
        eprintln!(
            "TIMING apply of {} lines ({ins} in, {outs} out): {first:?}; retry (already done): \
             {retry:?}; levels of {} items: {read:?}",
            ins + outs,
            codes.len()
        );
    }
}
