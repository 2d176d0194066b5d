//! An SQS batch event (as Lambda's event source mapping delivers it) to the stock consumer, and
//! the messages that failed back as `batchItemFailures`, so only they are delivered again.
//! The consumer works within the invocation's deadline (Lambda's, or the local poller's) and
//! reports what it did not get to as failed.

use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::ports::{Erp, EventQueue, ShopifyReads, SkuMapStore, StockStore};

/// Applies one SQS batch before `deadline` and reports its failed messages.
pub async fn consume<S, E, Q, R>(
    consumer: &StockConsumer<S, E, Q, R>,
    event: SqsEvent,
    deadline: Option<Instant>,
) -> SqsBatchResponse
where
    S: StockStore + SkuMapStore,
    E: Erp,
    Q: EventQueue,
    R: ShopifyReads,
{
    let messages: Vec<(String, String)> = event
        .records
        .into_iter()
        .map(|m| (m.message_id.unwrap_or_default(), m.body.unwrap_or_default()))
        .collect();
    let report = consumer.apply_messages_until(&messages, deadline).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = report
        .failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
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
