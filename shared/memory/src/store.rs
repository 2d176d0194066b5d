//! [`MemoryStore`]: what the DynamoDB adapter keeps in its four tables (stock, idempotency, SKU
//! map, inbox), in maps behind one mutex, with the faults a test asks for and read-outs of what
//! the handlers wrote. The port implementations live in [`crate::stock`], [`crate::skumap`],
//! [`crate::inbox`] and [`crate::two_way`].
//!
//! Every stock record carries a revision, as in DynamoDB (`rev`, 1 on creation, +1 per write);
//! `Loaded::revisions` is keyed by the same record names the DynamoDB adapter uses
//! (`LEVEL#shop#item#location`, ...). The mutex is never held across an `.await`, and every port
//! call yields to the scheduler once first, so handlers run concurrently interleave between their
//! calls as they would over a network.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use stockbridge_core::ports::{
    CorrectionRecord, FeedCursors, ParkedEvent, PortError, QuarantineEntry, RedactProgress,
    StorefrontSettings,
};
use stockbridge_domain::batch::{LedgerEntry, Outcome};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp, VariantId};
use stockbridge_domain::sales::{SalesRecord, SalesSettings};
use stockbridge_domain::skumap::{ItemMapping, LocationMapping};
use stockbridge_domain::stock::{
    ItemRecord, LineKey, MovementKey, MovementRecord, OrderKey, OrderLine, StockKey, StockLevel,
};
use stockbridge_domain::storefront::ErpStockRecord;

/// One port operation of the store, to aim a fault at or count calls of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreOp {
    Applied,
    Load,
    Commit,
    PutLevels,
    LogCorrections,
    RedactShop,
    RedactProgress,
    PutRedactProgress,
    Lookup,
    ItemsAfter,
    PutItems,
    PutLocations,
    PutSalesSettings,
    PutSales,
    Quarantine,
    ListQuarantine,
    RemoveQuarantine,
    ListParked,
    RemoveParked,
    PutReport,
    Reports,
    PutBody,
    GetBody,
    DeleteBody,
    AddLatency,
    ReadLatency,
    FeedCursors,
    PutFeedCursors,
    ErpRecords,
    PutErpRecord,
    LookupErpItems,
    StorefrontSettings,
    PutStorefrontSettings,
}

/// How an operation fails when a test asks it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The store cannot be reached: nothing is read or written.
    Unavailable,
    /// A conditional write lost a race: nothing is written.
    Conflict,
    /// A record cannot be read back: nothing is read or written.
    Corrupt,
    /// The operation takes effect, but its answer is lost (a timeout after DynamoDB wrote):
    /// the caller sees `Unavailable`.
    AnswerLost,
    /// The store refuses the request itself (DynamoDB's `ValidationException`): `Refused`.
    Refused,
    /// The operation takes this long, then takes effect normally (a slow store).
    Delay(std::time::Duration),
}

impl Fault {
    pub(crate) fn error(self, op: StoreOp) -> PortError {
        match self {
            Fault::Unavailable | Fault::AnswerLost => PortError::Unavailable {
                service: "memory store",
                detail: format!("injected fault on {op:?}"),
            },
            Fault::Conflict => PortError::Conflict(format!("injected conflict on {op:?}")),
            Fault::Corrupt => PortError::Corrupt {
                key: format!("{op:?}"),
                detail: "injected corrupt record".into(),
            },
            Fault::Refused => PortError::Refused {
                service: "memory store",
                detail: format!("injected refusal on {op:?}"),
            },
            // Not an error: `enter` waits it out.
            Fault::Delay(d) => PortError::Unavailable {
                service: "memory store",
                detail: format!("delayed {d:?}"),
            },
        }
    }
}

/// One entry of a stock record's transaction log.
#[derive(Clone, Debug, PartialEq)]
pub enum LogEntry {
    /// A committed batch changed or noted the record.
    Stock { at: Timestamp, entry: LedgerEntry },
    /// A reconciliation correction (applied, held, dry run).
    Correction(CorrectionRecord),
}

/// A stored record and its revision.
#[derive(Clone, Debug)]
pub(crate) struct Stored<T> {
    pub value: T,
    pub rev: u64,
}

/// What another writer does between a handler's read and its commit.
type Interference = Box<dyn FnOnce(MemoryStore) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Everything the store holds.
#[derive(Default)]
pub(crate) struct State {
    // Stock table.
    pub levels: BTreeMap<StockKey, Stored<StockLevel>>,
    pub lines: BTreeMap<LineKey, Stored<OrderLine>>,
    pub items: BTreeMap<(ShopDomain, InventoryItemId), Stored<ItemRecord>>,
    pub movements: BTreeMap<MovementKey, Stored<MovementRecord>>,
    // The order flow's record per Shopify order.
    pub sales: BTreeMap<OrderKey, Stored<SalesRecord>>,
    pub log: BTreeMap<StockKey, Vec<LogEntry>>,
    // Idempotency table: event key -> outcome.
    pub applied: BTreeMap<String, Outcome>,
    // SKU map table. Aliases are kept apart from the mappings, as in DynamoDB: re-mapping an
    // item to another variant or SKU leaves the old alias in place.
    pub item_maps: BTreeMap<(ShopDomain, InventoryItemId), ItemMapping>,
    pub variant_alias: BTreeMap<(ShopDomain, VariantId), InventoryItemId>,
    pub sku_alias: BTreeMap<(ShopDomain, String), InventoryItemId>,
    pub locations: BTreeMap<(ShopDomain, LocationId), LocationMapping>,
    // The shop's order-flow setting (absent: off, `SalesSettings::default`).
    pub sales_settings: BTreeMap<ShopDomain, SalesSettings>,
    // Inbox table: parked by event key, quarantine by receipt time and webhook id, reports by run.
    pub parked: BTreeMap<(ShopDomain, String), ParkedEvent>,
    pub quarantine: BTreeMap<(ShopDomain, String), QuarantineEntry>,
    pub reports: BTreeMap<(ShopDomain, String), String>,
    // Inbox table: the consumer's latest failure record per queue message id.
    pub failures: BTreeMap<String, stockbridge_core::ports::FailureRecord>,
    // Inbox table: the latency digest per shop and hour (`yyyy-mm-ddThh`).
    pub latency: BTreeMap<(ShopDomain, String), stockbridge_core::ports::HourDigest>,
    // Body store (S3): quarantined bodies too large for an inbox record, by key.
    pub bodies: BTreeMap<String, Vec<u8>>,
    // Inbox table: each shop's newest redaction progress (not the shop's data: kept).
    pub redactions: BTreeMap<ShopDomain, RedactProgress>,
    // Job leases: job -> (holder, until).
    pub leases: BTreeMap<String, (String, Timestamp)>,
    // The two-way direction (`crate::two_way`): the stock table's ERP records per shop,
    // warehouse and ERP item; the SKU map table's ERP item aliases (as stale as the others after
    // a re-map) and storefront settings; the inbox table's feed cursors per source (not a shop's
    // data: kept apart, like redaction progress, and never redacted).
    pub erp_records: BTreeMap<(ShopDomain, String, String), Stored<ErpStockRecord>>,
    pub erp_alias: BTreeSet<(ShopDomain, String, InventoryItemId)>,
    pub storefront: BTreeMap<ShopDomain, StorefrontSettings>,
    pub feed_cursors: BTreeMap<String, FeedCursors>,
    // Test controls.
    pub faults: BTreeMap<StoreOp, VecDeque<Fault>>,
    pub calls: BTreeMap<StoreOp, usize>,
}

struct Shared {
    state: Mutex<State>,
    before_commit: Mutex<VecDeque<Interference>>,
}

/// The in-memory store. `Clone` is a handle to the same data.
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("MemoryStore")
            .field("levels", &s.levels.len())
            .field("applied", &s.applied.len())
            .field("item_maps", &s.item_maps.len())
            .field("parked", &s.parked.len())
            .field("quarantine", &s.quarantine.len())
            .finish()
    }
}

/// The record names the DynamoDB adapter uses as partition keys (and so as revision keys).
pub(crate) fn level_pk(key: &StockKey) -> String {
    format!("LEVEL#{}#{}#{}", key.shop, key.item, key.location)
}

pub(crate) fn line_pk(key: &LineKey) -> String {
    format!("LINE#{}#{}", key.shop, key.line)
}

pub(crate) fn item_pk(shop: &ShopDomain, item: InventoryItemId) -> String {
    format!("ITEM#{shop}#{item}")
}

pub(crate) fn movement_pk(key: &MovementKey) -> String {
    format!("MOVE#{}#{}", key.shop, key.id)
}

pub(crate) fn sale_pk(key: &OrderKey) -> String {
    format!("SALE#{}#{}", key.shop, key.order)
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                before_commit: Mutex::new(VecDeque::new()),
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves plain data behind: keep using it.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The start of every port call: yield once (so concurrent handlers interleave), count the
    /// call, and take the next fault aimed at it. `Ok(true)` means the call must take effect and
    /// then answer `Unavailable` ([`Fault::AnswerLost`]).
    pub(crate) async fn enter(&self, op: StoreOp) -> Result<bool, PortError> {
        tokio::task::yield_now().await;
        let fault = {
            let mut s = self.lock();
            *s.calls.entry(op).or_default() += 1;
            s.faults.get_mut(&op).and_then(VecDeque::pop_front)
        };
        match fault {
            None => Ok(false),
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                Ok(false)
            }
            Some(Fault::AnswerLost) => Ok(true),
            Some(fault) => Err(fault.error(op)),
        }
    }

    /// The end of a port call entered with [`MemoryStore::enter`].
    pub(crate) fn finish<T>(
        op: StoreOp,
        answer_lost: bool,
        result: Result<T, PortError>,
    ) -> Result<T, PortError> {
        match result {
            Ok(_) if answer_lost => Err(Fault::AnswerLost.error(op)),
            other => other,
        }
    }

    /// Runs what a test scheduled to happen between a handler's reads and its next commit.
    pub(crate) async fn interfere(&self) {
        let next = self
            .shared
            .before_commit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        if let Some(race) = next {
            race(self.clone()).await;
        }
    }

    // ---- Test controls ----

    /// The next `n` calls of `op` fail with `fault` (after any faults already queued for it;
    /// [`Fault::Delay`] slows them down instead).
    pub fn fail_next(&self, op: StoreOp, n: usize, fault: Fault) {
        let mut s = self.lock();
        s.faults
            .entry(op)
            .or_default()
            .extend((0..n).map(|_| fault));
    }

    /// How often `op` was called (failed calls included).
    pub fn calls(&self, op: StoreOp) -> usize {
        self.lock().calls.get(&op).copied().unwrap_or(0)
    }

    /// Runs `writer` on this store when the next `commit` starts, before its conditions are
    /// checked: another consumer winning the race for the same records. `writer` may use the
    /// store through the ports (a real handler); the commit it interrupts then sees its writes.
    pub fn before_next_commit<F, Fut>(&self, writer: F)
    where
        F: FnOnce(MemoryStore) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.shared
            .before_commit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Box::new(move |store| Box::pin(writer(store))));
    }

    // ---- Read-outs ----

    /// One stock record, as stored.
    pub fn level(&self, key: &StockKey) -> Option<StockLevel> {
        self.lock().levels.get(key).map(|s| s.value.clone())
    }

    /// The revision of one stock record (absent: never written, or deleted).
    pub fn revision(&self, key: &StockKey) -> Option<u64> {
        self.lock().levels.get(key).map(|s| s.rev)
    }

    /// Every stock record of a shop, in key order.
    pub fn levels(&self, shop: &ShopDomain) -> Vec<(StockKey, StockLevel)> {
        self.lock()
            .levels
            .iter()
            .filter(|(k, _)| &k.shop == shop)
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect()
    }

    /// One order's record of the order flow, as stored.
    pub fn sale(&self, key: &OrderKey) -> Option<SalesRecord> {
        self.lock().sales.get(key).map(|s| s.value.clone())
    }

    /// The revision of one order's record (absent: never written, or deleted).
    pub fn sale_revision(&self, key: &OrderKey) -> Option<u64> {
        self.lock().sales.get(key).map(|s| s.rev)
    }

    /// One order line, as stored.
    pub fn line(&self, key: &LineKey) -> Option<OrderLine> {
        self.lock().lines.get(key).map(|s| s.value.clone())
    }

    /// The transaction log of one stock record, oldest first.
    pub fn ledger(&self, key: &StockKey) -> Vec<LogEntry> {
        self.lock().log.get(key).cloned().unwrap_or_default()
    }

    /// Every event key recorded as done, with its outcome.
    pub fn applied_keys(&self) -> BTreeMap<String, Outcome> {
        self.lock().applied.clone()
    }

    /// A shop's parked events, in event key order.
    pub fn parked(&self, shop: &ShopDomain) -> Vec<ParkedEvent> {
        let s = self.lock();
        s.parked
            .iter()
            .filter(|((sh, _), _)| sh == shop)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// A shop's quarantined deliveries, oldest first.
    pub fn quarantined(&self, shop: &ShopDomain) -> Vec<QuarantineEntry> {
        let s = self.lock();
        s.quarantine
            .iter()
            .filter(|((sh, _), _)| sh == shop)
            .map(|(_, q)| q.clone())
            .collect()
    }

    /// How many records the store holds in all, counted as `redact_shop` counts them
    /// (redaction progress records are not the shops' data and not counted).
    pub fn record_count(&self) -> usize {
        self.lock().count_all()
    }

    /// How many records the store holds for `shop`, counted as `redact_shop` counts them.
    pub fn shop_record_count(&self, shop: &ShopDomain) -> usize {
        self.lock().count_shop(shop)
    }
}
