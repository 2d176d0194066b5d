//! AWS adapters: each implements ports of `stockbridge-core` over one AWS service.
//!
//! - [`dynamodb`]: the stock, SKU map and inbox stores (stock, order lines, log, idempotency,
//!   mappings, quarantine, parked events, reports).
//! - [`s3`]: quarantined bodies too large for an inbox record (the body store).
//! - [`sqs`]: the event queue.
//! - [`dead_letters`]: the events dead-letter queue, read and redriven by operators.
//! - [`eventbridge`]: alerts on the project's EventBridge bus.
//! - [`health_reports`]: the weekly health report's pages (S3) and the dead-letter depth (SQS).
//! - [`ssm`]: secrets (the ERP credential, the Admin API token, the shops' webhook secrets).
//! - [`sdk`]: building the SDK configuration once at cold start (honours `AWS_ENDPOINT_URL`).

pub mod dead_letters;
pub mod dynamodb;
pub mod eventbridge;
pub mod health_reports;
pub mod s3;
pub mod sdk;
pub mod sqs;
pub mod ssm;
