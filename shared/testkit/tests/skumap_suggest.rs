//! `stockbridge skumap suggest` as an operator runs it, against the Shopify stand-in (its
//! `inventoryItems` with each item's `variant`, paged) and the test Tryton (the ERP's item codes,
//! exported from `product.product` as the `--erp-items` CSV). SKUs matched exactly and ignoring
//! case, spaces and dashes are proposed with their item and variant ids; a Shopify SKU with no
//! ERP code, an item without a SKU and an ERP code with no Shopify item are each left out and
//! named, and the command exits 1 because a Shopify SKU is left for an operator.

mod support;

use base64::Engine;
use serde_json::{json, Value};
use support::erp::{create_products, env, unique};
use support::standin::{Options, Standin, TOKEN};
use support::SHOP;

/// The ERP's item codes starting with `prefix`, read from Tryton's REST API as an export would
/// (`product.product`, field `code`), written as a CSV with a `code` column.
async fn export_erp_codes(prefix: &str) -> Vec<String> {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE.encode(v.to_string());
    let resp = reqwest::Client::new()
        .get(format!("{}/rest/model/product.product", env("TRYTON_URL")))
        .bearer_auth(env("TRYTON_API_KEY"))
        .header("X-Tryton-Context", b64(json!({"company": 1})))
        .query(&[
            ("d", b64(json!([["code", "ilike", format!("{prefix}%")]]))),
            ("f", "code".to_string()),
        ])
        .send()
        .await
        .expect("Tryton reachable");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "search products: {status} {text}");
    let rows: Vec<Value> = serde_json::from_str(&text).expect("a JSON list");
    let mut codes: Vec<String> = rows
        .iter()
        .filter_map(|r| r["code"].as_str().map(str::to_string))
        .collect();
    codes.sort();
    codes
}

#[tokio::test]
async fn suggest_proposes_matched_skus_and_names_what_is_left_on_either_side() {
    let p = unique("sg");
    // The ERP: a mug (same code), a tee (same code but for case, spaces and dashes) and a code
    // Shopify has no item for.
    let erp = [
        format!("{p}-MUG"),
        format!("{p}-TEE-BLK"),
        format!("{p}-ERPONLY"),
    ];
    create_products(&env("TRYTON_URL"), &env("TRYTON_API_KEY"), &erp).await;
    let mut exported = export_erp_codes(&p).await;
    let mut expected = erp.to_vec();
    expected.sort();
    exported.sort();
    assert_eq!(exported, expected, "the export holds this test's codes");
    let dir = tempfile::tempdir().unwrap();
    let erp_items = dir.path().join("erp-items.csv");
    std::fs::write(&erp_items, format!("code\n{}\n", exported.join("\n"))).unwrap();

    // Shopify: 120 items, so the command reads two pages; four of this test's SKUs among them.
    let standin = Standin::start(Options::default()).await;
    let (mug, tee, shop_only, no_sku) = (
        49_000_000_000_001u64,
        49_000_000_000_002u64,
        49_000_000_000_003u64,
        49_000_000_000_004u64,
    );
    let variant = |item: u64| item + 2_000_000_000_000;
    let mut items = vec![
        json!({"id": mug, "sku": format!("{p}-MUG"), "variant_id": variant(mug), "title": "Mug"}),
        json!({"id": tee, "sku": format!("{} tee blk", p.to_uppercase()), "variant_id": variant(tee)}),
        json!({"id": shop_only, "sku": format!("{p}-SHOPONLY"), "variant_id": variant(shop_only)}),
        json!({"id": no_sku, "variant_id": variant(no_sku)}),
    ];
    for n in 10..126u64 {
        let id = 49_000_000_000_000 + n;
        items.push(json!({"id": id, "sku": format!("OTHER-{n}"), "variant_id": variant(id)}));
    }
    standin
        .post("/_standin/seed", json!({"reset": true, "items": items}))
        .await;
    // The stand-in's items carry their variant (and product) as Shopify's 2026-04 schema has it.
    let query = json!({"query": format!(
        "{{ inventoryItem(id: \"gid://shopify/InventoryItem/{mug}\") {{ variant {{ id sku product {{ title }} }} }} }}"
    )});
    let answer: Value = reqwest::Client::new()
        .post(standin.client().endpoint())
        .header("X-Shopify-Access-Token", TOKEN)
        .json(&query)
        .send()
        .await
        .expect("stand-in reachable")
        .json()
        .await
        .expect("JSON");
    let v = &answer["data"]["inventoryItem"]["variant"];
    assert_eq!(
        v["id"],
        format!("gid://shopify/ProductVariant/{}", variant(mug)),
        "{answer}"
    );
    assert_eq!(v["sku"], format!("{p}-MUG"));
    assert_eq!(v["product"]["title"], "Mug");

    let out = std::process::Command::new(support::stockbridge_binary())
        .args(["skumap", "suggest", "--shop", SHOP, "--erp-items"])
        .arg(&erp_items)
        .env("SHOPIFY_ADMIN_URL", &standin.base)
        .env("SHOPIFY_ACCESS_TOKEN", TOKEN)
        .env_remove("SHOPIFY_TOKEN_SSM_PARAM")
        .output()
        .expect("run stockbridge skumap suggest");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a Shopify SKU is left for an operator\n{stdout}\n{stderr}"
    );

    // The proposal: the import CSV, one row per matched SKU, with Shopify's ids.
    let mut rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        rows.remove(0),
        "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom"
    );
    rows.sort();
    let mut want = vec![
        format!("{SHOP},{mug},{},{p}-MUG,{p}-MUG,each,each", variant(mug)),
        format!(
            "{SHOP},{tee},{},{} tee blk,{p}-TEE-BLK,each,each",
            variant(tee),
            p.to_uppercase()
        ),
    ];
    want.sort();
    assert_eq!(rows, want, "{stderr}");

    // What is left, on either side, is named.
    assert!(
        stderr.contains(&format!(
            "unmatched Shopify item {shop_only} (variant {}) sku \"{p}-SHOPONLY\"",
            variant(shop_only)
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "unmatched Shopify item {no_sku} (variant {}) sku \"\"",
            variant(no_sku)
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("unmatched ERP item {p}-ERPONLY")),
        "{stderr}"
    );
    // The 116 others have no ERP code either: every Shopify item was read, both pages.
    assert!(
        stderr.contains("proposed 2 of 120 Shopify items (0 ambiguous, 118 unmatched); 1 of 3 ERP codes unmatched"),
        "{stderr}"
    );
}
