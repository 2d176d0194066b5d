//! Bulk operations: a location's levels read back in item order.

pub mod item_order;
