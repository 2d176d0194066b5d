//! Webhook subscription health: what Stockbridge needs from the shop's webhook subscriptions and
//! the app's access scopes ([`Needs`]), the port that reads and creates them
//! ([`WebhookSubscriptions`]), the pure comparison ([`compare`]: missing, extra and wrong-address
//! topics, other API versions, missing scopes), the read-and-compare [`check`], the [`ensure`]
//! that creates what is missing, and [`record`], the metrics `WebhookSubscriptionsMissing` and
//! `AccessScopesMissing` (counts) the alarm and `stockbridge status` read.
//!
//! Shopify deletes a subscription whose deliveries keep failing, without telling the app; the
//! scheduled check (at the start of every reconciliation run) and `stockbridge webhooks check`
//! find it. The mandatory privacy topics (`customers/data_request`, `customers/redact`,
//! `shop/redact`) are not here: Shopify only takes them from the app's configuration (TOML or
//! the Dev Dashboard), never through the Admin API.

use std::collections::BTreeSet;
use std::future::Future;

/// The webhook topics, re-exported for the adapters (which do not depend on the webhook crate).
pub use stockbridge_shopify::topic::Topic;

use crate::ports::ShopifyError;
use crate::telemetry::{Metrics, Unit};

/// The Admin API version Stockbridge's subscriptions should be serialised with.
pub const API_VERSION: &str = "2026-04";

/// The access scopes Stockbridge needs: levels read and written (`write_inventory` also for the
/// ERP sync's `inventorySetQuantities` at ERP-master locations), orders read (their lines and
/// `orders/*` webhooks), the fulfillment orders at the merchant's own locations (read after a
/// `fulfillment_orders/*` webhook), and products written: the ERP sync sets and deletes the
/// variants' metafields (restock date and quantity, the field map's fields) with
/// `metafieldsSet` / `metafieldsDelete`, which need the owner's write scope (`write_products`
/// for a variant; it implies `read_products`, for reading them back).
/// `read_assigned_fulfillment_orders` is for fulfillment service apps (orders assigned to the
/// app's own location) and is not needed.
pub const NEEDED_SCOPES: [&str; 5] = [
    "read_inventory",
    "write_inventory",
    "read_orders",
    "read_merchant_managed_fulfillment_orders",
    "write_products",
];

/// Metric: the needed topics without a subscription at the deployment's address.
pub const SUBSCRIPTIONS_MISSING_METRIC: &str = "WebhookSubscriptionsMissing";
/// Metric: the needed access scopes the app was not granted.
pub const SCOPES_MISSING_METRIC: &str = "AccessScopesMissing";
/// Metric: a check that could not read Shopify (counted; the run goes on).
pub const CHECK_FAILED_METRIC: &str = "WebhookHealthCheckFailed";

/// One webhook subscription as Shopify lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The gid, `gid://shopify/WebhookSubscription/<n>`.
    pub id: String,
    /// Shopify's `WebhookSubscriptionTopic`, e.g. `INVENTORY_LEVELS_UPDATE`.
    pub topic: String,
    /// Where it delivers (`uri`: an HTTPS URL, a Pub/Sub URI or an EventBridge ARN).
    pub uri: String,
    /// `JSON` or `XML`.
    pub format: String,
    /// The payload fields it is limited to (empty: all of them).
    pub include_fields: Vec<String>,
    /// The API version its payloads are serialised with (`apiVersion.handle`).
    pub api_version: String,
}

/// What reads and creates the shop's webhook subscriptions and reads the app's access scopes.
pub trait WebhookSubscriptions: Send + Sync {
    /// One page of subscriptions after `cursor`, and the next cursor (`None` at the end).
    fn subscriptions_page(
        &self,
        cursor: Option<String>,
    ) -> impl Future<Output = Result<(Vec<Subscription>, Option<String>), ShopifyError>> + Send;
    /// The handles of the access scopes granted to the app on this shop.
    fn access_scopes(&self) -> impl Future<Output = Result<Vec<String>, ShopifyError>> + Send;
    /// Creates a JSON subscription to `topic` delivering to `uri`.
    fn create_subscription(
        &self,
        topic: Topic,
        uri: &str,
    ) -> impl Future<Output = Result<Subscription, ShopifyError>> + Send;
}

/// `topic` as Shopify's `WebhookSubscriptionTopic` enum spells it (`inventory_levels/update` is
/// `INVENTORY_LEVELS_UPDATE`).
pub fn api_topic(topic: Topic) -> String {
    topic.as_str().to_ascii_uppercase().replace('/', "_")
}

/// Whether `topic` can be subscribed to through the Admin API (the privacy topics cannot).
pub fn subscribable(topic: Topic) -> bool {
    !matches!(
        topic,
        Topic::CustomersDataRequest | Topic::CustomersRedact | Topic::ShopRedact
    )
}

/// Why [`Needs`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeedsError {
    #[error("the webhook address {0:?} is not an absolute https:// (or local http://) URL; set WEBHOOK_URL to the deployment's webhook endpoint (the stack output WebhookUrl)")]
    Address(String),
}

/// What Stockbridge needs from the shop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needs {
    /// The topics to be subscribed to (every topic the webhook function handles that the Admin
    /// API can subscribe to).
    pub topics: Vec<Topic>,
    /// Where they must deliver: the deployment's webhook URL.
    pub address: String,
    /// The API version their payloads should have.
    pub api_version: String,
    /// The access scopes the app needs.
    pub scopes: Vec<String>,
}

impl Needs {
    /// Stockbridge's needs with its webhooks delivered to `address` (`WEBHOOK_URL`).
    pub fn stockbridge(address: &str) -> Result<Needs, NeedsError> {
        let address = address.trim();
        let rest = address
            .strip_prefix("https://")
            .or_else(|| address.strip_prefix("http://"));
        let host = rest.and_then(|r| r.split('/').next()).unwrap_or("");
        if host.is_empty() || address.chars().any(char::is_whitespace) {
            return Err(NeedsError::Address(address.to_string()));
        }
        Ok(Needs {
            topics: Topic::ALL
                .into_iter()
                .filter(|t| subscribable(*t))
                .collect(),
            address: address.to_string(),
            api_version: API_VERSION.to_string(),
            scopes: NEEDED_SCOPES.iter().map(|s| s.to_string()).collect(),
        })
    }
}

/// A needed topic whose only subscriptions deliver somewhere else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrongAddress {
    pub topic: Topic,
    /// Where its subscriptions deliver instead.
    pub uris: Vec<String>,
}

/// The comparison of what the shop has with what Stockbridge needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The address the needed topics should deliver to.
    pub address: String,
    /// Needed topics with no subscription at all.
    pub missing: Vec<Topic>,
    /// Needed topics subscribed only at other addresses (their webhooks do not reach us).
    pub wrong_address: Vec<WrongAddress>,
    /// Subscriptions Stockbridge does not need: other topics, or a needed topic at another
    /// address besides ours.
    pub extra: Vec<Subscription>,
    /// Subscriptions of needed topics at our address with another API version.
    pub other_version: Vec<Subscription>,
    /// Needed access scopes not granted (a granted `write_x` counts as `read_x`).
    pub missing_scopes: Vec<String>,
    /// Every subscription read, in Shopify's order.
    pub subscriptions: Vec<Subscription>,
    /// Every granted scope read.
    pub granted_scopes: Vec<String>,
}

impl Health {
    /// Nothing missing, extra, misdirected or of another version, and every scope granted.
    pub fn is_healthy(&self) -> bool {
        self.missing.is_empty()
            && self.wrong_address.is_empty()
            && self.extra.is_empty()
            && self.other_version.is_empty()
            && self.missing_scopes.is_empty()
    }

    /// The needed topics whose webhooks do not reach Stockbridge (missing or misdirected): the
    /// value of `WebhookSubscriptionsMissing`.
    pub fn subscriptions_missing(&self) -> usize {
        self.missing.len() + self.wrong_address.len()
    }

    /// The topics `ensure` creates subscriptions for: missing and misdirected ones.
    pub fn to_create(&self) -> Vec<Topic> {
        let mut topics = self.missing.clone();
        topics.extend(self.wrong_address.iter().map(|w| w.topic));
        topics
    }

    /// One line per difference, for operators (empty when healthy).
    pub fn differences(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for t in &self.missing {
            lines.push(format!("missing: {} ({})", t, api_topic(*t)));
        }
        for w in &self.wrong_address {
            lines.push(format!(
                "wrong address: {} delivers to {} instead of {}",
                w.topic,
                w.uris.join(", "),
                self.address
            ));
        }
        for s in &self.extra {
            lines.push(format!("extra: {} to {} ({})", s.topic, s.uri, s.id));
        }
        for s in &self.other_version {
            lines.push(format!(
                "other API version: {} to {} is {} (wanted {API_VERSION}; the version comes from the app's configuration)",
                s.topic, s.uri, s.api_version
            ));
        }
        for scope in &self.missing_scopes {
            lines.push(format!(
                "missing access scope: {scope} (grant it in the app's configuration and reinstall or re-authorise the app)"
            ));
        }
        lines
    }
}

/// Compares the shop's `subscriptions` and `granted` scopes with `needs`. Pure.
pub fn compare(needs: &Needs, subscriptions: &[Subscription], granted: &[String]) -> Health {
    let needed: BTreeSet<&str> = needs.topics.iter().map(|t| t.as_str()).collect();
    let topic_of =
        |s: &Subscription| Topic::parse(&s.topic).filter(|t| needed.contains(t.as_str()));
    let mut missing = Vec::new();
    let mut wrong_address = Vec::new();
    for &topic in &needs.topics {
        let of_topic: Vec<&Subscription> = subscriptions
            .iter()
            .filter(|s| topic_of(s) == Some(topic))
            .collect();
        if of_topic.is_empty() {
            missing.push(topic);
        } else if !of_topic.iter().any(|s| s.uri == needs.address) {
            wrong_address.push(WrongAddress {
                topic,
                uris: of_topic.iter().map(|s| s.uri.clone()).collect(),
            });
        }
    }
    let misdirected: BTreeSet<&str> = wrong_address.iter().map(|w| w.topic.as_str()).collect();
    let extra = subscriptions
        .iter()
        .filter(|s| match topic_of(s) {
            None => true,
            Some(t) => s.uri != needs.address && !misdirected.contains(t.as_str()),
        })
        .cloned()
        .collect();
    let other_version = subscriptions
        .iter()
        .filter(|s| {
            topic_of(s).is_some() && s.uri == needs.address && s.api_version != needs.api_version
        })
        .cloned()
        .collect();
    let granted_set: BTreeSet<&str> = granted.iter().map(String::as_str).collect();
    let missing_scopes = needs
        .scopes
        .iter()
        .filter(|scope| {
            let implied = scope
                .strip_prefix("read_")
                .map(|rest| format!("write_{rest}"));
            !granted_set.contains(scope.as_str())
                && !implied.is_some_and(|w| granted_set.contains(w.as_str()))
        })
        .cloned()
        .collect();
    Health {
        address: needs.address.clone(),
        missing,
        wrong_address,
        extra,
        other_version,
        missing_scopes,
        subscriptions: subscriptions.to_vec(),
        granted_scopes: granted.to_vec(),
    }
}

/// At most this many pages of subscriptions are read (Shopify pages hold up to 100; an app has a
/// few dozen): a broken cursor cannot loop forever.
pub const MAX_SUBSCRIPTION_PAGES: usize = 100;

/// Every subscription of the shop, all pages.
pub async fn subscriptions<W: WebhookSubscriptions>(
    admin: &W,
) -> Result<Vec<Subscription>, ShopifyError> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_SUBSCRIPTION_PAGES {
        let (page, next) = admin.subscriptions_page(cursor.clone()).await?;
        all.extend(page);
        match next {
            None => return Ok(all),
            Some(n) if Some(&n) == cursor.as_ref() => {
                return Err(ShopifyError::Unavailable(format!(
                    "webhookSubscriptions: the next cursor repeats the last ({n}); Shopify's paging is broken, retry later"
                )))
            }
            Some(n) => cursor = Some(n),
        }
    }
    Err(ShopifyError::Unavailable(format!(
        "webhookSubscriptions: more than {MAX_SUBSCRIPTION_PAGES} pages; not a list an app has, retry later"
    )))
}

/// Reads the shop's subscriptions and the app's scopes and compares them with `needs`.
pub async fn check<W: WebhookSubscriptions>(
    admin: &W,
    needs: &Needs,
) -> Result<Health, ShopifyError> {
    let subscriptions = subscriptions(admin).await?;
    let scopes = admin.access_scopes().await?;
    Ok(compare(needs, &subscriptions, &scopes))
}

/// What [`ensure`] did.
#[derive(Debug)]
pub struct Ensured {
    /// The comparison before anything was created.
    pub before: Health,
    /// The subscriptions created.
    pub created: Vec<Subscription>,
    /// The topics whose creation Shopify refused, with why.
    pub failed: Vec<(Topic, ShopifyError)>,
}

/// Checks, then creates a subscription at `needs.address` for every missing or misdirected
/// topic (extra subscriptions and other versions are left to the operator; missing scopes cannot
/// be granted through the API). A refused creation is reported and the others still tried; a
/// throttled or unavailable Shopify stops it (run it again).
pub async fn ensure<W: WebhookSubscriptions>(
    admin: &W,
    needs: &Needs,
) -> Result<Ensured, ShopifyError> {
    let before = check(admin, needs).await?;
    let mut created = Vec::new();
    let mut failed = Vec::new();
    for topic in before.to_create() {
        match admin.create_subscription(topic, &needs.address).await {
            Ok(sub) => created.push(sub),
            Err(e @ ShopifyError::Rejected(_)) => failed.push((topic, e)),
            Err(e) => return Err(e),
        }
    }
    Ok(Ensured {
        before,
        created,
        failed,
    })
}

/// Publishes `WebhookSubscriptionsMissing` and `AccessScopesMissing` for `health`.
pub fn record(metrics: &Metrics, health: &Health) {
    metrics.put(
        SUBSCRIPTIONS_MISSING_METRIC,
        health.subscriptions_missing() as f64,
        Unit::Count,
        None,
    );
    metrics.put(
        SCOPES_MISSING_METRIC,
        health.missing_scopes.len() as f64,
        Unit::Count,
        None,
    );
}

/// [`check`] and [`record`], logging what differs; a check that cannot read Shopify is logged
/// and counted (`WebhookHealthCheckFailed`), never an error: the caller's work goes on.
pub async fn check_and_record<W: WebhookSubscriptions>(
    admin: &W,
    needs: &Needs,
    metrics: &Metrics,
) -> Option<Health> {
    match check(admin, needs).await {
        Ok(health) => {
            record(metrics, &health);
            if health.is_healthy() {
                tracing::info!(
                    subscriptions = health.subscriptions.len(),
                    "webhook subscriptions and access scopes as needed"
                );
            } else {
                tracing::warn!(
                    missing = health.subscriptions_missing(),
                    scopes_missing = health.missing_scopes.len(),
                    differences = ?health.differences(),
                    "webhook subscriptions or access scopes differ from what Stockbridge needs; run `stockbridge webhooks ensure`"
                );
            }
            Some(health)
        }
        Err(e) => {
            tracing::warn!(error = %e, "webhook subscription check failed; the next run tries again");
            metrics.count(CHECK_FAILED_METRIC, None);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockbridge_shopify::topic::FulfillmentOrderTopic;

    const HOOK: &str = "https://abc.execute-api.eu-west-1.amazonaws.com/webhooks/shopify";

    fn sub(topic: Topic, uri: &str) -> Subscription {
        Subscription {
            id: format!("gid://shopify/WebhookSubscription/{}", topic.as_str().len()),
            topic: api_topic(topic),
            uri: uri.into(),
            format: "JSON".into(),
            include_fields: vec![],
            api_version: API_VERSION.into(),
        }
    }

    fn complete(needs: &Needs) -> Vec<Subscription> {
        needs.topics.iter().map(|t| sub(*t, HOOK)).collect()
    }

    fn scopes() -> Vec<String> {
        NEEDED_SCOPES.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn needs_every_handled_topic_but_the_privacy_ones() {
        let needs = Needs::stockbridge(HOOK).unwrap();
        assert_eq!(needs.topics.len(), Topic::ALL.len() - 3);
        assert!(!needs.topics.contains(&Topic::ShopRedact));
        assert!(needs.topics.contains(&Topic::InventoryLevelsUpdate));
        assert_eq!(
            api_topic(Topic::FulfillmentOrders(FulfillmentOrderTopic::Moved)),
            "FULFILLMENT_ORDERS_MOVED"
        );
        assert!(Needs::stockbridge("").is_err());
        assert!(Needs::stockbridge("webhooks/shopify").is_err());
        assert!(Needs::stockbridge("https:///x").is_err());
    }

    #[test]
    fn a_complete_set_is_healthy() {
        let needs = Needs::stockbridge(HOOK).unwrap();
        let health = compare(&needs, &complete(&needs), &scopes());
        assert!(health.is_healthy(), "{:?}", health.differences());
        assert_eq!(health.subscriptions_missing(), 0);
    }

    #[test]
    fn a_deleted_subscription_is_missing() {
        let needs = Needs::stockbridge(HOOK).unwrap();
        let mut subs = complete(&needs);
        subs.retain(|s| s.topic != "INVENTORY_LEVELS_UPDATE");
        let health = compare(&needs, &subs, &scopes());
        assert_eq!(health.missing, vec![Topic::InventoryLevelsUpdate]);
        assert_eq!(health.subscriptions_missing(), 1);
        assert_eq!(health.to_create(), vec![Topic::InventoryLevelsUpdate]);
        assert!(!health.is_healthy());
    }

    #[test]
    fn another_address_is_wrong_only_when_ours_is_absent() {
        let needs = Needs::stockbridge(HOOK).unwrap();
        let mut subs = complete(&needs);
        subs[0].uri = "https://old-stage.example.com/webhooks/shopify".into();
        let health = compare(&needs, &subs, &scopes());
        assert_eq!(health.wrong_address.len(), 1);
        assert_eq!(health.wrong_address[0].topic, needs.topics[0]);
        assert!(health.extra.is_empty() && health.missing.is_empty());
        assert_eq!(health.subscriptions_missing(), 1);
        // Ours added beside it: the old one is extra, nothing is missing.
        subs.push(sub(needs.topics[0], HOOK));
        let health = compare(&needs, &subs, &scopes());
        assert!(health.wrong_address.is_empty());
        assert_eq!(health.extra.len(), 1);
        assert_eq!(health.subscriptions_missing(), 0);
    }

    #[test]
    fn unneeded_topics_are_extra_and_other_versions_reported() {
        let needs = Needs::stockbridge(HOOK).unwrap();
        let mut subs = complete(&needs);
        subs.push(Subscription {
            topic: "PRODUCTS_UPDATE".into(),
            ..sub(Topic::OrdersCreate, HOOK)
        });
        subs[1].api_version = "2025-10".into();
        let health = compare(&needs, &subs, &scopes());
        assert_eq!(health.extra.len(), 1);
        assert_eq!(health.extra[0].topic, "PRODUCTS_UPDATE");
        assert_eq!(health.other_version.len(), 1);
        assert_eq!(health.subscriptions_missing(), 0);
        assert!(!health.is_healthy());
    }

    #[test]
    fn missing_scopes_are_named_and_write_implies_read() {
        let needs = Needs::stockbridge(HOOK).unwrap();
        let granted = vec!["write_inventory".to_string(), "read_orders".to_string()];
        let health = compare(&needs, &complete(&needs), &granted);
        assert_eq!(
            health.missing_scopes,
            vec![
                "read_merchant_managed_fulfillment_orders".to_string(),
                "write_products".to_string()
            ]
        );
        assert!(health
            .differences()
            .iter()
            .any(|l| l.contains("read_merchant_managed_fulfillment_orders")));
        assert!(health
            .differences()
            .iter()
            .any(|l| l.contains("write_products")));
    }

    #[test]
    fn the_erp_sync_needs_products_written_and_read_alone_is_not_enough() {
        let needs = Needs::stockbridge(HOOK).unwrap();
        assert!(needs.scopes.iter().any(|s| s == "write_products"));
        let mut granted = scopes();
        granted.retain(|s| s != "write_products");
        granted.push("read_products".to_string());
        let health = compare(&needs, &complete(&needs), &granted);
        assert_eq!(health.missing_scopes, vec!["write_products".to_string()]);
        assert!(!health.is_healthy());
        let health = compare(&needs, &complete(&needs), &scopes());
        assert!(health.missing_scopes.is_empty() && health.is_healthy());
    }

    #[test]
    fn the_metrics_count_missing_topics_and_scopes() {
        let needs = Needs::stockbridge(HOOK).unwrap();
        let metrics = Metrics::silent("test");
        let health = compare(&needs, &[], &[]);
        record(&metrics, &health);
        assert_eq!(
            metrics.total(SUBSCRIPTIONS_MISSING_METRIC),
            needs.topics.len() as f64
        );
        assert_eq!(
            metrics.total(SCOPES_MISSING_METRIC),
            NEEDED_SCOPES.len() as f64
        );
        assert_eq!(NEEDED_SCOPES.len(), 5);
    }
}
