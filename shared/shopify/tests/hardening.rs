//! Authentic deliveries the normaliser must refuse rather than guess at: quantities that do not
//! parse or are out of range, negative movement quantities, ids that do not parse, ids too long
//! for a key, bodies that are not UTF-8 JSON objects; and what a refusal may say (never the
//! input's text).

use stockbridge_domain::event::{EventBody, StockChange};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_shopify::normalise::{normalise, Delivery, Normalised, Unusable};

fn deliver_bytes(topic: &str, webhook_id: &str, body: &[u8]) -> Result<Normalised, Unusable> {
    let shop = ShopDomain::new("t.myshopify.com");
    normalise(&Delivery {
        shop: &shop,
        topic,
        webhook_id,
        event_id: None,
        api_version: Some("2026-04"),
        triggered_at: Timestamp::parse("2026-11-27T10:00:00Z"),
        received_at: Timestamp::parse("2026-11-27T10:00:01Z").unwrap(),
        body,
    })
}

fn deliver(topic: &str, body: &str) -> Result<Normalised, Unusable> {
    deliver_bytes(topic, "wh-1", body.as_bytes())
}

fn code(r: Result<Normalised, Unusable>) -> String {
    match r {
        Err(e) => e.code().to_string(),
        Ok(n) => format!("accepted: {n:?}"),
    }
}

fn level(available: &str) -> String {
    format!(r#"{{"inventory_item_id":1,"location_id":2,"available":{available}}}"#)
}

fn changes(r: Result<Normalised, Unusable>) -> Vec<StockChange> {
    match r {
        Ok(Normalised::Events(events)) => events
            .into_iter()
            .flat_map(|e| match e.body {
                EventBody::Stock { changes } => changes,
                _ => vec![],
            })
            .collect(),
        other => panic!("expected events, got {other:?}"),
    }
}

#[test]
fn an_unparsable_available_is_quarantined_never_read_as_untracked() {
    for bad in [
        "1.5",
        "12.0",
        "1e3",
        "9223372036854775808",
        "99999999999999999999999",
        r#""12 units""#,
        "true",
        "{}",
        "[3]",
    ] {
        assert_eq!(
            code(deliver("inventory_levels/update", &level(bad))),
            "bad_quantity",
            "available: {bad}"
        );
    }
    // null is Shopify's "not tracked here", and stays so.
    assert!(matches!(
        changes(deliver("inventory_levels/update", &level("null")))[..],
        [StockChange::Available {
            available: None,
            ..
        }]
    ));
    assert!(matches!(
        changes(deliver("inventory_levels/update", &level(r#""7""#)))[..],
        [StockChange::Available {
            available: Some(7),
            ..
        }]
    ));
}

#[test]
fn quantities_beyond_a_billion_are_quarantined() {
    for bad in ["1000000001", "-1000000001", "9223372036854775807"] {
        assert_eq!(
            code(deliver("inventory_levels/update", &level(bad))),
            "quantity_out_of_range",
            "available: {bad}"
        );
    }
    for fine in ["1000000000", "-1000000000", "-3"] {
        assert!(
            deliver("inventory_levels/update", &level(fine)).is_ok(),
            "{fine}"
        );
    }
    let order = r#"{"id":1,"line_items":[{"id":2,"variant_id":3,"quantity":4000000000,"fulfillable_quantity":4000000000}]}"#;
    assert_eq!(
        code(deliver("orders/create", order)),
        "quantity_out_of_range"
    );
    let fulfilment = r#"{"id":1,"order_id":2,"status":"success","line_items":[{"id":3,"variant_id":4,"quantity":1000000001}]}"#;
    assert_eq!(
        code(deliver("fulfillments/create", fulfilment)),
        "quantity_out_of_range"
    );
}

#[test]
fn negative_movement_and_line_quantities_are_quarantined() {
    let fulfilment = r#"{"id":1,"order_id":2,"status":"success","line_items":[{"id":3,"variant_id":4,"quantity":-2}]}"#;
    assert_eq!(
        code(deliver("fulfillments/create", fulfilment)),
        "negative_quantity"
    );
    let refund = r#"{"id":9,"order_id":1,"refund_line_items":[{"id":1,"line_item_id":2,"quantity":-1,"location_id":77,"restock_type":"return","line_item":{"id":2,"variant_id":3}}]}"#;
    assert_eq!(code(deliver("refunds/create", refund)), "negative_quantity");
    let order =
        r#"{"id":1,"line_items":[{"id":2,"variant_id":3,"quantity":1,"fulfillable_quantity":-1}]}"#;
    assert_eq!(code(deliver("orders/create", order)), "negative_quantity");
    // A movement line that names no quantity moved nothing anybody can tell: not a silent 0.
    let none = r#"{"id":1,"order_id":2,"status":"success","line_items":[{"id":3,"variant_id":4}]}"#;
    assert_eq!(code(deliver("fulfillments/create", none)), "unmappable");
}

#[test]
fn an_id_that_does_not_parse_is_quarantined_never_read_as_absent() {
    // An order's location that does not parse would otherwise fall back to the default location.
    for bad in [r#""north-store""#, "1.5", "-4", "true", "{}"] {
        let order = format!(
            r#"{{"id":1,"location_id":{bad},"line_items":[{{"id":2,"variant_id":3,"quantity":1,"fulfillable_quantity":1}}]}}"#
        );
        assert_eq!(code(deliver("orders/create", &order)), "bad_id", "{bad}");
    }
    // Numeric strings and GraphQL ids are ids.
    let gid =
        r#"{"inventory_item_id":"gid://shopify/InventoryItem/5","location_id":"72","available":1}"#;
    assert!(deliver("inventory_levels/update", gid).is_ok());
}

#[test]
fn an_id_too_long_for_a_key_is_quarantined() {
    let body = level("1");
    let long = "w".repeat(257);
    assert_eq!(
        code(deliver_bytes(
            "inventory_levels/update",
            &long,
            body.as_bytes()
        )),
        "key_too_long"
    );
    assert!(deliver_bytes("inventory_levels/update", &"w".repeat(256), body.as_bytes()).is_ok());
    let sku = "S".repeat(1025);
    let order = format!(
        r#"{{"id":1,"line_items":[{{"id":2,"sku":"{sku}","quantity":1,"fulfillable_quantity":1}}]}}"#
    );
    assert_eq!(code(deliver("orders/create", &order)), "key_too_long");
}

#[test]
fn bodies_that_are_not_utf8_json_objects_are_quarantined_with_their_own_reason() {
    let json = level("1");
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(json.as_bytes());
    assert_eq!(
        code(deliver_bytes("inventory_levels/update", "w", &bom)),
        "bad_encoding"
    );
    let gzip = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00";
    assert_eq!(
        code(deliver_bytes("inventory_levels/update", "w", gzip)),
        "bad_encoding"
    );
    let latin1 =
        b"{\"inventory_item_id\":1,\"location_id\":2,\"available\":1,\"note\":\"caf\xe9\"}";
    assert_eq!(
        code(deliver_bytes("inventory_levels/update", "w", latin1)),
        "bad_encoding"
    );
    // An array is not a payload (serde would read it field by field, by position).
    assert_eq!(
        code(deliver("inventory_levels/update", "[1, 2, 3]")),
        "not_an_object"
    );
    let positional = r#"{"id":1,"line_items":[[2,3,"SKU",1,1,1]]}"#;
    assert_eq!(code(deliver("orders/create", positional)), "bad_field");
    assert_eq!(code(deliver("orders/create", "")), "bad_json");
    // Nesting deeper than serde_json's limit (128) in a field nobody reads is skipped without
    // recursion: the order is used.
    let deep = format!(
        r##"{{"id":1,"name":"#1","x":{}{},"line_items":[{{"id":2,"variant_id":3,"quantity":1,"fulfillable_quantity":1}}]}}"##,
        "[".repeat(300),
        "]".repeat(300)
    );
    // Its line's commitment and the sales order.
    assert_eq!(changes(deliver("orders/create", &deep)).len(), 2);
}

#[test]
fn a_refusal_never_quotes_the_input() {
    let secret = "jon.snow@example.com";
    for (topic, body) in [
        (
            "inventory_levels/update",
            format!(r#"{{"inventory_item_id":1,"location_id":2,"available":"{secret}"}}"#),
        ),
        (
            "inventory_items/update",
            format!(r#"{{"id":1,"tracked":"{secret}"}}"#),
        ),
        (
            "orders/create",
            format!(r#"{{"id":1,"line_items":"{secret}"}}"#),
        ),
        (
            "orders/create",
            format!(r#"{{"id":1,"line_items":[{{"id":2,"variant_id":"{secret}"}}]}}"#),
        ),
        (
            "orders/create",
            format!(
                r#"{{"id":1,"email":"{secret}","line_items":[{{"id":2,"sku":{{"a":"{secret}"}}}}]}}"#
            ),
        ),
        ("orders/create", format!(r#"{{"id":1,"note":"{secret}""#)),
        ("orders/create", format!(r#"{{"id":1}} "{secret}""#)),
        (
            "orders/create",
            format!(r#"{{"id":1,"id":2,"note":"{secret}"}}"#),
        ),
    ] {
        let err = deliver(topic, &body).expect_err(&body);
        let text = format!("{err} / {err:?}");
        assert!(!text.contains("jon.snow"), "{body}: {text}");
        assert!(text.contains("line 1 column"), "{body}: {text}");
    }
}
