//! The wire format of the consumer's reads: the four documents (fulfillment orders by id, the
//! further line pages of one, the open fulfillment orders at a location, the quantity names of
//! levels by id), the serde shapes of their answers, and the strict decoding of a node into a
//! [`FulfillmentOrderRead`] or a [`ShopifyQuantities`]: every id from its gid, the status to
//! open or not, the eight quantity names each exactly once. What does not decode is an error
//! (`Unavailable`, as every answer that is not the documented shape), never a default.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use stockbridge_core::ports::{FulfillmentOrderRead, ShopifyError};
use stockbridge_domain::event::{FulfillmentOrderLine, ShopifyQuantities};
use stockbridge_domain::ids::{
    FulfillmentOrderId, InventoryItemId, LineItemId, LocationId, OrderId, Timestamp,
};

use crate::truncate;
use crate::wire::{parse_gid, PageInfo, Quantity};

/// The fields read of a fulfillment order, in every document that reads one. The first 20 lines
/// come with it (so 20 orders stay under 1000 points: 45 each), more are read with
/// [`FULFILLMENT_ORDER_LINES_QUERY`] after `endCursor`.
macro_rules! fulfillment_order_fields {
    () => {
        "id
      status
      updatedAt
      orderId
      assignedLocation { location { id } }
      lineItems(first: 20) {
        pageInfo { hasNextPage endCursor }
        nodes { id remainingQuantity totalQuantity inventoryItemId lineItem { id } }
      }"
    };
}

/// Lines read with a fulfillment order (the `lineItems(first: 20)` of its documents).
pub(crate) const LINES_WITH_THE_ORDER: u32 = 20;
/// Lines a further page carries (the `lineItems(first: 100, ...)` of
/// [`FULFILLMENT_ORDER_LINES_QUERY`]).
pub(crate) const LINES_PER_FURTHER_PAGE: u32 = 100;

pub(crate) const FULFILLMENT_ORDERS_QUERY: &str = concat!(
    "query StockbridgeFulfillmentOrders($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on FulfillmentOrder {
      ",
    fulfillment_order_fields!(),
    "
    }
  }
}"
);

pub(crate) const FULFILLMENT_ORDER_LINES_QUERY: &str = r#"query StockbridgeFulfillmentOrderLines($ids: [ID!]!, $after: String) {
  nodes(ids: $ids) {
    ... on FulfillmentOrder {
      id
      updatedAt
      lineItems(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { id remainingQuantity totalQuantity inventoryItemId lineItem { id } }
      }
    }
  }
}"#;

pub(crate) const OPEN_FULFILLMENT_ORDERS_QUERY: &str = concat!(
    "query StockbridgeOpenFulfillmentOrders($query: String!, $first: Int!, $after: String) {
  fulfillmentOrders(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      ",
    fulfillment_order_fields!(),
    "
    }
  }
}"
);

pub(crate) const LEVEL_QUANTITIES_QUERY: &str = r#"query StockbridgeLevelQuantities($ids: [ID!]!, $names: [String!]!) {
  nodes(ids: $ids) {
    ... on InventoryLevel {
      id
      updatedAt
      location { id }
      item { id }
      quantities(names: $names) { name quantity }
    }
  }
}"#;

/// `gid://shopify/FulfillmentOrder/<n>`.
pub(crate) fn fulfillment_order_gid(id: FulfillmentOrderId) -> String {
    format!("gid://shopify/FulfillmentOrder/{}", id.0)
}

/// Shopify's InventoryLevel gid: `gid://shopify/InventoryLevel/<location>?inventory_item_id=<item>`.
pub(crate) fn level_gid(item: InventoryItemId, location: LocationId) -> String {
    format!(
        "gid://shopify/InventoryLevel/{}?inventory_item_id={}",
        location.0, item.0
    )
}

/// The `query:` of the open fulfillment orders at `location`.
pub(crate) fn assigned_to(location: LocationId) -> String {
    format!("assigned_location_id:{}", location.0)
}

// ---------------------------------------------------------------------------------------------
// Answers

/// `nodes(ids:)`: one entry per id asked, in order, `null` for an id Shopify does not know.
/// Each node is decoded on its own, so an error names the node.
#[derive(Deserialize)]
pub(crate) struct NodesData {
    pub(crate) nodes: Vec<Option<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OpenData {
    pub(crate) fulfillment_orders: OpenConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OpenConnection {
    pub(crate) page_info: PageInfo,
    pub(crate) nodes: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FulfillmentOrderNode {
    id: String,
    status: String,
    updated_at: String,
    order_id: String,
    assigned_location: AssignedLocation,
    line_items: LineConnection,
}

#[derive(Deserialize)]
struct AssignedLocation {
    /// Null when the location is gone (deleted); present in the answer either way.
    #[serde(deserialize_with = "nullable")]
    location: Option<IdRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineConnection {
    page_info: PageInfo,
    nodes: Vec<LineNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineNode {
    id: String,
    remaining_quantity: i64,
    total_quantity: i64,
    /// Null for a custom line without an inventory item; present in the answer either way.
    #[serde(deserialize_with = "nullable")]
    inventory_item_id: Option<String>,
    line_item: IdRef,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinesNode {
    id: String,
    updated_at: String,
    line_items: LineConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LevelNode {
    updated_at: String,
    location: IdRef,
    item: IdRef,
    quantities: Vec<Quantity>,
}

#[derive(Deserialize)]
struct IdRef {
    id: String,
}

/// A nullable field that must still be in the answer: serde would take a missing `Option` as
/// `None`, and a line without its `inventoryItemId` field is a broken answer, not a custom line.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A fulfillment order with its first page of lines, and where the next page starts. Its
/// `read.updated_at` is always known: further pages must have been read at the same one.
#[derive(Debug, PartialEq)]
pub(crate) struct FirstPage {
    pub(crate) read: FulfillmentOrderRead,
    /// The `endCursor` after the lines read, when there are more.
    pub(crate) more_after: Option<String>,
}

/// A further page of a fulfillment order's lines.
#[derive(Debug, PartialEq)]
pub(crate) struct LinesPage {
    pub(crate) id: FulfillmentOrderId,
    pub(crate) updated_at: Timestamp,
    pub(crate) lines: Vec<FulfillmentOrderLine>,
    pub(crate) more_after: Option<String>,
}

fn malformed(what: &str, detail: String) -> ShopifyError {
    ShopifyError::Unavailable(format!(
        "{what}: {detail} (not the documented answer; retry later)"
    ))
}

fn node_of<T: for<'de> Deserialize<'de>>(
    node: Value,
    kind: &str,
    what: &str,
) -> Result<T, ShopifyError> {
    let shown = truncate(&node.to_string());
    serde_json::from_value(node).map_err(|e| {
        malformed(
            what,
            format!("a {kind} node that does not decode ({e}): {shown}"),
        )
    })
}

fn id_from(gid: &str, kind: &str, what: &str) -> Result<u64, ShopifyError> {
    parse_gid(gid, kind).ok_or_else(|| {
        malformed(
            what,
            format!(
                "an id not of the form gid://shopify/{kind}/<n>: {:?}",
                truncate(gid)
            ),
        )
    })
}

/// An `updatedAt` (ISO 8601) as a [`Timestamp`].
fn timestamp_from(text: &str, what: &str) -> Result<Timestamp, ShopifyError> {
    Timestamp::parse(text).ok_or_else(|| {
        malformed(
            what,
            format!("an updatedAt that is not a date-time: {:?}", truncate(text)),
        )
    })
}

/// Whether a `FulfillmentOrderStatus` still commits its lines: `CLOSED` and `CANCELLED` do not.
fn is_open(status: &str) -> Option<bool> {
    match status {
        "OPEN" | "IN_PROGRESS" | "SCHEDULED" | "ON_HOLD" | "INCOMPLETE" => Some(true),
        "CLOSED" | "CANCELLED" => Some(false),
        _ => None,
    }
}

/// The lines with an inventory item; custom lines (`inventoryItemId: null`) commit no stock.
fn lines_from(
    connection: LineConnection,
    fulfillment_order: u64,
    what: &str,
) -> Result<(Vec<FulfillmentOrderLine>, Option<String>), ShopifyError> {
    let mut lines = Vec::with_capacity(connection.nodes.len());
    for node in connection.nodes {
        let Some(item) = node.inventory_item_id else {
            continue;
        };
        let item = id_from(&item, "InventoryItem", what)?;
        let line = id_from(&node.line_item.id, "LineItem", what)?;
        if node.remaining_quantity < 0 || node.remaining_quantity > node.total_quantity {
            return Err(malformed(
                what,
                format!(
                    "fulfillment order {fulfillment_order} line {} has {} remaining of {}",
                    truncate(&node.id),
                    node.remaining_quantity,
                    node.total_quantity
                ),
            ));
        }
        lines.push(FulfillmentOrderLine {
            line: LineItemId(line),
            item: InventoryItemId(item),
            remaining: node.remaining_quantity,
        });
    }
    let more_after = match (
        connection.page_info.has_next_page,
        connection.page_info.end_cursor,
    ) {
        (false, _) => None,
        (true, Some(cursor)) => Some(cursor),
        (true, None) => {
            return Err(malformed(
                what,
                format!("fulfillment order {fulfillment_order}: more lines without an endCursor"),
            ))
        }
    };
    Ok((lines, more_after))
}

/// A fulfillment order node; `None` when it has no assigned location any more (the location
/// was deleted): Shopify no longer says where its lines count, so it is left out like an id
/// Shopify does not know (and logged).
pub(crate) fn fulfillment_order_from(
    node: Value,
    what: &str,
) -> Result<Option<FirstPage>, ShopifyError> {
    let node: FulfillmentOrderNode = node_of(node, "FulfillmentOrder", what)?;
    let id = id_from(&node.id, "FulfillmentOrder", what)?;
    let order = id_from(&node.order_id, "Order", what)?;
    let open = is_open(&node.status).ok_or_else(|| {
        malformed(
            what,
            format!(
                "fulfillment order {id} has the unknown status {:?}",
                truncate(&node.status)
            ),
        )
    })?;
    let Some(location) = node.assigned_location.location else {
        tracing::warn!(
            fulfillment_order = id,
            order,
            "Shopify fulfillment order without an assigned location (deleted?): left out"
        );
        return Ok(None);
    };
    let location = id_from(&location.id, "Location", what)?;
    let updated_at = timestamp_from(&node.updated_at, what)?;
    let (lines, more_after) = lines_from(node.line_items, id, what)?;
    Ok(Some(FirstPage {
        read: FulfillmentOrderRead {
            id: FulfillmentOrderId(id),
            order: OrderId(order),
            location: LocationId(location),
            open,
            lines,
            updated_at: Some(updated_at),
        },
        more_after,
    }))
}

/// A further page of lines of one fulfillment order.
pub(crate) fn lines_page_from(node: Value, what: &str) -> Result<LinesPage, ShopifyError> {
    let node: LinesNode = node_of(node, "FulfillmentOrder", what)?;
    let id = id_from(&node.id, "FulfillmentOrder", what)?;
    let updated_at = timestamp_from(&node.updated_at, what)?;
    let (lines, more_after) = lines_from(node.line_items, id, what)?;
    Ok(LinesPage {
        id: FulfillmentOrderId(id),
        updated_at,
        lines,
        more_after,
    })
}

/// The quantity names of the level of `item` at `location`, and its `updatedAt`: the node must
/// be that level and carry each of [`ShopifyQuantities::NAMES`] exactly once (a missing name is
/// never taken as 0).
pub(crate) fn quantities_from(
    node: Value,
    item: InventoryItemId,
    location: LocationId,
    what: &str,
) -> Result<(ShopifyQuantities, Timestamp), ShopifyError> {
    let node: LevelNode = node_of(node, "InventoryLevel", what)?;
    let updated_at = timestamp_from(&node.updated_at, what)?;
    let found_item = id_from(&node.item.id, "InventoryItem", what)?;
    let found_location = id_from(&node.location.id, "Location", what)?;
    if (found_item, found_location) != (item.0, location.0) {
        return Err(malformed(
            what,
            format!(
                "asked for item {item} at location {location}, got item {found_item} at location \
                 {found_location}"
            ),
        ));
    }
    let mut quantities = ShopifyQuantities::default();
    let mut seen = [false; ShopifyQuantities::NAMES.len()];
    for q in &node.quantities {
        let Some(slot) = ShopifyQuantities::NAMES.iter().position(|n| *n == q.name) else {
            return Err(malformed(
                what,
                format!(
                    "item {item} at location {location}: the unknown quantity name {:?}",
                    truncate(&q.name)
                ),
            ));
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err(malformed(
                what,
                format!(
                    "item {item} at location {location}: the {} quantity twice",
                    q.name
                ),
            ));
        }
        quantities.set(&q.name, q.quantity);
    }
    let missing: Vec<&str> = ShopifyQuantities::NAMES
        .iter()
        .zip(seen)
        .filter(|(_, seen)| !seen)
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(malformed(
            what,
            format!(
                "item {item} at location {location} lacks the {} quantity",
                missing.join(", ")
            ),
        ));
    }
    Ok((quantities, updated_at))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::client::read_answer;

    const WHAT: &str = "test";

    fn line(n: u64, item: Option<u64>, remaining: i64, total: i64) -> Value {
        json!({
            "id": format!("gid://shopify/FulfillmentOrderLineItem/{n}"),
            "remainingQuantity": remaining,
            "totalQuantity": total,
            "inventoryItemId": item.map(|i| format!("gid://shopify/InventoryItem/{i}")),
            "lineItem": {"id": format!("gid://shopify/LineItem/{}", 1000 + n)},
        })
    }

    fn fo(status: &str, lines: Vec<Value>, more: Option<&str>) -> Value {
        json!({
            "id": "gid://shopify/FulfillmentOrder/9007199254740993",
            "status": status,
            "updatedAt": "2026-04-02T10:00:00Z",
            "orderId": "gid://shopify/Order/271878346596884015",
            "assignedLocation": {"location": {"id": "gid://shopify/Location/77"}},
            "lineItems": {
                "pageInfo": {"hasNextPage": more.is_some(), "endCursor": more},
                "nodes": lines,
            },
        })
    }

    fn level(names: &[(&str, i64)]) -> Value {
        json!({
            "id": "gid://shopify/InventoryLevel/77?inventory_item_id=271878346596884015",
            "updatedAt": "2026-04-02T10:00:00Z",
            "location": {"id": "gid://shopify/Location/77"},
            "item": {"id": "gid://shopify/InventoryItem/271878346596884015"},
            "quantities": names.iter().map(|(n, q)| json!({"name": n, "quantity": q})).collect::<Vec<_>>(),
        })
    }

    fn all_names() -> Vec<(&'static str, i64)> {
        ShopifyQuantities::NAMES
            .iter()
            .zip(1..)
            .map(|(n, q)| (*n, q))
            .collect()
    }

    const ITEM: InventoryItemId = InventoryItemId(271_878_346_596_884_015);
    const LOCATION: LocationId = LocationId(77);

    #[test]
    fn a_fulfillment_order_decodes_with_ids_beyond_2_pow_53_and_skips_custom_lines() {
        let node = fo(
            "IN_PROGRESS",
            vec![
                line(1, Some(5), 2, 3),
                line(2, None, 1, 1),
                line(3, Some(6), 0, 4),
            ],
            None,
        );
        let page = fulfillment_order_from(node, WHAT).unwrap().unwrap();
        assert_eq!(
            page.read,
            FulfillmentOrderRead {
                id: FulfillmentOrderId(9_007_199_254_740_993),
                order: OrderId(271_878_346_596_884_015),
                location: LocationId(77),
                open: true,
                updated_at: Timestamp::parse("2026-04-02T10:00:00Z"),
                lines: vec![
                    FulfillmentOrderLine {
                        line: LineItemId(1001),
                        item: InventoryItemId(5),
                        remaining: 2
                    },
                    FulfillmentOrderLine {
                        line: LineItemId(1003),
                        item: InventoryItemId(6),
                        remaining: 0
                    },
                ],
            }
        );
        assert_eq!(page.more_after, None);
    }

    #[test]
    fn statuses_map_to_open_and_an_unknown_one_is_an_error() {
        for (status, open) in [
            ("OPEN", true),
            ("IN_PROGRESS", true),
            ("SCHEDULED", true),
            ("ON_HOLD", true),
            ("INCOMPLETE", true),
            ("CLOSED", false),
            ("CANCELLED", false),
        ] {
            let page = fulfillment_order_from(fo(status, vec![], None), WHAT)
                .unwrap()
                .unwrap();
            assert_eq!(page.read.open, open, "{status}");
        }
        let err = fulfillment_order_from(fo("SHIPPED", vec![], None), WHAT).unwrap_err();
        assert!(
            matches!(&err, ShopifyError::Unavailable(d) if d.contains("unknown status \"SHIPPED\"")),
            "{err:?}"
        );
    }

    #[test]
    fn more_lines_come_with_a_cursor_or_the_answer_is_broken() {
        let page =
            fulfillment_order_from(fo("OPEN", vec![line(1, Some(5), 1, 1)], Some("c1")), WHAT)
                .unwrap()
                .unwrap();
        assert_eq!(page.more_after.as_deref(), Some("c1"));
        let mut broken = fo("OPEN", vec![], None);
        broken["lineItems"]["pageInfo"] = json!({"hasNextPage": true, "endCursor": null});
        assert!(matches!(
            fulfillment_order_from(broken, WHAT),
            Err(ShopifyError::Unavailable(d)) if d.contains("without an endCursor")
        ));
    }

    /// Breaks a canned node in one way.
    type Breakage = fn(&mut Value);

    #[test]
    fn broken_fulfillment_orders_are_errors_not_defaults() {
        let cases: Vec<(&str, Breakage)> = vec![
            (
                "gid://shopify/FulfillmentOrder/<n>",
                (|n| n["id"] = json!("gid://shopify/Order/1")),
            ),
            ("gid://shopify/Order/<n>", (|n| n["orderId"] = json!("1"))),
            (
                "gid://shopify/Location/<n>",
                (|n| n["assignedLocation"]["location"]["id"] = json!("gid://shopify/Location/x")),
            ),
            (
                "gid://shopify/InventoryItem/<n>",
                (|n| {
                    n["lineItems"]["nodes"][0]["inventoryItemId"] =
                        json!("gid://shopify/ProductVariant/5")
                }),
            ),
            (
                "gid://shopify/LineItem/<n>",
                (|n| n["lineItems"]["nodes"][0]["lineItem"]["id"] = json!("")),
            ),
            (
                "does not decode",
                (|n| {
                    n["lineItems"]["nodes"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("inventoryItemId");
                }),
            ),
            (
                "does not decode",
                (|n| {
                    n["assignedLocation"]
                        .as_object_mut()
                        .unwrap()
                        .remove("location");
                }),
            ),
            (
                "does not decode",
                (|n| n["lineItems"]["nodes"][0]["remainingQuantity"] = json!(1.5)),
            ),
            ("does not decode", (|n| *n = json!({}))),
            (
                "updatedAt that is not a date-time",
                (|n| n["updatedAt"] = json!("yesterday")),
            ),
            (
                "3 remaining of 2",
                (|n| n["lineItems"]["nodes"][0] = line(1, Some(5), 3, 2)),
            ),
            (
                "-1 remaining of 2",
                (|n| n["lineItems"]["nodes"][0] = line(1, Some(5), -1, 2)),
            ),
        ];
        for (expected, break_it) in cases {
            let mut node = fo("OPEN", vec![line(1, Some(5), 1, 2)], None);
            break_it(&mut node);
            match fulfillment_order_from(node, WHAT) {
                Err(ShopifyError::Unavailable(d)) => {
                    assert!(d.contains(expected), "{expected}: {d}")
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_fulfillment_order_without_a_location_is_left_out() {
        let mut node = fo("CLOSED", vec![], None);
        node["assignedLocation"]["location"] = Value::Null;
        assert_eq!(fulfillment_order_from(node, WHAT).unwrap(), None);
    }

    #[test]
    fn a_further_page_of_lines_decodes() {
        let node = json!({
            "id": "gid://shopify/FulfillmentOrder/4",
            "updatedAt": "2026-04-02T10:00:01.5+02:00",
            "lineItems": {"pageInfo": {"hasNextPage": false, "endCursor": "c2"}, "nodes": [line(7, Some(8), 1, 1)]},
        });
        let page = lines_page_from(node, WHAT).unwrap();
        assert_eq!(page.id, FulfillmentOrderId(4));
        assert_eq!(
            page.updated_at,
            Timestamp::parse("2026-04-02T08:00:01.5Z").unwrap()
        );
        assert_eq!(page.lines.len(), 1);
        assert_eq!(page.more_after, None);
    }

    #[test]
    fn quantities_map_by_name() {
        let mut names = all_names();
        names.reverse();
        let (q, updated_at) = quantities_from(level(&names), ITEM, LOCATION, WHAT).unwrap();
        assert_eq!(
            updated_at,
            Timestamp::parse("2026-04-02T10:00:00Z").unwrap()
        );
        assert_eq!(
            q,
            ShopifyQuantities {
                available: 1,
                committed: 2,
                on_hand: 3,
                reserved: 4,
                damaged: 5,
                safety_stock: 6,
                quality_control: 7,
                incoming: 8,
            }
        );
    }

    #[test]
    fn a_missing_unknown_or_repeated_name_is_an_error_never_zero() {
        let mut missing = all_names();
        missing.retain(|(n, _)| *n != "damaged");
        let mut unknown = all_names();
        unknown.push(("in_transit", 3));
        let mut twice = all_names();
        twice.push(("reserved", 9));
        for (names, expected) in [
            (missing, "lacks the damaged quantity"),
            (unknown, "unknown quantity name \"in_transit\""),
            (twice, "the reserved quantity twice"),
            (vec![], "lacks the available, committed, on_hand"),
        ] {
            match quantities_from(level(&names), ITEM, LOCATION, WHAT) {
                Err(ShopifyError::Unavailable(d)) => assert!(d.contains(expected), "{d}"),
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_level_node_for_another_pair_is_an_error() {
        let err = quantities_from(level(&all_names()), ITEM, LocationId(78), WHAT).unwrap_err();
        assert!(matches!(err, ShopifyError::Unavailable(d) if d.contains("asked for item")));
        let mut node = level(&all_names());
        node["quantities"][0]["quantity"] = json!(null);
        assert!(quantities_from(node, ITEM, LOCATION, WHAT).is_err());
        let mut node = level(&all_names());
        node["updatedAt"] = json!("2026-13-01T00:00:00Z");
        assert!(quantities_from(node, ITEM, LOCATION, WHAT).is_err());
    }

    #[test]
    fn gids_sent_are_shopifys() {
        assert_eq!(
            level_gid(ITEM, LOCATION),
            "gid://shopify/InventoryLevel/77?inventory_item_id=271878346596884015"
        );
        assert_eq!(
            fulfillment_order_gid(FulfillmentOrderId(5)),
            "gid://shopify/FulfillmentOrder/5"
        );
        assert_eq!(assigned_to(LOCATION), "assigned_location_id:77");
        assert!(FULFILLMENT_ORDERS_QUERY.contains("lineItems(first: 20)"));
        assert!(OPEN_FULFILLMENT_ORDERS_QUERY.contains("lineItems(first: 20)"));
        assert!(OPEN_FULFILLMENT_ORDERS_QUERY.contains("assignedLocation { location { id } }"));
        assert!(FULFILLMENT_ORDER_LINES_QUERY.contains("lineItems(first: 100, after: $after)"));
        assert_eq!((LINES_WITH_THE_ORDER, LINES_PER_FURTHER_PAGE), (20, 100));
    }

    #[test]
    fn whole_answers_decode_with_nulls_and_their_cost() {
        let body = json!({
            "data": {"nodes": [null, level(&all_names())]},
            "extensions": {"cost": {
                "requestedQueryCost": 8, "actualQueryCost": 5,
                "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 992.0, "restoreRate": 100.0},
            }},
        });
        let (exchange, cost) = read_answer::<NodesData>(WHAT, body.to_string().as_bytes());
        let data = exchange.outcome.unwrap();
        assert!(data.nodes[0].is_none());
        assert!(data.nodes[1].is_some());
        assert_eq!(exchange.requested, Some(8.0));
        assert_eq!(cost.unwrap().actual_query_cost, Some(5.0));
        assert!(!exchange.too_costly);
    }

    #[test]
    fn graphql_errors_map_to_throttled_rejected_or_too_costly() {
        let throttled = json!({
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
            "extensions": {"cost": {
                "requestedQueryCost": 300, "actualQueryCost": null,
                "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 100.0, "restoreRate": 100.0},
            }},
        });
        let (exchange, _) = read_answer::<NodesData>(WHAT, throttled.to_string().as_bytes());
        assert_eq!(
            exchange.outcome.err(),
            Some(ShopifyError::Throttled {
                retry_after_ms: 2000
            })
        );

        let long = "x".repeat(2000);
        let refused = json!({"errors": [{"message": format!("Field 'nodes' doesn't exist {long}"),
            "extensions": {"code": "undefinedField"}}]});
        let (exchange, _) = read_answer::<NodesData>(WHAT, refused.to_string().as_bytes());
        match exchange.outcome {
            Err(ShopifyError::Rejected(d)) => {
                assert!(d.starts_with("test: Field 'nodes' doesn't exist"), "{d}");
                assert!(d.len() < 400, "truncated: {} bytes", d.len());
            }
            other => panic!("{:?}", other.err()),
        }

        let too_costly = json!({"errors": [{"message": "Query cost is 2120, which exceeds the single query max cost limit (1000).",
            "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 2120, "maxCost": 1000}}]});
        let (exchange, _) = read_answer::<NodesData>(WHAT, too_costly.to_string().as_bytes());
        assert!(exchange.too_costly);
        assert_eq!(exchange.requested, Some(2120.0));
        assert_eq!(exchange.max_cost, Some(1000.0));
        assert!(
            matches!(exchange.outcome, Err(ShopifyError::Rejected(d)) if d.contains("MAX_COST_EXCEEDED"))
        );

        let (exchange, _) = read_answer::<NodesData>(WHAT, br#"{"data": {"nodes": 3}}"#);
        assert!(matches!(
            exchange.outcome,
            Err(ShopifyError::Unavailable(_))
        ));
    }
}
