//! `drill flash`: the Admin API points a flash sale costs. A private Shopify stand-in (its own
//! token, its own bucket, its webhooks signed for the drill's shop and sent to the drill's own
//! webhook router on a private queue) is seeded with a few hot items at WH and STORE; then N
//! online orders of 1-2 units are placed through `/_standin/order` at a rate, routed to both
//! locations, and some of their fulfillment orders fulfilled. The real consumers, each with its
//! own `ShopifyGraphql` client against the stand-in (as each Lambda instance has its own), read
//! the fulfillment orders and quantity names the webhooks leave open. Reports the webhook
//! events delivered, the Admin API requests and points (the adapter's `points_spent()` summed
//! over the clients, the stand-in's stats beside it), points per 1,000 events against the shop's
//! budget, and checks that Stockbridge's committed and available per location equal the
//! stand-in's at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stockbridge_aws::dynamodb::DynamoStore;
use stockbridge_core::ports::{
    FulfillmentOrderRead, LevelRead, ShopifyError, ShopifyReads, StockStore, Wanted,
};
use stockbridge_domain::ids::{
    FulfillmentOrderId, InventoryItemId, LocationId, ShopDomain, Timestamp,
};
use stockbridge_domain::stock::{StockKey, StockLevel};
use stockbridge_shopify_admin::ShopifyGraphql;

pub use crate::args::FlashArgs;
use crate::load::Rng;
use crate::measure::Sorted;
use crate::stack::{self, ITEM_BASE, SHOP, STORE, WH};

/// The drill's locations: Shopify id and ERP warehouse.
const LOCATIONS: [(u64, &str); 2] = [(WH, "WH"), (STORE, "STORE")];
/// What each hot SKU holds at the start, per location (WH, STORE).
const START_AVAILABLE: [i64; 2] = [600, 250];

/// A private stand-in process, stopped when dropped.
struct StandIn {
    child: Child,
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl StandIn {
    /// Starts `infra/shopify-standin/standin.py` on a free loopback port, its webhooks for
    /// [`SHOP`] signed with `secret` and sent to `webhook_url`; waits until it answers.
    async fn start(
        args: &FlashArgs,
        run: i64,
        webhook_url: &str,
        secret: &str,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = std::env::var("STOCKBRIDGE_PYTHON").unwrap_or_else(|_| {
            root.join("infra/local/.venv/bin/python")
                .display()
                .to_string()
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let token = format!("shpat_drill_{run}");
        let log_path = std::env::temp_dir().join(format!("drill-flash-standin-{run}.log"));
        let log = std::fs::File::create(&log_path)?;
        eprintln!(
            "drill: starting a private stand-in on 127.0.0.1:{port} (bucket {}, restore {}/s; log {})",
            args.bucket,
            args.restore,
            log_path.display()
        );
        let child = Command::new(&python)
            .arg(root.join("infra/shopify-standin/standin.py"))
            .args([
                "--port",
                &port.to_string(),
                "--token",
                &token,
                "--shop",
                SHOP,
            ])
            .args(["--webhook-url", webhook_url, "--webhook-secret", secret])
            .args(["--bucket", &args.bucket.to_string()])
            .args(["--restore", &args.restore.to_string()])
            .args(["--log-level", "WARNING"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("could not start the stand-in with {python}: {e}"))?;
        let standin = StandIn {
            child,
            base: format!("http://127.0.0.1:{port}"),
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        };
        for _ in 0..100 {
            if standin.get("/_standin/stats").await.is_ok() {
                return Ok(standin);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "the stand-in did not answer within 10 s (see {})",
            log_path.display()
        )
        .into())
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = r.status();
        let body: Value = r.json().await.map_err(|e| format!("GET {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("GET {path}: {status} {body}"));
        }
        Ok(body)
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = r.status();
        let answer: Value = r.json().await.map_err(|e| format!("POST {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("POST {path}: {status} {answer}"));
        }
        Ok(answer)
    }

    async fn stats(&self) -> Result<StandInStats, String> {
        let s = self.get("/_standin/stats").await?;
        let n = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
        Ok(StandInStats {
            graphql_requests: n(&s["graphql_requests"]),
            throttled: n(&s["throttled"]),
            min_available: n(&s["min_available"]),
            queued: n(&s["deliveries"]["queued"]),
            delivered: n(&s["deliveries"]["delivered"]),
            failed: n(&s["deliveries"]["failed"]),
        })
    }

    /// `(item, location) -> (available, committed)` as the stand-in holds them now.
    async fn levels(&self) -> Result<BTreeMap<(u64, u64), (i64, i64)>, String> {
        let state = self.get("/_standin/state").await?;
        let levels = state["levels"]
            .as_array()
            .ok_or("the stand-in's /_standin/state has no `levels` list")?;
        levels
            .iter()
            .map(|l| {
                let int = |name: &str| {
                    l[name]
                        .as_i64()
                        .ok_or_else(|| format!("a stand-in level without an integer `{name}`: {l}"))
                };
                Ok((
                    (int("item_id")? as u64, int("location_id")? as u64),
                    (int("available")?, int("committed")?),
                ))
            })
            .collect()
    }
}

/// What `/_standin/stats` counts (as numbers, for differences).
#[derive(Clone, Copy, Debug)]
struct StandInStats {
    graphql_requests: f64,
    throttled: f64,
    min_available: f64,
    queued: f64,
    delivered: f64,
    failed: f64,
}

/// One consumer's Admin API client, shared with the drill so its points can be read after.
struct SharedReads(Arc<ShopifyGraphql>);

impl ShopifyReads for SharedReads {
    async fn fulfillment_orders(
        &self,
        ids: &[FulfillmentOrderId],
    ) -> Result<Vec<FulfillmentOrderRead>, ShopifyError> {
        self.0.fulfillment_orders(ids).await
    }

    async fn quantities(
        &self,
        pairs: &[(InventoryItemId, LocationId)],
    ) -> Result<Vec<LevelRead>, ShopifyError> {
        self.0.quantities(pairs).await
    }

    async fn open_fulfillment_orders(
        &self,
        location: LocationId,
        cursor: Option<String>,
    ) -> Result<(Vec<FulfillmentOrderRead>, Option<String>), ShopifyError> {
        self.0.open_fulfillment_orders(location, cursor).await
    }
}

fn points_spent(clients: &[Arc<ShopifyGraphql>]) -> f64 {
    clients.iter().map(|c| c.points_spent()).sum()
}

/// The hot SKUs at both locations, announced with `inventory_levels/update`.
async fn seed(standin: &StandIn, skus: usize) -> Result<(), String> {
    let items: Vec<Value> = (0..skus)
        .map(|i| json!({"id": ITEM_BASE + i as u64, "sku": format!("SKU-{i:04}")}))
        .collect();
    let locations = json!([{"id": WH, "name": "Warehouse"}, {"id": STORE, "name": "Shop floor"}]);
    let levels: Vec<Value> = (0..skus)
        .flat_map(|i| {
            LOCATIONS.iter().zip(START_AVAILABLE).map(move |((loc, _), available)| {
                json!({"item": ITEM_BASE + i as u64, "location": loc, "available": available})
            })
        })
        .collect();
    standin
        .post(
            "/_standin/seed",
            &json!({"items": items, "locations": locations, "levels": levels, "notify": true}),
        )
        .await
        .map(|_| ())
}

/// What the sale did.
struct Sale {
    orders: usize,
    units: i64,
    lines: usize,
    fulfilments: usize,
    sent_secs: f64,
}

/// `args.orders` online orders at `args.rate`, each 1-2 lines of 1-2 units on distinct hot SKUs,
/// each line routed to WH (2 in 3) or STORE; one fulfillment order of every
/// `args.fulfil_every`-th order fulfilled right after it.
async fn sale(standin: &StandIn, args: &FlashArgs, started: Instant) -> Result<Sale, String> {
    let mut rng = Rng(0xf1a5_5a1e_0000_0001);
    let (mut units, mut lines, mut fulfilments) = (0i64, 0usize, 0usize);
    for n in 0..args.orders {
        let due = started + Duration::from_secs_f64(n as f64 / args.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let first = (rng.next() % args.skus as u64) as usize;
        let count = if args.skus > 1 && rng.unit() < 0.3 {
            2
        } else {
            1
        };
        let order_lines: Vec<Value> = (0..count)
            .map(|k| {
                let sku = (first + k) % args.skus;
                let quantity = 1 + (rng.next() % 2) as i64;
                let location = if rng.unit() < 2.0 / 3.0 { WH } else { STORE };
                units += quantity;
                json!({"inventory_item_id": ITEM_BASE + sku as u64, "quantity": quantity, "location": location})
            })
            .collect();
        lines += order_lines.len();
        let placed = standin
            .post("/_standin/order", &json!({"lines": order_lines}))
            .await?;
        if args.fulfil_every > 0 && n % args.fulfil_every == args.fulfil_every - 1 {
            let fo = placed["fulfillment_orders"][0]["id"].clone();
            if fo.is_null() {
                return Err(format!("an order without fulfillment orders: {placed}"));
            }
            standin
                .post("/_standin/fulfill", &json!({"fulfillment_order": fo}))
                .await?;
            fulfilments += 1;
        }
    }
    Ok(Sale {
        orders: args.orders,
        units,
        lines,
        fulfilments,
        sent_secs: started.elapsed().as_secs_f64(),
    })
}

/// Waits until the stand-in has delivered (or given up on) every webhook it queued.
async fn wait_delivered(standin: &StandIn, deadline: Instant) -> Result<StandInStats, String> {
    loop {
        let stats = standin.stats().await?;
        if stats.delivered + stats.failed >= stats.queued {
            return Ok(stats);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the stand-in still has {} webhooks to deliver",
                stats.queued - stats.delivered - stats.failed
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The item-locations where Stockbridge differs from the stand-in (available or committed), is
/// unsettled, or owes the ERP, with why.
async fn differences(
    standin: &StandIn,
    store: &DynamoStore,
    skus: usize,
) -> Result<Vec<String>, String> {
    let shopify = standin.levels().await?;
    let shop = ShopDomain::new(SHOP);
    let keys: Vec<StockKey> = (0..skus)
        .flat_map(|i| {
            let shop = shop.clone();
            LOCATIONS.iter().map(move |(loc, _)| StockKey {
                shop: shop.clone(),
                item: InventoryItemId(ITEM_BASE + i as u64),
                location: LocationId(*loc),
            })
        })
        .collect();
    let wanted = Wanted {
        levels: keys.iter().cloned().collect(),
        ..Default::default()
    };
    let book = store.load(&wanted).await.map_err(|e| e.to_string())?.book;
    Ok(keys
        .iter()
        .filter_map(|k| {
            let want = shopify.get(&(k.item.0, k.location.0)).copied();
            why_off(k, want, book.levels.get(k))
        })
        .collect())
}

/// Why Stockbridge's record `got` is not the stand-in's `(available, committed)`, if it is not.
fn why_off(k: &StockKey, want: Option<(i64, i64)>, got: Option<&StockLevel>) -> Option<String> {
    let at = format!("item {} at {}", k.item.0, k.location.0);
    match (want, got) {
        (None, _) => Some(format!("{at}: the stand-in has no level")),
        (Some(_), None) => Some(format!("{at}: Stockbridge has no record")),
        (Some((available, committed)), Some(l)) => {
            if (l.available, l.committed) != (available, committed) {
                Some(format!(
                    "{at}: Stockbridge {}/{} available/committed, stand-in {available}/{committed}",
                    l.available, l.committed
                ))
            } else if l.unsettled_since.is_some() {
                Some(format!("{at}: unsettled"))
            } else if l.erp_owed != 0 || l.erp_inflight.is_some() {
                Some(format!("{at}: owes the ERP {}", l.erp_owed))
            } else {
                None
            }
        }
    }
}

/// Waits until nothing differs (returns an empty list) or `deadline` (returns what differs).
async fn wait_agreed(
    standin: &StandIn,
    store: &DynamoStore,
    skus: usize,
    deadline: Instant,
) -> Result<Vec<String>, String> {
    let mut check = 0u32;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        check = check.wrapping_add(1);
        let off = match differences(standin, store, skus).await {
            Ok(off) => off,
            Err(e) => {
                eprintln!("drill: check failed ({e}); trying again");
                continue;
            }
        };
        if off.is_empty() || Instant::now() > deadline {
            return Ok(off);
        }
        if check % 10 == 0 {
            eprintln!("drill: waiting: {}", off[..off.len().min(3)].join("; "));
        }
    }
}

/// `drill flash`: see the module.
pub async fn drill(args: FlashArgs) -> Result<String, Box<dyn std::error::Error>> {
    args.check()?;
    let setup = stack::setup(args.skus).await?;
    // The second location: WH, Shopify master like STORE.
    let wh = LOCATIONS[0];
    let locations = format!(
        "shop,location_id,name,erp_warehouse,master,default\n{SHOP},{},Warehouse,{},shopify,false\n",
        wh.0, wh.1
    );
    stockbridge_ops::import_skumap(&setup.store, &setup.queue, None, Some(&locations), false)
        .await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let secret = format!("drill-secret-{}", setup.run);
    let (url, _webhook_metrics) =
        crate::webhooks::serve_webhook(&setup.queue, &setup.store, &secret, &stop_rx).await?;
    let standin = StandIn::start(&args, setup.run, &url, &secret).await?;
    let clients: Vec<Arc<ShopifyGraphql>> = (0..args.consumers)
        .map(|_| ShopifyGraphql::new(&standin.base, &standin.token).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let reads = clients.iter().cloned().map(SharedReads).collect();
    let consumers = stack::start_consumers_reading(
        &setup,
        &setup.store,
        (100, Duration::from_millis(1000)),
        reads,
        &stop_rx,
    )?;

    // The shop before the sale: seeded, announced, read and settled; its points not counted.
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    seed(&standin, args.skus).await?;
    wait_delivered(&standin, deadline).await?;
    let off = wait_agreed(&standin, &setup.store, args.skus, deadline).await?;
    if !off.is_empty() {
        return Err(format!("the seeded shop never settled: {}", off.join("; ")).into());
    }
    let (before, points_before) = (standin.stats().await?, points_spent(&clients));
    let sale_from = Timestamp::now().as_secs() as f64;

    eprintln!(
        "drill: flash sale: {} orders at {}/s on {} hot SKUs",
        args.orders, args.rate, args.skus
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_seconds);
    let sale = sale(&standin, &args, started).await?;
    let after = wait_delivered(&standin, deadline).await?;
    let off = wait_agreed(&standin, &setup.store, args.skus, deadline).await?;
    let settled_secs = started.elapsed().as_secs_f64();
    // Let the last scheduled refreshes run out before the points are read.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (end, points) = (
        standin.stats().await?,
        points_spent(&clients) - points_before,
    );
    let metrics = consumers.stop(&stop_tx).await;
    let since = |name: &str| -> Vec<f64> {
        metrics
            .timeline(name)
            .into_iter()
            .filter(|(t, _)| *t >= sale_from)
            .map(|(_, v)| v)
            .collect()
    };
    let report = FlashFigures {
        args: &args,
        sale: &sale,
        events: after.delivered - before.delivered,
        failed: after.failed - before.failed,
        requests: end.graphql_requests - before.graphql_requests,
        throttled: end.throttled - before.throttled,
        min_available: end.min_available,
        points,
        applied_ms: Sorted::new(since("AppliedLatencyMs")),
        settled_secs,
        differing: off.len(),
    }
    .markdown();
    if let Some(path) = &args.out {
        std::fs::write(path, &report)?;
    }
    if !off.is_empty() {
        eprintln!("{report}");
        eprintln!("drill: MISMATCH: {}", off.join("; "));
        return Err(format!("{} item-locations differ from the stand-in", off.len()).into());
    }
    Ok(report)
}

/// What `drill flash` measured.
struct FlashFigures<'a> {
    args: &'a FlashArgs,
    sale: &'a Sale,
    /// Webhooks the stand-in delivered during the sale.
    events: f64,
    failed: f64,
    /// GraphQL requests the stand-in answered during the sale (only the consumers call it).
    requests: f64,
    throttled: f64,
    /// The lowest the stand-in's bucket ever was (seed included).
    min_available: f64,
    /// The adapter's `points_spent()` over the sale, summed over the consumers' clients.
    points: f64,
    applied_ms: Sorted,
    settled_secs: f64,
    differing: usize,
}

impl FlashFigures<'_> {
    fn markdown(&self) -> String {
        let (args, sale) = (self.args, self.sale);
        let per_thousand = 1000.0 * self.points / self.events;
        let per_minute = 60.0 * self.points / self.settled_secs;
        let budget_minute = 60.0 * args.restore as f64;
        let per_order = self.points / sale.orders as f64;
        format!(
            "## Flash-sale drill: {orders} orders at {rate}/s on {skus} hot SKUs at WH and STORE, {consumers} consumers\n\n\
             Command: `infra/local/stack.sh up && set -a && . infra/local/.state/local.env && set +a && \
             cargo run -p stockbridge-drill -- flash --orders {orders} --rate {rate} --skus {skus} --fulfil-every {every} --consumers {consumers} --bucket {bucket} --restore {restore}`\n\n\
             | figure | value |\n|---|---|\n\
             | orders / lines / units / fulfilments | {orders} / {lines} / {units} / {fulfilments} |\n\
             | webhook events delivered by the stand-in (failed) | {events:.0} ({failed:.0}) |\n\
             | Admin API requests (stand-in's count) / throttled | {requests:.0} / {throttled:.0} |\n\
             | Admin API points spent (adapter's `actualQueryCost` sum over {consumers} clients) | {points:.0} |\n\
             | **points per 1,000 events** | **{per_thousand:.0}** |\n\
             | points per order / per request | {per_order:.1} / {per_request:.1} |\n\
             | shop's budget (stand-in: bucket / restore) | {bucket} points / {restore} points/s = {budget_minute:.0} points/min (Shopify Standard restores 100 points/s) |\n\
             | sale used, per minute (first order → all settled in {settled:.1} s) | {per_minute:.0} points/min = {share:.1} % of the budget |\n\
             | at the offered rate, sustained | {sustained:.1} points/s = {sustained_share:.1} % of the restore rate |\n\
             | lowest the bucket went (of {bucket}) | {min_available:.0} |\n\
             | orders sent in / all settled after | {sent:.1} s / {settled:.1} s |\n\
             | webhook received → stock applied p50 / p99 | {a50:.0} / {a99:.0} ms |\n\
             | item-locations where Stockbridge's committed or available ≠ the stand-in's | {differing} |\n",
            orders = sale.orders, rate = args.rate, skus = args.skus, consumers = args.consumers,
            every = args.fulfil_every, bucket = args.bucket, restore = args.restore,
            lines = sale.lines, units = sale.units, fulfilments = sale.fulfilments,
            events = self.events, failed = self.failed, requests = self.requests, throttled = self.throttled,
            points = self.points, per_request = self.points / self.requests,
            settled = self.settled_secs, share = 100.0 * per_minute / budget_minute,
            sustained = per_order * args.rate,
            sustained_share = 100.0 * per_order * args.rate / args.restore as f64,
            min_available = self.min_available, sent = sale.sent_secs,
            a50 = self.applied_ms.p(0.5), a99 = self.applied_ms.p(0.99),
            differing = self.differing,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn key() -> StockKey {
        StockKey {
            shop: ShopDomain::new(SHOP),
            item: InventoryItemId(ITEM_BASE),
            location: LocationId(WH),
        }
    }

    #[test]
    fn a_record_agrees_only_when_equal_settled_and_owing_nothing() {
        let level = StockLevel {
            available: 10,
            committed: 3,
            ..StockLevel::default()
        };
        assert_eq!(why_off(&key(), Some((10, 3)), Some(&level)), None);
        assert!(why_off(&key(), Some((10, 4)), Some(&level))
            .unwrap()
            .contains("Stockbridge 10/3 available/committed, stand-in 10/4"));
        assert!(why_off(&key(), Some((10, 3)), None).is_some());
        assert!(why_off(&key(), None, Some(&level)).is_some());
        let unsettled = StockLevel {
            unsettled_since: Some(Timestamp(1)),
            ..level.clone()
        };
        assert!(why_off(&key(), Some((10, 3)), Some(&unsettled))
            .unwrap()
            .ends_with("unsettled"));
        let owing = StockLevel {
            erp_owed: 2,
            ..level
        };
        assert!(why_off(&key(), Some((10, 3)), Some(&owing)).is_some());
    }

    #[test]
    fn the_report_puts_points_per_thousand_events_beside_the_budget() {
        let args = FlashArgs::try_parse_from(["flash", "--orders", "100", "--rate", "5"]).unwrap();
        let sale = Sale {
            orders: 100,
            units: 150,
            lines: 130,
            fulfilments: 20,
            sent_secs: 20.0,
        };
        let report = FlashFigures {
            args: &args,
            sale: &sale,
            events: 400.0,
            failed: 0.0,
            requests: 100.0,
            throttled: 0.0,
            min_available: 900.0,
            points: 1200.0,
            applied_ms: Sorted::new(vec![100.0, 200.0]),
            settled_secs: 30.0,
            differing: 0,
        }
        .markdown();
        assert!(report.contains("| **points per 1,000 events** | **3000** |"));
        // 1200 points in 30 s = 2400 points/min of 6000.
        assert!(report.contains("2400 points/min = 40.0 % of the budget"));
        // 12 points per order at 5 orders/s.
        assert!(report.contains("60.0 points/s = 60.0 % of the restore rate"));
        assert!(report.contains("-- flash --orders 100 --rate 5 --skus 3"));
    }

    #[test]
    fn flags_that_cannot_run_are_refused() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["flash"];
            argv.extend_from_slice(extra);
            FlashArgs::try_parse_from(argv).unwrap().check()
        };
        assert!(parse(&[]).is_ok());
        assert!(parse(&["--orders", "0"]).is_err());
        assert!(parse(&["--rate", "0"]).is_err());
        assert!(parse(&["--skus", "0"]).is_err());
        assert!(parse(&["--consumers", "0"]).is_err());
    }
}
