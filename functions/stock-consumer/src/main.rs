//! The stock consumer Lambda: applies queued inventory events to DynamoDB exactly once and
//! reports partial batch failures, within the invocation's deadline (what it does not get to
//! fails and comes back). With `STOCKBRIDGE_LOCAL_POLL=1` it polls the queue itself with the
//! Lambda event source's semantics (local stack).

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use stockbridge_lambda::{local, sqs_batch};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    stockbridge_lambda::init_tracing();
    let sdk = stockbridge_aws::sdk::sdk_config().await;
    let consumer = Arc::new(stock_consumer::consumer(&sdk).await?);
    if std::env::var_os("STOCKBRIDGE_LOCAL_POLL").is_some() {
        let settings = local::PollerSettings::from_env(&sdk).await?;
        let handler = move |event, deadline| {
            let consumer = consumer.clone();
            async move { sqs_batch::consume(&consumer, event, Some(deadline)).await }
        };
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        local::run_poller(sqs, settings, handler, local::shutdown_signal()).await;
        return Ok(());
    }
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let consumer = consumer.clone();
        let deadline = sqs_batch::deadline_from_epoch_ms(event.context.deadline);
        async move {
            let response = sqs_batch::consume(&consumer, event.payload, deadline).await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}
