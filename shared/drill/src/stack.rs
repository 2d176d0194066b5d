//! The drill's private stack on the local services: tables and queue provisioned from
//! template.yaml under a run prefix, products in Tryton with their SKU map, the real consumers
//! polling the queue, and the checks that the stock has settled and the ERP agrees.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_push::{ErpPush, PushPolicy};
use stockbridge_core::ports::{Erp, PortError, StockStore, Wanted};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp};
use stockbridge_domain::stock::{StockKey, StockLevel};
use stockbridge_erp::tryton::TrytonErp;
use stockbridge_lambda::local::{poll_once, PollerSettings};
use stockbridge_testkit::provision;

/// The shop every local drill plays.
pub const SHOP: &str = "drill.myshopify.com";
/// The drill's one location (Shopify location id; `STORE` in the ERP).
pub const STORE: u64 = 72000000002;
/// The warehouse a multi-location drill adds (Shopify location id; `WH` in the ERP; the
/// stand-in's primary location, being the lower id).
pub const WH: u64 = 72000000001;
/// The inventory item id of SKU index 0; SKU `i` is `ITEM_BASE + i`.
pub const ITEM_BASE: u64 = 47_000_000_000_000_000;

/// A variable the local stack sets; exits with 2 and how to set it if it is missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("drill: {name} is not set; run `infra/local/stack.sh up` and `set -a; . infra/local/.state/local.env; set +a`");
        std::process::exit(2)
    })
}

/// What every drill needs: private tables and queue, products in Tryton, the SKU map.
pub struct Setup {
    pub run: i64,
    pub store: DynamoStore,
    pub sqs: aws_sdk_sqs::Client,
    pub queue: SqsQueue,
    pub stack: HashMap<String, String>,
    pub codes: Vec<String>,
    pub tryton_url: String,
    pub tryton_key: String,
}

impl Setup {
    /// The private events queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.stack["EVENTS_QUEUE_URL"]
    }
}

/// Provisions a private stack for this run and maps `skus` new Tryton products at [`STORE`].
pub async fn setup(skus: usize) -> Result<Setup, Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
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
    let (items, locations) = skumap_csv(&codes);
    stockbridge_ops::import_skumap(&store, &queue, Some(&items), Some(&locations), false).await?;

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

/// One Tryton product (template with one variant) per code.
async fn create_products(base: &str, key: &str, codes: &[String]) -> Result<(), String> {
    use base64::Engine;
    let ctx = base64::engine::general_purpose::URL_SAFE.encode(r#"{"company":1}"#);
    let client = reqwest::Client::new();
    for code in codes {
        let body = serde_json::json!({"name": code, "code": code, "type": "goods", "default_uom": 1, "salable": true, "sale_uom": 1, "products": [["create", [{}]]]});
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

/// The SKU map import files: SKU `i` is item `ITEM_BASE + i` and ERP item `codes[i]`, at
/// [`STORE`], Shopify master.
fn skumap_csv(codes: &[String]) -> (String, String) {
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
    (items, locations)
}

/// The drill's Tryton as the consumer and the checks see it.
pub fn tryton(setup: &Setup) -> Result<TrytonErp, Box<dyn std::error::Error>> {
    Ok(TrytonErp::new(&setup.tryton_url, &setup.tryton_key, 1)?)
}

/// The consumers [`start_consumers`] runs, with their metrics.
pub struct Consumers {
    metrics: Metrics,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Consumers {
    /// Tells everything watching `stop` to stop, waits for the consumers, returns their
    /// metrics.
    pub async fn stop(self, stop: &tokio::sync::watch::Sender<bool>) -> Metrics {
        let _ = stop.send(true);
        for w in self.workers {
            let _ = w.await;
        }
        self.metrics
    }
}

/// The real consumer on `store` pushing to the drill's Tryton, behind `count` pollers of
/// `batch` messages within `window` on the drill's queue, until `stop`.
pub fn start_consumers(
    setup: &Setup,
    store: &DynamoStore,
    (count, batch, window): (usize, usize, Duration),
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<Consumers, Box<dyn std::error::Error>> {
    let metrics = Metrics::silent("stock-consumer");
    let consumer = Arc::new(
        StockConsumer::with_erp(
            store.clone(),
            metrics.clone(),
            ErpPush::new(tryton(setup)?, PushPolicy::default(), metrics.clone()),
            Some(setup.queue.clone()),
        )
        // The drill's shop exists only as its webhooks (no Shopify behind them): reads of it
        // confirm what DynamoDB holds, as a shop with no unavailable states would answer.
        .with_shopify(Some(stockbridge_memory::EchoShopify::new(
            store.clone(),
            stockbridge_domain::ids::ShopDomain::new(SHOP),
        ))),
    );
    let settings = PollerSettings {
        queue_url: setup.queue_url().to_string(),
        queue_arn: String::new(),
        batch_size: batch,
        batching_window: window,
        wait_seconds: 0,
        // The deployed consumer's function timeout.
        timeout: Duration::from_secs(60),
    };
    let workers = spawn_consumers(count, setup.queue.client(), &settings, &consumer, stop);
    Ok(Consumers { metrics, workers })
}

/// One real consumer per `reads` (as each concurrent Lambda instance has its own Admin API
/// client), on `store` pushing to the drill's Tryton, each behind one poller of `batch`
/// messages within `window` on the drill's queue, until `stop`.
pub fn start_consumers_reading<R: stockbridge_core::ports::ShopifyReads + 'static>(
    setup: &Setup,
    store: &DynamoStore,
    (batch, window): (usize, Duration),
    reads: Vec<R>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<Consumers, Box<dyn std::error::Error>> {
    let metrics = Metrics::silent("stock-consumer");
    let settings = PollerSettings {
        queue_url: setup.queue_url().to_string(),
        queue_arn: String::new(),
        batch_size: batch,
        batching_window: window,
        wait_seconds: 0,
        timeout: Duration::from_secs(60),
    };
    let mut workers = Vec::with_capacity(reads.len());
    for read in reads {
        let consumer = Arc::new(
            StockConsumer::with_erp(
                store.clone(),
                metrics.clone(),
                ErpPush::new(tryton(setup)?, PushPolicy::default(), metrics.clone()),
                Some(setup.queue.clone()),
            )
            .with_shopify(Some(read)),
        );
        workers.extend(spawn_consumers(
            1,
            setup.queue.client(),
            &settings,
            &consumer,
            stop,
        ));
    }
    Ok(Consumers { metrics, workers })
}

/// Runs `count` consumers, each a poller with the event source's semantics, until `stop`.
pub(crate) fn spawn_consumers<
    E: Erp + 'static,
    R: stockbridge_core::ports::ShopifyReads + 'static,
    O: stockbridge_core::ports::ErpSales + 'static,
>(
    count: usize,
    sqs: &aws_sdk_sqs::Client,
    settings: &PollerSettings,
    consumer: &Arc<StockConsumer<DynamoStore, E, SqsQueue, R, O>>,
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
                let handler = move |event, deadline| {
                    let consumer = consumer.clone();
                    async move {
                        stockbridge_lambda::sqs_batch::consume(&consumer, event, Some(deadline))
                            .await
                    }
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
) -> Result<Vec<(StockKey, StockLevel)>, PortError> {
    let wanted = Wanted {
        levels: (0..skus)
            .map(|i| StockKey {
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
pub async fn wait_until_settled(
    store: &DynamoStore,
    skus: usize,
    deadline: Instant,
    want: usize,
    wrong: impl Fn(usize, &StockLevel) -> Option<String>,
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
pub async fn erp_mismatches(
    setup: &Setup,
    expected: impl Fn(usize) -> Option<i64>,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let erp = tryton(setup)?;
    let mut erp_levels: BTreeMap<String, Decimal> = BTreeMap::new();
    for chunk in setup.codes.chunks(50) {
        erp_levels.extend(erp.levels("STORE", chunk).await?);
    }
    Ok(setup
        .codes
        .iter()
        .enumerate()
        .filter_map(|(sku, code)| {
            let want = expected(sku)?;
            let got = erp_levels.get(code).copied().unwrap_or_default();
            (got != Decimal::from(want)).then(|| format!("{code}: ERP {got}, expected {want}"))
        })
        .collect())
}
