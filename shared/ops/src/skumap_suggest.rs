//! `stockbridge skumap suggest`: a proposed SKU map from Shopify's SKUs and the ERP's item
//! codes, for onboarding a shop. A SKU matches a code equal to it ignoring case; what is left is
//! matched on the normalised form (case, spaces and dashes ignored). A form that several SKUs or
//! several codes share is ambiguous and proposed for none of them: an operator decides. The
//! proposal is the item CSV `stockbridge skumap import` reads ([`crate::skumap_csv`]), so it is
//! validated again there.

use std::collections::BTreeMap;

use serde::Serialize;

/// One Shopify inventory item with its variant and SKU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShopifySku {
    pub item: u64,
    pub variant: u64,
    pub sku: String,
}

/// How a SKU met its ERP code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// Equal ignoring case.
    Exact,
    /// Equal ignoring case, spaces and dashes.
    Normalised,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Proposed {
    pub shopify: ShopifySku,
    pub erp_item: String,
    pub by: MatchedBy,
}

/// SKUs and codes sharing one form, so no pairing is proposed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ambiguity {
    pub form: String,
    pub by: MatchedBy,
    pub skus: Vec<ShopifySku>,
    pub erp_items: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    pub proposed: Vec<Proposed>,
    pub ambiguous: Vec<Ambiguity>,
    /// Shopify items whose SKU met no code (or that have no SKU).
    pub unmatched_shopify: Vec<ShopifySku>,
    /// ERP codes no SKU met.
    pub unmatched_erp: Vec<String>,
}

/// The normalised form: lower case, without spaces and dashes.
pub fn normalised(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn exact(code: &str) -> String {
    code.trim().to_lowercase()
}

/// Matches `skus` to `erp_items`: exact (ignoring case) first, then normalised.
pub fn suggest(skus: &[ShopifySku], erp_items: &[String]) -> Suggestion {
    let mut out = Suggestion::default();
    let (with_sku, without): (Vec<_>, Vec<_>) =
        skus.iter().cloned().partition(|s| !s.sku.trim().is_empty());
    out.unmatched_shopify.extend(without);
    let mut codes: Vec<String> = erp_items.to_vec();
    codes.sort();
    codes.dedup();
    let mut left = with_sku;
    for by in [MatchedBy::Exact, MatchedBy::Normalised] {
        let form = |s: &str| match by {
            MatchedBy::Exact => exact(s),
            MatchedBy::Normalised => normalised(s),
        };
        let mut groups: BTreeMap<String, (Vec<ShopifySku>, Vec<String>)> = BTreeMap::new();
        for s in left.drain(..) {
            groups.entry(form(&s.sku)).or_default().0.push(s);
        }
        for c in codes.drain(..) {
            groups.entry(form(&c)).or_default().1.push(c);
        }
        for (key, (mut s, mut c)) in groups {
            match (s.len(), c.len()) {
                (0, _) => codes.append(&mut c),
                (_, 0) => left.append(&mut s),
                (1, 1) => out.proposed.push(Proposed {
                    shopify: s.remove(0),
                    erp_item: c.remove(0),
                    by,
                }),
                _ => out.ambiguous.push(Ambiguity {
                    form: key,
                    by,
                    skus: s,
                    erp_items: c,
                }),
            }
        }
    }
    out.unmatched_shopify.extend(left);
    out.unmatched_erp = codes;
    out.proposed
        .sort_by(|a, b| a.shopify.sku.cmp(&b.shopify.sku));
    out
}

/// The item CSV (`shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom`) of the
/// proposal, every item in `shopify_uom` -> `erp_uom`.
pub fn items_csv(s: &Suggestion, shop: &str, shopify_uom: &str, erp_uom: &str) -> String {
    let mut text =
        String::from("shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n");
    for p in &s.proposed {
        let mut w = csv::Writer::from_writer(Vec::new());
        let row = [
            shop.to_string(),
            p.shopify.item.to_string(),
            p.shopify.variant.to_string(),
            p.shopify.sku.clone(),
            p.erp_item.clone(),
            shopify_uom.to_string(),
            erp_uom.to_string(),
        ];
        if w.write_record(&row).is_ok() {
            if let Ok(bytes) = w.into_inner() {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    text
}

/// An ERP items CSV that cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ErpCodesError {
    /// The header row (the first line) cannot be read.
    Header(String),
    /// A row cannot be read.
    Row { line: u64, detail: String },
}

impl std::fmt::Display for ErpCodesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Header(e) => write!(f, "ERP items CSV: unreadable header row ({e}); the first line names the columns, one of them `code`"),
            Self::Row { line, detail } => write!(f, "ERP items CSV line {line}: {detail}"),
        }
    }
}

impl std::error::Error for ErpCodesError {}

/// ERP item codes from a CSV export with a header row: the `code` column (Tryton's product
/// code; or `erp_item`), else the first column; blank codes are skipped.
pub fn erp_codes_csv(text: &str) -> Result<Vec<String>, ErpCodesError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ErpCodesError::Header(e.to_string()))?;
    let column = headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case("code") || h.eq_ignore_ascii_case("erp_item"))
        .unwrap_or(0);
    let mut codes = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ErpCodesError::Row {
            line: e.position().map_or(0, |p| p.line()),
            detail: e.to_string(),
        })?;
        if let Some(code) = record.get(column).filter(|c| !c.is_empty()) {
            codes.push(code.to_string());
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skumap_csv::parse_items;

    fn sku(item: u64, sku: &str) -> ShopifySku {
        ShopifySku {
            item,
            variant: item + 1000,
            sku: sku.into(),
        }
    }

    fn codes(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exact_ignoring_case_then_normalised_and_the_rest_unmatched() {
        let skus = [
            sku(1, "tee-blk-m"),
            sku(2, "MUG 01"),
            sku(3, "NOPE"),
            sku(4, ""),
        ];
        let s = suggest(&skus, &codes(&["TEE-BLK-M", "MUG01", "CAP"]));
        let pairs: Vec<_> = s
            .proposed
            .iter()
            .map(|p| (p.shopify.item, p.erp_item.as_str(), p.by))
            .collect();
        assert_eq!(
            pairs,
            vec![
                (2, "MUG01", MatchedBy::Normalised),
                (1, "TEE-BLK-M", MatchedBy::Exact)
            ]
        );
        let unmatched: Vec<u64> = s.unmatched_shopify.iter().map(|s| s.item).collect();
        assert_eq!(unmatched, vec![4, 3]);
        assert_eq!(s.unmatched_erp, codes(&["CAP"]));
        assert!(s.ambiguous.is_empty());
    }

    #[test]
    fn an_exact_match_wins_over_a_normalised_one() {
        let s = suggest(&[sku(1, "AB-1")], &codes(&["AB1", "ab-1"]));
        assert_eq!(s.proposed.len(), 1);
        assert_eq!(s.proposed[0].erp_item, "ab-1");
        assert_eq!(s.proposed[0].by, MatchedBy::Exact);
        assert_eq!(s.unmatched_erp, codes(&["AB1"]));
    }

    #[test]
    fn a_form_shared_by_several_is_ambiguous_and_proposed_for_none() {
        let s = suggest(
            &[sku(1, "AB 1"), sku(2, "X-9")],
            &codes(&["AB-1", "AB1", "X9"]),
        );
        assert_eq!(s.proposed.len(), 1, "{s:?}");
        assert_eq!(s.proposed[0].erp_item, "X9");
        assert_eq!(s.ambiguous.len(), 1);
        assert_eq!(s.ambiguous[0].form, "ab1");
        assert_eq!(s.ambiguous[0].erp_items, codes(&["AB-1", "AB1"]));
        assert_eq!(s.ambiguous[0].skus, vec![sku(1, "AB 1")]);
        // Two SKUs on one code: ambiguous too.
        let s = suggest(&[sku(1, "CAP"), sku(2, "cap")], &codes(&["Cap"]));
        assert!(s.proposed.is_empty());
        assert_eq!(s.ambiguous[0].skus.len(), 2);
        assert_eq!(s.ambiguous[0].by, MatchedBy::Exact);
    }

    #[test]
    fn the_proposal_is_an_item_csv_the_import_accepts() {
        let s = suggest(
            &[sku(7, "TEE-1"), sku(8, "MUG-1")],
            &codes(&["tee-1", "MUG1"]),
        );
        let text = items_csv(&s, "s.myshopify.com", "each", "each");
        let report = parse_items(&text);
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        assert_eq!(report.accepted.len(), 2);
        assert_eq!(report.accepted[1].1.erp_item, "tee-1");
        assert_eq!(report.accepted[1].1.variant.0, 1007);
    }

    #[test]
    fn erp_codes_come_from_the_code_column() {
        let text = "name,code\nTee,TEE-1\nBlank,\nMug,MUG-1\n";
        assert_eq!(erp_codes_csv(text).unwrap(), codes(&["TEE-1", "MUG-1"]));
        assert_eq!(erp_codes_csv("X1\nX2\n").unwrap(), codes(&["X2"]));
    }
}
