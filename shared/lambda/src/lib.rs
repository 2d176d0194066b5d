//! Lambda's plumbing, kept out of the core: what turns a Lambda invocation (or a local stand-in
//! for one) into a call of a core handler, and its answer back.
//!
//! - [`http_api`]: the webhook's HTTP front door, an axum router that runs unchanged in Lambda
//!   (through `lambda_http`) and on a local port.
//! - [`sqs_batch`]: an SQS batch event to the stock consumer and its partial batch failures back.
//! - [`storefront_http`]: the storefront's availability read (`GET /storefront/v1/availability`),
//!   an axum router like the webhook's.
//! - [`local`]: local stand-ins for what Lambda provides in the cloud (an HTTP server, an SQS
//!   poller with the event source's semantics, a shutdown signal).
//! - [`init_tracing`]: logs as JSON lines in Lambda, compact text elsewhere.

pub mod http_api;
pub mod local;
pub mod sqs_batch;
pub mod storefront_http;

/// Sets up `tracing`: JSON lines inside Lambda, compact text elsewhere; level from `RUST_LOG`
/// (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    let result = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder.json().without_time().try_init()
    } else {
        builder.compact().try_init()
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}
