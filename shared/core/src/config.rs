//! Configuration the handlers are built with: what went wrong with it ([`ConfigError`]),
//! reading the environment the template sets, and the shops served with their webhook secrets
//! ([`ShopSecrets`]; an adapter loads them, e.g. from SSM). Secrets never appear in `Debug`
//! output or logs.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;

use stockbridge_domain::ids::ShopDomain;

/// Why a function could not be configured at cold start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set (see README: Configuration)")]
    Missing(&'static str),
    #[error("configuration {name} is invalid: {detail}")]
    Invalid { name: &'static str, detail: String },
}

/// Reads a required environment variable, naming it in the error.
pub fn required_env(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// Reads an optional environment variable parsed as `T`; unset or blank gives `default`, a value
/// that does not parse is an error naming the variable (never a silent default).
pub fn env_or<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| ConfigError::Invalid {
            name,
            detail: format!("{v:?} is not a valid value"),
        }),
        _ => Ok(default),
    }
}

/// Where credentials come from: an adapter (SSM in the cloud) implements it.
pub trait SecretSource: Send + Sync {
    /// The credential in `local_var` when set (local stack, tests), else the secret named by the
    /// environment variable `remote_var` (read once at cold start; never logged).
    fn secret(
        &self,
        local_var: &'static str,
        remote_var: &'static str,
    ) -> impl Future<Output = Result<String, ConfigError>> + Send;
}

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
}

/// Parses `current[,previous]`, dropping blanks.
pub fn parse_secret_list(list: &str) -> Vec<String> {
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
