//! The storefront's availability read through the real components: tables provisioned from
//! `template.yaml` on moto, stock kept by the real webhook and consumer, a restock in the ERP
//! records, and the storefront router served on a loopback port and called over HTTP, with the
//! stores the function's composition root builds (the stock and SKU map tables only).
//!
//! Checked: the figures per location and their sum, the restock in Shopify units, unknown SKUs,
//! the caching headers, `If-None-Match` answered 304 without a body, a changed figure changing
//! the ETag, refusals (400, 404), and 503 when a table does not exist.

mod support;

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_core::ports::ErpRecords;
use stockbridge_core::storefront_read::{ServedShops, StorefrontRead};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::storefront::{ErpStockRecord, Restock, ITEM_WIDE};
use stockbridge_lambda::storefront_http::{router, AVAILABILITY_PATH};
use support::{level_body, Stack, SHOP};
use tokio::sync::watch;

/// The sample map's locations and items (`infra/local/catalogue`).
const WH: u64 = 72000000001;
const STORE: u64 = 72000000002;
const TEE: u64 = 45000000000000001;
/// A listing of a dozen mugs; the ERP counts single mugs.
const MUG: u64 = 45000000000000003;

/// The storefront router on a loopback port over `stock` and `skumap` (as the function's
/// composition root builds it: no other table), and its base URL.
async fn serve(stack: &Stack, stock: &str, skumap: &str) -> (String, watch::Sender<bool>) {
    let tables = Tables {
        stock: stock.to_string(),
        idempotency: String::new(),
        skumap: skumap.to_string(),
        inbox: String::new(),
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&stack.sdk), tables);
    let read = StorefrontRead {
        shops: ServedShops::parse(SHOP, "SHOP_DOMAIN").unwrap(),
        skumap: store.clone(),
        stock: store.clone(),
        erp_records: store,
        metrics: Metrics::silent("storefront-api"),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = watch::channel(false);
    tokio::spawn(stockbridge_lambda::local::serve(
        listener,
        router(Arc::new(read)),
        rx,
    ));
    (url, tx)
}

async fn level(stack: &Stack, webhook: &str, item: u64, location: u64, available: i64, at: &str) {
    let (status, body) = stack
        .post(
            "inventory_levels/update",
            &level_body(item, location, available, at),
            support::SECRET,
            webhook,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn get(url: &str, query: &str, if_none_match: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{url}{AVAILABILITY_PATH}?{query}"));
    if let Some(tag) = if_none_match {
        request = request.header("If-None-Match", tag);
    }
    request.send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tokio::test]
async fn availability_over_http_with_caching_headers_304_and_a_new_etag_for_a_new_figure() {
    let stack = support::stack().await;
    stack.import_sample_map().await;
    level(&stack, "s1", TEE, WH, 7, "2026-11-27T10:00:01Z").await;
    level(&stack, "s2", TEE, STORE, 3, "2026-11-27T10:00:01Z").await;
    level(&stack, "s3", MUG, WH, 2, "2026-11-27T10:00:01Z").await;
    stack.drain().await;
    // 30 single mugs on order: 2 dozen (rounded down).
    let pair = (ITEM_WIDE.to_string(), "MUG".to_string());
    let record = ErpStockRecord {
        restock: Some(Restock {
            date: "2026-12-15".into(),
            quantity: Decimal::from(30),
        }),
        ..Default::default()
    };
    stack
        .store
        .put_erp_record(&stack.shop(), &pair, &record, 0)
        .await
        .unwrap();
    // What the template gives the function, as the local stack provisions it.
    for var in ["SHOP_DOMAIN", "STOCK_TABLE", "SKUMAP_TABLE"] {
        assert!(stack.env.contains_key(var), "provision.py wrote no {var}");
    }
    let (url, _stop) = serve(
        &stack,
        &stack.env["STOCK_TABLE"],
        &stack.env["SKUMAP_TABLE"],
    )
    .await;

    let query = "sku=SB-TEE-BLK-M&sku=sb-mug-12pk&sku=NOT-MAPPED";
    let resp = get(&url, query, None).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        header(&resp, "cache-control").as_deref(),
        Some("public, max-age=30")
    );
    assert_eq!(header(&resp, "vary").as_deref(), Some("Accept-Encoding"));
    assert_eq!(
        header(&resp, "content-type").as_deref(),
        Some("application/json")
    );
    let tag = header(&resp, "etag").expect("an ETag");
    assert_eq!(tag.len(), 34, "{tag}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "shop": SHOP,
            "items": [
                {"sku": "SB-TEE-BLK-M", "locations": [
                    {"location": WH, "name": "Main warehouse", "available": 7},
                    {"location": STORE, "name": "Shop floor", "available": 3},
                ], "available": 10, "restock": null},
                {"sku": "sb-mug-12pk", "locations": [
                    {"location": WH, "name": "Main warehouse", "available": 2},
                ], "available": 2, "restock": {"date": "2026-12-15", "quantity": 2}},
            ],
            "unknown": ["NOT-MAPPED"],
        })
    );

    let cached = get(&url, query, Some(&tag)).await;
    assert_eq!(cached.status().as_u16(), 304);
    assert_eq!(header(&cached, "etag").as_deref(), Some(tag.as_str()));
    assert!(header(&cached, "cache-control").is_some());
    assert!(cached.bytes().await.unwrap().is_empty(), "304 has no body");

    level(&stack, "s4", TEE, STORE, 1, "2026-11-27T10:00:09Z").await;
    stack.drain().await;
    let changed = get(&url, query, Some(&tag)).await;
    assert_eq!(changed.status().as_u16(), 200);
    let new_tag = header(&changed, "etag").expect("an ETag");
    assert_ne!(new_tag, tag);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["items"][0]["available"], 8);

    for (query, status) in [
        ("", 400),
        ("sku=a%20b", 400),
        ("sku=a/b", 400),
        (&*format!("sku={}", vec!["S"; 51].join(",")), 400),
        ("shop=other.myshopify.com&sku=SB-TEE-BLK-M", 404),
    ] {
        let resp = get(&url, query, None).await;
        assert_eq!(resp.status().as_u16(), status, "{query}");
        assert_eq!(header(&resp, "cache-control").as_deref(), Some("no-store"));
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
    }
    let post = reqwest::Client::new()
        .post(format!("{url}{AVAILABILITY_PATH}?sku=SB-TEE-BLK-M"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 405, "read only");
}

#[tokio::test]
async fn a_table_that_does_not_exist_is_503_uncached_and_names_no_table() {
    let stack = support::stack().await;
    stack.import_sample_map().await;
    let skumap = stack.env["SKUMAP_TABLE"].clone();
    let stock = stack.env["STOCK_TABLE"].clone();
    for (stock, skumap) in [
        (format!("{stock}-gone"), skumap.clone()),
        (stock, format!("{skumap}-gone")),
    ] {
        let (url, _stop) = serve(&stack, &stock, &skumap).await;
        let resp = get(&url, "sku=SB-TEE-BLK-M", None).await;
        assert_eq!(resp.status().as_u16(), 503, "{stock} {skumap}");
        assert_eq!(header(&resp, "cache-control").as_deref(), Some("no-store"));
        assert!(header(&resp, "retry-after").is_some());
        assert!(header(&resp, "etag").is_none());
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains("-gone") && !text.contains("Resource"),
            "{text}"
        );
    }
}
