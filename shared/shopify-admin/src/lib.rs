//! Shopify's Admin GraphQL API (version 2026-04): [`ShopifyGraphql`] implements [`ShopifyAdmin`].
//!
//! - `POST {shop}/admin/api/2026-04/graphql.json` with `X-Shopify-Access-Token`. In production the
//!   base is `https://<shop>.myshopify.com`; locally `http://127.0.0.1:8788`, the stand-in in
//!   `infra/shopify-standin/`.
//! - Reads: `location(id:) { inventoryLevels(first:, after:) }` with the quantities `available`,
//!   `on_hand` and `committed`, in inventory item order (the stand-in's order, and the order
//!   reconciliation checks: it stops rather than compare out of order); `locations` (active
//!   ones); for large catalogues `bulkOperationRunQuery` over a location's levels, polled with
//!   `currentBulkOperation`, its JSONL streamed from the URL (without the token) and sorted by
//!   item with bounded memory (`bulk::item_order`), since Shopify promises no order of the lines. Writes: `inventorySetQuantities` with `name: "available"`,
//!   `changeFromQuantity` (compare-and-set) and the `@idempotent(key:)` directive, at most 250
//!   quantities per call.
//! - Rate limit: Shopify charges each query its calculated cost from a leaky bucket and reports
//!   `extensions.cost.throttleStatus` on every answer. The last status is kept (behind a mutex,
//!   with the time it was seen), so the client knows what is available now: a page of levels is
//!   sized to what the bucket holds, and when it holds too little the client waits for the
//!   restore rate to refill it rather than sending a query that would be throttled. What a call
//!   is about to spend is debited at once, so concurrent calls through one client pace too.
//! - Ids are gids (`gid://shopify/InventoryItem/<n>`) parsed to `u64` from the string: never
//!   through a float (they exceed 2^53).
//!
//! Errors map onto [`ShopifyError`]: `THROTTLED` (or HTTP 429) is `Throttled` with the wait the
//! cost deficit and restore rate imply; `CHANGE_FROM_QUANTITY_STALE` is `Stale`; HTTP 5xx,
//! connection failures, timeouts and answers that are not the documented shape are
//! `Unavailable`; 401/403 (bad token, or the app lacks the `read_inventory` / `write_inventory`
//! access scopes) and every other user or GraphQL error are `Rejected`.
//!
//! The token never appears in `Debug` output or logs, and redirects are not followed.

pub mod bulk;

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Value};

use stockbridge_core::config::{required_env, ConfigError};
use stockbridge_core::ports::{ShopifyAdmin, ShopifyError, ShopifyLevel, ShopifySet};
use stockbridge_domain::ids::{InventoryItemId, LocationId};

/// The Admin API version this adapter speaks.
pub const API_VERSION: &str = "2026-04";
/// Path of the GraphQL endpoint under the shop's base URL.
pub const GRAPHQL_PATH: &str = "/admin/api/2026-04/graphql.json";
/// Shopify's cap on a connection page and on input arrays.
pub const MAX_PAGE: u32 = 250;
/// Quantities per `inventorySetQuantities` call (Shopify caps input arrays at 250).
pub const MAX_SETS_PER_CALL: usize = 250;
/// The smallest page worth asking for; with less in the bucket, wait for it to refill.
pub const MIN_PAGE: u32 = 10;
/// The page size used before any throttle status is known (cost 3 + 10 x 3 = 33 points).
pub const FIRST_PAGE: u32 = 10;
/// Requested cost of a mutation.
pub const MUTATION_COST: f64 = 10.0;
/// Requested cost of the levels query besides its nodes: the location (1) and the connection (2).
pub const LEVELS_OVERHEAD: f64 = 3.0;
/// Requested cost of one level node: the level (1), its item (1), its quantities (1). Learnt
/// from the answers when Shopify charges more.
pub const LEVEL_NODE_COST: f64 = 3.0;
/// Whole-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// TCP (and TLS) connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Wait used when a 429 carries no usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER_MS: u64 = 1000;

const SCOPES_HINT: &str = "check the access token and that the app has the read_inventory and \
                           write_inventory access scopes";
const MESSAGE_MAX: usize = 300;

const LEVELS_QUERY: &str = r#"query StockbridgeLevels($location: ID!, $first: Int!, $after: String) {
  location(id: $location) {
    inventoryLevels(first: $first, after: $after) {
      nodes {
        item { id }
        quantities(names: ["available", "on_hand", "committed"]) { name quantity }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}"#;

const LOCATIONS_QUERY: &str = r#"query StockbridgeLocations($after: String) {
  locations(first: 50, after: $after) {
    nodes { id isActive }
    pageInfo { hasNextPage endCursor }
  }
}"#;

/// Requested cost of a page of 50 locations: the connection (2) and one point a location (small
/// enough for any bucket; shops have a handful of locations).
pub const LOCATIONS_COST: f64 = 52.0;

const BULK_MUTATION: &str = r#"mutation StockbridgeBulkLevels($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}"#;

const BULK_POLL: &str = r#"query StockbridgeBulkStatus {
  currentBulkOperation { id status errorCode objectCount url }
}"#;

/// How long a bulk operation may take before the run gives up (Shopify's own limit is days; a
/// reconcile run has a Lambda's 15 minutes).
pub const BULK_TIMEOUT: Duration = Duration::from_secs(600);

fn bulk_levels_query(location: LocationId) -> String {
    format!(
        r#"{{ location(id: "gid://shopify/Location/{location}") {{ inventoryLevels {{ edges {{ node {{ item {{ id }} quantities(names: ["available", "on_hand", "committed"]) {{ name quantity }} }} }} }} }} }}"#
    )
}

const SET_MUTATION: &str = r#"mutation StockbridgeSetAvailable($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id changes { name delta } }
    userErrors { field message code }
  }
}"#;

/// Shopify's `throttleStatus`, as last reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

/// The budget as last seen, with when, and the learnt cost of one level node.
#[derive(Clone, Copy, Debug)]
struct Budget {
    status: ThrottleStatus,
    seen: Instant,
    level_cost: f64,
}

impl Budget {
    fn restore_rate(&self) -> f64 {
        // A zero or negative rate would never refill; treat it as the slowest plausible one.
        self.status.restore_rate.max(1.0)
    }

    /// What the bucket holds now, by the restore rate since it was seen.
    fn available_now(&self, now: Instant) -> f64 {
        let refilled = now.saturating_duration_since(self.seen).as_secs_f64() * self.restore_rate();
        (self.status.currently_available + refilled).min(self.status.maximum_available)
    }

    /// How long until the bucket holds `cost`.
    fn wait_for(&self, cost: f64, now: Instant) -> Duration {
        let deficit = cost - self.available_now(now);
        if deficit <= 0.0 {
            Duration::ZERO
        } else {
            // Round up to the millisecond, plus one, so the refill is complete when we send.
            Duration::from_millis((deficit / self.restore_rate() * 1000.0).ceil() as u64 + 1)
        }
    }

    /// Takes `cost` out now (it is restored when the answer reports the real status).
    fn debit(&mut self, cost: f64, now: Instant) {
        self.status.currently_available = self.available_now(now) - cost;
        self.seen = now;
    }
}

/// The Admin GraphQL client for one shop. Cheap to share by reference; the throttle status is
/// shared by every call through it.
pub struct ShopifyGraphql {
    endpoint: Url,
    /// The access token, marked sensitive.
    token: HeaderValue,
    client: Client,
    budget: Mutex<Option<Budget>>,
}

impl fmt::Debug for ShopifyGraphql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyGraphql")
            .field("endpoint", &self.endpoint.as_str())
            .field("access_token", &"<redacted>")
            .finish()
    }
}

impl ShopifyGraphql {
    /// A client for the shop at `shop_base_url` (`https://<shop>.myshopify.com`, or the local
    /// stand-in `http://127.0.0.1:8788`); [`GRAPHQL_PATH`] is appended.
    pub fn new(shop_base_url: &str, access_token: &str) -> Result<Self, ConfigError> {
        let invalid_url = |detail: &str| ConfigError::Invalid {
            name: "SHOPIFY_ADMIN_URL",
            detail: detail.into(),
        };
        let trimmed = shop_base_url.trim().trim_end_matches('/');
        let base = Url::parse(trimmed).map_err(|e| invalid_url(&format!("not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid_url("must be an http:// or https:// URL"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid_url("must not carry a query or a fragment"));
        }
        let mut endpoint = base.clone();
        endpoint.set_path(&format!(
            "{}{GRAPHQL_PATH}",
            base.path().trim_end_matches('/')
        ));
        let token = access_token.trim();
        let invalid_token = |detail: &str| ConfigError::Invalid {
            name: "SHOPIFY_ACCESS_TOKEN",
            detail: detail.into(),
        };
        if token.is_empty() {
            return Err(invalid_token("is empty"));
        }
        let mut token = HeaderValue::from_str(token)
            .map_err(|_| invalid_token("contains characters not allowed in a header"))?;
        token.set_sensitive(true);
        let client = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("stockbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid_url(&format!("cannot build the HTTP client: {e}")))?;
        Ok(ShopifyGraphql {
            endpoint,
            token,
            client,
            budget: Mutex::new(None),
        })
    }

    /// Reads `SHOPIFY_ADMIN_URL` and `SHOPIFY_ACCESS_TOKEN`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let base = required_env("SHOPIFY_ADMIN_URL")?;
        let token = required_env("SHOPIFY_ACCESS_TOKEN")?;
        Self::new(&base, &token)
    }

    /// The GraphQL endpoint called.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The throttle status last reported by Shopify, if any answer carried one.
    pub fn throttle_status(&self) -> Option<ThrottleStatus> {
        self.lock_budget().map(|b| b.status)
    }

    fn lock_budget(&self) -> std::sync::MutexGuard<'_, Option<Budget>> {
        // The budget is plain data: a panic elsewhere cannot leave it inconsistent.
        self.budget.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Chooses the page size for the next levels query and debits its cost, waiting first when
    /// the bucket holds less than a [`MIN_PAGE`] page.
    async fn pace_levels(&self) -> u32 {
        loop {
            let wait = {
                let mut guard = self.lock_budget();
                let Some(budget) = guard.as_mut() else {
                    return FIRST_PAGE;
                };
                let now = Instant::now();
                let per = budget.level_cost;
                let pages_that_fit = |points: f64| ((points - LEVELS_OVERHEAD) / per).floor();
                let largest = pages_that_fit(budget.status.maximum_available).clamp(1.0, 250.0);
                let smallest = (MIN_PAGE as f64).min(largest);
                let affordable = pages_that_fit(budget.available_now(now)).min(MAX_PAGE as f64);
                if affordable >= smallest {
                    let first = affordable as u32;
                    budget.debit(LEVELS_OVERHEAD + first as f64 * per, now);
                    return first;
                }
                budget.wait_for(LEVELS_OVERHEAD + smallest * per, now)
            };
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "Shopify bucket low: waiting"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits until the bucket holds `cost`, then debits it.
    async fn pace(&self, cost: f64) {
        loop {
            let wait = {
                let mut guard = self.lock_budget();
                let Some(budget) = guard.as_mut() else {
                    return;
                };
                let now = Instant::now();
                let cost = cost.min(budget.status.maximum_available);
                let wait = budget.wait_for(cost, now);
                if wait.is_zero() {
                    budget.debit(cost, now);
                    return;
                }
                wait
            };
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "Shopify bucket low: waiting"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Records the cost extension of an answer; `first` is the page size of a levels query.
    fn observe(&self, cost: Option<&Cost>, levels_first: Option<u32>) {
        let Some(cost) = cost else { return };
        let Some(t) = cost.throttle_status else {
            return;
        };
        let mut guard = self.lock_budget();
        let mut level_cost = guard.map(|b| b.level_cost).unwrap_or(LEVEL_NODE_COST);
        if let (Some(first), Some(requested)) = (levels_first, cost.requested_query_cost) {
            if first > 0 {
                let seen = (requested - LEVELS_OVERHEAD) / first as f64;
                if seen.is_finite() && seen > level_cost {
                    level_cost = seen.ceil();
                }
            }
        }
        *guard = Some(Budget {
            status: ThrottleStatus {
                maximum_available: t.maximum_available,
                currently_available: t.currently_available,
                restore_rate: t.restore_rate,
            },
            seen: Instant::now(),
            level_cost,
        });
    }

    /// POSTs one GraphQL document; returns the answer's `data` (checked for errors) and records
    /// its cost.
    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        what: &str,
        query: &str,
        variables: Value,
        levels_first: Option<u32>,
    ) -> Result<T, ShopifyError> {
        let body = json!({ "query": query, "variables": variables });
        let response = self
            .client
            .post(self.endpoint.clone())
            .header("X-Shopify-Access-Token", self.token.clone())
            .header(CONTENT_TYPE, "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(what, e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(what, e))?;
        if !status.is_success() {
            return Err(status_error(what, status, retry_after.as_deref(), &bytes));
        }
        let envelope: Envelope<T> = serde_json::from_slice(&bytes).map_err(|e| {
            ShopifyError::Unavailable(format!(
                "{what}: HTTP {status} with a body that is not a GraphQL answer: {e}"
            ))
        })?;
        let cost = envelope.extensions.as_ref().and_then(|x| x.cost.as_ref());
        self.observe(cost, levels_first);
        if let Some(errors) = envelope.errors.filter(|e| !e.is_empty()) {
            return Err(graphql_error(what, &errors, cost));
        }
        envelope.data.ok_or_else(|| {
            ShopifyError::Unavailable(format!("{what}: an answer with neither data nor errors"))
        })
    }

    async fn set_chunk(
        &self,
        sets: &[ShopifySet],
        reason: &str,
        key: &str,
    ) -> Result<(), ShopifyError> {
        let quantities: Vec<Value> = sets
            .iter()
            .map(|s| {
                json!({
                    "inventoryItemId": format!("gid://shopify/InventoryItem/{}", s.item.0),
                    "locationId": format!("gid://shopify/Location/{}", s.location.0),
                    "quantity": s.quantity,
                    "changeFromQuantity": s.expected,
                })
            })
            .collect();
        let input = json!({
            "name": "available",
            "reason": reason,
            "referenceDocumentUri": reference_uri(key),
            "quantities": quantities,
        });
        self.pace(MUTATION_COST).await;
        let data: SetData = self
            .call(
                "inventorySetQuantities",
                SET_MUTATION,
                json!({ "input": input, "key": key }),
                None,
            )
            .await?;
        let Some(payload) = data.inventory_set_quantities else {
            return Err(ShopifyError::Unavailable(
                "inventorySetQuantities: the answer carries no payload".into(),
            ));
        };
        if payload.user_errors.is_empty() {
            tracing::debug!(
                key,
                quantities = sets.len(),
                group = payload
                    .inventory_adjustment_group
                    .as_ref()
                    .map(|g| g.id.as_str())
                    .unwrap_or("-"),
                "Shopify inventorySetQuantities applied"
            );
            return Ok(());
        }
        let code = |c: &str| {
            payload
                .user_errors
                .iter()
                .any(|e| e.code.as_deref() == Some(c))
        };
        if code("CHANGE_FROM_QUANTITY_STALE") || code("COMPARE_QUANTITY_STALE") {
            return Err(ShopifyError::Stale);
        }
        let detail = describe_user_errors(&payload.user_errors);
        if code("IDEMPOTENCY_CONCURRENT_REQUEST") {
            return Err(ShopifyError::Unavailable(format!(
                "inventorySetQuantities: {detail}"
            )));
        }
        Err(ShopifyError::Rejected(format!(
            "inventorySetQuantities: {detail}"
        )))
    }
}

impl ShopifyAdmin for ShopifyGraphql {
    type ItemOrdered = crate::bulk::item_order::InItemOrder;

    async fn levels_page(
        &self,
        location: LocationId,
        cursor: Option<String>,
    ) -> Result<(Vec<ShopifyLevel>, Option<String>), ShopifyError> {
        let first = self.pace_levels().await;
        let variables = json!({
            "location": format!("gid://shopify/Location/{}", location.0),
            "first": first,
            "after": cursor,
        });
        let data: LevelsData = self
            .call(
                "location.inventoryLevels",
                LEVELS_QUERY,
                variables,
                Some(first),
            )
            .await?;
        let Some(found) = data.location else {
            return Err(ShopifyError::Rejected(format!(
                "location {location} not found (or not visible to this app: {SCOPES_HINT})"
            )));
        };
        let connection = found.inventory_levels;
        let mut levels = Vec::with_capacity(connection.nodes.len());
        for node in connection.nodes {
            levels.push(level_from(&node, location, "location.inventoryLevels")?);
        }
        let next = if connection.page_info.has_next_page {
            match connection.page_info.end_cursor {
                Some(c) => Some(c),
                None => {
                    return Err(ShopifyError::Unavailable(
                        "location.inventoryLevels: hasNextPage without an endCursor".into(),
                    ))
                }
            }
        } else {
            None
        };
        Ok((levels, next))
    }

    async fn bulk_levels(
        &self,
        location: LocationId,
    ) -> Result<crate::bulk::item_order::InItemOrder, ShopifyError> {
        self.pace(MUTATION_COST).await;
        let data: BulkRunData = self
            .call(
                "bulkOperationRunQuery",
                BULK_MUTATION,
                json!({ "query": bulk_levels_query(location) }),
                None,
            )
            .await?;
        let payload = data.bulk_operation_run_query.ok_or_else(|| {
            ShopifyError::Unavailable("bulkOperationRunQuery: the answer carries no payload".into())
        })?;
        if !payload.user_errors.is_empty() {
            let detail = describe_user_errors(&payload.user_errors);
            let busy = payload
                .user_errors
                .iter()
                .any(|e| e.code.as_deref() == Some("OPERATION_IN_PROGRESS"));
            return Err(if busy {
                ShopifyError::Unavailable(format!("bulkOperationRunQuery: {detail}"))
            } else {
                ShopifyError::Rejected(format!("bulkOperationRunQuery: {detail}"))
            });
        }
        let ours = payload.bulk_operation.ok_or_else(|| {
            ShopifyError::Unavailable("bulkOperationRunQuery: no operation was created".into())
        })?;
        tracing::info!(id = ours.id, status = ours.status, %location, "Shopify bulk operation started");
        let started = Instant::now();
        let mut wait = Duration::from_millis(250);
        let url = loop {
            self.pace(1.0).await;
            let poll: BulkPollData = self
                .call("currentBulkOperation", BULK_POLL, json!({}), None)
                .await?;
            let Some(op) = poll.current_bulk_operation.filter(|op| op.id == ours.id) else {
                return Err(ShopifyError::Unavailable(format!(
                    "bulk operation {} is no longer the current one (another app run started one?)",
                    ours.id
                )));
            };
            match op.status.as_str() {
                "COMPLETED" => break op.url,
                "CREATED" | "RUNNING" => {}
                other => {
                    return Err(ShopifyError::Unavailable(format!(
                        "bulk operation {} ended {other} ({})",
                        ours.id,
                        op.error_code.as_deref().unwrap_or("no error code")
                    )))
                }
            }
            if started.elapsed() > BULK_TIMEOUT {
                return Err(ShopifyError::Unavailable(format!(
                    "bulk operation {} still running after {} s",
                    ours.id,
                    BULK_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        };
        let mut sorter = crate::bulk::item_order::ItemOrder::new(crate::bulk::item_order::RUN_LEN);
        let spill_error = |e: std::io::Error| {
            ShopifyError::Unavailable(format!("bulk output: cannot spill to temporary files: {e}"))
        };
        // No URL: the operation found nothing.
        if let Some(url) = url {
            // The URL is pre-signed storage, not the Admin API: the token is not sent there.
            let mut response = self
                .client
                .get(&url)
                .timeout(BULK_TIMEOUT)
                .send()
                .await
                .map_err(|e| transport_error("bulk output", e))?;
            if !response.status().is_success() {
                return Err(ShopifyError::Unavailable(format!(
                    "bulk output: HTTP {}",
                    response.status()
                )));
            }
            let mut pending: Vec<u8> = Vec::new();
            let mut line_no = 0usize;
            let mut take_line = |line: &[u8], sorter: &mut crate::bulk::item_order::ItemOrder| {
                line_no += 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    return Ok(());
                }
                let node: LevelNode = serde_json::from_slice(line).map_err(|e| {
                    ShopifyError::Unavailable(format!(
                        "bulk output line {line_no} is not a level: {e}"
                    ))
                })?;
                sorter
                    .push(level_from(
                        &node,
                        location,
                        &format!("bulk output line {line_no}"),
                    )?)
                    .map_err(spill_error)
            };
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| transport_error("bulk output", e))?
            {
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    take_line(&line[..line.len() - 1], &mut sorter)?;
                }
            }
            take_line(&pending, &mut sorter)?;
        }
        sorter.finish().map_err(spill_error)
    }

    async fn locations(&self) -> Result<Vec<LocationId>, ShopifyError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            self.pace(LOCATIONS_COST).await;
            let data: LocationsData = self
                .call(
                    "locations",
                    LOCATIONS_QUERY,
                    json!({ "after": after }),
                    None,
                )
                .await?;
            for node in data.locations.nodes.into_iter().filter(|n| n.is_active) {
                let id = parse_gid(&node.id, "Location").ok_or_else(|| {
                    ShopifyError::Unavailable(format!(
                        "locations: an id that is not a Location gid: {:?}",
                        truncate(&node.id)
                    ))
                })?;
                out.push(LocationId(id));
            }
            let page = data.locations.page_info;
            match (page.has_next_page, page.end_cursor) {
                (true, Some(c)) => after = Some(c),
                (true, None) => {
                    return Err(ShopifyError::Unavailable(
                        "locations: hasNextPage without an endCursor".into(),
                    ))
                }
                (false, _) => return Ok(out),
            }
        }
    }

    async fn set_available(
        &self,
        sets: &[ShopifySet],
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ShopifyError> {
        if sets.is_empty() {
            return Ok(());
        }
        if idempotency_key.trim().is_empty() {
            return Err(ShopifyError::Rejected(
                "inventorySetQuantities needs an idempotency key (2026-04)".into(),
            ));
        }
        if sets.len() <= MAX_SETS_PER_CALL {
            return self.set_chunk(sets, reason, idempotency_key).await;
        }
        // Each chunk is atomic on its own; a retry with the same key replays the chunks already
        // applied (their derived keys are the same) and resumes at the first that was not.
        for (n, chunk) in sets.chunks(MAX_SETS_PER_CALL).enumerate() {
            self.set_chunk(chunk, reason, &format!("{idempotency_key}:{n}"))
                .await?;
        }
        Ok(())
    }
}

/// A level node (`item { id }` and its quantities) as a [`ShopifyLevel`] at `location`; `what`
/// says where it came from, for errors.
fn level_from(
    node: &LevelNode,
    location: LocationId,
    what: &str,
) -> Result<ShopifyLevel, ShopifyError> {
    let item = parse_gid(&node.item.id, "InventoryItem").ok_or_else(|| {
        ShopifyError::Unavailable(format!(
            "{what}: an item id that is not an InventoryItem gid: {:?}",
            truncate(&node.item.id)
        ))
    })?;
    let quantity = |name: &str| {
        node.quantities
            .iter()
            .find(|q| q.name == name)
            .map(|q| q.quantity)
            .ok_or_else(|| {
                ShopifyError::Unavailable(format!("{what}: item {item} lacks the {name} quantity"))
            })
    };
    Ok(ShopifyLevel {
        item: InventoryItemId(item),
        location,
        available: quantity("available")?,
        on_hand: quantity("on_hand")?,
        committed: quantity("committed")?,
    })
}

/// `gid://shopify/<kind>/<n>` (optionally `?...`) to `n`, parsed as an integer.
pub fn parse_gid(gid: &str, kind: &str) -> Option<u64> {
    let rest = gid.strip_prefix("gid://shopify/")?.strip_prefix(kind)?;
    let digits = rest.strip_prefix('/')?;
    let digits = digits.split_once('?').map_or(digits, |(d, _)| d);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().filter(|n| *n > 0)
}

fn reference_uri(key: &str) -> String {
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._~:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("stockbridge://sync/{safe}")
}

fn truncate(text: &str) -> String {
    if text.len() <= MESSAGE_MAX {
        return text.to_string();
    }
    let mut end = MESSAGE_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn transport_error(what: &str, e: reqwest::Error) -> ShopifyError {
    stockbridge_http::no_answer(what, &e).into()
}

/// A non-2xx answer, through the one HTTP mapping; a refused token gets the scopes it needs.
fn status_error(
    what: &str,
    status: StatusCode,
    retry_after: Option<&str>,
    body: &[u8],
) -> ShopifyError {
    let text = truncate(String::from_utf8_lossy(body).trim());
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return ShopifyError::Rejected(format!("{what}: HTTP {status} ({SCOPES_HINT}): {text}"));
    }
    let detail = format!("{what}: HTTP {status}: {text}");
    stockbridge_http::failure(status.as_u16(), retry_after, detail, DEFAULT_RETRY_AFTER_MS).into()
}

fn graphql_error(what: &str, errors: &[GqlError], cost: Option<&Cost>) -> ShopifyError {
    let has = |code: &str| errors.iter().any(|e| e.code() == Some(code));
    if has("THROTTLED") {
        return ShopifyError::Throttled {
            retry_after_ms: throttled_wait_ms(cost),
        };
    }
    let detail = errors
        .iter()
        .map(|e| match e.code() {
            Some(code) => format!("{} ({code})", e.message),
            None => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let detail = truncate(&detail);
    if has("INTERNAL_SERVER_ERROR") || has("SERVICE_UNAVAILABLE") || has("TIMEOUT") {
        return ShopifyError::Unavailable(format!("{what}: {detail}"));
    }
    if has("ACCESS_DENIED") {
        return ShopifyError::Rejected(format!("{what}: {detail} ({SCOPES_HINT})"));
    }
    ShopifyError::Rejected(format!("{what}: {detail}"))
}

/// The wait a `THROTTLED` answer implies: the points missing for the requested cost over the
/// restore rate.
fn throttled_wait_ms(cost: Option<&Cost>) -> u64 {
    let Some(cost) = cost else {
        return DEFAULT_RETRY_AFTER_MS;
    };
    let (Some(requested), Some(t)) = (cost.requested_query_cost, cost.throttle_status) else {
        return DEFAULT_RETRY_AFTER_MS;
    };
    let rate = t.restore_rate.max(1.0);
    let deficit = (requested - t.currently_available).max(1.0);
    ((deficit / rate) * 1000.0).ceil() as u64
}

fn describe_user_errors(errors: &[UserError]) -> String {
    truncate(
        &errors
            .iter()
            .map(|e| {
                let field = e.field.as_ref().map(|f| f.join(".")).unwrap_or_default();
                match (&e.code, field.is_empty()) {
                    (Some(code), false) => format!("{field}: {} ({code})", e.message),
                    (Some(code), true) => format!("{} ({code})", e.message),
                    (None, false) => format!("{field}: {}", e.message),
                    (None, true) => e.message.clone(),
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

// ---------------------------------------------------------------------------------------------
// Wire shapes: only what is read.

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
    errors: Option<Vec<GqlError>>,
    extensions: Option<Extensions>,
}

#[derive(Deserialize)]
struct GqlError {
    #[serde(default)]
    message: String,
    extensions: Option<GqlErrorExtensions>,
}

impl GqlError {
    fn code(&self) -> Option<&str> {
        self.extensions.as_ref()?.code.as_deref()
    }
}

#[derive(Deserialize)]
struct GqlErrorExtensions {
    code: Option<String>,
}

#[derive(Deserialize)]
struct Extensions {
    cost: Option<Cost>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cost {
    requested_query_cost: Option<f64>,
    throttle_status: Option<WireThrottle>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireThrottle {
    maximum_available: f64,
    currently_available: f64,
    restore_rate: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkRunData {
    bulk_operation_run_query: Option<BulkRunPayload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkRunPayload {
    bulk_operation: Option<BulkOperationRef>,
    #[serde(default)]
    user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkOperationRef {
    id: String,
    status: String,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkPollData {
    current_bulk_operation: Option<BulkOperationRef>,
}

#[derive(Deserialize)]
struct LocationsData {
    locations: LocationConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocationConnection {
    nodes: Vec<LocationNode>,
    page_info: PageInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocationNode {
    id: String,
    is_active: bool,
}

#[derive(Deserialize)]
struct LevelsData {
    location: Option<LocationLevels>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocationLevels {
    inventory_levels: LevelConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LevelConnection {
    nodes: Vec<LevelNode>,
    page_info: PageInfo,
}

#[derive(Deserialize)]
struct LevelNode {
    item: ItemRef,
    quantities: Vec<Quantity>,
}

#[derive(Deserialize)]
struct ItemRef {
    id: String,
}

#[derive(Deserialize)]
struct Quantity {
    name: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetData {
    inventory_set_quantities: Option<SetPayload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetPayload {
    inventory_adjustment_group: Option<AdjustmentGroup>,
    #[serde(default)]
    user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
struct AdjustmentGroup {
    id: String,
}

#[derive(Deserialize)]
struct UserError {
    field: Option<Vec<String>>,
    #[serde(default)]
    message: String,
    code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gids_parse_as_integers_beyond_2_pow_53() {
        assert_eq!(
            parse_gid(
                "gid://shopify/InventoryItem/271878346596884015",
                "InventoryItem"
            ),
            Some(271_878_346_596_884_015)
        );
        assert_eq!(
            parse_gid("gid://shopify/Location/9007199254740993", "Location"),
            Some(9_007_199_254_740_993)
        );
        assert_eq!(
            parse_gid(
                "gid://shopify/InventoryLevel/7?inventory_item_id=9",
                "InventoryLevel"
            ),
            Some(7)
        );
        assert_eq!(parse_gid("gid://shopify/Location/1", "InventoryItem"), None);
        assert_eq!(
            parse_gid("gid://shopify/InventoryItemX/1", "InventoryItem"),
            None
        );
        assert_eq!(
            parse_gid("gid://shopify/InventoryItem/1e3", "InventoryItem"),
            None
        );
        assert_eq!(
            parse_gid("gid://shopify/InventoryItem/", "InventoryItem"),
            None
        );
        assert_eq!(
            parse_gid("gid://shopify/InventoryItem/-1", "InventoryItem"),
            None
        );
        assert_eq!(
            parse_gid(
                "gid://shopify/InventoryItem/18446744073709551616",
                "InventoryItem"
            ),
            None
        );
    }

    #[test]
    fn debug_hides_the_token_and_the_path_is_appended() {
        let client = ShopifyGraphql::new("https://demo.myshopify.com/", "shpat_secret").unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("shpat_secret"), "{debug}");
        assert_eq!(
            client.endpoint(),
            "https://demo.myshopify.com/admin/api/2026-04/graphql.json"
        );
        assert!(ShopifyGraphql::new("ftp://x", "t").is_err());
        assert!(ShopifyGraphql::new("https://x", " ").is_err());
    }

    #[test]
    fn budget_refills_at_the_restore_rate_and_waits_for_the_deficit() {
        let seen = Instant::now();
        let budget = Budget {
            status: ThrottleStatus {
                maximum_available: 50.0,
                currently_available: 5.0,
                restore_rate: 10.0,
            },
            seen,
            level_cost: LEVEL_NODE_COST,
        };
        assert_eq!(budget.available_now(seen), 5.0);
        assert_eq!(budget.available_now(seen + Duration::from_secs(1)), 15.0);
        assert_eq!(budget.available_now(seen + Duration::from_secs(100)), 50.0);
        assert_eq!(budget.wait_for(25.0, seen), Duration::from_millis(2001));
        assert_eq!(budget.wait_for(5.0, seen), Duration::ZERO);
    }

    #[test]
    fn throttled_wait_comes_from_the_deficit() {
        let cost = Cost {
            requested_query_cost: Some(153.0),
            throttle_status: Some(WireThrottle {
                maximum_available: 1000.0,
                currently_available: 53.0,
                restore_rate: 100.0,
            }),
        };
        assert_eq!(throttled_wait_ms(Some(&cost)), 1000);
        assert_eq!(throttled_wait_ms(None), DEFAULT_RETRY_AFTER_MS);
    }
}
