//! `drill`: load drills against the local stack (moto and Tryton, on this machine only).
//!
//! `drill erp`: N inventory events over S SKUs with a Zipf-like skew, enqueued at a steady rate
//! into a private queue and table set, consumed by the real consumer (C concurrent pollers with
//! the Lambda event source's semantics) pushing into the real Tryton. Reports ERP writes per
//! event, events per second through the consumer, end-to-end latency (enqueued -> ERP
//! acknowledged) p50/p99, and checks that every SKU's ERP on-hand equals DynamoDB's (nothing lost
//! or doubled). Bounded in count and time.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use rust_decimal::Decimal;
use stockbridge::adapters::dynamodb::{DynamoStore, Tables};
use stockbridge::adapters::sqs::SqsQueue;
use stockbridge::adapters::tryton::TrytonErp;
use stockbridge::consumer::StockConsumer;
use stockbridge::domain::event::{
    EventBody, InventoryEvent, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge::domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp, Version};
use stockbridge::erp_sync::{ErpSync, SyncPolicy};
use stockbridge::local::{poll_once, provision, PollerSettings};
use stockbridge::ports::{Erp, EventQueue};
use stockbridge::telemetry::Metrics;

#[derive(Parser)]
#[command(
    name = "drill",
    about = "Load drills against the local stack (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Consumer and ERP push throughput with a skewed SKU distribution.
    Erp(ErpArgs),
}

#[derive(Parser, Clone)]
struct ErpArgs {
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    #[arg(long, default_value_t = 200)]
    skus: usize,
    /// Zipf exponent: 0 is uniform, 1.1 puts about a fifth of the events on the hottest SKU.
    #[arg(long, default_value_t = 1.1)]
    zipf: f64,
    /// Events enqueued per second (moto takes about 100 SQS calls/s; 10 events per call).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Concurrent consumers (Lambda's MaximumConcurrency).
    #[arg(long, default_value_t = 4)]
    consumers: usize,
    #[arg(long, default_value_t = 100)]
    batch: usize,
    #[arg(long, default_value_t = 1000)]
    window_ms: u64,
    /// Give up after this long.
    #[arg(long, default_value_t = 900)]
    max_seconds: u64,
    /// Write the report (Markdown) here too.
    #[arg(long)]
    out: Option<PathBuf>,
}

const SHOP: &str = "drill.myshopify.com";
const STORE: u64 = 72000000002;
const ITEM_BASE: u64 = 47_000_000_000_000_000;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("drill: {name} is not set; run `infra/local/stack.sh up` and `set -a; . infra/local/.state/local.env; set +a`");
        std::process::exit(2)
    })
}

/// A small deterministic generator (xorshift64*): the drill is reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// CPU seconds this process has used (user + system), from /proc (Linux).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return f64::NAN };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return f64::NAN };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn create_products(base: &str, key: &str, codes: &[String]) -> Result<(), String> {
    use base64::Engine;
    let ctx = base64::engine::general_purpose::URL_SAFE.encode(r#"{"company":1}"#);
    let client = reqwest::Client::new();
    for code in codes {
        let body = serde_json::json!({"name": code, "code": code, "type": "goods", "default_uom": 1, "products": [["create", [{}]]]});
        let r = client
            .post(format!("{base}/rest/model/product.template"))
            .bearer_auth(key)
            .header("X-Tryton-Context", &ctx)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("creating {code}: {}", r.status()));
        }
    }
    Ok(())
}

async fn erp_drill(args: ErpArgs) -> Result<String, Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let endpoint = env("AWS_ENDPOINT_URL");
    let python = std::env::var("STOCKBRIDGE_PYTHON").unwrap_or_else(|_| {
        root.join("infra/local/.venv/bin/python")
            .display()
            .to_string()
    });
    let (tryton_url, tryton_key) = (env("TRYTON_URL"), env("TRYTON_API_KEY"));
    let run = Timestamp::now().as_secs();
    let prefix = format!("drill-{run}");
    eprintln!("drill: provisioning private tables and queue {prefix}-* from template.yaml");
    let stack = provision(
        &root,
        &python,
        &endpoint,
        &prefix,
        &[
            ("QueueVisibilityTimeoutSeconds", "30"),
            ("MaxReceiveCount", "5"),
        ],
    )?;
    let sdk = stockbridge::adapters::aws::sdk_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        Tables {
            stock: stack["STOCK_TABLE"].clone(),
            idempotency: stack["IDEMPOTENCY_TABLE"].clone(),
            skumap: stack["SKUMAP_TABLE"].clone(),
            inbox: stack["INBOX_TABLE"].clone(),
        },
    );
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = SqsQueue::new(sqs.clone(), stack["EVENTS_QUEUE_URL"].clone());

    eprintln!(
        "drill: creating {} products in Tryton and the SKU map",
        args.skus
    );
    let codes: Vec<String> = (0..args.skus)
        .map(|i| format!("DRILL-{run}-{i:04}"))
        .collect();
    create_products(&tryton_url, &tryton_key, &codes).await?;
    let mut items =
        String::from("shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n");
    for (i, code) in codes.iter().enumerate() {
        items.push_str(&format!(
            "{SHOP},{},{},SKU-{i:04},{code},each,each\n",
            ITEM_BASE + i as u64,
            ITEM_BASE + 500_000 + i as u64
        ));
    }
    let locations = format!("shop,location_id,name,erp_warehouse,master,default\n{SHOP},{STORE},Shop floor,STORE,shopify,true\n");
    stockbridge::ops::import_skumap(&store, &queue, Some(&items), Some(&locations), false).await?;

    // The events: Zipf-distributed SKUs, each a new absolute level (a random walk per SKU).
    let weights: Vec<f64> = (1..=args.skus)
        .map(|k| 1.0 / (k as f64).powf(args.zipf))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = Vec::with_capacity(args.skus);
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cumulative.push(acc);
    }
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut level: Vec<i64> = vec![100; args.skus];
    let mut hits: Vec<usize> = vec![0; args.skus];
    let shop = ShopDomain::new(SHOP);
    let mut clock = Timestamp::now().0;
    let mut events = Vec::with_capacity(args.events);
    for n in 0..args.events {
        let u = rng.unit();
        let sku = cumulative.partition_point(|c| *c < u).min(args.skus - 1);
        hits[sku] += 1;
        level[sku] = (level[sku] + (rng.next() % 7) as i64 - 3).max(0);
        clock += 1_000;
        let version = Version::new(Timestamp(clock), Timestamp(clock));
        let webhook_id = format!("drill-{run}-{n}");
        events.push(InventoryEvent {
            schema: SCHEMA_VERSION,
            key: InventoryEvent::delivery_key(&shop, &webhook_id, Part::WHOLE),
            shop: shop.clone(),
            source: Source {
                topic: "inventory_levels/update".into(),
                webhook_id,
                event_id: None,
                api_version: Some("2026-04".into()),
                triggered_at: version.triggered,
                received_at: Timestamp::now(),
            },
            part: Part::WHOLE,
            body: EventBody::Stock {
                changes: vec![StockChange::Available {
                    item: InventoryItemId(ITEM_BASE + sku as u64),
                    location: LocationId(STORE),
                    available: Some(level[sku]),
                    version,
                    connect: false,
                }],
            },
        });
    }
    let hottest = hits.iter().max().copied().unwrap_or(0);

    // Consumers: the real handler behind C pollers with the event source's semantics.
    let metrics = Metrics::silent("stock-consumer");
    let erp = TrytonErp::new(&tryton_url, &tryton_key, 1);
    let consumer = Arc::new(StockConsumer::with_erp(
        store.clone(),
        metrics.clone(),
        ErpSync::new(erp, SyncPolicy::default(), metrics.clone()),
        Some(queue.clone()),
    ));
    let settings = PollerSettings {
        queue_url: stack["EVENTS_QUEUE_URL"].clone(),
        queue_arn: String::new(),
        batch_size: args.batch,
        batching_window: Duration::from_millis(args.window_ms),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for _ in 0..args.consumers {
        let (sqs, settings, consumer, stop) = (
            sqs.clone(),
            settings.clone(),
            consumer.clone(),
            stop_rx.clone(),
        );
        workers.push(tokio::spawn(async move {
            let handler = move |event| {
                let consumer = consumer.clone();
                async move { consumer.handle(event).await }
            };
            while !*stop.borrow() {
                if let Err(e) = poll_once(&sqs, &settings, &handler).await {
                    eprintln!("drill: poll failed: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }));
    }

    // Producer: a steady rate, 10 events per SendMessageBatch, received_at stamped at send.
    eprintln!(
        "drill: sending {} events at {} events/s",
        args.events, args.rate
    );
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_seconds);
    for (i, chunk) in events.chunks_mut(10).enumerate() {
        let due = started + Duration::from_secs_f64((i * 10) as f64 / args.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        for e in chunk.iter_mut() {
            e.source.received_at = Timestamp::now();
        }
        queue.send(chunk).await?;
    }
    let sent_in = started.elapsed();

    // Wait until every event is applied and nothing is owed to the ERP.
    let expected_final: HashMap<u64, i64> = (0..args.skus)
        .filter(|i| hits[*i] > 0)
        .map(|i| (ITEM_BASE + i as u64, level[i]))
        .collect();
    let settled_in = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let levels = match store.levels(&shop).await {
            Ok(levels) => levels,
            Err(e) => {
                eprintln!("drill: progress check failed ({e}); trying again");
                continue;
            }
        };
        let applied = levels
            .iter()
            .filter(|(k, l)| expected_final.get(&k.item.0) == Some(&l.available))
            .count();
        let owed = levels
            .iter()
            .filter(|(_, l)| l.erp_owed != 0 || l.erp_inflight.is_some())
            .count();
        if applied == expected_final.len() && owed == 0 {
            break started.elapsed();
        }
        if Instant::now() > deadline {
            return Err(format!("not settled after {} s: {applied}/{} SKUs at their final level, {owed} owing the ERP", args.max_seconds, expected_final.len()).into());
        }
    };
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let cpu = cpu_seconds() - cpu_before;

    // Nothing lost or doubled: the ERP holds what DynamoDB holds, SKU by SKU.
    let erp = TrytonErp::new(&tryton_url, &tryton_key, 1);
    let mut erp_levels: BTreeMap<String, Decimal> = BTreeMap::new();
    for chunk in codes.chunks(50) {
        erp_levels.extend(erp.levels("STORE", chunk).await?);
    }
    let mut mismatches = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let want = expected_final
            .get(&(ITEM_BASE + i as u64))
            .copied()
            .unwrap_or(0);
        let got = erp_levels.get(code).copied().unwrap_or_default();
        if got != Decimal::from(want) {
            mismatches.push(format!("{code}: ERP {got}, Shopify {want}"));
        }
    }
    let applied = metrics.total("EventsApplied");
    let writes = metrics.total("ErpWrites");
    let lines = metrics.total("ErpLines");
    let mut e2e = metrics.values("EndToEndLatencyMs");
    e2e.sort_by(f64::total_cmp);
    let mut applied_ms = metrics.values("AppliedLatencyMs");
    applied_ms.sort_by(f64::total_cmp);
    let mut erp_ms = metrics.values("ErpCallMs");
    erp_ms.sort_by(f64::total_cmp);
    let secs = settled_in.as_secs_f64();
    let report = format!(
        "## ERP drill: {events} events over {skus} SKUs (Zipf {zipf}), {consumers} consumers\n\n\
         Command: `cargo run --release -p stockbridge --bin drill -- erp --events {events} --skus {skus} --zipf {zipf} --rate {rate} --consumers {consumers}`\n\
         (local stack up: `infra/local/stack.sh up`, then `set -a; . infra/local/.state/local.env; set +a`)\n\n\
         | figure | value |\n|---|---|\n\
         | events sent / applied | {events} / {applied} |\n\
         | hottest SKU's share | {hot:.1} % ({hottest} events) |\n\
         | offered rate | {rate} events/s (all sent in {sent:.1} s) |\n\
         | events per second through the consumer (sent → all settled in the ERP) | {eps:.0} |\n\
         | ERP writes (documents) | {writes} ({wpe:.4} per event) |\n\
         | ERP lines | {lines} ({lpe:.4} per event) |\n\
         | DynamoDB applied latency p50 / p99 | {ap50:.0} ms / {ap99:.0} ms |\n\
         | end-to-end latency (enqueued → ERP acknowledged) p50 / p99 / max | {p50:.0} ms / {p99:.0} ms / {max:.0} ms |\n\
         | one ERP call p50 / p99 | {c50:.0} ms / {c99:.0} ms |\n\
         | SKUs where ERP ≠ DynamoDB | {bad} |\n\
         | drill process CPU per event (consumers, producer and checks together) | {cpu_us:.0} µs |\n\n\
         End-to-end latency is measured per ERP line from the *oldest* event it settles, so it is an \
         upper bound for the events coalesced into it. The local AWS emulator (moto) and SQLite \
         Tryton are the ceilings here, not the consumer: see docs/PERFORMANCE.md.\n",
        events = args.events, skus = args.skus, zipf = args.zipf, consumers = args.consumers, rate = args.rate,
        hot = 100.0 * hottest as f64 / args.events as f64, sent = sent_in.as_secs_f64(),
        eps = args.events as f64 / secs, wpe = writes / args.events as f64, lpe = lines / args.events as f64,
        ap50 = percentile(&applied_ms, 0.5), ap99 = percentile(&applied_ms, 0.99),
        p50 = percentile(&e2e, 0.5), p99 = percentile(&e2e, 0.99), max = e2e.last().copied().unwrap_or(f64::NAN),
        c50 = percentile(&erp_ms, 0.5), c99 = percentile(&erp_ms, 0.99),
        bad = mismatches.len(),
        cpu_us = cpu * 1e6 / args.events as f64,
    );
    if !mismatches.is_empty() {
        eprintln!("drill: MISMATCH: {}", mismatches.join("; "));
    }
    if let Some(path) = &args.out {
        std::fs::write(path, &report)?;
    }
    if !mismatches.is_empty() {
        return Err(format!(
            "{} SKUs differ between the ERP and DynamoDB",
            mismatches.len()
        )
        .into());
    }
    Ok(report)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    stockbridge::telemetry::init_tracing();
    let result = match Cli::parse().command {
        Command::Erp(args) => erp_drill(args).await,
    };
    match result {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("drill: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
