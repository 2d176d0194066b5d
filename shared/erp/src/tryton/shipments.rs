//! The write: an [`ErpWrite`] as at most two `stock.shipment.internal` documents, `"{key}:in"`
//! (lost-and-found -> storage, positive changes) and `"{key}:out"` (storage -> lost-and-found,
//! negative changes). Both references are searched first; a missing one is created (moves
//! nested) after every line of it is resolved and checked, and each is run through its workflow
//! (`wait`, `assign_try`, `assign_force` when short, `do`) to `done`. A `done` one is left alone,
//! so a retry of a key never applies a direction twice (see the module doc of `tryton` for what
//! Tryton does not guarantee).

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::ports::ErpError;
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};

use super::lookups::{Product, Warehouse};
use super::wire::{id_of, short, tryton_decimal};
use super::TrytonErp;

/// Workflow steps before giving up on a shipment that does not reach `done`.
const MAX_STEPS: usize = 8;

/// Direction of one internal shipment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// lost-and-found -> storage (positive changes).
    In,
    /// storage -> lost-and-found (negative changes).
    Out,
}

impl Direction {
    fn suffix(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// A shipment found by reference: its id and state.
#[derive(Clone, Debug)]
struct Found {
    id: i64,
    state: String,
}

impl TrytonErp {
    /// Applies `write` at most once per key (see the module doc).
    pub(super) async fn apply_write(&self, write: &ErpWrite) -> Result<(), ErpError> {
        let started = std::time::Instant::now();
        let mut by_dir: Vec<(Direction, Vec<&ErpLine>)> = vec![
            (
                Direction::In,
                write
                    .lines
                    .iter()
                    .filter(|l| l.change > Decimal::ZERO)
                    .collect(),
            ),
            (
                Direction::Out,
                write
                    .lines
                    .iter()
                    .filter(|l| l.change < Decimal::ZERO)
                    .collect(),
            ),
        ];
        by_dir.retain(|(_, lines)| !lines.is_empty());
        if by_dir.is_empty() {
            return Ok(());
        }
        let reference = |d: Direction| format!("{}:{}", write.key, d.suffix());
        let refs: Vec<String> = by_dir.iter().map(|(d, _)| reference(*d)).collect();
        let found = self.find_shipments(&refs).await?;

        // Everything that must be created is resolved and checked before anything is written,
        // so an unknown item or an unfit quantity changes nothing.
        let to_create: Vec<&(Direction, Vec<&ErpLine>)> = by_dir
            .iter()
            .filter(|(d, _)| !found.contains_key(&reference(*d)))
            .collect();
        let mut resolved: Vec<(Direction, Vec<(&ErpLine, Product)>)> = Vec::new();
        let mut wh = None;
        if !to_create.is_empty() {
            let w = self.warehouse(&write.warehouse).await?;
            wh = Some(w);
            let codes: Vec<&str> = to_create
                .iter()
                .flat_map(|(_, lines)| lines.iter().map(|l| l.item.as_str()))
                .collect();
            let products = self.products(&codes).await?;
            let mut unknown: Vec<&str> = codes
                .iter()
                .copied()
                .filter(|c| !products.contains_key(*c))
                .collect();
            unknown.sort_unstable();
            unknown.dedup();
            if !unknown.is_empty() {
                return Err(ErpError::Rejected(format!(
                    "Tryton knows no product with code {} (product.product.code) for write {} at \
                     warehouse {}; fix the SKU map or create the products",
                    unknown.join(", "),
                    write.key,
                    write.warehouse
                )));
            }
            for (dir, lines) in &to_create {
                let mut out = Vec::new();
                for line in lines {
                    let p = &products[line.item.as_str()];
                    check_quantity(line, p)?;
                    out.push((*line, p.clone()));
                }
                resolved.push((*dir, out));
            }
        }

        for (dir, _) in &by_dir {
            let r = reference(*dir);
            let shipment = match found.get(&r) {
                Some(f) if f.state == "done" => {
                    tracing::info!(
                        target: "stockbridge::tryton",
                        reference = %r, shipment = f.id,
                        "ERP write already applied; nothing to do"
                    );
                    continue;
                }
                Some(f) => {
                    tracing::warn!(
                        target: "stockbridge::tryton",
                        reference = %r, shipment = f.id, state = %f.state,
                        "continuing an ERP write an earlier attempt left unfinished"
                    );
                    f.clone()
                }
                None => {
                    let lines: Vec<(&ErpLine, &Product)> = resolved
                        .iter()
                        .find(|(d, _)| d == dir)
                        .map(|(_, ls)| ls.iter().map(|(l, p)| (*l, p)).collect())
                        .unwrap_or_default();
                    let Some(w) = wh else {
                        continue;
                    };
                    self.create_shipment(&r, w, *dir, &lines).await?
                }
            };
            self.finish(&r, shipment).await?;
        }
        tracing::info!(
            target: "stockbridge::tryton",
            key = %write.key, warehouse = %write.warehouse, lines = write.lines.len(),
            ms = started.elapsed().as_millis() as u64,
            "ERP write applied"
        );
        Ok(())
    }

    /// Shipments already carrying these references.
    async fn find_shipments(&self, refs: &[String]) -> Result<HashMap<String, Found>, ErpError> {
        let rows = self
            .search(
                "stock.shipment.internal",
                &json!([["reference", "in", refs]]),
                &["reference", "state"],
                None,
            )
            .await?;
        let mut found: HashMap<String, Found> = HashMap::new();
        for row in rows {
            let (Some(reference), Some(id), Some(state)) = (
                row.get("reference").and_then(Value::as_str),
                id_of(row.get("id")),
                row.get("state").and_then(Value::as_str),
            ) else {
                continue;
            };
            let candidate = Found {
                id,
                state: state.to_string(),
            };
            // Should there be several (someone copied one), prefer done, then not cancelled.
            let better = match found.get(reference) {
                None => true,
                Some(old) => rank(&candidate.state) > rank(&old.state),
            };
            if better {
                found.insert(reference.to_string(), candidate);
            }
        }
        Ok(found)
    }

    async fn create_shipment(
        &self,
        reference: &str,
        wh: Warehouse,
        dir: Direction,
        lines: &[(&ErpLine, &Product)],
    ) -> Result<Found, ErpError> {
        let (from, to) = match dir {
            Direction::In => (wh.lost_found, wh.storage),
            Direction::Out => (wh.storage, wh.lost_found),
        };
        let moves: Vec<Value> = lines
            .iter()
            .map(|(line, p)| {
                json!({
                    "product": p.id,
                    "unit": p.uom,
                    "quantity": tryton_decimal(line.change.abs()),
                    "from_location": from,
                    "to_location": to,
                })
            })
            .collect();
        let body = json!({
            "reference": reference,
            "from_location": from,
            "to_location": to,
            "moves": [["create", moves]],
        });
        let created = self
            .post("stock.shipment.internal", &body, &["state"])
            .await?;
        let id = id_of(created.get("id")).ok_or_else(|| {
            ErpError::Unavailable(format!(
                "Tryton created shipment {reference} but answered without its id: {}",
                short(&created.to_string())
            ))
        })?;
        let state = created
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("draft")
            .to_string();
        Ok(Found { id, state })
    }

    /// Runs the internal shipment's workflow from its state to `done`.
    async fn finish(&self, reference: &str, mut shipment: Found) -> Result<(), ErpError> {
        for _ in 0..MAX_STEPS {
            let button = match shipment.state.as_str() {
                "done" => return Ok(()),
                "cancelled" => {
                    return Err(ErpError::Rejected(format!(
                        "Tryton internal shipment {} ({reference}) was cancelled in the ERP; \
                         decide whether the change is still owed, then reset it to draft in \
                         Tryton or drop the write",
                        shipment.id
                    )))
                }
                "request" => "draft",
                "draft" => "wait",
                "waiting" => "assign_try",
                "assigned" => "do",
                "packed" => "ship",
                "shipped" => "do",
                other => {
                    return Err(ErpError::Rejected(format!(
                        "Tryton internal shipment {} ({reference}) is in state {other:?}, \
                         which this adapter does not know how to finish",
                        shipment.id
                    )))
                }
            };
            let mut next = self.button(shipment.id, button).await?;
            if button == "assign_try" && next == "waiting" {
                // Not enough stock: force it, as Shopify already sold or lost it.
                next = self.button(shipment.id, "assign_force").await?;
            }
            if next == shipment.state && button != "assign_try" {
                return Err(ErpError::Rejected(format!(
                    "Tryton internal shipment {} ({reference}) stays {next:?} after {button}; \
                     finish it in Tryton",
                    shipment.id
                )));
            }
            shipment.state = next;
        }
        Err(ErpError::Rejected(format!(
            "Tryton internal shipment {} ({reference}) did not reach done in {MAX_STEPS} steps \
             (state {:?}); finish it in Tryton",
            shipment.id, shipment.state
        )))
    }

    /// Presses one workflow button on an internal shipment; answers its state after.
    async fn button(&self, id: i64, button: &str) -> Result<String, ErpError> {
        let path = format!("stock.shipment.internal/{id}/{button}");
        let answer = self.post(&path, &json!({}), &["state"]).await?;
        answer
            .get("state")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                ErpError::Unavailable(format!(
                    "Tryton answered {path} without the shipment state: {}",
                    short(&answer.to_string())
                ))
            })
    }
}

/// Order of preference among shipments found under one reference.
fn rank(state: &str) -> u8 {
    match state {
        "done" => 3,
        "cancelled" => 0,
        _ => 2,
    }
}

/// The quantity must be a whole number of the unit's rounding and fit its digits.
fn check_quantity(line: &ErpLine, p: &Product) -> Result<(), ErpError> {
    let q = line.change.abs();
    let fits_rounding = p.rounding.is_zero() || (q % p.rounding).is_zero();
    let fits_digits = q.normalize().scale() <= p.digits;
    if fits_rounding && fits_digits {
        return Ok(());
    }
    Err(ErpError::Rejected(format!(
        "change {} of {} is not a multiple of its Tryton unit's rounding {} ({} decimals); \
         the SKU map's unit factor does not fit the ERP unit: fix the factor or the product's \
         unit, then replay",
        line.change,
        line.item,
        p.rounding.normalize(),
        p.digits
    )))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn quantities_must_fit_the_unit() {
        let unit = Product {
            id: 1,
            uom: 1,
            rounding: Decimal::ONE,
            digits: 0,
        };
        let kg = Product {
            rounding: Decimal::from_str("0.01").unwrap_or_default(),
            digits: 2,
            ..unit.clone()
        };
        let line = |c: &str| ErpLine {
            item: "X".into(),
            change: Decimal::from_str(c).unwrap_or_default(),
            target: None,
        };
        assert!(check_quantity(&line("-3.000"), &unit).is_ok());
        assert!(check_quantity(&line("2.5"), &unit).is_err());
        assert!(check_quantity(&line("2.25"), &kg).is_ok());
        assert!(check_quantity(&line("2.255"), &kg).is_err());
    }
}
