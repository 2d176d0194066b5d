//! Ports: what the handlers need from the outside world, as traits. Each technology's adapter
//! lives in a crate of its own (`stockbridge-aws`, `stockbridge-erp`, `stockbridge-shopify-admin`,
//! `stockbridge-memory`); the domain never sees an AWS or HTTP type, and the handlers see only
//! these traits. [`NoErp`] and [`NoQueue`] stand for a port a deployment does without.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;

use serde::{Deserialize, Serialize};

mod backfill;
mod failures;
mod latency;
mod reads;
mod sales;
mod two_way;

use stockbridge_domain::batch::Plan;
use stockbridge_domain::event::{InventoryEvent, RedactCursor};
use stockbridge_domain::ids::{InventoryItemId, ShopDomain, Timestamp, VariantId};
use stockbridge_domain::skumap::{ItemMapping, LocationMapping, SkuMap};
use stockbridge_domain::stock::{Book, LineKey, StockKey};

/// Why a call to a backing service failed, and what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The service could not be reached, throttled us or failed: retry later (the message stays
    /// on the queue; Shopify retries a webhook answered 5xx).
    #[error("{service} unavailable: {detail}; retry later")]
    Unavailable {
        service: &'static str,
        detail: String,
    },
    /// A conditional write lost a race with another writer: re-read and plan again.
    #[error("a concurrent writer changed {0}; re-read and retry")]
    Conflict(String),
    /// The batch needs more writes than one transaction takes: split it.
    #[error("plan needs {0} writes, more than one transaction takes; split the batch")]
    TooLarge(usize),
    /// A stored record cannot be read back: needs an operator.
    #[error("stored record {key} is unreadable: {detail}")]
    Corrupt { key: String, detail: String },
    /// The service refused this request itself (DynamoDB's `ValidationException`: a key over
    /// its size limit, an item too large): the same request fails every time, so it is not
    /// retried; what carries it fails alone (the consumer isolates its message).
    #[error("{service} refused the request: {detail}; a retry fails the same way")]
    Refused {
        service: &'static str,
        detail: String,
    },
}

/// The queue between the webhook and the stock consumer.
pub trait EventQueue: Send + Sync {
    /// Enqueues every event, or fails as a whole so the caller can answer 5xx.
    fn send(
        &self,
        events: &[InventoryEvent],
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        self.send_after(events, std::time::Duration::ZERO)
    }
    /// Enqueues every event, visible only after `delay` (at most 15 minutes).
    fn send_after(
        &self,
        events: &[InventoryEvent],
        delay: std::time::Duration,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// An authentic delivery that could not be used, kept for an operator to replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub shop: ShopDomain,
    pub topic: String,
    pub webhook_id: String,
    pub event_id: Option<String>,
    pub api_version: Option<String>,
    pub triggered_at: Option<Timestamp>,
    pub received_at: Timestamp,
    /// Short reason code (`bad_json`, `unhandled_topic`, `unmappable`) and the full reason.
    pub code: String,
    pub reason: String,
    /// The payload with personal fields removed, or the raw body when it is not JSON; empty
    /// when the body is kept in a [`BodyStore`] (`body_ref`).
    pub body: String,
    pub redacted: bool,
    /// Where the body is kept whole when it is too large for an inbox record
    /// ([`LARGE_BODY_BYTES`]) or not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_ref: Option<BodyRef>,
}

/// An event (or its unmapped part) waiting for a mapping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParkedEvent {
    pub event: InventoryEvent,
    pub missing: Vec<String>,
    pub parked_at: Timestamp,
}

/// The durable inbox: quarantined deliveries and parked events.
pub trait Inbox: Send + Sync {
    fn quarantine(
        &self,
        entry: &QuarantineEntry,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    fn list_quarantine(
        &self,
        shop: &ShopDomain,
    ) -> impl Future<Output = Result<Vec<QuarantineEntry>, PortError>> + Send;
    fn remove_quarantine(
        &self,
        entry: &QuarantineEntry,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    fn list_parked(
        &self,
        shop: &ShopDomain,
    ) -> impl Future<Output = Result<Vec<ParkedEvent>, PortError>> + Send;
    /// Removes a parked event once it has been sent again; false if someone else already did.
    fn remove_parked(
        &self,
        shop: &ShopDomain,
        key: &str,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
    /// Keeps a reconciliation report (JSON) for operators to fetch.
    fn put_report(
        &self,
        shop: &ShopDomain,
        run: &str,
        report: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The newest reconciliation reports of a shop (JSON), newest first.
    fn reports(
        &self,
        shop: &ShopDomain,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
}

/// One correction a reconciliation run made, held back or only planned (dry run), as the
/// transaction log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorrectionRecord {
    pub shop: ShopDomain,
    pub run: String,
    pub correction: stockbridge_domain::variance::Correction,
    /// Why: the kind of variance and the three quantities seen.
    pub reason: String,
    /// `applied`, `dry_run`, `held` (over the cap), `stale` (changed meanwhile) or `failed: ...`.
    pub outcome: String,
    pub at: Timestamp,
}

/// Where alerts go (the project's EventBridge bus; SNS subscribes to it).
pub trait AlertSink: Send + Sync {
    /// Publishes one event of `detail_type` with a JSON `detail`.
    fn publish(
        &self,
        detail_type: &str,
        detail: &serde_json::Value,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// What a batch needs loaded.
#[derive(Clone, Debug, Default)]
pub struct Wanted {
    pub levels: BTreeSet<StockKey>,
    pub lines: BTreeSet<LineKey>,
    pub items: BTreeSet<(ShopDomain, InventoryItemId)>,
    pub movements: BTreeSet<stockbridge_domain::stock::MovementKey>,
    /// Order records of the order flow ([`stockbridge_domain::sales`]).
    pub orders: BTreeSet<stockbridge_domain::stock::OrderKey>,
}

/// The records a batch reads, with the revisions its conditional writes must find unchanged.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub book: Book,
    pub revisions: HashMap<String, u64>,
}

/// Stock, order lines, the transaction log and idempotency records.
pub trait StockStore: Send + Sync {
    /// Which of these event keys are already recorded as done.
    fn applied(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<HashSet<String>, PortError>> + Send;
    fn load(&self, wanted: &Wanted) -> impl Future<Output = Result<Loaded, PortError>> + Send;
    /// Writes the plan in one transaction: stock records, order lines, log entries, idempotency
    /// records and parked events. All or nothing; [`PortError::Conflict`] when a record changed
    /// since `loaded` or an event key was recorded meanwhile.
    fn commit(
        &self,
        plan: &Plan,
        loaded: &Loaded,
        events: &[InventoryEvent],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Writes stock records whose ERP bookkeeping changed (in-flight write prepared, settled or
    /// cleared), in one transaction, each conditional on the revision in `loaded`.
    fn put_levels(
        &self,
        levels: &[(StockKey, stockbridge_domain::stock::StockLevel)],
        loaded: &Loaded,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Writes an order record of the order flow after an ERP call (or to lease it before one),
    /// conditional on the revision in `loaded` (absent there: the record must not exist yet);
    /// [`PortError::Conflict`] when it changed meanwhile.
    fn put_sales(
        &self,
        key: &stockbridge_domain::stock::OrderKey,
        record: &stockbridge_domain::sales::SalesRecord,
        loaded: &Loaded,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Writes reconciliation corrections (applied, held or dry-run) into the transaction log of
    /// the stock records they concern.
    fn log_corrections(
        &self,
        records: &[CorrectionRecord],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// One step of deleting everything kept for a shop (`shop/redact`): reads on from `from`
    /// (the start when `None`) at most `page` stored records, of any shop, and deletes those
    /// of `shop`. Returns how many went and where the next step starts (`None`: done).
    /// Deleting again what is already gone is harmless, so a step may be repeated.
    fn redact_shop(
        &self,
        shop: &ShopDomain,
        from: Option<&RedactCursor>,
        page: usize,
    ) -> impl Future<Output = Result<RedactStep, PortError>> + Send;
    /// The progress of the shop's newest redaction, if one was ever started. The record is not
    /// the shop's data: the redaction leaves it in place as its own account.
    fn redact_progress(
        &self,
        shop: &ShopDomain,
    ) -> impl Future<Output = Result<Option<RedactProgress>, PortError>> + Send;
    /// Records a redaction's progress (replacing the shop's previous record).
    fn put_redact_progress(
        &self,
        progress: &RedactProgress,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// What one redaction step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedactStep {
    /// Records deleted (as the store counts them).
    pub deleted: usize,
    /// Where the next step starts; `None` once every table has been read to its end.
    pub next: Option<RedactCursor>,
}

/// A `shop/redact` in progress or done, as the consumer records it after every step (the
/// inbox table's `REDACT#<shop>`; `stockbridge redact status`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedactProgress {
    pub shop: ShopDomain,
    /// The key of the `shop/redact` event that started it.
    pub run: String,
    /// Where the next step starts; `None` before the first step and once finished.
    pub cursor: Option<RedactCursor>,
    /// Steps taken and records deleted so far, over every invocation.
    pub steps: u64,
    pub deleted: u64,
    /// How many times the work was handed on to a later invocation.
    pub continuations: u32,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// The SKU map store.
pub trait SkuMapStore: Send + Sync {
    /// Looks up the mappings of these items, variants and SKUs (absent ones are simply not in the
    /// result) and all the shop's locations.
    fn lookup(
        &self,
        shop: &ShopDomain,
        items: &[InventoryItemId],
        variants: &[VariantId],
        skus: &[String],
    ) -> impl Future<Output = Result<SkuMap, PortError>> + Send;
    /// The shop's item mappings in inventory item order, after `after`, at most `limit`
    /// (reconciliation streams the map page by page).
    fn items_after(
        &self,
        shop: &ShopDomain,
        after: Option<InventoryItemId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ItemMapping>, PortError>> + Send;
    fn put_items(&self, rows: &[ItemMapping])
        -> impl Future<Output = Result<(), PortError>> + Send;
    fn put_locations(
        &self,
        rows: &[LocationMapping],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Sets the shop's order-flow setting (read back by [`SkuMapStore::lookup`] into
    /// `SkuMap::sales`, so a change applies from the next batch, without a redeploy).
    fn put_sales_settings(
        &self,
        shop: &ShopDomain,
        settings: stockbridge_domain::sales::SalesSettings,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Why an ERP call failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ErpError {
    /// The ERP asked us to slow down (HTTP 429); wait at least this long.
    #[error("ERP throttled the call; retry after {retry_after_ms} ms")]
    Throttled { retry_after_ms: u64 },
    /// The ERP failed or could not be reached (5xx, connection refused, timeout): retry later.
    #[error("ERP unavailable: {0}; retry later")]
    Unavailable(String),
    /// The ERP refused the write for a reason a retry will not fix (unknown item, bad key,
    /// validation): needs an operator.
    #[error("ERP refused the write: {0}; fix the mapping or the ERP, then replay")]
    Rejected(String),
}

impl ErpError {
    /// Worth trying again later.
    pub fn is_transient(&self) -> bool {
        !matches!(self, ErpError::Rejected(_))
    }
}

/// What the sync needs from an ERP.
pub trait Erp: Send + Sync {
    /// Applies one write, at most once per `write.key`: a retry of a key the ERP already has
    /// returns success without applying it again.
    fn apply(
        &self,
        write: &stockbridge_domain::erp_write::ErpWrite,
    ) -> impl Future<Output = Result<(), ErpError>> + Send;
    /// On-hand per ERP item at a warehouse (ERP units); items the ERP does not know are absent.
    fn levels(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> impl Future<Output = Result<HashMap<String, rust_decimal::Decimal>, ErpError>> + Send;
    /// Open purchase-order quantities with their expected dates.
    fn incoming(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> impl Future<Output = Result<Vec<stockbridge_domain::erp_write::Incoming>, ErpError>> + Send;
}

/// One inventory level as Shopify's Admin API reports it (a domain type).
pub use stockbridge_domain::variance::ShopifyLevel;

/// A compare-and-set of Shopify's `available` at one location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopifySet {
    pub item: stockbridge_domain::ids::InventoryItemId,
    pub location: stockbridge_domain::ids::LocationId,
    /// The new quantity.
    pub quantity: i64,
    /// What we believe Shopify holds now; Shopify refuses the set if it holds something else.
    pub expected: i64,
}

/// Why a Shopify Admin call failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ShopifyError {
    /// Over the cost budget (`THROTTLED`); wait this long for the bucket to refill.
    #[error("Shopify throttled the query; retry after {retry_after_ms} ms")]
    Throttled { retry_after_ms: u64 },
    /// Compare-and-set refused: Shopify's quantity is not what we expected (someone changed it).
    #[error("Shopify's quantity changed meanwhile (CHANGE_FROM_QUANTITY_STALE): re-read and decide again")]
    Stale,
    #[error("Shopify unavailable: {0}; retry later")]
    Unavailable(String),
    /// The `@idempotent` key was used before with other input
    /// (`IDEMPOTENCY_KEY_PARAMETER_MISMATCH`): nothing was applied; write under a new key.
    #[error("the idempotency key was used with other input; nothing applied, use a new key")]
    KeyReused,
    /// Refused for a reason a retry will not fix (scope missing, unknown item, bad input).
    #[error("Shopify refused the call: {0}")]
    Rejected(String),
}

/// What Stockbridge needs from Shopify's Admin GraphQL API.
pub trait ShopifyAdmin: Send + Sync {
    /// A location's levels in inventory item order, as [`ShopifyAdmin::bulk_levels`] returns them
    /// (the adapter decides how: in memory, or spilled to temporary files for large catalogues).
    type ItemOrdered: Iterator<Item = Result<ShopifyLevel, ShopifyError>> + Send;

    /// One page of inventory levels at `location` (all items), after `cursor`; returns the
    /// levels and the next cursor (`None` at the end). Pages are sized to the cost budget.
    fn levels_page(
        &self,
        location: stockbridge_domain::ids::LocationId,
        cursor: Option<String>,
    ) -> impl Future<Output = Result<(Vec<ShopifyLevel>, Option<String>), ShopifyError>> + Send;
    /// Every level at `location` through a bulk operation (Shopify runs the query in the
    /// background at no per-item cost; the right read for large catalogues), in inventory item
    /// order (the output has no promised order, so it is sorted with bounded memory).
    fn bulk_levels(
        &self,
        location: stockbridge_domain::ids::LocationId,
    ) -> impl Future<Output = Result<Self::ItemOrdered, ShopifyError>> + Send;
    /// The shop's active locations.
    fn locations(
        &self,
    ) -> impl Future<Output = Result<Vec<stockbridge_domain::ids::LocationId>, ShopifyError>> + Send;
    /// Sets `available` with compare-and-set (`changeFromQuantity`) under an idempotency key
    /// (`@idempotent`): a retry with the same key returns the first result.
    fn set_available(
        &self,
        sets: &[ShopifySet],
        reason: &str,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<(), ShopifyError>> + Send;
}

pub use backfill::{BackfillCheckpoint, BackfillCheckpoints};
pub use failures::{FailureLog, FailureRecord};
pub use latency::{
    bucket_of, hour_of, upper_bound_ms, Histogram, HourDigest, LatencyDigest, LatencyKind,
    LatencyTally, DIGEST_DAYS, LAST_BUCKET,
};
pub use reads::{FulfillmentOrderRead, LevelRead, NoShopify, ShopifyReads};
pub use sales::{
    Change, ErpSales, SalesLine, SalesMovement, SalesOrder, SalesOrderState, SalesOrderView,
};
pub use two_way::{
    ErpFeed, ErpRecords, ErpRecordsRead, FeedCursor, FeedCursorStore, FeedCursors, FeedMove,
    FeedPage, MetafieldRef, MetafieldWrite, Metafields, StorefrontMap, StorefrontSettings,
    VariantMetafield,
};

/// No ERP: a deployment that keeps stock in DynamoDB only. Uninhabited: an `Option<ErpPush<NoErp>>`
/// is always `None`.
#[derive(Clone, Copy, Debug)]
pub enum NoErp {}

impl Erp for NoErp {
    async fn apply(&self, _: &stockbridge_domain::erp_write::ErpWrite) -> Result<(), ErpError> {
        match *self {}
    }

    async fn levels(
        &self,
        _: &str,
        _: &[String],
    ) -> Result<HashMap<String, rust_decimal::Decimal>, ErpError> {
        match *self {}
    }

    async fn incoming(
        &self,
        _: &str,
        _: &[String],
    ) -> Result<Vec<stockbridge_domain::erp_write::Incoming>, ErpError> {
        match *self {}
    }
}

/// No queue: a consumer that does not schedule its own retries. Uninhabited.
#[derive(Clone, Copy, Debug)]
pub enum NoQueue {}

impl EventQueue for NoQueue {
    async fn send_after(
        &self,
        _: &[InventoryEvent],
        _: std::time::Duration,
    ) -> Result<(), PortError> {
        match *self {}
    }
}

/// Who holds a job's lease, when another run asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseHeld {
    pub holder: String,
    pub until: Timestamp,
}

/// A lease on a named job (one reconciliation per shop at a time): taken before the job, given
/// back after it, and free again by itself once `until` has passed (a crashed holder).
pub trait RunLock: Send + Sync {
    /// Takes the lease of `job` for `holder` until `until`, if nobody holds it or the holder's
    /// lease ran out; else says who holds it.
    fn acquire(
        &self,
        job: &str,
        holder: &str,
        until: Timestamp,
    ) -> impl Future<Output = Result<Result<(), LeaseHeld>, PortError>> + Send;
    /// Gives the lease back if `holder` still holds it (a lease another run took after ours ran
    /// out is left alone).
    fn release(
        &self,
        job: &str,
        holder: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Quarantined bodies larger than this (as stored: JSON-escaped) are kept in a [`BodyStore`],
/// and the inbox record points at them: a DynamoDB item holds at most 400 KB.
pub const LARGE_BODY_BYTES: usize = 256 * 1024;

/// Where a quarantined body too large for an inbox record is kept whole (S3 in AWS), encrypted
/// and expiring with the quarantine's retention.
pub trait BodyStore: Send + Sync {
    /// Keeps `body` whole under the shop and its SHA-256 (`sha256`, hex), so a delivery kept
    /// twice (Shopify's retry after a lost answer) is one object.
    fn put_body(
        &self,
        shop: &ShopDomain,
        sha256: &str,
        body: &[u8],
    ) -> impl Future<Output = Result<BodyRef, PortError>> + Send;
    /// The bytes `at` points to, as stored ([`BodyRef::check`] tells whether they are whole).
    fn get_body(&self, at: &BodyRef) -> impl Future<Output = Result<Vec<u8>, PortError>> + Send;
    /// Deletes the body (after a replay); one already gone is no error.
    fn delete_body(&self, at: &BodyRef) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Where a body is kept, how large it is and its SHA-256: what an inbox record holds instead
/// of the body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyRef {
    /// The store (the S3 bucket) and the key in it.
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

impl BodyRef {
    /// [`PortError::Corrupt`] unless `body` has the size and digest recorded.
    pub fn check(&self, body: &[u8]) -> Result<(), PortError> {
        let digest = sha256_hex(body);
        if body.len() as u64 == self.size && digest == self.sha256 {
            return Ok(());
        }
        Err(PortError::Corrupt {
            key: format!("{}/{}", self.bucket, self.key),
            detail: format!(
                "stored body has {} bytes and SHA-256 {digest}; the inbox recorded {} bytes and {}",
                body.len(),
                self.size,
                self.sha256
            ),
        })
    }
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
