//! Shared AWS SDK configuration, loaded once per process.
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

/// Reads a required environment variable, naming it in the error.
pub fn required_env(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// A credential: from `local_var` when set (local stack, tests), else from the SSM SecureString
/// named by `ssm_var` (read once at cold start; never logged).
pub async fn secret(
    sdk: &SdkConfig,
    local_var: &'static str,
    ssm_var: &'static str,
) -> Result<String, ConfigError> {
    if let Ok(v) = std::env::var(local_var) {
        if !v.trim().is_empty() {
            return Ok(v);
        }
    }
    let name = required_env(ssm_var)?;
    let out = aws_sdk_ssm::Client::new(sdk)
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| ConfigError::Invalid {
            name: ssm_var,
            detail: format!(
                "cannot read {name}: {}",
                aws_sdk_ssm::error::DisplayErrorContext(e)
            ),
        })?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or(ConfigError::Invalid {
            name: ssm_var,
            detail: format!("{name} has no value"),
        })
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set (see README: Configuration)")]
    Missing(&'static str),
    #[error("configuration {name} is invalid: {detail}")]
    Invalid { name: &'static str, detail: String },
}
