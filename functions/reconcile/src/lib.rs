//! The reconcile function's composition root: which adapters the reconciler runs on, and what a
//! scheduled invocation asks for.
//!
//! Environment (set by `template.yaml`): `RECONCILE_SHOP`, `SHOPIFY_ADMIN_URL`, the Admin API
//! token (`SHOPIFY_ACCESS_TOKEN` locally, else the SSM SecureString named by
//! `SHOPIFY_TOKEN_SSM_PARAM`), the four tables, `EVENTS_QUEUE_URL`, `EVENT_BUS_NAME`, the ERP
//! settings, and the policy (`RECONCILE_*`, see `stockbridge_core::reconcile::policy_from_env`).
//! `WEBHOOK_URL` (the API's webhook endpoint) is what the start-of-run webhook subscription check
//! compares the shop's subscriptions with (`stockbridge_core::webhook_health`).
//! The weekly health report (`{"action": "weekly_report"}`) also reads `HEALTH_REPORT_BUCKET`
//! and `EVENTS_DLQ_URL`, when it runs.

use serde::Deserialize;
use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::eventbridge::EventBridgeAlerts;
use stockbridge_aws::health_reports::{S3HealthReports, SqsDeadLetterDepth};
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_aws::ssm::SsmSecrets;
use stockbridge_core::config::{required_env, ConfigError, SecretSource};
use stockbridge_core::reconcile::{Action, Reconciler, RunOptions, RunRequest};
use stockbridge_core::telemetry::Metrics;
use stockbridge_core::weekly::WeeklyReporter;
use stockbridge_domain::ids::ShopDomain;
use stockbridge_erp::AnyErp;
use stockbridge_shopify_admin::ShopifyGraphql;

/// The reconciler as deployed: DynamoDB, the configured ERP, Shopify's Admin API, SQS and
/// EventBridge.
pub type DeployedReconciler =
    Reconciler<DynamoStore, AnyErp, ShopifyGraphql, SqsQueue, EventBridgeAlerts>;

/// Builds the reconciler once per process (cold start).
pub async fn reconciler(sdk: &aws_config::SdkConfig) -> Result<DeployedReconciler, ConfigError> {
    let secrets = SsmSecrets::new(sdk);
    let shop = ShopDomain::new(&required_env("RECONCILE_SHOP")?);
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), Tables::from_env()?);
    let erp = AnyErp::load(&secrets).await?;
    let token = secrets
        .secret("SHOPIFY_ACCESS_TOKEN", "SHOPIFY_TOKEN_SSM_PARAM")
        .await?;
    let shopify = ShopifyGraphql::new(&required_env("SHOPIFY_ADMIN_URL")?, &token)?;
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        required_env("EVENTS_QUEUE_URL")?,
    );
    let alerts = EventBridgeAlerts::new(
        aws_sdk_eventbridge::Client::new(sdk),
        required_env("EVENT_BUS_NAME")?,
    );
    Ok(Reconciler {
        shop,
        store,
        erp,
        shopify,
        queue,
        alerts,
        metrics: Metrics::new("reconcile"),
    })
}

/// The weekly health report as deployed: the inbox (DynamoDB), the report bucket (S3), the
/// dead-letter queue's depth (SQS) and the bus.
pub type DeployedWeeklyReporter =
    WeeklyReporter<DynamoStore, S3HealthReports, SqsDeadLetterDepth, EventBridgeAlerts>;

/// Builds the weekly reporter (at the weekly invocation: a reconcile-only environment without
/// the report's settings still reconciles).
pub fn weekly_reporter(sdk: &aws_config::SdkConfig) -> Result<DeployedWeeklyReporter, ConfigError> {
    Ok(WeeklyReporter {
        shop: ShopDomain::new(&required_env("RECONCILE_SHOP")?),
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), Tables::from_env()?),
        archive: S3HealthReports::from_env(sdk)?,
        dead_letters: SqsDeadLetterDepth::from_env(sdk)?,
        alerts: EventBridgeAlerts::new(
            aws_sdk_eventbridge::Client::new(sdk),
            required_env("EVENT_BUS_NAME")?,
        ),
    })
}

/// What the start-of-run webhook check compares the shop with: Stockbridge's topics, scopes and
/// API version, delivered to `WEBHOOK_URL` (the template's webhook endpoint). Unset: no check
/// (logged at start); a value that is not a URL is an error naming the variable.
pub fn webhook_needs() -> Result<Option<stockbridge_core::webhook_health::Needs>, ConfigError> {
    let Ok(url) = std::env::var("WEBHOOK_URL") else {
        tracing::warn!("WEBHOOK_URL is not set: webhook subscriptions are not checked");
        return Ok(None);
    };
    stockbridge_core::webhook_health::Needs::stockbridge(&url)
        .map(Some)
        .map_err(|e| ConfigError::Invalid {
            name: "WEBHOOK_URL",
            detail: e.to_string(),
        })
}

/// Why a scheduled invocation was refused.
#[derive(Debug, thiserror::Error)]
#[error("the invocation's input is not a reconcile request: {0}; expected an object with optional dry_run (bool), lift_cap (bool) and read (\"paged\" or \"bulk\"), or {{\"action\": \"weekly_report\"}} alone")]
pub struct BadRequest(String);

/// The request an invocation carries: an EventBridge scheduled event carries it in `detail`
/// (empty for a plain schedule), a rule with a constant input passes the request itself.
/// Anything else is refused with its reason, never run as a default.
pub fn request_of(payload: serde_json::Value) -> Result<RunRequest, BadRequest> {
    #[derive(Deserialize)]
    struct Scheduled {
        #[serde(rename = "detail-type")]
        _detail_type: String,
        detail: serde_json::Value,
    }
    let raw = match serde_json::from_value::<Scheduled>(payload.clone()) {
        Ok(s) => s.detail,
        Err(_) => payload,
    };
    let raw = match raw {
        serde_json::Value::Null => serde_json::json!({}),
        other => other,
    };
    let request: RunRequest = serde_json::from_value(raw).map_err(|e| BadRequest(e.to_string()))?;
    if request.action == Action::WeeklyReport
        && (request.dry_run.is_some() || request.lift_cap || request.read.is_some())
    {
        return Err(BadRequest(
            "weekly_report takes no dry_run, lift_cap or read".into(),
        ));
    }
    Ok(request)
}

/// The options of one run: the deployed policy and read, as the request adjusts them.
pub fn options_for(
    request: &RunRequest,
    policy: &stockbridge_domain::variance::Policy,
    read: stockbridge_core::reconcile::ShopifyRead,
) -> RunOptions {
    let mut options = RunOptions {
        policy: policy.clone(),
        lift_cap: request.lift_cap,
        read: request.read.unwrap_or(read),
    };
    if let Some(dry) = request.dry_run {
        options.policy.dry_run = dry;
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schedule_event_carries_its_request_in_detail() {
        let event = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        let r = request_of(event).expect("plain schedule");
        assert!(r.dry_run.is_none() && !r.lift_cap && r.read.is_none());
        let event = json!({"detail-type": "Scheduled Event", "detail": {"dry_run": true}});
        assert_eq!(request_of(event).expect("dry").dry_run, Some(true));
    }

    #[test]
    fn a_constant_input_is_the_request_itself() {
        let r = request_of(json!({"read": "bulk", "lift_cap": true})).expect("input");
        assert!(r.lift_cap);
        assert_eq!(r.read, Some(stockbridge_core::reconcile::ShopifyRead::Bulk));
    }

    #[test]
    fn a_malformed_request_is_refused_not_defaulted() {
        assert!(request_of(json!({"dry_run": "yes"})).is_err());
        assert!(request_of(json!({"read": "sideways"})).is_err());
        assert!(
            request_of(json!({"dryrun": true})).is_err(),
            "an unknown field is refused"
        );
        assert!(request_of(json!([1, 2])).is_err());
    }

    #[test]
    fn the_weekly_report_is_asked_for_by_its_action_alone() {
        let r = request_of(json!({"action": "weekly_report"})).expect("weekly");
        assert_eq!(r.action, Action::WeeklyReport);
        let event =
            json!({"detail-type": "Scheduled Event", "detail": {"action": "weekly_report"}});
        assert_eq!(
            request_of(event).expect("in detail").action,
            Action::WeeklyReport
        );
        assert_eq!(
            request_of(json!({})).expect("plain").action,
            Action::Reconcile
        );
        assert!(
            request_of(json!({"action": "weekly"})).is_err(),
            "an unknown action"
        );
        assert!(
            request_of(json!({"action": "weekly_report", "dry_run": true})).is_err(),
            "a reconcile option with the report"
        );
    }
}
