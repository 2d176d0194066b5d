//! The webhook topics Stockbridge subscribes to, and what each is for.

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
    OrdersCancelled,
    OrdersFulfilled,
    OrdersPartiallyFulfilled,
    FulfillmentsCreate,
    FulfillmentsUpdate,
    RefundsCreate,
    CustomersDataRequest,
    CustomersRedact,
    ShopRedact,
}

impl Topic {
    pub const ALL: [Topic; 17] = [
        Topic::InventoryLevelsUpdate,
        Topic::InventoryLevelsConnect,
        Topic::InventoryLevelsDisconnect,
        Topic::InventoryItemsCreate,
        Topic::InventoryItemsUpdate,
        Topic::InventoryItemsDelete,
        Topic::OrdersCreate,
        Topic::OrdersUpdated,
        Topic::OrdersCancelled,
        Topic::OrdersFulfilled,
        Topic::OrdersPartiallyFulfilled,
        Topic::FulfillmentsCreate,
        Topic::FulfillmentsUpdate,
        Topic::RefundsCreate,
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
            Topic::OrdersCancelled => "orders/cancelled",
            Topic::OrdersFulfilled => "orders/fulfilled",
            Topic::OrdersPartiallyFulfilled => "orders/partially_fulfilled",
            Topic::FulfillmentsCreate => "fulfillments/create",
            Topic::FulfillmentsUpdate => "fulfillments/update",
            Topic::RefundsCreate => "refunds/create",
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
        assert_eq!(
            Topic::parse("INVENTORY_LEVELS_UPDATE"),
            Some(Topic::InventoryLevelsUpdate)
        );
        assert_eq!(Topic::parse("products/update"), None);
        assert_eq!(Topic::parse(""), None);
    }
}
