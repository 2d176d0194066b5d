//! Secrets in AWS Systems Manager Parameter Store (SecureString, read once at cold start, never
//! logged): [`SsmSecrets`] implements the core's [`SecretSource`], and [`load_shop_secrets`] reads
//! every shop's webhook secrets under one path.

use aws_config::SdkConfig;
use aws_sdk_ssm::error::DisplayErrorContext;
use stockbridge_core::config::{
    parse_secret_list, required_env, ConfigError, SecretSource, ShopSecrets,
};
use stockbridge_domain::ids::ShopDomain;

/// Credentials from the environment locally, from SSM in the cloud.
#[derive(Clone, Debug)]
pub struct SsmSecrets {
    client: aws_sdk_ssm::Client,
}

impl SsmSecrets {
    pub fn new(sdk: &SdkConfig) -> Self {
        SsmSecrets {
            client: aws_sdk_ssm::Client::new(sdk),
        }
    }
}

impl SecretSource for SsmSecrets {
    async fn secret(
        &self,
        local_var: &'static str,
        ssm_var: &'static str,
    ) -> Result<String, ConfigError> {
        if let Ok(v) = std::env::var(local_var) {
            if !v.trim().is_empty() {
                return Ok(v);
            }
        }
        let name = required_env(ssm_var)?;
        let out = self
            .client
            .get_parameter()
            .name(&name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| ConfigError::Invalid {
                name: ssm_var,
                detail: format!("cannot read {name}: {}", DisplayErrorContext(e)),
            })?;
        out.parameter()
            .and_then(|p| p.value())
            .map(str::to_string)
            .ok_or(ConfigError::Invalid {
                name: ssm_var,
                detail: format!("{name} has no value"),
            })
    }
}

/// The served shops and their webhook secrets: from `STOCKBRIDGE_SHOP_SECRETS` (tests, tools),
/// else one SecureString per shop under `SHOP_SECRETS_SSM_PATH`, named by its domain, valued
/// `current[,previous]`.
pub async fn load_shop_secrets(sdk: &SdkConfig) -> Result<ShopSecrets, ConfigError> {
    if let Ok(spec) = std::env::var("STOCKBRIDGE_SHOP_SECRETS") {
        return ShopSecrets::parse(&spec);
    }
    let path = required_env("SHOP_SECRETS_SSM_PATH")?;
    let client = aws_sdk_ssm::Client::new(sdk);
    let mut pages = client
        .get_parameters_by_path()
        .path(&path)
        .recursive(true)
        .with_decryption(true)
        .into_paginator()
        .send();
    let mut shops = ShopSecrets::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| ConfigError::Invalid {
            name: "SHOP_SECRETS_SSM_PATH",
            detail: format!("cannot read {path}: {}", DisplayErrorContext(e)),
        })?;
        for p in page.parameters() {
            let (Some(name), Some(value)) = (p.name(), p.value()) else {
                continue;
            };
            let shop = name.rsplit('/').next().unwrap_or(name);
            let secrets = parse_secret_list(value);
            if !secrets.is_empty() {
                shops.insert(ShopDomain::new(shop), secrets);
            }
        }
    }
    if shops.is_empty() {
        return Err(ConfigError::Invalid {
            name: "SHOP_SECRETS_SSM_PATH",
            detail: format!("no shop secret under {path}"),
        });
    }
    Ok(shops)
}
