//! Running a bulk operation: `bulkOperationRunQuery` over a location's levels, then
//! `currentBulkOperation` polled (250 ms doubling to 5 s) until it completes, fails, is replaced
//! by another, or the client's bulk timeout ([`crate::BULK_TIMEOUT`] unless set) passes; the
//! completed result is handed to the download.

use std::time::{Duration, Instant};

use serde_json::json;

use stockbridge_core::ports::ShopifyError;
use stockbridge_domain::ids::LocationId;

use crate::bulk::item_order::InItemOrder;
use crate::client::describe_user_errors;
use crate::wire::{bulk_levels_query, BulkPollData, BulkRunData, BULK_MUTATION, BULK_POLL};
use crate::{ShopifyGraphql, MUTATION_COST};

/// The first wait between polls, and the longest.
const FIRST_POLL_WAIT: Duration = Duration::from_millis(250);
const MAX_POLL_WAIT: Duration = Duration::from_secs(5);

impl ShopifyGraphql {
    /// Every level at `location` through a bulk operation, in inventory item order.
    pub(crate) async fn read_bulk_levels(
        &self,
        location: LocationId,
    ) -> Result<InItemOrder, ShopifyError> {
        self.pace(MUTATION_COST).await;
        let data: BulkRunData = self
            .call(
                "bulkOperationRunQuery",
                BULK_MUTATION,
                json!({ "query": bulk_levels_query(location) }),
                None,
            )
            .await?;
        let payload = data.bulk_operation_run_query.ok_or_else(|| {
            ShopifyError::Unavailable("bulkOperationRunQuery: the answer carries no payload".into())
        })?;
        if !payload.user_errors.is_empty() {
            let detail = describe_user_errors(&payload.user_errors);
            let busy = payload
                .user_errors
                .iter()
                .any(|e| e.code.as_deref() == Some("OPERATION_IN_PROGRESS"));
            return Err(if busy {
                ShopifyError::Unavailable(format!("bulkOperationRunQuery: {detail}"))
            } else {
                ShopifyError::Rejected(format!("bulkOperationRunQuery: {detail}"))
            });
        }
        let ours = payload.bulk_operation.ok_or_else(|| {
            ShopifyError::Unavailable("bulkOperationRunQuery: no operation was created".into())
        })?;
        tracing::info!(id = ours.id, status = ours.status, %location, "Shopify bulk operation started");
        let url = self.await_bulk_result(&ours.id).await?;
        self.download_in_item_order(url, location).await
    }

    /// Polls until the operation `id` completes; its result URL (`None`: it found nothing).
    async fn await_bulk_result(&self, id: &str) -> Result<Option<String>, ShopifyError> {
        let started = Instant::now();
        let mut wait = FIRST_POLL_WAIT;
        loop {
            self.pace(1.0).await;
            let poll: BulkPollData = self
                .call("currentBulkOperation", BULK_POLL, json!({}), None)
                .await?;
            let Some(op) = poll.current_bulk_operation.filter(|op| op.id == id) else {
                return Err(ShopifyError::Unavailable(format!(
                    "bulk operation {id} is no longer the current one (another app run started one?)"
                )));
            };
            match op.status.as_str() {
                "COMPLETED" => return Ok(op.url),
                "CREATED" | "RUNNING" => {}
                other => {
                    return Err(ShopifyError::Unavailable(format!(
                        "bulk operation {id} ended {other} ({})",
                        op.error_code.as_deref().unwrap_or("no error code")
                    )))
                }
            }
            if started.elapsed() > self.bulk_timeout {
                return Err(ShopifyError::Unavailable(format!(
                    "bulk operation {id} still running after {} s",
                    self.bulk_timeout.as_secs()
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_POLL_WAIT);
        }
    }
}
