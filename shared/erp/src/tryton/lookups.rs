//! Tryton ids by our codes: a warehouse's locations (`stock.location` of type warehouse, by
//! code) and a product with its default unit (`product.product`, by code). Both are cached for
//! the adapter's life (ids do not change under a running sync); an unknown warehouse is an
//! error, unknown products are left out for the caller to name.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::ports::ErpError;

use super::wire::{decimal_of, id_of, short};
use super::TrytonErp;

/// Tryton ids of a product, with its default unit (moves are written in it).
#[derive(Clone, Debug)]
pub(super) struct Product {
    pub(super) id: i64,
    pub(super) uom: i64,
    /// The unit's rounding (e.g. 1 for "u", 0.01 for "kg").
    pub(super) rounding: Decimal,
    /// The unit's digits (decimal places Tryton accepts).
    pub(super) digits: u32,
}

/// Tryton ids of a warehouse's locations.
#[derive(Clone, Copy, Debug)]
pub(super) struct Warehouse {
    pub(super) id: i64,
    pub(super) storage: i64,
    pub(super) lost_found: i64,
}

/// What has been looked up, by our code.
#[derive(Default)]
pub(super) struct Caches {
    products: HashMap<String, Product>,
    warehouses: HashMap<String, Warehouse>,
}

impl TrytonErp {
    /// The warehouse with this code, with its storage and lost-and-found locations.
    pub(super) async fn warehouse(&self, code: &str) -> Result<Warehouse, ErpError> {
        if let Some(w) = self.lock().warehouses.get(code) {
            return Ok(*w);
        }
        let rows = self
            .search(
                "stock.location",
                &json!([["type", "=", "warehouse"], ["code", "=", code]]),
                &["code", "storage_location", "lost_found_location"],
                None,
            )
            .await?;
        let row = match rows.as_slice() {
            [] => {
                return Err(ErpError::Rejected(format!(
                "Tryton has no warehouse with code {code:?} (stock.location of type warehouse); \
                 fix the location mapping or create the warehouse"
            )))
            }
            [row] => row,
            _ => {
                return Err(ErpError::Rejected(format!(
                    "Tryton has {} warehouses with code {code:?}; make the code unique",
                    rows.len()
                )))
            }
        };
        let id = id_of(row.get("id"));
        let storage = id_of(row.get("storage_location"));
        let lost_found = id_of(row.get("lost_found_location"));
        let (Some(id), Some(storage), Some(lost_found)) = (id, storage, lost_found) else {
            return Err(ErpError::Rejected(format!(
                "Tryton warehouse {code:?} lacks a storage or lost-and-found location; \
                 set both on the warehouse"
            )));
        };
        let w = Warehouse {
            id,
            storage,
            lost_found,
        };
        self.lock().warehouses.insert(code.to_string(), w);
        Ok(w)
    }

    /// Products by code; codes unknown to Tryton are absent from the result.
    pub(super) async fn products(
        &self,
        codes: &[&str],
    ) -> Result<HashMap<String, Product>, ErpError> {
        let mut out = HashMap::new();
        let mut missing: Vec<&str> = Vec::new();
        {
            let caches = self.lock();
            for code in codes {
                match caches.products.get(*code) {
                    Some(p) => {
                        out.insert((*code).to_string(), p.clone());
                    }
                    None if !missing.contains(code) => missing.push(code),
                    None => {}
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let rows = self
            .search(
                "product.product",
                &json!([["code", "in", missing]]),
                &[
                    "code",
                    "default_uom",
                    "default_uom.rounding",
                    "default_uom.digits",
                ],
                None,
            )
            .await?;
        let mut fetched = Vec::new();
        for row in &rows {
            let Some(code) = row.get("code").and_then(Value::as_str) else {
                continue;
            };
            let uom = row.get("default_uom");
            let parsed = (|| {
                let id = id_of(row.get("id"))?;
                let uom_id = id_of(uom)?;
                let rounding = decimal_of(uom?.get("rounding")?)?;
                let digits = uom?.get("digits")?.as_u64()?;
                Some(Product {
                    id,
                    uom: uom_id,
                    rounding,
                    digits: u32::try_from(digits).ok()?,
                })
            })();
            match parsed {
                Some(p) => fetched.push((code.to_string(), p)),
                None => {
                    return Err(ErpError::Unavailable(format!(
                        "Tryton answered product {code:?} without id or unit: {}",
                        short(&row.to_string())
                    )))
                }
            }
        }
        let mut caches = self.lock();
        for (code, p) in fetched {
            caches.products.insert(code.clone(), p.clone());
            out.insert(code, p);
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Caches> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.caches.lock().unwrap_or_else(|e| e.into_inner())
    }
}
