//! The ERP push against a real Tryton 8.2: a scripted day with duplicate and out-of-order
//! deliveries ends with ERP on-hand per SKU per warehouse equal to figures computed here by hand
//! from the day, and DynamoDB agreeing; then the same under faults (429 with Retry-After, 500s,
//! timeouts through a proxy; Tryton stopped mid-run and started again).

mod fault_proxy;
mod support;

use std::collections::HashMap;
use std::time::Duration;
use stockbridge_core::retry::RetryPolicy;

use rust_decimal::Decimal;
use stockbridge_core::erp_push::PushPolicy;
use stockbridge_core::ports::Erp;
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_erp::tryton::TrytonErp;
use support::erp::{consumer_with_erp, create_products, env, unique, PrivateTryton};
use support::{Stack, SECRET, SHOP};

const WH: u64 = 72000000001; // ERP-master warehouse, default location
const STORE: u64 = 72000000002; // Shopify-master shop floor (POS)
const TEE: (u64, u64) = (45000000000000001, 46000000000000001);
const MUG: (u64, u64) = (45000000000000003, 46000000000000003); // sold by the dozen
const CAP: (u64, u64) = (45000000000000004, 46000000000000004);

struct Codes {
    tee: String,
    mug: String,
    cap: String,
}

fn t(n: u32) -> String {
    format!("2026-11-27T10:{:02}:{:02}Z", n / 60, n % 60)
}

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
/// Stock by `item@location` (available, committed, on hand).
type ShopifyStock = HashMap<String, (i64, i64, i64)>;
/// On-hand by (warehouse, ERP item).
type ErpStock = HashMap<(&'static str, String), Decimal>;

/// Refund lines are (refund line id, line id, variant, quantity, location, restock type).
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

/// The day. Opening stock: the ERP warehouse holds 50 tees and 24 mugs (2 dozen), Shopify shows
/// the same; the shop floor is empty in both.
fn day() -> Vec<(&'static str, String)> {
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

/// What the day must end in, worked out by hand from the story above.
/// Shopify (DynamoDB), Shopify units: tees WH 48, mugs WH 2 dozen, tees STORE 9, caps STORE 3.
/// ERP, ERP units: WH tees 50 - 3 shipped + 1 returned = 48; WH mugs 24 (nothing shipped);
/// STORE tees 10 received - 2 sold + 1 returned = 9; STORE caps 5 - 2 counted away = 3.
fn expected(c: &Codes) -> (ShopifyStock, ErpStock) {
    let shopify = HashMap::from([
        (format!("{}@{WH}", TEE.0), (48, 0, 48)),
        (format!("{}@{WH}", MUG.0), (2, 0, 2)),
        (format!("{}@{STORE}", TEE.0), (9, 0, 9)),
        (format!("{}@{STORE}", CAP.0), (3, 0, 3)),
    ]);
    let erp = HashMap::from([
        (("WH", c.tee.clone()), Decimal::from(48)),
        (("WH", c.mug.clone()), Decimal::from(24)),
        (("STORE", c.tee.clone()), Decimal::from(9)),
        (("STORE", c.cap.clone()), Decimal::from(3)),
    ]);
    (shopify, erp)
}

/// Maps the day's items to fresh ERP products and opens the ERP warehouse.
async fn prepare(s: &Stack, erp: &TrytonErp, base: &str, key: &str) -> Codes {
    let codes = Codes {
        tee: unique("TEE"),
        mug: unique("MUG"),
        cap: unique("CAP"),
    };
    create_products(
        base,
        key,
        &[codes.tee.clone(), codes.mug.clone(), codes.cap.clone()],
    )
    .await;
    let items = format!(
        "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n\
         {SHOP},{},{},SB-TEE,{},each,each\n{SHOP},{},{},SB-MUG-12,{},dozen,each\n{SHOP},{},{},SB-CAP,{},each,each\n",
        TEE.0, TEE.1, codes.tee, MUG.0, MUG.1, codes.mug, CAP.0, CAP.1, codes.cap
    );
    let locations = format!(
        "shop,location_id,name,erp_warehouse,master,default\n{SHOP},{WH},Warehouse,WH,erp,true\n{SHOP},{STORE},Shop floor,STORE,shopify,false\n"
    );
    stockbridge_ops::import_skumap(&s.store, &s.queue, Some(&items), Some(&locations), false)
        .await
        .unwrap();
    let opening = ErpWrite {
        key: unique("opening"),
        warehouse: "WH".into(),
        reason: "opening stock".into(),
        as_of: "2026-11-27T09:00:00Z".into(),
        lines: vec![
            ErpLine {
                item: codes.tee.clone(),
                change: Decimal::from(50),
                target: None,
            },
            ErpLine {
                item: codes.mug.clone(),
                change: Decimal::from(24),
                target: None,
            },
        ],
    };
    erp.apply(&opening).await.unwrap();
    codes
}

/// Every webhook of the day delivered twice, in a scrambled order.
async fn deliver_messy(s: &Stack, events: &[(&'static str, String)], id_prefix: &str) {
    let mut order: Vec<usize> = (0..events.len()).collect();
    // Deterministic scramble: odd positions reversed in front of the even ones.
    order.sort_by_key(|i| {
        if i % 2 == 1 {
            (0, events.len() - i)
        } else {
            (1, *i)
        }
    });
    for round in 0..2 {
        for &i in &order {
            let (topic, body) = &events[i];
            let (status, text) = s
                .post(topic, body, SECRET, &format!("{id_prefix}-{i}"))
                .await;
            assert_eq!(status, 200, "round {round} event {i}: {text}");
        }
    }
}

async fn erp_levels(erp: &TrytonErp, c: &Codes) -> HashMap<(&'static str, String), Decimal> {
    let mut out = HashMap::new();
    for (warehouse, items) in [
        ("WH", vec![c.tee.clone(), c.mug.clone()]),
        ("STORE", vec![c.tee.clone(), c.cap.clone()]),
    ] {
        for (item, q) in erp.levels(warehouse, &items).await.unwrap() {
            out.insert((warehouse, item), q.normalize());
        }
    }
    out
}

async fn assert_settled(s: &Stack) {
    for (key, level) in s.store.levels(&s.shop()).await.unwrap() {
        assert_eq!(
            (level.erp_owed, level.erp_inflight.is_none()),
            (0, true),
            "{key:?} still owes the ERP"
        );
    }
}

#[tokio::test]
async fn a_messy_day_ends_with_the_erp_and_dynamodb_agreeing() {
    let s = support::stack().await;
    let (base, key) = (env("TRYTON_URL"), env("TRYTON_API_KEY"));
    let erp = TrytonErp::new(&base, &key, 1).expect("a loopback Tryton URL");
    let codes = prepare(&s, &erp, &base, &key).await;
    let c = consumer_with_erp(
        &s,
        TrytonErp::new(&base, &key, 1).expect("a loopback Tryton URL"),
        PushPolicy::default(),
    );
    let events = day();
    deliver_messy(&s, &events, "day").await;
    s.drain_with(&c).await;
    let (shopify, expected_erp) = expected(&codes);
    assert_eq!(s.stock().await, shopify);
    assert_eq!(erp_levels(&erp, &codes).await, expected_erp);
    assert_settled(&s).await;
    // Coalesced: far fewer ERP documents than events.
    let writes = c.erp.as_ref().unwrap().metrics.total("ErpWrites");
    assert!(
        writes >= 1.0 && writes < events.len() as f64,
        "{writes} ERP writes for {} events",
        events.len()
    );
}

#[tokio::test]
async fn throttling_errors_and_timeouts_change_nothing_but_the_timing() {
    let s = support::stack().await;
    let (base, key) = (env("TRYTON_URL"), env("TRYTON_API_KEY"));
    let erp = TrytonErp::new(&base, &key, 1).expect("a loopback Tryton URL");
    let codes = prepare(&s, &erp, &base, &key).await;
    let proxy = fault_proxy::FaultProxy::start(&base.replace("/stockbridge", "")).await;
    use fault_proxy::Fault;
    proxy.push(Fault::Status {
        code: 429,
        retry_after: Some(1),
    });
    proxy.push(Fault::Status {
        code: 500,
        retry_after: None,
    });
    proxy.push(Fault::Status {
        code: 503,
        retry_after: None,
    });
    // Slower than the adapter waits: the call reaches Tryton, the answer is lost.
    for _ in 0..3 {
        proxy.push(Fault::Delay(Duration::from_millis(1500)));
    }
    proxy.push(Fault::Status {
        code: 500,
        retry_after: None,
    });
    let through_proxy = TrytonErp::new(format!("{}/stockbridge", proxy.url()), &key, 1)
        .expect("a loopback Tryton URL")
        .with_timeouts(Duration::from_millis(700), Duration::from_millis(500))
        .expect("a client with timeouts");
    let policy = PushPolicy {
        retry: RetryPolicy {
            min_delay: Duration::from_millis(50),
            ..PushPolicy::RETRY
        },
        breaker_threshold: 20,
        ..PushPolicy::default()
    };
    let c = consumer_with_erp(&s, through_proxy, policy);
    deliver_messy(&s, &day(), "day").await;
    s.drain_with(&c).await;
    assert!(
        proxy.faults_served() >= 7,
        "faults served: {}",
        proxy.faults_served()
    );
    let (shopify, expected_erp) = expected(&codes);
    assert_eq!(s.stock().await, shopify);
    assert_eq!(
        erp_levels(&erp, &codes).await,
        expected_erp,
        "every change exactly once"
    );
    assert_settled(&s).await;
}

#[tokio::test]
async fn tryton_stopped_mid_run_and_started_again_loses_nothing() {
    let s = support::stack().await;
    let own = PrivateTryton::start().await;
    let erp = TrytonErp::new(&own.url, &own.key, 1).expect("a loopback Tryton URL");
    let codes = prepare(&s, &erp, &own.url, &own.key).await;
    let policy = PushPolicy {
        retry: RetryPolicy {
            attempts: 2,
            min_delay: Duration::from_millis(50),
            ..PushPolicy::RETRY
        },
        breaker_threshold: 2,
        breaker_cooldown: Duration::from_secs(1),
        ..PushPolicy::default()
    };
    let c = consumer_with_erp(
        &s,
        TrytonErp::new(&own.url, &own.key, 1).expect("a loopback Tryton URL"),
        policy,
    );
    let events = day();
    let (first, second) = events.split_at(events.len() / 2);
    deliver_messy(&s, first, "morning").await;
    s.drain_with(&c).await;

    own.stop();
    assert!(
        erp.levels("WH", std::slice::from_ref(&codes.tee))
            .await
            .is_err(),
        "the ERP is down"
    );
    deliver_messy(&s, second, "afternoon").await;
    // Work while the ERP is down: stock is applied, the debt is kept, retries are scheduled.
    for _ in 0..3 {
        s.drain_once_with(&c).await;
    }
    let owed: i64 = s
        .store
        .levels(&s.shop())
        .await
        .unwrap()
        .iter()
        .map(|(_, l)| l.erp_owed.abs())
        .sum();
    assert!(
        owed > 0,
        "changes made while the ERP is down are owed to it"
    );
    assert_eq!(
        s.depth(&s.dlq_url).await,
        0,
        "nothing goes to the dead-letter queue"
    );

    own.start_again();
    s.drain_with(&c).await;
    let (shopify, expected_erp) = expected(&codes);
    assert_eq!(s.stock().await, shopify);
    assert_eq!(erp_levels(&erp, &codes).await, expected_erp);
    assert_settled(&s).await;
    assert!(c.metrics.total("ErpRetryScheduled") >= 1.0);
}
