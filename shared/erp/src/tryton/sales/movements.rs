//! Goods moving under a sale, once per movement key.
//!
//! - `ship`: a `stock.shipment.out` whose `reference` is the key is searched first (done: made;
//!   else its workflow is continued). Otherwise the sale's open customer shipment that plans
//!   enough of every line is taken (draft/assigned are brought to waiting by `wait`), and in ONE
//!   write its `reference` becomes the key and its inventory moves (storage -> output) are cut to
//!   exactly the units shipped (0 for lines not shipped now). Then `assign_try` (`assign_force`
//!   when short), `pick`, `pack`, `do`. Tryton drops the zero moves and, processing the sale,
//!   creates a new waiting shipment for the rest (its back-order). Storage loses exactly the
//!   units shipped. Warehouses whose storage is their output (one-step) are not supported.
//! - `take_back`: a return sale (`sale.sale` with `origin` the sale, `reference` the key,
//!   negative lines naming the same Shopify lines) is searched, else created; `quote`,
//!   `confirm`, and its `stock.shipment.out.return` is `receive`d and `do`ne: the units come
//!   back into the warehouse's storage. At most the units shipped and not yet returned.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::ports::{Change, ErpError, SalesMovement};

use super::super::wire::{decimal_of, id_of, tryton_decimal};
use super::super::TrytonErp;
use super::{check_lines, ids, text, Line, Sale, MAX_STEPS};

/// A customer shipment as read.
struct Shipment {
    id: i64,
    state: String,
    inventory: Vec<i64>,
    outgoing: Vec<i64>,
}

impl TrytonErp {
    /// The sale a movement belongs to, confirmed and processed, in the movement's warehouse,
    /// with its lines; or why not.
    async fn movement_sale(
        &self,
        m: &SalesMovement,
    ) -> Result<Result<(Sale, Vec<Line>), Change>, ErpError> {
        let Some(sale) = self.sale_by_reference(&m.order).await? else {
            return Err(ErpError::Rejected(format!(
                "Tryton holds no sale with reference {} for movement {}; place the order first",
                m.order, m.key
            )));
        };
        let number = sale.number.clone().unwrap_or_else(|| "-".into());
        let sale = match sale.state.as_str() {
            "confirmed" => self.sale_button(sale.id, "process").await?,
            "processing" | "done" => sale,
            state => {
                return Ok(Err(Change::Refused(format!(
                    "Tryton sale {number} ({}) is {state}: nothing of it can ship or come back; \
                     confirm it in Tryton or settle movement {} by hand",
                    m.order, m.key
                ))))
            }
        };
        let wh = self.warehouse(&m.warehouse).await?;
        if sale.warehouse != Some(wh.id) {
            return Err(ErpError::Rejected(format!(
                "movement {} names warehouse {} but Tryton sale {number} ({}) ships from another",
                m.key, m.warehouse, m.order
            )));
        }
        let lines = self.lines_of(sale.id).await?;
        for l in &m.lines {
            let known = lines
                .iter()
                .any(|s| s.line.as_deref() == Some(&l.line) && s.item.as_deref() == Some(&l.item));
            if !known {
                return Err(ErpError::Rejected(format!(
                    "Tryton sale {number} ({}) has no line for Shopify line {} ({}) of movement {}",
                    m.order, l.line, l.item, m.key
                )));
            }
        }
        Ok(Ok((sale, lines)))
    }

    async fn shipments_out(&self, domain: Value) -> Result<Vec<Shipment>, ErpError> {
        let rows = self
            .search(
                "stock.shipment.out",
                &domain,
                &["state", "inventory_moves", "outgoing_moves"],
                None,
            )
            .await?;
        let mut out: Vec<Shipment> = rows
            .iter()
            .filter_map(|r| {
                Some(Shipment {
                    id: id_of(r.get("id"))?,
                    state: text(r, "state")?,
                    inventory: ids(r.get("inventory_moves")),
                    outgoing: ids(r.get("outgoing_moves")),
                })
            })
            .collect();
        out.sort_by_key(|s| (s.state == "cancelled", s.state != "done", s.id));
        Ok(out)
    }

    pub(super) async fn ship_movement(&self, m: &SalesMovement) -> Result<Change, ErpError> {
        self.sale_party().await?;
        check_lines(&format!("movement {}", m.key), &m.lines)?;
        let found = self
            .shipments_out(json!([["reference", "=", m.key]]))
            .await?;
        if let Some(s) = found.into_iter().next() {
            return self.finish_out(&m.key, s.id, s.state).await;
        }
        let (sale, lines) = match self.movement_sale(m).await? {
            Ok(found) => found,
            Err(refused) => return Ok(refused),
        };
        // Units wanted per sale line.
        let mut wanted: HashMap<i64, Decimal> = HashMap::new();
        for l in &m.lines {
            if let Some(s) = lines.iter().find(|s| s.line.as_deref() == Some(&l.line)) {
                *wanted.entry(s.id).or_default() += l.quantity;
            }
        }
        let open = self
            .shipments_out(json!([
                ["id", "in", sale.shipments],
                ["state", "in", ["draft", "waiting", "assigned"]]
            ]))
            .await?;
        for mut s in open {
            let planned = self.planned(&s.outgoing).await?;
            let enough = wanted.iter().all(|(line, q)| {
                planned
                    .values()
                    .filter(|(l, _)| l == line)
                    .map(|(_, p)| *p)
                    .sum::<Decimal>()
                    >= *q
            });
            if !enough {
                continue;
            }
            if s.state != "waiting" {
                self.post(
                    &format!("stock.shipment.out/{}/wait", s.id),
                    &json!({}),
                    &["state"],
                )
                .await?;
                let again = self.shipments_out(json!([["id", "=", s.id]])).await?;
                let Some(fresh) = again.into_iter().next() else {
                    continue;
                };
                s = fresh;
            }
            if s.inventory.is_empty() {
                return Err(ErpError::Rejected(format!(
                    "Tryton customer shipment {} of movement {} has no inventory moves (its \
                     warehouse's storage is its output?): this adapter ships only from \
                     warehouses with separate storage and output locations",
                    s.id, m.key
                )));
            }
            // Inventory moves' origin is their outgoing move, whose origin is the sale line.
            let rows = self
                .search(
                    "stock.move",
                    &json!([["id", "in", s.inventory]]),
                    &["origin", "quantity"],
                    None,
                )
                .await?;
            let mut left = wanted.clone();
            let mut writes = Vec::new();
            let mut inventory: Vec<&Value> = rows.iter().collect();
            inventory.sort_by_key(|r| id_of(r.get("id")));
            for r in inventory {
                let (Some(id), Some(q)) =
                    (id_of(r.get("id")), r.get("quantity").and_then(decimal_of))
                else {
                    continue;
                };
                let outgoing = r
                    .get("origin")
                    .and_then(Value::as_str)
                    .and_then(|o| o.strip_prefix("stock.move,"))
                    .and_then(|o| o.parse::<i64>().ok());
                let line = outgoing.and_then(|o| planned.get(&o)).map(|(l, _)| *l);
                let take = match line.and_then(|l| left.get_mut(&l)) {
                    Some(rest) => {
                        let t = (*rest).min(q);
                        *rest -= t;
                        t
                    }
                    None => Decimal::ZERO,
                };
                if take != q {
                    writes.push(json!(["write", [id], {"quantity": tryton_decimal(take)}]));
                }
            }
            if left.values().any(|q| *q > Decimal::ZERO) {
                continue;
            }
            self.put(
                &format!("stock.shipment.out/{}", s.id),
                &json!({"reference": m.key, "inventory_moves": writes}),
                &["state"],
            )
            .await?;
            return self.finish_out(&m.key, s.id, "waiting".into()).await;
        }
        Ok(Change::Refused(format!(
            "Tryton sale {} ({}) has no open customer shipment planning the units of movement {}; \
             it may have shipped already or been changed in Tryton: ship the goods there by hand",
            sale.number.as_deref().unwrap_or("-"),
            m.order,
            m.key
        )))
    }

    /// Outgoing moves (not cancelled): move id -> (sale line id, quantity).
    async fn planned(&self, outgoing: &[i64]) -> Result<HashMap<i64, (i64, Decimal)>, ErpError> {
        if outgoing.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = self
            .search(
                "stock.move",
                &json!([["id", "in", outgoing], ["state", "!=", "cancelled"]]),
                &["origin", "quantity"],
                None,
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let line = r
                    .get("origin")
                    .and_then(Value::as_str)?
                    .strip_prefix("sale.line,")?
                    .parse::<i64>()
                    .ok()?;
                Some((
                    id_of(r.get("id"))?,
                    (line, r.get("quantity").and_then(decimal_of)?),
                ))
            })
            .collect())
    }

    /// Runs a customer shipment from its state to `done`.
    async fn finish_out(&self, key: &str, id: i64, mut state: String) -> Result<Change, ErpError> {
        for _ in 0..MAX_STEPS {
            let button = match state.as_str() {
                "done" => return Ok(Change::Made),
                "cancelled" => {
                    return Ok(Change::Refused(format!(
                        "Tryton customer shipment {id} ({key}) was cancelled in Tryton; ship the \
                         goods there by hand"
                    )))
                }
                "draft" => "wait",
                "waiting" => "assign_try",
                "assigned" => "pick",
                "picked" => "pack",
                "packed" | "shipped" => "do",
                other => {
                    return Err(ErpError::Rejected(format!(
                        "Tryton customer shipment {id} ({key}) is in state {other:?}, which this \
                         adapter does not know how to finish"
                    )))
                }
            };
            let mut next = self.out_button("stock.shipment.out", id, button).await?;
            if button == "assign_try" && next == "waiting" {
                // Not enough stock: force it, as Shopify already sold it.
                next = self
                    .out_button("stock.shipment.out", id, "assign_force")
                    .await?;
            }
            if next == state {
                return Err(ErpError::Rejected(format!(
                    "Tryton customer shipment {id} ({key}) stays {next:?} after {button}; finish \
                     it in Tryton"
                )));
            }
            state = next;
        }
        Err(ErpError::Rejected(format!(
            "Tryton customer shipment {id} ({key}) did not reach done in {MAX_STEPS} steps; \
             finish it in Tryton"
        )))
    }

    async fn out_button(&self, model: &str, id: i64, button: &str) -> Result<String, ErpError> {
        let path = format!("{model}/{id}/{button}");
        let answer = self.post(&path, &json!({}), &["state"]).await?;
        text(&answer, "state").ok_or_else(|| {
            ErpError::Unavailable(format!("Tryton answered {path} without the state"))
        })
    }

    pub(super) async fn take_back_movement(&self, m: &SalesMovement) -> Result<Change, ErpError> {
        self.sale_party().await?;
        let what = format!("movement {}", m.key);
        check_lines(&what, &m.lines)?;
        let ret = match self.sale_by_reference(&m.key).await? {
            Some(ret) => ret,
            None => {
                let (sale, _) = match self.movement_sale(m).await? {
                    Ok(found) => found,
                    Err(refused) => return Ok(refused),
                };
                let view = self.view(&m.order, &sale).await?;
                for l in &m.lines {
                    let sum = |v: &[stockbridge_core::ports::SalesLine]| {
                        v.iter()
                            .filter(|x| x.line == l.line)
                            .map(|x| x.quantity)
                            .sum::<Decimal>()
                    };
                    let open = sum(&view.shipped) - sum(&view.returned);
                    if l.quantity > open {
                        return Ok(Change::Refused(format!(
                            "movement {} takes back {} of Shopify line {} ({}) but Tryton sale \
                             {} shipped {} not yet returned; take the rest back in Tryton",
                            m.key,
                            l.quantity,
                            l.line,
                            l.item,
                            sale.number.as_deref().unwrap_or("-"),
                            open
                        )));
                    }
                }
                let products = self.resolve(&what, &m.lines).await?;
                let lines = m
                    .lines
                    .iter()
                    .map(|l| Self::line_values(l, &products[l.item.as_str()], -Decimal::ONE))
                    .collect();
                let header = json!({
                    "reference": m.key,
                    "origin": format!("sale.sale,{}", sale.id),
                    "description": format!(
                        "return of {}",
                        sale.description.as_deref().unwrap_or(&m.order)
                    ),
                });
                self.create_sale(header, lines, sale.warehouse.unwrap_or_default())
                    .await?
            }
        };
        let ret = self.confirm_workflow(ret, &m.key).await?;
        if ret.state == "cancelled" {
            return Ok(Change::Refused(format!(
                "Tryton return sale {} ({}) was cancelled in Tryton; take the goods back there",
                ret.id, m.key
            )));
        }
        for id in ret.returns.clone() {
            let rows = self
                .search(
                    "stock.shipment.out.return",
                    &json!([["id", "=", id]]),
                    &["state"],
                    None,
                )
                .await?;
            let mut state = rows
                .first()
                .and_then(|r| text(r, "state"))
                .unwrap_or_default();
            for _ in 0..MAX_STEPS {
                let button = match state.as_str() {
                    "done" | "cancelled" => break,
                    "draft" => "receive",
                    "received" => "do",
                    other => {
                        return Err(ErpError::Rejected(format!(
                            "Tryton customer return {id} ({}) is in state {other:?}, which this \
                             adapter does not know how to finish",
                            m.key
                        )))
                    }
                };
                let next = self
                    .out_button("stock.shipment.out.return", id, button)
                    .await?;
                if next == state {
                    return Err(ErpError::Rejected(format!(
                        "Tryton customer return {id} ({}) stays {next:?} after {button}",
                        m.key
                    )));
                }
                state = next;
            }
        }
        Ok(Change::Made)
    }
}
