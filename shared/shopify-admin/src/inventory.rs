//! The paged reads and the write: a page of a location's levels sized to the budget, the shop's
//! active locations, and `inventorySetQuantities` with compare-and-set under an idempotency key,
//! in chunks of at most [`MAX_SETS_PER_CALL`] quantities.

use serde_json::{json, Value};

use stockbridge_core::ports::{ShopifyError, ShopifyLevel, ShopifySet};
use stockbridge_domain::ids::LocationId;

use crate::client::{describe_user_errors, SCOPES_HINT};
use crate::truncate;
use crate::wire::{
    level_from, parse_gid, LevelsData, LocationsData, SetData, LEVELS_QUERY, LOCATIONS_QUERY,
    SET_MUTATION,
};
use crate::{ShopifyGraphql, LOCATIONS_COST, MAX_SETS_PER_CALL, MUTATION_COST};

impl ShopifyGraphql {
    /// One page of levels at `location` after `cursor`, and the next cursor.
    pub(crate) async fn read_levels_page(
        &self,
        location: LocationId,
        cursor: Option<String>,
    ) -> Result<(Vec<ShopifyLevel>, Option<String>), ShopifyError> {
        let first = self.pace_levels().await;
        let variables = json!({
            "location": format!("gid://shopify/Location/{}", location.0),
            "first": first,
            "after": cursor,
        });
        let data: LevelsData = self
            .call(
                "location.inventoryLevels",
                LEVELS_QUERY,
                variables,
                Some(first),
            )
            .await?;
        let Some(found) = data.location else {
            return Err(ShopifyError::Rejected(format!(
                "location {location} not found (or not visible to this app: {SCOPES_HINT})"
            )));
        };
        let connection = found.inventory_levels;
        let mut levels = Vec::with_capacity(connection.nodes.len());
        for node in connection.nodes {
            levels.push(level_from(&node, location, "location.inventoryLevels")?);
        }
        let next = if connection.page_info.has_next_page {
            match connection.page_info.end_cursor {
                Some(c) => Some(c),
                None => {
                    return Err(ShopifyError::Unavailable(
                        "location.inventoryLevels: hasNextPage without an endCursor".into(),
                    ))
                }
            }
        } else {
            None
        };
        Ok((levels, next))
    }

    /// Every active location, all pages.
    pub(crate) async fn read_locations(&self) -> Result<Vec<LocationId>, ShopifyError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            self.pace(LOCATIONS_COST).await;
            let data: LocationsData = self
                .call(
                    "locations",
                    LOCATIONS_QUERY,
                    json!({ "after": after }),
                    None,
                )
                .await?;
            for node in data.locations.nodes.into_iter().filter(|n| n.is_active) {
                let id = parse_gid(&node.id, "Location").ok_or_else(|| {
                    ShopifyError::Unavailable(format!(
                        "locations: an id that is not a Location gid: {:?}",
                        truncate(&node.id)
                    ))
                })?;
                out.push(LocationId(id));
            }
            let page = data.locations.page_info;
            match (page.has_next_page, page.end_cursor) {
                (true, Some(c)) => after = Some(c),
                (true, None) => {
                    return Err(ShopifyError::Unavailable(
                        "locations: hasNextPage without an endCursor".into(),
                    ))
                }
                (false, _) => return Ok(out),
            }
        }
    }

    /// Sets `available` for `sets`, chunked; see [`stockbridge_core::ports::ShopifyAdmin`].
    pub(crate) async fn write_available(
        &self,
        sets: &[ShopifySet],
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ShopifyError> {
        if sets.is_empty() {
            return Ok(());
        }
        if idempotency_key.trim().is_empty() {
            return Err(ShopifyError::Rejected(
                "inventorySetQuantities needs an idempotency key (2026-04)".into(),
            ));
        }
        if sets.len() <= MAX_SETS_PER_CALL {
            return self.set_chunk(sets, reason, idempotency_key).await;
        }
        // Each chunk is atomic on its own; a retry with the same key replays the chunks already
        // applied (their derived keys are the same) and resumes at the first that was not.
        for (n, chunk) in sets.chunks(MAX_SETS_PER_CALL).enumerate() {
            self.set_chunk(chunk, reason, &format!("{idempotency_key}:{n}"))
                .await?;
        }
        Ok(())
    }

    async fn set_chunk(
        &self,
        sets: &[ShopifySet],
        reason: &str,
        key: &str,
    ) -> Result<(), ShopifyError> {
        let quantities: Vec<Value> = sets
            .iter()
            .map(|s| {
                json!({
                    "inventoryItemId": format!("gid://shopify/InventoryItem/{}", s.item.0),
                    "locationId": format!("gid://shopify/Location/{}", s.location.0),
                    "quantity": s.quantity,
                    "changeFromQuantity": s.expected,
                })
            })
            .collect();
        let input = json!({
            "name": "available",
            "reason": reason,
            "referenceDocumentUri": reference_uri(key),
            "quantities": quantities,
        });
        self.pace(MUTATION_COST).await;
        let data: SetData = self
            .call(
                "inventorySetQuantities",
                SET_MUTATION,
                json!({ "input": input, "key": key }),
                None,
            )
            .await?;
        let Some(payload) = data.inventory_set_quantities else {
            return Err(ShopifyError::Unavailable(
                "inventorySetQuantities: the answer carries no payload".into(),
            ));
        };
        if payload.user_errors.is_empty() {
            tracing::debug!(
                key,
                quantities = sets.len(),
                group = payload
                    .inventory_adjustment_group
                    .as_ref()
                    .map(|g| g.id.as_str())
                    .unwrap_or("-"),
                "Shopify inventorySetQuantities applied"
            );
            return Ok(());
        }
        let code = |c: &str| {
            payload
                .user_errors
                .iter()
                .any(|e| e.code.as_deref() == Some(c))
        };
        if code("CHANGE_FROM_QUANTITY_STALE") || code("COMPARE_QUANTITY_STALE") {
            return Err(ShopifyError::Stale);
        }
        if code("IDEMPOTENCY_KEY_PARAMETER_MISMATCH") {
            return Err(ShopifyError::KeyReused);
        }
        let detail = describe_user_errors(&payload.user_errors);
        if code("IDEMPOTENCY_CONCURRENT_REQUEST") {
            return Err(ShopifyError::Unavailable(format!(
                "inventorySetQuantities: {detail}"
            )));
        }
        Err(ShopifyError::Rejected(format!(
            "inventorySetQuantities: {detail}"
        )))
    }
}

/// The write's `referenceDocumentUri`: the idempotency key, with characters outside a URI's
/// unreserved set (and `:`) replaced by `_`.
fn reference_uri(key: &str) -> String {
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._~:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("stockbridge://sync/{safe}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_uris_keep_only_safe_characters() {
        assert_eq!(
            reference_uri("push:w1/42 é"),
            "stockbridge://sync/push:w1_42__"
        );
    }
}
