//! Restock reads: the items whose purchases changed, the open purchase quantities into any
//! warehouse, and Tryton's reorder points (`stock.order_point`, module `stock_supply`).
//!
//! A purchase changes in three places, each a source of the change list (see `feed`'s order):
//! its lines (`purchase.line`, written at confirm), the purchase itself (`purchase.purchase`:
//! quote, confirm, cancel; read through its lines' `purchase.write_date`), and its incoming
//! moves (`stock.move` from a supplier location: created draft at confirm, their `planned_date`
//! moved, cancelled, done when received). The list is the distinct item codes, oldest change
//! first; lines and moves of products without a code are not read.
//!
//! Open purchases are the draft moves from a supplier location into any warehouse, summed per
//! item and `planned_date` (Tryton drops planned dates in the past: none), in the product's
//! default unit (`internal_quantity`).
//!
//! Order points: `min_quantity` of the `purchase` order points at the warehouse. A Tryton
//! without `stock_supply` has no `stock.order_point` model (checked in `ir.model`): no order
//! points, not an error.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::ports::{ErpError, FeedCursor, FeedPage};
use stockbridge_domain::erp_write::Incoming;

use super::super::wire::{decimal_of, id_of, short};
use super::super::TrytonErp;
use super::{at, distinct_items, Source};

const CODE: &[&str] = &["product.code"];

impl TrytonErp {
    /// Items whose purchases changed after `after` (see the module doc).
    pub(in crate::tryton) async fn feed_purchases_changed(
        &self,
        after: Option<&FeedCursor>,
        limit: usize,
    ) -> Result<FeedPage<String>, ErpError> {
        let coded = json!(["product.code", "!=", null]);
        let sources = [
            Source {
                model: "purchase.line",
                domain: vec![coded.clone()],
                stamp_of: "",
                fields: CODE,
            },
            Source {
                model: "purchase.line",
                domain: vec![coded.clone()],
                stamp_of: "purchase.",
                fields: CODE,
            },
            Source {
                model: "stock.move",
                domain: vec![coded, json!(["from_location.type", "=", "supplier"])],
                stamp_of: "",
                fields: CODE,
            },
        ];
        let page = self.changes_after(&sources, after, limit).await?;
        Ok(FeedPage {
            rows: distinct_items(&page, "product.code")?,
            next: page.next,
            more: page.more,
        })
    }

    /// Open purchase quantities of `items` into any warehouse, per item and expected date.
    pub(in crate::tryton) async fn feed_open_purchases(
        &self,
        items: &[String],
    ) -> Result<Vec<Incoming>, ErpError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let warehouses = self
            .search(
                "stock.location",
                &json!([["type", "=", "warehouse"]]),
                &[],
                None,
            )
            .await?;
        let ids = warehouses
            .iter()
            .map(|w| {
                id_of(w.get("id")).ok_or_else(|| {
                    ErpError::Unavailable(format!(
                        "Tryton answered a warehouse without id: {}",
                        short(&w.to_string())
                    ))
                })
            })
            .collect::<Result<Vec<i64>, _>>()?;
        self.open_supplier_moves(&ids, items).await
    }

    /// `min_quantity` of the purchase order points of `items` at the warehouse.
    pub(in crate::tryton) async fn feed_order_points(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        if items.is_empty() || !self.has_model("stock.order_point").await? {
            return Ok(HashMap::new());
        }
        let wh = self.warehouse(warehouse).await?;
        let rows = self
            .search(
                "stock.order_point",
                &json!([
                    ["location", "=", wh.id],
                    ["type", "=", "purchase"],
                    ["product.code", "in", items],
                ]),
                &["product.code", "min_quantity"],
                None,
            )
            .await?;
        let mut out = HashMap::new();
        for row in rows {
            let code = at(&row, "product.code").and_then(Value::as_str);
            let min = match row.get("min_quantity") {
                None | Some(Value::Null) => Ok(None),
                Some(v) => decimal_of(v).map(Some).ok_or(()),
            };
            let (Some(code), Ok(min)) = (code, min) else {
                return Err(ErpError::Unavailable(format!(
                    "Tryton answered an order point without product code or a readable \
                     minimum: {}",
                    short(&row.to_string())
                )));
            };
            if let Some(min) = min {
                out.insert(code.to_string(), min);
            }
        }
        Ok(out)
    }

    /// Whether Tryton has this model (its module is activated).
    pub(in crate::tryton) async fn has_model(&self, model: &str) -> Result<bool, ErpError> {
        let rows = self
            .search("ir.model", &json!([["name", "=", model]]), &[], None)
            .await?;
        Ok(!rows.is_empty())
    }
}
