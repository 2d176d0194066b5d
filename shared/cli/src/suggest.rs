//! `stockbridge skumap suggest`: proposes the item CSV for a shop being onboarded. Reads every
//! inventory item's SKU and variant through the Admin API (`inventoryItems`, 100 a page, waiting
//! out `THROTTLED` by the answer's `throttleStatus`; `SHOPIFY_ADMIN_URL` and the token as the
//! reconcile function reads them), the ERP's item codes from a CSV export (`--erp-items`, a
//! `code` column), matches them ([`stockbridge_ops::skumap_suggest`]) and prints the proposal as
//! the CSV `skumap import --items` takes on stdout; what is ambiguous or unmatched, on either
//! side, goes to stderr. Exit 1 when a Shopify SKU is left for an operator (ambiguous or
//! unmatched); ERP codes without a Shopify item are normal and only listed.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};
use stockbridge_aws::sdk::sdk_config;
use stockbridge_aws::ssm::SsmSecrets;
use stockbridge_core::config::{required_env, SecretSource};
use stockbridge_ops::skumap_suggest::{erp_codes_csv, items_csv, suggest, ShopifySku};
use stockbridge_shopify_admin::{parse_gid, ShopifyGraphql};

use crate::error::Result;

const PAGE: &str = "query($after: String) { inventoryItems(first: 100, after: $after) { \
    nodes { id sku variant { id } } pageInfo { hasNextPage endCursor } } }";
/// A throttled page is asked again this many times before giving up.
const THROTTLED_TRIES: u32 = 10;

/// What went wrong reading Shopify's SKUs.
#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    #[error("the Admin API answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the Admin API refused the query: {0}")]
    Query(String),
    #[error("the Admin API answer lacks {0}; is SHOPIFY_ADMIN_URL a shop's Admin API?")]
    Shape(&'static str),
    #[error("still throttled after {THROTTLED_TRIES} waits; run again later")]
    Throttled,
}

pub struct SuggestFlags<'a> {
    pub shop: &'a str,
    pub erp_items: &'a Path,
    pub shopify_uom: &'a str,
    pub erp_uom: &'a str,
}

pub async fn run(flags: SuggestFlags<'_>) -> Result<ExitCode> {
    let codes = erp_codes_csv(&std::fs::read_to_string(flags.erp_items)?)?;
    let sdk = sdk_config().await;
    let token = SsmSecrets::new(&sdk)
        .secret("SHOPIFY_ACCESS_TOKEN", "SHOPIFY_TOKEN_SSM_PARAM")
        .await?;
    // Validates the URL (https, or loopback for the stand-in) and the token as the functions do.
    let admin = ShopifyGraphql::new(&required_env("SHOPIFY_ADMIN_URL")?, &token)?;
    let skus = read_skus(admin.endpoint(), token.trim()).await?;
    let s = suggest(&skus, &codes);
    print!(
        "{}",
        items_csv(&s, flags.shop, flags.shopify_uom, flags.erp_uom)
    );
    for a in &s.ambiguous {
        let skus: Vec<&str> = a.skus.iter().map(|s| s.sku.as_str()).collect();
        eprintln!(
            "ambiguous ({:?} form {:?}): Shopify {} <-> ERP {}",
            a.by,
            a.form,
            skus.join(", "),
            a.erp_items.join(", ")
        );
    }
    for u in &s.unmatched_shopify {
        eprintln!(
            "unmatched Shopify item {} (variant {}) sku {:?}",
            u.item, u.variant, u.sku
        );
    }
    for code in &s.unmatched_erp {
        eprintln!("unmatched ERP item {code}");
    }
    eprintln!(
        "proposed {} of {} Shopify items ({} ambiguous, {} unmatched); {} of {} ERP codes unmatched",
        s.proposed.len(),
        skus.len(),
        s.ambiguous.iter().map(|a| a.skus.len()).sum::<usize>(),
        s.unmatched_shopify.len(),
        s.unmatched_erp.len(),
        codes.len()
    );
    let left = !s.ambiguous.is_empty() || !s.unmatched_shopify.is_empty();
    Ok(if left {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Every inventory item with its SKU and variant, page by page.
async fn read_skus(endpoint: &str, token: &str) -> Result<Vec<ShopifySku>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = page(&client, endpoint, token, after.as_deref()).await?;
        let items = &page["data"]["inventoryItems"];
        let nodes = items["nodes"]
            .as_array()
            .ok_or(SuggestError::Shape("data.inventoryItems.nodes"))?;
        for n in nodes {
            let item = n["id"].as_str().and_then(|g| parse_gid(g, "InventoryItem"));
            let variant = n["variant"]["id"]
                .as_str()
                .and_then(|g| parse_gid(g, "ProductVariant"));
            let (Some(item), Some(variant)) = (item, variant) else {
                return Err(SuggestError::Shape("an item's id or variant { id }").into());
            };
            let sku = n["sku"].as_str().unwrap_or_default().to_string();
            out.push(ShopifySku { item, variant, sku });
        }
        let info = &items["pageInfo"];
        if info["hasNextPage"].as_bool() != Some(true) {
            return Ok(out);
        }
        after = Some(
            info["endCursor"]
                .as_str()
                .ok_or(SuggestError::Shape("pageInfo.endCursor"))?
                .to_string(),
        );
    }
}

/// One page, waiting while Shopify answers `THROTTLED` for as long as its bucket needs.
async fn page(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    after: Option<&str>,
) -> Result<Value> {
    for _ in 0..THROTTLED_TRIES {
        let resp = client
            .post(endpoint)
            .header("X-Shopify-Access-Token", token)
            .json(&json!({ "query": PAGE, "variables": { "after": after } }))
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body = resp.text().await?;
        if status != 200 {
            let body: String = body.chars().take(300).collect();
            return Err(SuggestError::Status { status, body }.into());
        }
        let value: Value = serde_json::from_str(&body)?;
        let Some(errors) = value["errors"].as_array() else {
            return Ok(value);
        };
        let throttled = errors
            .iter()
            .any(|e| e["extensions"]["code"].as_str() == Some("THROTTLED"));
        if !throttled {
            return Err(SuggestError::Query(Value::Array(errors.clone()).to_string()).into());
        }
        let cost = &value["extensions"]["cost"];
        let want = cost["requestedQueryCost"].as_f64().unwrap_or(0.0);
        let status = &cost["throttleStatus"];
        let have = status["currentlyAvailable"].as_f64().unwrap_or(0.0);
        let rate = status["restoreRate"]
            .as_f64()
            .filter(|r| *r > 0.0)
            .unwrap_or(50.0);
        let wait = ((want - have).max(0.0) / rate).clamp(0.5, 20.0);
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    }
    Err(SuggestError::Throttled.into())
}
