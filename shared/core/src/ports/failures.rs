//! The port of the consumer's failure records ([`FailureLog`]): why the stock consumer failed a
//! queue message, kept beside the message's id so `stockbridge dlq list` can say it once the
//! redrive policy has dead-lettered the message (the message itself carries no reason).

use std::collections::HashMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

use stockbridge_domain::ids::{ShopDomain, Timestamp};

use super::PortError;

/// Why the consumer failed one queue message, as of its latest failed receive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The SQS message id (kept when the redrive policy moves it to the dead-letter queue).
    pub message_id: String,
    /// The event's key, when the message was an event.
    pub event_key: Option<String>,
    /// The event's shop, when the message was an event (a shop's redaction deletes its records).
    pub shop: Option<ShopDomain>,
    /// What went wrong, as the consumer said it.
    pub reason: String,
    /// Receives of the message so far, this one included (SQS's `ApproximateReceiveCount`).
    pub attempts: Option<u32>,
    pub at: Timestamp,
}

impl FailureRecord {
    /// The record of queue message `message_id` with `body`, failed for `reason` now: the
    /// event's key and shop when the body is an event.
    pub fn of_message(message_id: &str, body: &str, reason: String, attempts: Option<u32>) -> Self {
        let event = stockbridge_domain::event::InventoryEvent::from_json(body).ok();
        FailureRecord {
            message_id: message_id.to_string(),
            event_key: event.as_ref().map(|e| e.key.clone()),
            shop: event.map(|e| e.shop),
            reason,
            attempts,
            at: Timestamp::now(),
        }
    }
}

/// Where failure records are kept (the inbox table's `FAILURE#<message id>`, expiring with the
/// dead-letter queue's retention).
pub trait FailureLog: Send + Sync {
    /// Keeps each record, replacing an earlier one of the same message.
    fn record_failures(
        &self,
        records: &[FailureRecord],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The records kept for these message ids (ids with none are left out).
    fn failures(
        &self,
        message_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, FailureRecord>, PortError>> + Send;
}
