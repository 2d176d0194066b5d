//! The ERP port ([`Erp`]) over Tryton 8.2's REST API (`/<db>/rest/model/...`, bearer API key).
//!
//! Owns everything that knows Tryton's models and JSON: ids by code (cached), the internal
//! shipments that carry our writes, on-hand reads and open purchase moves, and the mapping of
//! HTTP answers to [`ErpError`]. Request shapes are those verified in `infra/erp/README.md`.
//! This module holds the adapter and its configuration; the work is in:
//!
//! - `client`: one REST call (context header, bearer key, status mapping, Tryton's messages);
//! - `wire`: Tryton's JSON values (Decimals, dates, Many2One ids);
//! - `lookups`: warehouses and products by code, and their caches;
//! - `shipments`: the write, as internal shipments keyed by our write key;
//! - `levels`: on-hand and incoming reads;
//! - `feed`: the `ErpFeed` port (done moves per warehouse, purchases and items changed after a
//!   cursor, open purchases, order points, item fields);
//! - `sales`: the `ErpSales` port (sales orders to the generic party `TRYTON_SALE_PARTY`, their
//!   customer shipments and returns).
//!
//! **Writes.** An [`ErpWrite`] becomes at most two `stock.shipment.internal` documents in the
//! warehouse: lines with a positive change go lost-and-found -> storage (reference
//! `"{key}:in"`), negative ones storage -> lost-and-found (`"{key}:out"`), moves nested in the
//! create call, then `wait`, `assign_try` (`assign_force` when stock is short, so stock may go
//! negative as it did in Shopify), `do`. The shipment `reference` is the idempotency key: before
//! creating, both references are searched; a `done` shipment means that direction is applied, a
//! shipment in another state is an earlier attempt that died mid-way and its workflow is
//! continued, so a retry never creates a second document. Tryton does not make `reference`
//! unique: two concurrent `apply` calls with one key could both create; callers serialise pushes
//! per key (the consumer's in-flight write is leased to one consumer, renewed before each call,
//! and each call ends well inside the lease). A refusal after the "in" is done (e.g. of the
//! "out") leaves the key in flight: the retry finds the done "in" and only sends the "out".
//!
//! **Quantities.** `stock.move.quantity` is a Float in 8.2 whose digits come from the move's
//! unit. Quantities are sent as Tryton Decimals (exact; normalised, since Tryton checks the
//! Decimal's exponent against the unit's digits) in the product's default unit. A change that
//! is not a multiple of that unit's `rounding` (e.g. 2.5 of unit "u") is **rejected** before
//! anything is written, naming the item: rounding it would lose or invent stock for good, and it
//! means the SKU map's unit factor does not fit the ERP unit.
//!
//! Every request carries `X-Tryton-Context` with the company (REST does not add it; without it
//! creates fail and quantities read 0). The API key is never logged nor printed by `Debug`.
//!
//! [`ErpWrite`]: stockbridge_domain::erp_write::ErpWrite

mod client;
mod feed;
mod levels;
mod lookups;
mod sales;
mod shipments;
mod wire;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rust_decimal::Decimal;

use stockbridge_core::config::{required_env, ConfigError};
use stockbridge_core::ports::{Erp, ErpError};
use stockbridge_domain::erp_write::{ErpWrite, Incoming};

use lookups::Caches;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The ERP adapter for Tryton 8.2 over REST.
pub struct TrytonErp {
    client: reqwest::Client,
    /// Database URL, e.g. `http://127.0.0.1:8000/stockbridge` (no trailing slash).
    base: String,
    api_key: String,
    company: i64,
    caches: Mutex<Caches>,
    /// Code of the generic party every sale goes to (`TRYTON_SALE_PARTY`); sales calls are
    /// refused without it.
    sale_party: Option<String>,
    /// Its ids once looked up.
    sale_party_ids: Mutex<Option<sales::SaleParty>>,
}

impl std::fmt::Debug for TrytonErp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrytonErp")
            .field("base", &self.base)
            .field("api_key", &"<redacted>")
            .field("company", &self.company)
            .field("sale_party", &self.sale_party)
            .finish()
    }
}

impl TrytonErp {
    /// `base` is the database URL (`http://host:port/<db>`), `api_key` a `res.user.application`
    /// key for application `rest`, `company` the Tryton company id.
    /// The base must be https, or plain http on loopback; the client has timeouts and follows
    /// no redirect.
    pub fn new(
        base: impl Into<String>,
        api_key: impl Into<String>,
        company: i64,
    ) -> Result<Self, ConfigError> {
        let base = base.into();
        stockbridge_http::base_url("TRYTON_URL", &base)?;
        let client =
            stockbridge_http::client(CONNECT_TIMEOUT, REQUEST_TIMEOUT).map_err(|detail| {
                ConfigError::Invalid {
                    name: "TRYTON_URL",
                    detail,
                }
            })?;
        Ok(TrytonErp {
            client,
            base: base.trim_end_matches('/').to_string(),
            api_key: api_key.into(),
            company,
            caches: Mutex::new(Caches::default()),
            sale_party: None,
            sale_party_ids: Mutex::new(None),
        })
    }

    /// The same adapter selling to the party with this code (`TRYTON_SALE_PARTY`); `None`
    /// (or blank) leaves every sales call refused.
    pub fn with_sale_party(mut self, code: Option<String>) -> Self {
        self.sale_party = code.filter(|c| !c.trim().is_empty());
        self
    }

    /// The same adapter with other timeouts (tests that inject slow answers).
    pub fn with_timeouts(
        mut self,
        request: std::time::Duration,
        connect: std::time::Duration,
    ) -> Result<Self, ConfigError> {
        self.client =
            stockbridge_http::client(connect, request).map_err(|detail| ConfigError::Invalid {
                name: "TRYTON_URL",
                detail,
            })?;
        Ok(self)
    }

    /// From `TRYTON_URL`, `TRYTON_API_KEY`, `TRYTON_COMPANY_ID` (default 1) and
    /// `TRYTON_SALE_PARTY` (optional: without it sales calls are refused).
    pub fn from_env() -> Result<Self, ConfigError> {
        let base = required_env("TRYTON_URL")?;
        let key = required_env("TRYTON_API_KEY")?;
        let company = stockbridge_core::config::env_or("TRYTON_COMPANY_ID", 1)?;
        Ok(TrytonErp::new(base, key, company)?.with_sale_party(sale_party_from_env()))
    }

    /// The database URL this adapter talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The company id sent in every context.
    pub fn company(&self) -> i64 {
        self.company
    }
}

/// `TRYTON_SALE_PARTY`, if set and not blank.
pub fn sale_party_from_env() -> Option<String> {
    std::env::var("TRYTON_SALE_PARTY")
        .ok()
        .filter(|c| !c.trim().is_empty())
}

impl Erp for TrytonErp {
    async fn apply(&self, write: &ErpWrite) -> Result<(), ErpError> {
        self.apply_write(write).await
    }

    async fn levels(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        self.on_hand(warehouse, items).await
    }

    async fn incoming(&self, warehouse: &str, items: &[String]) -> Result<Vec<Incoming>, ErpError> {
        self.incoming_purchases(warehouse, items).await
    }
}

impl stockbridge_core::ports::ErpFeed for TrytonErp {
    async fn moves_after(
        &self,
        after: Option<&stockbridge_core::ports::FeedCursor>,
        limit: usize,
    ) -> Result<stockbridge_core::ports::FeedPage<stockbridge_core::ports::FeedMove>, ErpError>
    {
        self.feed_moves(after, limit).await
    }

    async fn on_hand(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        TrytonErp::on_hand(self, warehouse, items).await
    }

    async fn order_points(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        self.feed_order_points(warehouse, items).await
    }

    async fn purchases_changed_after(
        &self,
        after: Option<&stockbridge_core::ports::FeedCursor>,
        limit: usize,
    ) -> Result<stockbridge_core::ports::FeedPage<String>, ErpError> {
        self.feed_purchases_changed(after, limit).await
    }

    async fn open_purchases(&self, items: &[String]) -> Result<Vec<Incoming>, ErpError> {
        self.feed_open_purchases(items).await
    }

    async fn items_changed_after(
        &self,
        after: Option<&stockbridge_core::ports::FeedCursor>,
        limit: usize,
    ) -> Result<stockbridge_core::ports::FeedPage<String>, ErpError> {
        self.feed_items_changed(after, limit).await
    }

    async fn item_fields(
        &self,
        items: &[String],
        fields: &[String],
    ) -> Result<HashMap<String, std::collections::BTreeMap<String, String>>, ErpError> {
        self.feed_item_fields(items, fields).await
    }

    async fn set_item_field(&self, item: &str, field: &str, value: &str) -> Result<(), ErpError> {
        self.feed_set_item_field(item, field, value).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let erp = TrytonErp::new("http://127.0.0.1:1/db/", "secret-key", 1).expect("loopback");
        let shown = format!("{erp:?}");
        assert!(!shown.contains("secret-key") && shown.contains("redacted"));
        assert_eq!(erp.base(), "http://127.0.0.1:1/db");
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        assert!(TrytonErp::new("http://erp.example.com/db", "k", 1).is_err());
        assert!(TrytonErp::new("https://erp.example.com/db", "k", 1).is_ok());
    }
}
