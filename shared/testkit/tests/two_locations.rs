//! A test day on two locations through the Shopify stand-in, moto and Tryton: online orders
//! routed to the warehouse (ERP master) and to the shop floor (Shopify master), one split across
//! both, a move between them, partial fulfilments at both, the rest of an order cancelled with
//! restock, units moved to `damaged` at both, a receipt, a count and a POS sale at the shop floor.
//! The stand-in's webhooks are held and then delivered shuffled with duplicates; the real
//! consumer reads the Admin API after each batch and pushes to Tryton.
//!
//! At the end every quantity name at every item-location equals the stand-in's, the ERP's on-hand
//! follows the rule per location, and Tryton's stock moves are checked line by line: exactly the
//! fulfilments, the receipt and the count, nothing for orders placed, moved or cancelled, nothing
//! for damaged units (no phantom movement). The second test runs the same day with the Admin API
//! unreachable for the first drain: nothing unexplained reaches the ERP, and the scheduled
//! `refresh` messages, drained by a consumer that can read, end in the same state.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use base64::Engine;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use stockbridge_aws::dynamodb::DynamoStore;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_push::{ErpPush, PushPolicy};
use stockbridge_core::ports::Erp;
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_erp::tryton::TrytonErp;
use stockbridge_shopify_admin::ShopifyGraphql;
use support::erp::{create_products, env, unique};
use support::standin::{free_port, Options, Standin, TOKEN};
use support::{Stack, SHOP};

/// The primary location (lowest id: where the stand-in routes lines that name no location).
const WH: u64 = 74000000001;
const STORE: u64 = 74000000002;
const TEE: u64 = 49000000000000001;
const MUG: u64 = 49000000000000002;
const CAP: u64 = 49000000000000003;
const ITEMS: [u64; 3] = [TEE, MUG, CAP];

fn variant(item: u64) -> u64 {
    item + 1_000_000
}

/// Opening stock, the same in the stand-in and (through the push, or written here) in Tryton.
const OPENING: [(u64, u64, i64); 5] = [
    (TEE, WH, 50),
    (MUG, WH, 30),
    (TEE, STORE, 10),
    (MUG, STORE, 8),
    (CAP, STORE, 5),
];

type Consumer = Arc<StockConsumer<DynamoStore, TrytonErp, SqsQueue, ShopifyGraphql>>;

fn tryton() -> TrytonErp {
    TrytonErp::new(env("TRYTON_URL"), env("TRYTON_API_KEY"), 1).expect("a loopback Tryton URL")
}

/// The real consumer pushing to Tryton and reading Shopify through `reads`.
fn consumer(s: &Stack, reads: ShopifyGraphql) -> Consumer {
    let metrics = Metrics::silent("stock-consumer");
    Arc::new(
        StockConsumer::with_erp(
            s.store.clone(),
            metrics.clone(),
            ErpPush::new(tryton(), PushPolicy::default(), metrics),
            Some(s.queue.clone()),
        )
        .with_shopify(Some(reads)),
    )
}

struct World {
    s: Stack,
    standin: Standin,
    /// ERP item code per Shopify item.
    codes: BTreeMap<u64, String>,
    /// Tryton's highest stock move id after the opening: the day's moves come after it.
    baseline: i64,
}

/// The stack, the stand-in (webhooks to the stack), the SKU map, the opening stock in both, and
/// then every webhook held.
async fn world() -> World {
    let s = support::stack().await;
    let standin = Standin::start(Options {
        webhook_url: Some(s.url.clone()),
        ..Options::default()
    })
    .await;
    let codes: BTreeMap<u64, String> = [(TEE, "TEE"), (MUG, "MUG"), (CAP, "CAP")]
        .into_iter()
        .map(|(i, tag)| (i, unique(tag)))
        .collect();
    let all: Vec<String> = codes.values().cloned().collect();
    create_products(&env("TRYTON_URL"), &env("TRYTON_API_KEY"), &all).await;
    let mut items =
        "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n".to_string();
    for (item, code) in &codes {
        items += &format!(
            "{SHOP},{item},{},SKU-{item},{code},each,each\n",
            variant(*item)
        );
    }
    let locations = format!(
        "shop,location_id,name,erp_warehouse,master,default\n{SHOP},{WH},Warehouse,WH,erp,true\n{SHOP},{STORE},Shop floor,STORE,shopify,false\n"
    );
    stockbridge_ops::import_skumap(&s.store, &s.queue, Some(&items), Some(&locations), false)
        .await
        .unwrap();
    // The warehouse's opening is the ERP's (it is master there); the shop floor's reaches the
    // ERP from Shopify through the push.
    tryton()
        .apply(&ErpWrite {
            key: unique("opening"),
            warehouse: "WH".into(),
            reason: "opening stock".into(),
            as_of: "2026-12-01T08:00:00Z".into(),
            lines: OPENING
                .iter()
                .filter(|(_, l, _)| *l == WH)
                .map(|(i, _, q)| ErpLine {
                    item: codes[i].clone(),
                    change: Decimal::from(*q),
                    target: None,
                })
                .collect(),
        })
        .await
        .unwrap();
    let items_json: Vec<Value> = ITEMS
        .iter()
        .map(|i| json!({"id": i, "sku": format!("SKU-{i}"), "variant_id": variant(*i)}))
        .collect();
    let levels: Vec<Value> = OPENING
        .iter()
        .map(|(i, l, q)| json!({"item": i, "location": l, "available": q}))
        .collect();
    standin
        .post(
            "/_standin/seed",
            json!({
                "items": items_json,
                "locations": [{"id": WH, "name": "Warehouse"}, {"id": STORE, "name": "Shop floor"}],
                "levels": levels,
                "notify": true,
            }),
        )
        .await;
    let w = World {
        s,
        standin,
        codes,
        baseline: 0,
    };
    w.delivered().await;
    let opening = consumer(&w.s, w.standin.client());
    w.s.drain_with(&opening).await;
    let moves = w.moves(0).await;
    // The opening, line by line: the warehouse's as written, the shop floor's pushed.
    let expected: Movements = OPENING
        .iter()
        .map(|(i, l, q)| ((wh_code(*l), w.codes[i].clone()), vec![*q]))
        .collect();
    assert_lines(&moves, &expected, true, "the opening");
    let baseline = moves.iter().map(|m| m.id).max().unwrap_or(0);
    w.standin
        .post("/_standin/webhooks/hold", json!({"hold": true}))
        .await;
    World { baseline, ..w }
}

fn wh_code(location: u64) -> &'static str {
    if location == WH {
        "WH"
    } else {
        "STORE"
    }
}

/// One Tryton stock move of our products, signed (+ into the warehouse's storage).
#[derive(Debug)]
struct Move {
    id: i64,
    warehouse: &'static str,
    item: String,
    change: i64,
    state: String,
}

/// Expected movements per (warehouse, ERP item), each a signed quantity.
type Movements = BTreeMap<(&'static str, String), Vec<i64>>;
/// Every quantity name per `item@location`, in the order of `ShopifyQuantities::NAMES`.
type Levels = BTreeMap<String, [i64; 8]>;
/// ERP on-hand per (warehouse, ERP item).
type ErpOnHand = BTreeMap<(&'static str, String), i64>;

fn id_of(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.get("id").and_then(Value::as_i64))
}

async fn tryton_search(model: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE.encode(v.to_string());
    let mut query: Vec<(&str, String)> =
        vec![("d", b64(&domain)), ("o", b64(&json!([["id", "ASC"]])))];
    query.extend(fields.iter().map(|f| ("f", (*f).to_string())));
    let r = reqwest::Client::new()
        .get(format!("{}/rest/model/{model}", env("TRYTON_URL")))
        .query(&query)
        .bearer_auth(env("TRYTON_API_KEY"))
        .header("X-Tryton-Context", b64(&json!({"company": 1})))
        .send()
        .await
        .expect("Tryton reachable");
    let status = r.status();
    let body = r.text().await.expect("body");
    assert!(status.is_success(), "{model}: {status} {body}");
    serde_json::from_str(&body).expect("a JSON list")
}

impl World {
    /// Waits until the stand-in has delivered every webhook it queued (none refused).
    async fn delivered(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let d = self.standin.get("/_standin/stats").await["deliveries"].clone();
            let n = |k: &str| d[k].as_u64().unwrap_or(0);
            assert_eq!(n("failed"), 0, "a webhook was refused: {d}");
            if n("delivered") == n("queued") {
                return;
            }
            assert!(Instant::now() < deadline, "webhooks not delivered: {d}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn held(&self) -> usize {
        self.standin.get("/_standin/webhooks").await["held"]
            .as_array()
            .map_or(0, Vec::len)
    }

    /// Flushes what is held, shuffled (`seed`) with `duplicates` redeliveries, and waits until
    /// it is delivered.
    async fn flush(&self, seed: u64, duplicates: u64) -> usize {
        let sent = self
            .standin
            .post(
                "/_standin/webhooks/flush",
                json!({"shuffle": seed, "duplicate": duplicates}),
            )
            .await;
        self.delivered().await;
        sent["sent"].as_array().map_or(0, Vec::len)
    }

    /// Later webhooks (if any) flushed and drained until nothing is held or queued.
    async fn until_quiet(&self, c: &Consumer) {
        for round in 0..5 {
            if self.held().await == 0 {
                return;
            }
            self.flush(100 + round, 1).await;
            self.s.drain_with(c).await;
        }
        panic!("the stand-in keeps holding webhooks");
    }

    /// Our products' stock moves in Tryton with an id above `after`, in id order.
    async fn moves(&self, after: i64) -> Vec<Move> {
        let warehouses = tryton_search(
            "stock.location",
            json!([["type", "=", "warehouse"], ["code", "in", ["WH", "STORE"]]]),
            &["code", "storage_location", "lost_found_location"],
        )
        .await;
        let mut storage = BTreeMap::new();
        let mut lost = std::collections::BTreeSet::new();
        for w in &warehouses {
            let code: &'static str = if w["code"] == "WH" { "WH" } else { "STORE" };
            storage.insert(id_of(&w["storage_location"]).unwrap(), code);
            lost.insert(id_of(&w["lost_found_location"]).unwrap());
        }
        let codes: Vec<&String> = self.codes.values().collect();
        tryton_search(
            "stock.move",
            json!([["product.code", "in", codes], ["id", ">", after]]),
            &[
                "product.code",
                "quantity",
                "from_location",
                "to_location",
                "state",
            ],
        )
        .await
        .into_iter()
        .map(|m| {
            let (from, to) = (
                id_of(&m["from_location"]).unwrap(),
                id_of(&m["to_location"]).unwrap(),
            );
            let quantity = m["quantity"]
                .as_f64()
                .or_else(|| {
                    m["quantity"]["decimal"]
                        .as_str()
                        .and_then(|d| d.parse().ok())
                })
                .unwrap_or_else(|| panic!("a move without a quantity: {m}"));
            assert_eq!(quantity.fract(), 0.0, "{m}");
            // Our writes go between a warehouse's storage and the lost-and-found (which may be
            // shared by the warehouses).
            let (warehouse, change) = match (storage.get(&from), storage.get(&to)) {
                (None, Some(w)) if lost.contains(&from) => (*w, quantity as i64),
                (Some(w), None) if lost.contains(&to) => (*w, -(quantity as i64)),
                _ => panic!("a move that is not one of ours: {m}"),
            };
            Move {
                id: m["id"].as_i64().unwrap(),
                warehouse,
                item: m["product"]["code"].as_str().unwrap().to_string(),
                change,
                state: m["state"].as_str().unwrap_or_default().to_string(),
            }
        })
        .collect()
    }

    /// Every quantity name per `item@location` in the stand-in.
    async fn shopify(&self) -> Levels {
        let state = self.standin.get("/_standin/state").await;
        state["levels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let q = |k: &str| l[k].as_i64().unwrap_or_else(|| panic!("{k} in {l}"));
                (
                    format!("{}@{}", l["item_id"], l["location_id"]),
                    [
                        q("available"),
                        q("committed"),
                        q("on_hand"),
                        q("reserved"),
                        q("damaged"),
                        q("safety_stock"),
                        q("quality_control"),
                        q("incoming"),
                    ],
                )
            })
            .collect()
    }

    /// The same in Stockbridge.
    async fn stockbridge(&self) -> Levels {
        self.s
            .store
            .levels(&self.s.shop())
            .await
            .unwrap()
            .into_iter()
            .map(|(k, l)| {
                let q = l.shopify_quantities();
                (
                    format!("{}@{}", k.item, k.location),
                    [
                        q.available,
                        q.committed,
                        q.on_hand,
                        q.reserved,
                        q.damaged,
                        q.safety_stock,
                        q.quality_control,
                        q.incoming,
                    ],
                )
            })
            .collect()
    }

    async fn erp_on_hand(&self) -> ErpOnHand {
        let erp = tryton();
        let codes: Vec<String> = self.codes.values().cloned().collect();
        let mut out = BTreeMap::new();
        for warehouse in ["WH", "STORE"] {
            for (item, q) in erp.levels(warehouse, &codes).await.unwrap() {
                let q = q.normalize();
                assert_eq!(q.fract(), Decimal::ZERO, "{warehouse} {item}: {q}");
                out.insert((warehouse, item), q.to_string().parse::<i64>().unwrap());
            }
        }
        out
    }
}

/// Checks `moves` against the expected movements, line by line: each line of one (warehouse,
/// item) carries one or more whole movements (the push sends a burst as its net), no movement
/// is carried twice, and nothing else moves. With `complete` every movement must be carried.
fn assert_lines(moves: &[Move], expected: &Movements, complete: bool, when: &str) {
    let mut lines: BTreeMap<(&'static str, String), Vec<i64>> = BTreeMap::new();
    for m in moves {
        assert_eq!(m.state, "done", "{when}: a move not done: {m:?}");
        lines
            .entry((m.warehouse, m.item.clone()))
            .or_default()
            .push(m.change);
    }
    for (key, got) in &lines {
        let want = expected.get(key).map_or(&[][..], Vec::as_slice);
        assert!(
            carries(got, want, complete),
            "{when}: ERP lines {got:?} at {key:?} are not the movements {want:?} (phantom or lost)\nall moves: {moves:#?}"
        );
    }
    if complete {
        for (key, want) in expected {
            if want.iter().any(|q| *q != 0) {
                assert!(
                    lines.contains_key(key),
                    "{when}: no ERP line at {key:?} for {want:?}"
                );
            }
        }
    }
}

/// True when the movements can be shared out over the lines, each line their sum, every line
/// carrying at least one, every movement carried at most once (exactly once when `complete`).
fn carries(lines: &[i64], movements: &[i64], complete: bool) -> bool {
    let options = lines.len() + 1; // the last one: not carried (yet)
    let total = options.pow(movements.len() as u32);
    (0..total).any(|mut code| {
        let mut sums = vec![0i64; lines.len()];
        let mut used = vec![false; lines.len()];
        for m in movements {
            let slot = code % options;
            code /= options;
            if slot == lines.len() {
                if complete {
                    return false;
                }
            } else {
                sums[slot] += m;
                used[slot] = true;
            }
        }
        used.iter().all(|u| *u) && sums == lines
    })
}

/// FO line item id of `item` in a fulfillment order.
fn fo_line(fo: &Value, item: u64) -> u64 {
    fo["line_items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["inventory_item_id"].as_u64() == Some(item))
        .unwrap_or_else(|| panic!("no line of {item} in {fo}"))["id"]
        .as_u64()
        .unwrap()
}

fn fo_at(placed: &Value, location: u64) -> Value {
    placed["fulfillment_orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["location_id"].as_u64() == Some(location))
        .unwrap_or_else(|| panic!("no fulfillment order at {location}: {placed}"))
        .clone()
}

/// The day in the stand-in (webhooks held). Returns what the ERP must be told, per the rule:
/// at the shop floor every settled change of `on_hand`, at the warehouse only what shipped.
async fn day(standin: &Standin, codes: &BTreeMap<u64, String>) -> Movements {
    let order = |lines: Value| standin.post("/_standin/order", json!({ "lines": lines }));
    // 1. Online order routed to the warehouse (the primary location): 3 tees, 2 mugs.
    let o1 = order(json!([{"inventory_item_id": TEE, "quantity": 3}, {"inventory_item_id": MUG, "quantity": 2}])).await;
    // 2. Online order routed to the shop floor: 2 tees.
    let _o2 = order(json!([{"inventory_item_id": TEE, "quantity": 2, "location": STORE}])).await;
    // 3. Online order split across both: 4 tees from the warehouse, 1 mug from the shop floor.
    let o3 = order(json!([
        {"inventory_item_id": TEE, "quantity": 4, "location": WH},
        {"inventory_item_id": MUG, "quantity": 1, "location": STORE},
    ]))
    .await;
    // 4. The first order moved from the warehouse to the shop floor (all of it).
    let o1_fo = fo_at(&o1, WH);
    let moved = standin
        .post(
            "/_standin/move",
            json!({"fulfillment_order": o1_fo["id"], "location": STORE}),
        )
        .await;
    let o1_fo = moved["moved_fulfillment_order"].clone();
    assert_eq!(o1_fo["location_id"].as_u64(), Some(STORE), "{moved}");
    // 5. Partial fulfilment at the shop floor: 2 of its 3 tees.
    standin
        .post(
            "/_standin/fulfill",
            json!({"fulfillment_order": o1_fo["id"], "lines": [{"id": fo_line(&o1_fo, TEE), "quantity": 2}]}),
        )
        .await;
    // 6. Partial fulfilment at the warehouse: 3 of the split order's 4 tees.
    let o3_wh = fo_at(&o3, WH);
    standin
        .post(
            "/_standin/fulfill",
            json!({"fulfillment_order": o3_wh["id"], "lines": [{"id": fo_line(&o3_wh, TEE), "quantity": 3}]}),
        )
        .await;
    // 7. The rest of the split order cancelled, restocked (1 tee at WH, 1 mug at STORE).
    standin
        .post(
            "/_standin/cancel",
            json!({"order": o3["order"]["id"], "restock": true}),
        )
        .await;
    // 8. Units found damaged: 5 tees at the warehouse, 1 at the shop floor.
    for (location, quantity) in [(WH, 5), (STORE, 1)] {
        standin
            .post(
                "/_standin/state",
                json!({"item": TEE, "location": location, "from": "available", "to": "damaged", "quantity": quantity}),
            )
            .await;
    }
    // 9. A receipt of 6 caps at the shop floor.
    standin
        .post(
            "/_standin/receive",
            json!({"item": CAP, "location": STORE, "quantity": 6}),
        )
        .await;
    // 10. A count at the shop floor: 2 mugs fewer.
    standin
        .post(
            "/_standin/adjust",
            json!({"item": MUG, "location": STORE, "delta": -2}),
        )
        .await;
    // 11. A POS sale of 2 caps at the shop floor, handed over at once.
    let pos = standin
        .post(
            "/_standin/order",
            json!({"lines": [{"inventory_item_id": CAP, "quantity": 2}], "pos_location": STORE}),
        )
        .await;
    standin
        .post(
            "/_standin/fulfill",
            json!({"fulfillment_order": fo_at(&pos, STORE)["id"]}),
        )
        .await;
    BTreeMap::from([
        (("WH", codes[&TEE].clone()), vec![-3]),
        (("STORE", codes[&TEE].clone()), vec![-2]),
        (("STORE", codes[&MUG].clone()), vec![-2]),
        (("STORE", codes[&CAP].clone()), vec![6, -2]),
    ])
}

/// The day's movements that webhooks explain without an Admin API read: the fulfilments (noted
/// movements). The receipt and the count arrive as a bare `available`.
fn told_by_webhooks_alone(codes: &BTreeMap<u64, String>) -> Movements {
    BTreeMap::from([
        (("WH", codes[&TEE].clone()), vec![-3]),
        (("STORE", codes[&TEE].clone()), vec![-2]),
        (("STORE", codes[&CAP].clone()), vec![-2]),
    ])
}

/// What the day ends in, worked out by hand (available, committed, on_hand, reserved, damaged,
/// safety_stock, quality_control, incoming), and the ERP's on-hand.
fn expected_end(codes: &BTreeMap<u64, String>) -> (Levels, ErpOnHand) {
    let shopify = BTreeMap::from([
        // 50 - 3 - 4 + 3 (moved away) + 1 (restocked) - 5 damaged; 3 shipped.
        (format!("{TEE}@{WH}"), [42, 0, 47, 0, 5, 0, 0, 0]),
        (format!("{MUG}@{WH}"), [30, 0, 30, 0, 0, 0, 0, 0]),
        // 10 - 2 - 3 (moved in) - 1 damaged; committed 2 + 3 - 2 shipped.
        (format!("{TEE}@{STORE}"), [4, 3, 8, 0, 1, 0, 0, 0]),
        // 8 - 1 - 2 (moved in) + 1 (restocked) - 2 counted; committed 2.
        (format!("{MUG}@{STORE}"), [4, 2, 6, 0, 0, 0, 0, 0]),
        // 5 + 6 received - 2 sold and shipped.
        (format!("{CAP}@{STORE}"), [9, 0, 9, 0, 0, 0, 0, 0]),
    ]);
    let erp = BTreeMap::from([
        (("WH", codes[&TEE].clone()), 47),
        (("WH", codes[&MUG].clone()), 30),
        (("WH", codes[&CAP].clone()), 0),
        (("STORE", codes[&TEE].clone()), 8),
        (("STORE", codes[&MUG].clone()), 6),
        (("STORE", codes[&CAP].clone()), 9),
    ]);
    (shopify, erp)
}

/// The end state: Stockbridge equals the stand-in everywhere, the ERP follows the rule, and
/// the day's ERP lines are exactly the movements.
async fn assert_end(w: &World, movements: &Movements) {
    let (shopify, erp) = expected_end(&w.codes);
    assert_eq!(
        w.shopify().await,
        shopify,
        "the stand-in's figures (the test's arithmetic)"
    );
    assert_eq!(
        w.stockbridge().await,
        shopify,
        "Stockbridge against the stand-in"
    );
    let mut on_hand = w.erp_on_hand().await;
    for key in erp.keys() {
        on_hand.entry(key.clone()).or_insert(0);
    }
    assert_eq!(on_hand, erp, "the ERP's on-hand per warehouse");
    assert_lines(&w.moves(w.baseline).await, movements, true, "the day");
    for (key, level) in w.s.store.levels(&w.s.shop()).await.unwrap() {
        assert!(
            level.erp_owed == 0 && level.erp_inflight.is_none() && level.is_settled(),
            "{key} still owes the ERP or is unsettled: {level:?}"
        );
    }
}

#[tokio::test]
async fn a_two_location_day_delivered_shuffled_twice_ends_exact_with_no_phantom() {
    for seed in seeds(7) {
        shuffled_day(seed).await;
    }
}

/// Shuffle seeds: `TWO_LOCATIONS_SEEDS=1,2,3` explores other orders; one seed by default.
fn seeds(default: u64) -> Vec<u64> {
    match std::env::var("TWO_LOCATIONS_SEEDS") {
        Ok(list) => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("TWO_LOCATIONS_SEEDS: {s:?} is not a number"))
            })
            .collect(),
        Err(_) => vec![default],
    }
}

async fn shuffled_day(seed: u64) {
    eprintln!("two_locations: shuffle seed {seed}");
    let w = world().await;
    let c = consumer(&w.s, w.standin.client());
    let movements = day(&w.standin, &w.codes).await;
    let sent = w.flush(seed, 12).await;
    assert!(sent > 20, "the day's webhooks were held: {sent}");
    w.s.drain_with(&c).await;
    assert_lines(
        &w.moves(w.baseline).await,
        &movements,
        false,
        "after the first drain",
    );
    w.until_quiet(&c).await;
    assert_end(&w, &movements).await;
}

/// Messages in the stack's queue that are visible or in flight (not the delayed ones).
async fn ready(s: &Stack) -> (usize, usize) {
    let attrs = s
        .sqs
        .get_queue_attributes()
        .queue_url(&s.poller.queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let a = attrs.attributes().unwrap();
    let get = |k: QueueAttributeName| a.get(&k).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    (
        get(QueueAttributeName::ApproximateNumberOfMessages)
            + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    )
}

#[tokio::test]
async fn with_the_admin_api_unreachable_nothing_unexplained_reaches_the_erp_until_refreshed() {
    for seed in seeds(11) {
        blind_day(seed).await;
    }
}

async fn blind_day(seed: u64) {
    eprintln!("two_locations: shuffle seed {seed}, Admin API unreachable first");
    let w = world().await;
    let closed = format!("http://127.0.0.1:{}", free_port());
    let blind = consumer(&w.s, ShopifyGraphql::new(&closed, TOKEN).expect("client"));
    let movements = day(&w.standin, &w.codes).await;
    w.flush(seed, 12).await;
    // The blind consumer takes everything that is ready, and leaves the delayed refreshes.
    let deadline = Instant::now() + Duration::from_secs(30);
    let delayed = loop {
        w.s.drain_once_with(&blind).await;
        let (ready, delayed) = ready(&w.s).await;
        if ready == 0 {
            break delayed;
        }
        assert!(Instant::now() < deadline, "the queue did not empty");
    };
    assert!(delayed >= 1, "a refresh is scheduled");
    assert!(
        blind.metrics.total("ShopifyReadFailed") >= 1.0,
        "the reads failed"
    );
    assert!(
        blind.metrics.total("RefreshScheduled") >= 1.0,
        "a refresh was scheduled"
    );
    let moves = w.moves(w.baseline).await;
    assert_lines(&moves, &movements, false, "with the Admin API unreachable");
    // Without the reads the receipt and the count are unexplained (a bare `available`): the
    // ERP may have been told the fulfilments, and nothing else.
    assert_lines(
        &moves,
        &told_by_webhooks_alone(&w.codes),
        false,
        "with the Admin API unreachable (receipt or count told unexplained)",
    );
    let unsettled =
        w.s.store
            .levels(&w.s.shop())
            .await
            .unwrap()
            .into_iter()
            .filter(|(_, l)| !l.is_settled())
            .count();
    assert!(unsettled > 0, "the blind consumer left records unexplained");
    assert_ne!(
        w.stockbridge().await,
        w.shopify().await,
        "not exact before the reads"
    );

    let seeing = consumer(&w.s, w.standin.client());
    w.s.drain_with(&seeing).await;
    assert!(
        seeing.metrics.total("ShopifyReads") >= 1.0,
        "the refresh read the Admin API"
    );
    w.until_quiet(&seeing).await;
    assert_end(&w, &movements).await;
}

#[test]
fn carries_shares_movements_over_lines() {
    assert!(carries(&[4], &[6, -2], true));
    assert!(carries(&[6, -2], &[6, -2], true));
    assert!(carries(&[-2], &[6, -2], false));
    assert!(!carries(&[-2], &[6, -2], true));
    assert!(!carries(&[3, -3], &[], false), "a phantom and its undoing");
    assert!(!carries(&[-2, -2], &[-2], true), "twice");
    assert!(carries(&[], &[-2], false));
}
