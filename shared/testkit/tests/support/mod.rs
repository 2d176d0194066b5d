//! Test harness: a private slice of the local stack per test. Each test provisions its own
//! tables and queues on the moto server from `template.yaml` (through `infra/local/provision.py`,
//! the same path as the local stack), serves the real webhook router on a loopback port, and
//! drives the real consumer through the local event-source poller.
//!
//! Needs `AWS_ENDPOINT_URL` (a running moto) and `STOCKBRIDGE_TEST_PYTHON` (the venv's python):
//! `infra/test.sh` sets both.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::config::ShopSecrets;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::telemetry::Metrics;
use stockbridge_core::webhook::WebhookService;
use stockbridge_domain::ids::ShopDomain;
use stockbridge_lambda::http_api::router;
use stockbridge_lambda::local::{poll_once, PollerSettings};
use tokio::sync::watch;

pub const SHOP: &str = "stockbridge-demo.myshopify.com";
pub const SECRET: &str = "stockbridge-local-secret";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct Stack {
    pub env: HashMap<String, String>,
    pub sdk: aws_config::SdkConfig,
    pub store: DynamoStore,
    pub queue: SqsQueue,
    pub sqs: aws_sdk_sqs::Client,
    pub dlq_url: String,
    pub url: String,
    pub webhook_metrics: Metrics,
    /// The consumer without an ERP, whose reads of Shopify confirm what DynamoDB holds
    /// ([`erp::EchoDynamo`]).
    pub consumer: Arc<
        StockConsumer<
            DynamoStore,
            stockbridge_core::ports::NoErp,
            stockbridge_core::ports::NoQueue,
            erp::EchoDynamo,
        >,
    >,
    pub poller: PollerSettings,
    _shutdown: watch::Sender<bool>,
}

/// Provisions a fresh, private stack and starts the webhook on a loopback port.
pub async fn stack() -> Stack {
    stack_with(|_| {}).await
}

pub async fn stack_with(tweak: impl FnOnce(&mut HashMap<String, String>)) -> Stack {
    stockbridge_lambda::init_tracing();
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run the tests with infra/test.sh (it starts moto)");
    let python = std::env::var("STOCKBRIDGE_TEST_PYTHON")
        .expect("STOCKBRIDGE_TEST_PYTHON is not set: run the tests with infra/test.sh");
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let prefix = format!("it{}-{}", std::process::id(), n);
    let dir = tempfile::tempdir().expect("temp dir");
    let env_file = dir.path().join("stack.env");
    let out = std::process::Command::new(&python)
        .arg(repo_root().join("infra/local/provision.py"))
        .args(["--endpoint", &endpoint, "--prefix", &prefix, "--env-file"])
        .arg(&env_file)
        .args([
            "--param",
            "QueueVisibilityTimeoutSeconds=1",
            "--param",
            "MaxReceiveCount=2",
        ])
        .output()
        .expect("run provision.py");
    assert!(
        out.status.success(),
        "provision.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut env: HashMap<String, String> = std::fs::read_to_string(&env_file)
        .expect("env file")
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    tweak(&mut env);

    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .load()
        .await;
    let tables = Tables {
        stock: env["STOCK_TABLE"].clone(),
        idempotency: env["IDEMPOTENCY_TABLE"].clone(),
        skumap: env["SKUMAP_TABLE"].clone(),
        inbox: env["INBOX_TABLE"].clone(),
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = SqsQueue::new(sqs.clone(), env["EVENTS_QUEUE_URL"].clone());

    let shops = ShopSecrets::parse(&format!("{SHOP}={SECRET},previous-secret")).unwrap();
    let webhook_metrics = Metrics::silent("webhook");
    let service = WebhookService {
        shops,
        queue: queue.clone(),
        inbox: store.clone(),
        max_body_bytes: 64 * 1024,
        metrics: webhook_metrics.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/shopify", listener.local_addr().unwrap());
    let (tx, rx) = watch::channel(false);
    tokio::spawn(stockbridge_lambda::local::serve(
        listener,
        router(Arc::new(service)),
        rx,
    ));

    let arn = sqs
        .get_queue_attributes()
        .queue_url(&env["EVENTS_QUEUE_URL"])
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    let poller = PollerSettings {
        queue_url: env["EVENTS_QUEUE_URL"].clone(),
        queue_arn: arn,
        batch_size: 100,
        batching_window: Duration::from_millis(300),
        wait_seconds: 1,
        // The deployed consumer's function timeout.
        timeout: Duration::from_secs(60),
    };
    Stack {
        dlq_url: env["EVENTS_DLQ_URL"].clone(),
        consumer: Arc::new(
            StockConsumer::new(store.clone(), Metrics::silent("stock-consumer")).with_shopify(
                Some(erp::EchoDynamo::new(
                    store.clone(),
                    stockbridge_domain::ids::ShopDomain::new(SHOP),
                )),
            ),
        ),
        env,
        sdk,
        store,
        queue,
        sqs,
        url,
        webhook_metrics,
        poller,
        _shutdown: tx,
    }
}

impl Stack {
    pub fn shop(&self) -> ShopDomain {
        ShopDomain::new(SHOP)
    }

    /// Imports the sample SKU map (and replays anything parked).
    pub async fn import_sample_map(&self) {
        let items =
            std::fs::read_to_string(repo_root().join("infra/local/catalogue/items.csv")).unwrap();
        let locations =
            std::fs::read_to_string(repo_root().join("infra/local/catalogue/locations.csv"))
                .unwrap();
        let s = stockbridge_ops::import_skumap(
            &self.store,
            &self.queue,
            Some(&items),
            Some(&locations),
            false,
        )
        .await
        .unwrap();
        assert!(s.rejected_items.is_empty() && s.rejected_locations.is_empty());
    }

    /// POSTs a body with Shopify's headers, signed with `secret`.
    pub async fn post(
        &self,
        topic: &str,
        body: &str,
        secret: &str,
        webhook_id: &str,
    ) -> (u16, String) {
        let hmac = stockbridge_shopify::signature::sign(secret.as_bytes(), body.as_bytes());
        let resp = reqwest::Client::new()
            .post(&self.url)
            .header("X-Shopify-Topic", topic)
            .header("X-Shopify-Hmac-Sha256", hmac)
            .header("X-Shopify-Shop-Domain", SHOP)
            .header("X-Shopify-Webhook-Id", webhook_id)
            .header("X-Shopify-API-Version", "2026-04")
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// POSTs a recorded API Gateway v2 event file (body and headers as recorded).
    pub async fn post_event_file(&self, path: &Path) -> (u16, String) {
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut request = reqwest::Client::new()
            .post(&self.url)
            .body(event["body"].as_str().unwrap_or_default().to_string());
        for (k, v) in event["headers"].as_object().unwrap() {
            if !k.eq_ignore_ascii_case("content-length") && !k.eq_ignore_ascii_case("host") {
                request = request.header(k.as_str(), v.as_str().unwrap_or_default());
            }
        }
        let resp = request.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// Runs the consumer through the local event source until the queue is empty.
    pub async fn drain(&self) {
        self.drain_with(&self.consumer).await
    }

    /// The same with another consumer (e.g. one that pushes to an ERP).
    pub async fn drain_with<E, Q, R, O>(
        &self,
        consumer: &Arc<StockConsumer<DynamoStore, E, Q, R, O>>,
    ) where
        E: stockbridge_core::ports::Erp + 'static,
        Q: stockbridge_core::ports::EventQueue + 'static,
        R: stockbridge_core::ports::ShopifyReads + 'static,
        O: stockbridge_core::ports::ErpSales + 'static,
    {
        let consumer = consumer.clone();
        let handler = move |event, deadline| {
            let consumer = consumer.clone();
            async move { stockbridge_lambda::sqs_batch::consume(&consumer, event, Some(deadline)).await }
        };
        let mut idle = 0;
        for _ in 0..600 {
            let cycle = poll_once(&self.sqs, &self.poller, &handler).await.unwrap();
            if cycle.received == 0 {
                if self.depth(&self.poller.queue_url).await == 0 {
                    idle += 1;
                    if idle >= 2 {
                        return;
                    }
                }
            } else {
                idle = 0;
            }
        }
        panic!("queue did not drain");
    }

    /// Messages in a queue, visible or in flight.
    pub async fn depth(&self, url: &str) -> usize {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let a = attrs.attributes().unwrap();
        let get =
            |k: QueueAttributeName| a.get(&k).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        get(QueueAttributeName::ApproximateNumberOfMessages)
            + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            + get(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
    }

    /// Stock as `{ "item@location": (available, committed, on_hand) }`.
    pub async fn stock(&self) -> HashMap<String, (i64, i64, i64)> {
        self.store
            .levels(&self.shop())
            .await
            .unwrap()
            .into_iter()
            .map(|(k, l)| {
                (
                    format!("{}@{}", k.item, k.location),
                    (l.available, l.committed, l.on_hand()),
                )
            })
            .collect()
    }
}

pub fn level_body(item: u64, location: u64, available: i64, updated_at: &str) -> String {
    format!(
        r#"{{"inventory_item_id":{item},"location_id":{location},"available":{available},"updated_at":"{updated_at}","admin_graphql_api_id":"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}"}}"#
    )
}

impl Stack {
    /// One poll cycle of the local event source (for tests that watch redelivery).
    pub async fn drain_once(&self) {
        self.drain_once_with(&self.consumer).await
    }
}

pub mod erp;
pub mod standin;
pub mod tryton_rest;

impl Stack {
    /// One poll cycle with another consumer.
    pub async fn drain_once_with<E, Q, R, O>(
        &self,
        consumer: &Arc<StockConsumer<DynamoStore, E, Q, R, O>>,
    ) where
        E: stockbridge_core::ports::Erp + 'static,
        Q: stockbridge_core::ports::EventQueue + 'static,
        R: stockbridge_core::ports::ShopifyReads + 'static,
        O: stockbridge_core::ports::ErpSales + 'static,
    {
        let consumer = consumer.clone();
        let handler = move |event, deadline| {
            let consumer = consumer.clone();
            async move { stockbridge_lambda::sqs_batch::consume(&consumer, event, Some(deadline)).await }
        };
        poll_once(&self.sqs, &self.poller, &handler).await.unwrap();
    }
}

/// Builds the `stockbridge` binary once (into this workspace's target directory) and returns its
/// path: the test runs the command an operator runs.
pub fn stockbridge_binary() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .current_dir(repo_root())
            .args([
                "build",
                "--quiet",
                "-p",
                "stockbridge-cli",
                "--bin",
                "stockbridge",
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            .output()
            .expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build -p stockbridge-cli failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        profile_dir.join("stockbridge")
    })
}
