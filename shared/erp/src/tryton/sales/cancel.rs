//! Cancelling a sale (see the workflow in the parent module's doc): draft/quotation are
//! cancelled; a processed sale with nothing shipped has its open customer shipments cancelled,
//! their moves ignored on the sale lines, and is processed again, so it plans no shipment.

use serde_json::{json, Value};

use stockbridge_core::ports::{Change, ErpError};

use super::super::wire::id_of;
use super::super::TrytonErp;
use super::{ids, text};

impl TrytonErp {
    pub(super) async fn cancel_order(&self, reference: &str) -> Result<Change, ErpError> {
        self.sale_party().await?;
        let Some(mut sale) = self.sale_by_reference(reference).await? else {
            return Ok(Change::Made);
        };
        match sale.state.as_str() {
            "cancelled" => return Ok(Change::Made),
            "draft" | "quotation" => {
                self.sale_button(sale.id, "cancel").await?;
                return Ok(Change::Made);
            }
            "confirmed" => sale = self.sale_button(sale.id, "process").await?,
            _ => {}
        }
        let number = sale.number.clone().unwrap_or_else(|| "-".into());
        let view = self.view(reference, &sale).await?;
        if !view.shipped.is_empty() {
            return Ok(Change::Refused(format!(
                "Tryton sale {number} ({reference}) has shipped goods; it cannot be cancelled. \
                 Take the goods back with a return, or settle the order in Tryton"
            )));
        }
        let mut changed = false;
        if !sale.shipments.is_empty() {
            let rows = self
                .search(
                    "stock.shipment.out",
                    &json!([["id", "in", sale.shipments]]),
                    &["state"],
                    None,
                )
                .await?;
            for row in &rows {
                let (Some(id), Some(state)) = (id_of(row.get("id")), text(row, "state")) else {
                    continue;
                };
                match state.as_str() {
                    "cancelled" => {}
                    "draft" | "waiting" | "assigned" => {
                        self.post(
                            &format!("stock.shipment.out/{id}/cancel"),
                            &json!({}),
                            &["state"],
                        )
                        .await?;
                        changed = true;
                    }
                    other => {
                        return Ok(Change::Refused(format!(
                            "Tryton customer shipment {id} of sale {number} ({reference}) is \
                             {other}: goods are being packed or gone; cancel it in Tryton first"
                        )))
                    }
                }
            }
        }
        // The cancelled moves are ignored on their lines, so the sale plans no new shipment.
        let rows = self
            .search(
                "sale.line",
                &json!([["sale", "=", sale.id]]),
                &["moves.state", "moves_ignored"],
                None,
            )
            .await?;
        for row in &rows {
            let Some(line) = id_of(row.get("id")) else {
                continue;
            };
            let ignored = ids(row.get("moves_ignored"));
            let to_ignore: Vec<i64> = row
                .get("moves")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|m| m.get("state").and_then(Value::as_str) == Some("cancelled"))
                .filter_map(|m| id_of(Some(m)))
                .filter(|m| !ignored.contains(m))
                .collect();
            if !to_ignore.is_empty() {
                self.put(
                    &format!("sale.line/{line}"),
                    &json!({"moves_ignored": [["add", to_ignore]]}),
                    &[],
                )
                .await?;
                changed = true;
            }
        }
        if changed || sale.shipment_state == "exception" {
            self.sale_button(sale.id, "process").await?;
        }
        Ok(Change::Made)
    }
}
