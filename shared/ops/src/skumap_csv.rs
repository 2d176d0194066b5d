//! The SKU map's CSV import: which rows are good and why the others are not, with their line.
//! The rules (units, the SKU naming policy, masters) are the domain's; this reads the text.
//!
//! Item CSV columns: `shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom`.
//! Location CSV columns: `shop,location_id,name,erp_warehouse,master,default`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, VariantId};
use stockbridge_domain::skumap::{
    check_sku, ItemMapping, LocationMapping, Master, UomFactor, UNITS,
};

/// A CSV row that was not imported, with its line number (1 is the header) and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

/// The result of validating a CSV: rows to write (with their line) and rows refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportReport<T> {
    pub accepted: Vec<(u64, T)>,
    pub rejected: Vec<Rejection>,
}

impl<T> Default for ImportReport<T> {
    fn default() -> Self {
        ImportReport {
            accepted: Vec::new(),
            rejected: Vec::new(),
        }
    }
}

fn rows(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes())
}

fn header_index(reader: &mut csv::Reader<&[u8]>, wanted: &[&str]) -> Result<Vec<usize>, Rejection> {
    let headers = reader.headers().map_err(|e| Rejection {
        line: 1,
        reason: format!("unreadable header: {e}"),
    })?;
    wanted
        .iter()
        .map(|w| {
            headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(w))
                .ok_or_else(|| Rejection {
                    line: 1,
                    reason: format!("missing column {w:?} (expected: {})", wanted.join(",")),
                })
        })
        .collect()
}

fn parse_id(field: &str, what: &str) -> Result<u64, String> {
    let digits = field.rsplit('/').next().unwrap_or(field); // accepts gid://shopify/X/123
    digits
        .parse::<u64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("{what} {field:?} is not a positive integer id"))
}

/// Validates an item CSV. Duplicates, conflicting mappings (one item or SKU mapped twice
/// differently), unknown units and SKUs against the naming policy are rejected with their line.
pub fn parse_items(text: &str) -> ImportReport<ItemMapping> {
    const COLUMNS: &[&str] = &[
        "shop",
        "inventory_item_id",
        "variant_id",
        "sku",
        "erp_item",
        "shopify_uom",
        "erp_uom",
    ];
    let mut report = ImportReport::default();
    let mut reader = rows(text);
    let idx = match header_index(&mut reader, COLUMNS) {
        Ok(idx) => idx,
        Err(r) => {
            report.rejected.push(r);
            return report;
        }
    };
    let mut by_item: HashMap<(ShopDomain, InventoryItemId), (u64, ItemMapping)> = HashMap::new();
    let mut by_variant: HashMap<(ShopDomain, VariantId), u64> = HashMap::new();
    let mut by_sku: HashMap<(ShopDomain, String), u64> = HashMap::new();
    for record in reader.records() {
        let (line, record) = match record {
            Ok(r) => (r.position().map_or(0, |p| p.line()), r),
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                report.rejected.push(Rejection {
                    line,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let field = |i: usize| record.get(idx[i]).unwrap_or("");
        let parsed = (|| -> Result<ItemMapping, String> {
            let shop = field(0);
            if !shop.ends_with(".myshopify.com") {
                return Err(format!("shop {shop:?} is not a *.myshopify.com domain"));
            }
            let sku = field(3).to_string();
            check_sku(&sku)?;
            let erp_item = field(4).to_string();
            if erp_item.is_empty() {
                return Err("erp_item is empty".into());
            }
            let uom = UomFactor::new(field(5), field(6)).ok_or_else(|| {
                let known: Vec<&str> = UNITS.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown unit in {:?} -> {:?} (known: {})",
                    field(5),
                    field(6),
                    known.join(", ")
                )
            })?;
            Ok(ItemMapping {
                shop: ShopDomain::new(shop),
                item: InventoryItemId(parse_id(field(1), "inventory_item_id")?),
                variant: VariantId(parse_id(field(2), "variant_id")?),
                sku,
                erp_item,
                uom,
            })
        })();
        let mapping = match parsed {
            Ok(m) => m,
            Err(reason) => {
                report.rejected.push(Rejection { line, reason });
                continue;
            }
        };
        let item_key = (mapping.shop.clone(), mapping.item);
        if let Some((first, existing)) = by_item.get(&item_key) {
            let reason = if *existing == mapping {
                format!("duplicate of line {first}")
            } else {
                format!(
                    "conflicting mapping: inventory item {} is already mapped on line {first}",
                    mapping.item
                )
            };
            report.rejected.push(Rejection { line, reason });
            continue;
        }
        if let Some(first) = by_variant.get(&(mapping.shop.clone(), mapping.variant)) {
            report.rejected.push(Rejection {
                line,
                reason: format!(
                    "conflicting mapping: variant {} is already mapped on line {first}",
                    mapping.variant
                ),
            });
            continue;
        }
        let sku_key = (mapping.shop.clone(), mapping.sku.to_ascii_uppercase());
        if let Some(first) = by_sku.get(&sku_key) {
            report.rejected.push(Rejection {
                line,
                reason: format!(
                    "conflicting mapping: SKU {} is already used on line {first}",
                    mapping.sku
                ),
            });
            continue;
        }
        by_variant.insert((mapping.shop.clone(), mapping.variant), line);
        by_sku.insert(sku_key, line);
        by_item.insert(item_key, (line, mapping.clone()));
        report.accepted.push((line, mapping));
    }
    report
}

/// Validates a location CSV: known master (`erp` or `shopify`), no location twice, at most one
/// default per shop.
pub fn parse_locations(text: &str) -> ImportReport<LocationMapping> {
    const COLUMNS: &[&str] = &[
        "shop",
        "location_id",
        "name",
        "erp_warehouse",
        "master",
        "default",
    ];
    let mut report = ImportReport::default();
    let mut reader = rows(text);
    let idx = match header_index(&mut reader, COLUMNS) {
        Ok(idx) => idx,
        Err(r) => {
            report.rejected.push(r);
            return report;
        }
    };
    let mut seen: HashMap<(ShopDomain, LocationId), u64> = HashMap::new();
    let mut defaults: HashMap<ShopDomain, u64> = HashMap::new();
    for record in reader.records() {
        let (line, record) = match record {
            Ok(r) => (r.position().map_or(0, |p| p.line()), r),
            Err(e) => {
                report.rejected.push(Rejection {
                    line: e.position().map_or(0, |p| p.line()),
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let field = |i: usize| record.get(idx[i]).unwrap_or("");
        let parsed = (|| -> Result<LocationMapping, String> {
            let shop = field(0);
            if !shop.ends_with(".myshopify.com") {
                return Err(format!("shop {shop:?} is not a *.myshopify.com domain"));
            }
            let master = match field(4).to_ascii_lowercase().as_str() {
                "erp" => Master::Erp,
                "shopify" => Master::Shopify,
                other => return Err(format!("master {other:?} must be \"erp\" or \"shopify\"")),
            };
            let default = match field(5).to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" | "" => false,
                other => return Err(format!("default {other:?} must be true or false")),
            };
            let erp_warehouse = field(3).to_string();
            if erp_warehouse.is_empty() {
                return Err("erp_warehouse is empty".into());
            }
            Ok(LocationMapping {
                shop: ShopDomain::new(shop),
                location: LocationId(parse_id(field(1), "location_id")?),
                name: field(2).to_string(),
                erp_warehouse,
                master,
                default,
            })
        })();
        let mapping = match parsed {
            Ok(m) => m,
            Err(reason) => {
                report.rejected.push(Rejection { line, reason });
                continue;
            }
        };
        if let Some(first) = seen.get(&(mapping.shop.clone(), mapping.location)) {
            report.rejected.push(Rejection {
                line,
                reason: format!(
                    "location {} is already mapped on line {first}",
                    mapping.location
                ),
            });
            continue;
        }
        if mapping.default {
            if let Some(first) = defaults.get(&mapping.shop) {
                report.rejected.push(Rejection {
                    line,
                    reason: format!(
                        "shop {} already has a default location on line {first}",
                        mapping.shop
                    ),
                });
                continue;
            }
            defaults.insert(mapping.shop.clone(), line);
        }
        seen.insert((mapping.shop.clone(), mapping.location), line);
        report.accepted.push((line, mapping));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    const HEADER: &str = "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n";

    #[test]
    fn good_rows_are_accepted_and_bad_rows_say_why() {
        let csv = format!(
            "{HEADER}\
             a.myshopify.com,45000000000000001,46000000000000001,TEE-1,TEE,each,each\n\
             a.myshopify.com,45000000000000001,46000000000000001,TEE-1,TEE,each,each\n\
             a.myshopify.com,45000000000000001,46000000000000009,TEE-9,OTHER,each,each\n\
             a.myshopify.com,45000000000000002,46000000000000002,tee-1,TEE,each,each\n\
             a.myshopify.com,45000000000000003,46000000000000003,MUG 12,MUG,dozen,each\n\
             a.myshopify.com,45000000000000004,46000000000000004,MUG-12,MUG,dozen,crate\n\
             a.myshopify.com,x,46000000000000005,CAP,CAP,each,each\n\
             a.myshopify.com,45000000000000006,46000000000000006,MUG-12,MUG,dozen,each\n"
        );
        let report = parse_items(&csv);
        let accepted: Vec<u64> = report.accepted.iter().map(|(l, _)| *l).collect();
        assert_eq!(accepted, vec![2, 9]);
        let reasons: Vec<(u64, &str)> = report
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert!(reasons[0].0 == 3 && reasons[0].1.contains("duplicate of line 2"));
        assert!(reasons[1].0 == 4 && reasons[1].1.contains("conflicting mapping: inventory item"));
        assert!(reasons[2].0 == 5 && reasons[2].1.contains("SKU tee-1 is already used"));
        assert!(reasons[3].0 == 6 && reasons[3].1.contains("allowed are letters"));
        assert!(reasons[4].0 == 7 && reasons[4].1.contains("unknown unit"));
        assert!(reasons[5].0 == 8 && reasons[5].1.contains("not a positive integer"));
        assert_eq!(report.accepted[1].1.uom.to_erp(2), Decimal::from(24));
    }

    #[test]
    fn missing_column_rejects_the_header() {
        let report = parse_items("shop,sku\na.myshopify.com,X\n");
        assert!(report.accepted.is_empty());
        assert!(report.rejected[0]
            .reason
            .contains("missing column \"inventory_item_id\""));
    }

    #[test]
    fn locations_need_a_known_master_and_one_default() {
        let csv = "shop,location_id,name,erp_warehouse,master,default\n\
                   a.myshopify.com,72000000001,Main,WH,erp,true\n\
                   a.myshopify.com,72000000002,Store,STORE,shopify,yes\n\
                   a.myshopify.com,72000000003,Pop-up,POP,both,no\n\
                   a.myshopify.com,72000000001,Again,WH,erp,no\n";
        let report = parse_locations(csv);
        assert_eq!(report.accepted.len(), 1);
        assert_eq!(report.rejected.len(), 3);
        assert!(report.rejected[0].reason.contains("already has a default"));
        assert!(report.rejected[1]
            .reason
            .contains("must be \"erp\" or \"shopify\""));
        assert!(report.rejected[2]
            .reason
            .contains("already mapped on line 2"));
    }

    #[test]
    fn accepts_gid_ids() {
        assert_eq!(
            parse_id("gid://shopify/InventoryItem/271878346596884015", "x"),
            Ok(271878346596884015)
        );
    }
}
