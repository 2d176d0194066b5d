//! `stockbridge status` against real services: the command itself (the `stockbridge` binary,
//! built by the test) on a private stack in moto, the shared test Tryton and a Shopify stand-in
//! with its webhook subscriptions. Healthy on a fresh stack with the sample SKU map; failing
//! (exit 2) with the ERP unreachable, a poison message in the DLQ and a subscription deleted,
//! each named in the reasons.

mod support;

use std::collections::HashMap;

use serde_json::{json, Value};
use stockbridge_core::webhook_health::{api_topic, Needs};
use support::standin::{free_port, Options, Standin, TOKEN};
use support::{stack, Stack, SHOP};

/// The stand-in, with every subscription Stockbridge needs delivering to the stack's webhook.
async fn shop_with_subscriptions(s: &Stack) -> Standin {
    let standin = Standin::start(Options::default()).await;
    let needs = Needs::stockbridge(&s.url).expect("the stack's webhook URL");
    let subscriptions: Vec<Value> = needs
        .topics
        .iter()
        .map(|t| json!({"topic": api_topic(*t), "uri": s.url}))
        .collect();
    standin
        .post(
            "/_standin/subscriptions/seed",
            json!({"reset": true, "subscriptions": subscriptions}),
        )
        .await;
    standin
}

/// Runs `stockbridge status --json` with the stack's environment and `extra` on top; returns the
/// exit code and the JSON it printed.
fn status(s: &Stack, standin: &Standin, extra: &[(&str, String)]) -> (i32, Value) {
    let mut env: HashMap<String, String> = s.env.clone();
    env.insert("RECONCILE_SHOP".into(), SHOP.into());
    env.insert("WEBHOOK_URL".into(), s.url.clone());
    env.insert("SHOPIFY_ADMIN_URL".into(), standin.base.clone());
    env.insert("SHOPIFY_ACCESS_TOKEN".into(), TOKEN.into());
    env.insert("ERP_KIND".into(), "tryton".into());
    // The shared test Tryton (TRYTON_URL and TRYTON_API_KEY from infra/test.sh).
    env.insert("ERP_URL".into(), support::erp::env("TRYTON_URL"));
    for (k, v) in extra {
        env.insert(k.to_string(), v.clone());
    }
    let out = std::process::Command::new(support::stockbridge_binary())
        .args(["status", "--json"])
        .envs(&env)
        .output()
        .expect("run stockbridge status");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "status printed no JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), report)
}

/// `(severity, check, text)` of every reason.
fn reasons(report: &Value) -> Vec<(String, String, String)> {
    report["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| {
            (
                r["severity"].as_str().unwrap_or_default().to_string(),
                r["check"].as_str().unwrap_or_default().to_string(),
                r["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_fresh_stack_with_a_mapped_item_is_healthy() {
    let s = stack().await;
    s.import_sample_map().await;
    let standin = shop_with_subscriptions(&s).await;

    let (code, report) = status(&s, &standin, &[]);

    assert_eq!(report["verdict"], "healthy", "{report:#}");
    assert_eq!(code, 0);
    assert!(reasons(&report).is_empty(), "{report:#}");
    let seen = &report["observations"];
    assert_eq!(seen["erp"]["checked"], "seen", "{seen:#}");
    assert_eq!(seen["erp"]["value"]["erp"], "reachable", "{seen:#}");
    assert_eq!(seen["dead_letters"]["value"]["visible"], 0);
    assert_eq!(seen["subscriptions"]["checked"], "seen", "{seen:#}");
    assert_eq!(seen["subscriptions"]["value"]["missing"], json!([]));
    assert_eq!(seen["last_report"]["checked"], "seen");
}

#[tokio::test]
async fn an_unreachable_erp_a_dead_letter_and_a_deleted_subscription_are_failing() {
    let s = stack().await;
    s.import_sample_map().await;
    let standin = shop_with_subscriptions(&s).await;
    s.sqs
        .send_message()
        .queue_url(&s.dlq_url)
        .message_body("{\"not\": \"an event\"}")
        .send()
        .await
        .expect("a poison message in the DLQ");
    standin
        .post(
            "/_standin/subscriptions/remove",
            json!({"topic": "INVENTORY_LEVELS_UPDATE"}),
        )
        .await;
    // A closed port rather than stopping the shared Tryton.
    let closed = format!("http://127.0.0.1:{}/stockbridge", free_port());

    let (code, report) = status(&s, &standin, &[("ERP_URL", closed)]);

    assert_eq!(report["verdict"], "failing", "{report:#}");
    assert_eq!(code, 2);
    let reasons = reasons(&report);
    let has = |severity: &str, check: &str, text: &str| {
        reasons
            .iter()
            .any(|(s, c, t)| s == severity && c == check && t.contains(text))
    };
    assert!(has("failing", "ERP", "unreachable"), "{reasons:#?}");
    assert!(
        has(
            "failing",
            "subscriptions",
            "missing: inventory_levels/update"
        ),
        "{reasons:#?}"
    );
    // Just dead-lettered: within the 15-minute grace it degrades (older, it fails).
    assert!(
        has("degraded", "dead letters", "1 events dead-lettered"),
        "{reasons:#?}"
    );
    assert_eq!(
        report["observations"]["dead_letters"]["value"]["visible"],
        1
    );
    assert!(
        report["observations"]["dead_letters"]["value"]["oldest_sent"].is_i64(),
        "the peek saw the send time: {report:#}"
    );
    // Worst first.
    assert_eq!(reasons[0].0, "failing");
}
