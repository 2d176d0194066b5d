//! ERP adapters, each implementing the core's `Erp` port:
//!
//! - [`tryton`]: Tryton 8.2 over its REST API (internal shipments keyed by write).
//! - [`http_erp`]: the generic HTTP inventory endpoint (`docs/erp-http-api.yaml`).
//! - [`AnyErp`]: the one chosen at cold start by `ERP_KIND` (`tryton`, `http`, or `none`).
//!
//! The credential comes through the core's `SecretSource`: from the environment locally
//! (`TRYTON_API_KEY`, `ERP_HTTP_TOKEN`), from the secret named by `ERP_CREDENTIAL_SSM_PARAM` in
//! the cloud.

pub mod http_erp;
pub mod tryton;

use std::collections::HashMap;

use rust_decimal::Decimal;
use stockbridge_core::config::{ConfigError, SecretSource};
use stockbridge_core::ports::{
    Change, Erp, ErpError, ErpSales, SalesMovement, SalesOrder, SalesOrderView,
};
use stockbridge_domain::erp_write::{ErpWrite, Incoming};

use crate::http_erp::HttpErp;
use crate::tryton::TrytonErp;

/// The ERP the configuration names.
#[derive(Debug)]
pub enum AnyErp {
    Tryton(TrytonErp),
    Http(HttpErp),
    /// No ERP: stock is kept in DynamoDB only (the consumer does not push).
    None,
}

impl AnyErp {
    /// Builds the ERP adapter the environment names. `ERP_KIND` unset means none.
    pub async fn load(secrets: &impl SecretSource) -> Result<Self, ConfigError> {
        let kind = std::env::var("ERP_KIND").unwrap_or_else(|_| "none".into());
        let url = std::env::var("ERP_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());
        match kind.as_str() {
            "none" | "" => Ok(AnyErp::None),
            "tryton" => {
                let url = url
                    .or_else(|| std::env::var("TRYTON_URL").ok())
                    .ok_or(ConfigError::Missing("ERP_URL"))?;
                let key = secrets
                    .secret("TRYTON_API_KEY", "ERP_CREDENTIAL_SSM_PARAM")
                    .await?;
                let company = stockbridge_core::config::env_or("TRYTON_COMPANY_ID", 1)?;
                Ok(AnyErp::Tryton(
                    TrytonErp::new(url, key, company)?
                        .with_sale_party(tryton::sale_party_from_env()),
                ))
            }
            "http" => {
                let url = url
                    .or_else(|| std::env::var("ERP_HTTP_URL").ok())
                    .ok_or(ConfigError::Missing("ERP_URL"))?;
                let token = secrets
                    .secret("ERP_HTTP_TOKEN", "ERP_CREDENTIAL_SSM_PARAM")
                    .await?;
                Ok(AnyErp::Http(HttpErp::new(&url, &token)?))
            }
            other => Err(ConfigError::Invalid {
                name: "ERP_KIND",
                detail: format!("{other:?} is not one of tryton, http, none"),
            }),
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, AnyErp::None)
    }
}

impl Erp for AnyErp {
    async fn apply(&self, write: &ErpWrite) -> Result<(), ErpError> {
        match self {
            AnyErp::Tryton(e) => e.apply(write).await,
            AnyErp::Http(e) => e.apply(write).await,
            AnyErp::None => Err(ErpError::Unavailable("no ERP is configured".into())),
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
            AnyErp::None => Ok(HashMap::new()),
        }
    }

    async fn incoming(&self, warehouse: &str, items: &[String]) -> Result<Vec<Incoming>, ErpError> {
        match self {
            AnyErp::Tryton(e) => e.incoming(warehouse, items).await,
            AnyErp::Http(e) => e.incoming(warehouse, items).await,
            AnyErp::None => Ok(Vec::new()),
        }
    }
}

/// The sales port of the configured ERP; none configured refuses every call.
impl ErpSales for AnyErp {
    async fn place(&self, o: &SalesOrder) -> Result<SalesOrderView, ErpError> {
        match self {
            AnyErp::Tryton(e) => e.place(o).await,
            AnyErp::Http(h) => h.place(o).await,
            AnyErp::None => Err(no_erp()),
        }
    }

    async fn revise(&self, o: &SalesOrder) -> Result<Change, ErpError> {
        match self {
            AnyErp::Tryton(e) => e.revise(o).await,
            AnyErp::Http(h) => h.revise(o).await,
            AnyErp::None => Err(no_erp()),
        }
    }

    async fn cancel(&self, reference: &str) -> Result<Change, ErpError> {
        match self {
            AnyErp::Tryton(e) => e.cancel(reference).await,
            AnyErp::Http(h) => h.cancel(reference).await,
            AnyErp::None => Err(no_erp()),
        }
    }

    async fn ship(&self, m: &SalesMovement) -> Result<Change, ErpError> {
        match self {
            AnyErp::Tryton(e) => e.ship(m).await,
            AnyErp::Http(h) => h.ship(m).await,
            AnyErp::None => Err(no_erp()),
        }
    }

    async fn take_back(&self, m: &SalesMovement) -> Result<Change, ErpError> {
        match self {
            AnyErp::Tryton(e) => e.take_back(m).await,
            AnyErp::Http(h) => h.take_back(m).await,
            AnyErp::None => Err(no_erp()),
        }
    }

    async fn find(&self, reference: &str) -> Result<Option<SalesOrderView>, ErpError> {
        match self {
            AnyErp::Tryton(e) => e.find(reference).await,
            AnyErp::Http(h) => h.find(reference).await,
            AnyErp::None => Err(no_erp()),
        }
    }
}

fn no_erp() -> ErpError {
    ErpError::Rejected("no ERP configured".into())
}
