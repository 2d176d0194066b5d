//! `fulfillment_orders/*`: each of Shopify's documented examples (`tests/fixtures/shopify/`)
//! becomes one event naming exactly the fulfillment orders the payload names, versioned by the
//! trigger time; a payload that names none, or names one without its id, is unusable.

use std::path::Path;

use stockbridge_domain::event::{EventBody, InventoryEvent, Part, StockChange};
use stockbridge_domain::ids::{ShopDomain, Timestamp, Version};
use stockbridge_shopify::normalise::{normalise, Delivery, Normalised, Unusable};
use stockbridge_shopify::redact::redact;

/// Each stored example and the fulfillment orders it names.
const EXAMPLES: &[(&str, &[u64])] = &[
    ("2023-10/fulfillment_orders__order_routing_complete", &[1]),
    // original_fulfillment_order and moved_fulfillment_order
    ("2023-07/fulfillment_orders__moved", &[1, 2]),
    ("2024-01/fulfillment_orders__hold_released", &[1]),
    // the held fulfillment order and remaining_fulfillment_order
    ("2024-04/fulfillment_orders__placed_on_hold", &[1, 2]),
    ("2024-10/fulfillment_orders__placed_on_hold", &[1, 2]),
    ("2026-04/fulfillment_orders__placed_on_hold", &[1, 2]),
    (
        "2023-10/fulfillment_orders__cancellation_request_accepted",
        &[1],
    ),
    // the cancelled one and replacement_fulfillment_order
    ("2023-07/fulfillment_orders__cancelled", &[1, 2]),
    // fulfillment_order, remaining_fulfillment_order, replacement_fulfillment_order
    ("2024-04/fulfillment_orders__split", &[1, 2, 3]),
    // merge_intents' fulfillment_order_id (1, 2) and the merged fulfillment_order (1)
    ("2024-01/fulfillment_orders__merged", &[1, 2]),
    ("2023-07/fulfillment_orders__rescheduled", &[1]),
    (
        "2023-10/fulfillment_orders__scheduled_fulfillment_order_ready",
        &[1],
    ),
    (
        "2023-07/fulfillment_orders__fulfillment_request_accepted",
        &[1],
    ),
    (
        "2024-07/fulfillment_orders__line_items_prepared_for_pickup",
        &[1],
    ),
    (
        "2023-10/fulfillment_orders__line_items_prepared_for_local_delivery",
        &[1],
    ),
];

const TRIGGERED: &str = "2026-11-27T10:00:00.123456789Z";

fn deliver(topic: &str, body: &[u8]) -> Result<Normalised, Unusable> {
    let shop = ShopDomain::new("t.myshopify.com");
    normalise(&Delivery {
        shop: &shop,
        topic,
        webhook_id: "wh-1",
        event_id: None,
        api_version: Some("2026-04"),
        triggered_at: Timestamp::parse(TRIGGERED),
        received_at: Timestamp::parse("2026-11-27T10:00:01Z").unwrap(),
        body,
    })
}

fn fixture(name: &str) -> (String, Vec<u8>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shopify");
    let body = std::fs::read(root.join(format!("{name}.json"))).unwrap();
    let topic = name.rsplit('/').next().unwrap().replace("__", "/");
    (topic, body)
}

/// The one event a delivery became.
fn one_event(result: Result<Normalised, Unusable>) -> InventoryEvent {
    match result {
        Ok(Normalised::Events(mut events)) if events.len() == 1 => events.remove(0),
        other => panic!("expected one event, got {other:?}"),
    }
}

/// The fulfillment orders and version of an event's only change.
fn named(event: &InventoryEvent) -> (Vec<u64>, Version) {
    match &event.body {
        EventBody::Stock { changes } => match &changes[..] {
            [StockChange::FulfillmentOrdersChanged {
                fulfillment_orders,
                version,
            }] => (fulfillment_orders.iter().map(|f| f.0).collect(), *version),
            other => panic!("expected one FulfillmentOrdersChanged, got {other:?}"),
        },
        other => panic!("expected stock changes, got {other:?}"),
    }
}

fn code(result: Result<Normalised, Unusable>) -> String {
    match result {
        Err(e) => e.code().to_string(),
        Ok(n) => format!("accepted: {n:?}"),
    }
}

#[test]
fn every_documented_example_names_its_fulfillment_orders() {
    let triggered = Timestamp::parse(TRIGGERED).unwrap();
    for (name, expected) in EXAMPLES {
        let (topic, body) = fixture(name);
        let event = one_event(deliver(&topic, &body));
        assert_eq!(event.key, "t.myshopify.com:wh-1:0", "{name}");
        assert_eq!(event.part, Part::WHOLE, "{name}");
        assert_eq!(event.source.topic, topic, "{name}");
        let (ids, version) = named(&event);
        assert_eq!(ids, *expected, "{name}");
        // No time of its own in the payload: Shopify's trigger time, to the nanosecond.
        assert_eq!(version, Version::new(triggered, triggered), "{name}");
        // The free text some carry (a fulfillment service's message, hold notes) stays out.
        let text = event.to_json();
        for free_text in ["shipped", "tomorrow", "example", "Stacked"] {
            assert!(!text.contains(free_text), "{name}: {free_text} in {text}");
        }
    }
}

#[test]
fn every_stored_fulfillment_orders_example_is_checked_above() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shopify");
    let mut stored: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|version| version.is_dir())
        .flat_map(|version| std::fs::read_dir(version).unwrap())
        .map(|file| file.unwrap().path())
        .filter(|file| {
            let stem = file.file_stem().unwrap().to_str().unwrap();
            stem.starts_with("fulfillment_orders__")
        })
        .map(|file| {
            let name = file.strip_prefix(&root).unwrap().with_extension("");
            name.to_str().unwrap().to_string()
        })
        .collect();
    stored.sort();
    let mut listed: Vec<&str> = EXAMPLES.iter().map(|(name, _)| *name).collect();
    listed.sort();
    assert_eq!(stored, listed);
}

#[test]
fn merges_are_read_as_one_object_or_a_list_and_ids_count_once() {
    let list = br#"{"merge_intents":[{"fulfillment_order_id":"gid://shopify/FulfillmentOrder/7"}],
        "fulfillment_order_merges":[{"fulfillment_order":{"id":"gid://shopify/FulfillmentOrder/9"}},
                                    {"fulfillment_order":{"id":"gid://shopify/FulfillmentOrder/7"}}]}"#;
    let (ids, _) = named(&one_event(deliver("fulfillment_orders/merged", list)));
    assert_eq!(ids, [7, 9]);
    // Ids above 2^53 stay exact.
    let big = br#"{"fulfillment_order":{"id":"gid://shopify/FulfillmentOrder/9007199254740993"}}"#;
    let (ids, _) = named(&one_event(deliver("fulfillment_orders/cancelled", big)));
    assert_eq!(ids, [9007199254740993]);
}

#[test]
fn a_payload_naming_no_fulfillment_order_is_unusable() {
    for body in [
        "{}",
        r#"{"fulfillment_order":null,"merge_intents":[],"fulfillment_order_merges":null}"#,
        r#"{"message":"Order has not been shipped yet.","source_location":{"id":"gid://shopify/Location/0"}}"#,
        // A reference without its id: the change would be seen only in part.
        r#"{"fulfillment_order":{"status":"open"}}"#,
        r#"{"original_fulfillment_order":{"id":"gid://shopify/FulfillmentOrder/1"},"moved_fulfillment_order":{"id":null}}"#,
        r#"{"merge_intents":[{"fulfillment_order_line_items":[]}],"fulfillment_order_merges":{"fulfillment_order":{"id":1}}}"#,
        r#"{"fulfillment_order_merges":{}}"#,
    ] {
        let result = deliver("fulfillment_orders/moved", body.as_bytes());
        assert_eq!(code(result.clone()), "unmappable", "{body}");
        let reason = result.unwrap_err().to_string();
        assert!(reason.contains("fulfillment order"), "{body}: {reason}");
    }
}

#[test]
fn a_bad_fulfillment_order_reference_is_refused_never_read_as_absent() {
    for (body, expected) in [
        (r#"{"fulfillment_order":{"id":"FO-1"}}"#, "bad_id"),
        (r#"{"fulfillment_order":{"id":1.5}}"#, "bad_id"),
        (
            r#"{"fulfillment_order":"gid://shopify/FulfillmentOrder/1"}"#,
            "bad_field",
        ),
        (r#"{"fulfillment_order_merges":"x"}"#, "bad_field"),
        (r#"{"fulfillment_order_merges":[1]}"#, "bad_field"),
        (
            r#"{"merge_intents":{"fulfillment_order_id":1}}"#,
            "bad_field",
        ),
        ("[1]", "not_an_object"),
    ] {
        let result = deliver("fulfillment_orders/merged", body.as_bytes());
        assert_eq!(code(result.clone()), expected, "{body}");
        // Redaction keeps what fails, so a replay fails the same way.
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(body) else {
            continue;
        };
        redact("fulfillment_orders/merged", &mut value);
        let redacted = serde_json::to_vec(&value).unwrap();
        assert_eq!(
            code(deliver("fulfillment_orders/merged", &redacted)),
            expected,
            "{body} redacted to {value}"
        );
    }
}

/// A stored example as quarantine keeps it.
fn redacted(name: &str) -> serde_json::Value {
    let (topic, body) = fixture(name);
    let mut value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    redact(&topic, &mut value);
    value
}

#[test]
fn redaction_keeps_only_the_fulfillment_order_ids() {
    assert_eq!(
        redacted("2026-04/fulfillment_orders__placed_on_hold"),
        serde_json::json!({
            "fulfillment_order": {"id": "gid://shopify/FulfillmentOrder/1"},
            "remaining_fulfillment_order": {"id": "gid://shopify/FulfillmentOrder/2"},
        })
    );
    let merged = redacted("2024-01/fulfillment_orders__merged");
    assert_eq!(
        merged,
        serde_json::json!({
            "merge_intents": [{"fulfillment_order_id": 1}, {"fulfillment_order_id": 2}],
            "fulfillment_order_merges": {"fulfillment_order": {"id": "gid://shopify/FulfillmentOrder/1"}},
        })
    );
    let body = serde_json::to_vec(&merged).unwrap();
    assert_eq!(
        named(&one_event(deliver("fulfillment_orders/merged", &body))).0,
        [1, 2],
        "a redacted payload replays the same"
    );
}

#[test]
fn fulfillment_orders_topics_not_subscribed_keep_todays_handling() {
    let body =
        br#"{"fulfillment_order":{"id":"gid://shopify/FulfillmentOrder/1","status":"open"}}"#;
    for topic in [
        "fulfillment_orders/fulfillment_request_submitted",
        "fulfillment_orders/cancellation_request_rejected",
    ] {
        assert!(
            matches!(deliver(topic, body), Err(Unusable::UnhandledTopic(_))),
            "{topic}"
        );
    }
    // Shopify's enum form of a subscribed one is read too.
    let (ids, _) = named(&one_event(deliver(
        "FULFILLMENT_ORDERS_HOLD_RELEASED",
        body,
    )));
    assert_eq!(ids, [1]);
}
