//! Shopify orders as ERP sales orders (ARCHITECTURE.md, "Orders into the ERP"), all pure.
//!
//! Owns: the shop's setting ([`SalesSettings`]); whether an order goes to the ERP
//! ([`decide`]: the setting, the payment, test orders); the record kept per order
//! ([`SalesRecord`]); the **one-movement rule** ([`SalesRecord::carries`]: a fulfilment or
//! restocked return of an order the ERP holds, or may yet hold, as a sales order is carried by
//! that order and left out of the stock push; an order that turns out never to go gives its
//! movements back to the stock push, [`SalesRecord::observe`]); and what the order flow must
//! ask of the ERP next ([`next_steps`]).
//!
//! The record is one per Shopify order, in the stock table, written in the same transaction as
//! the stock facts that change it (so a movement is carried or pushed exactly once) and by the
//! order flow after each ERP call (conditional on its revision).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::SalesLineKind;
use crate::ids::{
    InventoryItemId, LineItemId, LocationId, OrderId, ShopDomain, StockKey, Timestamp, Version,
};

/// The shop's setting for the order flow, read from the SKU map table on every batch (so it
/// changes without a redeploy). Off unless the shop turned it on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesSettings {
    /// Paid orders become ERP sales orders.
    pub enabled: bool,
    /// `authorized` payments count as paid (for shops that capture on fulfilment).
    #[serde(default)]
    pub authorized: bool,
}

/// Whether an order goes to the ERP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Decision {
    /// No order snapshot yet (a movement came first).
    #[default]
    Undecided,
    /// Not yet: the reason (payment pending, authorized only, no known status).
    Waits { reason: String },
    /// It goes; `since` is when that was decided (the receipt of the payment's webhook).
    Goes { since: Timestamp },
    /// It never goes: test order, payment voided, cancelled before payment, the setting off.
    Never { reason: String },
}

/// A goods line of the order, mapped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodsLine {
    pub item: InventoryItemId,
    /// Units the order holds now (`current_quantity`).
    pub quantity: i64,
}

/// A movement of the order carried by its sales order: where it happened and what it means
/// for the ERP's count (shipped: minus; restocked: plus), and how much of that the ERP's
/// sales order has carried out (`told`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    pub key: StockKey,
    pub line: LineItemId,
    pub effect: i64,
    #[serde(default)]
    pub told: i64,
    /// Given back to the stock push because the ERP order could not carry it (the ERP
    /// refused its shipment, return or placement): the stock push moves it instead.
    #[serde(default)]
    pub released: i64,
}

impl Carried {
    /// What the ERP order still has to carry out of this movement.
    pub fn due(&self) -> i64 {
        self.effect - self.told - self.released
    }
}

/// A sales order placed in the ERP at one warehouse: its reference and the lines it was given
/// (Shopify units).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    pub reference: String,
    pub lines: BTreeMap<LineItemId, i64>,
    #[serde(default)]
    pub cancelled: bool,
}

/// Everything kept about one Shopify order for the order flow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesRecord {
    /// Shopify's order number (`#1001`).
    pub number: Option<String>,
    /// Version of the newest order snapshot applied.
    pub version: Option<Version>,
    pub payment: Option<String>,
    pub test: bool,
    pub cancelled: bool,
    /// Units of lines that are not goods (gift cards, tips, custom items): skipped by rule.
    #[serde(default)]
    pub skipped_lines: u32,
    pub goods: BTreeMap<LineItemId, GoodsLine>,
    pub decision: Decision,
    /// Movements carried, by movement id (`fulfillment:<id>:<line>`, `refund:<id>:<line>`).
    pub carried: BTreeMap<String, Carried>,
    /// ERP sales orders placed, by ERP warehouse.
    pub placed: BTreeMap<String, Placed>,
    /// Steps the ERP refused for good (their keys), with the reason: for an operator.
    pub exceptions: BTreeMap<String, String>,
    /// When the ERP order was first confirmed (for the payment-to-ERP latency).
    pub confirmed_at: Option<Timestamp>,
    /// Which order-flow run may call the ERP for this order, until when (the ERP's references
    /// are not unique, so one caller at a time).
    #[serde(default)]
    pub lease: Option<Lease>,
}

/// The right of one order-flow run to call the ERP for an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    pub until: Timestamp,
}

/// An order snapshot, resolved through the SKU map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderSnapshot {
    pub number: String,
    pub payment: Option<String>,
    pub test: bool,
    pub cancelled: bool,
    /// Goods lines with their mapped item and units; lines of other kinds are counted only.
    pub lines: Vec<(LineItemId, Option<InventoryItemId>, i64, SalesLineKind)>,
    pub version: Version,
}

/// What applying an order snapshot gave back to the stock push: movements carried so far that
/// the order will never carry (it turned out not to go), per stock record (effects to add
/// back to what the ERP is owed there).
pub type Released = Vec<(StockKey, i64)>;

/// Whether an order goes, given its snapshot so far and the shop's setting. `Goes` and
/// `Never` are final: an order placed stays placed, one refused stays refused.
pub fn decide(record: &SalesRecord, settings: SalesSettings, at: Timestamp) -> Decision {
    match &record.decision {
        d @ (Decision::Goes { .. } | Decision::Never { .. }) => return d.clone(),
        Decision::Undecided | Decision::Waits { .. } => {}
    }
    if record.version.is_none() {
        return Decision::Undecided;
    }
    let never = |reason: &str| Decision::Never {
        reason: reason.to_string(),
    };
    if !settings.enabled {
        return never("sales orders are off for the shop");
    }
    if record.test {
        return never("a test order");
    }
    let payment = record.payment.as_deref();
    let goes = match payment {
        Some("paid" | "partially_paid" | "partially_refunded" | "refunded") => true,
        Some("authorized") => settings.authorized,
        _ => false,
    };
    if goes {
        return Decision::Goes { since: at };
    }
    if record.cancelled {
        return never("cancelled before payment");
    }
    match payment {
        Some("voided" | "expired") => never("payment voided"),
        Some("authorized") => Decision::Waits {
            reason: "payment authorized; the shop sends paid orders only".into(),
        },
        Some("pending") => Decision::Waits {
            reason: "payment pending".into(),
        },
        Some(other) => Decision::Waits {
            reason: format!("unknown financial_status {other:?}"),
        },
        None => Decision::Waits {
            reason: "the order names no financial_status".into(),
        },
    }
}

impl SalesRecord {
    /// Whether a movement of this order is carried by its sales order rather than pushed as
    /// stock: yes unless the order never goes.
    pub fn carries(&self) -> bool {
        !matches!(self.decision, Decision::Never { .. })
    }

    /// Applies an order snapshot (a no-op when not newer) and decides again. Returns the
    /// movements given back to the stock push when the order turned out never to go.
    pub fn observe(
        &mut self,
        snapshot: &OrderSnapshot,
        settings: SalesSettings,
        at: Timestamp,
    ) -> Option<Released> {
        if self.version.is_some_and(|v| snapshot.version <= v) {
            return None;
        }
        self.version = Some(snapshot.version);
        self.number = Some(snapshot.number.clone());
        self.payment = snapshot.payment.clone();
        self.test = snapshot.test;
        self.cancelled = snapshot.cancelled;
        self.goods.clear();
        self.skipped_lines = 0;
        for (line, item, quantity, kind) in &snapshot.lines {
            match (kind, item) {
                (SalesLineKind::Goods, Some(item)) => {
                    self.goods.insert(
                        *line,
                        GoodsLine {
                            item: *item,
                            quantity: *quantity,
                        },
                    );
                }
                _ => self.skipped_lines += 1,
            }
        }
        let was_carrying = self.carries();
        self.decision = decide(self, settings, at);
        let mut released = Vec::new();
        if was_carrying && !self.carries() {
            for c in std::mem::take(&mut self.carried).into_values() {
                released.push((c.key.clone(), c.due()));
            }
        }
        Some(released)
    }

    /// Notes a movement carried by this order (its newest snapshot).
    pub fn carry(&mut self, movement: &str, key: StockKey, line: LineItemId, effect: i64) {
        let (told, released) = self
            .carried
            .get(movement)
            .map_or((0, 0), |c| (c.told, c.released));
        self.carried.insert(
            movement.to_string(),
            Carried {
                key,
                line,
                effect,
                told,
                released,
            },
        );
    }

    /// Gives back to the stock push what these movements still owe the ERP order (it could not
    /// carry them); returns it per stock record.
    pub fn release(&mut self, movements: &[String]) -> Released {
        let mut out = Vec::new();
        for id in movements {
            if let Some(c) = self.carried.get_mut(id) {
                let due = c.due();
                if due != 0 {
                    c.released += due;
                    out.push((c.key.clone(), due));
                }
            }
        }
        out
    }

    /// Anything shipped under the order in the ERP so far (its lines are final from then on).
    pub fn shipped_any(&self) -> bool {
        self.carried.values().any(|c| c.told < 0)
    }
}

/// A sales order as the ERP should hold it at one warehouse (Shopify units, mapped items).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantedOrder {
    pub warehouse: String,
    pub reference: String,
    pub lines: BTreeMap<LineItemId, (InventoryItemId, i64)>,
}

/// One thing the order flow asks of the ERP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SalesStep {
    Place(WantedOrder),
    Revise(WantedOrder),
    Cancel {
        warehouse: String,
        reference: String,
    },
    /// Ship (`units` > 0) or take back (`units` < 0 means back into stock) under the order.
    Move {
        warehouse: String,
        reference: String,
        movement: String,
        key: String,
        line: LineItemId,
        item: InventoryItemId,
        /// Change of the ERP's count, Shopify units: minus ships, plus takes back.
        change: i64,
    },
}

impl SalesStep {
    /// A key naming the step, for the exceptions it may leave.
    pub fn name(&self) -> String {
        match self {
            SalesStep::Place(w) => format!("place {}", w.reference),
            SalesStep::Revise(w) => {
                let lines: Vec<String> = w
                    .lines
                    .iter()
                    .map(|(l, (_, q))| format!("{l}={q}"))
                    .collect();
                format!("revise {} to {}", w.reference, lines.join(","))
            }
            SalesStep::Cancel { reference, .. } => format!("cancel {reference}"),
            SalesStep::Move { key, .. } => format!("move {key}"),
        }
    }
}

/// Why the order flow cannot take a step yet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Wait {
    #[error("waits: {0}")]
    Decision(String),
    #[error("line {0} is not yet assigned to a location (its routing is read next)")]
    Routing(LineItemId),
    #[error("location {0} has no ERP warehouse in the SKU map")]
    Unmapped(LocationId),
}

/// The reference of the ERP sales order of `order` at `warehouse`.
pub fn reference(shop: &ShopDomain, order: OrderId, warehouse: &str) -> String {
    format!("shopify:{shop}:{order}:{warehouse}")
}

/// What the order flow must ask of the ERP next, from the record, where each goods line
/// counts now (`counted`: Shopify's assignment, per location, from the order line records) and
/// the warehouse of each location. Steps the ERP refused for good are not asked again.
pub fn next_steps(
    shop: &ShopDomain,
    order: OrderId,
    record: &SalesRecord,
    counted: &BTreeMap<LineItemId, BTreeMap<LocationId, i64>>,
    warehouse_of: impl Fn(LocationId) -> Option<String>,
) -> Result<Vec<SalesStep>, Wait> {
    match &record.decision {
        Decision::Goes { .. } => {}
        Decision::Never { .. } => return Ok(Vec::new()),
        Decision::Undecided => return Err(Wait::Decision("no order snapshot yet".into())),
        Decision::Waits { reason } => return Err(Wait::Decision(reason.clone())),
    }
    let mut steps = Vec::new();
    if !record.shipped_any() && !record.cancelled {
        let (wanted, consistent) = wanted_orders(shop, order, record, counted, &warehouse_of)?;
        // Edits are followed before anything shipped, and only from a consistent picture.
        let may_edit = consistent && record.carried.values().all(|c| c.effect == 0);
        for (warehouse, w) in &wanted {
            match record.placed.get(warehouse) {
                None => steps.push(SalesStep::Place(w.clone())),
                Some(p) if p.cancelled || !may_edit => {}
                Some(p) => {
                    let now: BTreeMap<LineItemId, i64> =
                        w.lines.iter().map(|(l, (_, q))| (*l, *q)).collect();
                    if now != p.lines {
                        steps.push(SalesStep::Revise(w.clone()));
                    }
                }
            }
        }
        for (warehouse, p) in &record.placed {
            if may_edit && !wanted.contains_key(warehouse) && !p.cancelled {
                steps.push(SalesStep::Cancel {
                    warehouse: warehouse.clone(),
                    reference: p.reference.clone(),
                });
            }
        }
    }
    if record.cancelled {
        // Asked even where goods shipped: the ERP refuses, and the refusal is the exception an
        // operator settles (what shipped stays shipped).
        for (warehouse, p) in &record.placed {
            if !p.cancelled {
                steps.push(SalesStep::Cancel {
                    warehouse: warehouse.clone(),
                    reference: p.reference.clone(),
                });
            }
        }
    }
    for (movement, c) in &record.carried {
        let change = c.due();
        if change == 0 {
            continue;
        }
        let warehouse = warehouse_of(c.key.location).ok_or(Wait::Unmapped(c.key.location))?;
        let Some(p) = record.placed.get(&warehouse) else {
            // Placed with the rest once the order is placed there.
            continue;
        };
        steps.push(SalesStep::Move {
            warehouse,
            reference: p.reference.clone(),
            movement: movement.clone(),
            key: format!("shopify:{shop}:{movement}:{}:{}", c.told, c.effect),
            line: c.line,
            item: c.key.item,
            change,
        });
    }
    steps.retain(|s| !record.exceptions.contains_key(&s.name()));
    Ok(steps)
}

/// The sales orders the record calls for, one per warehouse: each goods line's units where
/// Shopify counts them, plus those already shipped from a location (carried movements).
fn wanted_orders(
    shop: &ShopDomain,
    order: OrderId,
    record: &SalesRecord,
    counted: &BTreeMap<LineItemId, BTreeMap<LocationId, i64>>,
    warehouse_of: &impl Fn(LocationId) -> Option<String>,
) -> Result<(BTreeMap<String, WantedOrder>, bool), Wait> {
    let mut wanted: BTreeMap<String, WantedOrder> = BTreeMap::new();
    let mut consistent = true;
    for (line, goods) in &record.goods {
        if goods.quantity <= 0 {
            continue;
        }
        // Units already shipped where they left (facts), then open units where they count.
        let mut shipped: BTreeMap<LocationId, i64> = BTreeMap::new();
        for c in record
            .carried
            .values()
            .filter(|c| c.line == *line && c.effect < 0)
        {
            *shipped.entry(c.key.location).or_default() -= c.effect;
        }
        let open = counted.get(line).cloned().unwrap_or_default();
        let assigned: i64 = shipped
            .values()
            .chain(open.values())
            .filter(|q| **q > 0)
            .sum();
        if assigned < goods.quantity {
            return Err(Wait::Routing(*line));
        }
        // More assigned than ordered: one snapshot is behind another (a shipment seen before
        // the order's update). Shipped units count first, and the order's count wins.
        consistent &= assigned == goods.quantity;
        let mut at: BTreeMap<LocationId, i64> = BTreeMap::new();
        let mut left = goods.quantity;
        for (location, q) in shipped.into_iter().chain(open) {
            let take = q.max(0).min(left);
            left -= take;
            *at.entry(location).or_default() += take;
        }
        at.retain(|_, q| *q > 0);
        for (location, units) in at {
            let warehouse = warehouse_of(location).ok_or(Wait::Unmapped(location))?;
            let w = wanted
                .entry(warehouse.clone())
                .or_insert_with(|| WantedOrder {
                    reference: reference(shop, order, &warehouse),
                    warehouse,
                    lines: BTreeMap::new(),
                });
            w.lines.entry(*line).or_insert((goods.item, 0)).1 += units;
        }
    }
    Ok((wanted, consistent))
}

#[cfg(test)]
#[path = "sales_tests.rs"]
mod tests;
