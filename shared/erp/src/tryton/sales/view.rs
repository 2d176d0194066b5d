//! What Tryton holds for a sale, in the port's terms: its lines, the units shipped and taken
//! back per Shopify line, and its state (mapped as the parent module's doc says).

use std::collections::HashMap;

use serde_json::{json, Value};

use stockbridge_core::ports::{ErpError, SalesLine, SalesOrderState, SalesOrderView};

use super::super::wire::decimal_of;
use super::super::TrytonErp;
use super::{add, parse_sale, Line, Sale, SALE_FIELDS};

impl TrytonErp {
    /// What Tryton holds for the sale: its lines, and the units shipped (done moves of its
    /// lines to a customer) and taken back (done moves from a customer of its return sales).
    pub(super) async fn view(
        &self,
        reference: &str,
        sale: &Sale,
    ) -> Result<SalesOrderView, ErpError> {
        let lines = self.lines_of(sale.id).await?;
        let returns = self.return_sales(sale.id).await?;
        let mut by_ref: HashMap<String, (&Line, bool)> = HashMap::new();
        for l in &lines {
            by_ref.insert(format!("sale.line,{}", l.id), (l, false));
        }
        let mut return_lines = Vec::new();
        for r in &returns {
            return_lines.extend(self.lines_of(r.id).await?);
        }
        for l in &return_lines {
            by_ref.insert(format!("sale.line,{}", l.id), (l, true));
        }
        let (mut shipped, mut returned) = (Vec::new(), Vec::new());
        if !by_ref.is_empty() {
            let refs: Vec<&String> = by_ref.keys().collect();
            let moves = self
                .search(
                    "stock.move",
                    &json!([["origin", "in", refs], ["state", "=", "done"]]),
                    &[
                        "origin",
                        "quantity",
                        "from_location.type",
                        "to_location.type",
                    ],
                    None,
                )
                .await?;
            for m in &moves {
                let kind = |f: &str| m.get(f).and_then(|l| l.get("type")).and_then(Value::as_str);
                let (Some(origin), Some(q)) = (
                    m.get("origin").and_then(Value::as_str),
                    m.get("quantity").and_then(decimal_of),
                ) else {
                    continue;
                };
                let Some((line, is_return)) = by_ref.get(origin) else {
                    continue;
                };
                let (Some(id), Some(item)) = (line.line.as_deref(), line.item.as_deref()) else {
                    continue;
                };
                let (from, to) = (kind("from_location"), kind("to_location"));
                if !is_return && to == Some("customer") && from != Some("customer") {
                    add(&mut shipped, id, item, q);
                } else if *is_return && from == Some("customer") && to != Some("customer") {
                    add(&mut returned, id, item, q);
                }
            }
        }
        let state = match (sale.state.as_str(), sale.shipment_state.as_str()) {
            ("draft" | "quotation", _) => SalesOrderState::Draft,
            ("processing", "sent") | ("done", _) => SalesOrderState::Done,
            ("processing", "none") if shipped.is_empty() => SalesOrderState::Cancelled,
            ("confirmed" | "processing", _) => SalesOrderState::Confirmed,
            ("cancelled", _) => SalesOrderState::Cancelled,
            (other, _) => {
                return Err(ErpError::Unavailable(format!(
                    "Tryton sale {} ({reference}) is in state {other:?}, unknown to this adapter",
                    sale.id
                )))
            }
        };
        Ok(SalesOrderView {
            reference: reference.to_string(),
            erp_number: sale.number.clone(),
            state,
            lines: lines
                .iter()
                .filter_map(|l| {
                    Some(SalesLine {
                        line: l.line.clone()?,
                        item: l.item.clone()?,
                        quantity: l.quantity,
                    })
                })
                .collect(),
            shipped,
            returned,
        })
    }

    /// The return sales of a sale (origin the sale).
    async fn return_sales(&self, sale: i64) -> Result<Vec<Sale>, ErpError> {
        let rows = self
            .search(
                "sale.sale",
                &json!([["origin", "=", format!("sale.sale,{sale}")]]),
                SALE_FIELDS,
                None,
            )
            .await?;
        rows.iter().map(parse_sale).collect()
    }
}
