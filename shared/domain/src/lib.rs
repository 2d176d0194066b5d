//! The inventory domain: pure types and rules, no I/O and no AWS or HTTP types.
//!
//! Everything here is deterministic and is tested directly (unit and property tests):
//! - [`ids`]: the identifiers and timestamps the rest of the crate speaks in.
//! - [`event`]: the lean, versioned internal event that travels on the queue.
//! - [`stock`]: stock per shop, item and location (the records and the facts about them).
//! - [`apply`]: [`apply::apply_change`], the one place where quantities move.
//! - [`commitment`]: where an order line counts as `committed` (the locations Shopify assigned).
//! - [`batch`]: turns a batch of events into one coalesced plan of writes (exactly once,
//!   order-safe).
//! - [`resolve`]: looks an event's items and locations up in the SKU map; what is missing is parked.
//! - [`erp_write`]: what the ERP is told (a write, its lines and key) and the rule per location.
//! - [`sales`]: Shopify orders as ERP sales orders, and the one-movement rule.
//! - [`storefront`]: what the storefront is told from the ERP (stock at ERP-master locations, the
//!   available-to-sell rule, restock dates, reorder signals, the field map).
//! - [`skumap`]: the Shopify-to-ERP reference table and the validation of its CSV import.
//! - [`variance`]: comparing Shopify, Stockbridge and the ERP per item and location (what
//!   reconciliation finds), and the
//!   corrections toward each location's master (streaming, flat memory).

pub mod apply;
pub mod batch;
pub mod commitment;
pub mod erp_write;
pub mod event;
pub mod ids;
pub mod resolve;
pub mod sales;
pub mod skumap;
pub mod stock;
pub mod storefront;
pub mod variance;
