//! Shopify's Admin GraphQL wire format, as far as Stockbridge reads it: the documents sent (the
//! levels and locations queries, the bulk operation's mutation, poll and inner query, the
//! compare-and-set write), the serde shapes of the answers (only the fields read), and the
//! conversions from them: gids to integers, a level node to a [`ShopifyLevel`].

use serde::Deserialize;

use stockbridge_core::ports::{ShopifyError, ShopifyLevel};
use stockbridge_domain::ids::{InventoryItemId, LocationId};

use crate::truncate;

pub(crate) const LEVELS_QUERY: &str = r#"query StockbridgeLevels($location: ID!, $first: Int!, $after: String) {
  location(id: $location) {
    inventoryLevels(first: $first, after: $after) {
      nodes {
        item { id }
        quantities(names: ["available", "committed", "on_hand", "reserved", "damaged", "safety_stock", "quality_control", "incoming"]) { name quantity }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}"#;

pub(crate) const LOCATIONS_QUERY: &str = r#"query StockbridgeLocations($after: String) {
  locations(first: 50, after: $after) {
    nodes { id isActive }
    pageInfo { hasNextPage endCursor }
  }
}"#;

pub(crate) const BULK_MUTATION: &str = r#"mutation StockbridgeBulkLevels($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}"#;

pub(crate) const BULK_POLL: &str = r#"query StockbridgeBulkStatus {
  currentBulkOperation { id status errorCode objectCount url }
}"#;

pub(crate) const SET_MUTATION: &str = r#"mutation StockbridgeSetAvailable($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id changes { name delta } }
    userErrors { field message code }
  }
}"#;

/// The query a bulk operation runs: every level at `location`, with all eight quantity names.
pub(crate) fn bulk_levels_query(location: LocationId) -> String {
    format!(
        r#"{{ location(id: "gid://shopify/Location/{location}") {{ inventoryLevels {{ edges {{ node {{ item {{ id }} quantities(names: ["available", "committed", "on_hand", "reserved", "damaged", "safety_stock", "quality_control", "incoming"]) {{ name quantity }} }} }} }} }} }}"#
    )
}

/// `gid://shopify/<kind>/<n>` (optionally `?...`) to `n`, parsed as an integer.
pub fn parse_gid(gid: &str, kind: &str) -> Option<u64> {
    let rest = gid.strip_prefix("gid://shopify/")?.strip_prefix(kind)?;
    let digits = rest.strip_prefix('/')?;
    let digits = digits.split_once('?').map_or(digits, |(d, _)| d);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().filter(|n| *n > 0)
}

/// A level node (`item { id }` and its quantities) as a [`ShopifyLevel`] at `location`; `what`
/// says where it came from, for errors.
pub(crate) fn level_from(
    node: &LevelNode,
    location: LocationId,
    what: &str,
) -> Result<ShopifyLevel, ShopifyError> {
    let item = parse_gid(&node.item.id, "InventoryItem").ok_or_else(|| {
        ShopifyError::Unavailable(format!(
            "{what}: an item id that is not an InventoryItem gid: {:?}",
            truncate(&node.item.id)
        ))
    })?;
    let quantity = |name: &str| {
        node.quantities
            .iter()
            .find(|q| q.name == name)
            .map(|q| q.quantity)
            .ok_or_else(|| {
                ShopifyError::Unavailable(format!("{what}: item {item} lacks the {name} quantity"))
            })
    };
    Ok(ShopifyLevel {
        item: InventoryItemId(item),
        location,
        available: quantity("available")?,
        on_hand: quantity("on_hand")?,
        committed: quantity("committed")?,
        reserved: quantity("reserved")?,
        damaged: quantity("damaged")?,
        safety_stock: quantity("safety_stock")?,
        quality_control: quantity("quality_control")?,
        incoming: quantity("incoming")?,
    })
}

// ---------------------------------------------------------------------------------------------
// Answers: only what is read.

#[derive(Deserialize)]
pub(crate) struct Envelope<T> {
    pub(crate) data: Option<T>,
    pub(crate) errors: Option<Vec<GqlError>>,
    pub(crate) extensions: Option<Extensions>,
}

#[derive(Deserialize)]
pub(crate) struct GqlError {
    #[serde(default)]
    pub(crate) message: String,
    pub(crate) extensions: Option<GqlErrorExtensions>,
}

impl GqlError {
    pub(crate) fn code(&self) -> Option<&str> {
        self.extensions.as_ref()?.code.as_deref()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GqlErrorExtensions {
    pub(crate) code: Option<String>,
    /// `MAX_COST_EXCEEDED`: what the query would have cost, and the most a single query may.
    #[serde(default)]
    pub(crate) cost: Option<f64>,
    #[serde(default)]
    pub(crate) max_cost: Option<f64>,
}

#[derive(Deserialize)]
pub(crate) struct Extensions {
    pub(crate) cost: Option<Cost>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cost {
    pub(crate) requested_query_cost: Option<f64>,
    /// What the answer was charged (`null` when nothing ran: a throttled query).
    #[serde(default)]
    pub(crate) actual_query_cost: Option<f64>,
    pub(crate) throttle_status: Option<WireThrottle>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireThrottle {
    pub(crate) maximum_available: f64,
    pub(crate) currently_available: f64,
    pub(crate) restore_rate: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkRunData {
    pub(crate) bulk_operation_run_query: Option<BulkRunPayload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkRunPayload {
    pub(crate) bulk_operation: Option<BulkOperationRef>,
    #[serde(default)]
    pub(crate) user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkOperationRef {
    pub(crate) id: String,
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) error_code: Option<String>,
    #[serde(default)]
    pub(crate) url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkPollData {
    pub(crate) current_bulk_operation: Option<BulkOperationRef>,
}

#[derive(Deserialize)]
pub(crate) struct LocationsData {
    pub(crate) locations: LocationConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LocationConnection {
    pub(crate) nodes: Vec<LocationNode>,
    pub(crate) page_info: PageInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LocationNode {
    pub(crate) id: String,
    pub(crate) is_active: bool,
}

#[derive(Deserialize)]
pub(crate) struct LevelsData {
    pub(crate) location: Option<LocationLevels>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LocationLevels {
    pub(crate) inventory_levels: LevelConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LevelConnection {
    pub(crate) nodes: Vec<LevelNode>,
    pub(crate) page_info: PageInfo,
}

#[derive(Deserialize)]
pub(crate) struct LevelNode {
    pub(crate) item: ItemRef,
    pub(crate) quantities: Vec<Quantity>,
}

#[derive(Deserialize)]
pub(crate) struct ItemRef {
    pub(crate) id: String,
}

#[derive(Deserialize)]
pub(crate) struct Quantity {
    pub(crate) name: String,
    pub(crate) quantity: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageInfo {
    pub(crate) has_next_page: bool,
    pub(crate) end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetData {
    pub(crate) inventory_set_quantities: Option<SetPayload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetPayload {
    pub(crate) inventory_adjustment_group: Option<AdjustmentGroup>,
    #[serde(default)]
    pub(crate) user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
pub(crate) struct AdjustmentGroup {
    pub(crate) id: String,
}

#[derive(Deserialize)]
pub(crate) struct UserError {
    pub(crate) field: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) message: String,
    pub(crate) code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gids_parse_as_integers_beyond_2_pow_53() {
        assert_eq!(
            parse_gid(
                "gid://shopify/InventoryItem/271878346596884015",
                "InventoryItem"
            ),
            Some(271_878_346_596_884_015)
        );
        assert_eq!(
            parse_gid("gid://shopify/Location/9007199254740993", "Location"),
            Some(9_007_199_254_740_993)
        );
        assert_eq!(
            parse_gid(
                "gid://shopify/InventoryLevel/7?inventory_item_id=9",
                "InventoryLevel"
            ),
            Some(7)
        );
        assert_eq!(parse_gid("gid://shopify/Location/1", "InventoryItem"), None);
        assert_eq!(
            parse_gid("gid://shopify/InventoryItemX/1", "InventoryItem"),
            None
        );
        assert_eq!(
            parse_gid("gid://shopify/InventoryItem/1e3", "InventoryItem"),
            None
        );
        assert_eq!(
            parse_gid("gid://shopify/InventoryItem/", "InventoryItem"),
            None
        );
        assert_eq!(
            parse_gid("gid://shopify/InventoryItem/-1", "InventoryItem"),
            None
        );
        assert_eq!(
            parse_gid(
                "gid://shopify/InventoryItem/18446744073709551616",
                "InventoryItem"
            ),
            None
        );
    }
}
