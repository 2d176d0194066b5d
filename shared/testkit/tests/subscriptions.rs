//! Webhook subscription health through the Shopify stand-in: `webhook_health::check` and
//! `ensure` with the real Admin API client (`ShopifyGraphql`), the stand-in seeded and read
//! through its operator endpoints (`/_standin/subscriptions*`). A complete set checks clean; a
//! subscription Shopify deleted silently is found and `ensure` restores it; a missing scope is
//! reported and not "fixed"; a subscription at another address is reported and `ensure` adds
//! ours; the list is read over several pages; the reconcile run's start-of-run check publishes
//! the metrics the alarm reads.
//!
//! Needs `STOCKBRIDGE_TEST_PYTHON` (the venv's python, with graphql-core): `infra/test.sh` sets it.

mod support;

use serde_json::{json, Value};
use stockbridge_core::reconcile::{Reconciler, RunOptions};
use stockbridge_core::telemetry::Metrics;
use stockbridge_core::webhook_health::{
    self, api_topic, Needs, Topic, NEEDED_SCOPES, SCOPES_MISSING_METRIC,
    SUBSCRIPTIONS_MISSING_METRIC,
};
use stockbridge_domain::ids::ShopDomain;
use stockbridge_memory::{MemoryAlerts, MemoryErp, MemoryQueue, MemoryStore};
use support::standin::{Options, Standin};
use support::SHOP;

const HOOK: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/shopify";
const OLD_HOOK: &str = "https://old-stage.execute-api.eu-west-1.amazonaws.com/webhooks/shopify";

fn needs() -> Needs {
    Needs::stockbridge(HOOK).expect("an https address")
}

/// A stand-in whose app has every needed topic subscribed at `HOOK` (but `except`), and `scopes`.
async fn shop(except: &[Topic], scopes: &[&str]) -> Standin {
    let standin = Standin::start(Options::default()).await;
    let subscriptions: Vec<Value> = needs()
        .topics
        .iter()
        .filter(|t| !except.contains(t))
        .map(|t| json!({"topic": api_topic(*t), "uri": HOOK}))
        .collect();
    standin
        .post(
            "/_standin/subscriptions/seed",
            json!({"reset": true, "subscriptions": subscriptions, "scopes": scopes}),
        )
        .await;
    standin
}

/// The stand-in's subscriptions as (topic, uri), read through its operator endpoint.
async fn stored(standin: &Standin) -> Vec<(String, String)> {
    let state = standin.get("/_standin/subscriptions").await;
    state["subscriptions"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| {
            (
                s["topic"].as_str().unwrap().to_string(),
                s["uri"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_complete_set_checks_clean() {
    let standin = shop(&[], &NEEDED_SCOPES).await;
    let health = webhook_health::check(&standin.client(), &needs())
        .await
        .expect("check");
    assert!(health.is_healthy(), "{:?}", health.differences());
    assert_eq!(health.subscriptions.len(), needs().topics.len());
    assert!(health
        .subscriptions
        .iter()
        .all(|s| s.api_version == "2026-04" && s.format == "JSON" && s.uri == HOOK));
    assert_eq!(health.granted_scopes.len(), NEEDED_SCOPES.len());
}

#[tokio::test]
async fn a_deleted_subscription_is_found_and_ensure_restores_it() {
    let standin = shop(&[], &NEEDED_SCOPES).await;
    // Shopify removes a subscription after repeated failed deliveries, telling no one.
    let removed = standin
        .post(
            "/_standin/subscriptions/remove",
            json!({"topic": "INVENTORY_LEVELS_UPDATE"}),
        )
        .await;
    assert_eq!(removed["removed"].as_array().unwrap().len(), 1);

    let client = standin.client();
    let health = webhook_health::check(&client, &needs())
        .await
        .expect("check");
    assert_eq!(health.missing, vec![Topic::InventoryLevelsUpdate]);
    assert_eq!(health.subscriptions_missing(), 1);
    assert!(!health.is_healthy());

    let ensured = webhook_health::ensure(&client, &needs())
        .await
        .expect("ensure");
    assert_eq!(ensured.created.len(), 1, "{:?}", ensured.failed);
    assert_eq!(ensured.created[0].topic, "INVENTORY_LEVELS_UPDATE");
    assert!(ensured.failed.is_empty());
    assert!(
        stored(&standin)
            .await
            .contains(&("INVENTORY_LEVELS_UPDATE".into(), HOOK.into())),
        "the stand-in holds the restored subscription"
    );
    let after = webhook_health::check(&client, &needs())
        .await
        .expect("check");
    assert!(after.is_healthy(), "{:?}", after.differences());

    // A second ensure has nothing to do.
    let again = webhook_health::ensure(&client, &needs())
        .await
        .expect("ensure");
    assert!(again.created.is_empty() && again.failed.is_empty());
    assert_eq!(stored(&standin).await.len(), needs().topics.len());
}

#[tokio::test]
async fn a_missing_scope_is_reported_and_not_created() {
    let standin = shop(&[], &["read_inventory", "write_inventory", "read_orders"]).await;
    let client = standin.client();
    let health = webhook_health::check(&client, &needs())
        .await
        .expect("check");
    assert_eq!(
        health.missing_scopes,
        vec![
            "read_merchant_managed_fulfillment_orders".to_string(),
            "write_products".to_string()
        ]
    );
    assert!(health.missing.is_empty() && !health.is_healthy());
    let ensured = webhook_health::ensure(&client, &needs())
        .await
        .expect("ensure");
    assert!(ensured.created.is_empty(), "a scope cannot be created");
    assert_eq!(ensured.before.missing_scopes.len(), 2);
}

#[tokio::test]
async fn a_wrong_address_is_reported_and_ensure_adds_ours() {
    let standin = shop(&[Topic::OrdersCreate], &NEEDED_SCOPES).await;
    standin
        .post(
            "/_standin/subscriptions/seed",
            json!({"subscriptions": [{"topic": "orders/create", "uri": OLD_HOOK}]}),
        )
        .await;
    let client = standin.client();
    let health = webhook_health::check(&client, &needs())
        .await
        .expect("check");
    assert_eq!(health.wrong_address.len(), 1);
    assert_eq!(health.wrong_address[0].topic, Topic::OrdersCreate);
    assert_eq!(health.wrong_address[0].uris, vec![OLD_HOOK.to_string()]);
    assert!(health.missing.is_empty());
    assert_eq!(health.subscriptions_missing(), 1);

    let ensured = webhook_health::ensure(&client, &needs())
        .await
        .expect("ensure");
    assert_eq!(ensured.created.len(), 1);
    assert_eq!(ensured.created[0].uri, HOOK);
    let after = webhook_health::check(&client, &needs())
        .await
        .expect("check");
    assert_eq!(after.subscriptions_missing(), 0);
    assert_eq!(after.extra.len(), 1, "the old one is left for the operator");
    assert_eq!(after.extra[0].uri, OLD_HOOK);
}

#[tokio::test]
async fn many_subscriptions_are_read_over_pages() {
    let standin = shop(&[], &NEEDED_SCOPES).await;
    let extra: Vec<Value> = (0..30)
        .map(|i| json!({"topic": "PRODUCTS_UPDATE", "uri": format!("https://other.example/{i}")}))
        .collect();
    standin
        .post(
            "/_standin/subscriptions/seed",
            json!({"subscriptions": extra}),
        )
        .await;
    let before = standin.get("/_standin/stats").await["graphql_requests"]
        .as_u64()
        .unwrap();
    let health = webhook_health::check(&standin.client(), &needs())
        .await
        .expect("check");
    let requests = standin.get("/_standin/stats").await["graphql_requests"]
        .as_u64()
        .unwrap()
        - before;
    assert_eq!(health.subscriptions.len(), needs().topics.len() + 30);
    assert_eq!(health.extra.len(), 30);
    assert_eq!(requests, 3, "two pages of subscriptions and the scopes");
}

#[tokio::test]
async fn the_reconcile_run_publishes_what_is_missing() {
    let standin = shop(
        &[Topic::InventoryLevelsUpdate, Topic::RefundsCreate],
        &["read_inventory", "read_orders"],
    )
    .await;
    let metrics = Metrics::silent("reconcile");
    let reconciler = Reconciler {
        shop: ShopDomain::new(SHOP),
        store: MemoryStore::new(),
        erp: MemoryErp::new(),
        shopify: standin.client(),
        queue: MemoryQueue::new(),
        alerts: MemoryAlerts::new(),
        metrics: metrics.clone(),
    };
    reconciler
        .run_checking_webhooks(&RunOptions::default(), &needs())
        .await
        .expect("the run");
    assert_eq!(metrics.total(SUBSCRIPTIONS_MISSING_METRIC), 2.0);
    // write_inventory, read_merchant_managed_fulfillment_orders and write_products.
    assert_eq!(metrics.total(SCOPES_MISSING_METRIC), 3.0);
}
