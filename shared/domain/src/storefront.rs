//! What the storefront is told from the ERP (the two-way direction): the ERP's own stock changes
//! at an ERP-master location, its restock dates and reorder signals, and named item fields.
//!
//! Owns, purely:
//! - [`ErpChange`]: the facts of the ERP change feed (the `erp_change` event kind), each an
//!   absolute snapshot with the time the ERP stated it, so a duplicate, a replay after a crash or
//!   an older fact arriving late changes nothing;
//! - [`own_document`]: which ERP documents are Stockbridge's own (`sb-…` stock pushes, `shopify:…`
//!   sales orders), never sent back to Shopify (no echo loop);
//! - [`SellRule`] / [`SellRules`] and [`derive`]: Shopify's `available` at an ERP-master location =
//!   ERP on-hand − Shopify's commitments − its unavailable states − the location's buffer, 0 at a
//!   location that is never sellable, never below 0, with every step kept for `stock explain`;
//! - [`ErpStockRecord`]: what Stockbridge keeps per shop, ERP warehouse and ERP item (the last
//!   on-hand stated, the moves behind it, the reorder state, what Shopify was told);
//! - [`reorder_step`]: `StockBelowReorderPoint` once per item and location per window, re-armed
//!   by a recovery;
//! - [`Restock`] and the metafields it is written to ([`RESTOCK_NAMESPACE`]);
//! - [`FieldMap`]: named ERP item fields carried to named Shopify metafields, each switched on per
//!   shop.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::{InventoryItemId, LocationId, Timestamp};

/// One fact of the ERP change feed, as the ERP stated it at `as_of`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ErpChange {
    /// The on-hand of one ERP item at one warehouse (ERP units) after `moves`, the ERP's own
    /// moves that changed it (Stockbridge's own documents are left out by the feed).
    Stock {
        warehouse: String,
        item: String,
        on_hand: Decimal,
        as_of: Timestamp,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        moves: Vec<ErpMove>,
        /// The ERP's reorder point for the item at the warehouse (Tryton's order point), where
        /// it has one; else the SKU map's applies.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reorder_point: Option<Decimal>,
    },
    /// The item's next restock (open purchase lines): `None` when nothing is on order.
    Restock {
        item: String,
        next: Option<Restock>,
        as_of: Timestamp,
    },
    /// Named item fields as the ERP holds them (the field map carries those switched on).
    Fields {
        item: String,
        fields: BTreeMap<String, String>,
        as_of: Timestamp,
    },
}

impl ErpChange {
    /// The ERP item the fact is about.
    pub fn item(&self) -> &str {
        match self {
            ErpChange::Stock { item, .. }
            | ErpChange::Restock { item, .. }
            | ErpChange::Fields { item, .. } => item,
        }
    }

    /// When the ERP stated it.
    pub fn as_of(&self) -> Timestamp {
        match self {
            ErpChange::Stock { as_of, .. }
            | ErpChange::Restock { as_of, .. }
            | ErpChange::Fields { as_of, .. } => *as_of,
        }
    }
}

/// One ERP stock move behind a [`ErpChange::Stock`]: its id in the ERP (the idempotency key of
/// what Shopify is told), its signed quantity at the warehouse (ERP units), its kind and the
/// document it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpMove {
    pub id: String,
    pub quantity: Decimal,
    /// `receipt`, `shipment`, `transfer`, `adjustment` (what the ERP says it is).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    pub done_at: Timestamp,
}

/// Stockbridge's own ERP documents, recognised by their reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnDocument {
    /// A stock push (`sb-<warehouse>-<digest>`, with `:in` / `:out`): what Shopify moved.
    StockPush,
    /// A sales order of the order flow (`shopify:<shop>:…`), its shipments and returns.
    SalesOrder,
}

/// Whether an ERP document with this reference (or origin) is one Stockbridge wrote: its moves
/// came from Shopify and are never sent back there.
pub fn own_document(reference: &str) -> Option<OwnDocument> {
    let r = reference.trim();
    if r.starts_with("sb-") {
        Some(OwnDocument::StockPush)
    } else if r.starts_with("shopify:") {
        Some(OwnDocument::SalesOrder)
    } else {
        None
    }
}

/// The available-to-sell rule at one location (or for one item there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellRule {
    /// Units held back from sale (Shopify units), on top of Shopify's own unavailable states.
    #[serde(default)]
    pub buffer: i64,
    /// False for a location whose stock is never sold (returns, quarantine, damaged).
    #[serde(default = "yes")]
    pub sellable: bool,
}

fn yes() -> bool {
    true
}

impl Default for SellRule {
    fn default() -> Self {
        SellRule {
            buffer: 0,
            sellable: true,
        }
    }
}

/// A shop's rules: per location, and per item at a location (which wins).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellRules {
    #[serde(default)]
    pub locations: BTreeMap<LocationId, SellRule>,
    /// Per `(location, item)`: stored as `"<location>/<item>"`.
    #[serde(default, with = "pair_keys")]
    pub items: BTreeMap<(LocationId, InventoryItemId), SellRule>,
}

/// Where a rule came from, for `stock explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    Item,
    Location,
    Default,
}

impl SellRules {
    /// The rule for `item` at `location`: the item's, else the location's, else sell all.
    pub fn rule(&self, location: LocationId, item: InventoryItemId) -> (SellRule, RuleSource) {
        if let Some(r) = self.items.get(&(location, item)) {
            return (*r, RuleSource::Item);
        }
        if let Some(r) = self.locations.get(&location) {
            return (*r, RuleSource::Location);
        }
        (SellRule::default(), RuleSource::Default)
    }

    /// Checks what an operator stored: a buffer is 0 or more.
    pub fn check(&self) -> Result<(), String> {
        for (l, r) in &self.locations {
            if r.buffer < 0 {
                return Err(format!("location {l}: buffer {} is below 0", r.buffer));
            }
        }
        for ((l, i), r) in &self.items {
            if r.buffer < 0 {
                return Err(format!(
                    "item {i} at location {l}: buffer {} is below 0",
                    r.buffer
                ));
            }
        }
        Ok(())
    }
}

mod pair_keys {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::SellRule;
    use crate::ids::{InventoryItemId, LocationId};

    type Pairs = BTreeMap<(LocationId, InventoryItemId), SellRule>;

    pub fn serialize<S: Serializer>(pairs: &Pairs, s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<String, SellRule> = pairs
            .iter()
            .map(|((l, i), r)| (format!("{}/{}", l.0, i.0), *r))
            .collect();
        m.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Pairs, D::Error> {
        let m = BTreeMap::<String, SellRule>::deserialize(d)?;
        let mut out = Pairs::new();
        for (k, r) in m {
            let (l, i) = k
                .split_once('/')
                .and_then(|(l, i)| Some((l.parse().ok()?, i.parse().ok()?)))
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("rule key {k:?} is not <location>/<item>"))
                })?;
            out.insert((LocationId(l), InventoryItemId(i)), r);
        }
        Ok(out)
    }
}

/// How the figure Shopify shows at an ERP-master location is derived: every step, for the write
/// and for `stockbridge stock explain`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derivation {
    /// The ERP's on-hand (ERP units) and in Shopify units (rounded down).
    pub erp_on_hand: Decimal,
    pub on_hand: i64,
    /// Shopify's `committed` and unavailable states (reserved, damaged, safety stock, quality
    /// control) at the location, as read.
    pub committed: i64,
    pub unavailable: i64,
    pub rule: SellRule,
    pub rule_source: RuleSource,
    /// What Shopify's `available` should be.
    pub target: i64,
}

/// Shopify's `available` at an ERP-master location: `on_hand − committed − unavailable − buffer`,
/// at least 0; 0 where the rule says never sellable. `on_hand` is the ERP's `erp_on_hand` in
/// Shopify units (the SKU map's `UomFactor::to_shopify`: rounded down).
pub fn derive(
    erp_on_hand: Decimal,
    on_hand: i64,
    committed: i64,
    unavailable: i64,
    (rule, rule_source): (SellRule, RuleSource),
) -> Derivation {
    let target = if rule.sellable {
        on_hand
            .saturating_sub(committed)
            .saturating_sub(unavailable)
            .saturating_sub(rule.buffer.max(0))
            .max(0)
    } else {
        0
    };
    Derivation {
        erp_on_hand,
        on_hand,
        committed,
        unavailable,
        rule,
        rule_source,
        target,
    }
}

/// Seconds within which a second dip below the reorder point raises nothing.
pub const REORDER_WINDOW_SECS: i64 = 120;

/// Whether the reorder signal of an item at a location may fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReorderState {
    /// False once it fired, until the on-hand is back at or above the point.
    pub armed: bool,
    pub fired_at: Option<Timestamp>,
}

impl Default for ReorderState {
    fn default() -> Self {
        ReorderState {
            armed: true,
            fired_at: None,
        }
    }
}

/// The reorder state after the on-hand became `on_hand` at `now`, and whether
/// `StockBelowReorderPoint` goes on the bus: below the point, armed, and not within
/// [`REORDER_WINDOW_SECS`] of the last signal. A recovery (at or above the point) re-arms it; a
/// dip within the window stays armed, so the next change still below after the window fires.
pub fn reorder_step(
    state: ReorderState,
    on_hand: Decimal,
    point: Option<Decimal>,
    now: Timestamp,
) -> (ReorderState, bool) {
    let Some(point) = point else {
        return (state, false);
    };
    if on_hand >= point {
        return (
            ReorderState {
                armed: true,
                ..state
            },
            false,
        );
    }
    let in_window = state
        .fired_at
        .is_some_and(|t| now.0.saturating_sub(t.0) < REORDER_WINDOW_SECS * 1_000_000_000);
    if state.armed && !in_window {
        return (
            ReorderState {
                armed: false,
                fired_at: Some(now),
            },
            true,
        );
    }
    (state, false)
}

/// `StockBelowReorderPoint`: the on-hand of an item at an ERP-master location fell below its
/// reorder point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReorderSignal {
    pub warehouse: String,
    pub erp_item: String,
    pub location: LocationId,
    pub on_hand: Decimal,
    pub point: Decimal,
    /// `erp` (the ERP's order point) or `skumap` (the shop's setting).
    pub point_from: String,
    pub at: Timestamp,
}

/// An item's next restock: the earliest expected date of its open purchase lines and the
/// quantity still to receive on that date (ERP units).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restock {
    /// ISO date `YYYY-MM-DD`.
    pub date: String,
    pub quantity: Decimal,
}

/// The metafield namespace Stockbridge writes, and its keys on each product variant.
pub const RESTOCK_NAMESPACE: &str = "stockbridge";
/// `date`: the next restock date.
pub const RESTOCK_DATE_KEY: &str = "restock_date";
/// `number_integer`: the quantity expected then (Shopify units).
pub const RESTOCK_QUANTITY_KEY: &str = "restock_quantity";

/// The earliest dated line of `lines` (`(date, quantity)`, ERP units), the quantities of that
/// date summed; lines without a date or quantity are not a restock date.
pub fn next_restock(lines: &[(Option<String>, Decimal)]) -> Option<Restock> {
    let mut best: Option<Restock> = None;
    for (date, quantity) in lines {
        let Some(date) = date else { continue };
        if *quantity <= Decimal::ZERO {
            continue;
        }
        match &mut best {
            Some(b) if b.date == *date => b.quantity += *quantity,
            Some(b) if b.date < *date => {}
            _ => {
                best = Some(Restock {
                    date: date.clone(),
                    quantity: *quantity,
                })
            }
        }
    }
    best
}

/// What Shopify was last told at one location from this record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    pub item: InventoryItemId,
    pub location: LocationId,
    pub derivation: Derivation,
    /// Shopify's `available` before, and the idempotency key of the write (none: it already
    /// showed the target).
    pub before: i64,
    pub key: Option<String>,
    /// The newest ERP move behind it.
    pub moves: Vec<String>,
    pub at: Timestamp,
    /// The newest write Stockbridge made there (this one, or an earlier one when Shopify already
    /// showed the figure this time).
    #[serde(default)]
    pub last_write: Option<Written>,
}

/// One `available` write to Shopify from the ERP's figure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub before: i64,
    pub after: i64,
    pub key: String,
    pub moves: Vec<String>,
    pub at: Timestamp,
}

/// What Stockbridge keeps per shop, ERP warehouse and ERP item from the feed
/// (`ERP#<shop>#<warehouse>#<item>` in the stock table; the restock is kept under warehouse `*`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErpStockRecord {
    /// The newest on-hand stated and when (facts older than `as_of` are no-ops).
    pub on_hand: Option<Decimal>,
    pub as_of: Option<Timestamp>,
    /// The newest moves behind it (at most [`KEEP_MOVES`]).
    #[serde(default)]
    pub moves: Vec<ErpMove>,
    /// The ERP's reorder point, where it stated one.
    #[serde(default)]
    pub reorder_point: Option<Decimal>,
    /// Per Shopify location (as `"<location>"`): the reorder state.
    #[serde(default)]
    pub reorder: BTreeMap<String, ReorderState>,
    /// Reorder signals decided and not yet on the bus (an outbox: put with the decision, taken
    /// off once published, so a crash between the two publishes it on the next delivery).
    #[serde(default)]
    pub signals: Vec<ReorderSignal>,
    /// Per Shopify item and location (as `"<item>/<location>"`): what Shopify was last told.
    #[serde(default)]
    pub told: BTreeMap<String, Told>,
    /// The next restock (restock records only) and when the ERP stated it.
    #[serde(default)]
    pub restock: Option<Restock>,
    #[serde(default)]
    pub restock_as_of: Option<Timestamp>,
    /// Named item fields (field records only) and when the ERP stated them.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub fields_as_of: Option<Timestamp>,
}

/// How many moves a record keeps for `stock explain`.
pub const KEEP_MOVES: usize = 20;

/// The warehouse under which an item's restock and fields are kept (they are per item).
pub const ITEM_WIDE: &str = "*";

impl ErpStockRecord {
    /// Applies a stock fact if it is newer than what the record holds; false if it is a
    /// duplicate or older (nothing changes).
    pub fn apply_stock(
        &mut self,
        on_hand: Decimal,
        as_of: Timestamp,
        moves: &[ErpMove],
        reorder_point: Option<Decimal>,
    ) -> bool {
        if self.as_of.is_some_and(|t| t >= as_of) {
            return false;
        }
        self.on_hand = Some(on_hand);
        self.as_of = Some(as_of);
        for m in moves {
            if !self.moves.iter().any(|k| k.id == m.id) {
                self.moves.push(m.clone());
            }
        }
        let excess = self.moves.len().saturating_sub(KEEP_MOVES);
        self.moves.drain(..excess);
        if reorder_point.is_some() {
            self.reorder_point = reorder_point;
        }
        true
    }

    /// Applies a restock fact if newer; returns whether the restock changed.
    pub fn apply_restock(&mut self, next: Option<Restock>, as_of: Timestamp) -> bool {
        if self.restock_as_of.is_some_and(|t| t >= as_of) {
            return false;
        }
        self.restock_as_of = Some(as_of);
        let changed = self.restock != next;
        self.restock = next;
        changed
    }

    /// Applies a fields fact if newer; returns the fields whose value changed.
    pub fn apply_fields(
        &mut self,
        fields: &BTreeMap<String, String>,
        as_of: Timestamp,
    ) -> Vec<String> {
        if self.fields_as_of.is_some_and(|t| t >= as_of) {
            return Vec::new();
        }
        self.fields_as_of = Some(as_of);
        let changed = fields
            .iter()
            .filter(|(k, v)| self.fields.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        self.fields.extend(fields.clone());
        changed
    }

    /// The key of what was told for an item at a location.
    pub fn told_key(item: InventoryItemId, location: LocationId) -> String {
        format!("{}/{}", item.0, location.0)
    }
}

/// The idempotency key of Shopify's write at `location` for `item` caused by the ERP's newest
/// move `move_id` at `warehouse`, on try `attempt` (a retry after a stale answer writes other
/// figures, so it needs a key of its own).
pub fn storefront_key(
    warehouse: &str,
    move_id: &str,
    item: InventoryItemId,
    location: LocationId,
    attempt: u32,
) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{warehouse}\n{move_id}\n{item}\n{location}").as_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("sb-erp-{hex}-{attempt}")
}

mod fields;
pub use fields::{FieldLink, FieldMap};

#[cfg(test)]
#[path = "storefront_tests.rs"]
mod tests;
