//! What a run is asked to do: the policy (from the template's `RECONCILE_*` settings), whether
//! the cap is lifted, and how Shopify's levels are read; and the request a schedule or an
//! operator sends.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use stockbridge_domain::variance::Policy;

/// How Shopify's levels are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShopifyRead {
    /// Pages of `location.inventoryLevels`, paced by the cost budget (small catalogues).
    #[default]
    Paged,
    /// One bulk operation per location (large catalogues: no per-item cost).
    Bulk,
}

impl std::str::FromStr for ShopifyRead {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "paged" => Ok(ShopifyRead::Paged),
            "bulk" => Ok(ShopifyRead::Bulk),
            other => Err(format!("{other:?} is not paged or bulk")),
        }
    }
}

impl ShopifyRead {
    /// `RECONCILE_SHOPIFY_READ` (`paged` or `bulk`; paged when unset).
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var("RECONCILE_SHOPIFY_READ") {
            Ok(v) if !v.trim().is_empty() => {
                v.trim().parse().map_err(|detail| ConfigError::Invalid {
                    name: "RECONCILE_SHOPIFY_READ",
                    detail,
                })
            }
            _ => Ok(ShopifyRead::Paged),
        }
    }
}

/// Options of one run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub policy: Policy,
    /// An operator lifted the cap for this run.
    pub lift_cap: bool,
    pub read: ShopifyRead,
}

/// What a scheduled invocation may ask for (the schedule's `Input`, or an operator's).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub lift_cap: bool,
    #[serde(default)]
    pub read: Option<ShopifyRead>,
    /// What to run: a reconciliation (when absent) or the weekly health report.
    #[serde(default)]
    pub action: Action,
}

/// What a scheduled invocation runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Reconcile,
    /// The weekly health report (`stockbridge_core::weekly`); takes no reconcile option.
    WeeklyReport,
}

/// The policy the template configures: `RECONCILE_THRESHOLD_PCT`,
/// `RECONCILE_MAX_UNITS_PER_ITEM`, `RECONCILE_CAP_UNITS`, `RECONCILE_CAP_CORRECTIONS`,
/// `RECONCILE_DRY_RUN`; defaults for what is unset, an error for what does not parse.
pub fn policy_from_env() -> Result<Policy, ConfigError> {
    use crate::config::env_or as parse;
    let d = Policy::default();
    let policy = Policy {
        threshold_pct: parse("RECONCILE_THRESHOLD_PCT", d.threshold_pct)?,
        max_units_per_item: parse("RECONCILE_MAX_UNITS_PER_ITEM", d.max_units_per_item)?,
        cap_units: parse("RECONCILE_CAP_UNITS", d.cap_units)?,
        cap_corrections: parse("RECONCILE_CAP_CORRECTIONS", d.cap_corrections)?,
        dry_run: parse("RECONCILE_DRY_RUN", d.dry_run)?,
    };
    if !(policy.threshold_pct >= 0.0 && policy.threshold_pct.is_finite()) {
        return Err(ConfigError::Invalid {
            name: "RECONCILE_THRESHOLD_PCT",
            detail: "must be a percentage >= 0".into(),
        });
    }
    Ok(policy)
}
