//! The stock consumer's composition root: which adapters the consumer runs on.
//!
//! Environment (set by `template.yaml`): the four table names (`STOCK_TABLE`,
//! `IDEMPOTENCY_TABLE`, `SKUMAP_TABLE`, `INBOX_TABLE`), `EVENTS_QUEUE_URL` (where the consumer
//! schedules its own ERP retries), the ERP (`ERP_KIND`, `ERP_URL`, the credential; see
//! `stockbridge_erp::AnyErp::load`), `ERP_BREAKER_COOLDOWN_SECONDS` and `ERP_MAX_REFUSALS`
//! (see `PushPolicy::from_env`), and how the consumer spends its deadline and pages a redaction (`CONSUMER_DEADLINE_MARGIN_SECONDS`,
//! `CONSUMER_ERP_RESERVE_SECONDS`, `REDACT_PAGE_SIZE`, `REDACT_MAX_STEPS`; see
//! `ConsumerSettings::from_env`).

use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_aws::ssm::SsmSecrets;
use stockbridge_core::config::{required_env, ConfigError};
use stockbridge_core::consumer::{ConsumerSettings, StockConsumer};
use stockbridge_core::erp_push::{ErpPush, PushPolicy};
use stockbridge_core::telemetry::Metrics;
use stockbridge_erp::AnyErp;

/// The consumer as deployed: DynamoDB, the configured ERP, SQS for its own retries.
pub type Consumer = StockConsumer<DynamoStore, AnyErp, SqsQueue>;

/// Builds the consumer once per process (cold start).
pub async fn consumer(sdk: &aws_config::SdkConfig) -> Result<Consumer, ConfigError> {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), Tables::from_env()?);
    let metrics = Metrics::new("stock-consumer");
    let erp = AnyErp::load(&SsmSecrets::new(sdk)).await?;
    tracing::info!(erp = ?std::env::var("ERP_KIND").ok(), "stock consumer configured");
    let push = match erp {
        AnyErp::None => None,
        erp => Some(ErpPush::new(erp, PushPolicy::from_env()?, metrics.clone())),
    };
    let retries = SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        required_env("EVENTS_QUEUE_URL")?,
    );
    Ok(StockConsumer {
        store,
        metrics,
        erp: push,
        retries: Some(retries),
        settings: ConsumerSettings::from_env()?,
    })
}
