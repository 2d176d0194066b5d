//! The webhook intake: one Shopify delivery (headers and raw body, as the HTTP front door in
//! `stockbridge-lambda` received it) in, an [`Answer`] (status and JSON body) out.
//!
//! Order of checks, each with its status, reason and metric (`WebhookRejected` by reason):
//! 1. body over the limit -> 413 (`body_too_large`);
//! 2. a required header missing or blank -> 400 (`missing_header`); one of Shopify's headers
//!    given twice -> 400 (`duplicate_header`: the signature covers the body only, so two topics
//!    or two ids cannot be told apart);
//! 3. unknown shop or a signature that no active secret of the shop made -> 401 (`unknown_shop`,
//!    `bad_signature`); nothing is kept but a log line and the metric;
//! 4. authentic but unusable (bad JSON or encoding, a topic not handled, a payload that cannot
//!    be mapped, a quantity or id out of bounds: `Unusable::code`) -> 200 with the reason, the
//!    payload kept in quarantine (`WebhookQuarantined` by reason): redacted to what replay needs
//!    (`stockbridge_shopify::redact`), or as it came when it is not JSON; a body too large for
//!    an inbox record, or not UTF-8, whole in the [`BodyStore`] with a pointer in the record;
//! 5. normalised events enqueued -> 200. A privacy request -> 200 (nothing personal is kept).
//!
//! A store or queue failure answers 503 so that Shopify delivers again: nothing authentic is lost.
//! Keeping a quarantined delivery (body store, then inbox) ends within [`QUARANTINE_DEADLINE`],
//! so even that 503 comes inside Shopify's 5 s.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::json;
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_shopify::normalise::{normalise, Delivery, Normalised, Unusable, MAX_ID_BYTES};
use stockbridge_shopify::redact::redact;
use stockbridge_shopify::signature;

use crate::config::ShopSecrets;
use crate::ports::{
    sha256_hex, BodyRef, BodyStore, EventQueue, Inbox, PortError, QuarantineEntry, LARGE_BODY_BYTES,
};
use crate::telemetry::{Metrics, Unit};

pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Keeping a quarantined delivery (its body, then its inbox record) takes at most this long,
/// or it is answered 503: Shopify waits 5 s for an answer.
pub const QUARANTINE_DEADLINE: Duration = Duration::from_secs(4);

/// Shopify's headers that must not come twice.
const SINGLE_HEADERS: [&str; 7] = [
    "x-shopify-hmac-sha256",
    "x-shopify-shop-domain",
    "x-shopify-topic",
    "x-shopify-webhook-id",
    "x-shopify-event-id",
    "x-shopify-triggered-at",
    "x-shopify-api-version",
];

/// What the webhook handler needs, built once per process.
pub struct WebhookService<Q, I> {
    pub shops: ShopSecrets,
    pub queue: Q,
    pub inbox: I,
    pub max_body_bytes: usize,
    pub metrics: Metrics,
}

/// What the intake answers: an HTTP status and a JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

/// The request headers, by lower-case name (values that are not visible ASCII are left out by
/// the front door). A name given more than once keeps its last value and is remembered as
/// repeated.
#[derive(Clone, Debug, Default)]
pub struct RequestHeaders {
    values: HashMap<String, String>,
    repeated: BTreeSet<String>,
}

impl RequestHeaders {
    pub fn new<K: AsRef<str>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut headers = RequestHeaders::default();
        for (k, v) in pairs {
            let name = k.as_ref().to_ascii_lowercase();
            if headers.values.insert(name.clone(), v.into()).is_some() {
                headers.repeated.insert(name);
            }
        }
        headers
    }

    /// The trimmed value of `name`, `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(&name.to_ascii_lowercase())
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Whether `name` came more than once.
    pub fn repeated(&self, name: &str) -> bool {
        self.repeated.contains(&name.to_ascii_lowercase())
    }
}

/// The body as the front door read it.
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    Complete(&'a [u8]),
    /// Over [`WebhookService::max_body_bytes`] (declared or read): not read further.
    TooLarge,
}

const OK: u16 = 200;
const BAD_REQUEST: u16 = 400;
const UNAUTHORIZED: u16 = 401;
const PAYLOAD_TOO_LARGE: u16 = 413;
const SERVICE_UNAVAILABLE: u16 = 503;

fn answer(status: u16, outcome: &str, message: impl Into<String>) -> Answer {
    Answer {
        status,
        body: json!({"status": outcome, "message": message.into()}),
    }
}

impl<Q: EventQueue, I: Inbox + BodyStore> WebhookService<Q, I> {
    /// Handles one delivery to `POST /webhooks/shopify`.
    pub async fn receive(&self, headers: &RequestHeaders, body: Body<'_>) -> Answer {
        let started = std::time::Instant::now();
        let answer = handle(self, headers, body).await;
        self.metrics.put(
            "WebhookResponseMs",
            started.elapsed().as_secs_f64() * 1000.0,
            Unit::Milliseconds,
            None,
        );
        answer
    }
}

async fn handle<Q: EventQueue, I: Inbox + BodyStore>(
    service: &WebhookService<Q, I>,
    headers: &RequestHeaders,
    body: Body<'_>,
) -> Answer {
    let received_at = Timestamp::now();
    let metrics = &service.metrics;
    let reject = |status: u16, code: &str, message: String| {
        metrics.count("WebhookRejected", Some(code));
        tracing::warn!(status, reason = code, "webhook rejected: {message}");
        answer(status, code, message)
    };

    let limit = service.max_body_bytes;
    let body = match body {
        Body::Complete(bytes) if bytes.len() <= limit => bytes,
        _ => {
            return reject(
                PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("body is over the {limit}-byte limit"),
            )
        }
    };

    let mut missing = Vec::new();
    let hmac = headers.get("x-shopify-hmac-sha256");
    let shop = headers.get("x-shopify-shop-domain");
    let topic = headers.get("x-shopify-topic");
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
            BAD_REQUEST,
            "missing_header",
            format!("missing required header(s): {}", missing.join(", ")),
        );
    };

    let repeated: Vec<&str> = SINGLE_HEADERS
        .into_iter()
        .filter(|h| headers.repeated(h))
        .collect();
    if !repeated.is_empty() {
        return reject(
            BAD_REQUEST,
            "duplicate_header",
            format!("header(s) given more than once: {}", repeated.join(", ")),
        );
    }

    let shop = ShopDomain::new(shop);
    let Some(secrets) = service.shops.secrets(&shop) else {
        return reject(
            UNAUTHORIZED,
            "unknown_shop",
            "shop is not served here".into(),
        );
    };
    let Some(secret_index) = signature::verify(secrets, body, hmac) else {
        return reject(
            UNAUTHORIZED,
            "bad_signature",
            "signature does not match the body".into(),
        );
    };
    if secret_index > 0 {
        metrics.count("WebhookPreviousSecret", None);
        tracing::info!(%shop, "webhook signed with the previous secret; finish the rotation");
    }

    let webhook_id = headers
        .get("x-shopify-webhook-id")
        .map(str::to_string)
        .unwrap_or_else(|| format!("sha256-{}", sha256_hex(body)));
    let delivery = Delivery {
        shop: &shop,
        topic,
        webhook_id: &webhook_id,
        event_id: headers.get("x-shopify-event-id"),
        api_version: headers.get("x-shopify-api-version"),
        triggered_at: headers
            .get("x-shopify-triggered-at")
            .and_then(Timestamp::parse),
        received_at,
        body,
    };

    match normalise(&delivery) {
        Ok(Normalised::Events(events)) => {
            if let Err(e) = service.queue.send(&events).await {
                metrics.count("WebhookRetryAsked", Some("queue_unavailable"));
                tracing::error!(%shop, topic, webhook_id, "enqueue failed: {e}");
                return answer(
                    SERVICE_UNAVAILABLE,
                    "queue_unavailable",
                    "could not enqueue; deliver again",
                );
            }
            metrics.count("WebhookAccepted", Some(topic));
            tracing::info!(%shop, topic, webhook_id, events = events.len(), "webhook accepted");
            Answer {
                status: OK,
                body: json!({"status": "accepted", "events": events.len()}),
            }
        }
        Ok(Normalised::Acknowledge(note)) => {
            metrics.count("WebhookPrivacyAcknowledged", Some(topic));
            tracing::info!(%shop, topic, webhook_id, "{note}");
            answer(OK, "acknowledged", note)
        }
        Err(unusable) => quarantine(service, &delivery, unusable).await,
    }
}

async fn quarantine<Q: EventQueue, I: Inbox + BodyStore>(
    service: &WebhookService<Q, I>,
    d: &Delivery<'_>,
    unusable: Unusable,
) -> Answer {
    let kept = tokio::time::timeout(QUARANTINE_DEADLINE, keep(service, d, &unusable)).await;
    let failure = match kept {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!(
            "keeping it took longer than {} s",
            QUARANTINE_DEADLINE.as_secs()
        )),
    };
    if let Some(e) = failure {
        service
            .metrics
            .count("WebhookRetryAsked", Some("inbox_unavailable"));
        tracing::error!(shop = %d.shop, topic = d.topic, "quarantine failed: {e}");
        return answer(
            SERVICE_UNAVAILABLE,
            "inbox_unavailable",
            "could not keep the payload; deliver again",
        );
    }
    service
        .metrics
        .count("WebhookQuarantined", Some(unusable.code()));
    tracing::warn!(shop = %d.shop, topic = d.topic, webhook_id = d.webhook_id, reason = %unusable, "webhook quarantined");
    answer(OK, "quarantined", unusable.to_string())
}

/// Keeps an unusable delivery: redacted to what replay needs when it is JSON, as it came when
/// not; in the body store when too large for an inbox record or not UTF-8.
async fn keep<Q, I: Inbox + BodyStore>(
    service: &WebhookService<Q, I>,
    d: &Delivery<'_>,
    unusable: &Unusable,
) -> Result<(), PortError> {
    let redacted = if unusable.unreadable() {
        None
    } else {
        // Deeper than serde_json's nesting limit: not redactable, kept as it came.
        serde_json::from_slice::<serde_json::Value>(d.body)
            .ok()
            .map(|mut value| {
                redact(d.topic, &mut value);
                value.to_string()
            })
    };
    let is_redacted = redacted.is_some();
    let text = match redacted {
        Some(text) => Ok(text),
        None => String::from_utf8(d.body.to_vec()).map_err(|e| e.into_bytes()),
    };
    let (body, body_ref) = place_body(&service.inbox, d.shop, text).await?;
    // An id too long for a key is kept under its digest (replay uses that one).
    let webhook_id = if d.webhook_id.len() > MAX_ID_BYTES {
        format!("sha256-{}", sha256_hex(d.webhook_id.as_bytes()))
    } else {
        d.webhook_id.to_string()
    };
    let entry = QuarantineEntry {
        shop: d.shop.clone(),
        topic: d.topic.to_string(),
        webhook_id,
        event_id: d.event_id.map(str::to_string),
        api_version: d.api_version.map(str::to_string),
        triggered_at: d.triggered_at,
        received_at: d.received_at,
        code: unusable.code().to_string(),
        reason: unusable.to_string(),
        body,
        redacted: is_redacted,
        body_ref,
    };
    service.inbox.quarantine(&entry).await
}

/// Where a quarantined body goes: `text` in the inbox record when it fits one
/// ([`LARGE_BODY_BYTES`] as stored), else whole in the body store, as are bytes that are not
/// UTF-8 (`Err`); returns the record's body (empty when stored) and the pointer.
pub(crate) async fn place_body<B: BodyStore>(
    store: &B,
    shop: &ShopDomain,
    text: Result<String, Vec<u8>>,
) -> Result<(String, Option<BodyRef>), PortError> {
    let bytes = match text {
        Ok(text) if escaped_len(&text) <= LARGE_BODY_BYTES => return Ok((text, None)),
        Ok(text) => text.into_bytes(),
        Err(bytes) => bytes,
    };
    let at = store.put_body(shop, &sha256_hex(&bytes), &bytes).await?;
    Ok((String::new(), Some(at)))
}

/// The length of `text` as a JSON string (quotes and escapes included): what it takes in an
/// inbox record.
fn escaped_len(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
        + 2
}
