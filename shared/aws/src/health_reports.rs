//! The weekly health report's AWS side: [`S3HealthReports`] implements
//! [`ReportArchive`] over the health report bucket (`HealthReportBucket` in `template.yaml`,
//! `HEALTH_REPORT_BUCKET`: encrypted, expired by its lifecycle rule), and [`SqsDeadLetterDepth`]
//! implements [`DeadLetters`] by the dead-letter queue's approximate depth
//! (`EVENTS_DLQ_URL`).

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_sqs::types::QueueAttributeName;

use stockbridge_core::config::{required_env, ConfigError};
use stockbridge_core::ports::PortError;
use stockbridge_core::weekly::{DeadLetters, ReportArchive};

/// Report pages in one S3 bucket.
#[derive(Clone, Debug)]
pub struct S3HealthReports {
    client: aws_sdk_s3::Client,
    bucket: String,
}

fn unavailable(service: &'static str, e: impl std::fmt::Display) -> PortError {
    PortError::Unavailable {
        service,
        detail: e.to_string(),
    }
}

impl S3HealthReports {
    /// A client for `bucket`; path-style addressing when an endpoint is configured (moto).
    pub fn new(sdk: &aws_config::SdkConfig, bucket: String) -> Self {
        let local = sdk.endpoint_url().is_some()
            || std::env::var("AWS_ENDPOINT_URL_S3").is_ok_and(|v| !v.is_empty());
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(local)
            .build();
        S3HealthReports {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket,
        }
    }

    /// `HEALTH_REPORT_BUCKET` (required).
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(sdk, required_env("HEALTH_REPORT_BUCKET")?))
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// A kept page and its content type, for operators (and tests).
    pub async fn fetch(&self, key: &str) -> Result<(String, Option<String>), PortError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| unavailable("S3", DisplayErrorContext(e)))?;
        let content_type = out.content_type().map(str::to_string);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| unavailable("S3", e))?
            .into_bytes();
        let text = String::from_utf8(bytes.to_vec()).map_err(|e| PortError::Corrupt {
            key: format!("{}/{key}", self.bucket),
            detail: format!("report page is not UTF-8: {e}"),
        })?;
        Ok((text, content_type))
    }
}

impl ReportArchive for S3HealthReports {
    async fn put_page(&self, key: &str, html: &str) -> Result<String, PortError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(html.as_bytes().to_vec()))
            .content_type("text/html; charset=utf-8")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(|e| unavailable("S3", DisplayErrorContext(e)))?;
        Ok(format!("s3://{}/{key}", self.bucket))
    }
}

/// The dead-letter queue, read for its depth only.
#[derive(Clone, Debug)]
pub struct SqsDeadLetterDepth {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsDeadLetterDepth {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        SqsDeadLetterDepth {
            client,
            url: url.into(),
        }
    }

    /// `EVENTS_DLQ_URL` (required).
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(
            aws_sdk_sqs::Client::new(sdk),
            required_env("EVENTS_DLQ_URL")?,
        ))
    }
}

impl DeadLetters for SqsDeadLetterDepth {
    /// Visible plus in-flight messages (SQS's approximate counts).
    async fn depth(&self) -> Result<u64, PortError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| unavailable("SQS", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let attrs = out.attributes();
        let mut depth = 0;
        for name in [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ] {
            let raw = attrs.and_then(|a| a.get(&name)).ok_or_else(|| {
                unavailable(
                    "SQS",
                    format!("{} not returned for {}", name.as_str(), self.url),
                )
            })?;
            depth += raw.parse::<u64>().map_err(|e| PortError::Corrupt {
                key: self.url.clone(),
                detail: format!("{} is {raw:?}: {e}", name.as_str()),
            })?;
        }
        Ok(depth)
    }
}
