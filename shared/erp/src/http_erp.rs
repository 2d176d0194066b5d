//! A generic HTTP inventory adapter: [`HttpErp`] implements [`Erp`] for ERPs that sit behind
//! their own API rather than Tryton.
//!
//! The contract is `docs/erp-http-api.yaml` (OpenAPI 3.1). In short:
//!
//! - `POST {base}/inventory` with `Authorization: Bearer <token>` and `Idempotency-Key: <key>`,
//!   a JSON body carrying the same key, the warehouse, a reason, a timestamp and the lines
//!   (decimals as strings). 200/201 mean applied; 200 `{"status":"duplicate"}` or 409 mean the
//!   key was already applied, which is success for us (the write is at most once per key).
//! - `GET {base}/inventory?warehouse=WH&sku=A&sku=B` gives on-hand levels.
//! - `GET {base}/incoming?warehouse=WH&sku=A` gives open purchase-order quantities.
//!
//! Errors map onto [`ErpError`]: 429 is [`ErpError::Throttled`] (from `Retry-After`, seconds or
//! HTTP-date, default 1 s); 5xx, connection failures and timeouts are
//! [`ErpError::Unavailable`]; 401, 403, 422 and every other 4xx (and an unexpected redirect) are
//! [`ErpError::Rejected`] with the server's message. A refused write keeps its key: the push
//! sends the same key and body again later and parks it for an operator after repeated
//! refusals, so the contract requires a refusal to apply nothing and not use up the key. A read
//! whose 2xx body does not match the contract is `Unavailable`: reads are safe to retry and an
//! operator sees the detail in the log.
//!
//! The token never appears in `Debug` output or logs. Requests time out after 10 s (connect 2 s)
//! and redirects are not followed, so the bearer token is only ever sent to the configured base.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use stockbridge_core::config::{required_env, ConfigError};
use stockbridge_core::ports::{Erp, ErpError};
use stockbridge_domain::erp_write::{ErpWrite, Incoming};

pub mod sales;

/// Whole-request timeout (connect, send, wait, read the body).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP (and TLS) connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Wait used when a 429 carries no usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER_MS: u64 = 1000;
/// At most this many `sku` parameters per read; longer lists are split into several requests.
pub const MAX_SKUS_PER_READ: usize = 50;

const SERVICE_MESSAGE_MAX: usize = 300;

/// The HTTP inventory ERP client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct HttpErp {
    /// Base URL without a trailing slash, e.g. `https://erp.example.com/api/v1`.
    base: Url,
    /// `Bearer <token>`, marked sensitive.
    auth: HeaderValue,
    client: Client,
}

impl fmt::Debug for HttpErp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpErp")
            .field("base", &self.base.as_str())
            .field("token", &"<redacted>")
            .finish()
    }
}

impl HttpErp {
    /// A client for the ERP at `base` (`https`, e.g. `https://erp.example.com/api/v1`; plain
    /// `http` only on loopback) authenticating with `token`.
    pub fn new(base: &str, token: &str) -> Result<Self, ConfigError> {
        let trimmed = base.trim().trim_end_matches('/');
        let base = stockbridge_http::base_url("ERP_HTTP_URL", trimmed)?;
        if base.cannot_be_a_base() {
            return Err(ConfigError::Invalid {
                name: "ERP_HTTP_URL",
                detail: "must be an https:// URL".into(),
            });
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(ConfigError::Invalid {
                name: "ERP_HTTP_URL",
                detail: "must not carry a query or a fragment".into(),
            });
        }
        let token = token.trim();
        let invalid_token = |detail: &str| ConfigError::Invalid {
            name: "ERP_HTTP_TOKEN",
            detail: detail.into(),
        };
        if token.is_empty() {
            return Err(invalid_token("is empty"));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| invalid_token("contains characters not allowed in a header"))?;
        auth.set_sensitive(true);
        let client = build_client(REQUEST_TIMEOUT, CONNECT_TIMEOUT)?;
        Ok(HttpErp { base, auth, client })
    }

    /// Reads `ERP_HTTP_URL` and `ERP_HTTP_TOKEN`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let base = required_env("ERP_HTTP_URL")?;
        let token = required_env("ERP_HTTP_TOKEN")?;
        Self::new(&base, &token)
    }

    /// The same client with other timeouts (tests, or an ERP known to be slow).
    pub fn with_timeouts(
        mut self,
        request: Duration,
        connect: Duration,
    ) -> Result<Self, ConfigError> {
        self.client = build_client(request, connect)?;
        Ok(self)
    }

    /// `{base}/{path}`, keeping any path prefix of the base.
    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}/{path}",
            self.base.path().trim_end_matches('/')
        ));
        url
    }

    /// Sends one request with the bearer token; only a failure to get an answer is an error here.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response, ErpError> {
        let response = request
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .map_err(|e| transport_error(what, e))?;
        Ok(response)
    }

    /// GET `{base}/{path}?warehouse=..&sku=..`, in chunks of [`MAX_SKUS_PER_READ`].
    async fn read<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        warehouse: &str,
        items: &[String],
    ) -> Result<Vec<T>, ErpError> {
        let mut unique: Vec<&String> = Vec::with_capacity(items.len());
        let mut seen = HashSet::new();
        for item in items {
            if seen.insert(item) {
                unique.push(item);
            }
        }
        let mut out = Vec::new();
        for chunk in unique.chunks(MAX_SKUS_PER_READ) {
            let mut url = self.endpoint(path);
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("warehouse", warehouse);
                for sku in chunk {
                    query.append_pair("sku", sku);
                }
            }
            let what = format!("GET /{path}");
            let response = self.send(self.client.get(url), &what).await?;
            let status = response.status();
            if !status.is_success() {
                let headers = response.headers().clone();
                let body = body_text(response).await;
                return Err(status_error(&what, status, &headers, &body));
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| transport_error(&what, e))?;
            let page: T = serde_json::from_slice(&body).map_err(|e| {
                ErpError::Unavailable(format!(
                    "{what}: HTTP {status} with a body that does not match the contract: {e}"
                ))
            })?;
            out.push(page);
        }
        Ok(out)
    }
}

fn build_client(request: Duration, connect: Duration) -> Result<Client, ConfigError> {
    stockbridge_http::client(connect, request).map_err(|detail| ConfigError::Invalid {
        name: "ERP_HTTP_URL",
        detail,
    })
}

/// The body of `POST /inventory`.
#[derive(Serialize)]
struct WriteBody<'a> {
    idempotency_key: &'a str,
    warehouse: &'a str,
    reason: &'a str,
    timestamp: &'a str,
    lines: Vec<WriteLine<'a>>,
}

#[derive(Serialize)]
struct WriteLine<'a> {
    sku: &'a str,
    location_id: &'a str,
    quantity_change: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_quantity: Option<String>,
}

impl<'a> WriteBody<'a> {
    fn of(write: &'a ErpWrite) -> Self {
        WriteBody {
            idempotency_key: &write.key,
            warehouse: &write.warehouse,
            reason: &write.reason,
            timestamp: &write.as_of,
            lines: write
                .lines
                .iter()
                .map(|l| WriteLine {
                    sku: &l.item,
                    location_id: &write.warehouse,
                    quantity_change: l.change.to_string(),
                    available_quantity: l.target.map(|t| t.to_string()),
                })
                .collect(),
        }
    }
}

#[derive(Deserialize)]
struct WriteAnswer {
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct LevelsPage {
    levels: Vec<LevelRow>,
}

#[derive(Deserialize)]
struct LevelRow {
    sku: String,
    location_id: String,
    on_hand: Decimal,
}

#[derive(Deserialize)]
struct IncomingPage {
    incoming: Vec<IncomingRow>,
}

#[derive(Deserialize)]
struct IncomingRow {
    sku: String,
    quantity: Decimal,
    #[serde(default)]
    expected_date: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

impl Erp for HttpErp {
    async fn apply(&self, write: &ErpWrite) -> Result<(), ErpError> {
        if write.lines.is_empty() {
            tracing::debug!(key = %write.key, "ERP write has no lines; nothing to send");
            return Ok(());
        }
        let key = HeaderValue::from_str(&write.key).map_err(|_| {
            ErpError::Rejected(format!(
                "idempotency key {:?} is not a valid header value",
                write.key
            ))
        })?;
        let what = "POST /inventory";
        let request = self
            .client
            .post(self.endpoint("inventory"))
            .header("Idempotency-Key", key)
            .json(&WriteBody::of(write));
        let response = self.send(request, what).await?;
        let status = response.status();
        if status == StatusCode::CONFLICT {
            tracing::info!(key = %write.key, warehouse = %write.warehouse, "ERP already has this write (409)");
            return Ok(());
        }
        if !status.is_success() {
            let headers = response.headers().clone();
            let err = status_error(what, status, &headers, &body_text(response).await);
            tracing::warn!(key = %write.key, warehouse = %write.warehouse, error = %err, "ERP write failed");
            return Err(err);
        }
        // Applied. The body is informative only: a 2xx is success whatever it says.
        let body = response.bytes().await.unwrap_or_default();
        let duplicate = serde_json::from_slice::<WriteAnswer>(&body)
            .ok()
            .and_then(|a| a.status)
            .is_some_and(|s| s == "duplicate");
        if duplicate {
            tracing::info!(key = %write.key, warehouse = %write.warehouse, "ERP already has this write");
        } else {
            tracing::debug!(key = %write.key, warehouse = %write.warehouse, %status, lines = write.lines.len(), "ERP write applied");
        }
        Ok(())
    }

    async fn levels(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        let mut out = HashMap::new();
        if items.is_empty() {
            return Ok(out);
        }
        let wanted: HashSet<&str> = items.iter().map(String::as_str).collect();
        for page in self
            .read::<LevelsPage>("inventory", warehouse, items)
            .await?
        {
            for row in page.levels {
                if row.location_id != warehouse || !wanted.contains(row.sku.as_str()) {
                    tracing::warn!(sku = %row.sku, location = %row.location_id, warehouse, "ERP returned a level that was not asked for; ignored");
                    continue;
                }
                if out.insert(row.sku.clone(), row.on_hand).is_some() {
                    return Err(ErpError::Unavailable(format!(
                        "GET /inventory: SKU {} listed twice for warehouse {warehouse}",
                        row.sku
                    )));
                }
            }
        }
        Ok(out)
    }

    async fn incoming(&self, warehouse: &str, items: &[String]) -> Result<Vec<Incoming>, ErpError> {
        let mut out = Vec::new();
        if items.is_empty() {
            return Ok(out);
        }
        let wanted: HashSet<&str> = items.iter().map(String::as_str).collect();
        let date = time::macros::format_description!("[year]-[month]-[day]");
        for page in self
            .read::<IncomingPage>("incoming", warehouse, items)
            .await?
        {
            for row in page.incoming {
                if !wanted.contains(row.sku.as_str()) {
                    tracing::warn!(sku = %row.sku, warehouse, "ERP returned incoming stock that was not asked for; ignored");
                    continue;
                }
                if let Some(d) = &row.expected_date {
                    if time::Date::parse(d, date).is_err() {
                        return Err(ErpError::Unavailable(format!(
                            "GET /incoming: expected_date {d:?} of SKU {} is not YYYY-MM-DD",
                            row.sku
                        )));
                    }
                }
                out.push(Incoming {
                    item: row.sku,
                    quantity: row.quantity,
                    expected: row.expected_date,
                });
            }
        }
        Ok(out)
    }
}

/// A failure to get an answer at all: connection refused, DNS, TLS, timeout, broken body.
fn transport_error(what: &str, e: reqwest::Error) -> ErpError {
    stockbridge_http::no_answer(what, &e).into()
}

/// Maps a non-2xx answer (409 on a write is handled by the caller), through the one HTTP
/// mapping.
fn status_error(what: &str, status: StatusCode, headers: &HeaderMap, body: &str) -> ErpError {
    let message = server_message(body);
    let detail = if message.is_empty() {
        format!("{what}: HTTP {status}")
    } else {
        format!("{what}: HTTP {status}: {message}")
    };
    let retry_after = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok());
    stockbridge_http::failure(status.as_u16(), retry_after, detail, DEFAULT_RETRY_AFTER_MS).into()
}

/// The body of an error answer, read best-effort.
async fn body_text(response: reqwest::Response) -> String {
    response.text().await.unwrap_or_default()
}

/// The server's `{"error": "..."}`, else the start of the body, on one line.
fn server_message(body: &str) -> String {
    let text = match serde_json::from_str::<ErrorBody>(body) {
        Ok(e) => e.error,
        Err(_) => body.trim().to_string(),
    };
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(SERVICE_MESSAGE_MAX) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockbridge_domain::erp_write::ErpLine;

    fn dec(s: &str) -> Decimal {
        s.parse().expect("test literal")
    }

    #[test]
    fn status_mapping() {
        let h = HeaderMap::new();
        assert_eq!(
            status_error("x", StatusCode::TOO_MANY_REQUESTS, &h, ""),
            ErpError::Throttled {
                retry_after_ms: DEFAULT_RETRY_AFTER_MS
            }
        );
        assert!(matches!(
            status_error("x", StatusCode::BAD_GATEWAY, &h, "oops"),
            ErpError::Unavailable(m) if m.contains("oops")
        ));
        assert!(matches!(
            status_error("x", StatusCode::UNPROCESSABLE_ENTITY, &h, r#"{"error":"unknown sku X"}"#),
            ErpError::Rejected(m) if m.ends_with("unknown sku X")
        ));
        assert!(matches!(
            status_error("x", StatusCode::UNAUTHORIZED, &h, ""),
            ErpError::Rejected(_)
        ));
        assert!(matches!(
            status_error("x", StatusCode::MOVED_PERMANENTLY, &h, ""),
            ErpError::Rejected(_)
        ));
    }

    #[test]
    fn body_follows_the_contract() {
        let write = ErpWrite {
            key: "sb-WH-1".into(),
            warehouse: "WH".into(),
            reason: "shopify sales".into(),
            as_of: "2026-01-01T00:00:00Z".into(),
            lines: vec![
                ErpLine {
                    item: "TEE-BLK-M".into(),
                    change: dec("-2"),
                    target: Some(dec("98")),
                },
                ErpLine {
                    item: "CAP".into(),
                    change: dec("0.5"),
                    target: None,
                },
            ],
        };
        let json = serde_json::to_value(WriteBody::of(&write)).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "idempotency_key": "sb-WH-1", "warehouse": "WH", "reason": "shopify sales",
                "timestamp": "2026-01-01T00:00:00Z",
                "lines": [
                    {"sku": "TEE-BLK-M", "location_id": "WH", "quantity_change": "-2", "available_quantity": "98"},
                    {"sku": "CAP", "location_id": "WH", "quantity_change": "0.5"}
                ]
            })
        );
    }

    #[test]
    fn config_is_checked_and_debug_hides_the_token() {
        let erp = HttpErp::new("https://erp.example.com/api/v1/", "s3cret").expect("valid");
        let shown = format!("{erp:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            erp.endpoint("inventory").as_str(),
            "https://erp.example.com/api/v1/inventory"
        );
        let root = HttpErp::new("http://127.0.0.1:9", "t").expect("valid");
        assert_eq!(
            root.endpoint("incoming").as_str(),
            "http://127.0.0.1:9/incoming"
        );
        assert!(HttpErp::new("ftp://x", "t").is_err());
        assert!(HttpErp::new("not a url", "t").is_err());
        assert!(HttpErp::new("https://x?a=b", "t").is_err());
        assert!(HttpErp::new("https://x", " ").is_err());
        assert!(HttpErp::new("https://x", "a\nb").is_err());
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let long = "é".repeat(1000);
        let m = server_message(&long);
        assert_eq!(m.chars().count(), SERVICE_MESSAGE_MAX + 1);
    }
}
