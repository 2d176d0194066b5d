//! Serde shapes of the webhook payloads Stockbridge reads.
//!
//! Only ids, quantities, statuses and times are declared; every other field (customers, addresses,
//! e-mails, prices, tags, properties) is skipped by serde and never held. Missing or `null` fields
//! become `None`; whether that is usable is decided in [`super::normalise`]. A declared field that
//! is present but does not parse is an error, never `None`: an `available` of `1.5` is not
//! "untracked", an order's `location_id` of `"north"` is not "no location". Ids are read as `u64`
//! from a JSON number, a numeric string or a GraphQL id (`gid://shopify/Location/72`), never
//! through a float (Shopify ids exceed 2^53); quantities as `i64` from an integer or an integral
//! string. Objects must be JSON objects (serde would otherwise read an array by position).
//!
//! The errors raised here are the fixed texts in [`Invalid`]; `normalise` maps them to a reason
//! code and never quotes the input. [`FIELDS`] lists, per payload type, the declared fields and
//! their kind: quarantine redaction ([`super::redact`]) keeps exactly those.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

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
    Flag,
    /// An array of objects of this payload type.
    List(&'static str),
    /// An object of this payload type.
    Object(&'static str),
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

/// Reads an id text: digits, or a GraphQL id ending in digits.
pub fn id_from_text(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = match text.strip_prefix("gid://shopify/") {
        Some(rest) => rest.rsplit('/').next()?,
        None => text,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reads a quantity text: an optional sign and digits.
pub fn quantity_from_text(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Drains a map or sequence the reader refuses, so the error is the reader's and not serde's.
fn refuse<E: de::Error, T>(message: &'static str) -> Result<T, E> {
    Err(E::custom(message))
}

struct IdVisitor;

impl<'de> Visitor<'de> for IdVisitor {
    type Value = Option<u64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Invalid::ID)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        u64::try_from(v).map(Some).or_else(|_| refuse(Invalid::ID))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        refuse(Invalid::ID)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        refuse(Invalid::ID)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        id_from_text(v)
            .map(Some)
            .ok_or_else(|| E::custom(Invalid::ID))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        refuse(Invalid::ID)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        refuse(Invalid::ID)
    }
}

/// An id, or `None` when missing or `null`.
fn flex_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_option(IdVisitor)
}

struct QuantityVisitor;

impl<'de> Visitor<'de> for QuantityVisitor {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Invalid::QUANTITY)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .or_else(|_| refuse(Invalid::QUANTITY))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        refuse(Invalid::QUANTITY)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        refuse(Invalid::QUANTITY)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        quantity_from_text(v)
            .map(Some)
            .ok_or_else(|| E::custom(Invalid::QUANTITY))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        refuse(Invalid::QUANTITY)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        refuse(Invalid::QUANTITY)
    }
}

/// A quantity, or `None` when missing or `null`.
fn flex_qty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_option(QuantityVisitor)
}

/// A string, or `None` when missing or `null`; any other type is refused.
fn flex_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(Invalid::TEXT)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            refuse(Invalid::TEXT)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            refuse(Invalid::TEXT)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            refuse(Invalid::TEXT)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            refuse(Invalid::TEXT)
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            refuse(Invalid::TEXT)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            refuse(Invalid::TEXT)
        }
    }
    d.deserialize_option(V)
}

/// `true`, `false`, or `None` when missing or `null`; any other type is refused.
fn flex_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(Invalid::FLAG)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            refuse(Invalid::FLAG)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            refuse(Invalid::FLAG)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            refuse(Invalid::FLAG)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            refuse(Invalid::FLAG)
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            refuse(Invalid::FLAG)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            refuse(Invalid::FLAG)
        }
    }
    d.deserialize_option(V)
}

/// A value that must be a JSON object (an array would be read by position).
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Invalid::OBJECT)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                refuse(Invalid::OBJECT)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An array of objects; `null` or missing is empty, anything else is refused.
fn nullable_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(Invalid::LIST)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(Object(item)) = seq.next_element::<Object<T>>()? {
                out.push(item);
            }
            Ok(out)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            refuse(Invalid::LIST)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            refuse(Invalid::LIST)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            refuse(Invalid::LIST)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            refuse(Invalid::LIST)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            refuse(Invalid::LIST)
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            refuse(Invalid::LIST)
        }
    }
    d.deserialize_option(V(PhantomData))
}

/// An optional object; `null` or missing is `None`.
fn nullable_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(Option::<Object<T>>::deserialize(d)?.map(|Object(t)| t))
}

/// Reads a whole payload, which must be a JSON object.
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice::<Object<T>>(body).map(|Object(t)| t)
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

/// `orders/*`.
#[derive(Debug, Deserialize)]
pub struct Order {
    #[serde(default, deserialize_with = "flex_id")]
    pub id: Option<u64>,
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

#[cfg(test)]
mod tests {
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
