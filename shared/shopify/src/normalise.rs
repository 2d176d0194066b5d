//! A verified delivery becomes internal events, or a reason it cannot be used.
//!
//! The event keeps ids, quantities, locations and times; nothing personal. Every `orders/*`
//! delivery gives each stocked line's commitment and, last, one sales order
//! ([`StockChange::SalesOrder`], built in `normalise/sales.rs`) for the ERP's order flow. Orders with more lines
//! than fit one queue message are split into parts, never truncated. A `fulfillment_orders/*`
//! delivery becomes one change naming the fulfillment orders it changed, versioned by Shopify's
//! trigger time (those payloads carry no time of their own).

use std::collections::BTreeSet;

use stockbridge_domain::event::{
    EventBody, InventoryEvent, ItemRef, MovementKind, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{
    FulfillmentOrderId, InventoryItemId, LineItemId, LocationId, OrderId, ShopDomain, Timestamp,
    VariantId, Version,
};

use stockbridge_domain::stock::MAX_QUANTITY;

use crate::payload::{self, Invalid};
use crate::topic::Topic;

mod sales;
use sales::SalesOrderError;

/// At most this many changes go in one queue message. A part then needs at most 1 + 5 x 19
/// DynamoDB transaction actions (idempotency record; per line its record, the levels it leaves
/// and joins, and their log entries), inside the limit of 100, and stays far below the 256 KB
/// message limit.
pub const MAX_CHANGES_PER_PART: usize = 19;

/// What Shopify sent, after its signature was verified.
#[derive(Clone, Debug)]
pub struct Delivery<'a> {
    pub shop: &'a ShopDomain,
    pub topic: &'a str,
    pub webhook_id: &'a str,
    pub event_id: Option<&'a str>,
    pub api_version: Option<&'a str>,
    pub triggered_at: Option<Timestamp>,
    pub received_at: Timestamp,
    pub body: &'a [u8],
}

/// What to do with a delivery.
#[derive(Clone, Debug, PartialEq)]
pub enum Normalised {
    /// Enqueue these (none when the delivery moves no stock, e.g. a pending fulfilment).
    Events(Vec<InventoryEvent>),
    /// A privacy request about customers: nothing personal is kept, so there is nothing to do
    /// but acknowledge it.
    Acknowledge(&'static str),
}

/// Why an authentic delivery cannot be used. It is answered 2xx (so Shopify keeps the
/// subscription) and kept in quarantine with this reason for an operator to replay. The texts
/// never quote the body: a JSON error says where (line and column) and what kind, not what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("body is not valid JSON for {topic}: {detail}")]
    BadJson { topic: String, detail: String },
    #[error("topic {} is not one Stockbridge handles", shown(.0))]
    UnhandledTopic(String),
    #[error("payload for {topic} cannot be mapped: {detail}")]
    Unmappable { topic: String, detail: String },
    #[error("payload for {topic} is refused ({}): {detail}", .problem.code())]
    Invalid {
        problem: Problem,
        topic: String,
        detail: String,
    },
}

/// What is wrong with a body that parses far enough to tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not UTF-8, a byte-order mark, or compressed bytes.
    BadEncoding,
    /// The body is JSON but not an object.
    NotAnObject,
    /// A declared field of the wrong type (text, flag, list or object).
    BadField,
    /// An id that is not a non-negative integer, a numeric string or a gid.
    BadId,
    /// A quantity that is not an integer within 64 bits (a float, a fraction, text).
    BadQuantity,
    /// A quantity beyond [`MAX_QUANTITY`] either way.
    QuantityOutOfRange,
    /// A line or movement quantity below 0.
    NegativeQuantity,
    /// An id too long to be part of a DynamoDB key ([`MAX_ID_BYTES`], [`MAX_SKU_BYTES`]).
    KeyTooLong,
}

impl Problem {
    pub fn code(self) -> &'static str {
        match self {
            Problem::BadEncoding => "bad_encoding",
            Problem::NotAnObject => "not_an_object",
            Problem::BadField => "bad_field",
            Problem::BadId => "bad_id",
            Problem::BadQuantity => "bad_quantity",
            Problem::QuantityOutOfRange => "quantity_out_of_range",
            Problem::NegativeQuantity => "negative_quantity",
            Problem::KeyTooLong => "key_too_long",
        }
    }
}

/// The longest `X-Shopify-Webhook-Id` taken: it is part of the event key (`shop:id:part`), and a
/// DynamoDB partition key holds at most 2,048 bytes. Shopify's ids are UUIDs (36 bytes).
pub const MAX_ID_BYTES: usize = 256;
/// The longest SKU taken: SKUs are looked up by key (`SKU#<shop>#<SKU>`). Shopify's SKUs have
/// at most 255 characters, 1,020 bytes of UTF-8.
pub const MAX_SKU_BYTES: usize = 1024;

/// A header value as an error message shows it: at most 64 characters.
fn shown(text: &str) -> String {
    let short: String = text.chars().take(64).collect();
    if short.len() < text.len() {
        format!("{short:?}... ({} bytes)", text.len())
    } else {
        format!("{short:?}")
    }
}

impl Unusable {
    /// A short machine-readable reason, for metrics and the quarantine listing.
    pub fn code(&self) -> &'static str {
        match self {
            Unusable::BadJson { .. } => "bad_json",
            Unusable::UnhandledTopic(_) => "unhandled_topic",
            Unusable::Unmappable { .. } => "unmappable",
            Unusable::Invalid { problem, .. } => problem.code(),
        }
    }

    /// True when the body could not be read as the topic's JSON at all (it is kept as it came,
    /// since it cannot be redacted field by field).
    pub fn unreadable(&self) -> bool {
        matches!(
            self,
            Unusable::BadJson { .. }
                | Unusable::Invalid {
                    problem: Problem::BadEncoding,
                    ..
                }
        )
    }
}

/// Normalises one delivery.
pub fn normalise(d: &Delivery<'_>) -> Result<Normalised, Unusable> {
    let Some(topic) = Topic::parse(d.topic) else {
        return Err(Unusable::UnhandledTopic(d.topic.to_string()));
    };
    let invalid = |problem: Problem, detail: String| Unusable::Invalid {
        problem,
        topic: topic.to_string(),
        detail,
    };
    if d.webhook_id.len() > MAX_ID_BYTES {
        return Err(invalid(
            Problem::KeyTooLong,
            format!(
                "X-Shopify-Webhook-Id has {} bytes, at most {MAX_ID_BYTES} make a key",
                d.webhook_id.len()
            ),
        ));
    }
    check_encoding(d.body).map_err(|detail| invalid(Problem::BadEncoding, detail.into()))?;
    let triggered = d.triggered_at.unwrap_or(d.received_at);
    let unmappable = |detail: &str| Unusable::Unmappable {
        topic: topic.to_string(),
        detail: detail.to_string(),
    };
    let version_of = |times: &[&Option<String>]| {
        let as_of = times
            .iter()
            .find_map(|t| t.as_deref().and_then(Timestamp::parse))
            .unwrap_or(triggered);
        Version::new(as_of, triggered)
    };
    // A quantity Stockbridge can add up: within MAX_QUANTITY; lines and movements not negative.
    let quantity = |what: &str, q: Option<i64>, signed: bool| -> Result<(), Unusable> {
        match q {
            Some(q) if q.unsigned_abs() > MAX_QUANTITY as u64 => Err(invalid(
                Problem::QuantityOutOfRange,
                format!("{what} is beyond ±{MAX_QUANTITY}"),
            )),
            Some(q) if q < 0 && !signed => Err(invalid(
                Problem::NegativeQuantity,
                format!("{what} is negative"),
            )),
            _ => Ok(()),
        }
    };
    let line_checks = |line: &payload::LineItem| -> Result<(), Unusable> {
        quantity("a line's quantity", line.quantity, false)?;
        quantity("a line's current_quantity", line.current_quantity, false)?;
        quantity(
            "a line's fulfillable_quantity",
            line.fulfillable_quantity,
            false,
        )?;
        check_sku(line.sku.as_deref()).map_err(|detail| invalid(Problem::KeyTooLong, detail))
    };

    let changes: Vec<StockChange> = match topic {
        Topic::CustomersDataRequest => {
            parse_json::<serde::de::IgnoredAny>(topic, d.body)?;
            return Ok(Normalised::Acknowledge(
                "customers/data_request: Stockbridge holds no customer data",
            ));
        }
        Topic::CustomersRedact => {
            parse_json::<serde::de::IgnoredAny>(topic, d.body)?;
            return Ok(Normalised::Acknowledge(
                "customers/redact: Stockbridge holds no customer data",
            ));
        }
        Topic::ShopRedact => {
            parse_json::<serde::de::IgnoredAny>(topic, d.body)?;
            return Ok(Normalised::Events(vec![event(
                d,
                topic,
                Part::WHOLE,
                EventBody::ShopRedact { resume: None },
            )]));
        }
        Topic::InventoryLevelsUpdate | Topic::InventoryLevelsConnect => {
            let p: payload::InventoryLevel = parse_json(topic, d.body)?;
            let item = p
                .inventory_item_id
                .ok_or_else(|| unmappable("no inventory_item_id"))?;
            let location = p.location_id.ok_or_else(|| unmappable("no location_id"))?;
            quantity("available", p.available, true)?;
            vec![StockChange::Available {
                item: InventoryItemId(item),
                location: LocationId(location),
                available: p.available,
                version: version_of(&[&p.updated_at]),
                connect: topic == Topic::InventoryLevelsConnect,
            }]
        }
        Topic::InventoryLevelsDisconnect => {
            let p: payload::InventoryLevel = parse_json(topic, d.body)?;
            let item = p
                .inventory_item_id
                .ok_or_else(|| unmappable("no inventory_item_id"))?;
            let location = p.location_id.ok_or_else(|| unmappable("no location_id"))?;
            vec![StockChange::Disconnected {
                item: InventoryItemId(item),
                location: LocationId(location),
                version: version_of(&[&p.updated_at]),
            }]
        }
        Topic::InventoryItemsCreate | Topic::InventoryItemsUpdate | Topic::InventoryItemsDelete => {
            let p: payload::InventoryItem = parse_json(topic, d.body)?;
            let item = p.id.ok_or_else(|| unmappable("no id"))?;
            check_sku(p.sku.as_deref()).map_err(|detail| invalid(Problem::KeyTooLong, detail))?;
            vec![StockChange::Item {
                item: InventoryItemId(item),
                sku: p.sku.filter(|s| !s.trim().is_empty()),
                tracked: p.tracked,
                deleted: topic == Topic::InventoryItemsDelete,
                version: version_of(&[&p.updated_at, &p.created_at]),
            }]
        }
        Topic::OrdersCreate
        | Topic::OrdersUpdated
        | Topic::OrdersPaid
        | Topic::OrdersCancelled
        | Topic::OrdersFulfilled
        | Topic::OrdersPartiallyFulfilled => {
            let p: payload::Order = parse_json(topic, d.body)?;
            let order = p.id.ok_or_else(|| unmappable("no order id"))?;
            let version = version_of(&[&p.updated_at, &p.created_at]);
            let cancelled = p.cancelled_at.is_some();
            let mut changes = Vec::with_capacity(p.line_items.len());
            for line in &p.line_items {
                line_checks(line)?;
                let Some(item) = item_ref(line) else { continue };
                let Some(line_id) = line.id else {
                    return Err(unmappable("a stocked line item has no id"));
                };
                changes.push(StockChange::Commitment {
                    order: OrderId(order),
                    line: LineItemId(line_id),
                    item,
                    location: p.location_id.map(LocationId),
                    open: if cancelled { 0 } else { open_quantity(line) },
                    version,
                });
            }
            let sales = sales::sales_order(&p, order, version).map_err(|e| match e {
                SalesOrderError::PaymentNotAWord => invalid(Problem::BadField, e.detail().into()),
                _ => unmappable(e.detail()),
            })?;
            changes.push(sales);
            changes
        }
        Topic::FulfillmentsCreate | Topic::FulfillmentsUpdate => {
            let p: payload::Fulfillment = parse_json(topic, d.body)?;
            let id = p.id.ok_or_else(|| unmappable("no fulfillment id"))?;
            let kind = match p.status.as_deref() {
                Some("success") => MovementKind::Fulfilled,
                Some("cancelled") => MovementKind::FulfillmentCancelled,
                // pending, open, failure, error: no goods moved.
                _ => return Ok(Normalised::Events(vec![])),
            };
            let version = version_of(&[&p.updated_at, &p.created_at]);
            let mut changes = Vec::with_capacity(p.line_items.len());
            for line in &p.line_items {
                line_checks(line)?;
                let Some(item) = item_ref(line) else { continue };
                let line_id = line
                    .id
                    .ok_or_else(|| unmappable("a stocked fulfilment line has no id"))?;
                let quantity = line
                    .quantity
                    .ok_or_else(|| unmappable("a stocked fulfilment line has no quantity"))?;
                changes.push(StockChange::Movement {
                    movement: format!("fulfillment:{id}:{line_id}"),
                    kind,
                    reference: format!("fulfillment {id} of order {}", shown_id(p.order_id)),
                    item,
                    location: p.location_id.map(LocationId),
                    quantity,
                    version,
                    order: p.order_id.map(OrderId),
                    line: Some(LineItemId(line_id)),
                });
            }
            changes
        }
        Topic::RefundsCreate => {
            let p: payload::Refund = parse_json(topic, d.body)?;
            let id = p.id.ok_or_else(|| unmappable("no refund id"))?;
            let version = version_of(&[&p.processed_at, &p.created_at]);
            let mut changes = Vec::with_capacity(p.refund_line_items.len());
            for rli in &p.refund_line_items {
                quantity("a refund line's quantity", rli.quantity, false)?;
                let Some(line) = rli.line_item.as_ref() else {
                    return Err(unmappable("a refund line names no line item"));
                };
                line_checks(line)?;
                let Some(item) = item_ref(line) else { continue };
                let kind = match rli.restock_type.as_deref() {
                    Some("return") | Some("legacy_restock") => MovementKind::RestockedReturn,
                    Some("cancel") => MovementKind::RestockedCancel,
                    _ => MovementKind::RemovedNoRestock,
                };
                let line_id = rli
                    .id
                    .or(rli.line_item_id)
                    .ok_or_else(|| unmappable("a stocked refund line has no id"))?;
                let quantity = rli
                    .quantity
                    .ok_or_else(|| unmappable("a stocked refund line has no quantity"))?;
                changes.push(StockChange::Movement {
                    movement: format!("refund:{id}:{line_id}"),
                    kind,
                    reference: format!("refund {id} of order {}", shown_id(p.order_id)),
                    item,
                    location: rli.location_id.map(LocationId),
                    quantity,
                    version,
                    order: p.order_id.map(OrderId),
                    line: rli.line_item_id.or(line.id).map(LineItemId),
                });
            }
            changes
        }
        Topic::FulfillmentOrders(_) => {
            let p: payload::FulfillmentOrderChange = parse_json(topic, d.body)?;
            vec![StockChange::FulfillmentOrdersChanged {
                fulfillment_orders: fulfillment_orders(&p).map_err(unmappable)?,
                version: version_of(&[]),
            }]
        }
    };

    if changes.is_empty() {
        return Ok(Normalised::Events(vec![]));
    }
    let count = changes.len().div_ceil(MAX_CHANGES_PER_PART) as u32;
    Ok(Normalised::Events(
        changes
            .chunks(MAX_CHANGES_PER_PART)
            .enumerate()
            .map(|(index, chunk)| {
                let part = Part {
                    index: index as u32,
                    count,
                };
                event(
                    d,
                    topic,
                    part,
                    EventBody::Stock {
                        changes: chunk.to_vec(),
                    },
                )
            })
            .collect(),
    ))
}

fn event(d: &Delivery<'_>, topic: Topic, part: Part, body: EventBody) -> InventoryEvent {
    InventoryEvent {
        schema: SCHEMA_VERSION,
        key: InventoryEvent::delivery_key(d.shop, d.webhook_id, part),
        shop: d.shop.clone(),
        source: Source {
            topic: topic.to_string(),
            webhook_id: d.webhook_id.to_string(),
            event_id: d.event_id.map(str::to_string),
            api_version: d.api_version.map(str::to_string),
            triggered_at: d.triggered_at.unwrap_or(d.received_at),
            received_at: d.received_at,
        },
        part,
        body,
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(topic: Topic, body: &[u8]) -> Result<T, Unusable> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(Unusable::Invalid {
            problem: Problem::NotAnObject,
            topic: topic.to_string(),
            detail: "the body is JSON but not an object".into(),
        });
    }
    payload::from_slice(body).map_err(|e| json_error(topic, &e))
}

/// A JSON error as a reason: what kind and where, never the text it quotes (serde's messages
/// for a wrong type quote the value: `invalid type: string "jon@example.com"`).
pub fn json_error(topic: Topic, e: &serde_json::Error) -> Unusable {
    use serde_json::error::Category;
    let at = format!("at line {} column {}", e.line(), e.column());
    let text = e.to_string();
    let ours = [
        (Invalid::ID, Problem::BadId),
        (Invalid::QUANTITY, Problem::BadQuantity),
        (Invalid::TEXT, Problem::BadField),
        (Invalid::FLAG, Problem::BadField),
        (Invalid::LIST, Problem::BadField),
        (Invalid::OBJECTS, Problem::BadField),
        (Invalid::OBJECT, Problem::BadField),
    ];
    // Ours are raised by the field readers, or named as what serde expected; only the fixed
    // text is kept.
    if let Some((message, problem)) = ours.iter().find(|(m, _)| text.contains(m)) {
        return Unusable::Invalid {
            problem: *problem,
            topic: topic.to_string(),
            detail: format!("{message} {at}"),
        };
    }
    let kind = match e.classify() {
        // serde_json's own syntax messages are fixed texts ("expected value", "trailing
        // characters", "recursion limit exceeded", ...); they quote nothing.
        Category::Syntax | Category::Eof => {
            text.split(" at line ").next().unwrap_or("").to_string()
        }
        // A duplicate names the declared field (ours); any other data error may quote the input.
        Category::Data if text.starts_with("duplicate field `") => {
            text.splitn(3, '`').take(2).collect::<Vec<_>>().join("`") + "`"
        }
        Category::Data => "a value of the wrong type or out of range".into(),
        Category::Io => "unreadable".into(),
    };
    Unusable::BadJson {
        topic: topic.to_string(),
        detail: format!("{kind} {at}"),
    }
}

/// A body that cannot be JSON text as Shopify sends it: UTF-8 without a byte-order mark.
fn check_encoding(body: &[u8]) -> Result<(), &'static str> {
    if body.starts_with(b"\xEF\xBB\xBF") {
        return Err("the body starts with a byte-order mark (Shopify sends none)");
    }
    if body.starts_with(b"\x1f\x8b") {
        return Err("the body is gzip-compressed (Shopify sends none)");
    }
    if std::str::from_utf8(body).is_err() {
        return Err("the body is not UTF-8");
    }
    Ok(())
}

/// A SKU too long to be part of a key.
fn check_sku(sku: Option<&str>) -> Result<(), String> {
    match sku {
        Some(s) if s.len() > MAX_SKU_BYTES => Err(format!(
            "a SKU has {} bytes, at most {MAX_SKU_BYTES} make a key",
            s.len()
        )),
        _ => Ok(()),
    }
}

fn shown_id(id: Option<u64>) -> String {
    id.map_or_else(|| "(none given)".into(), |id| id.to_string())
}

/// The item a line names, or `None` for lines that are not stock (custom items, tips, gift cards).
fn item_ref(line: &payload::LineItem) -> Option<ItemRef> {
    if line.gift_card == Some(true) {
        return None;
    }
    let sku = line.sku.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if line.variant_id.is_none() && sku.is_none() {
        return None;
    }
    Some(ItemRef {
        variant: line.variant_id.map(VariantId),
        sku: sku.map(str::to_string),
    })
}

/// Every fulfillment order a `fulfillment_orders/*` payload names, once each, in id order. A
/// reference without an id is refused, not skipped: the change would be seen only in part.
fn fulfillment_orders(
    p: &payload::FulfillmentOrderChange,
) -> Result<Vec<FulfillmentOrderId>, &'static str> {
    let references = [
        &p.fulfillment_order,
        &p.original_fulfillment_order,
        &p.moved_fulfillment_order,
        &p.remaining_fulfillment_order,
        &p.replacement_fulfillment_order,
    ];
    let merged = p
        .fulfillment_order_merges
        .iter()
        .map(|m| m.fulfillment_order.as_ref().and_then(|r| r.id));
    let ids: BTreeSet<u64> = references
        .into_iter()
        .flatten()
        .map(|r| r.id)
        .chain(merged)
        .chain(p.merge_intents.iter().map(|m| m.fulfillment_order_id))
        .collect::<Option<_>>()
        .ok_or("a fulfillment order is named without its id")?;
    if ids.is_empty() {
        return Err("the payload names no fulfillment order");
    }
    Ok(ids.into_iter().map(FulfillmentOrderId).collect())
}

/// Shopify's committed quantity of a line: `fulfillable_quantity` when present; otherwise the
/// current quantity unless the line is fulfilled.
fn open_quantity(line: &payload::LineItem) -> i64 {
    let open = match line.fulfillable_quantity {
        Some(q) => q,
        None if line.fulfillment_status.as_deref() == Some("fulfilled") => 0,
        None => line.current_quantity.or(line.quantity).unwrap_or(0),
    };
    open.max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver(topic: &str, body: &str) -> Result<Normalised, Unusable> {
        let shop = ShopDomain::new("t.myshopify.com");
        normalise(&Delivery {
            shop: &shop,
            topic,
            webhook_id: "wh-1",
            event_id: Some("ev-1"),
            api_version: Some("2026-04"),
            triggered_at: Timestamp::parse("2026-11-27T10:00:00.123456789Z"),
            received_at: Timestamp::parse("2026-11-27T10:00:01Z").unwrap(),
            body: body.as_bytes(),
        })
    }

    fn changes(n: Result<Normalised, Unusable>) -> Vec<StockChange> {
        match n {
            Ok(Normalised::Events(events)) => events
                .into_iter()
                .flat_map(|e| match e.body {
                    EventBody::Stock { changes } => changes,
                    EventBody::ShopRedact { .. }
                    | EventBody::ErpRetry { .. }
                    | EventBody::SalesRetry { .. }
                    | EventBody::ErpChange { .. }
                    | EventBody::Refresh { .. } => vec![],
                })
                .collect(),
            other => panic!("expected events, got {other:?}"),
        }
    }

    #[test]
    fn level_update_keeps_ids_above_2_pow_53_exactly_and_null_available() {
        let c = changes(deliver(
            "inventory_levels/update",
            r#"{"inventory_item_id":271878346596884015,"location_id":24826418,"available":null,"updated_at":"2021-12-31T19:00:00-05:00"}"#,
        ));
        let StockChange::Available {
            item,
            available,
            version,
            ..
        } = &c[0]
        else {
            panic!()
        };
        assert_eq!(item.0, 271878346596884015);
        assert_eq!(*available, None);
        assert_eq!(
            version.as_of,
            Timestamp::parse("2022-01-01T00:00:00Z").unwrap()
        );
        assert_eq!(version.triggered.0 % 1_000_000_000, 123_456_789);
    }

    #[test]
    fn missing_fields_and_bad_json_are_unusable_with_a_reason() {
        assert_eq!(
            deliver("inventory_levels/update", r#"{"location_id":1}"#)
                .unwrap_err()
                .code(),
            "unmappable"
        );
        assert_eq!(
            deliver("orders/create", "{not json").unwrap_err().code(),
            "bad_json"
        );
        assert_eq!(
            deliver("products/update", "{}").unwrap_err().code(),
            "unhandled_topic"
        );
    }

    #[test]
    fn orders_become_line_commitments_without_personal_data() {
        let body = r##"{"id":820982911946154508,"name":"#1001","email":"jon@example.com","updated_at":"2026-11-27T09:00:00Z",
            "customer":{"first_name":"Jon","last_name":"Snow","email":"jon@example.com"},
            "billing_address":{"address1":"1 Wall","phone":"555"},
            "line_items":[
              {"id":866550311766439020,"variant_id":808950810,"sku":"IPOD-1","quantity":3,"fulfillable_quantity":2,"name":"IPod"},
              {"id":141249953214522974,"variant_id":null,"sku":"SKU-ONLY","quantity":1,"fulfillable_quantity":1},
              {"id":5,"variant_id":null,"sku":"","quantity":1,"title":"Tip"},
              {"id":6,"variant_id":9,"sku":"GC","quantity":1,"gift_card":true}]}"##;
        let result = deliver("orders/create", body).unwrap();
        let text = format!("{result:?}");
        for pii in ["jon@example.com", "Jon", "Snow", "Wall", "555", "IPod"] {
            assert!(!text.contains(pii), "{pii} leaked into {text}");
        }
        let c = changes(Ok(result));
        assert_eq!(c.len(), 3, "two commitments and the sales order");
        let StockChange::Commitment {
            order,
            line,
            item,
            open,
            ..
        } = &c[0]
        else {
            panic!()
        };
        assert_eq!(
            (order.0, line.0, *open),
            (820982911946154508, 866550311766439020, 2)
        );
        assert_eq!(item.variant, Some(VariantId(808950810)));
        let StockChange::Commitment { item, .. } = &c[1] else {
            panic!()
        };
        assert_eq!(
            (item.variant, item.sku.as_deref()),
            (None, Some("SKU-ONLY"))
        );
    }

    #[test]
    fn a_cancelled_order_commits_nothing() {
        let c = changes(deliver(
            "orders/cancelled",
            r##"{"id":1,"name":"#1","cancelled_at":"2026-11-27T09:00:00Z","line_items":[{"id":2,"variant_id":3,"quantity":4,"fulfillable_quantity":4}]}"##,
        ));
        assert!(matches!(c[0], StockChange::Commitment { open: 0, .. }));
    }

    #[test]
    fn large_orders_are_split_never_truncated() {
        let lines: Vec<String> = (1..=50)
            .map(|i| {
                format!(r#"{{"id":{i},"variant_id":{i},"quantity":1,"fulfillable_quantity":1}}"#)
            })
            .collect();
        let body = format!(
            r##"{{"id":1,"name":"#1","line_items":[{}]}}"##,
            lines.join(",")
        );
        let Ok(Normalised::Events(events)) = deliver("orders/create", &body) else {
            panic!()
        };
        assert_eq!(events.len(), 3);
        let keys: Vec<&str> = events.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "t.myshopify.com:wh-1:0",
                "t.myshopify.com:wh-1:1",
                "t.myshopify.com:wh-1:2"
            ]
        );
        assert!(events
            .iter()
            .all(|e| e.part.count == 3 && e.to_json().len() < 256 * 1024));
        // 50 commitments and, last, the sales order with all 50 lines.
        let all = changes(Ok(Normalised::Events(events)));
        assert_eq!(all.len(), 51);
        assert!(matches!(&all[50], StockChange::SalesOrder { lines, .. } if lines.len() == 50));
    }

    #[test]
    fn refunds_and_fulfilments_are_movements_with_their_location() {
        let c = changes(deliver(
            "refunds/create",
            r#"{"id":9,"order_id":1,"refund_line_items":[{"id":1,"line_item_id":2,"quantity":1,"location_id":77,"restock_type":"return","line_item":{"id":2,"variant_id":3,"sku":"X"}}]}"#,
        ));
        assert!(matches!(
            &c[0],
            StockChange::Movement {
                kind: MovementKind::RestockedReturn,
                quantity: 1,
                location: Some(LocationId(77)),
                ..
            }
        ));
        let none = deliver(
            "fulfillments/create",
            r#"{"id":1,"status":"pending","line_items":[]}"#,
        );
        assert_eq!(none, Ok(Normalised::Events(vec![])));
    }

    #[test]
    fn privacy_topics_are_acknowledged_and_shop_redact_is_queued() {
        assert!(matches!(
            deliver("customers/redact", r#"{"customer":{"email":"a@b.c"}}"#),
            Ok(Normalised::Acknowledge(_))
        ));
        assert!(matches!(
            deliver("customers/data_request", "{}"),
            Ok(Normalised::Acknowledge(_))
        ));
        let Ok(Normalised::Events(e)) = deliver(
            "shop/redact",
            r#"{"shop_id":1,"shop_domain":"t.myshopify.com"}"#,
        ) else {
            panic!()
        };
        assert_eq!(e[0].body, EventBody::ShopRedact { resume: None });
    }

    #[test]
    fn ids_as_strings_are_read_too() {
        let c = changes(deliver(
            "inventory_levels/update",
            r#"{"inventory_item_id":"271878346596884015","location_id":"24826418","available":"5"}"#,
        ));
        assert!(matches!(
            c[0],
            StockChange::Available {
                available: Some(5),
                ..
            }
        ));
    }
}
