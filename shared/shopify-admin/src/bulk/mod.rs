//! Bulk operations: a location's levels read back in item order.
//!
//! - `run`: `bulkOperationRunQuery` over the location's levels, then `currentBulkOperation`
//!   polled until it completes (or fails, or the client's bulk timeout passes:
//!   [`crate::BULK_TIMEOUT`] unless [`crate::ShopifyGraphql::with_bulk_timeout`] set another);
//! - `download`: the result URL checked (https, an expected host: [`RESULT_HOSTS`]), its JSONL
//!   streamed without the access token, one line at most [`MAX_LINE`] bytes, each line a level
//!   pushed into [`item_order`];
//! - [`item_order`]: the bounded-memory external sort that puts the lines back in inventory item
//!   order (Shopify promises no order).

mod download;
pub mod item_order;
mod run;

pub use download::{MAX_LINE, RESULT_HOSTS};

#[cfg(test)]
mod run_tests;
