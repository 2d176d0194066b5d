//! A trading day at the test shop as Shopify's webhooks tell it (the same story the Tryton drill
//! in `stockbridge-testkit` plays against real services), delivered messily, and the figures it
//! must end in, worked out by hand.
//!
//! Opening: the ERP warehouse holds 50 tees and 24 mugs (2 dozen), Shopify shows the same; the
//! shop floor is empty in both.

use std::collections::BTreeMap;

use stockbridge_core::webhook::WebhookService;
use stockbridge_memory::{MemoryQueue, MemoryStore};

use super::{post, t, CAP, MUG, STORE, TEE, WH};

fn level(item: u64, location: u64, available: i64, n: u32) -> (&'static str, String) {
    (
        "inventory_levels/update",
        format!(
            r#"{{"inventory_item_id":{item},"location_id":{location},"available":{available},"updated_at":"{}"}}"#,
            t(n)
        ),
    )
}

/// An order snapshot: lines are (line id, variant, quantity, fulfillable).
fn order(
    topic: &'static str,
    id: u64,
    location: Option<u64>,
    lines: &[(u64, u64, i64, i64)],
    n: u32,
    cancelled: bool,
) -> (&'static str, String) {
    let lines: Vec<String> = lines
        .iter()
        .map(|(l, v, q, f)| format!(r#"{{"id":{l},"variant_id":{v},"sku":"X","quantity":{q},"fulfillable_quantity":{f},"name":"Thing","price":"9.00"}}"#))
        .collect();
    let location = location.map_or("null".to_string(), |l| l.to_string());
    let cancelled = if cancelled {
        format!(r#""{}""#, t(n))
    } else {
        "null".into()
    };
    (
        topic,
        format!(
            r#"{{"id":{id},"name":"SB{id}","email":"buyer@example.com","updated_at":"{}","cancelled_at":{cancelled},"location_id":{location},"customer":{{"first_name":"Ann"}},"line_items":[{}]}}"#,
            t(n),
            lines.join(",")
        ),
    )
}

fn fulfillment(
    topic: &'static str,
    id: u64,
    order: u64,
    location: u64,
    lines: &[(u64, u64, i64)],
    n: u32,
) -> (&'static str, String) {
    let lines: Vec<String> = lines
        .iter()
        .map(|(l, v, q)| format!(r#"{{"id":{l},"variant_id":{v},"quantity":{q}}}"#))
        .collect();
    (
        topic,
        format!(
            r#"{{"id":{id},"order_id":{order},"location_id":{location},"status":"success","updated_at":"{}","line_items":[{}]}}"#,
            t(n),
            lines.join(",")
        ),
    )
}

/// A refund line: (refund line id, line id, variant, quantity, location, restock type).
type RefundLine<'a> = (u64, u64, u64, i64, Option<u64>, &'a str);

fn refund(id: u64, order: u64, lines: &[RefundLine<'_>], n: u32) -> (&'static str, String) {
    let lines: Vec<String> = lines
        .iter()
        .map(|(r, l, v, q, loc, kind)| {
            let loc = loc.map_or("null".to_string(), |l| l.to_string());
            format!(r#"{{"id":{r},"line_item_id":{l},"quantity":{q},"location_id":{loc},"restock_type":"{kind}","line_item":{{"id":{l},"variant_id":{v},"sku":"X"}}}}"#)
        })
        .collect();
    (
        "refunds/create",
        format!(
            r#"{{"id":{id},"order_id":{order},"processed_at":"{}","refund_line_items":[{}]}}"#,
            t(n),
            lines.join(",")
        ),
    )
}

/// The day's webhooks, in the order Shopify sent them: (topic, body).
pub fn webhooks() -> Vec<(&'static str, String)> {
    let (o1, o2, o3) = (
        9_000_000_000_000_000_001u64,
        9_000_000_000_000_000_002,
        9_000_000_000_000_000_003,
    );
    let (l11, l21, l22, l31) = (
        9_100_000_000_000_000_011u64,
        9_100_000_000_000_000_021,
        9_100_000_000_000_000_022,
        9_100_000_000_000_000_031,
    );
    vec![
        level(TEE.0, WH, 50, 0),
        level(MUG.0, WH, 2, 0),
        // Stock received on the shop floor (counted in Shopify there).
        level(TEE.0, STORE, 10, 1),
        level(CAP.0, STORE, 5, 2),
        // A POS sale of 2 tees, shipped at once.
        order(
            "orders/create",
            o1,
            Some(STORE),
            &[(l11, TEE.1, 2, 2)],
            3,
            false,
        ),
        level(TEE.0, STORE, 8, 4),
        fulfillment("fulfillments/create", 501, o1, STORE, &[(l11, TEE.1, 2)], 5),
        order(
            "orders/fulfilled",
            o1,
            Some(STORE),
            &[(l11, TEE.1, 2, 0)],
            6,
            false,
        ),
        // An online order of 3 tees and a dozen mugs; the tees ship from the warehouse.
        order(
            "orders/create",
            o2,
            None,
            &[(l21, TEE.1, 3, 3), (l22, MUG.1, 1, 1)],
            7,
            false,
        ),
        level(TEE.0, WH, 47, 8),
        level(MUG.0, WH, 1, 9),
        fulfillment("fulfillments/create", 502, o2, WH, &[(l21, TEE.1, 3)], 10),
        order(
            "orders/partially_fulfilled",
            o2,
            None,
            &[(l21, TEE.1, 3, 0), (l22, MUG.1, 1, 1)],
            11,
            false,
        ),
        // The same fulfilment again through another topic (tracking number added).
        fulfillment("fulfillments/update", 502, o2, WH, &[(l21, TEE.1, 3)], 12),
        // An online order of 4 tees, cancelled with restock.
        order("orders/create", o3, None, &[(l31, TEE.1, 4, 4)], 13, false),
        level(TEE.0, WH, 43, 14),
        order(
            "orders/cancelled",
            o3,
            None,
            &[(l31, TEE.1, 4, 4)],
            15,
            true,
        ),
        level(TEE.0, WH, 47, 16),
        // The unshipped dozen mugs refunded and restocked (never left the warehouse).
        refund(601, o2, &[(1, l22, MUG.1, 1, Some(WH), "cancel")], 17),
        order(
            "orders/updated",
            o2,
            None,
            &[(l21, TEE.1, 3, 0), (l22, MUG.1, 1, 0)],
            18,
            false,
        ),
        level(MUG.0, WH, 2, 19),
        // A POS return of 1 tee, restocked on the shop floor.
        refund(602, o1, &[(2, l11, TEE.1, 1, Some(STORE), "return")], 20),
        level(TEE.0, STORE, 9, 21),
        // A shipped tee refunded without restock (damaged): nothing comes back.
        refund(603, o2, &[(3, l21, TEE.1, 1, None, "no_restock")], 22),
        // A manual count on the shop floor: 5 caps are really 3.
        level(CAP.0, STORE, 3, 23),
        // A shipped tee returned to the warehouse and restocked.
        refund(604, o2, &[(4, l21, TEE.1, 1, Some(WH), "return")], 24),
        level(TEE.0, WH, 48, 25),
    ]
}

/// Every webhook of the day delivered twice (same webhook id), in a scrambled order: odd
/// positions reversed first, then the even ones. Returns how many deliveries were made.
pub async fn deliver_messy(service: &WebhookService<MemoryQueue, MemoryStore>) -> usize {
    let events = webhooks();
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|i| {
        if i % 2 == 1 {
            (0, events.len() - i)
        } else {
            (1, *i)
        }
    });
    let mut delivered = 0;
    for round in 0..2 {
        for &i in &order {
            let (topic, body) = &events[i];
            let status = post(service, topic, body, &format!("day-{i}")).await;
            assert_eq!(status, 200, "round {round}, webhook {i} ({topic})");
            delivered += 1;
        }
    }
    delivered
}

/// Shopify's stock at the end of the day, by `item@location`: (available, committed, on hand).
/// Tees WH 48, mugs WH 2 dozen, tees STORE 9, caps STORE 3; nothing committed.
pub fn shopify_stock() -> BTreeMap<String, (i64, i64, i64)> {
    BTreeMap::from([
        (format!("{}@{WH}", TEE.0), (48, 0, 48)),
        (format!("{}@{WH}", MUG.0), (2, 0, 2)),
        (format!("{}@{STORE}", TEE.0), (9, 0, 9)),
        (format!("{}@{STORE}", CAP.0), (3, 0, 3)),
    ])
}

/// What the day owes the ERP (Shopify units) when nothing is pushed: at the ERP-master
/// warehouse only movements (3 tees shipped, 1 returned and restocked; the cancelled mugs never
/// left; the damaged tee does not come back), at the Shopify-master floor every change of
/// on-hand (tees 0 -> 9, caps 0 -> 3).
pub fn erp_owed() -> BTreeMap<String, i64> {
    BTreeMap::from([
        (format!("{}@{WH}", TEE.0), -2),
        (format!("{}@{STORE}", TEE.0), 9),
        (format!("{}@{STORE}", CAP.0), 3),
    ])
}

/// The ERP's on-hand at the end of the day, ERP units, by (warehouse, ERP item): WH tees
/// 50 - 3 + 1 = 48, WH mugs 24 (nothing shipped), STORE tees 10 - 2 + 1 = 9, STORE caps 3.
pub fn erp_stock() -> BTreeMap<(String, String), rust_decimal::Decimal> {
    let d = rust_decimal::Decimal::from;
    BTreeMap::from([
        (("STORE".into(), "CAP".into()), d(3)),
        (("STORE".into(), "TEE".into()), d(9)),
        (("WH".into(), "MUG".into()), d(24)),
        (("WH".into(), "TEE".into()), d(48)),
    ])
}
