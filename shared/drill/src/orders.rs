//! `drill orders`: the latency from a Shopify order's `orders/paid` webhook to its ERP sales
//! order confirmed (issue #13). With the shop's sales setting on, N orders of 1-3 lines are
//! sent at a steady rate as signed `orders/create` (payment pending) and, a moment later,
//! `orders/paid` webhooks to the drill's own webhook router; they go through SQS (moto) to the
//! real consumers with the order flow (`SalesFlow` over the real Tryton adapter) into Tryton.
//!
//! Measured per order, from outside: from sending its `orders/paid` to the first poll of
//! Tryton (one `sale.sale` search over every order still waiting, every `--poll-ms`) that finds
//! its sale confirmed; and from inside, the flow's own `PaymentToErpOrderMs` (the record's
//! `confirmed_at` minus the decision's `since`, the webhook's receipt). Counts the REST calls
//! the sales adapter made to Tryton (through a loopback relay counting requests) and checks
//! that each order made exactly one sale (Tryton searched by reference).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_push::{ErpPush, PushPolicy};
use stockbridge_core::ports::SkuMapStore;
use stockbridge_core::sales_flow::SalesFlow;
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::ids::{OrderId, ShopDomain, Timestamp};
use stockbridge_domain::sales::{reference, SalesSettings};
use stockbridge_erp::tryton::{sale_party_from_env, TrytonErp};
use stockbridge_lambda::local::PollerSettings;

pub use crate::args::OrdersArgs;
use crate::load::Rng;
use crate::measure::Sorted;
use crate::stack::{self, Setup, ITEM_BASE, SHOP, STORE};

pub(crate) mod relay;
use relay::CountedTryton;

/// The ERP warehouse of [`STORE`] in the drill's SKU map.
const WAREHOUSE: &str = "STORE";
/// Tryton's sale states that mean the ERP holds the sale confirmed.
const CONFIRMED: [&str; 3] = ["confirmed", "processing", "done"];

/// What each SKU holds at the shop floor before the orders.
const START_AVAILABLE: i64 = 100_000;

/// One order of the drill: its Shopify id, lines `(line id, SKU index, units)`, and each
/// line's SKU's `available` after it (Shopify's `inventory_levels/update` that follows).
struct Order {
    id: u64,
    lines: Vec<(u64, usize, i64)>,
    available_after: Vec<(usize, i64)>,
}

impl Order {
    fn reference(&self) -> String {
        reference(&ShopDomain::new(SHOP), OrderId(self.id), WAREHOUSE)
    }

    /// The order as Shopify's `orders/*` payload: ids, number, payment and lines only (the
    /// drill sends no customer data, so none can leak into the ERP).
    fn body(&self, financial_status: &str, at: Timestamp) -> String {
        let lines: Vec<Value> = self
            .lines
            .iter()
            .map(|(line, sku, q)| {
                json!({"id": line, "variant_id": ITEM_BASE + 500_000 + *sku as u64,
                    "sku": format!("SKU-{sku:04}"), "quantity": q, "current_quantity": q,
                    "fulfillable_quantity": q, "gift_card": false, "name": format!("Item {sku}")})
            })
            .collect();
        json!({"id": self.id, "name": format!("#D{}", self.id % 1_000_000),
            "financial_status": financial_status, "test": false, "cancelled_at": null,
            "updated_at": at.to_rfc3339(), "location_id": STORE, "line_items": lines})
        .to_string()
    }
}

/// An `inventory_levels/update` payload: the SKU's new `available` at the shop floor.
fn level_body(sku: usize, available: i64, at: Timestamp) -> String {
    let item = ITEM_BASE + sku as u64;
    json!({"inventory_item_id": item, "location_id": STORE, "available": available,
        "updated_at": at.to_rfc3339(),
        "admin_graphql_api_id": format!("gid://shopify/InventoryLevel/{STORE}?inventory_item_id={item}")})
    .to_string()
}

/// `count` orders of 1-3 lines of 1-2 units on distinct SKUs, ids unique to the run.
fn orders(count: usize, skus: usize, run: i64) -> Vec<Order> {
    let mut available = vec![START_AVAILABLE; skus];
    let mut rng = Rng(0x0dde_5a1e_0000_0013 ^ run as u64);
    let mut next = 8_000_000_000_000_000_000 + (run as u64 % 1_000_000) * 1_000_000;
    (0..count)
        .map(|_| {
            next += 1;
            let id = next;
            let first = (rng.next() % skus as u64) as usize;
            let lines = (0..(1 + rng.next() % 3).min(skus as u64) as usize)
                .map(|k| {
                    next += 1;
                    (next, (first + k) % skus, 1 + (rng.next() % 2) as i64)
                })
                .collect::<Vec<_>>();
            let available_after = lines
                .iter()
                .map(|(_, sku, q)| {
                    available[*sku] -= q;
                    (*sku, available[*sku])
                })
                .collect();
            Order {
                id,
                lines,
                available_after,
            }
        })
        .collect()
}

/// When each order's `orders/paid` went out, and when Tryton was first seen holding its sale
/// confirmed, by reference.
#[derive(Default)]
struct Clock {
    paid: HashMap<String, Instant>,
    confirmed: HashMap<String, Instant>,
}

impl Clock {
    /// Orders paid whose sale was not yet seen confirmed.
    fn waiting(&self) -> Vec<String> {
        let mut refs: Vec<String> = self
            .paid
            .keys()
            .filter(|r| !self.confirmed.contains_key(*r))
            .cloned()
            .collect();
        refs.sort();
        refs
    }

    /// Milliseconds from paid to seen confirmed, per order seen.
    fn latencies_ms(&self) -> Vec<f64> {
        self.confirmed
            .iter()
            .filter_map(|(r, seen)| Some(seen.duration_since(*self.paid.get(r)?)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect()
    }
}

/// Signs and posts one webhook; its HTTP status (0: no answer).
async fn post_webhook(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    (topic, webhook_id, body): (&str, String, String),
) -> u16 {
    let hmac = stockbridge_shopify::signature::sign(secret.as_bytes(), body.as_bytes());
    client
        .post(url)
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Hmac-Sha256", hmac)
        .header("X-Shopify-Shop-Domain", SHOP)
        .header("X-Shopify-Webhook-Id", webhook_id)
        .header("X-Shopify-API-Version", "2026-04")
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Sends each order's `orders/create` (pending) at `args.rate`, and its `orders/paid`
/// `args.pay_after_ms` later, noting when the latter went out. Returns the answers per status.
async fn send_orders(
    args: &OrdersArgs,
    orders: &[Order],
    (url, secret, run): (&str, &str, i64),
    clock: &Arc<Mutex<Clock>>,
) -> Result<BTreeMap<u16, usize>, Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(orders.len());
    for (n, order) in orders.iter().enumerate() {
        let due = started + Duration::from_secs_f64(n as f64 / args.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let created = Timestamp::now();
        let paid_at = Timestamp(created.0 + args.pay_after_ms as i64 * 1_000_000);
        let create = order.body("pending", created);
        let levels: Vec<(String, String)> = order
            .available_after
            .iter()
            .enumerate()
            .map(|(k, (sku, a))| {
                let id = format!("orders-{run}-{n}-level-{k}");
                (id, level_body(*sku, *a, created))
            })
            .collect();
        let paid = order.body("paid", paid_at);
        let (client, url, secret, clock) = (
            client.clone(),
            url.to_string(),
            secret.to_string(),
            clock.clone(),
        );
        let (reference, pay_after) = (order.reference(), args.pay_after_ms);
        tasks.push(tokio::spawn(async move {
            let create_id = format!("orders-{run}-{n}-create");
            let first =
                post_webhook(&client, &url, &secret, ("orders/create", create_id, create)).await;
            let mut answers = vec![first];
            for (id, body) in levels {
                let topic = "inventory_levels/update";
                answers.push(post_webhook(&client, &url, &secret, (topic, id, body)).await);
            }
            tokio::time::sleep(Duration::from_millis(pay_after)).await;
            if let Ok(mut c) = clock.lock() {
                c.paid.insert(reference, Instant::now());
            }
            let paid_id = format!("orders-{run}-{n}-paid");
            answers
                .push(post_webhook(&client, &url, &secret, ("orders/paid", paid_id, paid)).await);
            answers
        }));
    }
    let mut statuses = BTreeMap::new();
    for t in tasks {
        for status in t.await? {
            *statuses.entry(status).or_default() += 1;
        }
    }
    Ok(statuses)
}

/// `sale.sale` rows (`reference`, `state`) for these references, searched over REST in chunks.
async fn sales_of(setup: &Setup, references: &[String]) -> Result<Vec<Value>, String> {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE.encode(v.to_string());
    let client = reqwest::Client::new();
    let mut rows = Vec::new();
    for chunk in references.chunks(100) {
        let domain = json!([["reference", "in", chunk]]);
        let r = client
            .get(format!("{}/rest/model/sale.sale", setup.tryton_url))
            .query(&[
                ("d", b64(&domain)),
                ("f", "reference".into()),
                ("f", "state".into()),
            ])
            .bearer_auth(&setup.tryton_key)
            .header("X-Tryton-Context", b64(&json!({"company": 1})))
            .send()
            .await
            .map_err(|e| format!("searching Tryton's sales: {e}"))?;
        let status = r.status();
        let body = r.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("searching Tryton's sales: {status} {body}"));
        }
        match serde_json::from_str::<Value>(&body) {
            Ok(Value::Array(found)) => rows.extend(found),
            _ => return Err(format!("Tryton answered a sale search with {body:.200}")),
        }
    }
    Ok(rows)
}

/// Polls Tryton every `every` for the sales of paid orders not yet seen confirmed, noting when
/// each is first seen so, until every one of `total` orders is seen or `deadline`.
async fn watch_confirmed(
    setup: &Setup,
    clock: &Arc<Mutex<Clock>>,
    total: usize,
    every: Duration,
    deadline: Instant,
) -> Result<(), String> {
    let mut polls = 0u32;
    loop {
        tokio::time::sleep(every).await;
        polls = polls.wrapping_add(1);
        let waiting = clock.lock().map(|c| c.waiting()).unwrap_or_default();
        let rows = match sales_of(setup, &waiting).await {
            Ok(rows) => rows,
            Err(e) => {
                eprintln!("drill: {e}; polling again");
                continue;
            }
        };
        let seen = Instant::now();
        let (done, paid) = {
            let mut c = clock.lock().map_err(|_| "the drill's clock was poisoned")?;
            for row in &rows {
                let state = row["state"].as_str().unwrap_or_default();
                if let (Some(r), true) = (row["reference"].as_str(), CONFIRMED.contains(&state)) {
                    c.confirmed.entry(r.to_string()).or_insert(seen);
                }
            }
            (c.confirmed.len(), c.paid.len())
        };
        if done >= total {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{done} of {total} sales confirmed ({paid} paid) at the deadline"
            ));
        }
        if polls % (20_000 / every.as_millis().max(1) as u32).max(1) == 0 {
            eprintln!("drill: {done}/{total} sales confirmed, {paid} paid");
        }
    }
}

/// `drill orders`: see the module.
pub async fn drill(args: OrdersArgs) -> Result<String, Box<dyn std::error::Error>> {
    args.check()?;
    let sale_party = sale_party_from_env().ok_or(
        "TRYTON_SALE_PARTY is not set: load the Tryton state's erp.env (infra/erp/bootstrap.py \
         writes it) before the drill",
    )?;
    let setup = stack::setup(args.skus).await?;
    let shop = ShopDomain::new(SHOP);
    setup
        .store
        .put_sales_settings(
            &shop,
            SalesSettings {
                enabled: true,
                authorized: false,
            },
        )
        .await?;
    let counted = CountedTryton::start(&setup.tryton_url).await?;
    let sales_erp =
        TrytonErp::new(&counted.url, &setup.tryton_key, 1)?.with_sale_party(Some(sale_party));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let secret = format!("drill-secret-{}", setup.run);
    let (url, webhook_metrics) =
        crate::webhooks::serve_webhook(&setup.queue, &setup.store, &secret, &stop_rx).await?;
    let metrics = Metrics::silent("stock-consumer");
    let consumer = Arc::new(
        StockConsumer::with_erp(
            setup.store.clone(),
            metrics.clone(),
            ErpPush::new(
                stack::tryton(&setup)?,
                PushPolicy::default(),
                metrics.clone(),
            ),
            Some(setup.queue.clone()),
        )
        .with_shopify(Some(stockbridge_memory::EchoShopify::new(
            setup.store.clone(),
            shop.clone(),
        )))
        .with_sales(Some(SalesFlow::new(sales_erp, metrics.clone()))),
    );
    let settings = PollerSettings {
        queue_url: setup.queue_url().to_string(),
        queue_arn: String::new(),
        batch_size: 100,
        batching_window: Duration::from_millis(args.window_ms),
        wait_seconds: 0,
        timeout: Duration::from_secs(60),
    };
    let workers = stack::spawn_consumers(
        args.consumers,
        setup.queue.client(),
        &settings,
        &consumer,
        &stop_rx,
    );

    // The shop floor stocked and settled in the ERP first, so that only the orders are measured.
    let client = reqwest::Client::new();
    let seeded = Timestamp::now();
    for sku in 0..args.skus {
        let seed = (
            "inventory_levels/update",
            format!("orders-{}-seed-{sku}", setup.run),
            level_body(sku, START_AVAILABLE, seeded),
        );
        match post_webhook(&client, &url, &secret, seed).await {
            200 => {}
            status => return Err(format!("the seed's level webhook answered {status}").into()),
        }
    }
    let seed_deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    stack::wait_until_settled(
        &setup.store,
        args.skus,
        seed_deadline,
        args.skus,
        |sku, l| {
            (l.available != START_AVAILABLE)
                .then(|| format!("SKU {sku}: available {}", l.available))
        },
    )
    .await?;
    let plan = orders(args.orders, args.skus, setup.run);
    let clock = Arc::new(Mutex::new(Clock::default()));
    eprintln!(
        "drill: {} orders at {}/s, each paid {} ms after it was created",
        args.orders, args.rate, args.pay_after_ms
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_seconds);
    let poll = Duration::from_millis(args.poll_ms);
    let (sent, watched) = tokio::join!(
        send_orders(&args, &plan, (&url, &secret, setup.run), &clock),
        watch_confirmed(&setup, &clock, plan.len(), poll, deadline),
    );
    let statuses = sent?;
    let settled_secs = started.elapsed().as_secs_f64();
    // A late duplicate would come from a redelivery: give the queue a moment before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let references: Vec<String> = plan.iter().map(Order::reference).collect();
    let mut per_reference: BTreeMap<String, usize> = BTreeMap::new();
    for row in sales_of(&setup, &references).await? {
        if let Some(r) = row["reference"].as_str() {
            *per_reference.entry(r.to_string()).or_default() += 1;
        }
    }
    let paid_to_seen = match clock.lock() {
        Ok(c) => c.latencies_ms(),
        Err(_) => return Err("the drill's clock was poisoned".into()),
    };
    let payment_to_erp = metrics.values("PaymentToErpOrderMs");
    let counts = (paid_to_seen.len(), payment_to_erp.len());
    let report = OrdersFigures {
        args: &args,
        statuses,
        lines: plan.iter().map(|o| o.lines.len()).sum(),
        paid_to_seen: Sorted::new(paid_to_seen),
        payment_to_erp: Sorted::new(payment_to_erp),
        webhook_ms: Sorted::new(webhook_metrics.values("WebhookResponseMs")),
        counts,
        settled_secs,
        tryton_calls: counted.calls(),
        one_sale: references
            .iter()
            .filter(|r| per_reference.get(*r) == Some(&1))
            .count(),
        doubled: per_reference.values().filter(|n| **n > 1).count(),
        failures: metrics.total("ErpOrderFailures"),
    }
    .markdown();
    if let Some(path) = &args.out {
        std::fs::write(path, &report)?;
    }
    watched?;
    let made_one = report_check(&references, &per_reference);
    if !made_one.is_empty() {
        eprintln!("{report}");
        return Err(format!("orders without exactly one sale: {}", made_one.join("; ")).into());
    }
    Ok(report)
}

/// The orders whose reference Tryton holds not exactly once, with how often it does.
fn report_check(references: &[String], per_reference: &BTreeMap<String, usize>) -> Vec<String> {
    references
        .iter()
        .filter_map(|r| {
            let n = per_reference.get(r).copied().unwrap_or(0);
            (n != 1).then(|| format!("{r}: {n} sales"))
        })
        .collect()
}

/// What `drill orders` measured.
struct OrdersFigures<'a> {
    args: &'a OrdersArgs,
    /// Webhook answers per HTTP status (0: no answer), both topics.
    statuses: BTreeMap<u16, usize>,
    lines: usize,
    /// Sending `orders/paid` → Tryton seen holding the sale confirmed (ms).
    paid_to_seen: Sorted,
    /// The flow's `PaymentToErpOrderMs`: confirmed_at − the decision's `since` (ms).
    payment_to_erp: Sorted,
    webhook_ms: Sorted,
    /// Orders in `paid_to_seen` and in `payment_to_erp`.
    counts: (usize, usize),
    /// First order sent → every sale seen confirmed.
    settled_secs: f64,
    /// REST calls of the sales adapter to Tryton.
    tryton_calls: u64,
    /// Orders with exactly one sale in Tryton; references with more than one.
    one_sale: usize,
    doubled: usize,
    failures: f64,
}

impl OrdersFigures<'_> {
    fn markdown(&self) -> String {
        let args = self.args;
        let n = args.orders as f64;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, c)| format!("{s}: {c}"))
            .collect();
        let (seen, inside, hook) = (&self.paid_to_seen, &self.payment_to_erp, &self.webhook_ms);
        format!(
            "## Orders drill: {orders} paid orders at {rate}/s into Tryton, {consumers} consumers\n\n\
             Command: `bash infra/drill/orders.sh --orders {orders} --rate {rate} --skus {skus} --pay-after-ms {pay} --consumers {consumers} --poll-ms {poll}`\n\
             (the script starts its own moto and a private Tryton fresh from its snapshot, ports from `MOTO_PORT` / `TRYTON_PORT`, and stops them)\n\n\
             | figure | value |\n|---|---|\n\
             | orders / lines | {orders} / {lines} |\n\
             | webhook answers (orders/create, level updates, orders/paid) | {statuses} |\n\
             | webhook handler time p50 / p99 | {h50:.1} / {h99:.1} ms |\n\
             | **orders/paid sent → Tryton holds the sale confirmed** (polled every {poll} ms) p50 / p99 / max | **{s50:.0} / {s99:.0} / {smax:.0} ms** ({seen_n} seen) |\n\
             | payment's webhook received → ERP order confirmed (the flow's `PaymentToErpOrderMs`) p50 / p99 / max | {i50:.0} / {i99:.0} / {imax:.0} ms ({inside_n} placements by the flow) |\n\
             | orders per second achieved (first order → every sale confirmed in {settled:.1} s) | {ops:.2} |\n\
             | Tryton REST calls of the sales adapter | {calls} ({cpo:.1} per order) |\n\
             | orders with exactly one sale in Tryton / references with more than one | {one} / {doubled} |\n\
             | ERP order failures (retried) | {failures} |\n",
            orders = args.orders, rate = args.rate, skus = args.skus, pay = args.pay_after_ms,
            consumers = args.consumers, poll = args.poll_ms, lines = self.lines,
            statuses = statuses.join(", "),
            h50 = hook.p(0.5), h99 = hook.p(0.99),
            s50 = seen.p(0.5), s99 = seen.p(0.99), smax = seen.max(), seen_n = self.counts.0,
            i50 = inside.p(0.5), i99 = inside.p(0.99), imax = inside.max(), inside_n = self.counts.1,
            settled = self.settled_secs, ops = n / self.settled_secs,
            calls = self.tryton_calls, cpo = self.tryton_calls as f64 / n,
            one = self.one_sale, doubled = self.doubled, failures = self.failures,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn orders_are_pending_then_paid_with_distinct_lines_and_no_customer() {
        let plan = orders(50, 4, 1_700_000_000);
        assert_eq!(plan.len(), 50);
        for o in &plan {
            assert!((1..=3).contains(&o.lines.len()));
            let mut skus: Vec<usize> = o.lines.iter().map(|l| l.1).collect();
            skus.dedup();
            assert_eq!(skus.len(), o.lines.len(), "distinct SKUs in an order");
        }
        let ids: std::collections::BTreeSet<u64> = plan.iter().map(|o| o.id).collect();
        assert_eq!(ids.len(), 50);
        let body: Value = serde_json::from_str(&plan[0].body("paid", Timestamp(0))).unwrap();
        assert_eq!(body["financial_status"], "paid");
        assert_eq!(body["location_id"], STORE);
        assert!(body.get("customer").is_none() && body.get("email").is_none());
        assert_eq!(
            plan[0].reference(),
            format!("shopify:{SHOP}:{}:STORE", plan[0].id)
        );
    }

    #[test]
    fn latency_runs_from_paid_to_seen_and_only_unseen_orders_are_polled() {
        let t = Instant::now();
        let mut clock = Clock::default();
        clock.paid.insert("a".into(), t);
        clock.paid.insert("b".into(), t);
        clock
            .confirmed
            .insert("a".into(), t + Duration::from_millis(1500));
        assert_eq!(clock.waiting(), vec!["b".to_string()]);
        assert_eq!(clock.latencies_ms(), vec![1500.0]);
    }

    #[test]
    fn an_order_must_hold_exactly_one_sale() {
        let refs = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let counts = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 2)]);
        assert_eq!(
            report_check(&refs, &counts),
            vec!["b: 2 sales", "c: 0 sales"]
        );
    }

    #[test]
    fn the_report_gives_percentiles_rate_and_calls_per_order() {
        let args = OrdersArgs::try_parse_from(["orders", "--orders", "4", "--rate", "2"]).unwrap();
        let report = OrdersFigures {
            args: &args,
            statuses: BTreeMap::from([(200, 8)]),
            lines: 6,
            paid_to_seen: Sorted::new(vec![100.0, 200.0, 300.0, 4000.0]),
            payment_to_erp: Sorted::new(vec![90.0]),
            webhook_ms: Sorted::new(vec![]),
            counts: (4, 1),
            settled_secs: 8.0,
            tryton_calls: 28,
            one_sale: 4,
            doubled: 0,
            failures: 0.0,
        }
        .markdown();
        assert!(report.contains("`bash infra/drill/orders.sh --orders 4 --rate 2 --skus 20"));
        assert!(report.contains("p50 / p99 / max | **300 / 4000 / 4000 ms** (4 seen)"));
        assert!(report.contains("| 0.50 |"));
        assert!(report.contains("| 28 (7.0 per order) |"));
        assert!(report.contains("| 4 / 0 |"));
    }
}
