//! In-memory adapters of the ports in `stockbridge_core::ports`, for handler tests that run in
//! milliseconds with no service behind them. They keep the semantics of the real adapters where
//! the handlers can tell the difference, and they can be told to fail.
//!
//! - [`MemoryStore`] ([`store`], [`stock`], [`skumap`], [`inbox`]): `StockStore`, `SkuMapStore`
//!   and `Inbox` in one struct, as the DynamoDB adapter is: revision-checked conditional writes,
//!   an all-or-nothing `commit` that fails with `Conflict` or `TooLarge` exactly where DynamoDB's
//!   transaction would, and fault injection per operation ([`StoreOp`], [`Fault`]), including a
//!   concurrent writer run between a handler's read and its commit
//!   ([`MemoryStore::before_next_commit`]).
//!   Paged `shop/redact` (`redact`) reads every record in one fixed order, as a Scan does.
//! - `RunLock` on the same [`MemoryStore`] ([`lease`]): a job's lease, taken if free or expired.
//! - [`MemoryQueue`] ([`queue`]): `EventQueue`; records every message with its delay and hands
//!   the waiting ones out as `(message id, body)` pairs for `StockConsumer::apply_messages`.
//! - [`MemoryAlerts`] ([`alerts`]): `AlertSink`; records what was published.
//! - [`MemoryShopify`] ([`shopify`]): `ShopifyReads` over a shop the test describes (quantity
//!   names per level, fulfillment orders); counts calls and can fail the next ones.
//!   [`EchoShopify`]: one that agrees with whatever a store holds (for push tests).
//!   `ShopifyAdmin` and `Metafields` on the same [`MemoryShopify`] ([`shopify_writes`]):
//!   compare-and-set of `available`, idempotency keys, the adjustment history, metafields, and a
//!   sale run between a reader's read and its write.
//! - [`MemoryErp`] ([`erp`]): `Erp`; applies each write key once, keeps on-hand per warehouse and
//!   item, and can fail its next calls or lose the answer of a write it applied; and
//!   `ErpSales` (`erp_sales`): sales orders by reference, shipments and returns once per key.
//! - `FeedCursorStore`, `ErpRecords` and `StorefrontMap` on the same [`MemoryStore`]
//!   ([`two_way`]): the ERP feed's cursors, the ERP records per warehouse and item and the look-up
//!   by ERP item, revision-checked as in DynamoDB.
//!
//! Every adapter is a cheap handle (`Clone` shares the state), so a test can hand one to a
//! handler and still read what happened through another.

pub mod alerts;
pub mod erp;
mod erp_sales;
pub mod inbox;
mod latency;
pub mod lease;
pub mod queue;
mod redact;
pub mod shopify;
pub mod shopify_writes;
pub mod skumap;
pub mod stock;
pub mod store;
pub mod two_way;

pub use alerts::MemoryAlerts;
pub use erp::MemoryErp;
pub use queue::{MemoryQueue, Message};
pub use shopify::{EchoShopify, MemoryShopify};
pub use store::{Fault, LogEntry, MemoryStore, StoreOp};
