//! The ERP chosen at cold start (`ERP_KIND`): Tryton, the generic HTTP endpoint, or none.
//!
//! The credential comes from the environment locally (`TRYTON_API_KEY`, `ERP_HTTP_TOKEN`) and
//! from the SSM SecureString named by `ERP_CREDENTIAL_SSM_PARAM` in the cloud.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::adapters::aws::{secret, ConfigError};
use crate::adapters::http_erp::HttpErp;
use crate::adapters::tryton::TrytonErp;
use crate::domain::erp::{ErpWrite, Incoming};
use crate::erp_sync::NoErp;
use crate::ports::{Erp, ErpError};

#[derive(Debug)]
pub enum AnyErp {
    Tryton(TrytonErp),
    Http(HttpErp),
    None(NoErp),
}

impl AnyErp {
    /// Builds the ERP adapter the environment names. `ERP_KIND` unset means none.
    pub async fn load(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let kind = std::env::var("ERP_KIND").unwrap_or_else(|_| "none".into());
        let url = std::env::var("ERP_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());
        match kind.as_str() {
            "none" | "" => Ok(AnyErp::None(NoErp)),
            "tryton" => {
                let url = url
                    .or_else(|| std::env::var("TRYTON_URL").ok())
                    .ok_or(ConfigError::Missing("ERP_URL"))?;
                let key = secret(sdk, "TRYTON_API_KEY", "ERP_CREDENTIAL_SSM_PARAM").await?;
                let company = std::env::var("TRYTON_COMPANY_ID")
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Ok(AnyErp::Tryton(TrytonErp::new(url, key, company)))
            }
            "http" => {
                let url = url
                    .or_else(|| std::env::var("ERP_HTTP_URL").ok())
                    .ok_or(ConfigError::Missing("ERP_URL"))?;
                let token = secret(sdk, "ERP_HTTP_TOKEN", "ERP_CREDENTIAL_SSM_PARAM").await?;
                Ok(AnyErp::Http(HttpErp::new(&url, &token)?))
            }
            other => Err(ConfigError::Invalid {
                name: "ERP_KIND",
                detail: format!("{other:?} is not one of tryton, http, none"),
            }),
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, AnyErp::None(_))
    }
}

impl Erp for AnyErp {
    async fn apply(&self, write: &ErpWrite) -> Result<(), ErpError> {
        match self {
            AnyErp::Tryton(e) => e.apply(write).await,
            AnyErp::Http(e) => e.apply(write).await,
            AnyErp::None(e) => e.apply(write).await,
        }
    }

    async fn levels(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        match self {
            AnyErp::Tryton(e) => e.levels(warehouse, items).await,
            AnyErp::Http(e) => e.levels(warehouse, items).await,
            AnyErp::None(e) => e.levels(warehouse, items).await,
        }
    }

    async fn incoming(&self, warehouse: &str, items: &[String]) -> Result<Vec<Incoming>, ErpError> {
        match self {
            AnyErp::Tryton(e) => e.incoming(warehouse, items).await,
            AnyErp::Http(e) => e.incoming(warehouse, items).await,
            AnyErp::None(e) => e.incoming(warehouse, items).await,
        }
    }
}
