//! Stockbridge core: the ports and the handlers, generic over the ports.
//!
//! Read `ARCHITECTURE.md` first. This crate names no technology: no AWS, no HTTP client, no
//! Lambda type. The domain (`stockbridge-domain`) decides; the handlers here fetch what it needs
//! through the [`ports`], call it, and write its decisions back; the adapters (`stockbridge-aws`,
//! `stockbridge-erp`, `stockbridge-shopify-admin`, `stockbridge-memory`) implement the ports; the
//! functions' composition roots (`functions/*`) choose them.
//!
//! - [`ports`]: the traits for the outside world and their error types.
//! - [`webhook`]: the webhook intake: a verified Shopify delivery to queued events or quarantine.
//! - [`consumer`]: the stock consumer: a batch of queued events applied exactly once, within
//!   the invocation's deadline (`deadline`); [`redact`]: `shop/redact` in recorded steps.
//! - [`erp_push`]: what the stock records owe the ERP, pushed per warehouse under fixed keys.
//! - [`sales_flow`]: Shopify orders as ERP sales orders: placed, revised, cancelled, shipped
//!   and taken back after the batch that changed them (the one-movement rule is the domain's).
//! - [`reconcile`]: one reconciliation run: compare, correct toward the master, report, alert.
//! - [`retry`]: the one retry policy (backoff with jitter, `Retry-After`, a deadline).
//! - [`webhook_health`]: the shop's webhook subscriptions and access scopes against what
//!   Stockbridge needs.
//! - [`config`], [`telemetry`]: settings and secrets; CloudWatch metrics.
//! - [`weekly`]: the weekly health report (a self-contained HTML page), kept and announced.

pub mod config;
pub mod consumer;
mod deadline;
pub mod erp_feed;
pub mod erp_push;
pub mod erp_sync;
pub mod erp_webhook;
pub mod fields_back;
pub mod ports;
pub mod reconcile;
pub mod redact;
pub mod retry;
pub mod sales_flow;
pub mod storefront_read;
pub mod telemetry;
pub mod webhook;
pub mod webhook_health;
pub mod weekly;
