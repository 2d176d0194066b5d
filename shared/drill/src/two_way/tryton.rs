//! What the two-way drill does in Tryton as an operator, over REST: finds the drill's products
//! and counts an item at a storage location (an inventory created and confirmed: the ERP's own
//! stock change the poller must carry to Shopify).

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

/// Tryton's REST API with the drill's key.
pub(super) struct Operator {
    client: reqwest::Client,
    base: String,
    key: String,
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

/// Today as Tryton's date value.
fn today() -> Value {
    let d = time::OffsetDateTime::now_utc().date();
    json!({"__class__": "date", "year": d.year(), "month": u8::from(d.month()), "day": d.day()})
}

impl Operator {
    pub(super) fn new(base: &str, key: &str) -> Result<Self, reqwest::Error> {
        Ok(Operator {
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}/rest/model/{path}", self.base))
            .bearer_auth(&self.key)
            .header(
                "X-Tryton-Context",
                b64(&json!({"company": 1, "_skip_warnings": true})),
            );
        if !body.is_null() {
            request = request.json(&body);
        }
        let r = request
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = r.status();
        let text = r
            .text()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {text:.300}"));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}: {text:.200}"))
    }

    /// The `product.product` id of each code.
    pub(super) async fn products(&self, codes: &[String]) -> Result<BTreeMap<String, i64>, String> {
        let mut out = BTreeMap::new();
        for chunk in codes.chunks(100) {
            let path = format!(
                "product.product?d={}&f=code",
                b64(&json!([["code", "in", chunk]]))
            );
            let rows = self.call(reqwest::Method::GET, &path, Value::Null).await?;
            for row in rows.as_array().cloned().unwrap_or_default() {
                if let (Some(code), Some(id)) = (row["code"].as_str(), row["id"].as_i64()) {
                    out.insert(code.to_string(), id);
                }
            }
        }
        match codes.iter().find(|c| !out.contains_key(*c)) {
            Some(missing) => Err(format!("Tryton holds no product {missing}")),
            None => Ok(out),
        }
    }

    /// An inventory of `product` at `location` counting `quantity`, confirmed (done).
    pub(super) async fn count(
        &self,
        product: i64,
        location: i64,
        quantity: i64,
    ) -> Result<(), String> {
        let body = json!({"location": location, "date": today(),
            "lines": [["create", [{"product": product, "quantity": quantity as f64}]]]});
        let made = self
            .call(reqwest::Method::POST, "stock.inventory?f=state", body)
            .await?;
        let id = made["id"]
            .as_i64()
            .ok_or_else(|| format!("Tryton made an inventory without an id: {made}"))?;
        let path = format!("stock.inventory/{id}/confirm?f=state");
        let done = self.call(reqwest::Method::POST, &path, json!({})).await?;
        match done["state"].as_str() {
            Some("done") => Ok(()),
            _ => Err(format!("inventory {id} not done after confirm: {done}")),
        }
    }
}
