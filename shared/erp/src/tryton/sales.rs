//! The sales port ([`ErpSales`]) over Tryton 8.2: Shopify orders as `sale.sale` documents of
//! the one generic party `TRYTON_SALE_PARTY` ("Shopify customers", created by
//! `infra/erp/bootstrap.py`), their customer shipments and their returns. Without the setting
//! every call is refused.
//!
//! What is sent: the party's own address (no customer's data), the warehouse, the order number
//! as `description`, our reference as `reference`, and per line the product, its default unit,
//! the quantity and `unit_price` 0 (Stockbridge sends no prices; invoicing is `manual`). Each
//! line's `description` ends with `[shopify-line:<id>]`, the Shopify line it comes from: lines
//! are matched by it (lines without it are an operator's and are left alone).
//!
//! Workflow per call (each step was tried against Tryton 8.2 over REST):
//! - `place`: `sale.sale` searched by `reference`; absent: created (`shipment_method` order,
//!   `invoice_method` manual, lines nested), then `quote`, `confirm`. Confirming queues
//!   `process`, which Tryton runs right after the commit and which creates the customer
//!   shipment (`stock.shipment.out`, waiting). A sale found in draft/quotation is taken on from
//!   its state; one left `confirmed` (its process died) gets `process`.
//! - `revise`: draft: lines written/added/deleted; quotation: `draft`, the same, `quote`
//!   (Tryton allows line edits in draft only); confirmed or later: [`Change::Refused`].
//! - `cancel`: draft/quotation: `cancel`. Confirmed/processing with nothing shipped: its open
//!   customer shipments are cancelled, the cancelled moves are marked ignored on their sale lines
//!   (`moves_ignored`, as Tryton's "Handle Shipment Exception" does), then `process`. Tryton
//!   keeps such a sale in state `processing` with shipment state `none`: it plans no shipment
//!   any more, and this adapter reports it `SalesOrderState::Cancelled`. Anything shipped,
//!   or a shipment already picked: refused.
//! - `ship` / `take_back`: see `movements`.
//!
//! States: draft/quotation -> Draft; confirmed/processing -> Confirmed; done -> Done. With
//! manual invoicing Tryton never moves a sale to `done`, so `processing` with shipment state
//! `sent` (all shipped) is Done too, and `processing` with shipment state `none` and nothing
//! shipped (cancelled as above) is Cancelled.
//!
//! The integration user needs the groups Sales and Sales Administrator (`process` and
//! `moves_ignored` are the administrator's). Idempotency is by search, as for internal
//! shipments: `reference` is not unique in Tryton, so callers serialise calls per order.

mod cancel;
mod movements;
mod view;

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::ports::{
    Change, ErpError, ErpSales, SalesLine, SalesMovement, SalesOrder, SalesOrderView,
};

use super::lookups::Product;
use super::wire::{decimal_of, id_of, short, tryton_decimal};
use super::TrytonErp;

/// Workflow steps before giving up on a document that does not reach its end.
const MAX_STEPS: usize = 8;
/// How a sale line's description names its Shopify line.
const MARK: &str = "[shopify-line:";
const SALE_FIELDS: &[&str] = &[
    "number",
    "state",
    "shipment_state",
    "warehouse",
    "shipments",
    "shipment_returns",
    "description",
];

/// Tryton ids of the generic party: itself and the address used for invoice and shipment.
#[derive(Clone, Copy, Debug)]
pub(super) struct SaleParty {
    id: i64,
    address: i64,
}

/// A `sale.sale` as read.
#[derive(Clone, Debug)]
struct Sale {
    id: i64,
    number: Option<String>,
    state: String,
    shipment_state: String,
    warehouse: Option<i64>,
    shipments: Vec<i64>,
    returns: Vec<i64>,
    description: Option<String>,
}

/// A `sale.line` as read; `line` is the Shopify line its description names.
#[derive(Clone, Debug)]
struct Line {
    id: i64,
    line: Option<String>,
    item: Option<String>,
    quantity: Decimal,
}

fn description(line: &SalesLine) -> String {
    format!("{} {MARK}{}]", line.item, line.line)
}

fn shopify_line(description: &str) -> Option<String> {
    let start = description.rfind(MARK)? + MARK.len();
    let rest = &description[start..];
    Some(rest[..rest.find(']')?].to_string())
}

fn ids(v: Option<&Value>) -> Vec<i64> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| id_of(Some(x))).collect())
        .unwrap_or_default()
}

fn text(row: &Value, field: &str) -> Option<String> {
    row.get(field).and_then(Value::as_str).map(str::to_string)
}

fn parse_sale(row: &Value) -> Result<Sale, ErpError> {
    let (Some(id), Some(state)) = (id_of(row.get("id")), text(row, "state")) else {
        return Err(ErpError::Unavailable(format!(
            "Tryton answered a sale without id or state: {}",
            short(&row.to_string())
        )));
    };
    Ok(Sale {
        id,
        number: text(row, "number"),
        state,
        shipment_state: text(row, "shipment_state").unwrap_or_default(),
        warehouse: id_of(row.get("warehouse")),
        shipments: ids(row.get("shipments")),
        returns: ids(row.get("shipment_returns")),
        description: text(row, "description"),
    })
}

/// Sum of quantities per Shopify line.
fn add(map: &mut Vec<SalesLine>, line: &str, item: &str, q: Decimal) {
    match map.iter_mut().find(|l| l.line == line) {
        Some(l) => l.quantity += q,
        None => map.push(SalesLine {
            line: line.to_string(),
            item: item.to_string(),
            quantity: q,
        }),
    }
}

/// The lines must be there, name each Shopify line once and carry positive quantities.
fn check_lines(what: &str, lines: &[SalesLine]) -> Result<(), ErpError> {
    if lines.is_empty() {
        return Err(ErpError::Rejected(format!(
            "{what} has no lines; nothing to send to Tryton"
        )));
    }
    let mut seen = HashSet::new();
    for l in lines {
        if l.quantity <= Decimal::ZERO {
            return Err(ErpError::Rejected(format!(
                "{what}: line {} ({}) has quantity {}, not positive",
                l.line, l.item, l.quantity
            )));
        }
        if !seen.insert(l.line.as_str()) {
            return Err(ErpError::Rejected(format!(
                "{what} names Shopify line {} twice",
                l.line
            )));
        }
    }
    Ok(())
}

/// The quantity must be a whole number of the unit's rounding and fit its digits.
fn fits_unit(q: Decimal, p: &Product) -> bool {
    (p.rounding.is_zero() || (q % p.rounding).is_zero()) && q.normalize().scale() <= p.digits
}

impl TrytonErp {
    /// The generic party (cached), or why sales cannot be sent.
    async fn sale_party(&self) -> Result<SaleParty, ErpError> {
        let Some(code) = self.sale_party.as_deref() else {
            return Err(ErpError::Rejected(
                "TRYTON_SALE_PARTY is not set: set it to the code of Tryton's generic party \
                 \"Shopify customers\" (infra/erp/bootstrap.py writes it to erp.env)"
                    .into(),
            ));
        };
        if let Some(p) = *self.party_lock() {
            return Ok(p);
        }
        let rows = self
            .search(
                "party.party",
                &json!([["code", "=", code]]),
                &["addresses"],
                None,
            )
            .await?;
        let row = rows.first().ok_or_else(|| {
            ErpError::Rejected(format!(
                "Tryton has no party with code {code:?} (TRYTON_SALE_PARTY); create the generic \
                 party \"Shopify customers\" or fix the setting"
            ))
        })?;
        let (Some(id), Some(address)) = (
            id_of(row.get("id")),
            ids(row.get("addresses")).first().copied(),
        ) else {
            return Err(ErpError::Rejected(format!(
                "Tryton party {code:?} (TRYTON_SALE_PARTY) has no address; Tryton quotes a sale \
                 only with an invoice and shipment address: give the party a non-personal one \
                 (e.g. the warehouse's)"
            )));
        };
        let p = SaleParty { id, address };
        *self.party_lock() = Some(p);
        Ok(p)
    }

    fn party_lock(&self) -> std::sync::MutexGuard<'_, Option<SaleParty>> {
        self.sale_party_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The sale carrying `reference` (a non-cancelled one first, then the oldest).
    async fn sale_by_reference(&self, reference: &str) -> Result<Option<Sale>, ErpError> {
        let rows = self
            .search(
                "sale.sale",
                &json!([["reference", "=", reference]]),
                SALE_FIELDS,
                None,
            )
            .await?;
        let mut sales = rows.iter().map(parse_sale).collect::<Result<Vec<_>, _>>()?;
        sales.sort_by_key(|s| (s.state == "cancelled", s.id));
        Ok(sales.into_iter().next())
    }

    async fn read_sale(&self, id: i64) -> Result<Sale, ErpError> {
        let rows = self
            .search("sale.sale", &json!([["id", "=", id]]), SALE_FIELDS, None)
            .await?;
        match rows.first() {
            Some(row) => parse_sale(row),
            None => Err(ErpError::Unavailable(format!(
                "Tryton sale {id} disappeared while being worked on"
            ))),
        }
    }

    async fn lines_of(&self, sale: i64) -> Result<Vec<Line>, ErpError> {
        let rows = self
            .search(
                "sale.line",
                &json!([["sale", "=", sale], ["type", "=", "line"]]),
                &["description", "product.code", "quantity"],
                None,
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(Line {
                    id: id_of(r.get("id"))?,
                    line: r
                        .get("description")
                        .and_then(Value::as_str)
                        .and_then(shopify_line),
                    item: r
                        .get("product")
                        .and_then(|p| p.get("code"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    quantity: r.get("quantity").and_then(decimal_of)?,
                })
            })
            .collect())
    }

    /// Presses a workflow button of a sale; answers the sale as it is after.
    async fn sale_button(&self, id: i64, button: &str) -> Result<Sale, ErpError> {
        self.post(&format!("sale.sale/{id}/{button}"), &json!({}), &["state"])
            .await?;
        self.read_sale(id).await
    }

    /// Takes the sale from its state to confirmed and processed (its shipments exist).
    async fn confirm_workflow(&self, mut sale: Sale, reference: &str) -> Result<Sale, ErpError> {
        for _ in 0..MAX_STEPS {
            let button = match sale.state.as_str() {
                "draft" => "quote",
                "quotation" => "confirm",
                "confirmed" => "process",
                _ => return Ok(sale),
            };
            let before = sale.state.clone();
            sale = self.sale_button(sale.id, button).await?;
            if sale.state == before {
                return Err(ErpError::Rejected(format!(
                    "Tryton sale {} ({reference}) stays {before:?} after {button}; finish it in \
                     Tryton",
                    sale.id
                )));
            }
        }
        Err(ErpError::Rejected(format!(
            "Tryton sale {} ({reference}) did not reach processing in {MAX_STEPS} steps (state \
             {:?}); finish it in Tryton",
            sale.id, sale.state
        )))
    }

    /// Products of the lines, every one known and every quantity fitting its unit, else
    /// rejected before anything is written.
    async fn resolve(
        &self,
        what: &str,
        lines: &[SalesLine],
    ) -> Result<HashMap<String, Product>, ErpError> {
        let codes: Vec<&str> = lines.iter().map(|l| l.item.as_str()).collect();
        let products = self.products(&codes).await?;
        let mut unknown: Vec<&str> = codes
            .into_iter()
            .filter(|c| !products.contains_key(*c))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if !unknown.is_empty() {
            return Err(ErpError::Rejected(format!(
                "Tryton knows no product with code {} (product.product.code) for {what}; fix the \
                 SKU map or create the products",
                unknown.join(", ")
            )));
        }
        for l in lines {
            let p = &products[l.item.as_str()];
            if !fits_unit(l.quantity, p) {
                return Err(ErpError::Rejected(format!(
                    "{what}: quantity {} of {} is not a multiple of its Tryton unit's rounding {} \
                     ({} decimals); the SKU map's unit factor does not fit the ERP unit",
                    l.quantity,
                    l.item,
                    p.rounding.normalize(),
                    p.digits
                )));
            }
        }
        Ok(products)
    }

    /// A new sale line's values (`sign` -1 for a return).
    fn line_values(line: &SalesLine, p: &Product, sign: Decimal) -> Value {
        json!({
            "product": p.id,
            "unit": p.uom,
            "quantity": tryton_decimal(line.quantity * sign),
            "unit_price": tryton_decimal(Decimal::ZERO),
            "description": description(line),
        })
    }

    /// Creates a sale (draft) of the generic party.
    async fn create_sale(
        &self,
        header: Value,
        lines: Vec<Value>,
        warehouse: i64,
    ) -> Result<Sale, ErpError> {
        let party = self.sale_party().await?;
        let mut body = json!({
            "party": party.id,
            "invoice_address": party.address,
            "shipment_address": party.address,
            "warehouse": warehouse,
            "shipment_method": "order",
            "invoice_method": "manual",
            "lines": [["create", lines]],
        });
        if let (Some(b), Some(h)) = (body.as_object_mut(), header.as_object()) {
            b.extend(h.clone());
        }
        let created = self.post("sale.sale", &body, SALE_FIELDS).await?;
        parse_sale(&created)
    }

    async fn place_order(&self, order: &SalesOrder) -> Result<SalesOrderView, ErpError> {
        self.sale_party().await?;
        let sale = match self.sale_by_reference(&order.reference).await? {
            Some(sale) => sale,
            None => {
                let what = format!("sales order {} ({})", order.reference, order.number);
                check_lines(&what, &order.lines)?;
                let wh = self.warehouse(&order.warehouse).await?;
                let products = self.resolve(&what, &order.lines).await?;
                let lines = order
                    .lines
                    .iter()
                    .map(|l| Self::line_values(l, &products[l.item.as_str()], Decimal::ONE))
                    .collect();
                let header = json!({"reference": order.reference, "description": order.number});
                self.create_sale(header, lines, wh.id).await?
            }
        };
        let sale = self.confirm_workflow(sale, &order.reference).await?;
        self.view(&order.reference, &sale).await
    }

    async fn revise_order(&self, order: &SalesOrder) -> Result<Change, ErpError> {
        self.sale_party().await?;
        let Some(sale) = self.sale_by_reference(&order.reference).await? else {
            return Err(ErpError::Rejected(format!(
                "Tryton holds no sale with reference {}; place the order first",
                order.reference
            )));
        };
        let what = format!("sales order {} ({})", order.reference, order.number);
        check_lines(&what, &order.lines)?;
        let current = self.lines_of(sale.id).await?;
        let mut ops: Vec<Value> = Vec::new();
        let mut new_lines: Vec<&SalesLine> = Vec::new();
        let mut changed: Vec<(i64, &SalesLine)> = Vec::new();
        for l in &order.lines {
            match current.iter().find(|c| c.line.as_deref() == Some(&l.line)) {
                Some(c) if c.item.as_deref() == Some(&l.item) && c.quantity == l.quantity => {}
                Some(c) => changed.push((c.id, l)),
                None => new_lines.push(l),
            }
        }
        let gone: Vec<i64> = current
            .iter()
            .filter(|c| {
                c.line
                    .as_ref()
                    .is_some_and(|id| !order.lines.iter().any(|l| &l.line == id))
            })
            .map(|c| c.id)
            .collect();
        if new_lines.is_empty() && changed.is_empty() && gone.is_empty() {
            return Ok(Change::Made);
        }
        match sale.state.as_str() {
            "draft" | "quotation" => {}
            "cancelled" => {
                return Ok(Change::Refused(format!(
                    "Tryton sale {} ({}) is cancelled; its lines are not changed",
                    sale.number.as_deref().unwrap_or("-"),
                    order.reference
                )))
            }
            state => {
                return Ok(Change::Refused(format!(
                    "Tryton sale {} ({}) is {state}: Tryton does not allow editing the lines of \
                     a confirmed sale. In Tryton, change its customer shipment (or cancel it \
                     and place a new sale) to match Shopify's order {}",
                    sale.number.as_deref().unwrap_or("-"),
                    order.reference,
                    order.number
                )))
            }
        }
        let touched: Vec<SalesLine> = new_lines
            .iter()
            .copied()
            .chain(changed.iter().map(|(_, l)| *l))
            .cloned()
            .collect();
        let products = if touched.is_empty() {
            HashMap::new()
        } else {
            self.resolve(&what, &touched).await?
        };
        if !new_lines.is_empty() {
            let values: Vec<Value> = new_lines
                .iter()
                .map(|l| Self::line_values(l, &products[l.item.as_str()], Decimal::ONE))
                .collect();
            ops.push(json!(["create", values]));
        }
        for (id, l) in &changed {
            let mut values = Self::line_values(l, &products[l.item.as_str()], Decimal::ONE);
            if let Some(v) = values.as_object_mut() {
                v.remove("unit_price");
            }
            ops.push(json!(["write", [id], values]));
        }
        if !gone.is_empty() {
            ops.push(json!(["delete", gone]));
        }
        let was_quoted = sale.state == "quotation";
        if was_quoted {
            self.sale_button(sale.id, "draft").await?;
        }
        self.put(
            &format!("sale.sale/{}", sale.id),
            &json!({"lines": ops}),
            &["state"],
        )
        .await?;
        if was_quoted {
            self.sale_button(sale.id, "quote").await?;
        }
        Ok(Change::Made)
    }
}

impl ErpSales for TrytonErp {
    async fn place(&self, order: &SalesOrder) -> Result<SalesOrderView, ErpError> {
        self.place_order(order).await
    }

    async fn revise(&self, order: &SalesOrder) -> Result<Change, ErpError> {
        self.revise_order(order).await
    }

    async fn cancel(&self, reference: &str) -> Result<Change, ErpError> {
        self.cancel_order(reference).await
    }

    async fn ship(&self, movement: &SalesMovement) -> Result<Change, ErpError> {
        self.ship_movement(movement).await
    }

    async fn take_back(&self, movement: &SalesMovement) -> Result<Change, ErpError> {
        self.take_back_movement(movement).await
    }

    async fn find(&self, reference: &str) -> Result<Option<SalesOrderView>, ErpError> {
        self.sale_party().await?;
        match self.sale_by_reference(reference).await? {
            Some(sale) => Ok(Some(self.view(reference, &sale).await?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shopify_line_is_read_back_from_the_description() {
        let l = SalesLine {
            line: "866550311766439020".into(),
            item: "TEE-BLK-M".into(),
            quantity: Decimal::ONE,
        };
        let d = description(&l);
        assert_eq!(shopify_line(&d).as_deref(), Some("866550311766439020"));
        assert_eq!(shopify_line("Mug, added by an operator"), None);
    }

    #[tokio::test]
    async fn sales_need_the_party_setting() {
        let erp = TrytonErp::new("http://127.0.0.1:1/db", "k", 1).expect("loopback");
        let err = erp.find("r").await.expect_err("no party configured");
        assert!(matches!(err, ErpError::Rejected(m) if m.contains("TRYTON_SALE_PARTY")));
    }
}
