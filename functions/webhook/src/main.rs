//! The webhook Lambda: verifies, normalises and enqueues Shopify webhooks.
//! With `STOCKBRIDGE_LISTEN=host:port` the same router is served locally instead.

use std::sync::Arc;

use stockbridge::adapters::aws::webhook_sdk_config;
use stockbridge::webhook::{router, WebhookService};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stockbridge::telemetry::init_tracing();
    let sdk = webhook_sdk_config().await;
    let app = router(Arc::new(WebhookService::from_env(&sdk).await?));
    match std::env::var("STOCKBRIDGE_LISTEN") {
        Ok(addr) => {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            stockbridge::local::serve(listener, app, stockbridge::local::shutdown_signal()).await?
        }
        Err(_) => lambda_http::run(app).await?,
    }
    Ok(())
}
