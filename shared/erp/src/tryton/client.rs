//! One REST call to Tryton: the URL, the `X-Tryton-Context` header with the company, the bearer
//! key, and the answer read as JSON or mapped to an [`ErpError`] (through the one HTTP failure
//! mapping in `stockbridge_http`, with Tryton's own error message as the detail).

use serde_json::{json, Value};

use stockbridge_core::ports::ErpError;

use super::wire::{b64, short};
use super::TrytonErp;

/// Wait suggested on a 429 without a usable `Retry-After`.
const DEFAULT_RETRY_AFTER_MS: u64 = 1000;

impl TrytonErp {
    fn context(&self, extra: Option<(&str, Value)>) -> String {
        let mut ctx = serde_json::Map::new();
        ctx.insert("company".into(), json!(self.company));
        if let Some((k, v)) = extra {
            ctx.insert(k.into(), v);
        }
        b64(&Value::Object(ctx))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/rest/model/{}", self.base, path)
    }

    /// `search_read`: `domain` as JSON, `fields` the `f` parameters.
    pub(super) async fn search(
        &self,
        model: &str,
        domain: &Value,
        fields: &[&str],
        extra_ctx: Option<(&str, Value)>,
    ) -> Result<Vec<Value>, ErpError> {
        let mut query: Vec<(&str, String)> = vec![("d", b64(domain))];
        query.extend(fields.iter().map(|f| ("f", (*f).to_string())));
        let req = self
            .client
            .get(self.url(model))
            .query(&query)
            .header("X-Tryton-Context", self.context(extra_ctx));
        match self.send(req, model).await? {
            Value::Array(rows) => Ok(rows),
            other => Err(ErpError::Unavailable(format!(
                "Tryton answered a search on {model} with {} instead of a list",
                short(&other.to_string())
            ))),
        }
    }

    /// `search_read` in a stated `order` (`[["field","ASC"],...]`) of at most `limit` rows:
    /// what the ERP feed pages with.
    pub(super) async fn search_ordered(
        &self,
        model: &str,
        domain: &Value,
        fields: &[&str],
        order: &Value,
        limit: usize,
    ) -> Result<Vec<Value>, ErpError> {
        let mut query: Vec<(&str, String)> = vec![
            ("d", b64(domain)),
            ("o", b64(order)),
            ("s", limit.to_string()),
        ];
        query.extend(fields.iter().map(|f| ("f", (*f).to_string())));
        let req = self
            .client
            .get(self.url(model))
            .query(&query)
            .header("X-Tryton-Context", self.context(None));
        match self.send(req, model).await? {
            Value::Array(rows) => Ok(rows),
            other => Err(ErpError::Unavailable(format!(
                "Tryton answered a search on {model} with {} instead of a list",
                short(&other.to_string())
            ))),
        }
    }

    /// POST to `path` (a create or a button call) with `body`, reading back `fields`.
    pub(super) async fn post(
        &self,
        path: &str,
        body: &Value,
        fields: &[&str],
    ) -> Result<Value, ErpError> {
        self.write(reqwest::Method::POST, path, body, fields).await
    }

    /// PUT to `model/<id>` (a write) with `body`, reading back `fields`.
    pub(super) async fn put(
        &self,
        path: &str,
        body: &Value,
        fields: &[&str],
    ) -> Result<Value, ErpError> {
        self.write(reqwest::Method::PUT, path, body, fields).await
    }

    async fn write(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        fields: &[&str],
    ) -> Result<Value, ErpError> {
        let query: Vec<(&str, &str)> = fields.iter().map(|f| ("f", *f)).collect();
        let req = self
            .client
            .request(method, self.url(path))
            .query(&query)
            .header("X-Tryton-Context", self.context(None))
            .json(body);
        self.send(req, path).await
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value, ErpError> {
        let started = std::time::Instant::now();
        let resp = req
            .bearer_auth(&self.api_key)
            .send()
            .await
            .map_err(|e| transport_error(&self.base, &e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .text()
            .await
            .map_err(|e| transport_error(&self.base, &e))?;
        tracing::debug!(
            target: "stockbridge::tryton",
            call = what,
            status = status.as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "tryton call"
        );
        if status.is_success() {
            if body.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&body).map_err(|e| {
                ErpError::Unavailable(format!(
                    "Tryton answered {what} with a body that is not JSON ({e}): {}",
                    short(&body)
                ))
            });
        }
        Err(status_error(
            status.as_u16(),
            retry_after.as_deref(),
            &body,
            what,
        ))
    }
}

fn transport_error(base: &str, e: &reqwest::Error) -> ErpError {
    stockbridge_http::no_answer(&format!("Tryton at {base}"), e).into()
}

/// Maps a non-2xx answer to what the caller should do (through the one HTTP mapping; a refused
/// key gets a hint of what the key needs).
fn status_error(status: u16, retry_after: Option<&str>, body: &str, what: &str) -> ErpError {
    if matches!(status, 401 | 403) {
        return ErpError::Rejected(format!(
            "ERP refused the API key (HTTP {status} on {what}): check TRYTON_API_KEY is a \
             validated res.user.application key for \"rest\" whose user has the Stock, Stock \
             Force Assignment and Product Administration groups"
        ));
    }
    let detail = if status >= 500 {
        format!(
            "Tryton failed on {what} (HTTP {status}): {}",
            tryton_message(body)
        )
    } else {
        format!(
            "Tryton answered {what} with HTTP {status}: {}",
            tryton_message(body)
        )
    };
    stockbridge_http::failure(status, retry_after, detail, DEFAULT_RETRY_AFTER_MS).into()
}

/// Tryton's JSON `message` (and `description`), else the start of the body.
fn tryton_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            return match v.get("description").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => format!("{m} ({d})"),
                _ => m.to_string(),
            };
        }
    }
    // HTML error pages: keep the text of the first <p>, which names the cause.
    if let (Some(a), Some(b)) = (body.find("<p>"), body.find("</p>")) {
        if a + 3 <= b {
            return short(&body[a + 3..b].replace("&#39;", "'"));
        }
    }
    short(body.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_waits_what_tryton_asks_or_a_default() {
        assert_eq!(
            status_error(429, Some("soon"), "", "x"),
            ErpError::Throttled {
                retry_after_ms: 1000
            }
        );
        assert_eq!(
            status_error(429, Some("2"), "", "x"),
            ErpError::Throttled {
                retry_after_ms: 2000
            }
        );
    }

    #[test]
    fn statuses_map_to_what_to_do() {
        assert!(
            matches!(status_error(401, None, "", "x"), ErpError::Rejected(m) if m.contains("API key"))
        );
        assert!(matches!(
            status_error(503, None, "", "x"),
            ErpError::Unavailable(_)
        ));
        let body = r#"{"status":400,"message":"Bad thing","description":""}"#;
        assert!(
            matches!(status_error(400, None, body, "x"), ErpError::Rejected(m) if m.ends_with("Bad thing"))
        );
        assert!(
            matches!(status_error(500, None, "<html><p>&#39;nosuch&#39;</p>", "x"), ErpError::Unavailable(m) if m.ends_with("'nosuch'"))
        );
    }
}
