//! The ERP webhook intake: one signed stock-change notification from an ERP that can call out
//! (`POST /webhooks/erp`, `docs/erp-http-api.yaml`, `webhooks: stockChanged`), as the HTTP front
//! door in `stockbridge-lambda` received it, in; an [`Answer`] out. Owns the
//! `X-Stockbridge-Signature` check against the ERP's current and previous secrets, the answers,
//! the quarantine of what is authentic but unusable, and the events a notification becomes (its
//! wire form and checks are `notification`'s: [`parse`]): one
//! [`EventBody::ErpChange`] per shop the ERP serves (split into parts that fit a queue message),
//! on the ERP changes queue.
//!
//! Order of checks, each with its status, reason and metric (`ErpWebhookRejected` by reason):
//! 1. body over the limit (the Shopify webhook's) -> 413 (`body_too_large`);
//! 2. the intake not configured (no shops, secret or queue) -> 503 (`not_configured`);
//! 3. the signature header given twice -> 400 (`duplicate_header`); missing -> 401
//!    (`missing_signature`); not `sha256=<hex of 32 bytes>` or made by no active secret -> 401
//!    (`bad_signature`). Nothing is kept but a log line and the metric;
//! 4. authentic but unusable (not UTF-8, not JSON, not the schema, an unknown change type, a bad
//!    time, decimal or id, a quantity beyond ±1,000,000,000, too many changes: [`Unusable`])
//!    -> 202 `quarantined` with the reason (so the ERP does not send it again), the body kept
//!    whole in the quarantine, one entry per shop served, topic [`TOPIC`]
//!    (`ErpWebhookQuarantined` by reason);
//! 5. the events on the queue -> 202 `accepted` (`ErpWebhookAccepted`).
//!
//! Every authentic body is checked whole before anything is queued, so none is ever half
//! used; a queue or quarantine failure answers 503 (`ErpWebhookRetryAsked`) so that the ERP
//! sends it again. Every change is an absolute snapshot with its `as_of`, so order and
//! duplicates do not matter: a notification sent twice is queued twice under the same keys.

use std::fmt;

use serde::Deserialize;
use serde_json::json;
use stockbridge_domain::event::{EventBody, InventoryEvent, Part, Source, SCHEMA_VERSION};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::storefront::ErpChange;
use stockbridge_shopify::normalise::{MAX_CHANGES_PER_PART, MAX_ID_BYTES, MAX_SKU_BYTES};
use stockbridge_shopify::signature;

use crate::config::{parse_secret_list, ConfigError};
use crate::ports::{sha256_hex, BodyStore, EventQueue, Inbox, PortError, QuarantineEntry};
use crate::telemetry::{Metrics, Unit};
use crate::webhook::{place_body, Answer, Body, RequestHeaders, QUARANTINE_DEADLINE};

mod notification;
pub use notification::{parse, Notification, Unusable};

/// The header carrying `sha256=<hex of HMAC-SHA256(secret, raw body)>`.
pub const SIGNATURE_HEADER: &str = "x-stockbridge-signature";
/// The topic of the events and quarantine entries this intake makes.
pub const TOPIC: &str = "erp/stock";
/// The longest `notification_id`: it is part of every event key (as a Shopify webhook id is).
pub const MAX_NOTIFICATION_ID_BYTES: usize = MAX_ID_BYTES;
/// The longest warehouse, item, move id or field name: they make record keys (as a SKU does).
pub const MAX_CODE_BYTES: usize = MAX_SKU_BYTES;
/// At most this many changes in one notification.
pub const MAX_CHANGES: usize = 500;
/// A part's serialised event stays under this (SQS takes 256 KiB per message).
const PART_BUDGET_BYTES: usize = 192 * 1024;

/// The ERP's webhook secrets, current first (`current[,previous]`). Never in `Debug` output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ErpSecrets(Vec<String>);

impl ErpSecrets {
    /// Parses `current[,previous]` (blanks dropped); `None` when no secret is left.
    pub fn parse(list: &str) -> Option<Self> {
        let secrets = parse_secret_list(list);
        (!secrets.is_empty()).then_some(ErpSecrets(secrets))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ErpSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErpSecrets({} secret(s))", self.0.len())
    }
}

/// The shops the ERP serves, from `ERP_SHOPS` (comma-separated `*.myshopify.com` domains,
/// duplicates dropped): an error naming the variable when an entry is not a domain or none is
/// left, never a default.
pub fn parse_shops(list: &str) -> Result<Vec<ShopDomain>, ConfigError> {
    let invalid = |detail: String| ConfigError::Invalid {
        name: "ERP_SHOPS",
        detail,
    };
    let mut shops: Vec<ShopDomain> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let domain_like = entry.contains('.')
            && entry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !domain_like {
            return Err(invalid(format!("{entry:?} is not a shop domain")));
        }
        let shop = ShopDomain::new(entry);
        if !shops.contains(&shop) {
            shops.push(shop);
        }
    }
    if shops.is_empty() {
        return Err(invalid("no shop domain given".into()));
    }
    Ok(shops)
}

/// Who may send and where it goes.
pub struct ErpSetup<Q> {
    /// The shops the ERP serves: each notification becomes events for every one of them.
    pub shops: Vec<ShopDomain>,
    pub secrets: ErpSecrets,
    /// The ERP changes queue (not the Shopify events queue).
    pub queue: Q,
}

/// What the ERP webhook handler needs, built once per process.
pub struct ErpWebhookService<Q, I> {
    /// `Err` names what the deployment left unset: every notification is then answered 503
    /// `not_configured` (the ERP keeps it and sends it again), the Shopify webhook unaffected.
    pub setup: Result<ErpSetup<Q>, String>,
    pub inbox: I,
    pub max_body_bytes: usize,
    pub metrics: Metrics,
}

/// Signs a body as the ERP must: the `X-Stockbridge-Signature` value (tests, drills, docs).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let hex: String = signature::digest(secret, body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// The 32 bytes a `sha256=<64 hex digits>` header claims (either letter case); `None` otherwise.
fn claimed_digest(header: &str) -> Option<Vec<u8>> {
    let hex = header.trim().strip_prefix("sha256=")?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    hex.chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// The events of a notification: for every shop, its changes in parts of at most
/// [`MAX_CHANGES_PER_PART`] changes and 192 KiB, keyed
/// `<shop>:erp:<notification_id>:<part>`.
pub fn events(
    n: &Notification,
    shops: &[ShopDomain],
    received_at: Timestamp,
) -> Result<Vec<InventoryEvent>, Unusable> {
    let sizes: Vec<usize> = n
        .changes
        .iter()
        .map(|c| serde_json::to_string(c).map_or(usize::MAX, |t| t.len() + 1))
        .collect();
    let mut chunks: Vec<&[ErpChange]> = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, size) in sizes.iter().enumerate() {
        if *size > PART_BUDGET_BYTES {
            return Err(Unusable::ChangeTooLarge(i));
        }
        if i > start && (i - start == MAX_CHANGES_PER_PART || bytes + size > PART_BUDGET_BYTES) {
            chunks.push(&n.changes[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < n.changes.len() {
        chunks.push(&n.changes[start..]);
    }
    let count = chunks.len() as u32;
    let mut out = Vec::with_capacity(shops.len() * chunks.len());
    for shop in shops {
        for (index, chunk) in chunks.iter().enumerate() {
            let part = Part {
                index: index as u32,
                count,
            };
            out.push(InventoryEvent {
                schema: SCHEMA_VERSION,
                key: format!("{shop}:erp:{}:{index}", n.notification_id),
                shop: shop.clone(),
                source: Source {
                    topic: TOPIC.to_string(),
                    webhook_id: n.notification_id.clone(),
                    event_id: None,
                    api_version: None,
                    triggered_at: n.sent_at,
                    received_at,
                },
                part,
                body: EventBody::ErpChange {
                    changes: chunk.to_vec(),
                    attempt: 0,
                },
            });
        }
    }
    Ok(out)
}

const ACCEPTED: u16 = 202;
const BAD_REQUEST: u16 = 400;
const UNAUTHORIZED: u16 = 401;
const PAYLOAD_TOO_LARGE: u16 = 413;
const SERVICE_UNAVAILABLE: u16 = 503;

fn answer(status: u16, outcome: &str, reason: impl Into<String>) -> Answer {
    Answer {
        status,
        body: json!({"status": outcome, "reason": reason.into()}),
    }
}

impl<Q: EventQueue, I: Inbox + BodyStore> ErpWebhookService<Q, I> {
    /// Handles one notification to `POST /webhooks/erp`.
    pub async fn receive(&self, headers: &RequestHeaders, body: Body<'_>) -> Answer {
        let started = std::time::Instant::now();
        let answer = self.handle(headers, body).await;
        self.metrics.put(
            "ErpWebhookResponseMs",
            started.elapsed().as_secs_f64() * 1000.0,
            Unit::Milliseconds,
            None,
        );
        answer
    }

    async fn handle(&self, headers: &RequestHeaders, body: Body<'_>) -> Answer {
        let received_at = Timestamp::now();
        let reject = |status: u16, code: &str, reason: String| {
            self.metrics.count("ErpWebhookRejected", Some(code));
            tracing::warn!(status, reason = code, "ERP webhook rejected: {reason}");
            answer(status, code, reason)
        };
        let limit = self.max_body_bytes;
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
        let setup = match &self.setup {
            Ok(setup) => setup,
            Err(missing) => {
                self.metrics
                    .count("ErpWebhookRetryAsked", Some("not_configured"));
                tracing::error!("ERP webhook not configured: {missing}");
                return answer(
                    SERVICE_UNAVAILABLE,
                    "not_configured",
                    format!("the ERP webhook is not configured ({missing}); send it again later"),
                );
            }
        };
        if headers.repeated(SIGNATURE_HEADER) {
            return reject(
                BAD_REQUEST,
                "duplicate_header",
                "X-Stockbridge-Signature given more than once".into(),
            );
        }
        let Some(header) = headers.get(SIGNATURE_HEADER) else {
            return reject(
                UNAUTHORIZED,
                "missing_signature",
                "X-Stockbridge-Signature is missing".into(),
            );
        };
        let matched = claimed_digest(header)
            .and_then(|claimed| signature::verify_digest(&setup.secrets.0, body, &claimed));
        let Some(secret_index) = matched else {
            return reject(
                UNAUTHORIZED,
                "bad_signature",
                "signature does not match the body (expected sha256=<hex HMAC-SHA256>)".into(),
            );
        };
        if secret_index > 0 {
            self.metrics.count("ErpWebhookPreviousSecret", None);
            tracing::info!("ERP webhook signed with the previous secret; finish the rotation");
        }

        let events = parse(body).and_then(|n| {
            let events = events(&n, &setup.shops, received_at)?;
            Ok((n, events))
        });
        let (n, events) = match events {
            Ok(done) => done,
            Err(unusable) => return self.quarantine(setup, body, received_at, unusable).await,
        };
        if let Err(e) = setup.queue.send(&events).await {
            self.metrics
                .count("ErpWebhookRetryAsked", Some("queue_unavailable"));
            tracing::error!(notification = n.notification_id, "enqueue failed: {e}");
            return answer(
                SERVICE_UNAVAILABLE,
                "queue_unavailable",
                "could not enqueue; send it again",
            );
        }
        self.metrics.count("ErpWebhookAccepted", None);
        tracing::info!(
            notification = n.notification_id,
            changes = n.changes.len(),
            events = events.len(),
            "ERP webhook accepted"
        );
        Answer {
            status: ACCEPTED,
            body: json!({"status": "accepted", "changes": n.changes.len(), "events": events.len()}),
        }
    }

    async fn quarantine(
        &self,
        setup: &ErpSetup<Q>,
        body: &[u8],
        received_at: Timestamp,
        unusable: Unusable,
    ) -> Answer {
        let kept = tokio::time::timeout(
            QUARANTINE_DEADLINE,
            self.keep(setup, body, received_at, &unusable),
        )
        .await;
        let failure = match kept {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!(
                "keeping it took longer than {} s",
                QUARANTINE_DEADLINE.as_secs()
            )),
        };
        if let Some(e) = failure {
            self.metrics
                .count("ErpWebhookRetryAsked", Some("inbox_unavailable"));
            tracing::error!(reason = unusable.code(), "ERP quarantine failed: {e}");
            return answer(
                SERVICE_UNAVAILABLE,
                "inbox_unavailable",
                "could not keep the notification; send it again",
            );
        }
        self.metrics
            .count("ErpWebhookQuarantined", Some(unusable.code()));
        tracing::warn!(
            reason = unusable.code(),
            "ERP webhook quarantined: {unusable}"
        );
        answer(ACCEPTED, "quarantined", unusable.to_string())
    }

    /// Keeps the body whole (the ERP's notifications carry codes, quantities and times, no
    /// personal data), once per shop served, under the notification id when it can be read.
    async fn keep(
        &self,
        setup: &ErpSetup<Q>,
        body: &[u8],
        received_at: Timestamp,
        unusable: &Unusable,
    ) -> Result<(), PortError> {
        let webhook_id = quarantine_id(body);
        for shop in &setup.shops {
            let text = String::from_utf8(body.to_vec()).map_err(|e| e.into_bytes());
            let (kept, body_ref) = place_body(&self.inbox, shop, text).await?;
            let entry = QuarantineEntry {
                shop: shop.clone(),
                topic: TOPIC.to_string(),
                webhook_id: webhook_id.clone(),
                event_id: None,
                api_version: None,
                triggered_at: None,
                received_at,
                code: unusable.code().to_string(),
                reason: unusable.to_string(),
                body: kept,
                redacted: false,
                body_ref,
            };
            self.inbox.quarantine(&entry).await?;
        }
        Ok(())
    }
}

/// The id a quarantined notification is kept under: its `notification_id` when it reads as a
/// key, its digest when too long, else the digest of the body.
fn quarantine_id(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Probe {
        notification_id: Option<serde_json::Value>,
    }
    let id = serde_json::from_slice::<Probe>(body)
        .ok()
        .and_then(|p| p.notification_id)
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|id| !id.trim().is_empty());
    match id {
        Some(id) if id.len() <= MAX_NOTIFICATION_ID_BYTES => id,
        Some(id) => format!("sha256-{}", sha256_hex(id.as_bytes())),
        None => format!("sha256-{}", sha256_hex(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_of_the_hmac_and_junk_claims_nothing() {
        let s = sign(b"key", b"The quick brown fox jumps over the lazy dog");
        // RFC 4231-style known vector (Wikipedia's HMAC-SHA256 example).
        assert_eq!(
            s,
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert_eq!(claimed_digest(&s).map(|d| d.len()), Some(32));
        assert_eq!(
            claimed_digest(&s.to_uppercase().replace("SHA256=", "sha256=")),
            claimed_digest(&s)
        );
        for junk in [
            "",
            "sha256=",
            "f7bc83f4",
            "sha1=f7bc",
            &s[7..],
            &format!("{s}00"),
        ] {
            assert_eq!(claimed_digest(junk), None, "{junk:?}");
        }
        assert_eq!(claimed_digest(&s.replace('f', "g")), None);
    }

    #[test]
    fn shops_are_domains_named_once_or_the_variable_is_named() {
        let shops =
            parse_shops(" North.myshopify.com, south.myshopify.com,,north.myshopify.com").unwrap();
        assert_eq!(
            shops,
            vec![
                ShopDomain::new("north.myshopify.com"),
                ShopDomain::new("south.myshopify.com")
            ]
        );
        for bad in [
            "",
            " , ",
            "north.myshopify.com;south",
            "north:shop.com",
            "localhost",
        ] {
            let e = parse_shops(bad).unwrap_err().to_string();
            assert!(e.contains("ERP_SHOPS"), "{bad:?}: {e}");
        }
    }
}
