//! ERP test helpers: products with unique codes in the shared Tryton (so tests never collide),
//! a private Tryton that a test may stop and start, and a day of Shopify webhooks.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use serde_json::{json, Value};

static N: AtomicUsize = AtomicUsize::new(0);

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run via infra/test.sh"))
}

/// A code no other test uses.
pub fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{tag}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Creates goods in unit "u" with the given codes in the Tryton at `base`.
pub async fn create_products(base: &str, key: &str, codes: &[String]) {
    create_goods(base, key, codes, json!({})).await;
}

/// Creates salable goods (unit "u", sold in "u") with the given codes: what sales order
/// lines need.
pub async fn create_salable_products(base: &str, key: &str, codes: &[String]) {
    create_goods(base, key, codes, json!({"salable": true, "sale_uom": 1})).await;
}

/// One `product.template` (with its product) per code, unit "u", with `extra` template fields.
async fn create_goods(base: &str, key: &str, codes: &[String], extra: Value) {
    let ctx = base64::engine::general_purpose::URL_SAFE.encode(json!({"company": 1}).to_string());
    let client = reqwest::Client::new();
    for code in codes {
        let mut body = json!({
            "name": format!("test {code}"), "code": code, "type": "goods",
            "default_uom": 1, "products": [["create", [{}]]],
        });
        if let (Some(fields), Some(more)) = (body.as_object_mut(), extra.as_object()) {
            fields.extend(more.clone());
        }
        let r = client
            .post(format!("{base}/rest/model/product.template"))
            .query(&[("f", "products")])
            .bearer_auth(key)
            .header("X-Tryton-Context", &ctx)
            .json(&body)
            .send()
            .await
            .expect("Tryton reachable");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "create product {code}: {status} {text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["products"].as_array().map(Vec::len), Some(1), "{v}");
    }
}

/// A Tryton of this test's own, from the shared test instance's snapshot, on a free port.
pub struct PrivateTryton {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub url: String,
    pub key: String,
}

fn tryton_sh() -> PathBuf {
    super::repo_root().join("infra/erp/tryton.sh")
}

impl PrivateTryton {
    pub async fn start() -> Self {
        let source = PathBuf::from(env("STOCKBRIDGE_TRYTON_STATE"));
        let dir = tempfile::tempdir().unwrap();
        for f in ["trytond.conf", "snapshot.sqlite", "erp.env", "admin.pass"] {
            let from = source.join(f);
            if from.exists() {
                std::fs::copy(&from, dir.path().join(f)).unwrap();
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = PrivateTryton {
            url: format!("http://127.0.0.1:{port}/stockbridge"),
            key: env("TRYTON_API_KEY"),
            dir,
            port,
        };
        t.run("reset");
        t
    }

    pub fn run(&self, command: &str) {
        let out = std::process::Command::new("bash")
            .arg(tryton_sh())
            .arg(command)
            .arg(self.dir.path())
            .env("TRYTON_PORT", self.port.to_string())
            .output()
            .expect("run tryton.sh");
        assert!(
            out.status.success(),
            "tryton.sh {command}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop(&self) {
        self.run("stop");
    }

    pub fn start_again(&self) {
        self.run("start");
    }
}

impl Drop for PrivateTryton {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(tryton_sh())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// The real consumer pushing to `erp` under `policy`, with delayed retries on the stack's queue.
pub fn consumer_with_erp(
    s: &super::Stack,
    erp: stockbridge_erp::tryton::TrytonErp,
    policy: stockbridge_core::erp_push::PushPolicy,
) -> std::sync::Arc<
    stockbridge_core::consumer::StockConsumer<
        stockbridge_aws::dynamodb::DynamoStore,
        stockbridge_erp::tryton::TrytonErp,
        stockbridge_aws::sqs::SqsQueue,
        EchoDynamo,
    >,
> {
    let metrics = stockbridge_core::telemetry::Metrics::silent("stock-consumer");
    std::sync::Arc::new(
        stockbridge_core::consumer::StockConsumer::with_erp(
            s.store.clone(),
            metrics.clone(),
            stockbridge_core::erp_push::ErpPush::new(erp, policy, metrics),
            Some(s.queue.clone()),
        )
        .with_shopify(Some(EchoDynamo::new(
            s.store.clone(),
            stockbridge_domain::ids::ShopDomain::new(super::SHOP),
        ))),
    )
}

/// Reads of Shopify that confirm what DynamoDB holds: these tests describe the shop by its
/// webhooks alone (no unavailable states, each commitment where the webhooks put it).
pub type EchoDynamo = stockbridge_memory::EchoShopify<stockbridge_aws::dynamodb::DynamoStore>;
