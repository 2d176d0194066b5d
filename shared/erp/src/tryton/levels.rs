//! The reads: on-hand per product at a warehouse's storage location (`product.product.quantity`
//! under a `locations` context), and open purchase quantities (draft moves from a supplier into
//! the warehouse) summed per item and expected date.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::ports::ErpError;
use stockbridge_domain::erp_write::Incoming;

use super::wire::{date_of, decimal_of, short};
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
        self.open_supplier_moves(&[wh.id], items).await
    }

    /// Open purchase quantities of `items` into these warehouses (ids), per item and expected
    /// date: the draft moves from a supplier location into them (a confirmed purchase creates
    /// them supplier -> the warehouse's input location, hence `child_of`), summed, in the
    /// product's default unit (`internal_quantity`). A row that cannot be read is an error,
    /// never skipped.
    pub(super) async fn open_supplier_moves(
        &self,
        warehouses: &[i64],
        items: &[String],
    ) -> Result<Vec<Incoming>, ErpError> {
        if items.is_empty() || warehouses.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .search(
                "stock.move",
                &json!([
                    ["from_location.type", "=", "supplier"],
                    ["to_location", "child_of", warehouses, "parent"],
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
            let date = match row.get("planned_date") {
                None | Some(Value::Null) => Ok(None),
                Some(d) => date_of(d).map(Some).ok_or(()),
            };
            let (Some(code), Some(qty), Ok(date)) = (code, qty, date) else {
                return Err(ErpError::Unavailable(format!(
                    "Tryton answered an incoming move without product code, quantity or a \
                     readable planned date: {}",
                    short(&row.to_string())
                )));
            };
            if qty <= Decimal::ZERO {
                continue;
            }
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
