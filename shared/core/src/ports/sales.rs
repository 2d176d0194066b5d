//! The port of the ERP's sales orders ([`ErpSales`]): Shopify orders placed in the ERP as sales
//! orders, revised, cancelled, shipped and taken back, each call idempotent by its reference.
//!
//! What is sent is ids, item codes and quantities only: the order's number (`#1001`), never a
//! customer's name, e-mail, address or phone. Every sales order goes to one configured generic
//! customer of the ERP ("Shopify customers").

use std::future::Future;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ErpError;

/// One line of a sales order: an ERP item and its quantity in ERP units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesLine {
    /// Which Shopify order line it comes from (`line_items[].id`, as text): lines are matched
    /// by it when an order is revised.
    pub line: String,
    /// ERP item code.
    pub item: String,
    /// ERP units, positive.
    pub quantity: Decimal,
}

/// A sales order as the ERP should hold it: one per Shopify order and ERP warehouse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesOrder {
    /// The idempotency key and the link back to Shopify, e.g. `shopify:shop.myshopify.com:
    /// 450789469:WH`: the ERP never holds two orders with one reference.
    pub reference: String,
    /// Shopify's order number (`name`, e.g. `#1001`), for people reading the ERP.
    pub number: String,
    /// ERP warehouse code the order ships from.
    pub warehouse: String,
    pub lines: Vec<SalesLine>,
}

/// Goods leaving under a sales order (a Shopify fulfilment) or coming back (a restocked
/// return): one ERP document, keyed by `key` so that it happens once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesMovement {
    /// The reference of the sales order it belongs to.
    pub order: String,
    /// Unique per movement, e.g. `shopify:shop.myshopify.com:fulfillment:255858046`.
    pub key: String,
    /// ERP warehouse code.
    pub warehouse: String,
    /// Lines and quantities (ERP units, positive).
    pub lines: Vec<SalesLine>,
}

/// What the ERP holds for a reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesOrderView {
    pub reference: String,
    /// The ERP's own number for it (Tryton's `sale.sale.number`).
    pub erp_number: Option<String>,
    pub state: SalesOrderState,
    pub lines: Vec<SalesLine>,
    /// Units shipped so far per Shopify line (ERP units).
    #[serde(default)]
    pub shipped: Vec<SalesLine>,
    /// Units taken back so far per Shopify line (ERP units).
    #[serde(default)]
    pub returned: Vec<SalesLine>,
}

/// Where a sales order is in the ERP's workflow, in the generic terms of
/// `docs/erp-http-api.yaml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SalesOrderState {
    /// Still editable (Tryton: draft or quotation).
    Draft,
    /// Confirmed: the ERP plans its shipment (Tryton: confirmed or processing).
    Confirmed,
    /// Everything shipped (Tryton: done).
    Done,
    Cancelled,
}

/// What an attempt to change a placed sales order came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Done (or it was already so).
    Made,
    /// The ERP does not allow it any more (e.g. lines of a confirmed Tryton sale, or a
    /// cancellation after goods shipped): the reason, for an operator.
    Refused(String),
}

/// What the order flow needs from an ERP's sales module.
pub trait ErpSales: Send + Sync {
    /// Places the order, confirmed, unless the ERP already holds `order.reference` (then
    /// finishes an earlier attempt's workflow and changes nothing else). Returns what the ERP
    /// holds now.
    fn place(
        &self,
        order: &SalesOrder,
    ) -> impl Future<Output = Result<SalesOrderView, ErpError>> + Send;
    /// Brings the lines of a placed order to `order.lines`, if the ERP still allows it.
    fn revise(&self, order: &SalesOrder) -> impl Future<Output = Result<Change, ErpError>> + Send;
    /// Cancels a placed order if nothing of it shipped; an order the ERP does not hold, or
    /// holds cancelled, is `Made`.
    fn cancel(&self, reference: &str) -> impl Future<Output = Result<Change, ErpError>> + Send;
    /// Ships these units from the order's warehouse through the order's own customer
    /// shipment, once per `movement.key`.
    fn ship(
        &self,
        movement: &SalesMovement,
    ) -> impl Future<Output = Result<Change, ErpError>> + Send;
    /// Takes these units back into the order's warehouse (a customer return under the order),
    /// once per `movement.key`.
    fn take_back(
        &self,
        movement: &SalesMovement,
    ) -> impl Future<Output = Result<Change, ErpError>> + Send;
    /// What the ERP holds for `reference`, if anything.
    fn find(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<SalesOrderView>, ErpError>> + Send;
}
