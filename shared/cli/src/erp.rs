//! `stockbridge erp`: the ERP as Stockbridge sees it (`ERP_KIND` and its settings, as for the
//! consumer). `levels` shows Shopify's on-hand in DynamoDB (in ERP units) and what is still owed
//! beside the ERP's on-hand, per mapped item and location; `apply` makes one write, e.g. stock
//! received.

use std::collections::HashMap;
use std::process::ExitCode;

use stockbridge_core::ports::Erp;
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::skumap::{ItemMapping, LocationMapping};
use stockbridge_domain::stock::StockLevel;

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
    fn a_line_without_a_change_or_with_a_bad_one_is_refused() {
        let missing = erp_line("TEE-BLK-M").unwrap_err();
        assert_eq!(missing.to_string(), "lines are ITEM=CHANGE");
        assert!(erp_line("TEE-BLK-M=many").is_err());
    }
}
