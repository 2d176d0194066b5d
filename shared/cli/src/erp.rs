//! `stockbridge erp`: the ERP as Stockbridge sees it (`ERP_KIND` and its settings, as for the
//! consumer). `levels` shows Shopify's on-hand in DynamoDB (in ERP units) and what is still owed
//! beside the ERP's on-hand, per mapped item and location; `apply` makes one write, e.g. stock
//! received; `parked` lists the writes parked after repeated refusals and `retry` releases one.

use std::collections::HashMap;
use std::process::ExitCode;

use stockbridge_core::ports::Erp;
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::skumap::{ItemMapping, LocationMapping};
use stockbridge_domain::stock::StockLevel;

use stockbridge_ops::erp_parked::{parked_writes, release_parked, ParkedWrite};

use crate::deployment::Deployment;
use crate::error::{CommandError, Result};

pub async fn levels(at: &Deployment, shop: &str) -> Result<ExitCode> {
    let store = at.store()?;
    let shop = ShopDomain::new(shop);
    let erp = at.erp().await?;
    let map = store.full_map(&shop).await?;
    let levels: HashMap<(u64, u64), StockLevel> = store
        .levels(&shop)
        .await?
        .into_iter()
        .map(|(k, l)| ((k.item.0, k.location.0), l))
        .collect();
    println!(
        "{:<10} {:<12} {:<8} {:>14} {:>10} {:>12}",
        "warehouse", "ERP item", "master", "Shopify on hand", "owed", "ERP on hand"
    );
    let mut locations: Vec<&LocationMapping> = map.locations.values().collect();
    locations.sort_by_key(|l| l.location);
    let mut items: Vec<&ItemMapping> = map.items.values().collect();
    items.sort_by(|a, b| a.erp_item.cmp(&b.erp_item));
    let codes: Vec<String> = items.iter().map(|i| i.erp_item.clone()).collect();
    for location in locations {
        let erp_levels = erp.levels(&location.erp_warehouse, &codes).await?;
        for item in &items {
            let Some(level) = levels.get(&(item.item.0, location.location.0)) else {
                continue;
            };
            println!(
                "{:<10} {:<12} {:<8} {:>14} {:>10} {:>12}",
                location.erp_warehouse,
                item.erp_item,
                format!("{:?}", location.master).to_lowercase(),
                item.uom.to_erp(level.on_hand()).to_string(),
                item.uom.to_erp(level.erp_owed).to_string(),
                erp_levels
                    .get(&item.erp_item)
                    .map_or("-".to_string(), |q| q.normalize().to_string())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn apply(
    at: &Deployment,
    warehouse: &str,
    key: &str,
    reason: &str,
    lines: &[String],
) -> Result<ExitCode> {
    let erp = at.erp().await?;
    let write = ErpWrite {
        key: key.to_string(),
        warehouse: warehouse.to_string(),
        reason: reason.to_string(),
        as_of: Timestamp::now().to_rfc3339(),
        lines: lines.iter().map(|l| erp_line(l)).collect::<Result<_>>()?,
    };
    erp.apply(&write).await?;
    println!("applied {key}");
    Ok(ExitCode::SUCCESS)
}

/// Lists the shop's parked ERP writes (or prints them as JSON).
pub async fn parked(at: &Deployment, shop: &str, json: bool) -> Result<ExitCode> {
    let store = at.store()?;
    let levels = store.levels(&ShopDomain::new(shop)).await?;
    let parked = parked_writes(&levels);
    if json {
        println!("{}", serde_json::to_string(&parked)?);
    } else {
        print!("{}", parked_table(&parked));
    }
    Ok(ExitCode::SUCCESS)
}

/// Releases one parked write: sent again at once under its key.
pub async fn retry(at: &Deployment, shop: &str, key: &str) -> Result<ExitCode> {
    let store = at.store()?;
    let levels = store.levels(&ShopDomain::new(shop)).await?;
    let released = release_parked(&store, &at.queue()?, &levels, key).await?;
    if released == 0 {
        return Err(CommandError::NotParked {
            shop: shop.to_string(),
            key: key.to_string(),
        }
        .into());
    }
    println!("released {key}: {released} stock records, sent again under the same key");
    Ok(ExitCode::SUCCESS)
}

/// One block per parked write: its key, warehouse, refusals and reason, then its lines.
fn parked_table(parked: &[ParkedWrite]) -> String {
    if parked.is_empty() {
        return "no parked ERP writes\n".to_string();
    }
    let mut out = String::new();
    for w in parked {
        let when = w.parked_at.map_or("-".to_string(), |t| t.to_rfc3339());
        out.push_str(&format!(
            "{}  warehouse {}  refused {} times, parked {}\n  reason: {}\n",
            w.key,
            w.warehouse,
            w.refusals,
            when,
            w.refused.as_deref().unwrap_or("-")
        ));
        for line in &w.lines {
            out.push_str(&format!(
                "  {} {}  (item {} at location {})\n",
                line.erp_item,
                line.change.normalize(),
                line.record.item,
                line.record.location
            ));
        }
    }
    out
}

/// `ITEM=CHANGE`, the change in ERP units (a decimal, may be negative).
fn erp_line(line: &str) -> Result<ErpLine> {
    let (item, change) = line
        .split_once('=')
        .ok_or(CommandError::LineWithoutChange)?;
    Ok(ErpLine {
        item: item.to_string(),
        change: change.parse()?,
        target: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_an_item_and_a_decimal_change() {
        let line = erp_line("TEE-BLK-M=-2.5").unwrap();
        assert_eq!(line.item, "TEE-BLK-M");
        assert_eq!(line.change, "-2.5".parse().unwrap());
        assert_eq!(line.target, None);
    }

    #[test]
    fn a_parked_write_is_listed_with_its_reason_and_lines() {
        use stockbridge_domain::ids::{InventoryItemId, LocationId};
        use stockbridge_domain::stock::{Inflight, StockKey};
        let record = StockKey {
            shop: ShopDomain::new("a.myshopify.com"),
            item: InventoryItemId(45),
            location: LocationId(72),
        };
        let level = StockLevel {
            erp_owed: -3,
            erp_inflight: Some(Inflight {
                key: "sb-WH-1".into(),
                warehouse: "WH".into(),
                erp_item: "TEE".into(),
                quantity: -3,
                change: "-3".parse().unwrap(),
                target: None,
                since: None,
                lease_until: None,
                holder: None,
                refusals: 5,
                refused: Some("HTTP 400: unknown product".into()),
                parked_at: Some(Timestamp(0)),
            }),
            ..StockLevel::default()
        };
        let table = parked_table(&parked_writes(&[(record, level.clone())]));
        assert!(
            table.starts_with(
                "sb-WH-1  warehouse WH  refused 5 times, parked 1970-01-01T00:00:00Z\n"
            ),
            "{table}"
        );
        assert!(
            table.contains("reason: HTTP 400: unknown product"),
            "{table}"
        );
        assert!(
            table.contains("TEE -3  (item 45 at location 72)"),
            "{table}"
        );
        let mut unparked = level;
        if let Some(i) = unparked.erp_inflight.as_mut() {
            i.parked_at = None;
        }
        let record = StockKey {
            shop: ShopDomain::new("a.myshopify.com"),
            item: InventoryItemId(45),
            location: LocationId(72),
        };
        assert_eq!(
            parked_table(&parked_writes(&[(record, unparked)])),
            "no parked ERP writes\n"
        );
    }

    #[test]
    fn a_line_without_a_change_or_with_a_bad_one_is_refused() {
        let missing = erp_line("TEE-BLK-M").unwrap_err();
        assert_eq!(missing.to_string(), "lines are ITEM=CHANGE");
        assert!(erp_line("TEE-BLK-M=many").is_err());
    }
}
