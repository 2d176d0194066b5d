//! `stockbridge storefront rules|fields|reorder-point`: a shop's storefront settings (the
//! available-to-sell rule per location and item, the field map, reorder points), kept in the
//! SKU map table (`LOCATIONS#<shop>` / `SETTINGS#storefront`) and read by the ERP sync on every
//! batch, so a change applies without a redeploy. Each prints the settings as stored; what is
//! given is set and the new settings printed.
//!
//! `stockbridge stock explain --shop S --item <item id or SKU> --location L`: how the figure
//! Shopify shows at an ERP-master location was derived: the ERP's on-hand and the moves behind
//! it, the unit factor, Shopify's commitments and unavailable states, the rule and where it came
//! from, and what Shopify was last told (before, after, the idempotency key).

use std::process::ExitCode;

use clap::Subcommand;
use rust_decimal::Decimal;
use serde_json::json;

use stockbridge_core::ports::{ErpRecords, SkuMapStore, StockStore, StorefrontMap, Wanted};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, StockKey};
use stockbridge_domain::skumap::Master;
use stockbridge_domain::storefront::{derive, ErpStockRecord, FieldLink, SellRule};

use crate::deployment::Deployment;
use crate::error::{CommandError, Result};

#[derive(Subcommand)]
pub enum StorefrontAction {
    /// The available-to-sell rules; with `--location` (and `--item`) sets one.
    Rules {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        location: Option<u64>,
        /// An inventory item id: the rule for that item at the location.
        #[arg(long)]
        item: Option<u64>,
        /// Units held back from sale (Shopify units).
        #[arg(long)]
        buffer: Option<i64>,
        /// False: the location's stock is never sold (returns, quarantine, damaged).
        #[arg(long, action = clap::ArgAction::Set)]
        sellable: Option<bool>,
        /// Removes the rule named by `--location` (and `--item`).
        #[arg(long)]
        clear: bool,
    },
    /// The field map; with `--erp-field` sets (or adds) one link.
    Fields {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        erp_field: Option<String>,
        #[arg(long, default_value = "stockbridge")]
        namespace: String,
        #[arg(long)]
        key: Option<String>,
        /// Shopify's metafield type: boolean, number_integer, date, single_line_text_field.
        #[arg(long = "type", default_value = "single_line_text_field")]
        kind: String,
        #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
        enabled: bool,
    },
    /// The reorder point of an ERP item (ERP units), where the ERP has none; `--clear` removes it.
    ReorderPoint {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        erp_item: String,
        #[arg(long)]
        point: Option<Decimal>,
        #[arg(long)]
        clear: bool,
    },
}

pub async fn command(action: StorefrontAction, at: &Deployment) -> Result<ExitCode> {
    let store = at.store()?;
    match action {
        StorefrontAction::Rules {
            shop,
            location,
            item,
            buffer,
            sellable,
            clear,
        } => {
            let shop = ShopDomain::new(&shop);
            let mut s = store.storefront_settings(&shop).await?;
            if let Some(l) = location.map(LocationId) {
                let given = buffer.is_some() || sellable.is_some() || clear;
                if given {
                    match item.map(InventoryItemId) {
                        Some(i) if clear => {
                            s.rules.items.remove(&(l, i));
                        }
                        None if clear => {
                            s.rules.locations.remove(&l);
                        }
                        Some(i) => {
                            let old = s.rules.rule(l, i).0;
                            s.rules
                                .items
                                .insert((l, i), set_rule(old, buffer, sellable));
                        }
                        None => {
                            let old = s.rules.locations.get(&l).copied().unwrap_or_default();
                            s.rules.locations.insert(l, set_rule(old, buffer, sellable));
                        }
                    }
                    s.rules.check().map_err(CommandError::Storefront)?;
                    store.put_storefront_settings(&shop, &s).await?;
                }
            }
            println!("{}", serde_json::to_string_pretty(&s.rules)?);
        }
        StorefrontAction::Fields {
            shop,
            erp_field,
            namespace,
            key,
            kind,
            enabled,
        } => {
            let shop = ShopDomain::new(&shop);
            let mut s = store.storefront_settings(&shop).await?;
            if let Some(field) = erp_field {
                let link = FieldLink {
                    key: key.unwrap_or_else(|| field.clone()),
                    erp_field: field,
                    namespace,
                    kind,
                    enabled,
                };
                s.fields.links.retain(|l| l.erp_field != link.erp_field);
                s.fields.links.push(link);
                s.fields.check().map_err(CommandError::Storefront)?;
                store.put_storefront_settings(&shop, &s).await?;
            }
            println!("{}", serde_json::to_string_pretty(&s.fields)?);
        }
        StorefrontAction::ReorderPoint {
            shop,
            erp_item,
            point,
            clear,
        } => {
            let shop = ShopDomain::new(&shop);
            let mut s = store.storefront_settings(&shop).await?;
            match (point, clear) {
                (_, true) => {
                    s.reorder_points.remove(&erp_item);
                }
                (Some(p), false) if p >= Decimal::ZERO => {
                    s.reorder_points.insert(erp_item.clone(), p);
                }
                (Some(p), false) => {
                    return Err(CommandError::Storefront(format!(
                        "a reorder point is 0 or more, not {p}"
                    ))
                    .into())
                }
                (None, false) => {}
            }
            if point.is_some() || clear {
                store.put_storefront_settings(&shop, &s).await?;
            }
            println!("{}", serde_json::to_string_pretty(&s.reorder_points)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn set_rule(old: SellRule, buffer: Option<i64>, sellable: Option<bool>) -> SellRule {
    SellRule {
        buffer: buffer.unwrap_or(old.buffer),
        sellable: sellable.unwrap_or(old.sellable),
    }
}

/// `stock explain`: prints how the figure at `location` is derived, as text or JSON.
pub async fn explain(
    at: &Deployment,
    shop: &str,
    item: &str,
    location: u64,
    as_json: bool,
) -> Result<ExitCode> {
    let store = at.store()?;
    let shop = ShopDomain::new(shop);
    let location = LocationId(location);
    let map = match item.parse::<u64>() {
        Ok(id) => {
            store
                .lookup(&shop, &[InventoryItemId(id)], &[], &[])
                .await?
        }
        Err(_) => store.lookup(&shop, &[], &[], &[item.to_string()]).await?,
    };
    let Some(mapping) = map.items.values().next().cloned() else {
        return Err(CommandError::Storefront(format!("{item} is not in {shop}'s SKU map")).into());
    };
    let Some(loc) = map.locations.get(&location).cloned() else {
        return Err(CommandError::Storefront(format!(
            "location {location} is not mapped for {shop}"
        ))
        .into());
    };
    let settings = store.storefront_settings(&shop).await?;
    let pair = (loc.erp_warehouse.clone(), mapping.erp_item.clone());
    let record = store
        .erp_records(&shop, std::slice::from_ref(&pair))
        .await?
        .remove(&pair)
        .map(|(r, _)| r);
    let key = StockKey {
        shop: shop.clone(),
        item: mapping.item,
        location,
    };
    let level = store
        .load(&Wanted {
            levels: [key.clone()].into_iter().collect(),
            ..Wanted::default()
        })
        .await?
        .book
        .level(&key);
    let rule = settings.rules.rule(location, mapping.item);
    let now = record.as_ref().and_then(|r| r.on_hand).map(|on_hand| {
        derive(
            on_hand,
            mapping.uom.to_shopify(on_hand),
            level.committed,
            level.states.unavailable(),
            rule,
        )
    });
    let told = record.as_ref().and_then(|r| {
        r.told
            .get(&ErpStockRecord::told_key(mapping.item, location))
    });
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "shop": shop, "item": mapping.item, "sku": mapping.sku, "erp_item": mapping.erp_item,
                "location": location, "warehouse": loc.erp_warehouse, "master": loc.master,
                "erp": record.as_ref().map(|r| json!({"on_hand": r.on_hand, "as_of": r.as_of.map(|t| t.to_rfc3339()), "moves": r.moves})),
                "stockbridge": {"available": level.available, "committed": level.committed, "unavailable": level.states.unavailable(),
                                 "erp_owed": level.erp_owed, "erp_in_flight": level.erp_inflight.is_some()},
                "derivation_now": now, "last_told": told,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} ({}, ERP item {}) at location {location} ({}, warehouse {}, {} master)",
        mapping.item,
        mapping.sku,
        mapping.erp_item,
        loc.name,
        loc.erp_warehouse,
        match loc.master {
            Master::Erp => "ERP",
            Master::Shopify => "Shopify",
        }
    );
    if loc.master == Master::Shopify {
        println!("  Shopify counts this location: the ERP follows it; the ERP's changes here are not written to Shopify.");
    }
    match &record {
        None => println!("  the ERP has stated nothing about it yet (no ERP change seen)"),
        Some(r) => {
            println!(
                "  ERP on hand: {} {} as of {}",
                r.on_hand.map_or("-".to_string(), |q| q.to_string()),
                mapping.uom.erp_uom,
                r.as_of.map_or("-".to_string(), |t| t.to_rfc3339())
            );
            for m in r.moves.iter().rev().take(5) {
                println!(
                    "    move {} {} {:+} ({}) at {}",
                    m.id,
                    m.document.as_deref().unwrap_or("-"),
                    m.quantity,
                    m.kind,
                    m.done_at.to_rfc3339()
                );
            }
        }
    }
    let show = |label: &str, d: &stockbridge_domain::storefront::Derivation| {
        println!("  {label}:");
        println!(
            "    on hand {} {} = {} {} (rounded down)",
            d.erp_on_hand, mapping.uom.erp_uom, d.on_hand, mapping.uom.shopify_uom
        );
        println!("    − committed {}", d.committed);
        println!(
            "    − unavailable (reserved, damaged, safety stock, quality control) {}",
            d.unavailable
        );
        println!(
            "    − buffer {} ({:?} rule){}",
            d.rule.buffer,
            d.rule_source,
            if d.rule.sellable {
                ""
            } else {
                "; never sellable: 0"
            }
        );
        println!("    = available {}", d.target);
    };
    if let Some(d) = &now {
        show("with Stockbridge's figures now", d);
    }
    match told {
        Some(t) => {
            show(
                &format!("when Shopify was last told ({})", t.at.to_rfc3339()),
                &t.derivation,
            );
            if let (None, Some(w)) = (&t.key, &t.last_write) {
                println!(
                    "  the last write: {} -> {} under idempotency key {} (moves {}) at {}",
                    w.before,
                    w.after,
                    w.key,
                    w.moves.join(", "),
                    w.at.to_rfc3339()
                );
            }
            println!(
                "    Shopify showed {}; {}",
                t.before,
                match &t.key {
                    Some(k) => format!(
                        "set to {} under idempotency key {k} (moves {})",
                        t.derivation.target,
                        t.moves.join(", ")
                    ),
                    None => "already right: nothing written".into(),
                }
            );
        }
        None => println!("  Shopify was not told anything from the ERP here yet"),
    }
    println!(
        "  Stockbridge now: available {}, committed {}, unavailable {}{}",
        level.available,
        level.committed,
        level.states.unavailable(),
        if level.erp_owed != 0 || level.erp_inflight.is_some() {
            format!("; a write to the ERP is pending ({} owed)", level.erp_owed)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
