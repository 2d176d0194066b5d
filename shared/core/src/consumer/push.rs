//! The consumer's ERP push after a batch ([`crate::erp_push`]): one push for everything the
//! batch touched, or, with too little time left, an `erp_retry` instead; what stays owed is
//! retried on the events queue, and messages whose retry cannot be sent fail and come back.

use std::collections::BTreeSet;
use std::time::Instant;

use stockbridge_domain::stock::StockKey;

use crate::erp_push::{retry_events, ErpPush};
use crate::ports::{Erp, ErpSales, EventQueue, ShopifyReads, SkuMapStore, StockStore};

use super::{BatchReport, StockConsumer, RETRY_BASE_DELAY};

impl<S: StockStore + SkuMapStore, E: Erp, Q: EventQueue, R: ShopifyReads, O: ErpSales>
    StockConsumer<S, E, Q, R, O>
{
    /// The ERP push skipped for want of time: the stock keeps its debt and an `erp_retry` (at
    /// the same attempt: the ERP did not fail) is scheduled; if it cannot be, the messages that
    /// touched that stock fail and come back.
    pub(super) async fn defer_erp(&self, attempt: u32, report: &mut BatchReport) {
        let (failed, keys) = report.owing();
        if keys.is_empty() {
            return;
        }
        let mut scheduled = self.retries.is_some();
        if let Some(queue) = &self.retries {
            // One message per send, as `push_to_erp` sends them.
            for retry in retry_events(&keys, attempt) {
                if let Err(e) = queue.send_after(&[retry], RETRY_BASE_DELAY).await {
                    tracing::error!("could not schedule the deferred ERP push: {e}");
                    scheduled = false;
                }
            }
        }
        if scheduled {
            self.metrics.count("ErpPushDeferred", None);
            tracing::warn!(
                pending = keys.len(),
                "deadline near: ERP push deferred to an erp_retry"
            );
        } else {
            let owed: Vec<String> = report
                .touched
                .iter()
                .filter(|(id, k)| !failed.contains(id) && !k.is_empty())
                .map(|(id, _)| id.clone())
                .collect();
            report.failed.extend(owed);
        }
        report.erp_pending = keys;
    }

    /// One ERP push for everything the batch touched (a burst across chunks coalesces too),
    /// starting nothing after `deadline`. Stock still owed afterwards gets scheduled retries
    /// ([`crate::erp_push::PushReport::retries`]: a growing delay after an ERP failure, one
    /// retry after the lease for stock that met another consumer's write in flight); stock
    /// whose retry cannot be sent fails the messages that touched it, so they come back.
    /// Parked stock waits for its operator.
    pub(super) async fn push_to_erp(
        &self,
        erp: &ErpPush<E>,
        attempt: u32,
        deadline: Option<Instant>,
        report: &mut BatchReport,
    ) {
        let (failed, keys) = report.owing();
        if keys.is_empty() {
            return;
        }
        let pushed = erp.push_before(&self.store, &keys, deadline).await;
        report.latency.merge(&pushed.latency);
        if !pushed.parked.is_empty() {
            tracing::warn!(
                parked = pushed.parked.len(),
                "stock owed behind ERP writes parked for an operator (`stockbridge erp parked`)"
            );
        }
        let mut unscheduled: BTreeSet<StockKey> = BTreeSet::new();
        for retry in pushed.retries(attempt) {
            let mut sent = self.retries.is_some();
            if let Some(queue) = &self.retries {
                // One message per send: a batch of them could pass SQS's 256 KB.
                for event in retry_events(&retry.keys, retry.attempt) {
                    if let Err(e) = queue.send_after(&[event], retry.delay).await {
                        tracing::error!("could not schedule the ERP retry: {e}");
                        sent = false;
                    }
                }
            }
            if sent {
                self.metrics.count("ErpRetryScheduled", Some(retry.reason));
                tracing::warn!(
                    pending = retry.keys.len(),
                    delay_s = retry.delay.as_secs(),
                    reason = retry.reason,
                    error = ?pushed.last_error,
                    "ERP push incomplete; retry scheduled"
                );
            } else {
                unscheduled.extend(retry.keys);
            }
        }
        let owed: Vec<String> = report
            .touched
            .iter()
            .filter(|(id, keys)| {
                keys.iter().any(|k| unscheduled.contains(k)) && !failed.contains(id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        report.failed.extend(owed);
        report.erp_pending = pushed.pending;
    }
}
