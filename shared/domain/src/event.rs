//! The internal event: what the webhook function puts on the queue and the stock consumer applies.
//!
//! Lean and versioned (`schema`), documented in `docs/EVENTS.md`. It carries ids, quantities,
//! locations, the payload's own time and the receipt time, and where it came from (topic, webhook
//! id, event id); never names, e-mails, addresses or other personal data. One Shopify delivery can
//! become several parts when it does not fit one queue message; each part has its own
//! idempotency key.

use serde::{Deserialize, Serialize};

use crate::ids::{
    FulfillmentOrderId, InventoryItemId, LineItemId, LocationId, OrderId, ShopDomain, Timestamp,
    VariantId, Version,
};

/// The schema version this build writes. Readers accept this version only and fail loudly (the
/// message goes back to the queue, then to the dead-letter queue) on anything else.
pub const SCHEMA_VERSION: u32 = 1;

/// One unit of work on the queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InventoryEvent {
    pub schema: u32,
    /// Exactly-once key: `shop:webhook_id:part` for a delivery, with a replay suffix for events
    /// that were parked and sent again.
    pub key: String,
    pub shop: ShopDomain,
    pub source: Source,
    pub part: Part,
    pub body: EventBody,
}

/// Where an event came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Shopify topic, e.g. `orders/create`, or `stockbridge/...` for internal sources.
    pub topic: String,
    /// `X-Shopify-Webhook-Id`: unique per delivery.
    pub webhook_id: String,
    /// `X-Shopify-Event-Id`: shared by all deliveries caused by one merchant action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `X-Shopify-Triggered-At`, or the receipt time when absent.
    pub triggered_at: Timestamp,
    /// When our webhook endpoint received it.
    pub received_at: Timestamp,
}

impl Source {
    /// The source of an event Stockbridge makes itself (`stockbridge/<what>`), at `at`.
    pub fn internal(topic: &str, at: Timestamp) -> Self {
        Source {
            topic: topic.to_string(),
            webhook_id: String::new(),
            event_id: None,
            api_version: None,
            triggered_at: at,
            received_at: at,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub index: u32,
    pub count: u32,
}

impl Part {
    pub const WHOLE: Part = Part { index: 0, count: 1 };
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// Changes to stock or to what is known about items.
    Stock { changes: Vec<StockChange> },
    /// `shop/redact`: delete everything kept for the shop. The consumer deletes page by page
    /// within its deadline; when time runs out it sends itself the same event with `resume` set,
    /// and the next invocation carries on (an event without `resume`, as the webhook writes it
    /// and as schema 1 always had it, starts or joins a redaction).
    ShopRedact {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<RedactResume>,
    },
    /// Internal: these stock records still owe the ERP a write (it was down or throttling);
    /// try again. Sent by the consumer to itself with a growing delay.
    ErpRetry {
        keys: Vec<crate::ids::StockKey>,
        attempt: u32,
    },
    /// Internal: take these orders' next steps in the ERP's sales module (the ERP was down,
    /// or an order waited for its routing). Sent by the consumer to itself with a growing
    /// delay.
    SalesRetry { orders: Vec<OrderId>, attempt: u32 },
    /// The ERP's own changes (the two-way direction, [`crate::storefront`]): stock at a
    /// warehouse, restock dates, item fields. From the ERP poller or the ERP's signed webhook, on
    /// the ERP changes queue; applied by the `erp-sync` function. Each fact is an absolute
    /// snapshot, so duplicates and replays change nothing. `attempt` counts the sync's own
    /// retries of the same facts (0 as the feed sends them).
    ErpChange {
        changes: Vec<crate::storefront::ErpChange>,
        #[serde(default)]
        attempt: u32,
    },
    /// Internal: read these from the Admin API and apply what Shopify says (a batch left them
    /// to read and the read failed or could not be afforded). Sent by the consumer to itself
    /// with a growing delay; stock left unexplained meanwhile tells the ERP nothing.
    Refresh {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fulfillment_orders: Vec<FulfillmentOrderId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        levels: Vec<crate::ids::StockKey>,
        attempt: u32,
    },
}

/// Where a continued `shop/redact` carries on: the redaction it continues (the key of the
/// `shop/redact` event that started it) and the store's position after its last page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactResume {
    pub run: String,
    pub cursor: RedactCursor,
}

/// A store's position in a paged redaction: opaque outside the adapter that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedactCursor(pub String);

/// One fact about stock, as Shopify stated it. Facts are absolute snapshots with a [`Version`],
/// so applying one twice, or an older one after a newer one, changes nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StockChange {
    /// `inventory_levels/update|connect`: the `available` quantity at one location. `None` is
    /// Shopify's `available: null` (quantity not tracked there): recorded as untracked, 0.
    Available {
        item: InventoryItemId,
        location: LocationId,
        available: Option<i64>,
        version: Version,
        #[serde(default)]
        connect: bool,
    },
    /// `inventory_levels/disconnect`: the item is no longer stocked at the location.
    Disconnected {
        item: InventoryItemId,
        location: LocationId,
        version: Version,
    },
    /// The open (unfulfilled, not cancelled or removed) quantity of one order line: what Shopify
    /// counts as `committed`. From every `orders/*` payload.
    Commitment {
        order: OrderId,
        line: LineItemId,
        item: ItemRef,
        /// Where the order says it is fulfilled from, when it says so.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<LocationId>,
        open: i64,
        version: Version,
    },
    /// A physical movement Shopify reported (fulfilment, restock). Quantities already follow from
    /// the levels and commitments above; this records the cause for the log and the ERP.
    Movement {
        /// Which Shopify line moved: `fulfillment:<id>:<line>` or `refund:<id>:<refund line>`.
        /// The newest snapshot per movement counts, so a fulfilment seen through
        /// `fulfillments/create` and `/update` moves stock once.
        movement: String,
        kind: MovementKind,
        reference: String,
        item: ItemRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<LocationId>,
        quantity: i64,
        version: Version,
        /// The order and order line it moved (the order flow carries it as the ERP sales
        /// order's own shipment or return when the order is in the ERP). Absent in events
        /// written before the order flow.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order: Option<OrderId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<LineItemId>,
    },
    /// From every `orders/*` payload (`orders/paid` included): what the order flow needs to
    /// place the order in the ERP as a sales order. Ids, the order's number, its payment and
    /// test flags and its lines; never a customer's name, e-mail, address or phone.
    SalesOrder {
        order: OrderId,
        /// Shopify's `name`, e.g. `#1001`.
        number: String,
        /// `financial_status` as Shopify spells it (`pending`, `authorized`, `partially_paid`,
        /// `paid`, `partially_refunded`, `refunded`, `voided`, `expired`); `None` when the
        /// payload has none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payment: Option<String>,
        test: bool,
        cancelled: bool,
        /// Where the order says it is fulfilled from (POS orders name their location).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<LocationId>,
        lines: Vec<SalesOrderLine>,
        version: Version,
    },
    /// Internal (the order flow's): these movements of the order could not be carried by its
    /// ERP sales order (the ERP refused the shipment, the return or the order itself); the
    /// stock push moves them instead.
    SalesRelease {
        order: OrderId,
        movements: Vec<String>,
        version: Version,
    },
    /// `fulfillment_orders/*`: these fulfillment orders changed (routed, moved, held, released,
    /// cancelled, split, merged). The payloads name them but not their lines, so nothing moves
    /// yet: the consumer reads them ([`StockChange::FulfillmentOrder`]).
    FulfillmentOrdersChanged {
        fulfillment_orders: Vec<FulfillmentOrderId>,
        version: Version,
    },
    /// Read from the Admin API: one fulfillment order as it is now (its assigned location,
    /// whether it is still to be fulfilled, and the quantity of each order line it still has
    /// to fulfil). Versioned by the time of the read.
    FulfillmentOrder {
        fulfillment_order: FulfillmentOrderId,
        order: OrderId,
        location: LocationId,
        /// False once closed or cancelled: its lines commit nothing any more.
        open: bool,
        lines: Vec<FulfillmentOrderLine>,
        version: Version,
    },
    /// Read from the Admin API: every quantity name of one item at one location (`None`: no
    /// level there, the item is not stocked at the location). Versioned by the time of the read.
    Quantities {
        item: InventoryItemId,
        location: LocationId,
        quantities: Option<ShopifyQuantities>,
        version: Version,
    },
    /// From the ERP sync: the ERP booked `quantity` units (Shopify units, signed: + into, −
    /// out of) at this Shopify-master location by the transfer `transfer` (its move id). When
    /// Shopify's on-hand there moves the same way (the shop floor receives, or sends off, the
    /// goods), that change is not told to the ERP again: the ERP already has it. Applied once
    /// per event key (`<shop>:erp-transfer:<move>:<location>`).
    ErpTransfer {
        item: InventoryItemId,
        location: LocationId,
        quantity: i64,
        transfer: String,
        version: Version,
    },
    /// `inventory_items/create|update|delete`: what Shopify says about the item itself.
    Item {
        item: InventoryItemId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sku: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tracked: Option<bool>,
        deleted: bool,
        version: Version,
    },
}

/// One line of a [`StockChange::SalesOrder`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesOrderLine {
    pub line: LineItemId,
    /// The product, for goods (`None` for a line with neither variant nor SKU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemRef>,
    /// Units the order holds now (`current_quantity`: after edits and removals; `quantity`
    /// where the payload has no `current_quantity`).
    pub quantity: i64,
    pub kind: SalesLineKind,
}

/// What an order line is, for the ERP's sales order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SalesLineKind {
    /// Stocked goods: a sales order line through the SKU map.
    Goods,
    /// A gift card: never an ERP line.
    GiftCard,
    /// No product behind it (a custom item, a tip): never an ERP line.
    NotStocked,
}

/// One order line on a fulfillment order: how many units it still has to fulfil there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentOrderLine {
    pub line: LineItemId,
    pub item: InventoryItemId,
    pub remaining: i64,
}

/// Shopify's quantity names at one item and location, as the Admin API reads them
/// (`InventoryLevel.quantities`). `on_hand = available + committed + reserved + damaged +
/// safety_stock + quality_control`; `incoming` is not on hand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopifyQuantities {
    pub available: i64,
    pub committed: i64,
    pub on_hand: i64,
    pub reserved: i64,
    pub damaged: i64,
    pub safety_stock: i64,
    pub quality_control: i64,
    pub incoming: i64,
}

impl ShopifyQuantities {
    /// The names as Shopify spells them, in the order of the fields.
    pub const NAMES: [&'static str; 8] = [
        "available",
        "committed",
        "on_hand",
        "reserved",
        "damaged",
        "safety_stock",
        "quality_control",
        "incoming",
    ];

    /// Sets the quantity called `name`; false for a name this does not know.
    pub fn set(&mut self, name: &str, quantity: i64) -> bool {
        let slot = match name {
            "available" => &mut self.available,
            "committed" => &mut self.committed,
            "on_hand" => &mut self.on_hand,
            "reserved" => &mut self.reserved,
            "damaged" => &mut self.damaged,
            "safety_stock" => &mut self.safety_stock,
            "quality_control" => &mut self.quality_control,
            "incoming" => &mut self.incoming,
            _ => return false,
        };
        *slot = quantity;
        true
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    Fulfilled,
    FulfillmentCancelled,
    RestockedReturn,
    RestockedCancel,
    RemovedNoRestock,
}

/// How an order line names its product: Shopify order lines carry the variant and SKU, not the
/// inventory item. Resolved through the SKU map.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
}

impl StockChange {
    pub fn version(&self) -> Version {
        match self {
            StockChange::Available { version, .. }
            | StockChange::Disconnected { version, .. }
            | StockChange::Commitment { version, .. }
            | StockChange::Movement { version, .. }
            | StockChange::SalesOrder { version, .. }
            | StockChange::SalesRelease { version, .. }
            | StockChange::FulfillmentOrdersChanged { version, .. }
            | StockChange::FulfillmentOrder { version, .. }
            | StockChange::Quantities { version, .. }
            | StockChange::ErpTransfer { version, .. }
            | StockChange::Item { version, .. } => *version,
        }
    }
}

/// Strips a replay suffix: `shop:webhook:0~r2` -> `shop:webhook:0`.
pub fn base_key(key: &str) -> &str {
    key.split_once("~r").map_or(key, |(base, _)| base)
}

/// The key under which a parked event is sent again: one more replay than it had.
pub fn replay_key(key: &str) -> String {
    let next = key
        .split_once("~r")
        .and_then(|(_, n)| n.parse::<u32>().ok())
        .map_or(1, |n| n + 1);
    format!("{}~r{next}", base_key(key))
}

impl InventoryEvent {
    /// The idempotency key of a Shopify delivery part.
    pub fn delivery_key(shop: &ShopDomain, webhook_id: &str, part: Part) -> String {
        format!("{shop}:{webhook_id}:{}", part.index)
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a queue message body, refusing other schema versions.
    pub fn from_json(text: &str) -> Result<Self, EventDecodeError> {
        #[derive(Deserialize)]
        struct Probe {
            schema: u32,
        }
        let probe: Probe =
            serde_json::from_str(text).map_err(|e| EventDecodeError::Malformed(e.to_string()))?;
        if probe.schema != SCHEMA_VERSION {
            return Err(EventDecodeError::UnknownSchema(probe.schema));
        }
        serde_json::from_str(text).map_err(|e| EventDecodeError::Malformed(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventDecodeError {
    #[error("queue message is not an inventory event: {0}")]
    Malformed(String),
    #[error("inventory event schema {0} is not understood by this build (expects {SCHEMA_VERSION}); deploy a matching consumer")]
    UnknownSchema(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shop_redact_of_schema_1_reads_as_a_fresh_redaction_and_a_continuation_round_trips() {
        let body: EventBody = serde_json::from_str(r#"{"kind":"shop_redact"}"#).unwrap();
        assert_eq!(body, EventBody::ShopRedact { resume: None });
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"kind":"shop_redact"}"#
        );
        let resumed = EventBody::ShopRedact {
            resume: Some(RedactResume {
                run: "s:w:0".into(),
                cursor: RedactCursor("c".into()),
            }),
        };
        let text = serde_json::to_string(&resumed).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"shop_redact","resume":{"run":"s:w:0","cursor":"c"}}"#
        );
        assert_eq!(serde_json::from_str::<EventBody>(&text).unwrap(), resumed);
        // A reader from before `resume` (a unit variant) takes a continuation as a fresh
        // request, which deletes the same records, only from the start.
        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Before {
            ShopRedact,
        }
        assert_eq!(
            serde_json::from_str::<Before>(&text).unwrap(),
            Before::ShopRedact
        );
    }

    #[test]
    fn replay_keys_count_up_from_the_delivery_key() {
        assert_eq!(replay_key("s:w:0"), "s:w:0~r1");
        assert_eq!(replay_key("s:w:0~r1"), "s:w:0~r2");
        assert_eq!(base_key("s:w:0~r9"), "s:w:0");
    }
}
