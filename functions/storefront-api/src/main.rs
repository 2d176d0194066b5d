//! The storefront-api Lambda: `GET /storefront/v1/availability`, read from DynamoDB.
//! With `STOCKBRIDGE_LISTEN=host:port` the same router is served locally instead.

use std::sync::Arc;

use stockbridge_lambda::{local, storefront_http};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stockbridge_lambda::init_tracing();
    // Short timeouts: a storefront waits on this answer, and a slow read is a 503 to retry.
    let sdk = stockbridge_aws::sdk::webhook_sdk_config().await;
    let app = storefront_http::router(Arc::new(storefront_api::storefront(&sdk)?));
    match std::env::var("STOCKBRIDGE_LISTEN") {
        Ok(addr) => {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            local::serve(listener, app, local::shutdown_signal()).await?
        }
        Err(_) => lambda_http::run(app).await?,
    }
    Ok(())
}
