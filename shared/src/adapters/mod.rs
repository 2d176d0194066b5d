//! Adapters: one per technology, each implementing the ports of [`crate::ports`].
//!
//! - [`dynamodb`]: stock, order lines, log, idempotency, SKU map and inbox tables.
//! - [`sqs`]: the event queue.
//! - [`aws`]: building SDK clients once at cold start (honours `AWS_ENDPOINT_URL`).

pub mod aws;
pub mod dynamodb;
pub mod sqs;
