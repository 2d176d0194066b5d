//! The webhook function's handler: `POST /webhooks/shopify`, as an axum router that runs unchanged
//! in Lambda (through `lambda_http`) and on a local port.
//!
//! Order of checks, each with its status, reason and metric:
//! 1. body over the limit -> 413 (`body_too_large`);
//! 2. a required header missing -> 400 (`missing_header`);
//! 3. unknown shop or a signature that no active secret of the shop made -> 401 (`unknown_shop`,
//!    `bad_signature`); nothing is kept but a log line and the metric;
//! 4. authentic but unusable (bad JSON, a topic not handled, a payload that cannot be mapped) ->
//!    200 with the reason, the payload (personal data removed) kept in quarantine;
//! 5. normalised events enqueued -> 200. A privacy request -> 200 (nothing personal is kept).
//!
//! A store or queue failure answers 503 so that Shopify delivers again: nothing authentic is lost.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::config::ShopSecrets;
use crate::domain::ids::{ShopDomain, Timestamp};
use crate::ports::{EventQueue, Inbox, QuarantineEntry};
use crate::shopify::normalise::{normalise, Delivery, Normalised, Unusable};
use crate::shopify::redact::redact;
use crate::shopify::signature;
use crate::telemetry::{Metrics, Unit};

pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What the webhook handler needs, built once per process.
pub struct WebhookService<Q, I> {
    pub shops: ShopSecrets,
    pub queue: Q,
    pub inbox: I,
    pub max_body_bytes: usize,
    pub metrics: Metrics,
}

/// The HTTP routes: `POST /webhooks/shopify` and `GET /healthz`.
pub fn router<Q, I>(service: Arc<WebhookService<Q, I>>) -> Router
where
    Q: EventQueue + 'static,
    I: Inbox + 'static,
{
    Router::new()
        .route("/webhooks/shopify", post(receive::<Q, I>))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(service)
}

fn answer(status: StatusCode, outcome: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"status": outcome, "message": message.into()})),
    )
        .into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

async fn receive<Q: EventQueue, I: Inbox>(
    State(service): State<Arc<WebhookService<Q, I>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = std::time::Instant::now();
    let response = handle(&service, &headers, body).await;
    service.metrics.put(
        "WebhookResponseMs",
        started.elapsed().as_secs_f64() * 1000.0,
        Unit::Milliseconds,
        None,
    );
    response
}

async fn handle<Q: EventQueue, I: Inbox>(
    service: &WebhookService<Q, I>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let received_at = Timestamp::now();
    let metrics = &service.metrics;
    let reject = |status: StatusCode, code: &str, message: String| {
        metrics.count("WebhookRejected", Some(code));
        tracing::warn!(
            status = status.as_u16(),
            reason = code,
            "webhook rejected: {message}"
        );
        answer(status, code, message)
    };

    let limit = service.max_body_bytes;
    let declared = header(headers, "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("body is over the {limit}-byte limit"),
        );
    }
    let body = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("body is over the {limit}-byte limit"),
            )
        }
    };

    let mut missing = Vec::new();
    let hmac = header(headers, "x-shopify-hmac-sha256");
    let shop = header(headers, "x-shopify-shop-domain");
    let topic = header(headers, "x-shopify-topic");
    for (name, value) in [
        ("X-Shopify-Hmac-Sha256", hmac),
        ("X-Shopify-Shop-Domain", shop),
        ("X-Shopify-Topic", topic),
    ] {
        if value.is_none() {
            missing.push(name);
        }
    }
    let (Some(hmac), Some(shop), Some(topic)) = (hmac, shop, topic) else {
        return reject(
            StatusCode::BAD_REQUEST,
            "missing_header",
            format!("missing required header(s): {}", missing.join(", ")),
        );
    };

    let shop = ShopDomain::new(shop);
    let Some(secrets) = service.shops.secrets(&shop) else {
        return reject(
            StatusCode::UNAUTHORIZED,
            "unknown_shop",
            "shop is not served here".into(),
        );
    };
    let Some(secret_index) = signature::verify(secrets, &body, hmac) else {
        return reject(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "signature does not match the body".into(),
        );
    };
    if secret_index > 0 {
        metrics.count("WebhookPreviousSecret", None);
        tracing::info!(%shop, "webhook signed with the previous secret; finish the rotation");
    }

    let webhook_id = header(headers, "x-shopify-webhook-id")
        .map(str::to_string)
        .unwrap_or_else(|| format!("sha256-{}", body_digest(&body)));
    let delivery = Delivery {
        shop: &shop,
        topic,
        webhook_id: &webhook_id,
        event_id: header(headers, "x-shopify-event-id"),
        api_version: header(headers, "x-shopify-api-version"),
        triggered_at: header(headers, "x-shopify-triggered-at").and_then(Timestamp::parse),
        received_at,
        body: &body,
    };

    match normalise(&delivery) {
        Ok(Normalised::Events(events)) => {
            if let Err(e) = service.queue.send(&events).await {
                metrics.count("WebhookRetryAsked", Some("queue_unavailable"));
                tracing::error!(%shop, topic, webhook_id, "enqueue failed: {e}");
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "queue_unavailable",
                    "could not enqueue; deliver again",
                );
            }
            metrics.count("WebhookAccepted", Some(topic));
            tracing::info!(%shop, topic, webhook_id, events = events.len(), "webhook accepted");
            (
                StatusCode::OK,
                Json(json!({"status": "accepted", "events": events.len()})),
            )
                .into_response()
        }
        Ok(Normalised::Acknowledge(note)) => {
            metrics.count("WebhookPrivacyAcknowledged", Some(topic));
            tracing::info!(%shop, topic, webhook_id, "{note}");
            answer(StatusCode::OK, "acknowledged", note)
        }
        Err(unusable) => quarantine(service, &delivery, unusable).await,
    }
}

async fn quarantine<Q: EventQueue, I: Inbox>(
    service: &WebhookService<Q, I>,
    d: &Delivery<'_>,
    unusable: Unusable,
) -> Response {
    let (body, redacted) = match serde_json::from_slice::<serde_json::Value>(d.body) {
        Ok(mut value) => {
            redact(&mut value);
            (value.to_string(), true)
        }
        Err(_) => (String::from_utf8_lossy(d.body).into_owned(), false),
    };
    let entry = QuarantineEntry {
        shop: d.shop.clone(),
        topic: d.topic.to_string(),
        webhook_id: d.webhook_id.to_string(),
        event_id: d.event_id.map(str::to_string),
        api_version: d.api_version.map(str::to_string),
        triggered_at: d.triggered_at,
        received_at: d.received_at,
        code: unusable.code().to_string(),
        reason: unusable.to_string(),
        body,
        redacted,
    };
    if let Err(e) = service.inbox.quarantine(&entry).await {
        service
            .metrics
            .count("WebhookRetryAsked", Some("inbox_unavailable"));
        tracing::error!(shop = %d.shop, topic = d.topic, "quarantine failed: {e}");
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "inbox_unavailable",
            "could not keep the payload; deliver again",
        );
    }
    service
        .metrics
        .count("WebhookQuarantined", Some(unusable.code()));
    tracing::warn!(shop = %d.shop, topic = d.topic, webhook_id = d.webhook_id, reason = %unusable, "webhook quarantined");
    answer(StatusCode::OK, "quarantined", unusable.to_string())
}

fn body_digest(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl WebhookService<crate::adapters::sqs::SqsQueue, crate::adapters::dynamodb::DynamoStore> {
    /// Builds the service from the environment the template sets (`EVENTS_QUEUE_URL`,
    /// `INBOX_TABLE`, `MAX_WEBHOOK_BODY_BYTES`, shop secrets: see [`ShopSecrets::load`]).
    pub async fn from_env(
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, crate::adapters::aws::ConfigError> {
        use crate::adapters::aws::{required_env, ConfigError};
        let shops = ShopSecrets::load(sdk).await?;
        let queue = crate::adapters::sqs::SqsQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            required_env("EVENTS_QUEUE_URL")?,
        );
        let inbox_table = required_env("INBOX_TABLE")?;
        let tables = crate::adapters::dynamodb::Tables {
            stock: String::new(),
            idempotency: String::new(),
            skumap: String::new(),
            inbox: inbox_table,
        };
        let inbox =
            crate::adapters::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), tables);
        let max_body_bytes = match std::env::var("MAX_WEBHOOK_BODY_BYTES") {
            Ok(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name: "MAX_WEBHOOK_BODY_BYTES",
                detail: format!("{v:?} is not a number of bytes"),
            })?,
            Err(_) => DEFAULT_MAX_BODY_BYTES,
        };
        tracing::info!(shops = shops.len(), max_body_bytes, "webhook configured");
        Ok(WebhookService {
            shops,
            queue,
            inbox,
            max_body_bytes,
            metrics: Metrics::new("webhook"),
        })
    }
}
