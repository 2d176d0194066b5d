//! Done `stock.move`s as [`FeedMove`]s: one per warehouse whose on-hand the move changed, as
//! `levels::on_hand` measures it (the warehouse's storage location and its children). A move
//! into the storage tree counts `+internal_quantity` (the product's default unit), out of it
//! `-`; a move between two places of one warehouse outside storage (supplier -> input,
//! output -> customer) or inside storage changes no on-hand and gives no row, so the rows of a
//! warehouse sum to its on-hand change. A move from one warehouse's storage straight into
//! another's gives two rows with the move's id, out first.
//!
//! `kind` is read from the other end: a supplier location -> `receipt`, customer ->
//! `shipment`, lost-and-found or inventory -> `adjustment`, a place in another warehouse ->
//! `transfer` with that warehouse as `counterpart`. Otherwise (the other end is the
//! warehouse's own input/output, or the transit location between warehouses) the move's
//! shipment says: `stock.shipment.in`(`.return`) -> `receipt`, `stock.shipment.out`(`.return`)
//! -> `shipment`, `stock.shipment.internal` -> `transfer` with the warehouse at the shipment's
//! other end; anything else is a `transfer` without counterpart.
//!
//! `reference`: Stockbridge's own reference (`sb-…` on the internal shipments of pushes,
//! `shopify:…` on sales) wherever it is found — the shipment's `reference`, or the move's
//! origin document (`purchase.line`/`sale.line` -> its purchase/sale, one hop through an origin
//! `stock.move`, as a receipt's input -> storage move has the supplier move as origin);
//! otherwise the shipment's `reference`, the origin document's number (purchase, sale,
//! inventory), the shipment's number. Moves of a product without a code and warehouses without
//! a code cannot be named to the sync and are left out (logged).
//!
//! [`FeedMove`]: stockbridge_core::ports::FeedMove

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::ports::{ErpError, FeedCursor, FeedMove, FeedPage};
use stockbridge_domain::storefront::own_document;

use super::super::wire::{decimal_of, id_of, short};
use super::super::TrytonErp;
use super::{at, timestamp, Source};

const MOVE_FIELDS: &[&str] = &[
    "product.code",
    "internal_quantity",
    "from_location",
    "to_location",
    "from_location.type",
    "to_location.type",
    "shipment",
    "origin",
];

/// A done move as read.
struct Move {
    id: i64,
    item: Option<String>,
    quantity: Decimal,
    from: i64,
    to: i64,
    from_type: String,
    to_type: String,
    shipment: Option<(String, i64)>,
    origin: Option<(String, i64)>,
    done_at: stockbridge_domain::ids::Timestamp,
}

/// A warehouse, with which of the page's locations are in its storage tree and in its tree.
struct Wh {
    code: String,
    storage: BTreeSet<i64>,
    tree: BTreeSet<i64>,
}

/// What a document says about itself.
#[derive(Clone, Debug, Default)]
struct Doc {
    reference: Option<String>,
    number: Option<String>,
    /// An internal shipment's ends.
    ends: Vec<i64>,
}

/// `"model,id"` (Tryton's Reference value) as its parts; null, `"model,"` and `"model,-1"` are
/// none.
fn reference_of(
    v: Option<&Value>,
    what: &str,
    move_id: i64,
) -> Result<Option<(String, i64)>, ErpError> {
    let bad = |shown: String| {
        ErpError::Unavailable(format!(
            "Tryton answered move {move_id} with a {what} that is not \"model,id\": {}",
            short(&shown)
        ))
    };
    let s = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => s,
        Some(other) => return Err(bad(other.to_string())),
    };
    let Some((model, id)) = s.split_once(',') else {
        return Err(bad(s.clone()));
    };
    if id.trim().is_empty() {
        return Ok(None);
    }
    match id.trim().parse::<i64>() {
        Ok(id) if id >= 0 => Ok(Some((model.to_string(), id))),
        Ok(_) => Ok(None),
        Err(_) => Err(bad(s.clone())),
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn parse_move(row: &super::Row) -> Result<Move, ErpError> {
    let v = &row.value;
    let id = row.key.id;
    let bad = |what: &str| {
        ErpError::Unavailable(format!(
            "Tryton answered done move {id} without {what}: {}",
            short(&v.to_string())
        ))
    };
    let item = match at(v, "product.code") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None if v.get("product").is_some_and(Value::is_object) => None,
        _ => return Err(bad("a product")),
    };
    let location_type = |end: &str| -> Result<String, ErpError> {
        at(v, &format!("{end}.type"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(end))
    };
    Ok(Move {
        id,
        item,
        quantity: v
            .get("internal_quantity")
            .and_then(decimal_of)
            .ok_or_else(|| bad("internal_quantity"))?,
        from: id_of(v.get("from_location")).ok_or_else(|| bad("from_location"))?,
        to: id_of(v.get("to_location")).ok_or_else(|| bad("to_location"))?,
        from_type: location_type("from_location")?,
        to_type: location_type("to_location")?,
        shipment: reference_of(v.get("shipment"), "shipment", id)?,
        origin: reference_of(v.get("origin"), "origin", id)?,
        done_at: timestamp(row.key.stamp),
    })
}

/// The reference reported for a move (see the module doc).
fn pick_reference(shipment: Option<&Doc>, origin: Option<&Doc>) -> Option<String> {
    let ship_ref = shipment.and_then(|d| d.reference.clone());
    let origin_ref = origin.and_then(|d| d.reference.clone());
    let own = [ship_ref.as_ref(), origin_ref.as_ref()]
        .into_iter()
        .flatten()
        .find(|r| own_document(r).is_some())
        .cloned();
    own.or(ship_ref)
        .or_else(|| origin.and_then(|d| d.number.clone()))
        .or(origin_ref)
        .or_else(|| shipment.and_then(|d| d.number.clone()))
}

impl TrytonErp {
    /// Done moves after `after` as per-warehouse rows (see the module doc).
    pub(in crate::tryton) async fn feed_moves(
        &self,
        after: Option<&FeedCursor>,
        limit: usize,
    ) -> Result<FeedPage<FeedMove>, ErpError> {
        let source = Source {
            model: "stock.move",
            domain: vec![json!(["state", "=", "done"])],
            stamp_of: "",
            fields: MOVE_FIELDS,
        };
        let page = self.changes_after(&[source], after, limit).await?;
        let moves = page
            .rows
            .iter()
            .map(parse_move)
            .collect::<Result<Vec<_>, _>>()?;
        if moves.is_empty() {
            return Ok(FeedPage {
                rows: Vec::new(),
                next: page.next,
                more: page.more,
            });
        }
        let shipments = self
            .documents(moves.iter().filter_map(|m| m.shipment.clone()))
            .await?;
        let origins = self
            .origins(moves.iter().filter_map(|m| m.origin.clone()))
            .await?;
        let mut locations: BTreeSet<i64> = moves.iter().flat_map(|m| [m.from, m.to]).collect();
        locations.extend(shipments.values().flat_map(|d| d.ends.iter().copied()));
        let warehouses = self.warehouse_trees(&locations).await?;

        let mut rows = Vec::new();
        for m in &moves {
            let Some(item) = &m.item else {
                tracing::warn!(
                    target: "stockbridge::tryton",
                    r#move = m.id,
                    "done move of a product without a code: not in the feed"
                );
                continue;
            };
            let shipment = m.shipment.as_ref().and_then(|s| shipments.get(s));
            let origin = m.origin.as_ref().and_then(|o| origins.get(o));
            let reference = pick_reference(shipment, origin);
            let mut mine: Vec<FeedMove> = Vec::new();
            for (wi, w) in warehouses.iter().enumerate() {
                let into = w.storage.contains(&m.to);
                let out_of = w.storage.contains(&m.from);
                if into == out_of {
                    continue;
                }
                let (other, other_type, quantity) = if into {
                    (m.from, &m.from_type, m.quantity)
                } else {
                    (m.to, &m.to_type, -m.quantity)
                };
                let (kind, counterpart) = kind_of(m, other, other_type, wi, &warehouses, shipment);
                mine.push(FeedMove {
                    id: m.id.to_string(),
                    warehouse: w.code.clone(),
                    item: item.clone(),
                    quantity,
                    kind: kind.to_string(),
                    reference: reference.clone(),
                    counterpart,
                    done_at: m.done_at,
                });
            }
            mine.sort_by_key(|r| r.quantity > Decimal::ZERO);
            rows.extend(mine);
        }
        Ok(FeedPage {
            rows,
            next: page.next,
            more: page.more,
        })
    }

    /// Every warehouse with a code, and which of `locations` are in its storage tree and tree.
    async fn warehouse_trees(&self, locations: &BTreeSet<i64>) -> Result<Vec<Wh>, ErpError> {
        let rows = self
            .search(
                "stock.location",
                &json!([["type", "=", "warehouse"]]),
                &["code", "storage_location"],
                None,
            )
            .await?;
        let ids: Vec<i64> = locations.iter().copied().collect();
        let mut out = Vec::new();
        for row in rows {
            let id = id_of(row.get("id"));
            let storage = id_of(row.get("storage_location"));
            let (Some(id), Some(storage)) = (id, storage) else {
                return Err(ErpError::Unavailable(format!(
                    "Tryton answered a warehouse without id or storage location: {}",
                    short(&row.to_string())
                )));
            };
            let Some(code) = text(row.get("code")) else {
                tracing::warn!(
                    target: "stockbridge::tryton",
                    warehouse = id,
                    "warehouse without a code: its moves are not in the feed"
                );
                continue;
            };
            let within = |root: i64| {
                let ids = ids.clone();
                async move {
                    let found = self
                        .search(
                            "stock.location",
                            &json!([["id", "in", ids], ["parent", "child_of", [root]]]),
                            &[],
                            None,
                        )
                        .await?;
                    found
                        .iter()
                        .map(|r| {
                            id_of(r.get("id")).ok_or_else(|| {
                                ErpError::Unavailable(format!(
                                    "Tryton answered a location without id: {}",
                                    short(&r.to_string())
                                ))
                            })
                        })
                        .collect::<Result<BTreeSet<i64>, ErpError>>()
                }
            };
            out.push(Wh {
                code,
                storage: within(storage).await?,
                tree: within(id).await?,
            });
        }
        Ok(out)
    }

    /// Reference, number (and an internal shipment's ends) of documents by model and id.
    async fn documents(
        &self,
        refs: impl Iterator<Item = (String, i64)>,
    ) -> Result<HashMap<(String, i64), Doc>, ErpError> {
        let mut by_model: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        for (model, id) in refs {
            by_model.entry(model).or_default().insert(id);
        }
        let mut out = HashMap::new();
        for (model, ids) in by_model {
            let internal = model == "stock.shipment.internal";
            let fields: &[&str] = if internal {
                &["reference", "number", "from_location", "to_location"]
            } else {
                &["reference", "number"]
            };
            let ids: Vec<i64> = ids.into_iter().collect();
            let rows = self
                .search(&model, &json!([["id", "in", ids]]), fields, None)
                .await?;
            for row in rows {
                let id = id_of(row.get("id")).ok_or_else(|| {
                    ErpError::Unavailable(format!(
                        "Tryton answered a {model} without id: {}",
                        short(&row.to_string())
                    ))
                })?;
                let ends = if internal {
                    ["from_location", "to_location"]
                        .iter()
                        .filter_map(|f| id_of(row.get(*f)))
                        .collect()
                } else {
                    Vec::new()
                };
                out.insert(
                    (model.clone(), id),
                    Doc {
                        reference: text(row.get("reference")),
                        number: text(row.get("number")),
                        ends,
                    },
                );
            }
        }
        Ok(out)
    }

    /// The documents behind move origins: a purchase or sale line's purchase or sale, an
    /// inventory line's inventory, and (one hop) what an origin move comes from.
    async fn origins(
        &self,
        refs: impl Iterator<Item = (String, i64)>,
    ) -> Result<HashMap<(String, i64), Doc>, ErpError> {
        let refs: BTreeSet<(String, i64)> = refs.collect();
        let move_ids: Vec<i64> = refs
            .iter()
            .filter(|(m, _)| m == "stock.move")
            .map(|(_, id)| *id)
            .collect();
        let mut hop: HashMap<i64, (String, i64)> = HashMap::new();
        if !move_ids.is_empty() {
            let rows = self
                .search(
                    "stock.move",
                    &json!([["id", "in", move_ids]]),
                    &["origin"],
                    None,
                )
                .await?;
            for row in rows {
                let id = id_of(row.get("id")).ok_or_else(|| {
                    ErpError::Unavailable(format!(
                        "Tryton answered a stock.move without id: {}",
                        short(&row.to_string())
                    ))
                })?;
                if let Some(o) = reference_of(row.get("origin"), "origin", id)? {
                    hop.insert(id, o);
                }
            }
        }
        let lines: BTreeSet<(String, i64)> = refs
            .iter()
            .filter(|(m, _)| m != "stock.move")
            .cloned()
            .chain(hop.values().cloned())
            .collect();
        let mut docs: HashMap<(String, i64), Doc> = HashMap::new();
        for (model, parent) in [
            ("purchase.line", "purchase"),
            ("sale.line", "sale"),
            ("stock.inventory.line", "inventory"),
        ] {
            let ids: Vec<i64> = lines
                .iter()
                .filter(|(m, _)| m == model)
                .map(|(_, id)| *id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let reference = format!("{parent}.reference");
            let number = format!("{parent}.number");
            let mut fields = vec![number.as_str()];
            if parent != "inventory" {
                fields.push(reference.as_str());
            }
            let rows = self
                .search(model, &json!([["id", "in", ids]]), &fields, None)
                .await?;
            for row in rows {
                let id = id_of(row.get("id")).ok_or_else(|| {
                    ErpError::Unavailable(format!(
                        "Tryton answered a {model} without id: {}",
                        short(&row.to_string())
                    ))
                })?;
                let doc = Doc {
                    reference: text(at(&row, &reference)),
                    number: text(at(&row, &number)),
                    ends: Vec::new(),
                };
                docs.insert((model.to_string(), id), doc);
            }
        }
        for (id, o) in hop {
            if let Some(d) = docs.get(&o).cloned() {
                docs.insert(("stock.move".to_string(), id), d);
            }
        }
        Ok(docs)
    }
}

/// The kind of a move at warehouse `wi`, and the other warehouse of a transfer.
fn kind_of(
    m: &Move,
    other: i64,
    other_type: &str,
    wi: usize,
    warehouses: &[Wh],
    shipment: Option<&Doc>,
) -> (&'static str, Option<String>) {
    match other_type {
        "supplier" => return ("receipt", None),
        "customer" => return ("shipment", None),
        "lost_found" | "inventory" => return ("adjustment", None),
        _ => {}
    }
    let elsewhere = |loc: i64| {
        warehouses
            .iter()
            .enumerate()
            .find(|(i, w)| *i != wi && w.tree.contains(&loc))
            .map(|(_, w)| w.code.clone())
    };
    if let Some(code) = elsewhere(other) {
        return ("transfer", Some(code));
    }
    match m.shipment.as_ref().map(|(model, _)| model.as_str()) {
        Some("stock.shipment.in" | "stock.shipment.in.return") => ("receipt", None),
        Some("stock.shipment.out" | "stock.shipment.out.return") => ("shipment", None),
        Some("stock.shipment.internal") => (
            "transfer",
            shipment.and_then(|d| d.ends.iter().find_map(|e| elsewhere(*e))),
        ),
        _ => ("transfer", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(reference: Option<&str>, number: Option<&str>) -> Doc {
        Doc {
            reference: reference.map(str::to_string),
            number: number.map(str::to_string),
            ends: Vec::new(),
        }
    }

    #[test]
    fn own_references_win_then_the_shipment_then_the_origin_number() {
        let ship = doc(Some("DN-7"), Some("S1"));
        let sale = doc(Some("shopify:gid-1"), Some("SO9"));
        assert_eq!(
            pick_reference(Some(&ship), Some(&sale)).as_deref(),
            Some("shopify:gid-1")
        );
        let push = doc(Some("sb-abc:in"), Some("IS3"));
        assert_eq!(
            pick_reference(Some(&push), None).as_deref(),
            Some("sb-abc:in")
        );
        let po = doc(None, Some("P12"));
        assert_eq!(
            pick_reference(Some(&ship), Some(&po)).as_deref(),
            Some("DN-7")
        );
        let bare = doc(None, Some("IN4"));
        assert_eq!(
            pick_reference(Some(&bare), Some(&po)).as_deref(),
            Some("P12")
        );
        assert_eq!(pick_reference(Some(&bare), None).as_deref(), Some("IN4"));
        assert_eq!(pick_reference(None, None), None);
    }

    #[test]
    fn references_parse_or_fail() {
        assert_eq!(
            reference_of(Some(&json!("stock.shipment.in,3")), "shipment", 1).ok(),
            Some(Some(("stock.shipment.in".to_string(), 3)))
        );
        assert_eq!(
            reference_of(Some(&Value::Null), "origin", 1).ok(),
            Some(None)
        );
        assert!(reference_of(Some(&json!("nonsense")), "origin", 1).is_err());
        assert!(reference_of(Some(&json!(4)), "origin", 1).is_err());
    }
}
