//! An SQS batch event (as Lambda's event source mapping delivers it) to the stock consumer, and
//! the messages that failed back as `batchItemFailures`, so only they are delivered again.
//! The consumer works within the invocation's deadline (Lambda's, or the local poller's) and
//! reports what it did not get to as failed.
//!
//! Each message that failed (but those only deferred for want of time) leaves a failure record
//! ([`FailureLog`]): its id, its event's key, the consumer's reason and the receive count, so
//! `stockbridge dlq list` can tell why once the redrive policy dead-letters it. A record that
//! cannot be written is logged; the batch's answer does not depend on it.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use stockbridge_core::consumer::BatchReport;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::ports::{
    Erp, ErpSales, EventQueue, FailureLog, FailureRecord, LatencyDigest, ShopifyReads, SkuMapStore,
    StockStore,
};

/// Applies one SQS batch of the ERP changes queue with the ERP sync and reports its failed
/// messages (each leaving a failure record, as the stock consumer's do).
pub async fn consume_erp_changes<S, W, A, Q>(
    sync: &stockbridge_core::erp_sync::ErpSync<S, W, A, Q>,
    event: SqsEvent,
) -> SqsBatchResponse
where
    S: stockbridge_core::ports::ErpRecords
        + stockbridge_core::ports::StorefrontMap
        + StockStore
        + FailureLog,
    W: stockbridge_core::ports::ShopifyAdmin + ShopifyReads + stockbridge_core::ports::Metafields,
    A: stockbridge_core::ports::AlertSink,
    Q: EventQueue,
{
    let (messages, receives) = messages_of(event);
    let report = sync.apply_messages(&messages).await;
    let failures: Vec<FailureRecord> = messages
        .iter()
        .filter(|(id, _)| report.failed.contains(id))
        .map(|(id, body)| {
            let reason = report
                .reasons
                .get(id)
                .cloned()
                .unwrap_or_else(|| "failed: see the ERP sync's log".into());
            FailureRecord::of_message(id, body, reason, receives.get(id).copied())
        })
        .collect();
    if !failures.is_empty() {
        if let Err(e) = sync.store.record_failures(&failures).await {
            tracing::warn!(
                failed = failures.len(),
                "could not keep why these messages failed: {e}"
            );
        }
    }
    response_of(report.failed)
}

type Received = (Vec<(String, String)>, BTreeMap<String, u32>);

/// The batch's `(message id, body)` pairs and each message's receive count.
fn messages_of(event: SqsEvent) -> Received {
    let mut receives: BTreeMap<String, u32> = BTreeMap::new();
    let messages = event
        .records
        .into_iter()
        .map(|m| {
            let id = m.message_id.unwrap_or_default();
            if let Some(n) = m
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
            {
                receives.insert(id.clone(), n);
            }
            (id, m.body.unwrap_or_default())
        })
        .collect();
    (messages, receives)
}

/// The partial batch response naming `failed`.
fn response_of(failed: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// Applies one SQS batch before `deadline` and reports its failed messages.
pub async fn consume<S, E, Q, R, O>(
    consumer: &StockConsumer<S, E, Q, R, O>,
    event: SqsEvent,
    deadline: Option<Instant>,
) -> SqsBatchResponse
where
    S: StockStore + SkuMapStore + FailureLog + LatencyDigest,
    E: Erp,
    Q: EventQueue,
    R: ShopifyReads,
    O: ErpSales,
{
    let (messages, receives) = messages_of(event);
    let report = consumer.apply_messages_until(&messages, deadline).await;
    let failures = failure_records(&messages, &report, &receives);
    if !failures.is_empty() {
        if let Err(e) = consumer.store.record_failures(&failures).await {
            tracing::warn!(
                failed = failures.len(),
                "could not keep why these messages failed (`dlq list` infers it): {e}"
            );
        }
    }
    response_of(report.failed)
}

/// The failure record of each failed message that was tried (a deferred one was not: it just
/// comes back); the reason is the consumer's, else what leaves a tried message failed.
fn failure_records(
    messages: &[(String, String)],
    report: &BatchReport,
    receives: &BTreeMap<String, u32>,
) -> Vec<FailureRecord> {
    let deferred: HashSet<&String> = report.deferred.iter().collect();
    let failed: HashSet<&String> = report.failed.iter().collect();
    messages
        .iter()
        .filter(|(id, _)| failed.contains(id) && !deferred.contains(id))
        .map(|(id, body)| {
            let reason = report.reasons.get(id).cloned().unwrap_or_else(|| {
                "tried and not finished (a shop redaction step, or an ERP push that could not be \
                 scheduled again): see the consumer's log"
                    .into()
            });
            FailureRecord::of_message(id, body, reason, receives.get(id).copied())
        })
        .collect()
}

/// A Lambda invocation's deadline (`Context::deadline`: milliseconds since the Unix epoch) as
/// an [`Instant`]; one already past is now. `None` for 0, the runtime's "not given".
pub fn deadline_from_epoch_ms(epoch_ms: u64) -> Option<Instant> {
    if epoch_ms == 0 {
        return None;
    }
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(epoch_ms);
    let left = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Some(Instant::now() + left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lambda_deadline_becomes_the_time_left() {
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let deadline = deadline_from_epoch_ms(now_ms + 30_000).unwrap();
        let left = deadline - Instant::now();
        assert!(left > Duration::from_secs(29) && left <= Duration::from_secs(30));
        let past = deadline_from_epoch_ms(now_ms - 5_000).unwrap();
        assert!(past <= Instant::now());
        assert_eq!(deadline_from_epoch_ms(0), None);
    }
}
