//! The Shopify Admin stand-in (`infra/shopify-standin/standin.py`) as a subprocess per test, on
//! a free loopback port. Needs `STOCKBRIDGE_TEST_PYTHON` (the venv's python, with graphql-core):
//! `infra/test.sh` sets it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use stockbridge_shopify_admin::ShopifyGraphql;

pub const TOKEN: &str = "shpat_test_4c1d";
use super::{repo_root, SECRET, SHOP};

// ---------------------------------------------------------------------------------------------
// The stand-in as a subprocess

pub fn python() -> PathBuf {
    let python = std::env::var("STOCKBRIDGE_TEST_PYTHON").expect(
        "STOCKBRIDGE_TEST_PYTHON is not set: run via infra/test.sh (or set it to the venv's python)",
    );
    let path = PathBuf::from(&python);
    // Relative paths are taken from the workspace root when they do not resolve from here
    // (cargo runs the tests in `shared/`).
    if path.is_relative() && !path.exists() {
        repo_root().join(path)
    } else {
        path
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

pub struct Standin {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Options {
    pub bucket: u32,
    pub restore: u32,
    pub webhook_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bucket: 1000,
            restore: 100,
            webhook_url: None,
        }
    }
}

impl Standin {
    pub async fn start(options: Options) -> Standin {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("standin.log");
        let port = free_port();
        let script = repo_root().join("infra/shopify-standin/standin.py");
        let mut command = Command::new(python());
        command
            .arg(&script)
            .args([
                "--port",
                &port.to_string(),
                "--token",
                TOKEN,
                "--shop",
                SHOP,
            ])
            .args(["--webhook-secret", SECRET])
            .args(["--bucket", &options.bucket.to_string()])
            .args(["--restore", &options.restore.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(url) = &options.webhook_url {
            command.args(["--webhook-url", url]);
        }
        let child = command.spawn().expect("start the Shopify stand-in");
        let standin = Standin {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = standin
                .http
                .get(format!("{}/_standin/stats", standin.base))
                .send()
                .await
            {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the stand-in did not start: {}",
                std::fs::read_to_string(&standin.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        standin
    }

    pub fn client(&self) -> ShopifyGraphql {
        ShopifyGraphql::new(&self.base, TOKEN).expect("client")
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("stand-in reachable");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("json")
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("stand-in reachable")
            .json()
            .await
            .expect("json")
    }

    // --- orders: payment, edits, refunds (infra/shopify-standin/README.md, "The day") ---

    /// `POST /_standin/order` with a payment status (`pending`, `authorized`, `partially_paid`,
    /// `paid`: `paid` also sends `orders/paid`), the test flag and `lines` as the README has
    /// them (`{"sku", "quantity"}`, `{"gift_card": true, "quantity"}`, `{"custom": true,
    /// "title", "quantity"}`). Answers `{order, fulfillment_orders, ...}`.
    pub async fn order_with(&self, financial_status: &str, test: bool, lines: Value) -> Value {
        self.post(
            "/_standin/order",
            serde_json::json!({"financial_status": financial_status, "test": test, "lines": lines}),
        )
        .await
    }

    /// A gift card line for [`Standin::order_with`].
    pub fn gift_card_line(quantity: u32) -> Value {
        serde_json::json!({"gift_card": true, "title": "Gift card", "quantity": quantity, "price": "25.00"})
    }

    /// A custom line (a tip, a custom item: no variant, no SKU) for [`Standin::order_with`].
    pub fn custom_line(title: &str, quantity: u32) -> Value {
        serde_json::json!({"custom": true, "title": title, "quantity": quantity})
    }

    /// `POST /_standin/pay`: `financial_status` -> paid; `orders/paid`, `orders/updated`.
    pub async fn pay(&self, order: u64) -> Value {
        self.post("/_standin/pay", serde_json::json!({ "order": order }))
            .await
    }

    /// `POST /_standin/void`: an authorized payment -> voided; `orders/updated`.
    pub async fn void(&self, order: u64) -> Value {
        self.post("/_standin/void", serde_json::json!({ "order": order }))
            .await
    }

    /// `POST /_standin/edit`: the line's new quantity before it ships (fewer units restocked
    /// when `restock`); `orders/updated` and `inventory_levels/update`.
    pub async fn edit_line(&self, order: u64, line: u64, quantity: u32, restock: bool) -> Value {
        self.post(
            "/_standin/edit",
            serde_json::json!({"order": order, "line": line, "quantity": quantity, "restock": restock}),
        )
        .await
    }

    /// `POST /_standin/refund`: fulfilled units of one line refunded, returned to stock when
    /// `restock`; `refunds/create`, `inventory_levels/update`, `orders/updated`.
    pub async fn refund_line(&self, order: u64, line: u64, quantity: u32, restock: bool) -> Value {
        self.post(
            "/_standin/refund",
            serde_json::json!({"order": order, "lines": [{"line": line, "quantity": quantity, "restock": restock}]}),
        )
        .await
    }
}
