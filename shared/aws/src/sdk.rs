//! The AWS SDK configuration, loaded once per process (cold start).
//!
//! Every client honours `AWS_ENDPOINT_URL` (and the per-service variants), so the same binary
//! talks to AWS in the cloud and to the local moto server in tests.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

/// Loads the SDK configuration with short timeouts: a Lambda that waits 30 s on a hung call
/// holds a webhook past Shopify's 5 s deadline or a batch past its visibility timeout.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_within(Duration::from_secs(3), Duration::from_secs(8)).await
}

/// The webhook's configuration: every AWS call, retries included, ends within 4 s, so a failing
/// SQS or DynamoDB call is answered 503 inside Shopify's 5 s deadline (and Shopify retries).
pub async fn webhook_sdk_config() -> SdkConfig {
    sdk_config_within(Duration::from_millis(1500), Duration::from_secs(4)).await
}

/// An operator's long command (`stockbridge backfill`): no Lambda or Shopify deadline waits on
/// it, and one page of a very large partition may take seconds (moto's Query visits the whole
/// partition: over 3 s at 150,000 items), so each attempt may take 30 s and a call 90 s.
pub async fn operator_sdk_config() -> SdkConfig {
    sdk_config_within(Duration::from_secs(30), Duration::from_secs(90)).await
}

async fn sdk_config_within(attempt: Duration, operation: Duration) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(attempt)
                .operation_timeout(operation)
                .build(),
        )
        .load()
        .await
}
