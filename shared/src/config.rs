//! Shop configuration: which shops are served and their webhook secrets.
//!
//! In the cloud the secrets are SSM SecureString parameters under `SHOP_SECRETS_SSM_PATH`, one per
//! shop, named by its domain, whose value is `current[,previous]`; they are read once at cold start.
//! For tests and tools `STOCKBRIDGE_SHOP_SECRETS` (`shop=current[,previous];shop2=...`) takes
//! precedence. Secrets never appear in `Debug` output or logs.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_ssm::error::DisplayErrorContext;

use crate::adapters::aws::ConfigError;
use crate::domain::ids::ShopDomain;

#[derive(Clone, Default)]
pub struct ShopSecrets {
    shops: HashMap<ShopDomain, Vec<String>>,
}

impl fmt::Debug for ShopSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shops: Vec<String> = self
            .shops
            .iter()
            .map(|(shop, s)| format!("{shop} ({} secret(s))", s.len()))
            .collect();
        shops.sort();
        f.debug_struct("ShopSecrets")
            .field("shops", &shops)
            .finish()
    }
}

impl ShopSecrets {
    /// Parses `shop=current[,previous];shop2=...`.
    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let mut shops = HashMap::new();
        for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (shop, secrets) = entry.split_once('=').ok_or(ConfigError::Invalid {
                name: "STOCKBRIDGE_SHOP_SECRETS",
                detail: "each entry must be shop=secret[,previous]".into(),
            })?;
            let secrets = parse_secret_list(secrets);
            if secrets.is_empty() {
                return Err(ConfigError::Invalid {
                    name: "STOCKBRIDGE_SHOP_SECRETS",
                    detail: format!("shop {shop} has no secret"),
                });
            }
            shops.insert(ShopDomain::new(shop), secrets);
        }
        Ok(ShopSecrets { shops })
    }

    pub fn insert(&mut self, shop: ShopDomain, secrets: Vec<String>) {
        self.shops.insert(shop, secrets);
    }

    /// The active secrets of a shop, current first; `None` for a shop we do not serve.
    pub fn secrets(&self, shop: &ShopDomain) -> Option<&[String]> {
        self.shops.get(shop).map(Vec::as_slice)
    }

    pub fn shops(&self) -> impl Iterator<Item = &ShopDomain> {
        self.shops.keys()
    }

    pub fn len(&self) -> usize {
        self.shops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shops.is_empty()
    }

    /// Loads from `STOCKBRIDGE_SHOP_SECRETS`, else from SSM under `SHOP_SECRETS_SSM_PATH`.
    pub async fn load(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        if let Ok(spec) = std::env::var("STOCKBRIDGE_SHOP_SECRETS") {
            return ShopSecrets::parse(&spec);
        }
        let path = crate::adapters::aws::required_env("SHOP_SECRETS_SSM_PATH")?;
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
}

fn parse_secret_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shops_and_never_prints_secrets() {
        let s = ShopSecrets::parse("A.myshopify.com=new,old; b.myshopify.com=only").unwrap();
        assert_eq!(
            s.secrets(&ShopDomain::new("a.myshopify.com")),
            Some(&["new".to_string(), "old".to_string()][..])
        );
        let shown = format!("{s:?}");
        assert!(shown.contains("2 secret(s)") && !shown.contains("new") && !shown.contains("only"));
        assert!(ShopSecrets::parse("a.myshopify.com=").is_err());
        assert!(ShopSecrets::parse("nonsense").is_err());
    }
}
