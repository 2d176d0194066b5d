//! Metafields on product variants, the Shopify side of the two-way direction
//! ([`stockbridge_core::ports::Metafields`]): `metafieldsSet` (an upsert by owner, namespace and
//! key, atomic, at most [`MAX_METAFIELDS_PER_CALL`] a call, so larger sets go in chunks, each
//! atomic on its own) and `metafieldsDelete` (by owner, namespace and key; one that does not
//! exist comes back as `null` in `deletedMetafields` and is no error).
//!
//! Neither mutation takes `@idempotent` in 2026-04 (Shopify made the directive mandatory for the
//! inventory and refund mutations only) and neither needs it: setting the same value twice, or
//! deleting what is gone, leaves the same state. Every call is paced on the cost bucket like the
//! inventory write; `userErrors` are [`ShopifyError::Rejected`] with Shopify's messages.
//!
//! The way back (an operator's change to a variant metafield): `productVariants` filtered by
//! `updated_at:>=` (Shopify documents the filter on the query; a variant's metafield change is
//! taken to bump the variant's `updatedAt`, as Shopify's Flow counts `variants.metafield.value`
//! among a product's updates), each node with its linked `metafield(namespace:, key:)`
//! `{ value updatedAt }` by alias; a row is each metafield whose own `updatedAt` is after the
//! window's start. A window is walked page by page (`after`); once walked, the next starts at the
//! walk's start less [`WINDOW_SKEW_MS`], so a change made during the walk is read next time
//! (read twice at worst: the caller compares values). A deleted metafield is not seen.
//!
//! Access: a metafield needs the access its owner does, so on variants the app needs the
//! `write_products` scope (besides the inventory scopes); without it Shopify answers
//! `ACCESS_DENIED`, mapped to `Rejected` like every refusal.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use stockbridge_core::ports::{
    FeedCursor, FeedPage, MetafieldRef, MetafieldWrite, ShopifyError, VariantMetafield,
};
use stockbridge_domain::ids::{Timestamp, VariantId};

use crate::client::describe_user_errors;
use crate::wire::UserError;
use crate::{ShopifyGraphql, MUTATION_COST};

/// Shopify's limit on `metafieldsSet` inputs per call.
pub const MAX_METAFIELDS_PER_CALL: usize = 25;
/// Identifiers per `metafieldsDelete` call (Shopify caps input arrays at 250).
pub const MAX_METAFIELD_DELETES_PER_CALL: usize = 250;

const SET_METAFIELDS: &str = r#"mutation StockbridgeSetMetafields($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id namespace key }
    userErrors { field message code elementIndex }
  }
}"#;

// `userErrors` of `metafieldsDelete` is the plain `UserError` (no code) in the Admin API.
const DELETE_METAFIELDS: &str = r#"mutation StockbridgeDeleteMetafields($metafields: [MetafieldIdentifierInput!]!) {
  metafieldsDelete(metafields: $metafields) {
    deletedMetafields { ownerId namespace key }
    userErrors { field message }
  }
}"#;

/// How far before a walk's start the next window begins (clock skew, commit lag).
pub const WINDOW_SKEW_MS: i64 = 5_000;
/// The most metafields asked per variant node (each costs one point).
pub const MAX_LINKS_READ: usize = 20;

/// The way back's cursor: the window's start, when the walk began, the page reached.
#[derive(Debug, Default, Serialize, Deserialize)]
struct WindowCursor {
    since: Option<i64>,
    began: i64,
    after: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantsData {
    product_variants: VariantsPage,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantsPage {
    nodes: Vec<serde_json::Map<String, Value>>,
    page_info: PageInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetafieldRead {
    value: Option<String>,
    updated_at: String,
}

/// The query for `n` links: aliases `m0..` with variables `$n0`/`$k0`...
fn variants_query(n: usize) -> String {
    let vars: String = (0..n)
        .map(|i| format!(", $n{i}: String!, $k{i}: String!"))
        .collect();
    let fields: String = (0..n)
        .map(|i| format!(" m{i}: metafield(namespace: $n{i}, key: $k{i}) {{ value updatedAt }}"))
        .collect();
    format!(
        "query StockbridgeVariantMetafields($first: Int!, $after: String, $query: String{vars}) {{\n  \
         productVariants(first: $first, after: $after, query: $query, sortKey: ID) {{\n    \
         nodes {{ id{fields} }}\n    pageInfo {{ hasNextPage endCursor }}\n  }}\n}}"
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetData {
    metafields_set: Option<SetPayload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetPayload {
    #[serde(default)]
    metafields: Option<Vec<Value>>,
    #[serde(default)]
    user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteData {
    metafields_delete: Option<DeletePayload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeletePayload {
    /// One entry per identifier sent, `null` where there was nothing to delete.
    #[serde(default)]
    deleted_metafields: Option<Vec<Option<Value>>>,
    #[serde(default)]
    user_errors: Vec<UserError>,
}

fn variant_gid(owner: stockbridge_domain::ids::VariantId) -> String {
    format!("gid://shopify/ProductVariant/{}", owner.0)
}

impl ShopifyGraphql {
    /// Sets `writes`, at most [`MAX_METAFIELDS_PER_CALL`] a call; see
    /// [`stockbridge_core::ports::Metafields::set_metafields`]. A chunk refused leaves the
    /// chunks before it set (each is atomic, the whole is not); a retry sets them again, which
    /// changes nothing.
    pub(crate) async fn write_metafields(
        &self,
        writes: &[MetafieldWrite],
    ) -> Result<(), ShopifyError> {
        for chunk in writes.chunks(MAX_METAFIELDS_PER_CALL) {
            self.set_metafields_chunk(chunk).await?;
        }
        Ok(())
    }

    /// Deletes `refs`, at most [`MAX_METAFIELD_DELETES_PER_CALL`] a call; one already gone is no
    /// error.
    pub(crate) async fn remove_metafields(
        &self,
        refs: &[MetafieldRef],
    ) -> Result<(), ShopifyError> {
        for chunk in refs.chunks(MAX_METAFIELD_DELETES_PER_CALL) {
            self.delete_metafields_chunk(chunk).await?;
        }
        Ok(())
    }

    /// See [`stockbridge_core::ports::Metafields::variant_metafields_changed`] and the module
    /// doc.
    pub(crate) async fn read_variant_metafields(
        &self,
        links: &[(String, String)],
        since: Option<FeedCursor>,
        limit: usize,
    ) -> Result<FeedPage<VariantMetafield>, ShopifyError> {
        if links.is_empty() || links.len() > MAX_LINKS_READ {
            return Err(ShopifyError::Rejected(format!(
                "{} metafields asked per variant: 1 to {MAX_LINKS_READ} are read",
                links.len()
            )));
        }
        let mut cursor = match &since {
            None => WindowCursor::default(),
            Some(c) => serde_json::from_str(&c.0).map_err(|_| {
                ShopifyError::Rejected(format!("{:?} is not a metafield window cursor", c.0))
            })?,
        };
        if cursor.after.is_none() {
            cursor.began = Timestamp::now().as_millis();
        }
        let first = limit.clamp(1, 250).min(900 / (1 + links.len()));
        let mut variables = json!({
            "first": first,
            "after": cursor.after,
            "query": cursor.since.map(|ms| format!(
                "updated_at:>='{}'",
                Timestamp::from_millis(ms).to_rfc3339()
            )),
        });
        for (i, (ns, key)) in links.iter().enumerate() {
            variables[format!("n{i}")] = json!(ns);
            variables[format!("k{i}")] = json!(key);
        }
        self.pace((2 + first * (1 + links.len())) as f64).await;
        let data: VariantsData = self
            .call(
                "productVariants",
                &variants_query(links.len()),
                variables,
                None,
            )
            .await?;
        let mut rows = Vec::new();
        for node in &data.product_variants.nodes {
            let id = node.get("id").and_then(Value::as_str).unwrap_or_default();
            let Some(variant) = crate::wire::parse_gid(id, "ProductVariant") else {
                return Err(ShopifyError::Unavailable(format!(
                    "productVariants: {id:?} is not a ProductVariant gid"
                )));
            };
            for (i, (ns, key)) in links.iter().enumerate() {
                let Some(raw) = node.get(&format!("m{i}")).filter(|v| !v.is_null()) else {
                    continue;
                };
                let read: MetafieldRead = serde_json::from_value(raw.clone()).map_err(|e| {
                    ShopifyError::Unavailable(format!("productVariants: a metafield read: {e}"))
                })?;
                let Some(updated_at) = Timestamp::parse(&read.updated_at) else {
                    return Err(ShopifyError::Unavailable(format!(
                        "productVariants: {:?} is not a time",
                        read.updated_at
                    )));
                };
                if cursor.since.is_some_and(|s| updated_at.as_millis() <= s) {
                    continue;
                }
                rows.push(VariantMetafield {
                    variant: VariantId(variant),
                    namespace: ns.clone(),
                    key: key.clone(),
                    value: read.value,
                    updated_at,
                });
            }
        }
        rows.sort_by_key(|r| r.updated_at);
        let page = data.product_variants.page_info;
        let more = page.has_next_page;
        let next = if more {
            WindowCursor {
                since: cursor.since,
                began: cursor.began,
                after: page.end_cursor,
            }
        } else {
            WindowCursor {
                since: Some(cursor.began - WINDOW_SKEW_MS),
                began: 0,
                after: None,
            }
        };
        let next = serde_json::to_string(&next)
            .map_err(|e| ShopifyError::Unavailable(format!("a window cursor: {e}")))?;
        Ok(FeedPage {
            rows,
            next: Some(FeedCursor(next)),
            more,
        })
    }

    async fn set_metafields_chunk(&self, writes: &[MetafieldWrite]) -> Result<(), ShopifyError> {
        let inputs: Vec<Value> = writes
            .iter()
            .map(|w| {
                json!({
                    "ownerId": variant_gid(w.owner),
                    "namespace": w.namespace,
                    "key": w.key,
                    "type": w.kind,
                    "value": w.value,
                })
            })
            .collect();
        self.pace(MUTATION_COST).await;
        let data: SetData = self
            .call(
                "metafieldsSet",
                SET_METAFIELDS,
                json!({ "metafields": inputs }),
                None,
            )
            .await?;
        let Some(payload) = data.metafields_set else {
            return Err(ShopifyError::Unavailable(
                "metafieldsSet: the answer carries no payload".into(),
            ));
        };
        if !payload.user_errors.is_empty() {
            return Err(ShopifyError::Rejected(format!(
                "metafieldsSet: {}",
                describe_user_errors(&payload.user_errors)
            )));
        }
        let Some(set) = payload.metafields else {
            return Err(ShopifyError::Unavailable(
                "metafieldsSet: an answer with neither metafields nor userErrors".into(),
            ));
        };
        tracing::debug!(
            sent = writes.len(),
            set = set.len(),
            "Shopify metafieldsSet applied"
        );
        Ok(())
    }

    async fn delete_metafields_chunk(&self, refs: &[MetafieldRef]) -> Result<(), ShopifyError> {
        if refs.is_empty() {
            return Ok(());
        }
        let identifiers: Vec<Value> = refs
            .iter()
            .map(|r| {
                json!({
                    "ownerId": variant_gid(r.owner),
                    "namespace": r.namespace,
                    "key": r.key,
                })
            })
            .collect();
        self.pace(MUTATION_COST).await;
        let data: DeleteData = self
            .call(
                "metafieldsDelete",
                DELETE_METAFIELDS,
                json!({ "metafields": identifiers }),
                None,
            )
            .await?;
        let Some(payload) = data.metafields_delete else {
            return Err(ShopifyError::Unavailable(
                "metafieldsDelete: the answer carries no payload".into(),
            ));
        };
        if !payload.user_errors.is_empty() {
            return Err(ShopifyError::Rejected(format!(
                "metafieldsDelete: {}",
                describe_user_errors(&payload.user_errors)
            )));
        }
        let deleted = payload
            .deleted_metafields
            .map_or(0, |d| d.iter().filter(|m| m.is_some()).count());
        tracing::debug!(
            sent = refs.len(),
            deleted,
            "Shopify metafieldsDelete applied (the rest were not there)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::read_answer;

    #[test]
    fn the_read_names_each_link_by_variables() {
        let q = variants_query(2);
        assert!(q.contains("$n1: String!, $k1: String!"));
        assert!(q.contains("m1: metafield(namespace: $n1, key: $k1) { value updatedAt }"));
        assert!(q.contains("sortKey: ID"));
    }

    #[test]
    fn owners_are_variant_gids() {
        assert_eq!(
            variant_gid(stockbridge_domain::ids::VariantId(43_100_000_000_001)),
            "gid://shopify/ProductVariant/43100000000001"
        );
    }

    #[test]
    fn a_missing_metafield_in_a_delete_answer_is_null_not_an_error() {
        let body = br#"{"data":{"metafieldsDelete":{"deletedMetafields":[null,{"ownerId":"gid://shopify/ProductVariant/1","namespace":"stockbridge","key":"restock_date"}],"userErrors":[]}}}"#;
        let (exchange, _) = read_answer::<DeleteData>("metafieldsDelete", body);
        let payload = exchange
            .outcome
            .map(|d| d.metafields_delete)
            .ok()
            .flatten()
            .map(|p| (p.deleted_metafields.map(|d| d.len()), p.user_errors.len()));
        assert_eq!(payload, Some((Some(2), 0)));
    }

    #[test]
    fn set_user_errors_read_with_their_codes() {
        let body = br#"{"data":{"metafieldsSet":{"metafields":null,"userErrors":[{"field":["metafields","0","value"],"message":"Value must be in YYYY-MM-DD format.","code":"INVALID_VALUE","elementIndex":0}]}}}"#;
        let (exchange, _) = read_answer::<SetData>("metafieldsSet", body);
        let errors = exchange
            .outcome
            .ok()
            .and_then(|d| d.metafields_set)
            .map(|p| describe_user_errors(&p.user_errors));
        assert_eq!(
            errors.as_deref(),
            Some("metafields.0.value: Value must be in YYYY-MM-DD format. (INVALID_VALUE)")
        );
    }
}
