//! The reconcile Lambda: on its EventBridge schedule, compares Shopify, DynamoDB and the ERP for
//! one shop, corrects toward each location's master, stores a report and alerts over the
//! threshold. The schedule's input may carry `{"dry_run": true}`, `{"lift_cap": true}` or
//! `{"read": "bulk"}`.

use lambda_runtime::{service_fn, LambdaEvent};
use stockbridge::adapters::aws::sdk_config;
use stockbridge::domain::reconcile::Policy;
use stockbridge::reconcile::{DeployedReconciler, RunOptions, RunRequest, ShopifyRead};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    stockbridge::telemetry::init_tracing();
    let sdk = sdk_config().await;
    let reconciler = DeployedReconciler::from_env(&sdk).await?;
    let policy = Policy::from_env()?;
    let read = ShopifyRead::from_env()?;
    let reconciler = &reconciler;
    let policy = &policy;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            // A scheduled event carries the request in `detail` (or is the request itself when
            // the rule passes a constant input).
            let raw = event
                .payload
                .get("detail")
                .cloned()
                .unwrap_or(event.payload);
            let request: RunRequest = serde_json::from_value(raw).unwrap_or_default();
            let mut options = RunOptions {
                policy: policy.clone(),
                lift_cap: request.lift_cap,
                read: request.read.unwrap_or(read),
            };
            if let Some(dry) = request.dry_run {
                options.policy.dry_run = dry;
            }
            let report = reconciler.run(&options).await?;
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
