//! The consumer's hand-over to the order flow ([`crate::sales_flow`]) after a batch: the
//! orders whose records changed, or that were retried, take their next steps; what is left
//! is retried on the events queue with a growing delay.

use std::collections::BTreeSet;

use stockbridge_domain::stock::OrderKey;

use crate::deadline::Clock;
use crate::ports::{Erp, ErpSales, EventQueue, ShopifyReads, SkuMapStore, StockStore};
use crate::sales_flow::SalesFlow;
use crate::telemetry::Unit;

use super::StockConsumer;

impl<S: StockStore + SkuMapStore, E: Erp, Q: EventQueue, R: ShopifyReads, O: ErpSales>
    StockConsumer<S, E, Q, R, O>
{
    /// Gives movements the ERP orders could not carry back to the stock push, through the
    /// queue (the stock batch changes the record and the stock records together). Without a
    /// queue, or if the send fails, the carried figure stays on the record and the exception
    /// says so (`stockbridge sales retry` sends the release again).
    async fn release(&self, release: &[(OrderKey, Vec<String>)]) {
        let Some(queue) = &self.retries else {
            if !release.is_empty() {
                tracing::warn!("no queue: movements the ERP orders refused stay carried");
            }
            return;
        };
        for (order, movements) in release {
            let event = crate::sales_flow::release_event(order, movements);
            if let Err(e) = queue.send(&[event]).await {
                tracing::error!(order = %order.order, "could not give refused movements back to the stock push: {e}");
            }
        }
    }

    /// The order flow for the orders the batch changed (and those retried): what is left
    /// (ERP unavailable, routing not read yet) gets a `sales_retry`; after
    /// [`crate::sales_flow::RETRY_ATTEMPTS`] it is counted (`SalesRetryAbandoned`, alarmed) and
    /// left for an operator (`stockbridge sales show`).
    pub(super) async fn place_orders(
        &self,
        flow: &SalesFlow<O>,
        orders: &BTreeSet<OrderKey>,
        attempt: u32,
        clock: &Clock,
    ) {
        if orders.is_empty() {
            return;
        }
        let orders: Vec<OrderKey> = orders.iter().cloned().collect();
        let again = if clock.time_for(self.settings.erp_reserve) {
            match flow.run(&self.store, &orders).await {
                Ok(report) => {
                    for (order, why) in &report.waits {
                        tracing::info!(order = %order.order, "order flow waits: {why}");
                    }
                    self.release(&report.release).await;
                    report.again
                }
                Err(e) => {
                    tracing::warn!("order flow failed, retried: {e}");
                    orders
                }
            }
        } else {
            orders
        };
        if again.is_empty() {
            return;
        }
        if attempt + 1 >= crate::sales_flow::RETRY_ATTEMPTS {
            self.metrics
                .put("SalesRetryAbandoned", again.len() as f64, Unit::Count, None);
            for order in &again {
                tracing::error!(
                    shop = %order.shop, order = %order.order,
                    "order not in the ERP after every retry; `stockbridge sales retry` sends it again"
                );
            }
            return;
        }
        let (events, delay) = crate::sales_flow::retry_events(&again, attempt + 1);
        match &self.retries {
            Some(queue) => {
                for event in events {
                    if let Err(e) = queue.send_after(&[event], delay).await {
                        tracing::error!("could not schedule the order flow's retry: {e}");
                    }
                }
            }
            None => tracing::warn!("no queue: orders left for the next change or reconciliation"),
        }
    }
}
