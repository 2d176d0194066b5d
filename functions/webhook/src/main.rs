//! The webhook Lambda: verifies, normalises and enqueues Shopify webhooks and the ERP's signed
//! stock-change notifications.
//! With `STOCKBRIDGE_LISTEN=host:port` the same router is served locally instead.

use std::sync::Arc;

use stockbridge_lambda::{http_api, local};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stockbridge_lambda::init_tracing();
    let sdk = stockbridge_aws::sdk::webhook_sdk_config().await;
    let shopify = webhook::webhook(&sdk).await?;
    let erp = webhook::erp_webhook(&sdk, &shopify).await?;
    let app = http_api::router(Arc::new(shopify)).merge(http_api::erp_router(Arc::new(erp)));
    match std::env::var("STOCKBRIDGE_LISTEN") {
        Ok(addr) => {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            local::serve(listener, app, local::shutdown_signal()).await?
        }
        Err(_) => lambda_http::run(app).await?,
    }
    Ok(())
}
