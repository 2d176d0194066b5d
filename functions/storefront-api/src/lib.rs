//! The storefront-api function's composition root: which stores the availability read runs on.
//!
//! Environment (set by `template.yaml`): `SHOP_DOMAIN` (the shop served, or several separated
//! by commas: a request's `?shop=` must name one of them), `STOCK_TABLE` and `SKUMAP_TABLE`
//! (read only: stock records, ERP records for the restock, the SKU map). No other table, queue,
//! secret or outside service is used.

use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_core::config::{required_env, ConfigError};
use stockbridge_core::storefront_read::{ServedShops, StorefrontRead};
use stockbridge_core::telemetry::Metrics;

/// The read as deployed: the SKU map, the stock records and the ERP records, all in DynamoDB.
pub type Storefront = StorefrontRead<DynamoStore, DynamoStore, DynamoStore>;

/// Builds the read once per process (cold start).
pub fn storefront(sdk: &aws_config::SdkConfig) -> Result<Storefront, ConfigError> {
    let shops = ServedShops::parse(&required_env("SHOP_DOMAIN")?, "SHOP_DOMAIN")?;
    // Only the two tables it reads: a call on another fails with the service's error for an
    // empty table name (and the role allows none).
    let tables = Tables {
        stock: required_env("STOCK_TABLE")?,
        idempotency: String::new(),
        skumap: required_env("SKUMAP_TABLE")?,
        inbox: String::new(),
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), tables);
    tracing::info!(shops = shops.iter().count(), "storefront-api configured");
    Ok(StorefrontRead {
        shops,
        skumap: store.clone(),
        stock: store.clone(),
        erp_records: store,
        metrics: Metrics::new("storefront-api"),
    })
}
