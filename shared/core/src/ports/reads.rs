//! The port of the stock consumer's reads of Shopify's Admin API ([`ShopifyReads`]), what they
//! answer, and [`NoShopify`] for a consumer without them.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::ShopifyError;

/// A fulfillment order as the Admin API reads it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentOrderRead {
    pub id: stockbridge_domain::ids::FulfillmentOrderId,
    pub order: stockbridge_domain::ids::OrderId,
    /// `assignedLocation.location.id`.
    pub location: stockbridge_domain::ids::LocationId,
    /// False when `status` is `CLOSED` or `CANCELLED`: its lines commit nothing any more.
    pub open: bool,
    /// Each line with an inventory item (`inventoryItemId`), and its `remainingQuantity`.
    pub lines: Vec<stockbridge_domain::event::FulfillmentOrderLine>,
    /// `updatedAt`: what the read is as of, on Shopify's clock (the one `updated_at` in
    /// webhooks is on). `None`: the consumer takes the time of the read, less a second.
    #[serde(default)]
    pub updated_at: Option<stockbridge_domain::ids::Timestamp>,
}

/// Every quantity name of one item at one location, as the Admin API reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelRead {
    pub item: stockbridge_domain::ids::InventoryItemId,
    pub location: stockbridge_domain::ids::LocationId,
    /// `None`: the item is not stocked at the location (no inventory level).
    pub quantities: Option<stockbridge_domain::event::ShopifyQuantities>,
    /// The level's `updatedAt` (see [`FulfillmentOrderRead::updated_at`]).
    #[serde(default)]
    pub updated_at: Option<stockbridge_domain::ids::Timestamp>,
}

/// The reads the stock consumer makes of Shopify's Admin API to explain what webhooks leave
/// open: where Shopify assigned an order's lines, and the quantity names webhooks never carry.
/// Adapters batch and pace them within the shop's cost budget; one call may make several
/// requests.
pub trait ShopifyReads: Send + Sync {
    /// The fulfillment orders `ids` as they are now; ids Shopify does not know are left out.
    fn fulfillment_orders(
        &self,
        ids: &[stockbridge_domain::ids::FulfillmentOrderId],
    ) -> impl Future<Output = Result<Vec<FulfillmentOrderRead>, ShopifyError>> + Send;
    /// Every quantity name at each `(item, location)`; one [`LevelRead`] per pair asked.
    fn quantities(
        &self,
        pairs: &[(
            stockbridge_domain::ids::InventoryItemId,
            stockbridge_domain::ids::LocationId,
        )],
    ) -> impl Future<Output = Result<Vec<LevelRead>, ShopifyError>> + Send;
    /// One page of the fulfillment orders still to be fulfilled (not closed or cancelled)
    /// assigned to `location`, after `cursor`; the next cursor is `None` at the end.
    fn open_fulfillment_orders(
        &self,
        location: stockbridge_domain::ids::LocationId,
        cursor: Option<String>,
    ) -> impl Future<Output = Result<(Vec<FulfillmentOrderRead>, Option<String>), ShopifyError>> + Send;
}

/// No Admin API: a consumer that cannot read Shopify. Uninhabited: what webhooks leave
/// unexplained stays so (the ERP is told nothing of it) until reconciliation reads it.
#[derive(Clone, Copy, Debug)]
pub enum NoShopify {}

impl ShopifyReads for NoShopify {
    async fn fulfillment_orders(
        &self,
        _: &[stockbridge_domain::ids::FulfillmentOrderId],
    ) -> Result<Vec<FulfillmentOrderRead>, ShopifyError> {
        match *self {}
    }

    async fn quantities(
        &self,
        _: &[(
            stockbridge_domain::ids::InventoryItemId,
            stockbridge_domain::ids::LocationId,
        )],
    ) -> Result<Vec<LevelRead>, ShopifyError> {
        match *self {}
    }

    async fn open_fulfillment_orders(
        &self,
        _: stockbridge_domain::ids::LocationId,
        _: Option<String>,
    ) -> Result<(Vec<FulfillmentOrderRead>, Option<String>), ShopifyError> {
        match *self {}
    }
}
