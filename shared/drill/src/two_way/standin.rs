//! The two-way drill's view of the Shopify stand-in the script started: its operator endpoints
//! (seed, levels, the log of applied adjustment groups, stats) over loopback HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

/// The idempotency keys the ERP sync writes under start so (`sb-erp-…`).
const OUR_KEYS: &str = "sb-erp-";

/// The stand-in at `base`, read and seeded through `/_standin/*`.
pub(super) struct StandIn {
    pub(super) base: String,
    http: reqwest::Client,
}

/// What `/_standin/stats` counts, as numbers for differences.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Stats {
    pub(super) graphql_requests: f64,
    pub(super) throttled: f64,
    pub(super) queued: f64,
    pub(super) delivered: f64,
    pub(super) failed: f64,
}

impl StandIn {
    pub(super) fn new(base: &str) -> Result<Self, reqwest::Error> {
        Ok(StandIn {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Value, String> {
        let r = request.send().await.map_err(|e| format!("{what}: {e}"))?;
        let status = r.status();
        let body: Value = r.json().await.map_err(|e| format!("{what}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{what}: {status} {body}"));
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.get(url), &format!("GET {path}")).await
    }

    /// Items `(inventory item, variant, SKU)`, the locations, and `available` per item at
    /// `location`; the stand-in announces each level with `inventory_levels/update`.
    pub(super) async fn seed(
        &self,
        items: &[(u64, u64, String)],
        locations: &[(u64, &str)],
        (location, available): (u64, i64),
    ) -> Result<(), String> {
        let items_json: Vec<Value> = items
            .iter()
            .map(|(id, variant, sku)| json!({"id": id, "sku": sku, "variant_id": variant}))
            .collect();
        let locations_json: Vec<Value> = locations
            .iter()
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect();
        let levels: Vec<Value> = items
            .iter()
            .map(|(id, _, _)| json!({"item": id, "location": location, "available": available}))
            .collect();
        let body = json!({"items": items_json, "locations": locations_json, "levels": levels,
            "notify": true});
        let url = format!("{}/_standin/seed", self.base);
        self.send(self.http.post(url).json(&body), "POST /_standin/seed")
            .await
            .map(|_| ())
    }

    pub(super) async fn stats(&self) -> Result<Stats, String> {
        let s = self.get("/_standin/stats").await?;
        let n = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
        Ok(Stats {
            graphql_requests: n(&s["graphql_requests"]),
            throttled: n(&s["throttled"]),
            queued: n(&s["deliveries"]["queued"]),
            delivered: n(&s["deliveries"]["delivered"]),
            failed: n(&s["deliveries"]["failed"]),
        })
    }

    /// `available` per inventory item at `location`, as the stand-in holds it now.
    pub(super) async fn available_at(&self, location: u64) -> Result<BTreeMap<u64, i64>, String> {
        let state = self.get("/_standin/state").await?;
        Ok(available_at(&state, location))
    }

    /// The `after` figures of `available` at `location` the ERP sync's applied adjustment
    /// groups set, per inventory item, oldest first.
    pub(super) async fn ours_at(&self, location: u64) -> Result<BTreeMap<u64, Vec<i64>>, String> {
        let log = self.get("/_standin/adjustments").await?;
        Ok(ours_at(&log, location))
    }
}

fn available_at(state: &Value, location: u64) -> BTreeMap<u64, i64> {
    let levels = state["levels"].as_array().cloned().unwrap_or_default();
    levels
        .iter()
        .filter(|l| l["location_id"].as_u64() == Some(location))
        .filter_map(|l| Some((l["item_id"].as_u64()?, l["available"].as_i64()?)))
        .collect()
}

fn ours_at(log: &Value, location: u64) -> BTreeMap<u64, Vec<i64>> {
    let mut out: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for g in log["adjustments"].as_array().cloned().unwrap_or_default() {
        let key = g["idempotencyKey"].as_str().unwrap_or_default();
        if !key.starts_with(OUR_KEYS) {
            continue;
        }
        for c in g["changes"].as_array().cloned().unwrap_or_default() {
            if c["name"] == "available" && c["location_id"].as_u64() == Some(location) {
                if let (Some(item), Some(after)) = (c["item_id"].as_u64(), c["after"].as_i64()) {
                    out.entry(item).or_default().push(after);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_keys_and_the_location_count() {
        let log = json!({"adjustments": [
            {"idempotencyKey": "sb-erp-1", "changes": [
                {"name": "available", "item_id": 5, "location_id": 1, "after": 10},
                {"name": "on_hand", "item_id": 5, "location_id": 1, "after": 10},
                {"name": "available", "item_id": 5, "location_id": 2, "after": 3}]},
            {"idempotencyKey": "other", "changes": [
                {"name": "available", "item_id": 5, "location_id": 1, "after": 11}]},
            {"idempotencyKey": "sb-erp-2", "changes": [
                {"name": "available", "item_id": 5, "location_id": 1, "after": 12}]}]});
        assert_eq!(ours_at(&log, 1), BTreeMap::from([(5, vec![10, 12])]));
        let state = json!({"levels": [
            {"item_id": 5, "location_id": 1, "available": 7},
            {"item_id": 6, "location_id": 2, "available": 8}]});
        assert_eq!(available_at(&state, 1), BTreeMap::from([(5, 7)]));
    }
}
