//! The reconcile Lambda: on its EventBridge schedule, compares Shopify, DynamoDB and the ERP for
//! one shop, corrects toward each location's master, stores a report and alerts over the
//! threshold. The schedule's input may carry `{"dry_run": true}`, `{"lift_cap": true}` or
//! `{"read": "bulk"}`; `{"action": "weekly_report"}` (the weekly schedule) instead keeps the
//! weekly health report in S3 and announces it on the bus; any other input is refused.

use lambda_runtime::{service_fn, LambdaEvent};
use stockbridge_core::reconcile::{policy_from_env, Action, ReconcileError, ShopifyRead};
use stockbridge_domain::ids::Timestamp;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    stockbridge_lambda::init_tracing();
    let sdk = stockbridge_aws::sdk::sdk_config().await;
    let reconciler = reconcile::reconciler(&sdk).await?;
    let policy = policy_from_env()?;
    let read = ShopifyRead::from_env()?;
    let needs = reconcile::webhook_needs()?;
    let needs = needs.as_ref();
    let (reconciler, policy, sdk) = (&reconciler, &policy, &sdk);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let request = reconcile::request_of(event.payload)?;
            if request.action == Action::WeeklyReport {
                let kept = reconcile::weekly_reporter(sdk)?
                    .publish(Timestamp::now())
                    .await?;
                return Ok(serde_json::json!({"weekly_report": kept.location, "runs": kept.runs}));
            }
            let options = reconcile::options_for(&request, policy, read);
            let outcome = match needs {
                Some(needs) => reconciler.run_checking_webhooks(&options, needs).await,
                None => reconciler.run(&options).await,
            };
            let report = match outcome {
                Ok(report) => report,
                // One run at a time: an overlapping tick is not a failure.
                Err(skipped @ ReconcileError::AlreadyRunning { .. }) => {
                    return Ok(serde_json::json!({"skipped": skipped.to_string()}))
                }
                Err(e) => return Err(e.into()),
            };
            Ok::<_, lambda_runtime::Error>(serde_json::json!({
                "run": report.run,
                "items_compared": report.items_compared,
                "variances": report.variances,
                "corrections_applied": report.corrections_applied,
                "corrections_held": report.corrections_held,
                "alert": report.alert,
            }))
        },
    ))
    .await
}
