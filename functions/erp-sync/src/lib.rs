//! The ERP sync's composition root: which adapters the sync runs on.
//!
//! Environment (set by `template.yaml`): `SHOP_DOMAIN` (the shop whose Admin API this is; an
//! ERP change for another shop fails to the dead-letter queue), the four table names (`Tables::from_env`),
//! `ERP_CHANGES_QUEUE_URL` (where the sync sends what it retries), `EVENTS_QUEUE_URL` (the
//! stock consumer's queue: transfers the ERP booked into a Shopify-master location), `EVENT_BUS_NAME` (the
//! reorder signal), `SHOPIFY_ADMIN_URL` and the Admin API token (`SHOPIFY_ACCESS_TOKEN`
//! locally, else the SSM SecureString named by `SHOPIFY_TOKEN_SSM_PARAM`). Without the Admin
//! API there is nothing to sync: the function refuses to start.

use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::eventbridge::EventBridgeAlerts;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_aws::ssm::SsmSecrets;
use stockbridge_core::config::{required_env, ConfigError, SecretSource};
use stockbridge_core::erp_sync::ErpSync;
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::ids::ShopDomain;
use stockbridge_shopify_admin::ShopifyGraphql;

/// The sync as deployed.
pub type Sync = ErpSync<DynamoStore, ShopifyGraphql, EventBridgeAlerts, SqsQueue>;

/// Builds the sync once per process (cold start).
pub async fn sync(sdk: &aws_config::SdkConfig) -> Result<Sync, ConfigError> {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), Tables::from_env()?);
    let secrets = SsmSecrets::new(sdk);
    let token = secrets
        .secret("SHOPIFY_ACCESS_TOKEN", "SHOPIFY_TOKEN_SSM_PARAM")
        .await?;
    let shopify = ShopifyGraphql::new(&required_env("SHOPIFY_ADMIN_URL")?, &token)?;
    let alerts = EventBridgeAlerts::new(
        aws_sdk_eventbridge::Client::new(sdk),
        required_env("EVENT_BUS_NAME")?,
    );
    let retries = SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        required_env("ERP_CHANGES_QUEUE_URL")?,
    );
    let stock_events = SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        required_env("EVENTS_QUEUE_URL")?,
    );
    Ok(ErpSync {
        shop: ShopDomain::new(&required_env("SHOP_DOMAIN")?),
        store,
        shopify,
        alerts,
        retries,
        stock_events,
        metrics: Metrics::new("erp-sync"),
    })
}
