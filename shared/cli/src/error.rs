//! What a command can get wrong itself ([`CommandError`]); the adapters' and configuration
//! errors pass through as they are. Every error is printed as `stockbridge: <reason>` and the
//! command exits 2.

/// A command's result: its exit code, or why it could not run.
pub type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// An `erp apply` line without `=`.
    #[error("lines are ITEM=CHANGE")]
    LineWithoutChange,
    /// No stored reconciliation report (for that run) among the newest ones.
    #[error("no report{}", .run.as_ref().map(|r| format!(" for run {r}")).unwrap_or_default())]
    NoReport { run: Option<String> },
    /// `erp retry` named a write that is not parked at that shop.
    #[error(
        "no parked ERP write {key} at {shop}; `stockbridge erp parked --shop {shop}` lists them"
    )]
    NotParked { shop: String, key: String },
    /// `dlq redrive` without `--all` or `--id`, or with both.
    #[error("say which messages to redrive: --all, or one or more --id")]
    RedriveWhich,
    /// `sales show|clear` named an order without an order-flow record.
    #[error("no order-flow record of order {order} at {shop} (the flow is off there, or no snapshot of the order arrived)")]
    NoSalesRecord { shop: String, order: u64 },
    /// `sales clear` named an exception the order does not have.
    #[error("order {order} has no exception {step:?}; `stockbridge sales show` lists them")]
    NoException { order: u64, step: String },
    /// `sales clear` lost a race with the consumer.
    #[error("order {order} changed meanwhile; run the command again")]
    SalesRecordChanged { order: u64 },
    /// A storefront setting or `stock explain` argument that cannot be used.
    #[error("{0}")]
    Storefront(String),
    /// A revert asked for another shop than the one the reconcile settings serve.
    #[error("RECONCILE_SHOP is {configured}, not {asked}")]
    OtherShop { configured: String, asked: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_is_missing() {
        assert_eq!(
            CommandError::NoReport { run: None }.to_string(),
            "no report"
        );
        let run = Some("r-1".to_string());
        assert_eq!(
            CommandError::NoReport { run }.to_string(),
            "no report for run r-1"
        );
        let other = CommandError::OtherShop {
            configured: "a.myshopify.com".into(),
            asked: "b.myshopify.com".into(),
        };
        assert_eq!(
            other.to_string(),
            "RECONCILE_SHOP is a.myshopify.com, not b.myshopify.com"
        );
    }
}
