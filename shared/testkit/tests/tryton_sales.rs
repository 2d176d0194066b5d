//! The Tryton sales adapter (`ErpSales for TrytonErp`) against a real Tryton 8.2, run via
//! `bash infra/test.sh --test tryton_sales` (which exports `TRYTON_URL`, `TRYTON_API_KEY` and
//! `TRYTON_SALE_PARTY` from the bootstrap's erp.env).
//!
//! Tests share one Tryton and may run in parallel: each creates its own products and
//! references, and asserts on-hand changes relative to levels read before.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine as _;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::ports::{
    Change, Erp, ErpError, ErpSales, SalesLine, SalesMovement, SalesOrder, SalesOrderState,
};
use stockbridge_erp::tryton::TrytonErp;

const WAREHOUSE: &str = "WH";

fn env(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{name} is not set: run via infra/test.sh --test tryton_sales"))
}

fn erp() -> TrytonErp {
    TrytonErp::new(env("TRYTON_URL"), env("TRYTON_API_KEY"), 1)
        .expect("a loopback Tryton URL")
        .with_sale_party(Some(env("TRYTON_SALE_PARTY")))
}

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or(0);
    format!(
        "s{}-{}-{}-{tag}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

fn sl(line: &str, item: &str, q: &str) -> SalesLine {
    SalesLine {
        line: line.into(),
        item: item.into(),
        quantity: dec(q),
    }
}

fn order(reference: &str, lines: Vec<SalesLine>) -> SalesOrder {
    SalesOrder {
        reference: reference.into(),
        number: "#1001".into(),
        warehouse: WAREHOUSE.into(),
        lines,
    }
}

fn movement(order: &str, key: &str, lines: Vec<SalesLine>) -> SalesMovement {
    SalesMovement {
        order: order.into(),
        key: key.into(),
        warehouse: WAREHOUSE.into(),
        lines,
    }
}

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

    async fn search(&self, model: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
        let mut q: Vec<(&str, String)> = vec![("d", b64(&domain))];
        q.extend(fields.iter().map(|f| ("f", f.to_string())));
        let r = self
            .client
            .get(format!("{}/rest/model/{model}", self.base))
            .query(&q)
            .bearer_auth(&self.key)
            .header("X-Tryton-Context", b64(&json!({"company": 1})))
            .send()
            .await
            .expect("Tryton reachable");
        let status = r.status();
        let body = r.text().await.expect("body");
        assert!(status.is_success(), "search {model}: {status} {body}");
        serde_json::from_str(&body).expect("JSON list")
    }

    async fn post(&self, path: &str, body: Value, fields: &[&str]) -> Value {
        let q: Vec<(&str, &str)> = fields.iter().map(|f| ("f", *f)).collect();
        let r = self
            .client
            .post(format!("{}/rest/model/{path}", self.base))
            .query(&q)
            .bearer_auth(&self.key)
            .header("X-Tryton-Context", b64(&json!({"company": 1})))
            .json(&body)
            .send()
            .await
            .expect("Tryton reachable");
        let status = r.status();
        let text = r.text().await.expect("body");
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).expect("JSON")
    }

    /// Salable products in unit "u", one per tag.
    async fn products(&self, tags: &[&str]) -> Vec<String> {
        let mut codes = Vec::new();
        for tag in tags {
            let code = unique(tag);
            let body = json!({
                "name": format!("test {code}"), "code": code, "type": "goods",
                "default_uom": 1, "salable": true, "sale_uom": 1,
                "products": [["create", [{}]]],
            });
            self.post("product.template", body, &["products"]).await;
            codes.push(code);
        }
        codes
    }

    async fn sales(&self, reference: &str) -> Vec<Value> {
        self.search(
            "sale.sale",
            json!([["reference", "=", reference]]),
            &[
                "state",
                "party.code",
                "lines",
                "shipment_state",
                "shipments",
            ],
        )
        .await
    }
}

async fn levels(erp: &TrytonErp, items: &[String]) -> HashMap<String, Decimal> {
    erp.levels(WAREHOUSE, items).await.expect("levels")
}

#[tokio::test]
async fn place_twice_makes_one_confirmed_sale_of_the_generic_party() {
    let rest = Rest::new();
    let erp = erp();
    let codes = rest.products(&["pa", "pb"]).await;
    let parties_before = rest.search("party.party", json!([]), &["code"]).await.len();
    let r = unique("place");
    let o = order(&r, vec![sl("11", &codes[0], "3"), sl("12", &codes[1], "2")]);
    let first = erp.place(&o).await.expect("place");
    let again = erp.place(&o).await.expect("place again");
    assert_eq!(first.state, SalesOrderState::Confirmed);
    assert_eq!(again, first);
    let mut lines = first.lines.clone();
    lines.sort_by(|a, b| a.line.cmp(&b.line));
    assert_eq!(lines, o.lines);
    let sales = rest.sales(&r).await;
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert_eq!(sales[0]["party"]["code"], env("TRYTON_SALE_PARTY").as_str());
    assert_eq!(sales[0]["state"], "processing");
    assert_eq!(sales[0]["shipment_state"], "waiting");
    let parties = rest.search("party.party", json!([]), &["code"]).await.len();
    assert_eq!(parties, parties_before, "no party is created");
    assert!(first.erp_number.is_some());
    let found = erp.find(&r).await.expect("find").expect("found");
    assert_eq!(found, first);
    assert_eq!(erp.find(&unique("none")).await.expect("find"), None);
}

#[tokio::test]
async fn a_sale_left_in_quotation_is_finished_by_place() {
    let rest = Rest::new();
    let erp = erp();
    let codes = rest.products(&["q"]).await;
    let r = unique("quote");
    let o = order(&r, vec![sl("21", &codes[0], "1")]);
    let party = rest
        .search(
            "party.party",
            json!([["code", "=", env("TRYTON_SALE_PARTY")]]),
            &["addresses"],
        )
        .await;
    let (party, address) = (party[0]["id"].clone(), party[0]["addresses"][0].clone());
    let product = rest
        .search("product.product", json!([["code", "=", codes[0]]]), &[])
        .await[0]["id"]
        .clone();
    let sale = rest
        .post(
            "sale.sale",
            json!({"party": party, "invoice_address": address, "shipment_address": address,
                "warehouse": 5, "reference": r, "shipment_method": "order",
                "invoice_method": "manual",
                "lines": [["create", [{"product": product, "unit": 1, "quantity": 1.0,
                    "unit_price": {"__class__": "Decimal", "decimal": "0"},
                    "description": "x [shopify-line:21]"}]]]}),
            &["state"],
        )
        .await;
    let id = sale["id"].as_i64().expect("id");
    rest.post(&format!("sale.sale/{id}/quote"), json!({}), &["state"])
        .await;
    let view = erp.place(&o).await.expect("place finishes it");
    assert_eq!(view.state, SalesOrderState::Confirmed);
    let sales = rest.sales(&r).await;
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0]["id"].as_i64(), Some(id));
}

#[tokio::test]
async fn revise_edits_a_draft_and_is_refused_once_confirmed() {
    let rest = Rest::new();
    let erp = erp();
    let codes = rest.products(&["ra", "rb"]).await;
    let r = unique("revise");
    let o = order(&r, vec![sl("31", &codes[0], "2")]);
    erp.place(&o).await.expect("place");
    assert_eq!(erp.revise(&o).await.expect("unchanged"), Change::Made);
    let edited = order(&r, vec![sl("31", &codes[0], "1"), sl("32", &codes[1], "1")]);
    match erp.revise(&edited).await.expect("revise") {
        Change::Refused(why) => assert!(why.contains("confirmed"), "{why}"),
        Change::Made => panic!("a confirmed sale's lines cannot change"),
    }
}

#[tokio::test]
async fn cancelling_an_unshipped_sale_drops_its_shipment_and_moves_no_stock() {
    let rest = Rest::new();
    let erp = erp();
    let codes = rest.products(&["c"]).await;
    let before = levels(&erp, &codes).await;
    let r = unique("cancel");
    erp.place(&order(&r, vec![sl("41", &codes[0], "4")]))
        .await
        .expect("place");
    assert_eq!(erp.cancel(&r).await.expect("cancel"), Change::Made);
    assert_eq!(erp.cancel(&r).await.expect("again"), Change::Made);
    let view = erp.find(&r).await.expect("find").expect("found");
    assert_eq!(view.state, SalesOrderState::Cancelled);
    let sale = &rest.sales(&r).await[0];
    assert_eq!(sale["shipment_state"], "none");
    let shipments = rest
        .search(
            "stock.shipment.out",
            json!([["id", "in", sale["shipments"]]]),
            &["state"],
        )
        .await;
    assert!(
        shipments.iter().all(|s| s["state"] == "cancelled"),
        "{shipments:?}"
    );
    assert_eq!(levels(&erp, &codes).await, before);
    assert_eq!(
        erp.cancel(&unique("never")).await.expect("absent"),
        Change::Made
    );
}

#[tokio::test]
async fn shipping_in_parts_and_taking_back_move_stock_once_each() {
    let rest = Rest::new();
    let erp = erp();
    let codes = rest.products(&["sa", "sb"]).await;
    let before = levels(&erp, &codes).await;
    let r = unique("ship");
    erp.place(&order(
        &r,
        vec![sl("51", &codes[0], "3"), sl("52", &codes[1], "2")],
    ))
    .await
    .expect("place");
    let part = movement(&r, &unique("ful1"), vec![sl("51", &codes[0], "1")]);
    assert_eq!(erp.ship(&part).await.expect("ship part"), Change::Made);
    assert_eq!(erp.ship(&part).await.expect("repeat"), Change::Made);
    let mid = levels(&erp, &codes).await;
    assert_eq!(mid[&codes[0]] - before[&codes[0]], dec("-1"));
    assert_eq!(mid[&codes[1]] - before[&codes[1]], dec("0"));
    let view = erp.find(&r).await.expect("find").expect("found");
    assert_eq!(view.state, SalesOrderState::Confirmed);
    assert_eq!(view.shipped, vec![sl("51", &codes[0], "1")]);

    let rest_of = movement(
        &r,
        &unique("ful2"),
        vec![sl("51", &codes[0], "2"), sl("52", &codes[1], "2")],
    );
    assert_eq!(erp.ship(&rest_of).await.expect("ship rest"), Change::Made);
    assert_eq!(erp.ship(&rest_of).await.expect("repeat"), Change::Made);
    let after = levels(&erp, &codes).await;
    assert_eq!(after[&codes[0]] - before[&codes[0]], dec("-3"));
    assert_eq!(after[&codes[1]] - before[&codes[1]], dec("-2"));
    assert_eq!(
        erp.find(&r).await.expect("find").expect("found").state,
        SalesOrderState::Done
    );
    match erp.cancel(&r).await.expect("cancel") {
        Change::Refused(why) => assert!(why.contains("shipped"), "{why}"),
        Change::Made => panic!("a shipped sale cannot be cancelled"),
    }

    let back = movement(&r, &unique("refund"), vec![sl("52", &codes[1], "1")]);
    assert_eq!(erp.take_back(&back).await.expect("take back"), Change::Made);
    assert_eq!(erp.take_back(&back).await.expect("repeat"), Change::Made);
    let returned = levels(&erp, &codes).await;
    assert_eq!(returned[&codes[1]] - after[&codes[1]], dec("1"));
    assert_eq!(returned[&codes[0]], after[&codes[0]]);
    let view = erp.find(&r).await.expect("find").expect("found");
    assert_eq!(view.returned, vec![sl("52", &codes[1], "1")]);
    assert_eq!(rest.sales(&back.key).await.len(), 1, "one return sale");
    let too_much = movement(&r, &unique("refund"), vec![sl("52", &codes[1], "5")]);
    assert!(matches!(
        erp.take_back(&too_much).await.expect("answer"),
        Change::Refused(_)
    ));
}

#[tokio::test]
async fn an_unknown_item_is_rejected_and_nothing_is_created() {
    let rest = Rest::new();
    let erp = erp();
    let r = unique("unknown");
    let err = erp
        .place(&order(&r, vec![sl("61", &unique("nosuch"), "1")]))
        .await
        .expect_err("unknown item");
    assert!(
        matches!(&err, ErpError::Rejected(m) if m.contains("no product")),
        "{err:?}"
    );
    assert!(rest.sales(&r).await.is_empty());
}

#[tokio::test]
async fn without_the_party_setting_sales_are_refused() {
    let erp = TrytonErp::new(env("TRYTON_URL"), env("TRYTON_API_KEY"), 1).expect("url");
    let err = erp
        .place(&order(&unique("noparty"), vec![sl("1", "X", "1")]))
        .await
        .expect_err("no party");
    assert!(matches!(err, ErpError::Rejected(m) if m.contains("TRYTON_SALE_PARTY")));
}
