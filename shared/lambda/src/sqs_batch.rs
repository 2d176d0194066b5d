//! An SQS batch event (as Lambda's event source mapping delivers it) to the stock consumer, and
//! the messages that failed back as `batchItemFailures`, so only they are delivered again.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::ports::{Erp, EventQueue, SkuMapStore, StockStore};

/// Applies one SQS batch and reports its failed messages.
pub async fn consume<S, E, Q>(
    consumer: &StockConsumer<S, E, Q>,
    event: SqsEvent,
) -> SqsBatchResponse
where
    S: StockStore + SkuMapStore,
    E: Erp,
    Q: EventQueue,
{
    let messages: Vec<(String, String)> = event
        .records
        .into_iter()
        .map(|m| (m.message_id.unwrap_or_default(), m.body.unwrap_or_default()))
        .collect();
    let report = consumer.apply_messages(&messages).await;
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
