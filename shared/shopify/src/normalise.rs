//! A verified delivery becomes internal events, or a reason it cannot be used.
//!
//! The event keeps ids, quantities, locations and times; nothing personal. Orders with more lines
//! than fit one queue message are split into parts, never truncated.

use stockbridge_domain::event::{
    EventBody, InventoryEvent, ItemRef, MovementKind, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{
    InventoryItemId, LineItemId, LocationId, OrderId, ShopDomain, Timestamp, VariantId, Version,
};

use crate::payload;
use crate::topic::Topic;

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
/// subscription) and kept in quarantine with this reason for an operator to replay.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("body is not valid JSON for {topic}: {detail}")]
    BadJson { topic: String, detail: String },
    #[error("topic {0:?} is not one Stockbridge handles")]
    UnhandledTopic(String),
    #[error("payload for {topic} cannot be mapped: {detail}")]
    Unmappable { topic: String, detail: String },
}

impl Unusable {
    /// A short machine-readable reason, for metrics and the quarantine listing.
    pub fn code(&self) -> &'static str {
        match self {
            Unusable::BadJson { .. } => "bad_json",
            Unusable::UnhandledTopic(_) => "unhandled_topic",
            Unusable::Unmappable { .. } => "unmappable",
        }
    }
}

/// Normalises one delivery.
pub fn normalise(d: &Delivery<'_>) -> Result<Normalised, Unusable> {
    let Some(topic) = Topic::parse(d.topic) else {
        return Err(Unusable::UnhandledTopic(d.topic.to_string()));
    };
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
                EventBody::ShopRedact,
            )]));
        }
        Topic::InventoryLevelsUpdate | Topic::InventoryLevelsConnect => {
            let p: payload::InventoryLevel = parse_json(topic, d.body)?;
            let item = p
                .inventory_item_id
                .ok_or_else(|| unmappable("no inventory_item_id"))?;
            let location = p.location_id.ok_or_else(|| unmappable("no location_id"))?;
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
        | Topic::OrdersCancelled
        | Topic::OrdersFulfilled
        | Topic::OrdersPartiallyFulfilled => {
            let p: payload::Order = parse_json(topic, d.body)?;
            let order = p.id.ok_or_else(|| unmappable("no order id"))?;
            let version = version_of(&[&p.updated_at, &p.created_at]);
            let cancelled = p.cancelled_at.is_some();
            let mut changes = Vec::with_capacity(p.line_items.len());
            for line in &p.line_items {
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
            p.line_items
                .iter()
                .filter_map(|line| {
                    Some(StockChange::Movement {
                        movement: format!("fulfillment:{id}:{}", line.id?),
                        kind,
                        reference: format!("fulfillment {id} of order {}", p.order_id.unwrap_or(0)),
                        item: item_ref(line)?,
                        location: p.location_id.map(LocationId),
                        quantity: line.quantity.unwrap_or(0),
                        version,
                    })
                })
                .collect()
        }
        Topic::RefundsCreate => {
            let p: payload::Refund = parse_json(topic, d.body)?;
            let id = p.id.ok_or_else(|| unmappable("no refund id"))?;
            let version = version_of(&[&p.processed_at, &p.created_at]);
            p.refund_line_items
                .iter()
                .filter_map(|rli| {
                    let kind = match rli.restock_type.as_deref() {
                        Some("return") | Some("legacy_restock") => MovementKind::RestockedReturn,
                        Some("cancel") => MovementKind::RestockedCancel,
                        _ => MovementKind::RemovedNoRestock,
                    };
                    Some(StockChange::Movement {
                        movement: format!("refund:{id}:{}", rli.id.or(rli.line_item_id)?),
                        kind,
                        reference: format!("refund {id} of order {}", p.order_id.unwrap_or(0)),
                        item: item_ref(rli.line_item.as_ref()?)?,
                        location: rli.location_id.map(LocationId),
                        quantity: rli.quantity.unwrap_or(0),
                        version,
                    })
                })
                .collect()
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
    serde_json::from_slice(body).map_err(|e| Unusable::BadJson {
        topic: topic.to_string(),
        detail: e.to_string(),
    })
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
                    EventBody::ShopRedact | EventBody::ErpRetry { .. } => vec![],
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
        let body = r#"{"id":820982911946154508,"email":"jon@example.com","updated_at":"2026-11-27T09:00:00Z",
            "customer":{"first_name":"Jon","last_name":"Snow","email":"jon@example.com"},
            "billing_address":{"address1":"1 Wall","phone":"555"},
            "line_items":[
              {"id":866550311766439020,"variant_id":808950810,"sku":"IPOD-1","quantity":3,"fulfillable_quantity":2,"name":"IPod"},
              {"id":141249953214522974,"variant_id":null,"sku":"SKU-ONLY","quantity":1,"fulfillable_quantity":1},
              {"id":5,"variant_id":null,"sku":"","quantity":1,"title":"Tip"},
              {"id":6,"variant_id":9,"sku":"GC","quantity":1,"gift_card":true}]}"#;
        let result = deliver("orders/create", body).unwrap();
        let text = format!("{result:?}");
        for pii in ["jon@example.com", "Jon", "Snow", "Wall", "555", "IPod"] {
            assert!(!text.contains(pii), "{pii} leaked into {text}");
        }
        let c = changes(Ok(result));
        assert_eq!(c.len(), 2);
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
            r#"{"id":1,"cancelled_at":"2026-11-27T09:00:00Z","line_items":[{"id":2,"variant_id":3,"quantity":4,"fulfillable_quantity":4}]}"#,
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
        let body = format!(r#"{{"id":1,"line_items":[{}]}}"#, lines.join(","));
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
        assert_eq!(changes(Ok(Normalised::Events(events))).len(), 50);
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
        assert_eq!(e[0].body, EventBody::ShopRedact);
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
