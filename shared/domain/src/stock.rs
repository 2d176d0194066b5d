//! Stock per shop, item and location, and the one function that moves it: [`apply_change`].
//!
//! The model follows Shopify's own quantities (`on_hand = available + committed + reserved +
//! damaged + safety_stock + quality_control`; `incoming` apart):
//! - `available` is whatever the newest `inventory_levels/*` payload or Admin API read said, by
//!   [`Version`];
//! - `committed` is the sum of what the order lines count at the location, where Shopify
//!   assigned them ([`crate::commitment`]);
//! - the unavailable states and `incoming` are what the newest Admin API read said (webhooks
//!   never carry them);
//! - `on_hand` is derived, so an order seen as `orders/create` *and* as a level change is
//!   counted once, never twice.
//!
//! Every fact is an absolute snapshot with a version, so a duplicate or an out-of-order delivery
//! changes nothing: the same final state whatever the interleaving (property-tested in `batch`).
//! Nothing is ever summed across locations.
//!
//! **Settled** `on_hand`: a change of `on_hand` is explained when the movements noted at the
//! location (fulfilled, restocked) account for it, or when a read of the level confirms it. A
//! record keeps the last explained figure (`settled`) and the movements since (`moved`); while
//! `on_hand - settled != moved` the record is unsettled: something moved `available` that no
//! fact explains yet (an order whose routing is not read, a count, units moved to `damaged`), and
//! the ERP is told nothing from it until a read or the missing fact explains it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::commitment::OrderLine;
use crate::event::{MovementKind, ShopifyQuantities};
/// The key of a stock record (defined with the other identifiers).
pub use crate::ids::StockKey;
use crate::ids::{
    FulfillmentOrderId, InventoryItemId, LineItemId, LocationId, OrderId, ShopDomain, Timestamp,
    Version,
};

/// The largest quantity one fact may carry, either sign (a level's `available`, a line's open
/// quantity, a movement line). The webhook quarantines anything beyond it
/// (`quantity_out_of_range`), and [`apply_change`] refuses it too ([`Effect::OutOfRange`]), so
/// every sum below works far inside `i64` (see [`MAX_COMMITTED`]).
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// The largest `committed` a stock record may reach (a million lines of [`MAX_QUANTITY`] each):
/// with `|available| <= MAX_QUANTITY`, `on_hand` and any difference of two `on_hand`s stay
/// within `i64` by more than three orders of magnitude.
pub const MAX_COMMITTED: i64 = 1_000_000 * MAX_QUANTITY;

/// One order line, the unit a commitment is tracked by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LineKey {
    pub shop: ShopDomain,
    pub line: LineItemId,
}

/// One Shopify order, the unit the order flow keeps its record by ([`crate::sales`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrderKey {
    pub shop: ShopDomain,
    pub order: OrderId,
}

/// One Shopify movement line (a fulfilment line, a refund line).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MovementKey {
    pub shop: ShopDomain,
    pub id: String,
}

/// The newest snapshot of one movement line and what it means for an ERP-kept count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovementRecord {
    pub key: StockKey,
    /// See [`erp_movement`].
    pub erp_effect: i64,
    pub version: Version,
}

/// The stock of one item at one location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    /// Shopify `available`: sellable now.
    pub available: i64,
    /// Shopify `committed`: sold, not yet fulfilled.
    pub committed: i64,
    /// False when Shopify said `available: null` (not tracked at this location; `available` is
    /// then 0).
    pub tracked: bool,
    /// False after `inventory_levels/disconnect` (`available` is then 0).
    pub connected: bool,
    /// Version of the newest level fact applied (update, connect, disconnect).
    pub level_version: Option<Version>,
    /// What the ERP is owed and has not been told yet (Shopify units); see [`crate::erp_write`].
    pub erp_owed: i64,
    /// Receipt time of the oldest event in `erp_owed` (for end-to-end latency).
    pub erp_owed_since: Option<Timestamp>,
    /// A write prepared for the ERP and not yet acknowledged: retried with the same key.
    pub erp_inflight: Option<Inflight>,
    /// Number of writes acknowledged by the ERP (part of the next write's key).
    pub erp_seq: u64,
    /// Shopify's unavailable states and `incoming` here, as last read (webhooks never say).
    pub states: States,
    /// Version of the read `states` come from.
    pub states_version: Option<Version>,
    /// The last explained `on_hand` (see the module's "Settled"): what the ERP rule at a
    /// Shopify-master location has counted.
    pub settled: i64,
    /// Movements noted here since `settled` (shipped minus, restocked plus).
    pub moved: i64,
    /// Since when `on_hand` is unexplained, while it is (a read is due).
    pub unsettled_since: Option<Timestamp>,
    /// Newest version of any fact that changed this record (a read newer than it sees it all).
    pub fact_version: Option<Version>,
    /// Movements noted here since `settled` that ERP sales orders carry ([`crate::sales`]):
    /// left out of what a Shopify-master location owes the ERP when it settles.
    #[serde(default)]
    pub carried: i64,
    /// Units the ERP booked here by a transfer before Shopify did (Shopify units, signed, at a
    /// Shopify-master location): a settled change of Shopify's on-hand the same way is netted
    /// against this and not told to the ERP a second time.
    #[serde(default)]
    pub erp_ahead: i64,
}

/// Shopify's states beside `available` and `committed`, kept as last read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct States {
    pub reserved: i64,
    pub damaged: i64,
    pub safety_stock: i64,
    pub quality_control: i64,
    /// Not on hand: on its way (transfers, purchase orders in Shopify).
    pub incoming: i64,
}

impl States {
    /// Units on hand that cannot be sold: `reserved + damaged + safety_stock + quality_control`.
    pub fn unavailable(&self) -> i64 {
        self.reserved + self.damaged + self.safety_stock + self.quality_control
    }
}

/// The part of a stock record's debt to the ERP that is on its way, under a fixed key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inflight {
    pub key: String,
    pub warehouse: String,
    pub erp_item: String,
    /// Shopify units this write settles.
    pub quantity: i64,
    /// The ERP line as prepared (ERP units), so a retry sends exactly the same write. Stored as
    /// decimal strings; one that does not parse makes the record unreadable, never 0.
    pub change: rust_decimal::Decimal,
    pub target: Option<rust_decimal::Decimal>,
    pub since: Option<Timestamp>,
    /// Until when one consumer holds the right to send this write; others leave it alone, so
    /// two consumers never send the same write at once. The holder renews it before each call
    /// to the ERP and bounds each call well inside it.
    #[serde(default)]
    pub lease_until: Option<Timestamp>,
    /// Which consumer process holds the lease: only it renews the lease, gives it back or
    /// records a refusal. `None` when nobody holds it (and in records written before holders).
    #[serde(default)]
    pub holder: Option<String>,
    /// How many times the ERP refused this write. A refused write keeps its key, since the ERP
    /// may have applied part of it (Tryton's "in" shipment before it refused the "out"), and is
    /// sent again later under that key.
    #[serde(default)]
    pub refusals: u32,
    /// The ERP's last refusal, for the operator.
    #[serde(default)]
    pub refused: Option<String>,
    /// Set when the write was parked after too many refusals: it is not sent again until an
    /// operator releases it (`stockbridge erp retry`).
    #[serde(default)]
    pub parked_at: Option<Timestamp>,
}

impl Inflight {
    /// True while another holder than `holder` holds an unexpired lease on it at `now`.
    pub fn leased_to_another(&self, holder: &str, now: Timestamp) -> bool {
        self.lease_until.is_some_and(|until| until > now) && self.holder.as_deref() != Some(holder)
    }
}

impl Default for StockLevel {
    fn default() -> Self {
        StockLevel {
            available: 0,
            committed: 0,
            tracked: true,
            connected: true,
            level_version: None,
            erp_owed: 0,
            erp_owed_since: None,
            erp_inflight: None,
            erp_seq: 0,
            states: States::default(),
            states_version: None,
            settled: 0,
            moved: 0,
            unsettled_since: None,
            fact_version: None,
            carried: 0,
            erp_ahead: 0,
        }
    }
}

impl StockLevel {
    /// Physically present: `available + committed + unavailable`.
    pub fn on_hand(&self) -> i64 {
        self.available + self.committed + self.states.unavailable()
    }

    pub fn quantities(&self) -> Quantities {
        Quantities {
            available: self.available,
            committed: self.committed,
            on_hand: self.on_hand(),
            unavailable: self.states.unavailable(),
        }
    }

    /// True when `on_hand` is explained by the facts (see the module's "Settled").
    pub fn is_settled(&self) -> bool {
        self.on_hand() - self.settled == self.moved
    }

    /// Every quantity name, as Shopify would read them here.
    pub fn shopify_quantities(&self) -> ShopifyQuantities {
        ShopifyQuantities {
            available: self.available,
            committed: self.committed,
            on_hand: self.on_hand(),
            reserved: self.states.reserved,
            damaged: self.states.damaged,
            safety_stock: self.states.safety_stock,
            quality_control: self.states.quality_control,
            incoming: self.states.incoming,
        }
    }

    pub(crate) fn saw(&mut self, version: Version) {
        if self.fact_version.is_none_or(|known| version > known) {
            self.fact_version = Some(version);
        }
    }
}

/// The figures a person asks about, as logged before and after each change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Quantities {
    pub available: i64,
    pub committed: i64,
    pub on_hand: i64,
    /// `reserved + damaged + safety_stock + quality_control`.
    #[serde(default)]
    pub unavailable: i64,
}

/// What Shopify last said about an inventory item itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub sku: Option<String>,
    pub tracked: Option<bool>,
    pub deleted: bool,
    pub version: Version,
}

/// A stock change whose item and location are resolved to Shopify inventory ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Fact {
    Available {
        key: StockKey,
        available: Option<i64>,
        version: Version,
    },
    Disconnected {
        key: StockKey,
        version: Version,
    },
    /// An `orders/*` snapshot of one line: its open quantity, and the location the order names
    /// (POS) if it names one. Where it counts follows [`crate::commitment`].
    Commitment {
        line: LineKey,
        order: OrderId,
        item: InventoryItemId,
        named: Option<LocationId>,
        open: i64,
        version: Version,
    },
    /// A fulfillment order as read: its location, whether it is open, its lines' remaining units.
    FulfillmentOrder {
        shop: ShopDomain,
        fulfillment_order: FulfillmentOrderId,
        order: OrderId,
        location: LocationId,
        open: bool,
        lines: Vec<(LineItemId, InventoryItemId, i64)>,
        version: Version,
    },
    /// Every quantity name at one level as read (`None`: no level there).
    Quantities {
        key: StockKey,
        quantities: Option<ShopifyQuantities>,
        version: Version,
    },
    Movement {
        movement: MovementKey,
        key: StockKey,
        kind: MovementKind,
        reference: String,
        quantity: i64,
        version: Version,
        /// The order and line it moved, when the shop's order flow is on: an ERP sales order
        /// of that order may carry it ([`crate::sales`]).
        carry: Option<(OrderId, LineItemId)>,
    },
    /// Movements of an order its ERP sales order could not carry: given back to the stock push.
    SalesRelease {
        key: OrderKey,
        movements: Vec<String>,
    },
    /// An order snapshot for the order flow, with the shop's setting and the receipt time.
    SalesOrder {
        key: OrderKey,
        snapshot: crate::sales::OrderSnapshot,
        settings: crate::sales::SalesSettings,
        at: Timestamp,
    },
    Item {
        shop: ShopDomain,
        item: InventoryItemId,
        record: ItemRecord,
    },
    /// Units the ERP booked at a Shopify-master location by a transfer, ahead of Shopify (see
    /// [`StockLevel::erp_ahead`]).
    ErpTransfer {
        key: StockKey,
        quantity: i64,
        transfer: String,
    },
}

/// What applying one fact did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// State changed; these stock records were touched.
    Changed(Vec<StockKey>),
    /// A movement note for the log; quantities unchanged. The number is what the movement means
    /// for an ERP that keeps the count itself (shipped: minus, taken back into stock: plus).
    /// A movement whose newer snapshot names another location notes both: the old location
    /// gives back what it had noted, the new one takes the movement. `carried`: an ERP sales
    /// order carries these effects, so the stock push leaves them out.
    Noted {
        notes: Vec<(StockKey, String, i64)>,
        carried: bool,
    },
    /// An order's record changed; movements it had carried are given back to the stock push
    /// (the order never goes), with a note for the log.
    SalesChanged {
        key: OrderKey,
        released: Vec<(StockKey, String, i64)>,
    },
    /// The item record changed.
    ItemUpdated,
    /// A read of the level was applied; `Some(on_hand)` when it confirms that figure (it agrees
    /// with what the facts say, or it is newer than every fact known here).
    Read(StockKey, Option<i64>),
    /// Older than, or the same as, what is already known.
    Stale,
    /// Refused: the fact carries a quantity beyond [`MAX_QUANTITY`], or applying it would take
    /// a sum beyond its bound ([`MAX_COMMITTED`]). Nothing changed; the reason is logged on the
    /// stock record.
    OutOfRange(StockKey, String),
}

/// The working set the pure logic reads and writes: the records a batch touches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Book {
    pub levels: BTreeMap<StockKey, StockLevel>,
    pub lines: BTreeMap<LineKey, OrderLine>,
    pub items: BTreeMap<(ShopDomain, InventoryItemId), ItemRecord>,
    pub movements: BTreeMap<MovementKey, MovementRecord>,
    pub sales: BTreeMap<OrderKey, crate::sales::SalesRecord>,
}

impl Book {
    pub fn level(&self, key: &StockKey) -> StockLevel {
        self.levels.get(key).cloned().unwrap_or_default()
    }

    pub(crate) fn level_mut(&mut self, key: &StockKey) -> &mut StockLevel {
        self.levels.entry(key.clone()).or_default()
    }
}
