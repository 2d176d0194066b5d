//! The ERP sync Lambda: applies batches of the ERP changes queue to Shopify and reports
//! partial batch failures. With `STOCKBRIDGE_LOCAL_POLL=1` it polls the queue itself with the
//! Lambda event source's semantics (local stack).

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use stockbridge_lambda::{local, sqs_batch};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    stockbridge_lambda::init_tracing();
    let sdk = stockbridge_aws::sdk::sdk_config().await;
    let sync = Arc::new(erp_sync::sync(&sdk).await?);
    if std::env::var_os("STOCKBRIDGE_LOCAL_POLL").is_some() {
        let settings = local::PollerSettings::from_env_for(&sdk, "ERP_CHANGES_QUEUE_URL").await?;
        let handler = move |event, _deadline| {
            let sync = sync.clone();
            async move { sqs_batch::consume_erp_changes(&sync, event).await }
        };
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        local::run_poller(sqs, settings, handler, local::shutdown_signal()).await;
        return Ok(());
    }
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let sync = sync.clone();
        async move {
            let response = sqs_batch::consume_erp_changes(&sync, event.payload).await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}
