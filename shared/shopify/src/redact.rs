//! Personal data removal for payloads kept in quarantine: an allow-list, not a deny-list.
//!
//! A quarantined payload is kept so it can be replayed, and replay needs only what
//! [`crate::normalise`] reads: the fields [`crate::payload`] declares (ids, quantities, times,
//! SKUs, statuses, flags, an order's number (`name`), and the lists of line items that hold them), listed with their kind in
//! [`payload::FIELDS`]. [`redact`] keeps exactly those for the delivery's topic and removes
//! everything else at every depth (customers, addresses, names, e-mails, notes, tags, line item
//! `properties`, `note_attributes`, whatever a new API version adds). A kept field keeps its value
//! only where the value cannot carry free text: ids and quantities that parse, times that parse,
//! status words (`[a-z_]`, at most 40), flags, SKUs (catalogue data), order numbers. Any other value is replaced
//! by a placeholder that fails the same way when normalised again (text where a number belongs
//! stays text, a wrong type stays a wrong type), so a redacted body normalises exactly as the
//! original did, and replay gives the same events or the same refusal.
//!
//! A topic Stockbridge does not handle keeps `id`, `updated_at` and `created_at` only. A body that
//! is not JSON cannot be redacted field by field: it is kept as it came, for the quarantine's
//! retention (`QUARANTINE_RETENTION_DAYS`), like every quarantined entry.

use serde_json::{Map, Value};
use stockbridge_domain::ids::Timestamp;

use crate::payload::{self, id_from_text, quantity_from_text, Kind};
use crate::topic::Topic;

/// What replaces a value that must stay invalid without its text.
const PLACEHOLDER: &str = "[redacted]";

/// The fields kept for a topic Stockbridge does not handle.
const UNKNOWN_TOPIC: &[(&str, Kind)] = &[
    ("id", Kind::Id),
    ("updated_at", Kind::Time),
    ("created_at", Kind::Time),
];

/// The payload type a topic's body is read as.
fn schema(topic: &str) -> &'static [(&'static str, Kind)] {
    let name = match Topic::parse(topic) {
        None => return UNKNOWN_TOPIC,
        Some(
            Topic::InventoryLevelsUpdate
            | Topic::InventoryLevelsConnect
            | Topic::InventoryLevelsDisconnect,
        ) => "InventoryLevel",
        Some(
            Topic::InventoryItemsCreate | Topic::InventoryItemsUpdate | Topic::InventoryItemsDelete,
        ) => "InventoryItem",
        Some(
            Topic::OrdersCreate
            | Topic::OrdersUpdated
            | Topic::OrdersPaid
            | Topic::OrdersCancelled
            | Topic::OrdersFulfilled
            | Topic::OrdersPartiallyFulfilled,
        ) => "Order",
        Some(Topic::FulfillmentsCreate | Topic::FulfillmentsUpdate) => "Fulfillment",
        Some(Topic::RefundsCreate) => "Refund",
        Some(Topic::FulfillmentOrders(_)) => "FulfillmentOrderChange",
        Some(Topic::CustomersDataRequest | Topic::CustomersRedact | Topic::ShopRedact) => {
            "ShopRequest"
        }
    };
    payload::fields(name)
}

/// Keeps only what replaying a delivery of `topic` needs (see the module doc). Returns how many
/// fields and values were removed or replaced.
pub fn redact(topic: &str, value: &mut Value) -> usize {
    let mut removed = 0;
    *value = object(value.take(), schema(topic), &mut removed);
    removed
}

/// An object of a payload type; anything else is a shape normalise refuses, kept as `null`
/// (at the top: `not_an_object`) or the placeholder (nested: `bad_field`).
fn object(value: Value, fields: &[(&str, Kind)], removed: &mut usize) -> Value {
    let Value::Object(map) = value else {
        *removed += 1;
        return Value::Null;
    };
    let mut kept = Map::new();
    for (name, v) in map {
        match fields.iter().find(|(f, _)| *f == name) {
            Some((_, kind)) => {
                kept.insert(name, field(v, *kind, removed));
            }
            None => *removed += 1,
        }
    }
    Value::Object(kept)
}

fn placeholder(removed: &mut usize) -> Value {
    *removed += 1;
    Value::String(PLACEHOLDER.into())
}

/// A number where text was wanted: invalid either way, and says nothing.
fn not_text(removed: &mut usize) -> Value {
    *removed += 1;
    Value::from(0)
}

fn field(value: Value, kind: Kind, removed: &mut usize) -> Value {
    match (kind, value) {
        (_, Value::Null) => Value::Null,
        (Kind::Id, Value::String(s)) if id_from_text(&s).is_some() => Value::String(s),
        (Kind::Quantity, Value::String(s)) if quantity_from_text(&s).is_some() => Value::String(s),
        // Numbers and flags are no free text; an invalid one stays as invalid.
        (Kind::Id | Kind::Quantity, v @ (Value::Number(_) | Value::Bool(_))) => v,
        (Kind::Id | Kind::Quantity, _) => placeholder(removed),
        (Kind::Time, Value::String(s)) if Timestamp::parse(&s).is_some() => Value::String(s),
        (Kind::Status, Value::String(s)) if is_status_word(&s) => Value::String(s),
        // Text that is no time or status word reads as absent; so does null.
        (Kind::Time | Kind::Status, Value::String(_)) => {
            *removed += 1;
            Value::Null
        }
        (Kind::Word, Value::String(s)) if is_status_word(&s) => Value::String(s),
        // Normalise refuses text that is no status word here; the placeholder is refused too.
        (Kind::Word, Value::String(_)) => placeholder(removed),
        (Kind::Sku | Kind::OrderNumber, Value::String(s)) => Value::String(s),
        (Kind::Time | Kind::Status | Kind::Word | Kind::Sku | Kind::OrderNumber, _) => {
            not_text(removed)
        }
        (Kind::Flag, v @ Value::Bool(_)) => v,
        (Kind::Flag, _) => not_text(removed),
        (Kind::List(type_name) | Kind::Objects(type_name), Value::Array(items)) => Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    item @ Value::Object(_) => object(item, payload::fields(type_name), removed),
                    _ => placeholder(removed),
                })
                .collect(),
        ),
        (Kind::Object(type_name) | Kind::Objects(type_name), item @ Value::Object(_)) => {
            object(item, payload::fields(type_name), removed)
        }
        (Kind::List(_) | Kind::Object(_) | Kind::Objects(_), _) => placeholder(removed),
    }
}

/// A word as Shopify spells its statuses: `[a-z_]`, 1 to 40 bytes.
pub fn is_status_word(s: &str) -> bool {
    (1..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_what_normalise_reads_at_any_depth() {
        let mut v: Value = serde_json::from_str(
            r#"{"id":1,"email":"a@b.c","tags":"engraving: Jon","customer":{"id":2,"email":"a@b.c"},
                "note_attributes":[{"name":"gift","value":"For Jon"}],
                "line_items":[{"id":3,"sku":"X","quantity":2,"name":"Red shirt",
                  "properties":[{"name":"Engraving","value":"Jon"}],
                  "destination":{"address1":"1 Main"}}],
                "billing_address":{"first_name":"A"}}"#,
        )
        .unwrap();
        assert!(redact("orders/create", &mut v) >= 8);
        assert_eq!(
            v,
            serde_json::json!({"id":1,"line_items":[{"id":3,"sku":"X","quantity":2}]})
        );
    }

    #[test]
    fn values_that_could_hold_text_are_replaced_by_what_fails_the_same_way() {
        let mut v: Value = serde_json::from_str(
            r#"{"inventory_item_id":"Jon Snow","location_id":{"name":"Jon"},"available":"Jon","updated_at":"Jon"}"#,
        )
        .unwrap();
        redact("inventory_levels/update", &mut v);
        assert_eq!(
            v,
            serde_json::json!({"inventory_item_id":"[redacted]","location_id":"[redacted]",
                "available":"[redacted]","updated_at":null})
        );
        let mut v: Value =
            serde_json::from_str(r#"{"id":1,"status":"Jon Snow","line_items":"Jon"}"#).unwrap();
        redact("fulfillments/create", &mut v);
        assert_eq!(
            v,
            serde_json::json!({"id":1,"status":null,"line_items":"[redacted]"})
        );
        let mut v: Value = serde_json::from_str(r#"[{"email":"a@b.c"}]"#).unwrap();
        redact("orders/create", &mut v);
        assert_eq!(v, Value::Null);
        let mut v: Value =
            serde_json::from_str(r#"{"id":5,"title":"Jon","updated_at":"2026-01-01T00:00:00Z"}"#)
                .unwrap();
        redact("products/update", &mut v);
        assert_eq!(
            v,
            serde_json::json!({"id":5,"updated_at":"2026-01-01T00:00:00Z"})
        );
    }
}
