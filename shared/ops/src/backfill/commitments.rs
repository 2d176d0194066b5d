//! The backfill's commitments repair: the starting records carry no `committed` (no order line
//! is held yet, see [`super::diff::starting_level`]), so once a location is recorded the
//! consumer is sent the same `refresh` the reconciliation sends to repair `committed`
//! ([`commitments_refresh`]): the location's open fulfillment orders, read with the
//! reconciliation's own read ([`open_fulfillment_orders`]), and the records Shopify said had
//! something committed. The consumer reads those fulfillment orders and takes their lines in,
//! so a later `orders/*` webhook of the same order finds its lines and counts nothing twice.

use stockbridge_core::ports::{EventQueue, ShopifyReads};
use stockbridge_core::reconcile::{commitments_refresh, open_fulfillment_orders};
use stockbridge_domain::ids::{LocationId, ShopDomain};
use stockbridge_domain::stock::StockKey;

use super::BackfillError;

/// Reads the open fulfillment orders at `location` and sends the consumer the `refresh`
/// messages naming them and the records `committed` (one message per send: each holds up to
/// 500 of either); returns how many fulfillment orders were named. Sends nothing when the
/// location has neither.
pub async fn send_commitments_repair<S, Q>(
    shopify: &S,
    queue: &Q,
    shop: &ShopDomain,
    run: &str,
    location: LocationId,
    committed: &[StockKey],
) -> Result<u64, BackfillError>
where
    S: ShopifyReads,
    Q: EventQueue,
{
    let open = open_fulfillment_orders(shopify, location)
        .await
        .map_err(|error| BackfillError::OpenOrders {
            location,
            why: error.to_string(),
        })?;
    for event in commitments_refresh(shop, run, location, &open, committed) {
        queue
            .send(std::slice::from_ref(&event))
            .await
            .map_err(|error| BackfillError::Queue { location, error })?;
    }
    Ok(open.len() as u64)
}
