//! Lenient serde shapes of the webhook payloads Stockbridge reads.
//!
//! Only ids, quantities, statuses and times are declared; every other field (customers, addresses,
//! e-mails, prices) is skipped by serde and never held. Ids are read as `u64` from a JSON number
//! or a numeric string (Shopify ids exceed 2^53), never through a float. Missing or `null` fields
//! become `None`; whether that is usable is decided in [`super::normalise`].

use serde::{Deserialize, Deserializer};

/// Reads an id from a number or a numeric string; `null`, floats and other text become `None`.
fn flex_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(u64),
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Int(v)) => Some(v),
        Some(Raw::Text(s)) => s.rsplit('/').next().and_then(|s| s.parse().ok()),
        _ => None,
    })
}

/// Reads a quantity from an integer or an integral string; anything else becomes `None`.
fn flex_qty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Int(v)) => Some(v),
        Some(Raw::Text(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Reads an optional string, tolerating other JSON types (which become `None`).
fn flex_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Text(s)) => Some(s),
        _ => None,
    })
}

/// Reads an array that may be `null` or missing as empty.
fn nullable_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
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
    #[serde(default)]
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
    #[serde(default)]
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
    #[serde(default)]
    pub line_item: Option<LineItem>,
}
