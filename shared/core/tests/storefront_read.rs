//! The storefront's availability read (`stockbridge_core::storefront_read`) on the memory
//! stores: figures per location and their sum, the restock in Shopify units, unknown SKUs, the
//! ETag and `If-None-Match`, the refusals, the shop chosen, and a store that is down.

mod support;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use stockbridge_core::ports::{ErpRecords, StorefrontMap, StorefrontSettings};
use stockbridge_core::storefront_read::{ServedShops, StorefrontRead, CACHE_CONTROL};
use stockbridge_core::telemetry::Metrics;
use stockbridge_core::webhook::RequestHeaders;
use stockbridge_domain::ids::LocationId;
use stockbridge_domain::storefront::{Restock, SellRule, ITEM_WIDE};
use stockbridge_memory::{Fault, MemoryStore, StoreOp};

use support::*;

type Read = StorefrontRead<MemoryStore, MemoryStore, MemoryStore>;

fn read_on(store: &MemoryStore, shops: &str) -> Read {
    StorefrontRead {
        shops: ServedShops::parse(shops, "SHOP_DOMAIN").unwrap(),
        skumap: store.clone(),
        stock: store.clone(),
        erp_records: store.clone(),
        metrics: Metrics::silent("storefront-api"),
    }
}

/// The test shop with the tee at 7 (warehouse) and 3 (shop floor), the mug (a dozen listing)
/// at 2 dozen in the warehouse, and 30 single mugs on order for 2026-12-15.
async fn shop_with_stock() -> MemoryStore {
    let store = mapped_store().await;
    set_levels(
        &store,
        "w1",
        vec![
            level(TEE.0, WH, 7, 1),
            level(TEE.0, STORE, 3, 1),
            level(MUG.0, WH, 2, 1),
        ],
    )
    .await;
    restock(&store, "MUG", "2026-12-15", 30).await;
    store
}

async fn set_levels(
    store: &MemoryStore,
    webhook: &str,
    changes: Vec<stockbridge_domain::event::StockChange>,
) {
    let report = consumer(store)
        .apply_messages(&message(&event(webhook, changes)))
        .await;
    assert!(report.failed.is_empty(), "{report:?}");
}

async fn restock(store: &MemoryStore, erp_item: &str, date: &str, quantity: i64) {
    let pair = (ITEM_WIDE.to_string(), erp_item.to_string());
    let found = store
        .erp_records(&shop(), std::slice::from_ref(&pair))
        .await
        .unwrap();
    let (mut record, rev) = found.get(&pair).cloned().unwrap_or_default();
    record.restock = Some(Restock {
        date: date.into(),
        quantity: Decimal::from(quantity),
    });
    store
        .put_erp_record(&shop(), &pair, &record, rev)
        .await
        .unwrap();
}

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn no_headers() -> RequestHeaders {
    RequestHeaders::default()
}

fn if_none_match(tag: &str) -> RequestHeaders {
    RequestHeaders::new([("If-None-Match", tag.to_string())])
}

fn body(reply: &stockbridge_core::storefront_read::Reply) -> Value {
    serde_json::from_str(reply.body.as_deref().expect("a body")).expect("JSON")
}

#[tokio::test]
async fn answers_each_sku_per_location_with_the_sum_and_the_restock_in_shopify_units() {
    let store = shop_with_stock().await;
    let read = read_on(&store, SHOP);
    let reply = read
        .answer(
            &q(&[("sku", "SB-TEE"), ("sku", "sb-mug-12"), ("sku", "NOPE-1")]),
            &no_headers(),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some(CACHE_CONTROL));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let tag = reply.header("etag").expect("an ETag");
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34,
        "{tag}"
    );
    assert_eq!(
        body(&reply),
        json!({
            "shop": SHOP,
            "items": [
                {"sku": "SB-TEE", "locations": [
                    {"location": WH, "name": "Warehouse", "available": 7},
                    {"location": STORE, "name": "Shop floor", "available": 3},
                ], "available": 10, "restock": null},
                // 30 single mugs on order are 2 dozen (rounded down).
                {"sku": "sb-mug-12", "locations": [
                    {"location": WH, "name": "Warehouse", "available": 2},
                ], "available": 2, "restock": {"date": "2026-12-15", "quantity": 2}},
            ],
            "unknown": ["NOPE-1"],
        })
    );
    let text = reply.body.unwrap_or_default();
    for personal in ["customer", "order", "email", "address"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
}

#[tokio::test]
async fn repeats_and_comma_lists_count_once_and_only_unknown_skus_answer_empty() {
    let store = shop_with_stock().await;
    let read = read_on(&store, SHOP);
    let reply = read
        .answer(
            &q(&[("sku", "SB-TEE,SB-CAP"), ("sku", "sb-tee")]),
            &no_headers(),
        )
        .await;
    assert_eq!(reply.status, 200);
    let b = body(&reply);
    let skus: Vec<&str> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap())
        .collect();
    // The cap has no stock record yet: it is known, with no location and nothing available.
    assert_eq!(skus, ["SB-TEE", "SB-CAP"]);
    assert_eq!(b["items"][1]["locations"], json!([]));
    assert_eq!(b["items"][1]["available"], 0);

    let reply = read.answer(&q(&[("sku", "X-1")]), &no_headers()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        body(&reply),
        json!({"shop": SHOP, "items": [], "unknown": ["X-1"]})
    );
}

#[tokio::test]
async fn a_matching_if_none_match_is_304_without_a_body_and_a_changed_figure_changes_the_tag() {
    let store = shop_with_stock().await;
    let read = read_on(&store, SHOP);
    let ask = q(&[("sku", "SB-TEE")]);
    let first = read.answer(&ask, &no_headers()).await;
    let tag = first.header("etag").unwrap().to_string();

    let again = read.answer(&ask, &if_none_match(&tag)).await;
    assert_eq!(again.status, 304);
    assert_eq!(again.body, None);
    assert_eq!(again.header("etag"), Some(tag.as_str()));
    assert_eq!(again.header("cache-control"), Some(CACHE_CONTROL));
    let weak = read.answer(&ask, &if_none_match(&format!("W/{tag}"))).await;
    assert_eq!(weak.status, 304);
    let other = read.answer(&ask, &if_none_match("\"0123\"")).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.body, first.body, "the same figures, the same body");

    set_levels(&store, "w2", vec![level(TEE.0, STORE, 2, 5)]).await;
    let changed = read.answer(&ask, &if_none_match(&tag)).await;
    assert_eq!(changed.status, 200, "a new figure is a new representation");
    assert_ne!(changed.header("etag"), Some(tag.as_str()));
    assert_eq!(body(&changed)["items"][0]["available"], 9);

    // A restock date moving changes it too.
    let tag = changed.header("etag").unwrap().to_string();
    restock(&store, "TEE", "2026-12-01", 5).await;
    let restocked = read.answer(&ask, &if_none_match(&tag)).await;
    assert_eq!(restocked.status, 200);
    assert_eq!(
        body(&restocked)["items"][0]["restock"],
        json!({"date": "2026-12-01", "quantity": 5})
    );
}

#[tokio::test]
async fn refuses_no_sku_too_many_and_skus_the_policy_refuses() {
    let store = shop_with_stock().await;
    let read = read_on(&store, SHOP);
    let fifty: Vec<String> = (0..50).map(|i| format!("S-{i}")).collect();
    let fifty_one = format!("{},S-50", fifty.join(","));
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (q(&[]), "no_sku"),
        (q(&[("sku", "")]), "no_sku"),
        (q(&[("skus", "SB-TEE")]), "no_sku"),
        (q(&[("sku", &fifty_one)]), "too_many_skus"),
        (q(&[("sku", "SB TEE")]), "bad_sku"),
        (q(&[("sku", "SB-TEE"), ("sku", "a/b")]), "bad_sku"),
        (q(&[("sku", &"X".repeat(65))]), "bad_sku"),
    ];
    for (query, code) in cases {
        let reply = read.answer(&query, &no_headers()).await;
        assert_eq!(reply.status, 400, "{query:?}");
        assert_eq!(body(&reply)["error"], code, "{query:?}");
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.header("etag"), None);
    }
    let at_limit = read
        .answer(&q(&[("sku", &fifty.join(","))]), &no_headers())
        .await;
    assert_eq!(at_limit.status, 200);
    assert_eq!(body(&at_limit)["unknown"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn the_shop_is_the_one_served_and_a_named_one_must_be_served() {
    let store = shop_with_stock().await;
    let one = read_on(&store, SHOP);
    let named = one
        .answer(
            &q(&[("shop", &SHOP.to_uppercase()), ("sku", "SB-TEE")]),
            &no_headers(),
        )
        .await;
    assert_eq!(named.status, 200);
    assert_eq!(body(&named)["shop"], SHOP);
    let other = one
        .answer(
            &q(&[("shop", "other.myshopify.com"), ("sku", "SB-TEE")]),
            &no_headers(),
        )
        .await;
    assert_eq!(other.status, 404);
    assert_eq!(body(&other)["error"], "unknown_shop");
    let twice = one
        .answer(
            &q(&[("shop", SHOP), ("shop", SHOP), ("sku", "SB-TEE")]),
            &no_headers(),
        )
        .await;
    assert_eq!(twice.status, 400);

    let several = read_on(&store, &format!("other.myshopify.com,{SHOP}"));
    let unnamed = several
        .answer(&q(&[("sku", "SB-TEE")]), &no_headers())
        .await;
    assert_eq!(unnamed.status, 400);
    assert_eq!(body(&unnamed)["error"], "shop_needed");
    let chosen = several
        .answer(&q(&[("shop", SHOP), ("sku", "SB-TEE")]), &no_headers())
        .await;
    assert_eq!(body(&chosen)["items"][0]["available"], 10);
    // A served shop without this SKU in its map: unknown there.
    let elsewhere = several
        .answer(
            &q(&[("shop", "other.myshopify.com"), ("sku", "SB-TEE")]),
            &no_headers(),
        )
        .await;
    assert_eq!(body(&elsewhere)["unknown"], json!(["SB-TEE"]));
}

#[tokio::test]
async fn a_location_whose_rule_says_unsellable_shows_the_figure_shopify_holds() {
    let store = shop_with_stock().await;
    let mut settings = StorefrontSettings::default();
    settings.rules.locations.insert(
        LocationId(STORE),
        SellRule {
            buffer: 0,
            sellable: false,
        },
    );
    store
        .put_storefront_settings(&shop(), &settings)
        .await
        .unwrap();
    let reply = read_on(&store, SHOP)
        .answer(&q(&[("sku", "SB-TEE")]), &no_headers())
        .await;
    // The rule acts on what the sync writes to Shopify; the read reports what Shopify holds.
    assert_eq!(body(&reply)["items"][0]["locations"][1]["available"], 3);
    assert_eq!(body(&reply)["items"][0]["available"], 10);
}

#[tokio::test]
async fn a_store_that_is_down_is_503_and_an_unreadable_record_500_both_uncached() {
    let store = shop_with_stock().await;
    let read = read_on(&store, SHOP);
    let ask = q(&[("sku", "SB-TEE")]);
    for op in [StoreOp::Lookup, StoreOp::Load, StoreOp::ErpRecords] {
        store.fail_next(op, 1, Fault::Unavailable);
        let reply = read.answer(&ask, &no_headers()).await;
        assert_eq!(reply.status, 503, "{op:?}");
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert!(reply.header("retry-after").is_some());
        let text = reply.body.unwrap_or_default();
        assert!(!text.contains("memory"), "no store detail: {text}");
    }
    store.fail_next(StoreOp::Load, 1, Fault::Corrupt);
    assert_eq!(read.answer(&ask, &no_headers()).await.status, 500);
    assert_eq!(read.answer(&ask, &no_headers()).await.status, 200);
}

#[tokio::test(start_paused = true)]
async fn a_store_slower_than_the_deadline_is_503() {
    let store = shop_with_stock().await;
    let read = read_on(&store, SHOP);
    store.fail_next(
        StoreOp::Load,
        1,
        Fault::Delay(stockbridge_core::storefront_read::READ_DEADLINE * 2),
    );
    let reply = read.answer(&q(&[("sku", "SB-TEE")]), &no_headers()).await;
    assert_eq!(reply.status, 503);
}
