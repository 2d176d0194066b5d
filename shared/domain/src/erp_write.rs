//! What the ERP is told: the write, its idempotency key, and the rule per location.
//!
//! The rule (see ARCHITECTURE.md, "What the ERP is told"):
//! - a **Shopify-master** location (a shop floor with POS): the ERP follows Shopify's `on_hand`;
//!   every change of `on_hand` (sales shipped, restocks, counts, adjustments) is owed to the ERP;
//! - an **ERP-master** location (a warehouse): the ERP keeps the count; it is told only what
//!   Shopify shipped (fulfilments, minus) and took back into stock (restocked returns, plus).
//!
//! What is owed accumulates on the stock record (`erp_owed`, Shopify units) in the same
//! transaction as the stock change, so it is exactly once; a push moves it to an in-flight write
//! with a fixed key before calling the ERP, so a retry after a timeout finds the first write.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One line of an ERP write: an item's change at the warehouse, in ERP units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpLine {
    /// ERP item code (SKU in the ERP, e.g. Tryton `product.product.code`).
    pub item: String,
    /// Change of on-hand, ERP units (may be fractional, e.g. a part of a case).
    pub change: Decimal,
    /// What the ERP should hold after the change, when Stockbridge knows it (Shopify-master
    /// locations); ERPs that take absolute levels use this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Decimal>,
}

/// A write to the ERP: one document per warehouse, carrying our key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpWrite {
    /// Idempotency key: the same key is never applied twice by the ERP adapter.
    pub key: String,
    /// ERP warehouse code (from the location mapping).
    pub warehouse: String,
    /// Why, for the ERP document (e.g. `shopify sales and adjustments`).
    pub reason: String,
    /// When the newest change covered happened, RFC 3339.
    pub as_of: String,
    pub lines: Vec<ErpLine>,
}

/// An incoming quantity with its expected date (ERP purchase orders).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    pub item: String,
    pub quantity: Decimal,
    /// ISO date `YYYY-MM-DD`.
    pub expected: Option<String>,
}

/// Builds the key of a push from what it covers (the stock records and their push sequence) and
/// a `nonce` unique to the preparation. The key is stored with the in-flight write before the ERP
/// is called, so retries reuse it; the nonce keeps it unique for ever, even when a stock record
/// is deleted (`shop/redact`) and created again with its sequence back at 0.
pub fn push_key(warehouse: &str, covered: &[(String, u64)], nonce: u128) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&(String, u64)> = covered.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    h.update(warehouse.as_bytes());
    h.update(nonce.to_le_bytes());
    for (pk, seq) in sorted {
        h.update(b"\n");
        h.update(pk.as_bytes());
        h.update(seq.to_le_bytes());
    }
    let digest: String = h
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sb-{warehouse}-{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_keys_are_stable_and_order_free() {
        let a = push_key("WH", &[("x".into(), 1), ("y".into(), 2)], 7);
        let b = push_key("WH", &[("y".into(), 2), ("x".into(), 1)], 7);
        assert_eq!(a, b);
        assert_ne!(a, push_key("WH", &[("x".into(), 2), ("y".into(), 2)], 7));
        assert_ne!(a, push_key("WH", &[("x".into(), 1), ("y".into(), 2)], 8));
        assert!(a.starts_with("sb-WH-") && a.len() < 40);
    }
}
