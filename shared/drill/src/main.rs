//! `drill`: load drills against the local stack (moto and Tryton, on this machine only).
//!
//! `drill webhooks`: the Black Friday drill. Signed webhooks at a rate, with a topic mix and a
//! skewed catalogue, through a private local stack (webhook router, SQS, consumers, Tryton),
//! checked at the end against the generator's own model; or, with `--url`, against a deployed
//! webhook (https) reporting what the sender sees.
//!
//! `drill reconcile`: the reconciliation comparison at full size, streamed (see `reconcile.rs`).
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

mod reconcile;

use clap::{Parser, Subcommand};
use rust_decimal::Decimal;
use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_push::{ErpPush, PushPolicy};
use stockbridge_core::ports::{Erp, EventQueue};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::event::{
    EventBody, InventoryEvent, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp, Version};
use stockbridge_erp::tryton::TrytonErp;
use stockbridge_lambda::local::{poll_once, PollerSettings};
use stockbridge_testkit::provision;

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
    /// Black Friday drill: signed webhooks at a target rate through every function.
    Webhooks(WebhookArgs),
    /// The reconciliation comparison at full size (pure, streamed): time and peak memory.
    Reconcile(reconcile::ReconcileArgs),
}

#[derive(Parser, Clone)]
struct WebhookArgs {
    /// Webhooks per second.
    #[arg(long, default_value_t = 40.0)]
    rate: f64,
    /// How long to send.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    #[arg(long, default_value_t = 200)]
    skus: usize,
    #[arg(long, default_value_t = 1.1)]
    zipf: f64,
    #[arg(long, default_value_t = 4)]
    consumers: usize,
    /// At most this many requests in flight.
    #[arg(long, default_value_t = 32)]
    in_flight: usize,
    /// Give up waiting for the pipeline to settle after this long.
    #[arg(long, default_value_t = 900)]
    max_seconds: u64,
    /// Where to write report.md and latency.svg.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Send to this deployed webhook URL instead of a private local stack (https, or http on
    /// loopback); the secret comes from DRILL_WEBHOOK_SECRET. Reports what the sender sees.
    #[arg(long)]
    url: Option<String>,
    /// The shop domain the webhooks claim (with --url).
    #[arg(long, default_value = SHOP)]
    shop: String,
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
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
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

/// The real consumer pushing to the drill's Tryton, behind `count` pollers of `batch` messages
/// within `window` on the drill's queue, until `stop`; returns its metrics and the pollers.
fn start_consumers(
    store: &DynamoStore,
    queue: &SqsQueue,
    queue_url: &str,
    (tryton_url, tryton_key): (&str, &str),
    (count, batch, window): (usize, usize, Duration),
    stop: &tokio::sync::watch::Receiver<bool>,
) -> (Metrics, Vec<tokio::task::JoinHandle<()>>) {
    let metrics = Metrics::silent("stock-consumer");
    let consumer = Arc::new(StockConsumer::with_erp(
        store.clone(),
        metrics.clone(),
        ErpPush::new(
            TrytonErp::new(tryton_url, tryton_key, 1).expect("a loopback Tryton URL"),
            PushPolicy::default(),
            metrics.clone(),
        ),
        Some(queue.clone()),
    ));
    let settings = PollerSettings {
        queue_url: queue_url.to_string(),
        queue_arn: String::new(),
        batch_size: batch,
        batching_window: window,
        wait_seconds: 0,
    };
    let workers = spawn_consumers(count, queue.client(), &settings, &consumer, stop);
    (metrics, workers)
}

/// Runs `count` consumers, each a poller with the event source's semantics, until `stop`.
fn spawn_consumers<E: Erp + 'static>(
    count: usize,
    sqs: &aws_sdk_sqs::Client,
    settings: &PollerSettings,
    consumer: &Arc<StockConsumer<DynamoStore, E, SqsQueue>>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count)
        .map(|_| {
            let (sqs, settings, consumer, stop) = (
                sqs.clone(),
                settings.clone(),
                consumer.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let handler = move |event| {
                    let consumer = consumer.clone();
                    async move { stockbridge_lambda::sqs_batch::consume(&consumer, event).await }
                };
                while !*stop.borrow() {
                    if let Err(e) = poll_once(&sqs, &settings, &handler).await {
                        eprintln!("drill: poll failed: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            })
        })
        .collect()
}

/// The drill's stock records, read by key (a scan of a table full of log entries would load the
/// emulator more than the drill itself).
async fn drill_levels(
    store: &DynamoStore,
    shop: &ShopDomain,
    skus: usize,
) -> Result<
    Vec<(
        stockbridge_domain::stock::StockKey,
        stockbridge_domain::stock::StockLevel,
    )>,
    stockbridge_core::ports::PortError,
> {
    use stockbridge_core::ports::StockStore;
    let wanted = stockbridge_core::ports::Wanted {
        levels: (0..skus)
            .map(|i| stockbridge_domain::stock::StockKey {
                shop: shop.clone(),
                item: InventoryItemId(ITEM_BASE + i as u64),
                location: LocationId(STORE),
            })
            .collect(),
        ..Default::default()
    };
    Ok(store.load(&wanted).await?.book.levels.into_iter().collect())
}

/// Waits until `want` of the drill's stock records are right (`wrong` says why a record is not,
/// by SKU index) and none owes the ERP anything; prints what it waits for every 30 s.
async fn wait_until_settled(
    store: &DynamoStore,
    skus: usize,
    deadline: Instant,
    want: usize,
    wrong: impl Fn(usize, &stockbridge_domain::stock::StockLevel) -> Option<String>,
) -> Result<(), String> {
    let shop = ShopDomain::new(SHOP);
    let mut check = 0u32;
    loop {
        check = check.wrapping_add(1);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let levels = match drill_levels(store, &shop, skus).await {
            Ok(levels) => levels,
            Err(e) => {
                eprintln!("drill: progress check failed ({e}); trying again");
                continue;
            }
        };
        let off: Vec<String> = levels
            .iter()
            .filter_map(|(k, l)| wrong((k.item.0 - ITEM_BASE) as usize, l))
            .collect();
        let right = levels.len() - off.len();
        let owed = levels
            .iter()
            .filter(|(_, l)| l.erp_owed != 0 || l.erp_inflight.is_some())
            .count();
        if right == want && owed == 0 {
            return Ok(());
        }
        let waiting = format!("{right}/{want} SKUs right, {owed} owing the ERP");
        if Instant::now() > deadline {
            return Err(format!("not settled: {waiting}"));
        }
        if check % 15 == 0 {
            eprintln!(
                "drill: waiting: {waiting}; {}",
                off[..off.len().min(5)].join("; ")
            );
        }
    }
}

/// Compares the ERP's on-hand at STORE with `expected` per SKU index (`None`: not checked);
/// returns the SKUs that differ.
async fn erp_mismatches(
    tryton_url: &str,
    tryton_key: &str,
    codes: &[String],
    expected: impl Fn(usize) -> Option<i64>,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let erp = TrytonErp::new(tryton_url, tryton_key, 1).expect("a loopback Tryton URL");
    let mut erp_levels: BTreeMap<String, Decimal> = BTreeMap::new();
    for chunk in codes.chunks(50) {
        erp_levels.extend(erp.levels("STORE", chunk).await?);
    }
    Ok(codes
        .iter()
        .enumerate()
        .filter_map(|(sku, code)| {
            let want = expected(sku)?;
            let got = erp_levels.get(code).copied().unwrap_or_default();
            (got != Decimal::from(want)).then(|| format!("{code}: ERP {got}, expected {want}"))
        })
        .collect())
}

/// What every drill needs: private tables and queue, products in Tryton, the SKU map.
struct Setup {
    run: i64,
    store: DynamoStore,
    sqs: aws_sdk_sqs::Client,
    queue: SqsQueue,
    stack: HashMap<String, String>,
    codes: Vec<String>,
    tryton_url: String,
    tryton_key: String,
}

async fn setup(skus: usize) -> Result<Setup, Box<dyn std::error::Error>> {
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
    let sdk = stockbridge_aws::sdk::sdk_config().await;
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
        skus
    );
    let codes: Vec<String> = (0..skus).map(|i| format!("DRILL-{run}-{i:04}")).collect();
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
    stockbridge_core::ops::import_skumap(&store, &queue, Some(&items), Some(&locations), false)
        .await?;

    Ok(Setup {
        run,
        store,
        sqs,
        queue,
        stack,
        codes,
        tryton_url,
        tryton_key,
    })
}

async fn erp_drill(args: ErpArgs) -> Result<String, Box<dyn std::error::Error>> {
    let Setup {
        run,
        store,
        sqs: _,
        queue,
        stack,
        codes,
        tryton_url,
        tryton_key,
    } = setup(args.skus).await?;
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
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (metrics, workers) = start_consumers(
        &store,
        &queue,
        &stack["EVENTS_QUEUE_URL"],
        (&tryton_url, &tryton_key),
        (
            args.consumers,
            args.batch,
            Duration::from_millis(args.window_ms),
        ),
        &stop_rx,
    );

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
        // The local emulator stalls under load: retry, never drop an event.
        let mut tries = 0;
        while let Err(e) = queue.send(chunk).await {
            tries += 1;
            if tries > 10 {
                return Err(format!("could not enqueue after 10 tries: {e}").into());
            }
            tokio::time::sleep(Duration::from_millis(200 * tries)).await;
        }
    }
    let sent_in = started.elapsed();

    // Wait until every event is applied and nothing is owed to the ERP.
    let expected_final: HashMap<u64, i64> = (0..args.skus)
        .filter(|i| hits[*i] > 0)
        .map(|i| (ITEM_BASE + i as u64, level[i]))
        .collect();
    wait_until_settled(
        &store,
        args.skus,
        deadline,
        expected_final.len(),
        |sku, l| {
            let want = expected_final.get(&(ITEM_BASE + sku as u64))?;
            (l.available != *want)
                .then(|| format!("SKU {sku}: DynamoDB {}, final {want}", l.available))
        },
    )
    .await?;
    let settled_in = started.elapsed();
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let cpu = cpu_seconds() - cpu_before;

    // Nothing lost or doubled: the ERP holds what DynamoDB holds, SKU by SKU.
    let mismatches = erp_mismatches(&tryton_url, &tryton_key, &codes, |sku| {
        Some(
            expected_final
                .get(&(ITEM_BASE + sku as u64))
                .copied()
                .unwrap_or(0),
        )
    })
    .await?;
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
         Command: `cargo run --profile drill -p stockbridge --bin drill -- erp --events {events} --skus {skus} --zipf {zipf} --rate {rate} --consumers {consumers}`\n\
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
    stockbridge_lambda::init_tracing();
    let result = match Cli::parse().command {
        Command::Erp(args) => erp_drill(args).await,
        Command::Webhooks(args) => match args.url.clone() {
            Some(url) => remote_drill(args, url).await,
            None => webhook_drill(args).await,
        },
        Command::Reconcile(args) if args.live => reconcile::live(args).await,
        Command::Reconcile(args) => reconcile::run(args),
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

/// Counts the AWS calls a client makes (DynamoDB requests per event).
#[derive(Debug, Clone, Default)]
struct CountCalls(Arc<std::sync::atomic::AtomicU64>);

impl aws_sdk_dynamodb::config::Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_execution(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// What the sender saw.
struct Sent {
    n: usize,
    mix: BTreeMap<&'static str, usize>,
    statuses: BTreeMap<u16, usize>,
    response_ms: Vec<f64>,
}

/// Sends the generator's webhooks to `url` at `args.rate` for `args.seconds`, signed with
/// `secret`, at most `args.in_flight` at a time.
async fn send_webhooks(
    args: &WebhookArgs,
    generator: &mut Generator,
    url: &str,
    secret: &str,
    shop: &str,
    run: i64,
    started: Instant,
) -> Result<Sent, Box<dyn std::error::Error>> {
    let total_events = (args.rate * args.seconds as f64) as usize;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let permits = Arc::new(tokio::sync::Semaphore::new(args.in_flight));
    let mut tasks = Vec::with_capacity(total_events);
    let mut mix = BTreeMap::<&'static str, usize>::new();
    eprintln!(
        "drill: sending {total_events} webhooks at {} /s for {} s",
        args.rate, args.seconds
    );
    let mut n = 0usize;
    while n < total_events {
        let due = started + Duration::from_secs_f64(n as f64 / args.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        for (topic, body) in generator.next_action() {
            *mix.entry(topic).or_default() += 1;
            let hmac = stockbridge_shopify::signature::sign(secret.as_bytes(), body.as_bytes());
            let (client, url, permits) = (client.clone(), url.to_string(), permits.clone());
            let (webhook_id, shop) = (format!("drill-{run}-{n}"), shop.to_string());
            n += 1;
            tasks.push(tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                let t = Instant::now();
                let status = client
                    .post(&url)
                    .header("X-Shopify-Topic", topic)
                    .header("X-Shopify-Hmac-Sha256", hmac)
                    .header("X-Shopify-Shop-Domain", shop)
                    .header("X-Shopify-Webhook-Id", webhook_id)
                    .header("X-Shopify-API-Version", "2026-04")
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (status, t.elapsed().as_secs_f64() * 1000.0)
            }));
        }
    }
    let mut statuses = BTreeMap::<u16, usize>::new();
    let mut response_ms = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (status, ms) = t.await?;
        *statuses.entry(status).or_default() += 1;
        response_ms.push(ms);
    }
    Ok(Sent {
        n,
        mix,
        statuses,
        response_ms,
    })
}

/// `drill webhooks --url`: the same load against a deployed webhook URL (https, or loopback).
/// Only what the sender sees is reported: the deployment's tables and ERP are not read.
async fn remote_drill(
    args: WebhookArgs,
    url: String,
) -> Result<String, Box<dyn std::error::Error>> {
    let parsed = reqwest::Url::parse(&url)?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !loopback {
        return Err("a deployed webhook URL must be https (http only on loopback)".into());
    }
    let secret = std::env::var("DRILL_WEBHOOK_SECRET")
        .map_err(|_| "set DRILL_WEBHOOK_SECRET to the shop's webhook secret (never a flag)")?;
    let run = Timestamp::now().as_secs();
    let mut generator = Generator::new(args.skus, args.zipf, run);
    let started = Instant::now();
    let sent = send_webhooks(
        &args,
        &mut generator,
        &url,
        &secret,
        &args.shop,
        run,
        started,
    )
    .await?;
    let mut ms = sent.response_ms;
    ms.sort_by(f64::total_cmp);
    let accepted = sent.statuses.get(&200).copied().unwrap_or(0);
    let statuses: Vec<String> = sent
        .statuses
        .iter()
        .map(|(s, c)| format!("{s}: {c}"))
        .collect();
    let mix: Vec<String> = sent.mix.iter().map(|(t, c)| format!("{t} {c}")).collect();
    Ok(format!(
        "# Webhook load against {url}\n\n\
         Command: `DRILL_WEBHOOK_SECRET=... cargo run --profile drill -p stockbridge --bin drill -- webhooks --url {url} --shop {shop} --rate {rate} --seconds {secs} --skus {skus}`\n\n\
         | figure | value |\n|---|---|\n\
         | webhooks sent | {n} ({mix}) |\n\
         | answers | {statuses} (accepted {accepted}, other {other}) |\n\
         | response time p50 / p99 / max | {p50:.1} / {p99:.1} / {max:.1} ms |\n\
         | sending took | {took:.1} s |\n\n\
         Only the sender's view: check the deployment's metrics (`EndToEndLatencyMs`, queue age) and \
         `stockbridge stock show` for what was applied. Items the shop's SKU map lacks are parked.\n",
        shop = args.shop, rate = args.rate, secs = args.seconds, skus = args.skus,
        n = sent.n, mix = mix.join(", "), statuses = statuses.join(", "),
        other = sent.n - accepted,
        p50 = percentile(&ms, 0.5), p99 = percentile(&ms, 0.99), max = ms.last().copied().unwrap_or(f64::NAN),
        took = started.elapsed().as_secs_f64(),
    ))
}

/// The load generator: merchant actions on a Zipf-skewed catalogue as Shopify's webhooks, with
/// its own model of Shopify's quantities at the shop floor.
struct Generator {
    skus: usize,
    cumulative: Vec<f64>,
    rng: Rng,
    model: Model,
    clock: i64,
    next_id: u64,
}

impl Generator {
    fn new(skus: usize, zipf: f64, run: i64) -> Self {
        let weights: Vec<f64> = (1..=skus).map(|k| 1.0 / (k as f64).powf(zipf)).collect();
        let total: f64 = weights.iter().sum();
        let mut cumulative = Vec::with_capacity(skus);
        let mut acc = 0.0;
        for w in &weights {
            acc += w / total;
            cumulative.push(acc);
        }
        Generator {
            skus,
            cumulative,
            rng: Rng(0x00b1_ac4f_21da_0001 ^ run as u64),
            model: Model {
                available: vec![0; skus],
                committed: vec![0; skus],
                open: Vec::new(),
                touched: vec![false; skus],
            },
            clock: Timestamp::now().0,
            next_id: 9_000_000_000_000_000_000 + (run as u64 % 1_000_000) * 1_000_000,
        }
    }

    /// One merchant action: one or more webhooks (an order and its level changes).
    fn next_action(&mut self) -> Vec<(&'static str, String)> {
        let mut batch: Vec<(&'static str, String)> = Vec::new();
        let roll = self.rng.next() % 100;
        let (cumulative, skus) = (&self.cumulative, self.skus);
        let pick = |rng: &mut Rng| {
            cumulative
                .partition_point(|c| *c < rng.unit())
                .min(skus - 1)
        };
        self.clock += 1_000_000;
        let at = Timestamp(self.clock).to_rfc3339();
        if roll < 15 && !self.model.open.is_empty() {
            // Fulfil the oldest open order: committed down, on hand down, available unchanged.
            let (id, lines) = self.model.open.remove(0);
            for (_, sku, q) in &lines {
                self.model.committed[*sku] -= q;
            }
            batch.push(("orders/fulfilled", order_body(id, &lines, true, &at)));
        } else if roll < 40 {
            // An order of 1 to 3 lines: committed up, available down (a level change per line).
            self.next_id += 1;
            let id = self.next_id;
            let mut lines = Vec::new();
            for _ in 0..=(self.rng.next() % 3) {
                let sku = pick(&mut self.rng);
                if lines.iter().any(|(_, s, _)| *s == sku) {
                    continue;
                }
                self.next_id += 1;
                let q = 1 + (self.rng.next() % 2) as i64;
                lines.push((self.next_id, sku, q));
            }
            for (_, sku, q) in &lines {
                self.model.committed[*sku] += q;
                self.model.available[*sku] -= q;
                self.model.touched[*sku] = true;
            }
            batch.push(("orders/create", order_body(id, &lines, false, &at)));
            for (_, sku, _) in &lines {
                batch.push((
                    "inventory_levels/update",
                    level_body(*sku, self.model.available[*sku], &at),
                ));
            }
            self.model.open.push((id, lines));
        } else {
            // A receipt or a count: a new absolute level.
            let sku = pick(&mut self.rng);
            self.model.available[sku] =
                (self.model.available[sku] + 5 + (self.rng.next() % 20) as i64).max(0);
            self.model.touched[sku] = true;
            batch.push((
                "inventory_levels/update",
                level_body(sku, self.model.available[sku], &at),
            ));
        }
        batch
    }
}

/// An order line in the generator: (line id, SKU index, quantity).
type OrderLine = (u64, usize, i64);

/// The generator's own model of Shopify's quantities at the shop floor, per SKU.
#[derive(Default, Clone)]
struct Model {
    available: Vec<i64>,
    committed: Vec<i64>,
    open: Vec<(u64, Vec<OrderLine>)>,
    touched: Vec<bool>,
}

fn order_body(id: u64, lines: &[(u64, usize, i64)], fulfilled: bool, at: &str) -> String {
    let lines: Vec<String> = lines
        .iter()
        .map(|(line, sku, q)| {
            let f = if fulfilled { 0 } else { *q };
            format!(
                r#"{{"id":{line},"variant_id":{},"sku":"SKU-{sku:04}","quantity":{q},"fulfillable_quantity":{f},"name":"Item {sku}","price":"19.00"}}"#,
                ITEM_BASE + 500_000 + *sku as u64
            )
        })
        .collect();
    format!(
        r#"{{"id":{id},"email":"shopper@example.com","updated_at":"{at}","cancelled_at":null,"location_id":{STORE},"customer":{{"first_name":"Sam","last_name":"Shopper"}},"billing_address":{{"address1":"1 Main St"}},"line_items":[{}]}}"#,
        lines.join(",")
    )
}

fn level_body(sku: usize, available: i64, at: &str) -> String {
    let item = ITEM_BASE + sku as u64;
    format!(
        r#"{{"inventory_item_id":{item},"location_id":{STORE},"available":{available},"updated_at":"{at}","admin_graphql_api_id":"gid://shopify/InventoryLevel/{STORE}?inventory_item_id={item}"}}"#
    )
}

/// A simple SVG line chart: end-to-end latency of settled ERP lines and queue depth over time.
fn svg_plot(latency: &[(f64, f64)], depth: &[(f64, f64)], title: &str) -> String {
    let (w, h, pad) = (900.0, 360.0, 50.0);
    let max_t = latency.iter().chain(depth).map(|p| p.0).fold(1.0, f64::max);
    let max_l = latency.iter().map(|p| p.1).fold(1.0, f64::max);
    let max_d = depth.iter().map(|p| p.1).fold(1.0, f64::max);
    let x = |t: f64| pad + t / max_t * (w - 2.0 * pad);
    let yl = |v: f64| h - pad - v / max_l * (h - 2.0 * pad);
    let yd = |v: f64| h - pad - v / max_d * (h - 2.0 * pad);
    let dots: String = latency
        .iter()
        .map(|(t, v)| {
            format!(
                r##"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="#1f77b4"/>"##,
                x(*t),
                yl(*v)
            )
        })
        .collect();
    let line: Vec<String> = depth
        .iter()
        .map(|(t, v)| format!("{:.1},{:.1}", x(*t), yd(*v)))
        .collect();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{pad}" y="20" font-size="14">{title}</text>
<line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{b}" stroke="black"/>
<text x="{r}" y="{bl}" text-anchor="end">time since start: {max_t:.0} s</text>
<text x="5" y="{pad}" fill="#1f77b4">{max_l:.0} ms</text>
<text x="{r}" y="{pad}" text-anchor="end" fill="#d62728">queue depth max {max_d:.0}</text>
<text x="{pad}" y="38" fill="#1f77b4">● end-to-end latency per settled ERP line (ms)</text>
<text x="420" y="38" fill="#d62728">— queue depth (messages)</text>
{dots}
<polyline fill="none" stroke="#d62728" stroke-width="1.5" points="{pts}"/>
</svg>
"##,
        b = h - pad,
        r = w - pad,
        bl = h - pad + 30.0,
        pts = line.join(" ")
    )
}

async fn webhook_drill(args: WebhookArgs) -> Result<String, Box<dyn std::error::Error>> {
    use stockbridge_core::config::ShopSecrets;
    use stockbridge_core::webhook::WebhookService;
    use stockbridge_lambda::http_api::router;

    let Setup {
        run,
        store,
        sqs,
        queue,
        stack,
        codes,
        tryton_url,
        tryton_key,
    } = setup(args.skus).await?;
    // DynamoDB calls are counted for the requests-per-event figure.
    let calls = CountCalls::default();
    let sdk = stockbridge_aws::sdk::sdk_config().await;
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    );
    let store = DynamoStore::new(counted, store.tables().clone());
    let secret = format!("drill-secret-{run}");

    // The webhook function, same router as in Lambda, on a loopback port.
    let webhook_metrics = Metrics::silent("webhook");
    let service = WebhookService {
        shops: ShopSecrets::parse(&format!("{SHOP}={secret}"))?,
        queue: queue.clone(),
        inbox: store.clone(),
        max_body_bytes: stockbridge_core::webhook::DEFAULT_MAX_BODY_BYTES,
        metrics: webhook_metrics.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/shopify", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stockbridge_lambda::local::serve(
        listener,
        router(Arc::new(service)),
        stop_rx.clone(),
    ));

    // The stock consumers, pushing to Tryton.
    let (metrics, workers) = start_consumers(
        &store,
        &queue,
        &stack["EVENTS_QUEUE_URL"],
        (&tryton_url, &tryton_key),
        (args.consumers, 100, Duration::from_millis(1000)),
        &stop_rx,
    );

    // Queue depth, once a second.
    let started = Instant::now();
    let depth_log = Arc::new(std::sync::Mutex::new(Vec::<(f64, f64)>::new()));
    let sampler = {
        let (sqs, url, log, stop) = (
            sqs.clone(),
            stack["EVENTS_QUEUE_URL"].clone(),
            depth_log.clone(),
            stop_rx.clone(),
        );
        tokio::spawn(async move {
            use aws_sdk_sqs::types::QueueAttributeName as A;
            while !*stop.borrow() {
                if let Ok(out) = sqs
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(A::All)
                    .send()
                    .await
                {
                    let a = out.attributes().cloned().unwrap_or_default();
                    let n = |k: A| a.get(&k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                    let d = n(A::ApproximateNumberOfMessages)
                        + n(A::ApproximateNumberOfMessagesNotVisible);
                    if let Ok(mut l) = log.lock() {
                        l.push((started.elapsed().as_secs_f64(), d));
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    // The generator: a realistic mix on a Zipf-skewed catalogue, with its own model of Shopify.
    let mut generator = Generator::new(args.skus, args.zipf, run);
    let Sent {
        n,
        mix,
        statuses,
        response_ms,
    } = send_webhooks(&args, &mut generator, &url, &secret, SHOP, run, started).await?;
    let sent_in = started.elapsed().as_secs_f64();
    let model = &generator.model;

    // Settled: every SKU at the model's figures and nothing owed to the ERP.
    let deadline = started + Duration::from_secs(args.seconds + args.max_seconds);
    let want = model.touched.iter().filter(|t| **t).count();
    wait_until_settled(&store, args.skus, deadline, want, |sku, l| {
        let (available, committed) = (model.available[sku], model.committed[sku]);
        ((l.available, l.committed) != (available, committed)).then(|| {
            format!(
                "SKU {sku}: DynamoDB {}/{}, model {available}/{committed}",
                l.available, l.committed
            )
        })
    })
    .await?;
    let settled_in = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let _ = sampler.await;

    // Nothing lost or doubled: DynamoDB and the ERP against the generator's model.
    let wrong = erp_mismatches(&tryton_url, &tryton_key, &codes, |sku| {
        model.touched[sku].then(|| model.available[sku] + model.committed[sku])
    })
    .await?;

    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let response_ms = sorted(response_ms);
    let server_ms = sorted(webhook_metrics.values("WebhookResponseMs"));
    let applied_ms = sorted(metrics.values("AppliedLatencyMs"));
    let e2e_ms = sorted(metrics.values("EndToEndLatencyMs"));
    let events = n as f64;
    let applied = metrics.total("EventsApplied");
    let duplicates = metrics.total("EventsDuplicate");
    let accepted = statuses.get(&200).copied().unwrap_or(0);
    let rejected = n - accepted;
    let dynamo_calls = calls.0.load(std::sync::atomic::Ordering::Relaxed) as f64;
    let erp_docs = metrics.total("ErpWrites");
    let erp_calls = metrics.values("ErpCallMs").len() as f64;
    let depth = depth_log.lock().map(|d| d.clone()).unwrap_or_default();
    let max_depth = depth.iter().map(|d| d.1).fold(0.0, f64::max);
    let mix_text: Vec<String> = mix.iter().map(|(t, c)| format!("{t} {c}")).collect();
    let status_text: Vec<String> = statuses.iter().map(|(s, c)| format!("{s}: {c}")).collect();
    let report = format!(
        "# Black Friday drill: {rate} webhooks/s for {secs} s\n\n\
         Command: `infra/local/stack.sh up && set -a && . infra/local/.state/local.env && set +a && \
         cargo run --profile drill -p stockbridge --bin drill -- webhooks --rate {rate} --seconds {secs} --skus {skus} --consumers {consumers} --out-dir docs/drill`\n\n\
         Everything ran on this machine (2 cores): the webhook router on a loopback port, {consumers} stock consumers \
         with the Lambda event source's semantics, moto for SQS and DynamoDB, Tryton 8.2 on SQLite. \
         Private tables and queue were provisioned from template.yaml for the run.\n\n\
         | figure | value |\n|---|---|\n\
         | webhooks sent | {n} ({mix}) |\n\
         | answers | {statuses} (accepted {accepted}, rejected {rejected}) |\n\
         | events applied / duplicates | {applied} / {duplicates} |\n\
         | webhook response time, client side, p50 / p99 / max | {r50:.1} / {r99:.1} / {rmax:.1} ms |\n\
         | webhook handler time, server side, p50 / p99 | {s50:.2} / {s99:.2} ms |\n\
         | received → DynamoDB applied p50 / p95 / p99 / max | {a50:.0} / {a95:.0} / {a99:.0} / {amax:.0} ms |\n\
         | received → ERP acknowledged (per ERP line, oldest event) p50 / p95 / p99 / max | {e50:.0} / {e95:.0} / {e99:.0} / {emax:.0} ms |\n\
         | queue depth max | {max_depth:.0} messages |\n\
         | sending took / all settled after | {sent_in:.1} s / {settled_in:.1} s |\n\
         | DynamoDB requests per event | {dpe:.2} |\n\
         | ERP documents per event / ERP apply calls per event | {epe:.4} / {cpe:.4} |\n\
         | SKUs where DynamoDB or the ERP differ from the generator's model | {wrong} |\n\n\
         ![latency over time](latency.svg)\n",
        rate = args.rate, secs = args.seconds, skus = args.skus, consumers = args.consumers,
        mix = mix_text.join(", "), statuses = status_text.join(", "),
        r50 = percentile(&response_ms, 0.5), r99 = percentile(&response_ms, 0.99), rmax = response_ms.last().copied().unwrap_or(f64::NAN),
        s50 = percentile(&server_ms, 0.5), s99 = percentile(&server_ms, 0.99),
        a50 = percentile(&applied_ms, 0.5), a95 = percentile(&applied_ms, 0.95), a99 = percentile(&applied_ms, 0.99), amax = applied_ms.last().copied().unwrap_or(f64::NAN),
        e50 = percentile(&e2e_ms, 0.5), e95 = percentile(&e2e_ms, 0.95), e99 = percentile(&e2e_ms, 0.99), emax = e2e_ms.last().copied().unwrap_or(f64::NAN),
        dpe = dynamo_calls / events, epe = erp_docs / events, cpe = erp_calls / events,
        wrong = wrong.len(),
    );
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.md"), &report)?;
        // Latency points: settle times are not recorded per point, so spread them over the run.
        let points: Vec<(f64, f64)> = e2e_ms
            .iter()
            .enumerate()
            .map(|(i, v)| (settled_in * i as f64 / e2e_ms.len().max(1) as f64, *v))
            .collect();
        let _ = points;
        let timed = metrics.timeline("EndToEndLatencyMs");
        let origin = timed.first().map(|p| p.0).unwrap_or(0.0);
        let timed: Vec<(f64, f64)> = timed.iter().map(|(t, v)| (t - origin, *v)).collect();
        std::fs::write(
            dir.join("latency.svg"),
            svg_plot(
                &timed,
                &depth,
                &format!("{} webhooks/s for {} s", args.rate, args.seconds),
            ),
        )?;
    }
    if !wrong.is_empty() {
        eprintln!("drill: MISMATCH: {}", wrong.join("; "));
        return Err(format!("{} SKUs differ from the model", wrong.len()).into());
    }
    Ok(report)
}
