//! S3 adapter: [`S3Bodies`] implements `stockbridge-core`'s
//! [`BodyStore`](stockbridge_core::ports::BodyStore) over the quarantine bucket
//! (`QuarantineBucket` in `template.yaml`, `QUARANTINE_BUCKET`): a quarantined body too large for
//! an inbox record is kept whole as one object `<shop>/<sha256>`, encrypted at rest (SSE-S3,
//! asked for on every put as well as by the bucket's default) and expired by the bucket's
//! lifecycle rule after `QuarantineRetentionDays`, the same retention as the inbox record that
//! points at it ([`QuarantineSettings`]).
//!
//! The client honours `AWS_ENDPOINT_URL` and then addresses buckets by path
//! (`http://127.0.0.1:4566/<bucket>/<key>`), since a local endpoint (moto) has no per-bucket host
//! names. It shares the SDK configuration of its function, so the webhook's puts end within the
//! webhook's 4 s budget (`sdk::webhook_sdk_config`, and `webhook::QUARANTINE_DEADLINE` around the
//! whole quarantine).

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;

use stockbridge_core::config::{env_or, ConfigError};
use stockbridge_core::ports::{BodyRef, BodyStore, PortError};
use stockbridge_domain::ids::ShopDomain;

/// The retention of quarantined entries when `QUARANTINE_RETENTION_DAYS` is unset (the
/// template's default, and the bucket's expiry).
pub const DEFAULT_RETENTION_DAYS: i64 = 30;

/// Where quarantined bodies go and how long quarantine entries are kept.
#[derive(Clone, Debug)]
pub struct QuarantineSettings {
    /// The body store; `None` when `QUARANTINE_BUCKET` is unset (a body too large for an inbox
    /// record then cannot be kept, and is answered 503).
    pub bodies: Option<S3Bodies>,
    /// Days an inbox entry (and its body) is kept: the TTL of the record, the bucket's expiry.
    pub retention_days: i64,
}

impl Default for QuarantineSettings {
    fn default() -> Self {
        QuarantineSettings {
            bodies: None,
            retention_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

impl QuarantineSettings {
    /// `QUARANTINE_BUCKET` (optional) and `QUARANTINE_RETENTION_DAYS` (1 to 3650, default 30,
    /// as the template's `QuarantineRetentionDays`).
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let retention_days = env_or("QUARANTINE_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)?;
        if !(1..=3650).contains(&retention_days) {
            return Err(ConfigError::Invalid {
                name: "QUARANTINE_RETENTION_DAYS",
                detail: format!("{retention_days} days; between 1 and 3650"),
            });
        }
        let bucket = std::env::var("QUARANTINE_BUCKET")
            .ok()
            .filter(|b| !b.trim().is_empty());
        Ok(QuarantineSettings {
            bodies: bucket.map(|b| S3Bodies::new(sdk, b.trim().to_string())),
            retention_days,
        })
    }
}

/// Quarantined bodies in one S3 bucket.
#[derive(Clone, Debug)]
pub struct S3Bodies {
    client: Client,
    bucket: String,
}

impl S3Bodies {
    /// A client for `bucket` from the function's SDK configuration; path-style addressing when
    /// an endpoint is configured (`AWS_ENDPOINT_URL`: moto locally).
    pub fn new(sdk: &aws_config::SdkConfig, bucket: String) -> Self {
        let local = sdk.endpoint_url().is_some()
            || std::env::var("AWS_ENDPOINT_URL_S3").is_ok_and(|v| !v.is_empty());
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(local)
            .build();
        S3Bodies {
            client: Client::from_conf(config),
            bucket,
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn unavailable(e: impl std::fmt::Display) -> PortError {
        PortError::Unavailable {
            service: "S3",
            detail: e.to_string(),
        }
    }
}

impl BodyStore for S3Bodies {
    async fn put_body(
        &self,
        shop: &ShopDomain,
        sha256: &str,
        body: &[u8],
    ) -> Result<BodyRef, PortError> {
        let key = format!("{shop}/{sha256}");
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(body.to_vec()))
            .content_length(body.len() as i64)
            .content_type("application/octet-stream")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .metadata("sha256", sha256)
            .send()
            .await
            .map_err(|e| Self::unavailable(DisplayErrorContext(e)))?;
        Ok(BodyRef {
            bucket: self.bucket.clone(),
            key,
            size: body.len() as u64,
            sha256: sha256.to_string(),
        })
    }

    async fn get_body(&self, at: &BodyRef) -> Result<Vec<u8>, PortError> {
        let resp = match self
            .client
            .get_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .send()
            .await
        {
            Ok(resp) => resp,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(PortError::Corrupt {
                    key: format!("{}/{}", at.bucket, at.key),
                    detail: "the body is gone (expired after the quarantine's retention, or \
                             deleted); the inbox entry can only be removed"
                        .into(),
                })
            }
            Err(e) => return Err(Self::unavailable(DisplayErrorContext(e))),
        };
        let bytes = resp
            .body
            .collect()
            .await
            .map_err(|e| Self::unavailable(format!("reading {}/{}: {e}", at.bucket, at.key)))?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn delete_body(&self, at: &BodyRef) -> Result<(), PortError> {
        self.client
            .delete_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .send()
            .await
            .map_err(|e| Self::unavailable(DisplayErrorContext(e)))?;
        Ok(())
    }
}
