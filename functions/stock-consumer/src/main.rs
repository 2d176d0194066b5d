//! The stock consumer Lambda: applies queued inventory events to DynamoDB exactly once and
//! reports partial batch failures. With `STOCKBRIDGE_LOCAL_POLL=1` it polls the queue itself
//! with the Lambda event source's semantics (local stack).

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use stockbridge::adapters::aws::sdk_config;
use stockbridge::consumer::StockConsumer;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    stockbridge::telemetry::init_tracing();
    let sdk = sdk_config().await;
    let consumer = Arc::new(StockConsumer::from_env(&sdk).await?);
    if std::env::var_os("STOCKBRIDGE_LOCAL_POLL").is_some() {
        let settings = stockbridge::local::PollerSettings::from_env(&sdk).await?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let handler = move |event| {
            let consumer = consumer.clone();
            async move { consumer.handle(event).await }
        };
        stockbridge::local::run_poller(
            sqs,
            settings,
            handler,
            stockbridge::local::shutdown_signal(),
        )
        .await;
        return Ok(());
    }
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| {
            let consumer = consumer.clone();
            async move { Ok::<_, lambda_runtime::Error>(consumer.handle(event.payload).await) }
        },
    ))
    .await
}
