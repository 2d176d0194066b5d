//! Shopify's Admin GraphQL API (version 2026-04): [`ShopifyGraphql`] implements [`ShopifyAdmin`]
//! and [`ShopifyReads`].
//!
//! - `POST {shop}/admin/api/2026-04/graphql.json` with `X-Shopify-Access-Token`. In production the
//!   base is `https://<shop>.myshopify.com`; locally `http://127.0.0.1:8788`, the stand-in in
//!   `infra/shopify-standin/`.
//! - Reads: `location(id:) { inventoryLevels(first:, after:) }` with the quantities `available`,
//!   `on_hand` and `committed`, in inventory item order (the stand-in's order, and the order
//!   reconciliation checks: it stops rather than compare out of order); `locations` (active
//!   ones); for large catalogues `bulkOperationRunQuery` over a location's levels, polled with
//!   `currentBulkOperation`, its JSONL streamed from the result URL (checked first: https, an
//!   expected host; fetched without the token; lines bounded) and sorted by item with bounded
//!   memory ([`bulk::item_order`]), since Shopify promises no order of the lines.
//! - Reads for the stock consumer ([`ShopifyReads`], module `reads`): fulfillment orders and
//!   every quantity name of inventory levels by id through `nodes(ids:)` (at most 20 and 100 ids
//!   a request, fewer when the bucket or Shopify's single-query limit says so), and the open
//!   fulfillment orders at a location through `fulfillmentOrders(query:)`.
//! - Writes: `inventorySetQuantities` with `name: "available"`, `changeFromQuantity`
//!   (compare-and-set) and the `@idempotent(key:)` directive, at most 250 quantities per call.
//! - Rate limit: Shopify charges each query its calculated cost from a leaky bucket and reports
//!   `extensions.cost.throttleStatus` on every answer. The last status is kept (behind a mutex,
//!   with the time it was seen), so the client knows what is available now: a page of levels is
//!   sized to what the bucket holds, and when it holds too little the client waits for the
//!   restore rate to refill it rather than sending a query that would be throttled. What a call
//!   is about to spend is debited at once, so concurrent calls through one client pace too. The
//!   points every answer was charged (`actualQueryCost`) are summed: [`ShopifyGraphql::points_spent`].
//! - Ids are gids (`gid://shopify/InventoryItem/<n>`) parsed to `u64` from the string: never
//!   through a float (they exceed 2^53).
//!
//! Errors map onto [`ShopifyError`]: `THROTTLED` (or HTTP 429) is `Throttled` with the wait the
//! cost deficit and restore rate imply (or the `Retry-After`), at most [`MAX_THROTTLE_WAIT`];
//! `CHANGE_FROM_QUANTITY_STALE` is `Stale`; HTTP 5xx, connection failures, timeouts and answers
//! that are not the documented shape are `Unavailable`; 401/403 (bad token, or the app lacks the
//! `read_inventory` / `write_inventory` access scopes), a bulk result URL that is not fetched,
//! and every other user or GraphQL error are `Rejected`.
//!
//! The token never appears in `Debug` output or logs, and redirects are not followed.
//!
//! The modules: `client` (one GraphQL call and its error mapping), `budget` (the cost bucket,
//! pacing, page sizing, the cap on waits), `wire` (the documents sent and the shapes of the
//! answers), `inventory` (the paged reads and the write), [`bulk`] (run and poll, the checked
//! download, item order), `reads` (fulfillment orders and quantity names for the consumer),
//! `subscriptions` (webhook subscriptions read and created, access scopes read: the
//! `WebhookSubscriptions` port of `stockbridge_core::webhook_health`), `metafields`
//! (`metafieldsSet` and `metafieldsDelete` on variants: the two-way `Metafields` port).

// Without bulk operations (the stock consumer's build) the full-level reads that only the
// reconciler's `ShopifyAdmin` uses are unused.
#![cfg_attr(not(feature = "bulk"), allow(dead_code, unused_imports))]

mod budget;
#[cfg(feature = "bulk")]
pub mod bulk;
mod client;
mod inventory;
mod metafields;
mod reads;
mod subscriptions;
mod wire;

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Client, Url};

use stockbridge_core::config::{required_env, ConfigError};
use stockbridge_core::ports::{
    FulfillmentOrderRead, LevelRead, MetafieldRef, MetafieldWrite, Metafields, ShopifyAdmin,
    ShopifyError, ShopifyLevel, ShopifyReads, ShopifySet,
};
use stockbridge_domain::ids::{FulfillmentOrderId, InventoryItemId, LocationId};

pub use budget::{ThrottleStatus, MAX_THROTTLE_WAIT};
pub use metafields::{MAX_METAFIELDS_PER_CALL, MAX_METAFIELD_DELETES_PER_CALL};
pub use reads::{
    FULFILLMENT_ORDER_NODE_COST, LEVEL_NODE_QUANTITIES_COST, LINE_RESTARTS,
    MAX_FULFILLMENT_ORDER_IDS, MAX_LEVEL_IDS, SINGLE_QUERY_MAX_COST, THROTTLED_RETRIES,
};
pub use subscriptions::{ACCESS_SCOPES_COST, SUBSCRIPTIONS_PAGE, SUBSCRIPTIONS_PAGE_COST};
pub use wire::parse_gid;

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
/// Requested cost of a page of 50 locations: the connection (2) and one point a location (small
/// enough for any bucket; shops have a handful of locations).
pub const LOCATIONS_COST: f64 = 52.0;
/// Whole-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// TCP (and TLS) connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Wait used when a 429 carries no usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER_MS: u64 = 1000;
/// How long a bulk operation may take before the run gives up, unless the client was given
/// another ([`ShopifyGraphql::with_bulk_timeout`]): Shopify's own limit is days, a reconcile run
/// has a Lambda's 15 minutes. Also the timeout of its download.
pub const BULK_TIMEOUT: Duration = Duration::from_secs(600);

/// The Admin GraphQL client for one shop. Cheap to share by reference; the throttle status is
/// shared by every call through it.
pub struct ShopifyGraphql {
    endpoint: Url,
    /// The access token, marked sensitive.
    token: HeaderValue,
    client: Client,
    budget: Mutex<Option<budget::Budget>>,
    /// The points every answer was charged, summed (`actualQueryCost`).
    spent: Mutex<f64>,
    /// What the reads learnt a node costs, and how many ids a request may carry.
    sizing: Mutex<reads::Sizing>,
    /// How long a bulk operation (and its download) may take: [`BULK_TIMEOUT`] unless set.
    bulk_timeout: Duration,
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
        // https, or plain http to loopback only (the local stand-in): the token never crosses a
        // network in clear.
        let base = stockbridge_http::base_url("SHOPIFY_ADMIN_URL", trimmed)?;
        if base.cannot_be_a_base() {
            return Err(invalid_url("must be an https:// URL"));
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
        let client = stockbridge_http::client(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
            .map_err(|e| invalid_url(&e))?;
        Ok(ShopifyGraphql {
            endpoint,
            token,
            client,
            budget: Mutex::new(None),
            spent: Mutex::new(0.0),
            sizing: Mutex::new(reads::Sizing::default()),
            bulk_timeout: BULK_TIMEOUT,
        })
    }

    /// The same client, waiting up to `timeout` for a bulk operation to complete (and for its
    /// download) instead of [`BULK_TIMEOUT`]: for a command run by an operator, where a bulk
    /// over a large catalogue may take Shopify longer than a Lambda could wait.
    pub fn with_bulk_timeout(mut self, timeout: Duration) -> Self {
        self.bulk_timeout = timeout;
        self
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

    /// The Admin API points charged so far to calls through this client (the sum of every
    /// answer's `actualQueryCost`; a throttled query is charged nothing).
    pub fn points_spent(&self) -> f64 {
        *self.spent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(feature = "bulk")]
impl ShopifyAdmin for ShopifyGraphql {
    type ItemOrdered = bulk::item_order::InItemOrder;

    async fn levels_page(
        &self,
        location: LocationId,
        cursor: Option<String>,
    ) -> Result<(Vec<ShopifyLevel>, Option<String>), ShopifyError> {
        self.read_levels_page(location, cursor).await
    }

    async fn bulk_levels(
        &self,
        location: LocationId,
    ) -> Result<bulk::item_order::InItemOrder, ShopifyError> {
        self.read_bulk_levels(location).await
    }

    async fn locations(&self) -> Result<Vec<LocationId>, ShopifyError> {
        self.read_locations().await
    }

    async fn set_available(
        &self,
        sets: &[ShopifySet],
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ShopifyError> {
        self.write_available(sets, reason, idempotency_key).await
    }
}

impl Metafields for ShopifyGraphql {
    async fn set_metafields(&self, writes: &[MetafieldWrite]) -> Result<(), ShopifyError> {
        self.write_metafields(writes).await
    }

    async fn delete_metafields(&self, refs: &[MetafieldRef]) -> Result<(), ShopifyError> {
        self.remove_metafields(refs).await
    }

    async fn variant_metafields_changed(
        &self,
        namespaces_keys: &[(String, String)],
        since: Option<stockbridge_core::ports::FeedCursor>,
        limit: usize,
    ) -> Result<
        stockbridge_core::ports::FeedPage<stockbridge_core::ports::VariantMetafield>,
        ShopifyError,
    > {
        self.read_variant_metafields(namespaces_keys, since, limit)
            .await
    }
}

impl ShopifyReads for ShopifyGraphql {
    async fn fulfillment_orders(
        &self,
        ids: &[FulfillmentOrderId],
    ) -> Result<Vec<FulfillmentOrderRead>, ShopifyError> {
        self.read_fulfillment_orders(ids).await
    }

    async fn quantities(
        &self,
        pairs: &[(InventoryItemId, LocationId)],
    ) -> Result<Vec<LevelRead>, ShopifyError> {
        self.read_quantities(pairs).await
    }

    async fn open_fulfillment_orders(
        &self,
        location: LocationId,
        cursor: Option<String>,
    ) -> Result<(Vec<FulfillmentOrderRead>, Option<String>), ShopifyError> {
        self.read_open_fulfillment_orders(location, cursor).await
    }
}

/// Error messages quote at most this many bytes of an answer.
pub(crate) const MESSAGE_MAX: usize = 300;

/// `text` cut to [`MESSAGE_MAX`] bytes (on a character boundary) for an error message.
pub(crate) fn truncate(text: &str) -> String {
    if text.len() <= MESSAGE_MAX {
        return text.to_string();
    }
    let mut end = MESSAGE_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_token_never_goes_over_plain_http_off_loopback() {
        assert!(ShopifyGraphql::new("http://demo.myshopify.com", "shpat_t").is_err());
        assert!(ShopifyGraphql::new("http://127.0.0.1:8788", "shpat_t").is_ok());
        assert!(ShopifyGraphql::new("http://localhost:8788", "shpat_t").is_ok());
    }
}
