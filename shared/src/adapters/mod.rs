//! Adapters: one per technology, each implementing the ports of [`crate::ports`].
//!
//! - [`dynamodb`]: stock, order lines, log, idempotency, SKU map and inbox tables.
//! - [`sqs`]: the event queue.
//! - [`eventbridge`]: alerts on the project's EventBridge bus.
//! - [`aws`]: building SDK clients once at cold start (honours `AWS_ENDPOINT_URL`).
//! - [`tryton`]: the ERP port over Tryton 8.2's REST API (internal shipments keyed by write).
//! - [`http`]: what the HTTP adapters share.
//! - [`http_erp`]: the generic HTTP inventory ERP (`docs/erp-http-api.yaml`).
//! - [`erp`]: the ERP adapter chosen by configuration.
//! - [`shopify_graphql`]: Shopify's Admin GraphQL API (2026-04): inventory levels paged to the
//!   cost budget, and compare-and-set writes of `available` under an idempotency key.

pub mod aws;
pub mod dynamodb;
pub mod erp;
pub mod eventbridge;
pub mod http;
pub mod http_erp;
pub mod shopify_graphql;
pub mod sqs;
pub mod tryton;
