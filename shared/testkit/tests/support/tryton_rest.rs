//! Tryton over REST as an operator does it, for tests of the ERP's own changes: products with
//! unique codes, purchases confirmed and received, internal transfers, counts, and order points
//! (as the fixture's admin over JSON-RPC). Uses the shared test Tryton (`TRYTON_URL`,
//! `TRYTON_API_KEY` and the bootstrap's ids, exported by `infra/test.sh`).

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine as _;
use rust_decimal::Decimal;
use serde_json::{json, Value};

pub fn env(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{name} is not set: run via infra/test.sh --test tryton_feed"))
}

pub fn env_id(name: &str) -> i64 {
    env(name).parse().expect("an id")
}

pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or(0);
    format!(
        "f{}-{}-{}-{tag}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

pub fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

/// A date `days` from today, as text and as Tryton's value.
pub fn date_in(days: i64) -> (String, Value) {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
    (
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        json!({"__class__": "date", "year": d.year(), "month": u8::from(d.month()), "day": d.day()}),
    )
}

/// Tryton over REST as an operator: what the tests do in the ERP.
pub struct Rest {
    pub client: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Rest {
    pub fn new() -> Self {
        Rest {
            client: reqwest::Client::new(),
            base: env("TRYTON_URL"),
            key: env("TRYTON_API_KEY"),
        }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .client
            .request(method.clone(), format!("{}/rest/model/{path}", self.base))
            .bearer_auth(&self.key)
            .header(
                "X-Tryton-Context",
                b64(&json!({"company": 1, "_skip_warnings": true})),
            );
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("Tryton reachable");
        let status = r.status();
        let text = r.text().await.expect("body");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&text).expect("JSON")
    }

    pub async fn search(&self, model: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
        let mut q = format!("{model}?d={}", b64(&domain));
        for f in fields {
            q.push_str(&format!("&f={f}"));
        }
        match self.call(reqwest::Method::GET, &q, None).await {
            Value::Array(rows) => rows,
            other => panic!("search {model}: {other}"),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await;
    }

    /// Runs a document through `buttons`, in order.
    pub async fn run(&self, model: &str, id: i64, buttons: &[&str]) {
        for b in buttons {
            self.post(&format!("{model}/{id}/{b}?f=state"), json!({}))
                .await;
        }
    }

    /// Purchasable (and salable, not on sale) goods in unit "u": code and product id.
    pub async fn products(&self, tags: &[&str]) -> Vec<(String, i64)> {
        self.goods(tags, false).await
    }

    /// Purchasable goods in unit "u", on sale or not: code and product id.
    pub async fn goods(&self, tags: &[&str], salable: bool) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for tag in tags {
            let code = unique(tag);
            let body = json!({
                "name": format!("test {code}"), "code": code, "type": "goods",
                "default_uom": 1, "purchasable": true, "purchase_uom": 1,
                "salable": salable, "sale_uom": 1, "products": [["create", [{}]]],
            });
            let v = self.post("product.template?f=products", body).await;
            let id = v["products"][0].as_i64().expect("a product id");
            out.push((code, id));
        }
        out
    }

    /// A confirmed purchase into WH of `(product id, quantity)` lines, delivered on `date`:
    /// its number.
    pub async fn purchase(&self, lines: &[(i64, &str)], date: &Value) -> String {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(p, q)| {
                json!({"product": p, "quantity": q.parse::<f64>().expect("qty"), "unit": 1,
                       "unit_price": {"__class__": "Decimal", "decimal": "2.00"}})
            })
            .collect();
        let body = json!({
            "party": env_id("TRYTON_SUPPLIER_PARTY_ID"),
            "invoice_address": env_id("TRYTON_SUPPLIER_ADDRESS_ID"),
            "warehouse": env_id("TRYTON_WH_WH_ID"), "currency": env_id("TRYTON_CURRENCY_ID"),
            "delivery_date": date, "lines": [["create", lines]],
        });
        let po = self.post("purchase.purchase?f=state", body).await;
        let id = po["id"].as_i64().expect("purchase id");
        self.run("purchase.purchase", id, &["quote", "confirm"])
            .await;
        let read = self
            .search(
                "purchase.purchase",
                json!([["id", "=", id]]),
                &["number", "state"],
            )
            .await;
        assert!(
            ["confirmed", "processing"].contains(&read[0]["state"].as_str().unwrap_or("")),
            "{read:?}"
        );
        read[0]["number"].as_str().expect("a number").to_string()
    }

    /// The draft incoming move of a product (one expected).
    pub async fn incoming_move(&self, product: i64) -> i64 {
        let rows = self
            .search(
                "stock.move",
                json!([
                    ["product", "=", product],
                    ["state", "=", "draft"],
                    ["from_location.type", "=", "supplier"]
                ]),
                &[],
            )
            .await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        rows[0]["id"].as_i64().expect("move id")
    }

    /// Receives incoming moves into WH: a supplier shipment, received and done.
    pub async fn receive(&self, moves: &[i64]) {
        let body = json!({
            "supplier": env_id("TRYTON_SUPPLIER_PARTY_ID"), "warehouse": env_id("TRYTON_WH_WH_ID"),
            "warehouse_input": 1, "warehouse_storage": env_id("TRYTON_WH_WH_STORAGE_ID"),
            "incoming_moves": [["add", moves]],
        });
        let s = self.post("stock.shipment.in?f=state", body).await;
        let id = s["id"].as_i64().expect("shipment id");
        self.run("stock.shipment.in", id, &["receive", "do"]).await;
    }

    /// An internal shipment of `quantity` of a product from storage to storage.
    pub async fn transfer(&self, product: i64, from: i64, to: i64, quantity: f64) {
        let body = json!({
            "reference": unique("xfer"), "from_location": from, "to_location": to,
            "moves": [["create", [{"product": product, "unit": 1, "quantity": quantity,
                                    "from_location": from, "to_location": to}]]],
        });
        let s = self.post("stock.shipment.internal?f=state", body).await;
        let id = s["id"].as_i64().expect("shipment id");
        self.run(
            "stock.shipment.internal",
            id,
            &["wait", "assign_force", "pack", "ship", "do"],
        )
        .await;
    }

    /// Counts a product at a location: a confirmed inventory; its number.
    pub async fn count(&self, product: i64, location: i64, quantity: f64) -> String {
        let (_, today) = date_in(0);
        let body = json!({
            "location": location, "date": today,
            "lines": [["create", [{"product": product, "quantity": quantity}]]],
        });
        let inv = self.post("stock.inventory?f=state", body).await;
        let id = inv["id"].as_i64().expect("inventory id");
        let done = self
            .post(
                &format!("stock.inventory/{id}/confirm?f=state&f=number"),
                json!({}),
            )
            .await;
        assert_eq!(done["state"], "done", "{done}");
        done["number"].as_str().expect("a number").to_string()
    }

    /// Creates a purchase order point as the fixture's admin (JSON-RPC): the integration
    /// user may read order points but not create them.
    pub async fn order_point(&self, product: i64, warehouse: i64, min: f64) {
        let state = std::path::PathBuf::from(env("STOCKBRIDGE_TRYTON_STATE"));
        let password = std::fs::read_to_string(state.join("admin.pass")).expect("admin.pass");
        let rpc = format!("{}/rpc/", self.base);
        let login: Value = self
            .client
            .post(&rpc)
            .json(&json!({"id": 1, "method": "common.db.login",
                          "params": ["admin", {"password": password.trim()}, "en"]}))
            .send()
            .await
            .expect("Tryton reachable")
            .json()
            .await
            .expect("JSON");
        let uid = login["result"][0].as_i64().expect("admin id");
        let session = login["result"][1].as_str().expect("a session");
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{uid}:{session}"));
        let made: Value = self
            .client
            .post(&rpc)
            .header("Authorization", format!("Session {auth}"))
            .json(&json!({"id": 2, "method": "model.stock.order_point.create",
                "params": [[{"product": product, "location": warehouse, "type": "purchase",
                              "min_quantity": min, "target_quantity": min * 3.0,
                              "company": 1}], {"company": 1}]}))
            .send()
            .await
            .expect("Tryton reachable")
            .json()
            .await
            .expect("JSON");
        assert!(made["result"].is_array(), "order point: {made}");
    }
}
