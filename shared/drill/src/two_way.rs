//! `drill two-way`: the latency from the ERP's own stock change to Shopify showing it (issue
//! #12, the two-way direction). On a private stack (tables and queues from template.yaml on
//! moto, products of the run's own in a private Tryton 8.2, the Shopify stand-in the script
//! started), N inventory counts are made in Tryton at a steady rate, round-robin over the
//! items at the warehouse (ERP master). In-process: the real ERP poller (`ErpPoller::run`,
//! every `--every-ms`) reads Tryton after its durable cursor and queues the changes, the real
//! ERP sync drains the ERP changes queue continuously (as the Lambda event source would, batch
//! 10 within `--window-ms`) and writes to the stand-in's Admin API, and the stand-in's signed
//! webhooks of those writes come back through the webhook router to the real stock consumer
//! (the echo path, which must tell the ERP nothing).
//!
//! Measured per change, from outside: from the moment the generator's Tryton call returned
//! (the inventory confirmed) to the first read of the stand-in's levels (every `--observe-ms`)
//! showing the new figure at the warehouse; and from inside, the sync's own `ErpToShopifyMs`.
//! Counts the changes applied exactly once (one adjustment under the sync's keys carrying the
//! change's figure), the Admin API points and GraphQL requests per change, and the REST calls
//! the poller and the consumer made to Tryton (through loopback relays that count requests).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::config::ShopSecrets;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_feed::{ErpPoller, PollerSettings as FeedSettings};
use stockbridge_core::erp_push::{ErpPush, PushPolicy};
use stockbridge_core::erp_sync::ErpSync;
use stockbridge_core::ports::Erp;
use stockbridge_core::telemetry::Metrics;
use stockbridge_core::webhook::{WebhookService, DEFAULT_MAX_BODY_BYTES};
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_erp::tryton::TrytonErp;
use stockbridge_lambda::local::{run_poller, PollerSettings};
use stockbridge_memory::MemoryAlerts;
use stockbridge_shopify_admin::ShopifyGraphql;

pub use crate::args::TwoWayArgs;
use crate::measure::Sorted;
use crate::orders::relay::CountedTryton;
use crate::stack::{self, Setup, ITEM_BASE, SHOP, STORE, WH};

mod report;
mod standin;
mod tryton;
use report::TwoWayFigures;
use standin::StandIn;

/// What every item holds at the warehouse, in the ERP and in Shopify, before the changes.
const OPENING: i64 = 1_000;

/// One ERP change of the drill: item index and the figure it counts at the warehouse.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Change {
    item: usize,
    count: i64,
}

/// `changes` counts round-robin over `items`, each 1-3 above the item's last: distinct and
/// rising per item, so "Shopify shows at least this figure" means this change arrived.
fn plan(changes: usize, items: usize) -> Vec<Change> {
    let mut current = vec![OPENING; items];
    (0..changes)
        .map(|n| {
            let item = n % items;
            current[item] += 1 + (n / items % 3) as i64;
            Change {
                item,
                count: current[item],
            }
        })
        .collect()
}

/// When each change was made in Tryton (its call returned) and first seen in Shopify.
#[derive(Default)]
struct Clock {
    made: BTreeMap<usize, Instant>,
    seen: BTreeMap<usize, Instant>,
    /// Changes whose Tryton call failed, with why.
    failed: Vec<String>,
    generated: bool,
}

impl Clock {
    /// Made, not yet seen: `(change index, item, figure)`.
    fn waiting(&self, plan: &[Change]) -> Vec<(usize, usize, i64)> {
        self.made
            .keys()
            .filter(|n| !self.seen.contains_key(*n))
            .map(|n| (*n, plan[*n].item, plan[*n].count))
            .collect()
    }

    fn latencies_ms(&self) -> Vec<f64> {
        self.seen
            .iter()
            .filter_map(|(n, seen)| Some(seen.duration_since(*self.made.get(n)?)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect()
    }
}

/// Makes each change in Tryton at `args.rate` (one after the other: a late call is followed
/// at once by the next due), noting when each call returned.
async fn generate(
    args: &TwoWayArgs,
    plan: &[Change],
    (operator, products, storage): (&tryton::Operator, &[i64], i64),
    clock: &Arc<Mutex<Clock>>,
) -> f64 {
    let started = Instant::now();
    for (n, change) in plan.iter().enumerate() {
        let due = started + Duration::from_secs_f64(n as f64 / args.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let made = operator
            .count(products[change.item], storage, change.count)
            .await;
        if let Ok(mut c) = clock.lock() {
            match made {
                Ok(()) => {
                    c.made.insert(n, Instant::now());
                }
                Err(e) => c.failed.push(format!("change {n}: {e}")),
            }
        }
    }
    let took = started.elapsed().as_secs_f64();
    if let Ok(mut c) = clock.lock() {
        c.generated = true;
    }
    took
}

/// Reads the stand-in's warehouse levels every `every`, noting when each change made is first
/// shown (its item at its figure or above), until every change is seen or `deadline`.
async fn observe(
    standin: &StandIn,
    plan: &[Change],
    clock: &Arc<Mutex<Clock>>,
    every: Duration,
    deadline: Instant,
) -> Result<(), String> {
    let mut reads = 0u64;
    loop {
        tokio::time::sleep(every).await;
        reads += 1;
        let levels = match standin.available_at(WH).await {
            Ok(levels) => levels,
            Err(e) => {
                eprintln!("drill: reading the stand-in: {e}; again");
                continue;
            }
        };
        let now = Instant::now();
        let mut c = clock.lock().map_err(|_| "the drill's clock was poisoned")?;
        for (n, item, count) in c.waiting(plan) {
            if levels.get(&(ITEM_BASE + item as u64)).copied().unwrap_or(0) >= count {
                c.seen.insert(n, now);
            }
        }
        let (made, seen) = (c.made.len(), c.seen.len());
        if c.generated && seen == made {
            return Ok(());
        }
        if now > deadline {
            return Err(format!(
                "{seen} of {made} changes made were seen in Shopify at the deadline"
            ));
        }
        if reads % (20_000 / every.as_millis().max(1) as u64).max(1) == 0 {
            eprintln!("drill: {seen}/{made} changes seen in Shopify");
        }
    }
}

/// The webhook function (the Lambda's router) on `127.0.0.1:port` until `stop`: where the
/// stand-in the script started sends its webhooks.
async fn serve_webhook_on(
    port: u16,
    setup: &Setup,
    secret: &str,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error>> {
    let service = WebhookService {
        shops: ShopSecrets::parse(&format!("{SHOP}={secret}"))?,
        queue: setup.queue.clone(),
        inbox: setup.store.clone(),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        metrics: Metrics::silent("webhook"),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("the webhook router cannot listen on 127.0.0.1:{port}: {e}"))?;
    tokio::spawn(stockbridge_lambda::local::serve(
        listener,
        stockbridge_lambda::http_api::router(Arc::new(service)),
        stop.clone(),
    ));
    Ok(())
}

/// Messages visible or in flight on a queue.
async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| format!("queue depth: {e}"))?;
    let attrs = out.attributes().cloned().unwrap_or_default();
    let n = |a: A| {
        attrs
            .get(&a)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible))
}

/// Waits until the stand-in delivered every webhook it queued and the events queue is empty.
async fn settle(standin: &StandIn, setup: &Setup, deadline: Instant) -> Result<(), String> {
    loop {
        let s = standin.stats().await?;
        if s.failed > 0.0 {
            return Err(format!("{} webhooks refused by the router", s.failed));
        }
        if s.delivered >= s.queued && depth(&setup.sqs, setup.queue_url()).await? == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "not settled: {}/{} webhooks delivered",
                s.delivered, s.queued
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

type Sync = ErpSync<stockbridge_aws::dynamodb::DynamoStore, ShopifyGraphql, MemoryAlerts, SqsQueue>;

/// `drill two-way`: see the module.
pub async fn drill(args: TwoWayArgs) -> Result<String, Box<dyn std::error::Error>> {
    args.check()?;
    let storage: i64 = stack::env("TRYTON_WH_WH_STORAGE_ID")
        .parse()
        .map_err(|_| "TRYTON_WH_WH_STORAGE_ID is not a Tryton location id")?;
    let standin = StandIn::new(&args.standin_url)?;
    standin
        .stats()
        .await
        .map_err(|e| format!("the stand-in at {} does not answer: {e}", args.standin_url))?;
    let setup = stack::setup(args.items).await?;
    // The warehouse follows the ERP (the default location); the shop floor is Shopify's.
    let locations = format!(
        "shop,location_id,name,erp_warehouse,master,default\n{SHOP},{WH},Warehouse,WH,erp,true\n{SHOP},{STORE},Shop floor,STORE,shopify,false\n"
    );
    stockbridge_ops::import_skumap(&setup.store, &setup.queue, None, Some(&locations), false)
        .await?;
    let operator = tryton::Operator::new(&setup.tryton_url, &setup.tryton_key)?;
    let ids = operator.products(&setup.codes).await?;
    let products: Vec<i64> = setup.codes.iter().map(|c| ids[c]).collect();
    let shop = ShopDomain::new(SHOP);
    let (poller_relay, consumer_relay) = (
        CountedTryton::start(&setup.tryton_url).await?,
        CountedTryton::start(&setup.tryton_url).await?,
    );

    // The opening: the same figures in the ERP and in Shopify, the echo of the seed settled.
    stack::tryton(&setup)?
        .apply(&ErpWrite {
            key: format!("two-way-drill-{}-opening", setup.run),
            warehouse: "WH".into(),
            reason: "opening stock".into(),
            as_of: Timestamp::now().to_rfc3339(),
            lines: setup
                .codes
                .iter()
                .map(|code| ErpLine {
                    item: code.clone(),
                    change: Decimal::from(OPENING),
                    target: None,
                })
                .collect(),
        })
        .await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    serve_webhook_on(args.webhook_port, &setup, &args.webhook_secret, &stop_rx).await?;
    let consumer_metrics = Metrics::silent("stock-consumer");
    let consumer = Arc::new(
        StockConsumer::with_erp(
            setup.store.clone(),
            consumer_metrics.clone(),
            ErpPush::new(
                TrytonErp::new(&consumer_relay.url, &setup.tryton_key, 1)?,
                PushPolicy::default(),
                consumer_metrics.clone(),
            ),
            Some(setup.queue.clone()),
        )
        .with_shopify(Some(ShopifyGraphql::new(
            &args.standin_url,
            &args.standin_token,
        )?)),
    );
    let events = PollerSettings {
        queue_url: setup.queue_url().to_string(),
        queue_arn: String::new(),
        batch_size: 100,
        batching_window: Duration::from_millis(1000),
        wait_seconds: 0,
        timeout: Duration::from_secs(60),
    };
    let workers = stack::spawn_consumers(1, setup.queue.client(), &events, &consumer, &stop_rx);
    let items: Vec<(u64, u64, String)> = (0..args.items)
        .map(|i| {
            let item = ITEM_BASE + i as u64;
            (item, item + 500_000, format!("SKU-{i:04}"))
        })
        .collect();
    let locations = [(WH, "Warehouse"), (STORE, "Shop floor")];
    standin.seed(&items, &locations, (WH, OPENING)).await?;
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    settle(&standin, &setup, deadline).await?;

    // The ERP changes queue: the poller's destination and the sync's retries.
    let erp_queue_url = setup
        .stack
        .get("ERP_CHANGES_QUEUE_URL")
        .cloned()
        .ok_or("template.yaml provisioned no ERP_CHANGES_QUEUE_URL")?;
    let erp_changes = SqsQueue::new(setup.sqs.clone(), erp_queue_url.clone());
    let sync: Arc<Sync> = Arc::new(ErpSync {
        shop: shop.clone(),
        store: setup.store.clone(),
        shopify: ShopifyGraphql::new(&args.standin_url, &args.standin_token)?,
        alerts: MemoryAlerts::new(),
        retries: erp_changes.clone(),
        stock_events: setup.queue.clone(),
        metrics: Metrics::silent("erp-sync"),
    });
    let sync_settings = PollerSettings {
        queue_url: erp_queue_url,
        queue_arn: String::new(),
        batch_size: 10,
        batching_window: Duration::from_millis(args.window_ms),
        wait_seconds: 0,
        timeout: Duration::from_secs(60),
    };
    let sync_task = {
        let sync = sync.clone();
        let handler = move |event, _deadline| {
            let sync = sync.clone();
            async move { stockbridge_lambda::sqs_batch::consume_erp_changes(&sync, event).await }
        };
        tokio::spawn(run_poller(
            setup.sqs.clone(),
            sync_settings,
            handler,
            stop_rx.clone(),
        ))
    };
    let poller = Arc::new(ErpPoller {
        feed: TrytonErp::new(&poller_relay.url, &setup.tryton_key, 1)?,
        cursors: setup.store.clone(),
        map: setup.store.clone(),
        queue: erp_changes,
        lock: setup.store.clone(),
        metrics: Metrics::silent("erp-poller"),
        settings: FeedSettings {
            source: "tryton".into(),
            shops: vec![shop.clone()],
            page: 100,
            holder: format!("two-way-drill-{}", setup.run),
            from_start: false,
        },
    });
    // The poller's first start: its cursor after the opening.
    poller.poll_once().await?;
    let every = Duration::from_millis(args.every_ms);
    let poller_task = {
        let (poller, mut stop) = (poller.clone(), stop_rx.clone());
        tokio::spawn(async move {
            while !*stop.borrow() {
                tokio::select! {
                    r = poller.run(Instant::now() + Duration::from_secs(50), every) => {
                        if let Err(e) = r {
                            eprintln!("drill: poller run failed: {e}; again in 2 s");
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        })
    };

    let changes = plan(args.changes, args.items);
    let clock = Arc::new(Mutex::new(Clock::default()));
    let points = |c: &Arc<_>, s: &Arc<Sync>| {
        let consumer: &Arc<StockConsumer<_, TrytonErp, SqsQueue, ShopifyGraphql>> = c;
        let read = consumer.shopify.as_ref().map_or(0.0, |r| r.points_spent());
        (s.shopify.points_spent(), read)
    };
    let (stats_before, points_before) = (standin.stats().await?, points(&consumer, &sync));
    let calls_before = (poller_relay.calls(), consumer_relay.calls());
    eprintln!(
        "drill: {} ERP changes at {}/s over {} items, the poller every {} ms",
        args.changes, args.rate, args.items, args.every_ms
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_seconds);
    let (generated_secs, observed) = tokio::join!(
        generate(&args, &changes, (&operator, &products, storage), &clock),
        observe(
            &standin,
            &changes,
            &clock,
            Duration::from_millis(args.observe_ms),
            deadline
        ),
    );
    let settled_secs = started.elapsed().as_secs_f64();
    let measured_calls = (
        poller_relay.calls() - calls_before.0,
        consumer_relay.calls() - calls_before.1,
    );
    // The echoes of the last writes come back through the consumer: let them, then count.
    let _ = settle(&standin, &setup, Instant::now() + Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (stats_after, points_after) = (standin.stats().await?, points(&consumer, &sync));
    let echo_calls = consumer_relay.calls() - calls_before.1;
    let _ = stop_tx.send(true);
    let _ = poller_task.await;
    let _ = sync_task.await;
    for w in workers {
        let _ = w.await;
    }

    let ours = standin.ours_at(WH).await?;
    let shown = standin.available_at(WH).await?;
    let mut last = vec![OPENING; args.items];
    for c in &changes {
        last[c.item] = c.count;
    }
    let erp = stack::tryton(&setup)?;
    let mut erp_levels = BTreeMap::new();
    for chunk in setup.codes.chunks(50) {
        erp_levels.extend(erp.levels("WH", chunk).await?);
    }
    let off: Vec<String> = (0..args.items)
        .filter_map(|i| {
            let (want, code) = (last[i], &setup.codes[i]);
            let shopify = shown.get(&(ITEM_BASE + i as u64)).copied().unwrap_or(0);
            let in_erp = erp_levels.get(code).copied().unwrap_or_default();
            (shopify != want || in_erp != Decimal::from(want))
                .then(|| format!("{code}: Shopify {shopify}, ERP {in_erp}, counted {want}"))
        })
        .collect();
    let applied = report::applied(&changes, &ours, ITEM_BASE);
    let (latencies, failed) = match clock.lock() {
        Ok(c) => (c.latencies_ms(), c.failed.clone()),
        Err(_) => return Err("the drill's clock was poisoned".into()),
    };
    let inside = sync.metrics.values("ErpToShopifyMs");
    // Every poll of the run, the first start's included (one poll among many).
    let polls = poller.metrics.values("ErpPollMs");
    let figures = TwoWayFigures {
        args: &args,
        counts: (latencies.len(), inside.len()),
        erp_to_seen: Sorted::new(latencies),
        erp_to_shopify: Sorted::new(inside),
        polls: (polls.len(), Sorted::new(polls)),
        generated_secs,
        settled_secs,
        applied,
        graphql_requests: stats_after.graphql_requests - stats_before.graphql_requests,
        throttled: stats_after.throttled - stats_before.throttled,
        points: (
            points_after.0 - points_before.0,
            points_after.1 - points_before.1,
        ),
        poller_calls: measured_calls.0,
        echo_calls,
        failed: failed.len(),
        off: off.len(),
    };
    let markdown = figures.markdown();
    if let Some(path) = &args.out {
        std::fs::write(path, &markdown)?;
    }
    observed?;
    if !failed.is_empty() || !off.is_empty() || applied.doubled > 0 || echo_calls > 0 {
        eprintln!("{markdown}");
        let mut why = failed;
        why.extend(off);
        return Err(format!(
            "the drill failed: {} doubled, {echo_calls} Tryton calls on the echo path; {}",
            applied.doubled,
            why[..why.len().min(10)].join("; ")
        )
        .into());
    }
    Ok(markdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_rises_per_item_round_robin() {
        let p = plan(9, 3);
        assert_eq!(
            p.iter().map(|c| c.item).collect::<Vec<_>>(),
            [0, 1, 2, 0, 1, 2, 0, 1, 2]
        );
        for item in 0..3 {
            let counts: Vec<i64> = p
                .iter()
                .filter(|c| c.item == item)
                .map(|c| c.count)
                .collect();
            assert!(counts.windows(2).all(|w| w[1] > w[0]), "{counts:?}");
            assert!(counts[0] > OPENING);
        }
    }

    #[test]
    fn latency_runs_from_made_to_seen_and_only_unseen_changes_wait() {
        let p = plan(2, 2);
        let t = Instant::now();
        let mut clock = Clock::default();
        clock.made.insert(0, t);
        clock.made.insert(1, t);
        clock.seen.insert(0, t + Duration::from_millis(1200));
        assert_eq!(clock.waiting(&p), vec![(1, 1, p[1].count)]);
        assert_eq!(clock.latencies_ms(), vec![1200.0]);
    }
}
