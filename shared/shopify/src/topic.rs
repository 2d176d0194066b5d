//! The webhook topics Stockbridge subscribes to, and what each is for.
//!
//! Inventory levels and items say what Shopify holds; orders, fulfilments and refunds say what
//! committed or moved stock, and orders (`orders/paid` too) what the ERP's sales order holds; `fulfillment_orders/*` say that Shopify assigned, moved, held,
//! released, cancelled, split or merged the parts of an order a location fulfils (the consumer
//! then reads those fulfillment orders through the Admin API); the privacy topics are mandatory.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    InventoryLevelsUpdate,
    InventoryLevelsConnect,
    InventoryLevelsDisconnect,
    InventoryItemsCreate,
    InventoryItemsUpdate,
    InventoryItemsDelete,
    OrdersCreate,
    OrdersUpdated,
    /// The order's payment was captured in full (`financial_status` became `paid`).
    OrdersPaid,
    OrdersCancelled,
    OrdersFulfilled,
    OrdersPartiallyFulfilled,
    FulfillmentsCreate,
    FulfillmentsUpdate,
    RefundsCreate,
    /// `fulfillment_orders/*`: the payload names fulfillment orders that changed.
    FulfillmentOrders(FulfillmentOrderTopic),
    CustomersDataRequest,
    CustomersRedact,
    ShopRedact,
}

/// The `fulfillment_orders/*` topics that can change where an order line counts as committed, or
/// whether it still does: each names the fulfillment orders it changed, nothing of their lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FulfillmentOrderTopic {
    /// Routing assigned the order's fulfillment orders to locations.
    OrderRoutingComplete,
    /// Lines moved to a fulfillment order at another location.
    Moved,
    HoldReleased,
    /// Held, possibly in part (the rest goes to a new fulfillment order).
    PlacedOnHold,
    /// A fulfillment service accepted to cancel: the fulfillment order closes.
    CancellationRequestAccepted,
    /// Cancelled, possibly with a replacement fulfillment order.
    Cancelled,
    Split,
    Merged,
    Rescheduled,
    ScheduledFulfillmentOrderReady,
    FulfillmentRequestAccepted,
    LineItemsPreparedForPickup,
    LineItemsPreparedForLocalDelivery,
}

impl FulfillmentOrderTopic {
    pub fn as_str(self) -> &'static str {
        use FulfillmentOrderTopic::*;
        match self {
            OrderRoutingComplete => "fulfillment_orders/order_routing_complete",
            Moved => "fulfillment_orders/moved",
            HoldReleased => "fulfillment_orders/hold_released",
            PlacedOnHold => "fulfillment_orders/placed_on_hold",
            CancellationRequestAccepted => "fulfillment_orders/cancellation_request_accepted",
            Cancelled => "fulfillment_orders/cancelled",
            Split => "fulfillment_orders/split",
            Merged => "fulfillment_orders/merged",
            Rescheduled => "fulfillment_orders/rescheduled",
            ScheduledFulfillmentOrderReady => {
                "fulfillment_orders/scheduled_fulfillment_order_ready"
            }
            FulfillmentRequestAccepted => "fulfillment_orders/fulfillment_request_accepted",
            LineItemsPreparedForPickup => "fulfillment_orders/line_items_prepared_for_pickup",
            LineItemsPreparedForLocalDelivery => {
                "fulfillment_orders/line_items_prepared_for_local_delivery"
            }
        }
    }
}

impl Topic {
    pub const ALL: [Topic; 31] = [
        Topic::InventoryLevelsUpdate,
        Topic::InventoryLevelsConnect,
        Topic::InventoryLevelsDisconnect,
        Topic::InventoryItemsCreate,
        Topic::InventoryItemsUpdate,
        Topic::InventoryItemsDelete,
        Topic::OrdersCreate,
        Topic::OrdersUpdated,
        Topic::OrdersPaid,
        Topic::OrdersCancelled,
        Topic::OrdersFulfilled,
        Topic::OrdersPartiallyFulfilled,
        Topic::FulfillmentsCreate,
        Topic::FulfillmentsUpdate,
        Topic::RefundsCreate,
        Topic::FulfillmentOrders(FulfillmentOrderTopic::OrderRoutingComplete),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::Moved),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::HoldReleased),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::PlacedOnHold),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::CancellationRequestAccepted),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::Cancelled),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::Split),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::Merged),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::Rescheduled),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::ScheduledFulfillmentOrderReady),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::FulfillmentRequestAccepted),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::LineItemsPreparedForPickup),
        Topic::FulfillmentOrders(FulfillmentOrderTopic::LineItemsPreparedForLocalDelivery),
        Topic::CustomersDataRequest,
        Topic::CustomersRedact,
        Topic::ShopRedact,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::InventoryLevelsUpdate => "inventory_levels/update",
            Topic::InventoryLevelsConnect => "inventory_levels/connect",
            Topic::InventoryLevelsDisconnect => "inventory_levels/disconnect",
            Topic::InventoryItemsCreate => "inventory_items/create",
            Topic::InventoryItemsUpdate => "inventory_items/update",
            Topic::InventoryItemsDelete => "inventory_items/delete",
            Topic::OrdersCreate => "orders/create",
            Topic::OrdersUpdated => "orders/updated",
            Topic::OrdersPaid => "orders/paid",
            Topic::OrdersCancelled => "orders/cancelled",
            Topic::OrdersFulfilled => "orders/fulfilled",
            Topic::OrdersPartiallyFulfilled => "orders/partially_fulfilled",
            Topic::FulfillmentsCreate => "fulfillments/create",
            Topic::FulfillmentsUpdate => "fulfillments/update",
            Topic::RefundsCreate => "refunds/create",
            Topic::FulfillmentOrders(t) => t.as_str(),
            Topic::CustomersDataRequest => "customers/data_request",
            Topic::CustomersRedact => "customers/redact",
            Topic::ShopRedact => "shop/redact",
        }
    }

    /// Parses `X-Shopify-Topic` (case-insensitive; Shopify's GraphQL enum form
    /// `ORDERS_CREATE` is accepted too).
    pub fn parse(header: &str) -> Option<Topic> {
        let wanted = header.trim().to_ascii_lowercase().replace('_', "/");
        Topic::ALL.into_iter().find(|t| {
            t.as_str() == header.trim().to_ascii_lowercase()
                || t.as_str().replace('_', "/") == wanted
        })
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_topic_and_its_enum_form() {
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.as_str()), Some(t));
            assert_eq!(Topic::parse(&t.as_str().to_uppercase()), Some(t));
        }
        assert_eq!(
            Topic::parse("ORDERS_PARTIALLY_FULFILLED"),
            Some(Topic::OrdersPartiallyFulfilled)
        );
        assert_eq!(Topic::parse("ORDERS_PAID"), Some(Topic::OrdersPaid));
        assert_eq!(
            Topic::parse("INVENTORY_LEVELS_UPDATE"),
            Some(Topic::InventoryLevelsUpdate)
        );
        assert_eq!(
            Topic::parse("FULFILLMENT_ORDERS_SCHEDULED_FULFILLMENT_ORDER_READY"),
            Some(Topic::FulfillmentOrders(
                FulfillmentOrderTopic::ScheduledFulfillmentOrderReady
            ))
        );
        let names: std::collections::HashSet<&str> =
            Topic::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names.len(), Topic::ALL.len(), "a topic is listed twice");
        // Authentic topics Stockbridge does not subscribe to stay unknown.
        assert_eq!(
            Topic::parse("fulfillment_orders/fulfillment_request_submitted"),
            None
        );
        assert_eq!(Topic::parse("products/update"), None);
        assert_eq!(Topic::parse(""), None);
    }
}
