//! The ERP poller Lambda: each scheduled invocation polls the ERP for `ERP_POLL_FOR_SECONDS`,
//! every `ERP_POLL_EVERY_SECONDS`, and answers with what it queued. With
//! `STOCKBRIDGE_LOCAL_POLL=1` it runs invocation after invocation until stopped (local stack).
//! After each run, the field map's way back (Shopify's metafield changes to the ERP) steps,
//! when the Admin API is configured.

use std::time::Instant;

use lambda_runtime::{service_fn, LambdaEvent};
use stockbridge_core::erp_feed::PollError;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    stockbridge_lambda::init_tracing();
    let sdk = stockbridge_aws::sdk::sdk_config().await;
    let (poller, timing) = erp_poller::poller(&sdk).await?;
    let back = erp_poller::fields_back(&sdk).await?;
    if std::env::var_os("STOCKBRIDGE_LOCAL_POLL").is_some() {
        let shutdown = stockbridge_lambda::local::shutdown_signal();
        while !*shutdown.borrow() {
            match poller
                .run(Instant::now() + timing.run_for, timing.every)
                .await
            {
                Ok(reports) => tracing::info!(polls = reports.len(), "poller run done"),
                Err(e) => {
                    tracing::warn!("poller run failed: {e}; again in 2 s");
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
            }
            fields_back(back.as_ref()).await;
        }
        return Ok(());
    }
    let (poller, timing, back) = (&poller, timing, &back);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline =
                stockbridge_lambda::sqs_batch::deadline_from_epoch_ms(event.context.deadline);
            let mut until = Instant::now() + timing.run_for;
            if let Some(d) = deadline {
                // Five seconds kept for the last page's queueing and the cursor write.
                until = until.min(
                    d.checked_sub(std::time::Duration::from_secs(5))
                        .unwrap_or(d),
                );
            }
            let polled = poller.run(until, timing.every).await;
            let back = fields_back(back.as_ref()).await;
            match polled {
                Ok(reports) => Ok::<_, lambda_runtime::Error>(serde_json::json!({
                    "fields_back": back,
                    "polls": reports.len(),
                    "moves": reports.iter().map(|r| r.moves).sum::<usize>(),
                    "echoes": reports.iter().map(|r| r.echoes).sum::<usize>(),
                    "changes": reports.iter().map(|r| r.changes).sum::<usize>(),
                })),
                // One poller at a time: an overlapping tick is not a failure.
                Err(held @ PollError::Held { .. }) => {
                    Ok(serde_json::json!({"skipped": held.to_string()}))
                }
                Err(e) => Err(e.into()),
            }
        },
    ))
    .await
}

/// The field map's way back after a poll run (its failure is logged: the next run carries on
/// from its cursor); the values written to the ERP.
async fn fields_back(back: Option<&erp_poller::Back>) -> usize {
    let Some(back) = back else { return 0 };
    match back.run(FIELDS_BACK_STEPS).await {
        Ok(reports) => reports.iter().map(|r| r.written).sum(),
        Err(e) => {
            tracing::warn!("the field map's way back failed: {e}");
            0
        }
    }
}

/// Pages of metafield changes read after one poll run.
const FIELDS_BACK_STEPS: usize = 5;
