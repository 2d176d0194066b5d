//! The webhook function's composition root: which adapters the intake runs on.
//!
//! Environment (set by `template.yaml`): `EVENTS_QUEUE_URL`, `INBOX_TABLE`, `QUARANTINE_BUCKET`
//! (quarantined bodies too large for an inbox record), `QUARANTINE_RETENTION_DAYS` and
//! `MAX_WEBHOOK_BODY_BYTES` (optional), and the shops' secrets (`SHOP_SECRETS_SSM_PATH`, or
//! `STOCKBRIDGE_SHOP_SECRETS` locally).
//!
//! The ERP webhook (`POST /webhooks/erp`, [`erp_webhook`]) shares the inbox, the body limit and
//! the metrics: `ERP_SHOPS` (the shops the ERP serves, comma-separated), `ERP_CHANGES_QUEUE_URL`
//! (its own queue) and its secret `current[,previous]` (`ERP_WEBHOOK_SECRET_SSM_PARAM`, the name
//! of an SSM SecureString, or `ERP_WEBHOOK_SECRET` locally). Any of them unset: the route answers
//! 503 `not_configured` naming it, the Shopify webhook unaffected; set but invalid (or the
//! parameter unreadable): the function does not start, naming it.

use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::s3::QuarantineSettings;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_aws::ssm::SsmSecrets;
use stockbridge_core::config::{env_or, required_env, ConfigError, SecretSource};
use stockbridge_core::erp_webhook::{parse_shops, ErpSecrets, ErpSetup, ErpWebhookService};
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

/// The ERP webhook as deployed: the ERP changes queue on SQS, the Shopify webhook's inbox.
pub type ErpWebhook = ErpWebhookService<SqsQueue, DynamoStore>;

/// Builds the ERP webhook once per process, beside `shopify` (its inbox, body limit, metrics).
pub async fn erp_webhook(
    sdk: &aws_config::SdkConfig,
    shopify: &Webhook,
) -> Result<ErpWebhook, ConfigError> {
    let setup = erp_setup(sdk).await?;
    match &setup {
        Ok(s) => tracing::info!(
            shops = s.shops.len(),
            secrets = s.secrets.len(),
            "ERP webhook configured"
        ),
        Err(missing) => tracing::warn!("ERP webhook not configured ({missing}): it answers 503"),
    }
    Ok(ErpWebhookService {
        setup,
        inbox: shopify.inbox.clone(),
        max_body_bytes: shopify.max_body_bytes,
        metrics: shopify.metrics.clone(),
    })
}

/// `Ok(Err(what is unset))` when the deployment has no ERP webhook.
async fn erp_setup(
    sdk: &aws_config::SdkConfig,
) -> Result<Result<ErpSetup<SqsQueue>, String>, ConfigError> {
    let env = |name: &'static str| required_env(name).ok();
    let shops = env("ERP_SHOPS");
    let queue_url = env("ERP_CHANGES_QUEUE_URL");
    let secret = match SsmSecrets::new(sdk)
        .secret("ERP_WEBHOOK_SECRET", "ERP_WEBHOOK_SECRET_SSM_PARAM")
        .await
    {
        Ok(secret) => Some(secret),
        Err(ConfigError::Missing(_)) => None,
        Err(e) => return Err(e),
    };
    let (Some(shops), Some(queue_url), Some(secret)) = (&shops, &queue_url, &secret) else {
        let unset: Vec<&str> = [
            (shops.is_none(), "ERP_SHOPS"),
            (queue_url.is_none(), "ERP_CHANGES_QUEUE_URL"),
            (secret.is_none(), "ERP_WEBHOOK_SECRET_SSM_PARAM"),
        ]
        .into_iter()
        .filter_map(|(unset, name)| unset.then_some(name))
        .collect();
        return Ok(Err(format!("{} not set", unset.join(", "))));
    };
    let secrets = ErpSecrets::parse(secret).ok_or(ConfigError::Invalid {
        name: "ERP_WEBHOOK_SECRET_SSM_PARAM",
        detail: "the secret holds no value: current[,previous]".into(),
    })?;
    Ok(Ok(ErpSetup {
        shops: parse_shops(shops)?,
        secrets,
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(sdk), queue_url.clone()),
    }))
}
