//! Issue #13's day of orders through the whole chain: the Shopify stand-in's signed webhooks
//! (held, then delivered shuffled with duplicates) -> the webhook handler -> SQS (moto) -> the
//! real consumer over DynamoDB (moto), reading the stand-in's Admin API, with the order flow on
//! -> a real Tryton of the test's own.
//!
//! The ERP sales orders the day must leave are worked out here from the day's script (order
//! and line ids the stand-in gave, quantities the script chose), never from Stockbridge's
//! records, and compared with what Tryton holds; the same day with the shop's sales setting
//! off leaves the same ERP on-hand. Then a smaller day under faults (429, 500, timeouts whose
//! writes land, Tryton stopped and started again), and a day whose customers' personal data
//! must reach no Tryton record.

mod fault_proxy;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use stockbridge_aws::dynamodb::DynamoStore;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_push::{ErpPush, PushPolicy};
use stockbridge_core::ports::{Erp, ErpSales, SalesOrderState, SkuMapStore, StockStore, Wanted};
use stockbridge_core::retry::RetryPolicy;
use stockbridge_core::sales_flow::SalesFlow;
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_domain::ids::OrderId;
use stockbridge_domain::sales::SalesSettings;
use stockbridge_domain::stock::OrderKey;
use stockbridge_erp::tryton::TrytonErp;
use stockbridge_shopify_admin::ShopifyGraphql;
use support::erp::{create_salable_products, env, unique, PrivateTryton};
use support::standin::{Options, Standin};
use support::{Stack, SHOP};

/// The primary location (lowest id: online lines that name none go here). ERP master.
const WH: u64 = 76000000001;
/// The shop floor (POS). Shopify master.
const STORE: u64 = 76000000002;
const TEE: u64 = 53000000000000001;
/// Sold by the dozen, counted in the ERP each.
const MUG: u64 = 53000000000000002;
const CAP: u64 = 53000000000000003;
/// Not in the SKU map until late in the day.
const SOCK: u64 = 53000000000000004;
const ITEMS: [(u64, &str); 4] = [(TEE, "TEE"), (MUG, "MUG"), (CAP, "CAP"), (SOCK, "SOCK")];

fn variant(item: u64) -> u64 {
    item + 1_000_000
}

/// Opening stock in Shopify (Shopify units).
const OPENING: [(u64, u64, i64); 6] = [
    (TEE, WH, 50),
    (MUG, WH, 5),
    (SOCK, WH, 10),
    (TEE, STORE, 10),
    (MUG, STORE, 3),
    (CAP, STORE, 5),
];

type Consumer = Arc<StockConsumer<DynamoStore, TrytonErp, SqsQueue, ShopifyGraphql, TrytonErp>>;

fn tryton_at(url: &str, key: &str) -> TrytonErp {
    TrytonErp::new(url, key, 1)
        .expect("a loopback Tryton URL")
        .with_sale_party(Some(env("TRYTON_SALE_PARTY")))
}

/// ERP units per Shopify unit.
fn factor(item: u64) -> i64 {
    if item == MUG {
        12
    } else {
        1
    }
}

struct World {
    s: Stack,
    standin: Standin,
    tryton: PrivateTryton,
    codes: BTreeMap<u64, String>,
}

/// A fresh stack, stand-in and Tryton: the SKU map (without the socks), the sales setting,
/// the opening in both, and then every webhook held.
async fn world(sales_on: bool) -> World {
    let s = support::stack().await;
    let standin = Standin::start(Options {
        webhook_url: Some(s.url.clone()),
        ..Options::default()
    })
    .await;
    let tryton = PrivateTryton::start().await;
    let codes: BTreeMap<u64, String> = ITEMS.iter().map(|(i, t)| (*i, unique(t))).collect();
    let all: Vec<String> = codes.values().cloned().collect();
    create_salable_products(&tryton.url, &tryton.key, &all).await;
    let mut items =
        "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n".to_string();
    for (item, code) in codes.iter().filter(|(i, _)| **i != SOCK) {
        items += &map_row(*item, code);
    }
    let locations = format!(
        "shop,location_id,name,erp_warehouse,master,default\n{SHOP},{WH},Warehouse,WH,erp,true\n{SHOP},{STORE},Shop floor,STORE,shopify,false\n"
    );
    stockbridge_ops::import_skumap(&s.store, &s.queue, Some(&items), Some(&locations), false)
        .await
        .unwrap();
    s.store
        .put_sales_settings(
            &s.shop(),
            SalesSettings {
                enabled: sales_on,
                authorized: false,
            },
        )
        .await
        .unwrap();
    // The warehouse's opening is the ERP's (it is master there); the shop floor's reaches the
    // ERP from Shopify through the push.
    tryton_at(&tryton.url, &tryton.key)
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
                    change: Decimal::from(q * factor(*i)),
                    target: None,
                })
                .collect(),
        })
        .await
        .unwrap();
    let items_json: Vec<Value> = ITEMS
        .iter()
        .map(|(i, _)| json!({"id": i, "sku": format!("SKU-{i}"), "variant_id": variant(*i)}))
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
        tryton,
        codes,
    };
    w.delivered().await;
    let opening = w.consumer(&w.tryton.url, PushPolicy::default());
    w.s.drain_with(&opening).await;
    w.standin
        .post("/_standin/webhooks/hold", json!({"hold": true}))
        .await;
    w
}

fn map_row(item: u64, code: &str) -> String {
    let uom = if item == MUG { "dozen" } else { "each" };
    format!(
        "{SHOP},{item},{},SKU-{item},{code},{uom},each\n",
        variant(item)
    )
}

impl World {
    /// The real consumer: the push and the order flow to the Tryton at `erp_url`, reads from
    /// the stand-in.
    fn consumer(&self, erp_url: &str, policy: PushPolicy) -> Consumer {
        let metrics = Metrics::silent("stock-consumer");
        let key = &self.tryton.key;
        Arc::new(
            StockConsumer::with_erp(
                self.s.store.clone(),
                metrics.clone(),
                ErpPush::new(tryton_at(erp_url, key), policy, metrics),
                Some(self.s.queue.clone()),
            )
            .with_shopify(Some(self.standin.client()))
            .with_sales(Some(SalesFlow::new(
                tryton_at(erp_url, key),
                Metrics::silent("sales"),
            ))),
        )
    }

    fn erp(&self) -> TrytonErp {
        tryton_at(&self.tryton.url, &self.tryton.key)
    }

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

    /// What is held, delivered shuffled with redeliveries (same webhook ids).
    async fn flush(&self, seed: u64) {
        self.standin
            .post(
                "/_standin/webhooks/flush",
                json!({"shuffle": seed, "duplicate": 6}),
            )
            .await;
        self.delivered().await;
    }

    /// One part of the day: flushed messy, drained.
    async fn phase(&self, c: &Consumer, seed: u64) {
        self.flush(seed).await;
        self.s.drain_with(c).await;
    }

    /// ERP on-hand per (warehouse, item tag), whole ERP units.
    async fn on_hand(&self) -> BTreeMap<(&'static str, &'static str), i64> {
        let erp = self.erp();
        let codes: Vec<String> = self.codes.values().cloned().collect();
        let tag: BTreeMap<&String, &'static str> =
            ITEMS.iter().map(|(i, t)| (&self.codes[i], *t)).collect();
        let mut out = BTreeMap::new();
        for warehouse in ["WH", "STORE"] {
            for (item, q) in erp.levels(warehouse, &codes).await.unwrap() {
                let q = q.normalize();
                assert_eq!(q.fract(), Decimal::ZERO, "{warehouse} {item}: {q}");
                let q: i64 = q.to_string().parse().unwrap();
                if q != 0 {
                    out.insert((warehouse, tag[&item]), q);
                }
            }
        }
        out
    }

    /// Tryton's `sale.sale` records whose reference starts with `prefix`.
    async fn sales_named(&self, prefix: &str) -> Vec<Value> {
        rest_search(
            &self.tryton,
            "sale.sale",
            json!([["reference", "like", format!("{prefix}%")]]),
            &["reference", "state", "party.code"],
        )
        .await
    }

    /// The order flow's exceptions on an order's record.
    async fn exceptions(&self, order: u64) -> BTreeMap<String, String> {
        let mut wanted = Wanted::default();
        let key = OrderKey {
            shop: self.s.shop(),
            order: OrderId(order),
        };
        wanted.orders.insert(key.clone());
        let loaded = self.s.store.load(&wanted).await.unwrap();
        loaded
            .book
            .sales
            .get(&key)
            .map(|r| r.exceptions.clone())
            .unwrap_or_default()
    }

    /// The socks' SKU map row imported (which replays what was parked).
    async fn map_socks(&self) {
        let summary = stockbridge_ops::import_skumap(
            &self.s.store,
            &self.s.queue,
            Some(&format!(
                "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n{}",
                map_row(SOCK, &self.codes[&SOCK])
            )),
            None,
            false,
        )
        .await
        .unwrap();
        assert!(
            summary.replayed.iter().map(|r| r.replayed).sum::<usize>() >= 1,
            "parked events replayed: {summary:?}"
        );
    }

    // --- the stand-in's merchant actions ---

    async fn order(&self, status: &str, lines: Value, pos: Option<u64>) -> Order {
        let mut body = json!({"financial_status": status, "lines": lines});
        if let Some(p) = pos {
            body["pos_location"] = json!(p);
        }
        let placed = self.standin.post("/_standin/order", body).await;
        Order {
            id: placed["order"]["id"].as_u64().expect("order id"),
            lines: placed["order"]["line_items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_u64().unwrap())
                .collect(),
            fos: placed["fulfillment_orders"].as_array().unwrap().clone(),
        }
    }

    async fn fulfill_all(&self, o: &Order) {
        for fo in &o.fos {
            self.standin
                .post("/_standin/fulfill", json!({"fulfillment_order": fo["id"]}))
                .await;
        }
    }

    async fn fulfill_some(&self, o: &Order, line: usize, quantity: u32) {
        let fo = &o.fos[0];
        let fo_line = fo["line_items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["line_item_id"].as_u64() == Some(o.lines[line]))
            .unwrap()["id"]
            .clone();
        self.standin
            .post(
                "/_standin/fulfill",
                json!({"fulfillment_order": fo["id"], "lines": [{"id": fo_line, "quantity": quantity}]}),
            )
            .await;
    }

    async fn cancel(&self, o: &Order) {
        self.standin
            .post("/_standin/cancel", json!({"order": o.id, "restock": true}))
            .await;
    }

    /// Refunds units of a line; the refund's id.
    async fn refund(&self, o: &Order, line: usize, quantity: u32, restock: bool) -> u64 {
        let r = self
            .standin
            .refund_line(o.id, o.lines[line], quantity, restock)
            .await;
        r["refund"]["id"].as_u64().expect("refund id")
    }
}

/// An order as the stand-in made it.
struct Order {
    id: u64,
    lines: Vec<u64>,
    fos: Vec<Value>,
}

fn line(item: u64, quantity: u32) -> Value {
    json!({"inventory_item_id": item, "quantity": quantity})
}

fn line_at(item: u64, quantity: u32, location: u64) -> Value {
    json!({"inventory_item_id": item, "quantity": quantity, "location": location})
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

async fn rest_search(t: &PrivateTryton, model: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
    rest_search_at(&t.url, &t.key, model, domain, fields)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn rest_search_at(
    url: &str,
    key: &str,
    model: &str,
    domain: Value,
    fields: &[&str],
) -> Result<Vec<Value>, String> {
    let mut query: Vec<(&str, String)> =
        vec![("d", b64(&domain)), ("o", b64(&json!([["id", "ASC"]])))];
    query.extend(fields.iter().map(|f| ("f", (*f).to_string())));
    let r = reqwest::Client::new()
        .get(format!("{url}/rest/model/{model}"))
        .query(&query)
        .bearer_auth(key)
        .header("X-Tryton-Context", b64(&json!({"company": 1})))
        .send()
        .await
        .expect("Tryton reachable");
    let status = r.status();
    let body = r.text().await.expect("body");
    if !status.is_success() {
        return Err(format!("{model}: {status} {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{model}: {e}: {body}"))
}

// ---------------------------------------------------------------------------------------------
// What the ERP must hold, from the script

/// One ERP sales order as the day's script says it must be: lines, shipped and returned per
/// Shopify line (ERP item, ERP units), and its state.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sale {
    lines: BTreeMap<String, (String, Decimal)>,
    shipped: BTreeMap<String, (String, Decimal)>,
    returned: BTreeMap<String, (String, Decimal)>,
    state: SalesOrderState,
}

#[derive(Default)]
struct Expected {
    /// By reference.
    sales: BTreeMap<String, Sale>,
    /// Refund ids that must be one ERP return each.
    returns: Vec<u64>,
    /// (order id, the exception's step starts with).
    exceptions: Vec<(u64, &'static str)>,
    /// Orders that must have no exception.
    clean: Vec<u64>,
}

fn reference(order: u64, warehouse: &str) -> String {
    format!("shopify:{SHOP}:{order}:{warehouse}")
}

impl Expected {
    /// An order's sale at `warehouse`: (line index, item, Shopify units ordered, shipped,
    /// returned).
    fn sale(
        &mut self,
        w: &World,
        o: &Order,
        warehouse: &str,
        lines: &[(usize, u64, i64, i64, i64)],
        state: SalesOrderState,
    ) {
        let pick = |n: fn(&(usize, u64, i64, i64, i64)) -> i64| {
            lines
                .iter()
                .filter(|l| n(l) != 0)
                .map(|l| {
                    (
                        o.lines[l.0].to_string(),
                        (w.codes[&l.1].clone(), Decimal::from(n(l) * factor(l.1))),
                    )
                })
                .collect()
        };
        self.sales.insert(
            reference(o.id, warehouse),
            Sale {
                lines: pick(|l| l.2),
                shipped: pick(|l| l.3),
                returned: pick(|l| l.4),
                state,
            },
        );
        self.clean.push(o.id);
    }
}

fn by_line(lines: &[stockbridge_core::ports::SalesLine]) -> BTreeMap<String, (String, Decimal)> {
    let mut out: BTreeMap<String, (String, Decimal)> = BTreeMap::new();
    for l in lines.iter().filter(|l| !l.quantity.is_zero()) {
        let e = out
            .entry(l.line.clone())
            .or_insert((l.item.clone(), Decimal::ZERO));
        e.1 = (e.1 + l.quantity).normalize();
    }
    out
}

/// Tryton against the script: every expected sale, read back, equal; one sale.sale per
/// reference and none other; one return per restocked refund; exceptions where expected.
async fn assert_erp(w: &World, expected: &Expected) {
    let erp = w.erp();
    let mut got = BTreeMap::new();
    for reference in expected.sales.keys() {
        if let Some(v) = erp.find(reference).await.expect("find") {
            got.insert(
                reference.clone(),
                Sale {
                    lines: by_line(&v.lines),
                    shipped: by_line(&v.shipped),
                    returned: by_line(&v.returned),
                    state: v.state,
                },
            );
        }
    }
    assert_eq!(
        got, expected.sales,
        "the ERP's sales orders against the day"
    );
    let party = env("TRYTON_SALE_PARTY");
    let orders = w.sales_named(&format!("shopify:{SHOP}:")).await;
    let mut counted: BTreeMap<String, usize> = BTreeMap::new();
    for s in &orders {
        assert_eq!(s["party"]["code"].as_str(), Some(party.as_str()), "{s}");
        *counted
            .entry(s["reference"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let returns: Vec<&String> = counted
        .keys()
        .filter(|r| r.starts_with(&format!("shopify:{SHOP}:refund:")))
        .collect();
    for refund in &expected.returns {
        let n = returns
            .iter()
            .filter(|r| r.starts_with(&format!("shopify:{SHOP}:refund:{refund}:")))
            .count();
        assert_eq!(n, 1, "one ERP return for refund {refund}: {counted:?}");
    }
    assert_eq!(
        returns.len(),
        expected.returns.len(),
        "no other return: {counted:?}"
    );
    let mut want: BTreeMap<String, usize> = expected.sales.keys().map(|r| (r.clone(), 1)).collect();
    for r in returns {
        want.insert(r.clone(), 1);
    }
    assert_eq!(counted, want, "each ERP sales order once, no other");
    for (order, step) in &expected.exceptions {
        let ex = w.exceptions(*order).await;
        assert!(
            ex.keys().any(|k| k.starts_with(step)),
            "order {order}: an exception `{step} ..` for an operator, got {ex:?}"
        );
    }
    for order in &expected.clean {
        if expected.exceptions.iter().any(|(o, _)| o == order) {
            continue;
        }
        let ex = w.exceptions(*order).await;
        assert!(ex.is_empty(), "order {order}: no exception, got {ex:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The day

/// The full day, in phases (each flushed shuffled with duplicates and drained); returns the
/// ERP sales orders it must leave (with the setting on).
async fn full_day(w: &World, c: &Consumer, sales_on: bool) -> Expected {
    use SalesOrderState::{Cancelled, Confirmed, Done};
    let mut e = Expected::default();
    // Morning: the orders come in.
    let a = w.order("paid", json!([line(TEE, 2)]), None).await;
    w.fulfill_all(&a).await;
    let b = w.order("pending", json!([line(MUG, 1)]), None).await;
    let v = w.order("authorized", json!([line(TEE, 1)]), None).await;
    let d = w.order("paid", json!([line(TEE, 3)]), None).await;
    let dp = w.order("pending", json!([line(TEE, 4)]), None).await;
    w.standin.edit_line(dp.id, dp.lines[0], 2, true).await;
    let x = w.order("paid", json!([line(TEE, 1)]), None).await;
    let f = w.order("paid", json!([line(TEE, 4)]), None).await;
    let g = w.order("paid", json!([line(TEE, 2)]), None).await;
    let h = w.order("paid", json!([line(MUG, 1)]), None).await;
    // A POS sale at the warehouse (it names its location): an online one is the ignored
    // test below (its routing is lost while the SKU is unmapped).
    let i = w
        .order("paid", json!([line(TEE, 1), line(SOCK, 2)]), Some(WH))
        .await;
    let j = w
        .order(
            "paid",
            json!([line(TEE, 1), Standin::gift_card_line(1)]),
            None,
        )
        .await;
    let k = w.order("paid", json!([line(CAP, 2)]), Some(STORE)).await;
    w.fulfill_all(&k).await;
    let l = w
        .order(
            "paid",
            json!([line_at(TEE, 1, WH), line_at(MUG, 1, STORE)]),
            None,
        )
        .await;
    w.phase(c, 1).await;
    // Midday: payments, a void, an edit after payment, a cancel, shipments.
    w.standin.pay(b.id).await;
    w.standin.void(v.id).await;
    w.standin.pay(dp.id).await;
    w.standin.edit_line(d.id, d.lines[0], 1, true).await;
    w.cancel(&x).await;
    w.fulfill_some(&f, 0, 1).await;
    w.fulfill_all(&g).await;
    w.fulfill_all(&h).await;
    w.fulfill_all(&j).await;
    w.phase(c, 2).await;
    // Afternoon: the rest of a part-shipped order cancelled, refunds.
    w.cancel(&f).await;
    let g_refund = w.refund(&g, 0, 1, true).await;
    w.refund(&h, 0, 1, false).await;
    w.phase(c, 3).await;
    if sales_on {
        assert!(
            w.erp()
                .find(&reference(i.id, "WH"))
                .await
                .unwrap()
                .is_none(),
            "an order with an unmapped SKU waits whole"
        );
    }
    // Evening: the socks mapped (the import replays what was parked).
    w.map_socks().await;
    w.s.drain_with(c).await;

    // (line index, item, ordered, shipped, returned), Shopify units.
    e.sale(w, &a, "WH", &[(0, TEE, 2, 2, 0)], Done);
    e.sale(w, &b, "WH", &[(0, MUG, 1, 0, 0)], Confirmed);
    // Placed paid with 3 before the edit: Tryton keeps a confirmed sale's lines.
    e.sale(w, &d, "WH", &[(0, TEE, 3, 0, 0)], Confirmed);
    e.exceptions.push((d.id, "revise"));
    // Edited while pending: placed with the edited quantity.
    e.sale(w, &dp, "WH", &[(0, TEE, 2, 0, 0)], Confirmed);
    e.sale(w, &x, "WH", &[(0, TEE, 1, 0, 0)], Cancelled);
    // Cancelled after 1 of 4 shipped: the shipped unit stays shipped.
    e.sale(w, &f, "WH", &[(0, TEE, 4, 1, 0)], Confirmed);
    // Its 3 unshipped units stay open in Tryton; the exception an operator needs for that is
    // the ignored test below (a product defect): neither asserted present nor absent here.
    e.clean.retain(|o| *o != f.id);
    e.sale(w, &g, "WH", &[(0, TEE, 2, 2, 1)], Done);
    e.returns.push(g_refund);
    e.sale(w, &h, "WH", &[(0, MUG, 1, 1, 0)], Done);
    e.sale(
        w,
        &i,
        "WH",
        &[(0, TEE, 1, 0, 0), (1, SOCK, 2, 0, 0)],
        Confirmed,
    );
    e.sale(w, &j, "WH", &[(0, TEE, 1, 1, 0)], Done);
    e.sale(w, &k, "STORE", &[(0, CAP, 2, 2, 0)], Done);
    e.sale(w, &l, "WH", &[(0, TEE, 1, 0, 0)], Confirmed);
    e.sale(w, &l, "STORE", &[(1, MUG, 1, 0, 0)], Confirmed);
    e.clean.push(v.id);
    e
}

/// ERP on-hand after the full day, from the script (ERP units): the warehouse moves only by
/// what shipped and came back restocked; the shop floor by every change of its on-hand.
fn full_day_on_hand() -> BTreeMap<(&'static str, &'static str), i64> {
    BTreeMap::from([
        // 50 - 2 (A) - 1 (F) - 2 (G) + 1 (G returned) - 1 (J)
        (("WH", "TEE"), 45),
        // 5 dozen - 1 dozen (H)
        (("WH", "MUG"), 48),
        (("WH", "SOCK"), 10),
        (("STORE", "TEE"), 10),
        (("STORE", "MUG"), 36),
        // 5 - 2 (K)
        (("STORE", "CAP"), 3),
    ])
}

#[tokio::test]
async fn a_day_of_orders_leaves_exactly_the_erp_sales_orders_and_the_same_on_hand() {
    let (on, off) = tokio::join!(
        async {
            let w = world(true).await;
            let c = w.consumer(&w.tryton.url, PushPolicy::default());
            let expected = full_day(&w, &c, true).await;
            assert_erp(&w, &expected).await;
            (w.on_hand().await, w)
        },
        async {
            let w = world(false).await;
            let c = w.consumer(&w.tryton.url, PushPolicy::default());
            full_day(&w, &c, false).await;
            let none = w.sales_named("shopify:").await;
            assert!(none.is_empty(), "the setting off places nothing: {none:?}");
            (w.on_hand().await, w)
        }
    );
    assert_eq!(on.0, full_day_on_hand(), "ERP on-hand with sales orders on");
    assert_eq!(off.0, on.0, "ERP on-hand with sales orders off = on");
}

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn under_faults_and_an_erp_restart_no_order_is_missing_or_twice() {
    use fault_proxy::Fault;
    use SalesOrderState::{Cancelled, Confirmed, Done};
    let w = world(true).await;
    let proxy = fault_proxy::FaultProxy::start(&w.tryton.url.replace("/stockbridge", "")).await;
    for fault in [
        Fault::Status {
            code: 429,
            retry_after: Some(1),
        },
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        Fault::Delay(Duration::from_millis(3500)),
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        Fault::Delay(Duration::from_millis(3500)),
    ] {
        proxy.push(fault);
    }
    // Sales calls aimed at: a timeout whose write lands, on the create of a sale.
    proxy.push_matching(
        fault_proxy::Matcher {
            method: Some("POST"),
            path_contains: Some("sale.sale".into()),
            body_contains: None,
        },
        Fault::Delay(Duration::from_millis(3500)),
        2,
    );
    let url = format!("{}/stockbridge", proxy.url());
    let policy = PushPolicy {
        retry: RetryPolicy {
            attempts: 2,
            min_delay: Duration::from_millis(50),
            ..PushPolicy::RETRY
        },
        breaker_threshold: 20,
        breaker_cooldown: Duration::from_secs(1),
        ..PushPolicy::default()
    };
    let metrics = Metrics::silent("stock-consumer");
    let through = |url: &str| {
        tryton_at(url, &w.tryton.key)
            .with_timeouts(Duration::from_millis(2500), Duration::from_millis(500))
            .expect("timeouts")
    };
    let c: Consumer = Arc::new(
        StockConsumer::with_erp(
            w.s.store.clone(),
            metrics.clone(),
            ErpPush::new(through(&url), policy, metrics),
            Some(w.s.queue.clone()),
        )
        .with_shopify(Some(w.standin.client()))
        .with_sales(Some(SalesFlow::new(
            through(&url),
            Metrics::silent("sales"),
        ))),
    );
    let mut e = Expected::default();
    let a = w.order("paid", json!([line(TEE, 2)]), None).await;
    w.fulfill_all(&a).await;
    let b = w.order("pending", json!([line(MUG, 1)]), None).await;
    let x = w.order("paid", json!([line(TEE, 1)]), None).await;
    let g = w.order("paid", json!([line(TEE, 2)]), None).await;
    let k = w.order("paid", json!([line(CAP, 2)]), Some(STORE)).await;
    w.fulfill_all(&k).await;
    w.phase(&c, 21).await;
    assert!(
        proxy.faults_served() >= 5,
        "faults served: {}",
        proxy.faults_served()
    );

    // Tryton stops; the afternoon happens meanwhile.
    w.tryton.stop();
    w.standin.pay(b.id).await;
    w.cancel(&x).await;
    w.fulfill_all(&g).await;
    w.flush(22).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        w.s.drain_once_with(&c).await;
        let (ready, _) = ready(&w.s).await;
        if ready == 0 || Instant::now() > deadline {
            break;
        }
    }
    assert!(
        c.sales.as_ref().unwrap().metrics.total("ErpOrderFailures") >= 1.0,
        "the order flow met the ERP down"
    );
    assert_eq!(w.s.depth(&w.s.dlq_url).await, 0, "nothing dead-lettered");
    w.tryton.start_again();
    w.s.drain_with(&c).await;
    let g_refund = w.refund(&g, 0, 1, true).await;
    w.phase(&c, 23).await;

    e.sale(&w, &a, "WH", &[(0, TEE, 2, 2, 0)], Done);
    e.sale(&w, &b, "WH", &[(0, MUG, 1, 0, 0)], Confirmed);
    e.sale(&w, &x, "WH", &[(0, TEE, 1, 0, 0)], Cancelled);
    e.sale(&w, &g, "WH", &[(0, TEE, 2, 2, 1)], Done);
    e.returns.push(g_refund);
    e.sale(&w, &k, "STORE", &[(0, CAP, 2, 2, 0)], Done);
    assert_erp(&w, &e).await;
    assert_eq!(
        w.on_hand().await,
        BTreeMap::from([
            (("WH", "TEE"), 50 - 2 - 2 + 1),
            (("WH", "MUG"), 60),
            (("WH", "SOCK"), 10),
            (("STORE", "TEE"), 10),
            (("STORE", "MUG"), 36),
            (("STORE", "CAP"), 3),
        ]),
        "every movement once"
    );
}

/// Messages visible or in flight (not the delayed ones), and the delayed ones.
async fn ready(s: &Stack) -> (usize, usize) {
    use aws_sdk_sqs::types::QueueAttributeName;
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

// ---------------------------------------------------------------------------------------------
// No personal data

/// Every field name of a Tryton model (through `ir.model.field`).
async fn fields_of(t: &PrivateTryton, model: &str) -> Vec<String> {
    let found = match rest_search_at(
        &t.url,
        &t.key,
        "ir.model.field",
        json!([["model", "=", model]]),
        &["name", "ttype"],
    )
    .await
    {
        Ok(v) if !v.is_empty() => v,
        _ => {
            rest_search(
                t,
                "ir.model.field",
                json!([["model.model", "=", model]]),
                &["name", "ttype"],
            )
            .await
        }
    };
    assert!(!found.is_empty(), "no fields of {model}");
    found
        .iter()
        .filter(|f| f["ttype"] != "binary")
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn no_customer_name_email_address_or_phone_reaches_the_erp() {
    let w = world(true).await;
    let c = w.consumer(&w.tryton.url, PushPolicy::default());
    let a = w.order("paid", json!([line(TEE, 2)]), None).await;
    w.fulfill_all(&a).await;
    let k = w.order("paid", json!([line(CAP, 1)]), Some(STORE)).await;
    w.fulfill_all(&k).await;
    let l = w
        .order(
            "paid",
            json!([line_at(TEE, 1, WH), line_at(MUG, 1, STORE)]),
            None,
        )
        .await;
    w.phase(&c, 31).await;
    w.refund(&a, 0, 1, true).await;
    w.phase(&c, 32).await;

    // The personal data the stand-in's orders carried (read from its own webhooks).
    let emitted = w.standin.get("/_standin/webhooks").await["emitted"].clone();
    let mut secrets: Vec<String> = Vec::new();
    for wh in emitted.as_array().unwrap() {
        let body = &wh["body"];
        if body["customer"].is_null() {
            continue;
        }
        let c = &body["customer"];
        for v in [
            &body["email"],
            &body["phone"],
            &c["email"],
            &c["first_name"],
            &c["last_name"],
            &c["phone"],
        ] {
            secrets.extend(v.as_str().map(str::to_string));
        }
        for a in [
            &body["billing_address"],
            &body["shipping_address"],
            &c["default_address"],
        ] {
            for k in ["name", "last_name", "address1", "phone", "zip"] {
                secrets.extend(a[k].as_str().map(str::to_string));
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    // Short common values (a zip) would match ids by chance; keep the distinctive ones.
    secrets.retain(|s| s.len() >= 6);
    assert!(
        secrets.iter().any(|s| s.contains('@')) && secrets.iter().any(|s| s.contains("Street")),
        "the orders carried personal data: {secrets:?}"
    );
    for o in [&a, &k, &l] {
        assert!(
            w.erp()
                .find(&reference(o.id, "WH"))
                .await
                .unwrap()
                .is_some()
                || w.erp()
                    .find(&reference(o.id, "STORE"))
                    .await
                    .unwrap()
                    .is_some(),
            "order {} placed",
            o.id
        );
    }
    let party = env("TRYTON_SALE_PARTY");
    let sales = w.sales_named(&format!("shopify:{SHOP}:")).await;
    assert!(sales.len() >= 4, "{sales:?}");
    for s in &sales {
        assert_eq!(s["party"]["code"].as_str(), Some(party.as_str()), "{s}");
    }
    for model in [
        "sale.sale",
        "sale.line",
        "party.party",
        "party.address",
        "party.contact_mechanism",
        "stock.shipment.out",
        "stock.shipment.out.return",
        "stock.move",
    ] {
        let fields = fields_of(&w.tryton, model).await;
        let names: Vec<&str> = fields.iter().map(String::as_str).collect();
        let records = rest_search(&w.tryton, model, json!([]), &names).await;
        let text = serde_json::to_string(&records).unwrap();
        for secret in &secrets {
            assert!(
                !text.to_lowercase().contains(&secret.to_lowercase()),
                "{model} holds {secret:?}"
            );
        }
    }
}

/// PRODUCT DEFECT (issue #13, reported): an *online* order with an unmapped SKU is never placed
/// after the mapping arrives. Its `orders/create` names no location; the line's location comes
/// only from the fulfillment order read after `fulfillment_orders/order_routing_complete`, and
/// that read's lines of unmapped items are left out (`domain/src/resolve.rs`, FulfillmentOrder)
/// rather than parked; the replay after the import replays the parked webhooks only, so the
/// sock line stays unrouted and the order flow waits (`Wait::Routing`, `sales_retry`) until it
/// gives up. Ignored until fixed: `bash infra/test.sh --test orders_day -- --ignored`.
#[tokio::test]
async fn an_online_order_with_an_unmapped_sku_is_placed_whole_once_mapped() {
    let w = world(true).await;
    let c = w.consumer(&w.tryton.url, PushPolicy::default());
    let i = w
        .order("paid", json!([line(TEE, 1), line(SOCK, 2)]), None)
        .await;
    w.phase(&c, 41).await;
    assert!(w
        .erp()
        .find(&reference(i.id, "WH"))
        .await
        .unwrap()
        .is_none());
    w.map_socks().await;
    // Bounded: the first retries (4 s, 8 s) are enough for an order that can go.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        w.s.drain_once_with(&c).await;
        if w.erp()
            .find(&reference(i.id, "WH"))
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
    }
    let view = w.erp().find(&reference(i.id, "WH")).await.unwrap();
    let lines = view.map(|v| by_line(&v.lines));
    assert_eq!(
        lines,
        Some(BTreeMap::from([
            (
                i.lines[0].to_string(),
                (w.codes[&TEE].clone(), Decimal::from(1))
            ),
            (
                i.lines[1].to_string(),
                (w.codes[&SOCK].clone(), Decimal::from(2))
            ),
        ])),
        "placed whole once the SKU is mapped"
    );
}

/// PRODUCT DEFECT (issue #13, reported): an order cancelled after part of it shipped leaves
/// its ERP sales order with the unshipped units still to ship, and no exception for an
/// operator: `next_steps` (`domain/src/sales.rs`) takes no Cancel step for a warehouse where
/// something shipped and no Revise for a cancelled order, so Tryton is never asked (it would
/// refuse: "has shipped goods") and the record says nothing. Expected: the refusal kept as an
/// exception (`cancel <reference>`). Ignored until fixed.
#[tokio::test]
async fn a_cancel_after_a_partial_shipment_is_an_exception_for_an_operator() {
    let w = world(true).await;
    let c = w.consumer(&w.tryton.url, PushPolicy::default());
    let f = w.order("paid", json!([line(TEE, 4)]), None).await;
    w.phase(&c, 51).await;
    w.fulfill_some(&f, 0, 1).await;
    w.phase(&c, 52).await;
    w.cancel(&f).await;
    w.phase(&c, 53).await;
    let view = w.erp().find(&reference(f.id, "WH")).await.unwrap().unwrap();
    assert_eq!(
        by_line(&view.shipped)
            .values()
            .map(|l| l.1)
            .sum::<Decimal>(),
        Decimal::ONE
    );
    let ex = w.exceptions(f.id).await;
    assert!(
        ex.keys().any(|k| k.starts_with("cancel")),
        "an exception for the units left to ship, got {ex:?}"
    );
}
