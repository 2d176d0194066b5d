//! Serde shapes of the webhook payloads Stockbridge reads.
//!
//! Only ids, quantities, statuses, flags, times and an order's number (`name`) are declared (of `fulfillment_orders/*`, only the
//! fulfillment orders' ids); every other field (customers, addresses, e-mails, prices, tags,
//! properties, free-text messages) is skipped by serde and never held. Missing or `null` fields
//! become `None`; whether that is usable is decided in [`super::normalise`]. A declared field that
//! is present but does not parse is an error, never `None`: an `available` of `1.5` is not
//! "untracked", an order's `location_id` of `"north"` is not "no location". Ids are read as `u64`
//! from a JSON number, a numeric string or a GraphQL id (`gid://shopify/Location/72`), never
//! through a float (Shopify ids exceed 2^53); quantities as `i64` from an integer or an integral
//! string. Objects must be JSON objects (serde would otherwise read an array by position).
//!
//! The field readers are in `payload/read.rs`; their errors are the fixed texts in [`Invalid`];
//! `normalise` maps them to a reason code and never quotes the input. [`FIELDS`] lists, per payload type, the declared fields and
//! their kind: quarantine redaction ([`super::redact`]) keeps exactly those.

mod read;

use serde::Deserialize;

use read::{flex_flag, flex_id, flex_qty, flex_text, nullable_object, nullable_vec, one_or_many};
pub use read::{from_slice, id_from_text, quantity_from_text, Object};

/// The fixed error texts of the field readers (they never contain the input).
pub struct Invalid;

impl Invalid {
    pub const ID: &'static str =
        "invalid id: expected a non-negative integer, a numeric string or a gid";
    pub const QUANTITY: &'static str =
        "invalid quantity: expected an integer within 64 bits, without fraction or exponent";
    pub const TEXT: &'static str = "invalid field: expected a string or null";
    pub const FLAG: &'static str = "invalid field: expected true, false or null";
    pub const LIST: &'static str = "invalid field: expected an array or null";
    pub const OBJECTS: &'static str =
        "invalid field: expected an object, an array of objects or null";
    pub const OBJECT: &'static str = "invalid field: expected a JSON object";
}

/// What a declared field holds, for redaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Id,
    Quantity,
    /// A time (RFC 3339).
    Time,
    /// A status word (`success`, `return`, `fulfilled`, ...).
    Status,
    Sku,
    /// A status word passed on as Shopify spells it (`financial_status`): text that is no
    /// status word is refused by normalise, so redaction replaces it with a placeholder.
    Word,
    /// An order's number as the shop shows it (`name`, `#1001`): the merchant's prefix and
    /// suffix around a counter, not personal data. Kept as text.
    OrderNumber,
    Flag,
    /// An array of objects of this payload type.
    List(&'static str),
    /// An object of this payload type.
    Object(&'static str),
    /// One object of this payload type or an array of them.
    Objects(&'static str),
}

/// Every payload type's declared fields, by type name (`tests::fields_match_the_types` checks
/// them against the structs below).
pub const FIELDS: &[(&str, &[(&str, Kind)])] = &[
    (
        "InventoryLevel",
        &[
            ("inventory_item_id", Kind::Id),
            ("location_id", Kind::Id),
            ("available", Kind::Quantity),
            ("updated_at", Kind::Time),
        ],
    ),
    (
        "InventoryItem",
        &[
            ("id", Kind::Id),
            ("sku", Kind::Sku),
            ("tracked", Kind::Flag),
            ("updated_at", Kind::Time),
            ("created_at", Kind::Time),
        ],
    ),
    (
        "Order",
        &[
            ("id", Kind::Id),
            ("name", Kind::OrderNumber),
            ("financial_status", Kind::Word),
            ("test", Kind::Flag),
            ("updated_at", Kind::Time),
            ("created_at", Kind::Time),
            ("cancelled_at", Kind::Time),
            ("location_id", Kind::Id),
            ("line_items", Kind::List("LineItem")),
        ],
    ),
    (
        "LineItem",
        &[
            ("id", Kind::Id),
            ("variant_id", Kind::Id),
            ("sku", Kind::Sku),
            ("quantity", Kind::Quantity),
            ("current_quantity", Kind::Quantity),
            ("fulfillable_quantity", Kind::Quantity),
            ("fulfillment_status", Kind::Status),
            ("gift_card", Kind::Flag),
        ],
    ),
    (
        "Fulfillment",
        &[
            ("id", Kind::Id),
            ("order_id", Kind::Id),
            ("location_id", Kind::Id),
            ("status", Kind::Status),
            ("updated_at", Kind::Time),
            ("created_at", Kind::Time),
            ("line_items", Kind::List("LineItem")),
        ],
    ),
    (
        "Refund",
        &[
            ("id", Kind::Id),
            ("order_id", Kind::Id),
            ("processed_at", Kind::Time),
            ("created_at", Kind::Time),
            ("refund_line_items", Kind::List("RefundLineItem")),
        ],
    ),
    (
        "RefundLineItem",
        &[
            ("id", Kind::Id),
            ("line_item_id", Kind::Id),
            ("quantity", Kind::Quantity),
            ("location_id", Kind::Id),
            ("restock_type", Kind::Status),
            ("line_item", Kind::Object("LineItem")),
        ],
    ),
    // `fulfillment_orders/*`: which fulfillment orders changed, by id. Their status, holds,
    // messages, locations and line items are not kept: the consumer reads them from Shopify.
    (
        "FulfillmentOrderChange",
        &[
            ("fulfillment_order", Kind::Object("FulfillmentOrderRef")),
            (
                "original_fulfillment_order",
                Kind::Object("FulfillmentOrderRef"),
            ),
            (
                "moved_fulfillment_order",
                Kind::Object("FulfillmentOrderRef"),
            ),
            (
                "remaining_fulfillment_order",
                Kind::Object("FulfillmentOrderRef"),
            ),
            (
                "replacement_fulfillment_order",
                Kind::Object("FulfillmentOrderRef"),
            ),
            ("merge_intents", Kind::List("MergeIntent")),
            (
                "fulfillment_order_merges",
                Kind::Objects("FulfillmentOrderMerge"),
            ),
        ],
    ),
    ("FulfillmentOrderRef", &[("id", Kind::Id)]),
    ("MergeIntent", &[("fulfillment_order_id", Kind::Id)]),
    (
        "FulfillmentOrderMerge",
        &[("fulfillment_order", Kind::Object("FulfillmentOrderRef"))],
    ),
    // The privacy topics: normalise reads nothing of them; these identify the shop only.
    (
        "ShopRequest",
        &[("shop_id", Kind::Id), ("shop_domain", Kind::Sku)],
    ),
];

/// The declared fields of one payload type.
pub fn fields(type_name: &str) -> &'static [(&'static str, Kind)] {
    FIELDS
        .iter()
        .find(|(name, _)| *name == type_name)
        .map_or(&[], |(_, f)| f)
}

/// `inventory_levels/update|connect|disconnect`.
#[derive(Debug, Deserialize)]
pub struct InventoryLevel {
    #[serde(default, deserialize_with = "flex_id")]
    pub inventory_item_id: Option<u64>,
    #[serde(default, deserialize_with = "flex_id")]
    pub location_id: Option<u64>,
    #[serde(default, deserialize_with = "flex_qty")]
    pub available: Option<i64>,
    #[serde(default, deserialize_with = "flex_text")]
    pub updated_at: Option<String>,
}

/// `inventory_items/create|update|delete`.
#[derive(Debug, Deserialize)]
pub struct InventoryItem {
    #[serde(default, deserialize_with = "flex_id")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "flex_text")]
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "flex_flag")]
    pub tracked: Option<bool>,
    #[serde(default, deserialize_with = "flex_text")]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "flex_text")]
    pub created_at: Option<String>,
}

/// `orders/*` (`orders/paid` included).
#[derive(Debug, Deserialize)]
pub struct Order {
    #[serde(default, deserialize_with = "flex_id")]
    pub id: Option<u64>,
    /// The order's number as the shop shows it (`#1001`).
    #[serde(default, deserialize_with = "flex_text")]
    pub name: Option<String>,
    /// `pending`, `authorized`, `partially_paid`, `paid`, `partially_refunded`, `refunded`,
    /// `voided`, `expired`, or a word Shopify adds later.
    #[serde(default, deserialize_with = "flex_text")]
    pub financial_status: Option<String>,
    /// A test order (Bogus Gateway, test mode).
    #[serde(default, deserialize_with = "flex_flag")]
    pub test: Option<bool>,
    #[serde(default, deserialize_with = "flex_text")]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "flex_text")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "flex_text")]
    pub cancelled_at: Option<String>,
    #[serde(default, deserialize_with = "flex_id")]
    pub location_id: Option<u64>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub line_items: Vec<LineItem>,
}

#[derive(Debug, Deserialize)]
pub struct LineItem {
    #[serde(default, deserialize_with = "flex_id")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "flex_id")]
    pub variant_id: Option<u64>,
    #[serde(default, deserialize_with = "flex_text")]
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "flex_qty")]
    pub quantity: Option<i64>,
    #[serde(default, deserialize_with = "flex_qty")]
    pub current_quantity: Option<i64>,
    #[serde(default, deserialize_with = "flex_qty")]
    pub fulfillable_quantity: Option<i64>,
    #[serde(default, deserialize_with = "flex_text")]
    pub fulfillment_status: Option<String>,
    #[serde(default, deserialize_with = "flex_flag")]
    pub gift_card: Option<bool>,
}

/// `fulfillments/create|update`.
#[derive(Debug, Deserialize)]
pub struct Fulfillment {
    #[serde(default, deserialize_with = "flex_id")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "flex_id")]
    pub order_id: Option<u64>,
    #[serde(default, deserialize_with = "flex_id")]
    pub location_id: Option<u64>,
    #[serde(default, deserialize_with = "flex_text")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "flex_text")]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "flex_text")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub line_items: Vec<LineItem>,
}

/// `refunds/create`.
#[derive(Debug, Deserialize)]
pub struct Refund {
    #[serde(default, deserialize_with = "flex_id")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "flex_id")]
    pub order_id: Option<u64>,
    #[serde(default, deserialize_with = "flex_text")]
    pub processed_at: Option<String>,
    #[serde(default, deserialize_with = "flex_text")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub refund_line_items: Vec<RefundLineItem>,
}

#[derive(Debug, Deserialize)]
pub struct RefundLineItem {
    #[serde(default, deserialize_with = "flex_id")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "flex_id")]
    pub line_item_id: Option<u64>,
    #[serde(default, deserialize_with = "flex_qty")]
    pub quantity: Option<i64>,
    #[serde(default, deserialize_with = "flex_id")]
    pub location_id: Option<u64>,
    #[serde(default, deserialize_with = "flex_text")]
    pub restock_type: Option<String>,
    #[serde(default, deserialize_with = "nullable_object")]
    pub line_item: Option<LineItem>,
}

/// `fulfillment_orders/*`: every field of Shopify's examples that names a fulfillment order.
/// `fulfillment_order` is the one changed (most topics), or the one split, held or cancelled.
#[derive(Debug, Deserialize)]
pub struct FulfillmentOrderChange {
    #[serde(default, deserialize_with = "nullable_object")]
    pub fulfillment_order: Option<FulfillmentOrderRef>,
    /// `moved`: the fulfillment order the lines left.
    #[serde(default, deserialize_with = "nullable_object")]
    pub original_fulfillment_order: Option<FulfillmentOrderRef>,
    /// `moved`: the fulfillment order that now holds the moved lines.
    #[serde(default, deserialize_with = "nullable_object")]
    pub moved_fulfillment_order: Option<FulfillmentOrderRef>,
    /// `split`, `placed_on_hold`: the lines left out of the split or the hold.
    #[serde(default, deserialize_with = "nullable_object")]
    pub remaining_fulfillment_order: Option<FulfillmentOrderRef>,
    /// `cancelled`, `split`: the fulfillment order that takes over.
    #[serde(default, deserialize_with = "nullable_object")]
    pub replacement_fulfillment_order: Option<FulfillmentOrderRef>,
    /// `merged`: the fulfillment orders merged away.
    #[serde(default, deserialize_with = "nullable_vec")]
    pub merge_intents: Vec<MergeIntent>,
    /// `merged`: the fulfillment order(s) they became.
    #[serde(default, deserialize_with = "one_or_many")]
    pub fulfillment_order_merges: Vec<FulfillmentOrderMerge>,
}

#[derive(Debug, Deserialize)]
pub struct FulfillmentOrderRef {
    #[serde(default, deserialize_with = "flex_id")]
    pub id: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct MergeIntent {
    #[serde(default, deserialize_with = "flex_id")]
    pub fulfillment_order_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct FulfillmentOrderMerge {
    #[serde(default, deserialize_with = "nullable_object")]
    pub fulfillment_order: Option<FulfillmentOrderRef>,
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use serde::de::{self, Visitor};
    use serde::Deserializer;

    use super::*;

    /// The field names serde derives for `T` (what `deserialize_struct` is handed).
    fn declared<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
        struct Recorder(std::cell::RefCell<Vec<&'static str>>);
        #[derive(Debug)]
        struct Stop;
        impl fmt::Display for Stop {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("stop")
            }
        }
        impl std::error::Error for Stop {}
        impl de::Error for Stop {
            fn custom<M: fmt::Display>(_: M) -> Self {
                Stop
            }
        }
        impl<'de> Deserializer<'de> for &Recorder {
            type Error = Stop;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
                Err(Stop)
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Stop> {
                self.0.borrow_mut().extend_from_slice(fields);
                Err(Stop)
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
                identifier ignored_any
            }
        }
        let recorder = Recorder(Default::default());
        let _ = T::deserialize(&recorder);
        recorder.0.into_inner()
    }

    #[test]
    fn fields_match_the_types() {
        let check = |name: &str, derived: Vec<&str>| {
            let listed: Vec<&str> = fields(name).iter().map(|(f, _)| *f).collect();
            assert_eq!(listed, derived, "FIELDS for {name}");
        };
        check("InventoryLevel", declared::<InventoryLevel>());
        check("InventoryItem", declared::<InventoryItem>());
        check("Order", declared::<Order>());
        check("LineItem", declared::<LineItem>());
        check("Fulfillment", declared::<Fulfillment>());
        check("Refund", declared::<Refund>());
        check("RefundLineItem", declared::<RefundLineItem>());
        check(
            "FulfillmentOrderChange",
            declared::<FulfillmentOrderChange>(),
        );
        check("FulfillmentOrderRef", declared::<FulfillmentOrderRef>());
        check("MergeIntent", declared::<MergeIntent>());
        check("FulfillmentOrderMerge", declared::<FulfillmentOrderMerge>());
    }

    #[test]
    fn ids_and_quantities_from_text() {
        assert_eq!(id_from_text("gid://shopify/Location/72"), Some(72));
        assert_eq!(id_from_text(" 5 "), Some(5));
        assert_eq!(id_from_text("-5"), None);
        assert_eq!(id_from_text("5?x=1"), None);
        assert_eq!(id_from_text(""), None);
        assert_eq!(quantity_from_text("-3"), Some(-3));
        assert_eq!(quantity_from_text("1.0"), None);
        assert_eq!(quantity_from_text("1e3"), None);
        assert_eq!(quantity_from_text("99999999999999999999"), None);
    }
}
