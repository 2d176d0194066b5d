//! The stock consumer's composition root: which adapters the consumer runs on.
//!
//! Environment (set by `template.yaml`): the four table names (`STOCK_TABLE`,
//! `IDEMPOTENCY_TABLE`, `SKUMAP_TABLE`, `INBOX_TABLE`), `EVENTS_QUEUE_URL` (where the consumer
//! schedules its own ERP retries), the ERP (`ERP_KIND`, `ERP_URL`, the credential; see
//! `stockbridge_erp::AnyErp::load`), `ERP_BREAKER_COOLDOWN_SECONDS` and `ERP_MAX_REFUSALS`
//! (see `PushPolicy::from_env`), and how the consumer spends its deadline and pages a redaction (`CONSUMER_DEADLINE_MARGIN_SECONDS`,
//! `CONSUMER_ERP_RESERVE_SECONDS`, `REDACT_PAGE_SIZE`, `REDACT_MAX_STEPS`; see
//! `ConsumerSettings::from_env`), and the Admin API the consumer reads what webhooks leave open
//! from (`SHOPIFY_ADMIN_URL`, the token in SSM under `SHOPIFY_TOKEN_SSM_PARAM` or, locally,
//! `SHOPIFY_ACCESS_TOKEN`; without `SHOPIFY_ADMIN_URL` nothing is read and what is unexplained
//! tells the ERP nothing until reconciliation reads it). The order flow places orders through
//! the same ERP (Tryton also needs `TRYTON_SALE_PARTY`, the generic customer's party code).

use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_aws::ssm::SsmSecrets;
use stockbridge_core::config::{required_env, ConfigError, SecretSource};
use stockbridge_core::consumer::{ConsumerSettings, StockConsumer};
use stockbridge_core::erp_push::{ErpPush, PushPolicy};
use stockbridge_core::sales_flow::SalesFlow;
use stockbridge_core::telemetry::Metrics;
use stockbridge_erp::AnyErp;
use stockbridge_shopify_admin::ShopifyGraphql;

/// The consumer as deployed: DynamoDB, the configured ERP, SQS for its own retries, Shopify's
/// Admin API for its reads.
pub type Consumer = StockConsumer<DynamoStore, AnyErp, SqsQueue, ShopifyGraphql, AnyErp>;

/// Builds the consumer once per process (cold start).
pub async fn consumer(sdk: &aws_config::SdkConfig) -> Result<Consumer, ConfigError> {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), Tables::from_env()?);
    let metrics = Metrics::new("stock-consumer");
    let secrets = SsmSecrets::new(sdk);
    let erp = AnyErp::load(&secrets).await?;
    let shopify = match std::env::var("SHOPIFY_ADMIN_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let token = secrets
                .secret("SHOPIFY_ACCESS_TOKEN", "SHOPIFY_TOKEN_SSM_PARAM")
                .await?;
            Some(ShopifyGraphql::new(&url, &token)?)
        }
        _ => {
            tracing::warn!(
                "SHOPIFY_ADMIN_URL is not set: nothing is read from the Admin API, and stock                  webhooks leave unexplained tells the ERP nothing until reconciliation reads it"
            );
            None
        }
    };
    tracing::info!(erp = ?std::env::var("ERP_KIND").ok(), "stock consumer configured");
    let push = match erp {
        AnyErp::None => None,
        erp => Some(ErpPush::new(erp, PushPolicy::from_env()?, metrics.clone())),
    };
    // The order flow on its own handle of the same ERP: it runs only for shops that turned it
    // on (`stockbridge sales settings`), read on every batch.
    let sales = match AnyErp::load(&secrets).await? {
        AnyErp::None => None,
        erp => Some(SalesFlow::new(erp, metrics.clone())),
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
        shopify,
        sales,
        settings: ConsumerSettings::from_env()?,
    })
}
