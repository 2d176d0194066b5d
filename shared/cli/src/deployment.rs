//! The deployment a command works on, as the functions see it: the AWS configuration
//! (`AWS_ENDPOINT_URL` locally), the tables and queue the environment names, the ERP its
//! `ERP_KIND` settings and SSM parameters describe, and the reconcile function's wiring.

use aws_config::SdkConfig;
use reconcile::DeployedReconciler;
use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::s3::QuarantineSettings;
use stockbridge_aws::sdk::sdk_config;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_aws::ssm::SsmSecrets;
use stockbridge_core::config::{required_env, ConfigError};
use stockbridge_erp::AnyErp;

pub struct Deployment {
    sdk: SdkConfig,
}

impl Deployment {
    pub async fn connect() -> Self {
        Deployment {
            sdk: sdk_config().await,
        }
    }

    /// The tables (`STOCK_TABLE`, `IDEMPOTENCY_TABLE`, `SKUMAP_TABLE`, `INBOX_TABLE`), and the
    /// quarantine bucket when `QUARANTINE_BUCKET` is set (replaying a large quarantined body
    /// reads it there).
    pub fn store(&self) -> Result<DynamoStore, ConfigError> {
        Ok(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            Tables::from_env()?,
        )
        .with_quarantine(QuarantineSettings::from_env(&self.sdk)?))
    }

    /// The events queue (`EVENTS_QUEUE_URL`), where replays go.
    pub fn queue(&self) -> Result<SqsQueue, ConfigError> {
        Ok(SqsQueue::new(
            aws_sdk_sqs::Client::new(&self.sdk),
            required_env("EVENTS_QUEUE_URL")?,
        ))
    }

    /// The ERP changes queue (`ERP_CHANGES_QUEUE_URL`): where the ERP's own changes go.
    pub fn erp_changes_queue(&self) -> Result<SqsQueue, ConfigError> {
        Ok(SqsQueue::new(
            aws_sdk_sqs::Client::new(&self.sdk),
            required_env("ERP_CHANGES_QUEUE_URL")?,
        ))
    }

    /// The queue whose URL the environment variable `url_env` holds (e.g.
    /// `ERP_CHANGES_QUEUE_URL`).
    pub fn queue_named(&self, url_env: &'static str) -> Result<SqsQueue, ConfigError> {
        Ok(SqsQueue::new(
            aws_sdk_sqs::Client::new(&self.sdk),
            required_env(url_env)?,
        ))
    }

    /// The ERP the consumer pushes to.
    pub async fn erp(&self) -> Result<AnyErp, ConfigError> {
        AnyErp::load(&SsmSecrets::new(&self.sdk)).await
    }

    /// The reconcile function's reconciler, with its settings (`RECONCILE_*`).
    pub async fn reconciler(&self) -> Result<DeployedReconciler, ConfigError> {
        reconcile::reconciler(&self.sdk).await
    }
}
