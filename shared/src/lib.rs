//! Stockbridge core: real-time inventory sync between Shopify stores and an ERP.
//!
//! Read `ARCHITECTURE.md` first. In short:
//! - [`domain`]: pure inventory logic (events, stock, batches, SKU map); no I/O.
//! - [`shopify`]: the only code that knows Shopify's webhook JSON and signatures.
//! - [`ports`]: traits for what the handlers need from outside; [`adapters`] implement them.
//! - [`webhook`], [`consumer`], [`reconcile`]: the three Lambda handlers, free of Lambda types
//!   where possible.
//! - [`config`], [`telemetry`]: shop secrets and settings; logs and CloudWatch metrics.
//! - [`local`]: the local stand-ins for Lambda's event source and HTTP front door.
//! - [`spill`]: sorting a bulk operation's levels in bounded memory.

pub mod adapters;
pub mod config;
pub mod consumer;
pub mod domain;
pub mod erp_sync;
pub mod local;
pub mod ops;
pub mod ports;
pub mod reconcile;
pub mod shopify;
pub mod spill;
pub mod telemetry;
pub mod webhook;
