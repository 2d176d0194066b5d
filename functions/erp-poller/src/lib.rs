//! The ERP poller's composition root: which adapters the poller runs on, and how long one
//! invocation polls.
//!
//! Environment (set by `template.yaml`): the ERP (`ERP_KIND` must be `tryton`, with `ERP_URL`
//! and the key in SSM under `ERP_CREDENTIAL_SSM_PARAM`, or `TRYTON_API_KEY` locally; an ERP that
//! calls out uses `POST /webhooks/erp` instead), `ERP_SHOPS` (comma-separated shop domains the
//! ERP serves), `ERP_CHANGES_QUEUE_URL`, the four tables; `ERP_FEED_SOURCE` (the cursor's and
//! lease's name, default `tryton`), `ERP_POLL_PAGE` (moves per page, default 100),
//! `ERP_POLL_EVERY_SECONDS` (default 2) and `ERP_POLL_FOR_SECONDS` (how long one invocation
//! polls, default 50: the schedule starts one every minute); `ERP_FEED_FROM_START=1` makes a
//! poller without a stored cursor read the ERP's whole history (else it starts after the
//! newest change).
//!
//! The field map's way back ([`fields_back`]) runs after each poll run when `SHOPIFY_ADMIN_URL`
//! is set: the Admin API token is `SHOPIFY_ACCESS_TOKEN` locally, else the SSM SecureString named
//! by `SHOPIFY_TOKEN_SSM_PARAM`; the shop is `FIELDS_BACK_SHOP` (default: the one shop of
//! `ERP_SHOPS`), `FIELDS_BACK_PAGE` variants a page (default 100).

use std::time::Duration;

use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_aws::ssm::SsmSecrets;
use stockbridge_core::config::{env_or, required_env, ConfigError, SecretSource};
use stockbridge_core::erp_feed::{ErpPoller, PollerSettings};
use stockbridge_core::fields_back::{FieldsBack, FieldsBackSettings};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::ids::ShopDomain;
use stockbridge_erp::tryton::TrytonErp;
use stockbridge_erp::AnyErp;
use stockbridge_shopify_admin::ShopifyGraphql;

/// The poller as deployed.
pub type Poller = ErpPoller<TrytonErp, DynamoStore, DynamoStore, SqsQueue, DynamoStore>;

/// The field map's way back as deployed.
pub type Back = FieldsBack<ShopifyGraphql, DynamoStore, TrytonErp, DynamoStore>;

/// Builds the way back once per process, if the Admin API is configured (`None`: it is off).
pub async fn fields_back(sdk: &aws_config::SdkConfig) -> Result<Option<Back>, ConfigError> {
    let Some(url) = std::env::var("SHOPIFY_ADMIN_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(None);
    };
    let secrets = SsmSecrets::new(sdk);
    let token = secrets
        .secret("SHOPIFY_ACCESS_TOKEN", "SHOPIFY_TOKEN_SSM_PARAM")
        .await?;
    let shopify = ShopifyGraphql::new(&url, &token)?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), Tables::from_env()?);
    let AnyErp::Tryton(erp) = AnyErp::load(&secrets).await? else {
        return Err(ConfigError::Invalid {
            name: "ERP_KIND",
            detail: "the poller reads Tryton".into(),
        });
    };
    let shop = match std::env::var("FIELDS_BACK_SHOP")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        Some(s) => ShopDomain::new(s.trim()),
        None => match shops_from_env()?.as_slice() {
            [one] => one.clone(),
            _ => {
                return Err(ConfigError::Invalid {
                    name: "FIELDS_BACK_SHOP",
                    detail: "ERP_SHOPS names several shops: name the one SHOPIFY_ADMIN_URL is"
                        .into(),
                })
            }
        },
    };
    Ok(Some(FieldsBack {
        shopify,
        store: store.clone(),
        erp,
        cursors: store,
        metrics: Metrics::new("erp-poller"),
        settings: FieldsBackSettings {
            shop,
            page: env_or("FIELDS_BACK_PAGE", 100)?,
        },
    }))
}

/// How one invocation polls.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub every: Duration,
    pub run_for: Duration,
}

/// Builds the poller once per process (cold start).
pub async fn poller(sdk: &aws_config::SdkConfig) -> Result<(Poller, Timing), ConfigError> {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), Tables::from_env()?);
    let feed = match AnyErp::load(&SsmSecrets::new(sdk)).await? {
        AnyErp::Tryton(t) => t,
        _ => {
            return Err(ConfigError::Invalid {
                name: "ERP_KIND",
                detail: "the poller reads Tryton; an ERP that calls out posts to /webhooks/erp"
                    .into(),
            })
        }
    };
    let shops = shops_from_env()?;
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        required_env("ERP_CHANGES_QUEUE_URL")?,
    );
    let source = std::env::var("ERP_FEED_SOURCE")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "tryton".into());
    let settings = PollerSettings {
        source,
        shops,
        page: env_or("ERP_POLL_PAGE", 100)?,
        holder: format!("erp-poller-{}", std::process::id()),
        from_start: env_or("ERP_FEED_FROM_START", 0u8)? == 1,
    };
    let timing = Timing {
        every: Duration::from_secs(env_or("ERP_POLL_EVERY_SECONDS", 2)?),
        run_for: Duration::from_secs(env_or("ERP_POLL_FOR_SECONDS", 50)?),
    };
    Ok((
        ErpPoller {
            feed,
            cursors: store.clone(),
            map: store.clone(),
            queue,
            lock: store,
            metrics: Metrics::new("erp-poller"),
            settings,
        },
        timing,
    ))
}

/// `ERP_SHOPS`: one or more shop domains, comma-separated.
pub fn shops_from_env() -> Result<Vec<ShopDomain>, ConfigError> {
    let raw = required_env("ERP_SHOPS")?;
    let shops: Vec<ShopDomain> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(ShopDomain::new)
        .collect();
    if shops.is_empty() {
        return Err(ConfigError::Invalid {
            name: "ERP_SHOPS",
            detail: "names no shop".into(),
        });
    }
    Ok(shops)
}
