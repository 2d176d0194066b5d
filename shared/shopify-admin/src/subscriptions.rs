//! The app's webhook subscriptions and access scopes: `webhookSubscriptions(first:, after:)`
//! page by page, `currentAppInstallation { accessScopes { handle } }`, and
//! `webhookSubscriptionCreate` (JSON, to a `uri`), each paced by the cost budget; the answers
//! decoded strictly (an unknown or missing field, or an id that is not a `WebhookSubscription`
//! gid, is an answer not of the documented shape). Implements
//! [`stockbridge_core::webhook_health::WebhookSubscriptions`].

use serde::Deserialize;
use serde_json::json;

use stockbridge_core::ports::ShopifyError;
use stockbridge_core::webhook_health::{api_topic, Subscription, Topic, WebhookSubscriptions};

use crate::client::{describe_user_errors, SCOPES_HINT};
use crate::wire::{parse_gid, PageInfo, UserError};
use crate::{truncate, ShopifyGraphql, MUTATION_COST};

/// Subscriptions a page (an app has a few dozen).
pub const SUBSCRIPTIONS_PAGE: u32 = 50;
/// Requested cost of a page: the connection (2) and per node the node (1) and its `apiVersion` (1).
pub const SUBSCRIPTIONS_PAGE_COST: f64 = 2.0 + SUBSCRIPTIONS_PAGE as f64 * 2.0;
/// Requested cost of the scopes query: the installation (1) and its scopes (1).
pub const ACCESS_SCOPES_COST: f64 = 2.0;

const SUBSCRIPTION_FIELDS: &str = "id topic uri format includeFields apiVersion { handle }";

fn subscriptions_query() -> String {
    format!(
        "query StockbridgeWebhookSubscriptions($first: Int!, $after: String) {{\n  webhookSubscriptions(first: $first, after: $after) {{\n    nodes {{ {SUBSCRIPTION_FIELDS} }}\n    pageInfo {{ hasNextPage endCursor }}\n  }}\n}}"
    )
}

const SCOPES_QUERY: &str =
    "query StockbridgeAccessScopes {\n  currentAppInstallation { accessScopes { handle } }\n}";

fn create_mutation() -> String {
    format!(
        "mutation StockbridgeWebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {{\n  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {{\n    webhookSubscription {{ {SUBSCRIPTION_FIELDS} }}\n    userErrors {{ field message }}\n  }}\n}}"
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubscriptionsData {
    webhook_subscriptions: SubscriptionConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubscriptionConnection {
    nodes: Vec<SubscriptionNode>,
    page_info: PageInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubscriptionNode {
    id: String,
    topic: String,
    uri: String,
    format: String,
    include_fields: Vec<String>,
    api_version: ApiVersion,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiVersion {
    handle: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScopesData {
    current_app_installation: Option<Installation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Installation {
    access_scopes: Vec<Scope>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scope {
    handle: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateData {
    webhook_subscription_create: Option<CreatePayload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreatePayload {
    webhook_subscription: Option<SubscriptionNode>,
    user_errors: Vec<UserError>,
}

/// A node as a [`Subscription`]; `what` names the call, for errors.
fn subscription_from(node: SubscriptionNode, what: &str) -> Result<Subscription, ShopifyError> {
    if parse_gid(&node.id, "WebhookSubscription").is_none() {
        return Err(ShopifyError::Unavailable(format!(
            "{what}: an id that is not a WebhookSubscription gid: {:?}",
            truncate(&node.id)
        )));
    }
    if node.topic.is_empty() || node.uri.is_empty() || node.api_version.handle.is_empty() {
        return Err(ShopifyError::Unavailable(format!(
            "{what}: subscription {} has an empty topic, uri or apiVersion",
            truncate(&node.id)
        )));
    }
    Ok(Subscription {
        id: node.id,
        topic: node.topic,
        uri: node.uri,
        format: node.format,
        include_fields: node.include_fields,
        api_version: node.api_version.handle,
    })
}

impl ShopifyGraphql {
    async fn read_subscriptions_page(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<Subscription>, Option<String>), ShopifyError> {
        const WHAT: &str = "webhookSubscriptions";
        self.pace(SUBSCRIPTIONS_PAGE_COST).await;
        let data: SubscriptionsData = self
            .call(
                WHAT,
                &subscriptions_query(),
                json!({ "first": SUBSCRIPTIONS_PAGE, "after": cursor }),
                None,
            )
            .await?;
        let connection = data.webhook_subscriptions;
        let subscriptions = connection
            .nodes
            .into_iter()
            .map(|n| subscription_from(n, WHAT))
            .collect::<Result<Vec<_>, _>>()?;
        let page = connection.page_info;
        match (page.has_next_page, page.end_cursor) {
            (true, Some(c)) => Ok((subscriptions, Some(c))),
            (true, None) => Err(ShopifyError::Unavailable(format!(
                "{WHAT}: hasNextPage without an endCursor"
            ))),
            (false, _) => Ok((subscriptions, None)),
        }
    }

    async fn read_access_scopes(&self) -> Result<Vec<String>, ShopifyError> {
        self.pace(ACCESS_SCOPES_COST).await;
        let data: ScopesData = self
            .call(
                "currentAppInstallation.accessScopes",
                SCOPES_QUERY,
                json!({}),
                None,
            )
            .await?;
        let Some(installation) = data.current_app_installation else {
            return Err(ShopifyError::Rejected(format!(
                "currentAppInstallation is null: the token is not an app's ({SCOPES_HINT})"
            )));
        };
        Ok(installation
            .access_scopes
            .into_iter()
            .map(|s| s.handle)
            .collect())
    }

    async fn write_subscription(
        &self,
        topic: Topic,
        uri: &str,
    ) -> Result<Subscription, ShopifyError> {
        const WHAT: &str = "webhookSubscriptionCreate";
        self.pace(MUTATION_COST).await;
        let variables = json!({
            "topic": api_topic(topic),
            "subscription": { "uri": uri, "format": "JSON" },
        });
        let data: CreateData = self.call(WHAT, &create_mutation(), variables, None).await?;
        let Some(payload) = data.webhook_subscription_create else {
            return Err(ShopifyError::Unavailable(format!(
                "{WHAT}: the answer carries no payload"
            )));
        };
        if !payload.user_errors.is_empty() {
            return Err(ShopifyError::Rejected(format!(
                "{WHAT} {topic} to {uri}: {}",
                describe_user_errors(&payload.user_errors)
            )));
        }
        match payload.webhook_subscription {
            Some(node) => subscription_from(node, WHAT),
            None => Err(ShopifyError::Unavailable(format!(
                "{WHAT}: neither a subscription nor userErrors"
            ))),
        }
    }
}

impl WebhookSubscriptions for ShopifyGraphql {
    async fn subscriptions_page(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<Subscription>, Option<String>), ShopifyError> {
        self.read_subscriptions_page(cursor).await
    }

    async fn access_scopes(&self) -> Result<Vec<String>, ShopifyError> {
        self.read_access_scopes().await
    }

    async fn create_subscription(
        &self,
        topic: Topic,
        uri: &str,
    ) -> Result<Subscription, ShopifyError> {
        self.write_subscription(topic, uri).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::read_answer;

    fn decode<T: for<'de> Deserialize<'de>>(body: serde_json::Value) -> Result<T, ShopifyError> {
        read_answer::<T>("test", body.to_string().as_bytes())
            .0
            .outcome
    }

    #[test]
    fn a_page_decodes_and_a_bad_id_or_unknown_field_is_refused() {
        let node = json!({"id": "gid://shopify/WebhookSubscription/7", "topic": "ORDERS_CREATE",
            "uri": "https://x.example/h", "format": "JSON", "includeFields": [],
            "apiVersion": {"handle": "2026-04"}});
        let page = json!({"data": {"webhookSubscriptions": {"nodes": [node],
            "pageInfo": {"hasNextPage": false, "endCursor": null}}}});
        let data: SubscriptionsData = decode(page).unwrap();
        let sub = subscription_from(
            data.webhook_subscriptions.nodes.into_iter().next().unwrap(),
            "t",
        )
        .unwrap();
        assert_eq!(sub.topic, "ORDERS_CREATE");
        assert_eq!(sub.api_version, "2026-04");

        let mut bad = node.clone();
        bad["id"] = json!("gid://shopify/Order/7");
        let bad: SubscriptionNode = serde_json::from_value(bad).unwrap();
        assert!(matches!(
            subscription_from(bad, "t"),
            Err(ShopifyError::Unavailable(_))
        ));

        let mut unknown = node.clone();
        unknown["callbackUrl"] = json!("https://x.example/h");
        assert!(serde_json::from_value::<SubscriptionNode>(unknown).is_err());
        let mut missing = node;
        missing.as_object_mut().unwrap().remove("uri");
        assert!(serde_json::from_value::<SubscriptionNode>(missing).is_err());
    }

    #[test]
    fn the_documents_use_the_documented_names() {
        assert!(subscriptions_query().contains("webhookSubscriptions(first: $first"));
        assert!(create_mutation().contains("webhookSubscription: $subscription"));
        assert!(!create_mutation().contains("callbackUrl"));
    }
}
