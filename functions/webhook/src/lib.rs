//! The webhook function's composition root: which adapters the intake runs on.
//!
//! Environment (set by `template.yaml`): `EVENTS_QUEUE_URL`, `INBOX_TABLE`, `QUARANTINE_BUCKET`
//! (quarantined bodies too large for an inbox record), `QUARANTINE_RETENTION_DAYS` and
//! `MAX_WEBHOOK_BODY_BYTES` (optional), and the shops' secrets (`SHOP_SECRETS_SSM_PATH`, or
//! `STOCKBRIDGE_SHOP_SECRETS` locally).

use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::s3::QuarantineSettings;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::config::{env_or, required_env, ConfigError};
use stockbridge_core::telemetry::Metrics;
use stockbridge_core::webhook::{WebhookService, DEFAULT_MAX_BODY_BYTES};

/// The intake as deployed: SQS for events, the DynamoDB inbox (with S3 for large bodies) for
/// quarantine.
pub type Webhook = WebhookService<SqsQueue, DynamoStore>;

/// Builds the intake once per process (cold start).
pub async fn webhook(sdk: &aws_config::SdkConfig) -> Result<Webhook, ConfigError> {
    let shops = stockbridge_aws::ssm::load_shop_secrets(sdk).await?;
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        required_env("EVENTS_QUEUE_URL")?,
    );
    // The bucket is required here: without it a large unusable body could not be kept.
    required_env("QUARANTINE_BUCKET")?;
    let quarantine = QuarantineSettings::from_env(sdk)?;
    let retention_days = quarantine.retention_days;
    let inbox = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        Tables::inbox_only(required_env("INBOX_TABLE")?),
    )
    .with_quarantine(quarantine);
    let max_body_bytes = env_or("MAX_WEBHOOK_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?;
    tracing::info!(
        shops = shops.len(),
        max_body_bytes,
        retention_days,
        "webhook configured"
    );
    Ok(WebhookService {
        shops,
        queue,
        inbox,
        max_body_bytes,
        metrics: Metrics::new("webhook"),
    })
}
