//! What a message in the events dead-letter queue is and why it failed (`stockbridge dlq
//! list|show`): the consumer's own reason where it kept one ([`FailureRecord`], written by the
//! SQS batch handler on every failed receive, by message id), else inferred from the message.
//!
//! The consumer cannot attach anything to a message it reports failed, so without a record the
//! reason is decided here from the body, the way the consumer decided it: a body that is not an inventory event,
//! or one of a schema this build does not read, fails on every receive and explains itself; an
//! event whose key passes DynamoDB's 2,048-byte key limit is refused by the store on every
//! receive. An event that decodes and that the store can take failed for a cause outside the
//! message (the store or the ERP unreachable on every receive, a deadline): the consumer's
//! errors logged while it was being received say which, and a redrive is the fix once that cause
//! is gone; the consumer's record, when there is one, says which.

use serde::Serialize;
use stockbridge_core::ports::FailureRecord;
use stockbridge_domain::event::{EventBody, EventDecodeError, InventoryEvent};

/// DynamoDB's limit on a partition key; the idempotency record's key is the event key.
pub const DYNAMODB_KEY_LIMIT: usize = 2048;

/// Why a dead-lettered message failed, as far as its body tells.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum FailureReason {
    /// Not an inventory event at all (not JSON, or not the event's shape): a poison message.
    NotAnEvent { detail: String },
    /// An inventory event of a schema version this build does not read.
    UnknownSchema { schema: u32 },
    /// The event's key is too long for the idempotency table: the store refuses it.
    KeyTooLong { bytes: usize },
    /// A readable event: the cause was outside the message.
    OutsideTheMessage,
}

impl FailureReason {
    /// Whether sending the message again as it is can succeed (after its outside cause is
    /// fixed, or a consumer that reads its schema is deployed).
    pub fn may_succeed_again(&self) -> bool {
        matches!(self, Self::OutsideTheMessage | Self::UnknownSchema { .. })
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAnEvent { detail } => {
                write!(f, "not an inventory event ({detail}); it fails on every receive, delete it")
            }
            Self::UnknownSchema { schema } => write!(
                f,
                "event schema {schema} is not read by this build; deploy a consumer that reads it, then redrive"
            ),
            Self::KeyTooLong { bytes } => write!(
                f,
                "event key of {bytes} bytes passes DynamoDB's {DYNAMODB_KEY_LIMIT}-byte key limit; the store refuses it on every receive"
            ),
            Self::OutsideTheMessage => write!(
                f,
                "a readable event: it failed for a cause outside the message (store or ERP unreachable, a deadline); the consumer's errors logged while it was received (up to the sent time plus the retries) say which; redrive once the cause is fixed"
            ),
        }
    }
}

/// What a dead-lettered message is and why it failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// `stock`, `erp_retry`, `refresh`, `shop_redact`, or `not an event`.
    pub kind: String,
    pub topic: Option<String>,
    pub shop: Option<String>,
    pub key: Option<String>,
    pub failure: FailureReason,
}

/// Reads a dead-lettered message body.
pub fn diagnose(body: &str) -> Diagnosis {
    match InventoryEvent::from_json(body) {
        Ok(event) => {
            let failure = if event.key.len() > DYNAMODB_KEY_LIMIT {
                FailureReason::KeyTooLong {
                    bytes: event.key.len(),
                }
            } else {
                FailureReason::OutsideTheMessage
            };
            Diagnosis {
                kind: body_kind(&event.body).into(),
                topic: Some(event.source.topic),
                shop: Some(event.shop.to_string()),
                key: Some(event.key),
                failure,
            }
        }
        Err(EventDecodeError::UnknownSchema(schema)) => {
            // The fields this build can still make out, for the operator.
            let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            let text = |ptr: &str| {
                value
                    .pointer(ptr)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            Diagnosis {
                kind: text("/body/kind").unwrap_or_else(|| format!("event schema {schema}")),
                topic: text("/source/topic"),
                shop: text("/shop"),
                key: text("/key"),
                failure: FailureReason::UnknownSchema { schema },
            }
        }
        Err(e) => Diagnosis {
            kind: "not an event".into(),
            topic: None,
            shop: None,
            key: None,
            failure: FailureReason::NotAnEvent {
                detail: e.to_string(),
            },
        },
    }
}

/// The reason `dlq list|show` gives: the consumer's recorded one when there is one (with the
/// receive it is from), else the one inferred from the body.
pub fn reason_line(diagnosis: &Diagnosis, recorded: Option<&FailureRecord>) -> String {
    match recorded {
        Some(r) => {
            let receive = r
                .attempts
                .map_or(String::new(), |n| format!(" on receive {n}"));
            format!(
                "{} (the consumer's reason{receive}, {}; inferred: {})",
                r.reason,
                r.at.to_rfc3339(),
                diagnosis.failure
            )
        }
        None => format!("{} (inferred from the message)", diagnosis.failure),
    }
}

fn body_kind(body: &EventBody) -> &'static str {
    match body {
        EventBody::Stock { .. } => "stock",
        EventBody::ShopRedact { .. } => "shop_redact",
        EventBody::ErpRetry { .. } => "erp_retry",
        EventBody::SalesRetry { .. } => "sales_retry",
        EventBody::ErpChange { .. } => "erp_change",
        EventBody::Refresh { .. } => "refresh",
    }
}

/// Which dead-lettered messages a redrive moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    All,
    Ids(Vec<String>),
}

impl Selection {
    pub fn includes(&self, message_id: &str) -> bool {
        match self {
            Self::All => true,
            Self::Ids(ids) => ids.iter().any(|id| id == message_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use stockbridge_domain::event::{Part, Source};
    use stockbridge_domain::ids::{ShopDomain, Timestamp};

    fn event(webhook_id: &str) -> String {
        InventoryEvent {
            schema: 1,
            key: format!("s.myshopify.com:{webhook_id}:0"),
            shop: ShopDomain::new("s.myshopify.com"),
            source: Source::internal("inventory_levels/update", Timestamp(1)),
            part: Part::WHOLE,
            body: EventBody::Stock { changes: vec![] },
        }
        .to_json()
    }

    #[test]
    fn a_poison_message_is_not_an_event_and_says_so() {
        let d = diagnose("this is not an inventory event");
        assert_eq!(d.kind, "not an event");
        assert!(matches!(d.failure, FailureReason::NotAnEvent { .. }));
        assert!(!d.failure.may_succeed_again());
        assert!(d.failure.to_string().starts_with("not an inventory event"));
    }

    #[test]
    fn an_event_of_another_schema_names_it_and_what_it_can_read() {
        let body = event("w-1").replace(r#""schema":1"#, r#""schema":7"#);
        assert_ne!(body, event("w-1"));
        let d = diagnose(&body);
        assert_eq!(d.failure, FailureReason::UnknownSchema { schema: 7 });
        assert_eq!(d.kind, "stock");
        assert_eq!(d.shop.as_deref(), Some("s.myshopify.com"));
        assert_eq!(d.topic.as_deref(), Some("inventory_levels/update"));
        assert!(d.failure.to_string().contains("schema 7"));
    }

    #[test]
    fn a_readable_event_failed_outside_the_message_unless_its_key_is_too_long() {
        let d = diagnose(&event("w-1"));
        assert_eq!(d.kind, "stock");
        assert_eq!(d.key.as_deref(), Some("s.myshopify.com:w-1:0"));
        assert_eq!(d.failure, FailureReason::OutsideTheMessage);
        let d = diagnose(&event(&"w".repeat(2100)));
        assert!(matches!(d.failure, FailureReason::KeyTooLong { bytes } if bytes > 2048));
    }

    #[test]
    fn the_consumers_recorded_reason_comes_first_else_the_inferred_one() {
        let d = diagnose("this is not an inventory event");
        let inferred = reason_line(&d, None);
        assert!(inferred.starts_with("not an inventory event"), "{inferred}");
        assert!(inferred.ends_with("(inferred from the message)"));
        let record = FailureRecord {
            message_id: "m-1".into(),
            event_key: None,
            shop: None,
            reason: "the store refuses it: too long".into(),
            attempts: Some(3),
            at: Timestamp(1_795_000_000_000_000_000),
        };
        let line = reason_line(&d, Some(&record));
        assert!(
            line.starts_with("the store refuses it: too long (the consumer's reason on receive 3"),
            "{line}"
        );
    }

    #[test]
    fn a_selection_of_ids_includes_only_them() {
        let only = Selection::Ids(vec!["a".into()]);
        assert!(only.includes("a") && !only.includes("b"));
        assert!(Selection::All.includes("b"));
    }
}
