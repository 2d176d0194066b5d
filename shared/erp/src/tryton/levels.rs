//! The reads: on-hand per product at a warehouse's storage location (`product.product.quantity`
//! under a `locations` context), and open purchase quantities (draft moves from a supplier into
//! the warehouse) summed per item and expected date.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::ports::ErpError;
use stockbridge_domain::erp_write::Incoming;

use super::wire::{date_of, decimal_of};
use super::TrytonErp;

impl TrytonErp {
    /// On-hand per item code at the warehouse's storage location; unknown codes are absent.
    pub(super) async fn on_hand(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        if items.is_empty() {
            return Ok(HashMap::new());
        }
        let wh = self.warehouse(warehouse).await?;
        let rows = self
            .search(
                "product.product",
                &json!([["code", "in", items]]),
                &["code", "quantity"],
                Some(("locations", json!([wh.storage]))),
            )
            .await?;
        let mut out = HashMap::new();
        for row in rows {
            let (Some(code), Some(q)) = (
                row.get("code").and_then(Value::as_str),
                row.get("quantity").and_then(decimal_of),
            ) else {
                continue;
            };
            out.insert(code.to_string(), q);
        }
        Ok(out)
    }

    /// Open purchase quantities into the warehouse, per item and expected date.
    pub(super) async fn incoming_purchases(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<Vec<Incoming>, ErpError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let wh = self.warehouse(warehouse).await?;
        // A confirmed purchase creates draft moves supplier -> the warehouse's input location,
        // hence child_of the warehouse. `internal_quantity` is in the product's default unit.
        let rows = self
            .search(
                "stock.move",
                &json!([
                    ["from_location.type", "=", "supplier"],
                    ["to_location", "child_of", [wh.id], "parent"],
                    ["state", "=", "draft"],
                    ["product.code", "in", items],
                ]),
                &["product.code", "internal_quantity", "planned_date"],
                None,
            )
            .await?;
        let mut sums: BTreeMap<(String, Option<String>), Decimal> = BTreeMap::new();
        for row in rows {
            let code = row
                .get("product")
                .and_then(|p| p.get("code"))
                .and_then(Value::as_str);
            let qty = row.get("internal_quantity").and_then(decimal_of);
            let (Some(code), Some(qty)) = (code, qty) else {
                continue;
            };
            if qty <= Decimal::ZERO {
                continue;
            }
            let date = row.get("planned_date").and_then(date_of);
            *sums.entry((code.to_string(), date)).or_default() += qty;
        }
        Ok(sums
            .into_iter()
            .map(|((item, expected), quantity)| Incoming {
                item,
                quantity,
                expected,
            })
            .collect())
    }
}
