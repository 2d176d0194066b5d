//! `stockbridge stock`: the stock levels of a shop as DynamoDB holds them (`show`), and the
//! transaction log of one item at one location (`history`: why does Shopify show N?).

use std::process::ExitCode;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain};
use stockbridge_domain::stock::{StockKey, StockLevel};

use crate::deployment::Deployment;
use crate::error::Result;

pub async fn show(at: &Deployment, shop: &str, json: bool) -> Result<ExitCode> {
    let store = at.store()?;
    let mut levels = store.levels(&ShopDomain::new(shop)).await?;
    levels.sort_by(|a, b| a.0.cmp(&b.0));
    if json {
        let rows: Vec<Value> = levels.iter().map(|(k, l)| level_json(k, l)).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_levels(&levels);
    }
    Ok(ExitCode::SUCCESS)
}

fn level_json(key: &StockKey, level: &StockLevel) -> Value {
    json!({"item": key.item.0.to_string(), "location": key.location.0.to_string(),
           "available": level.available, "committed": level.committed, "on_hand": level.on_hand(),
           "tracked": level.tracked, "connected": level.connected})
}

fn print_levels(levels: &[(StockKey, StockLevel)]) {
    println!(
        "{:<20} {:<14} {:>9} {:>9} {:>8}",
        "inventory item", "location", "available", "committed", "on hand"
    );
    for (k, l) in levels {
        println!(
            "{:<20} {:<14} {:>9} {:>9} {:>8}{}",
            k.item,
            k.location,
            l.available,
            l.committed,
            l.on_hand(),
            if !l.tracked {
                "  (untracked)"
            } else if !l.connected {
                "  (disconnected)"
            } else {
                ""
            }
        );
    }
}

pub async fn history(at: &Deployment, shop: &str, item: u64, location: u64) -> Result<ExitCode> {
    let store = at.store()?;
    let key = StockKey {
        shop: ShopDomain::new(shop),
        item: InventoryItemId(item),
        location: LocationId(location),
    };
    for entry in store.ledger(&key).await? {
        println!("{}", ledger_line(&entry));
    }
    Ok(ExitCode::SUCCESS)
}

/// One log entry: a reconciliation's correction, or a transition with its causes. Missing
/// attributes print as empty.
fn ledger_line(entry: &std::collections::HashMap<String, AttributeValue>) -> String {
    let get = |k: &str| {
        entry
            .get(k)
            .and_then(|v| v.as_n().or(v.as_s()).ok())
            .cloned()
            .unwrap_or_default()
    };
    if get("kind") == "correction" {
        return format!(
            "{}  reconciliation {} ({}): {} {}  because {}",
            get("at"),
            get("run"),
            get("outcome"),
            get("side"),
            get("correction"),
            get("reason")
        );
    }
    format!(
        "{}  available {} -> {}  committed {} -> {}  on hand {} -> {}  causes {}",
        get("at"),
        get("before_available"),
        get("after_available"),
        get("before_committed"),
        get("after_committed"),
        get("before_on_hand"),
        get("after_on_hand"),
        get("causes")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        pairs: &[(&str, AttributeValue)],
    ) -> std::collections::HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn a_transition_shows_before_and_after() {
        let n = |v: &str| AttributeValue::N(v.into());
        let line = ledger_line(&entry(&[
            ("at", AttributeValue::S("2026-01-01T00:00:00Z".into())),
            ("before_available", n("5")),
            ("after_available", n("3")),
            ("causes", AttributeValue::S("orders/create".into())),
        ]));
        assert_eq!(
            line,
            "2026-01-01T00:00:00Z  available 5 -> 3  committed  ->   on hand  ->   causes orders/create"
        );
    }

    #[test]
    fn a_correction_shows_the_run_and_its_reason() {
        let s = |v: &str| AttributeValue::S(v.into());
        let line = ledger_line(&entry(&[
            ("kind", s("correction")),
            ("at", s("T")),
            ("run", s("r-1")),
            ("outcome", s("applied")),
            ("side", s("erp")),
            ("correction", s("3 -> 5")),
            ("reason", s("variance")),
        ]));
        assert_eq!(
            line,
            "T  reconciliation r-1 (applied): erp 3 -> 5  because variance"
        );
    }
}
