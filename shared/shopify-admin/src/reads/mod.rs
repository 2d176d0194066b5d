//! The stock consumer's reads ([`stockbridge_core::ports::ShopifyReads`]): fulfillment orders
//! and the quantity names of inventory levels by id (`nodes(ids:)`), and the open fulfillment
//! orders assigned to a location (`fulfillmentOrders(query: "assigned_location_id:<id>")`).
//!
//! - **Batching**: ids are deduplicated (first occurrence kept, answers in that order) and sent
//!   in requests of at most [`MAX_FULFILLMENT_ORDER_IDS`] / [`MAX_LEVEL_IDS`] ids, in order; fewer
//!   when that many would cost more than Shopify's single-query limit or the bucket when full
//!   ([`Sizing`]). A node's cost starts at an estimate by Shopify's published rules (45 points a
//!   fulfillment order with its first 20 lines; 4 a level) and is learnt, per document, from
//!   every answer's `requestedQueryCost`. A request refused with `MAX_COST_EXCEEDED` is sent
//!   again smaller: sized by the cost the refusal stated, or half as large when it stated none.
//! - **Pacing**: each request waits for its estimated cost in the bucket (as every call of the
//!   client does); a `THROTTLED` answer anyway (another caller drained the bucket) is waited
//!   out up to [`THROTTLED_RETRIES`] times, then returned as `Throttled` with the wait.
//! - **Long fulfillment orders**: the first 20 lines come with the order (with 50, as first
//!   agreed, one order costs 105 points and 20 of them 2100, over the 1000-point limit of a
//!   query); when `lineItems.pageInfo.hasNextPage`, the rest is read 100 at a time after
//!   `endCursor`. If its
//!   `updatedAt` changes between pages the order is read again from its first page (at most
//!   [`LINE_RESTARTS`] times, then `Unavailable`), so the lines returned are one state's.
//! - **What is left out**: ids Shopify does not know (`null` nodes), fulfillment orders without
//!   an assigned location (a deleted location; logged); from the open listing also closed or
//!   cancelled orders and orders assigned elsewhere (Shopify's search index may lag a move).
//!   A level that does not exist reads as `quantities: None`.
//!
//! Decoding is strict (module `wire`): an answer not of the documented shape is `Unavailable`.

mod wire;

use std::collections::HashSet;
use std::hash::Hash;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use stockbridge_core::ports::{FulfillmentOrderRead, LevelRead, ShopifyError};
use stockbridge_domain::event::ShopifyQuantities;
use stockbridge_domain::ids::{FulfillmentOrderId, InventoryItemId, LocationId};

use crate::ShopifyGraphql;
use wire::{
    assigned_to, fulfillment_order_from, fulfillment_order_gid, level_gid, lines_page_from,
    quantities_from, FirstPage, NodesData, OpenData, FULFILLMENT_ORDERS_QUERY,
    FULFILLMENT_ORDER_LINES_QUERY, LEVEL_QUANTITIES_QUERY, LINES_PER_FURTHER_PAGE,
    LINES_WITH_THE_ORDER, OPEN_FULFILLMENT_ORDERS_QUERY,
};

/// Fulfillment order ids one `nodes(ids:)` request carries at most (and the open listing's page).
pub const MAX_FULFILLMENT_ORDER_IDS: usize = 20;
/// Inventory level ids one `nodes(ids:)` request carries at most.
pub const MAX_LEVEL_IDS: usize = 100;
/// The most one query may cost until Shopify says otherwise (`maxCost`).
pub const SINGLE_QUERY_MAX_COST: f64 = 1000.0;
/// The first estimate of a fulfillment order node's requested cost, by Shopify's published
/// rules (an object 1 point, a connection 2 + `first` x its node): the order, its assigned
/// location and the location (3), its first lines (2 + 20 x (the line and its order line)):
/// 45, so 20 orders (900) fit a 1000-point query. Learnt from the answers.
pub const FULFILLMENT_ORDER_NODE_COST: f64 = 5.0 + 2.0 * LINES_WITH_THE_ORDER as f64;
/// The first estimate of a further page of lines: the order (1) and its lines (2 + 100 x 2).
pub const LINE_PAGE_COST: f64 = 3.0 + 2.0 * LINES_PER_FURTHER_PAGE as f64;
/// The first estimate of a level node's requested cost: the level, its location, its item and
/// its quantities, one point each.
pub const LEVEL_NODE_QUANTITIES_COST: f64 = 4.0;
/// `THROTTLED` answers one request waits out before the call returns `Throttled`.
pub const THROTTLED_RETRIES: u32 = 2;
/// Times a fulfillment order is read again from its first page because it changed while its
/// further lines were read.
pub const LINE_RESTARTS: u32 = 2;

/// A kind of read request, sized on its own: each document's cost is learnt from its answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `nodes(ids:)` of fulfillment orders.
    FulfillmentOrders,
    /// The further lines of one fulfillment order.
    LinePages,
    /// A page of `fulfillmentOrders(query:)`.
    OpenFulfillmentOrders,
    /// `nodes(ids:)` of inventory levels.
    Levels,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::FulfillmentOrders,
        Kind::LinePages,
        Kind::OpenFulfillmentOrders,
        Kind::Levels,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The request's cost besides its nodes: for the open listing its connection (2) and page
    /// info (1).
    fn overhead(self) -> f64 {
        match self {
            Kind::OpenFulfillmentOrders => 3.0,
            _ => 0.0,
        }
    }

    fn first_estimate(self) -> NodeCost {
        let (per_node, most) = match self {
            Kind::FulfillmentOrders | Kind::OpenFulfillmentOrders => {
                (FULFILLMENT_ORDER_NODE_COST, MAX_FULFILLMENT_ORDER_IDS)
            }
            Kind::LinePages => (LINE_PAGE_COST, 1),
            Kind::Levels => (LEVEL_NODE_QUANTITIES_COST, MAX_LEVEL_IDS),
        };
        NodeCost { per_node, most }
    }
}

/// What one node of a kind costs and how many a request may carry.
#[derive(Clone, Copy, Debug, PartialEq)]
struct NodeCost {
    per_node: f64,
    most: usize,
}

/// How large the reads' requests may be: learnt from the answers, shared by the calls of one
/// client.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sizing {
    kinds: [NodeCost; 4],
    max_query_cost: f64,
}

impl Default for Sizing {
    fn default() -> Self {
        Sizing {
            kinds: Kind::ALL.map(Kind::first_estimate),
            max_query_cost: SINGLE_QUERY_MAX_COST,
        }
    }
}

impl Sizing {
    /// How many nodes the next request of `kind` carries: at most what a request may, and no
    /// more than fit the single-query limit and a full bucket (`bucket`, when known). At least 1.
    pub(crate) fn per_request(&self, kind: Kind, bucket: Option<f64>) -> usize {
        let node = self.kinds[kind.index()];
        let limit = bucket.map_or(self.max_query_cost, |b| b.min(self.max_query_cost));
        let fit = ((limit - kind.overhead()) / node.per_node).floor();
        if fit.is_nan() || fit < 1.0 {
            return 1;
        }
        // `as` saturates: a huge fit is clamped to the cap.
        (fit as usize).clamp(1, node.most.max(1))
    }

    /// The estimated cost of a request for `nodes` nodes of `kind`.
    pub(crate) fn estimate(&self, kind: Kind, nodes: usize) -> f64 {
        kind.overhead() + nodes as f64 * self.kinds[kind.index()].per_node
    }

    /// Learns from an answer to a request for `nodes` nodes: the cost Shopify stated for it
    /// (at least a point a node) and its single-query limit. Nonsense (not finite, negative) is
    /// ignored.
    pub(crate) fn learn(
        &mut self,
        kind: Kind,
        nodes: usize,
        requested: Option<f64>,
        max_cost: Option<f64>,
    ) {
        if let Some(max) = max_cost.filter(|m| m.is_finite() && *m >= 1.0) {
            self.max_query_cost = max;
        }
        if let Some(requested) = requested.filter(|r| r.is_finite() && *r >= 0.0) {
            if nodes > 0 {
                let per = ((requested - kind.overhead()) / nodes as f64).max(1.0);
                self.kinds[kind.index()].per_node = per;
            }
        }
    }

    /// A request for `nodes` nodes was refused as too costly (after [`Sizing::learn`] from its
    /// answer): if what was learnt does not make the next one smaller, it carries at most half.
    pub(crate) fn too_costly(&mut self, kind: Kind, nodes: usize, bucket: Option<f64>) {
        if self.per_request(kind, bucket) >= nodes {
            let node = &mut self.kinds[kind.index()];
            node.most = node.most.min((nodes / 2).max(1));
        }
    }
}

/// Why one read request did not give its data.
enum Refusal {
    /// `MAX_COST_EXCEEDED` for more than one node: send fewer (the sizing has learnt it).
    TooCostly,
    Failed(ShopifyError),
}

impl From<ShopifyError> for Refusal {
    fn from(error: ShopifyError) -> Self {
        Refusal::Failed(error)
    }
}

impl Refusal {
    fn into_error(self, what: &str) -> ShopifyError {
        match self {
            Refusal::Failed(error) => error,
            Refusal::TooCostly => ShopifyError::Rejected(format!(
                "{what}: a single node costs more than one query may (MAX_COST_EXCEEDED)"
            )),
        }
    }
}

/// `items` without repeats, in the order first seen.
fn distinct<T: Copy + Eq + Hash>(items: &[T]) -> Vec<T> {
    let mut seen = HashSet::with_capacity(items.len());
    items.iter().copied().filter(|i| seen.insert(*i)).collect()
}

/// `nodes(ids:)` answers one entry per id asked.
fn check_count(what: &str, asked: usize, got: usize) -> Result<(), ShopifyError> {
    if asked == got {
        return Ok(());
    }
    Err(ShopifyError::Unavailable(format!(
        "{what}: asked for {asked} nodes, the answer has {got} (not the documented answer; retry \
         later)"
    )))
}

impl ShopifyGraphql {
    fn lock_sizing(&self) -> std::sync::MutexGuard<'_, Sizing> {
        // Plain data: a panic elsewhere cannot leave it inconsistent.
        self.sizing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bucket's size, once an answer said it.
    fn bucket_size(&self) -> Option<f64> {
        self.throttle_status().map(|t| t.maximum_available)
    }

    fn per_request(&self, kind: Kind) -> usize {
        let bucket = self.bucket_size();
        self.lock_sizing().per_request(kind, bucket)
    }

    /// One read request for `nodes` nodes of `kind`: paced to its estimated cost, learnt from,
    /// a `THROTTLED` answer waited out up to [`THROTTLED_RETRIES`] times.
    async fn read_request<T: for<'de> Deserialize<'de>>(
        &self,
        (kind, nodes): (Kind, usize),
        what: &str,
        query: &str,
        variables: Value,
    ) -> Result<T, Refusal> {
        let mut throttled = 0;
        loop {
            let estimate = self.lock_sizing().estimate(kind, nodes);
            self.pace(estimate).await;
            let exchange = self
                .exchange::<T>(what, query, variables.clone(), None)
                .await;
            self.lock_sizing()
                .learn(kind, nodes, exchange.requested, exchange.max_cost);
            match exchange.outcome {
                Ok(data) => return Ok(data),
                Err(ShopifyError::Throttled { retry_after_ms })
                    if throttled < THROTTLED_RETRIES =>
                {
                    throttled += 1;
                    tracing::debug!(what, retry_after_ms, "Shopify throttled a read: waiting");
                    tokio::time::sleep(Duration::from_millis(retry_after_ms)).await;
                }
                Err(_) if exchange.too_costly && nodes > 1 => {
                    let bucket = self.bucket_size();
                    self.lock_sizing().too_costly(kind, nodes, bucket);
                    tracing::debug!(
                        what,
                        nodes,
                        "Shopify refused a read as too costly: splitting"
                    );
                    return Err(Refusal::TooCostly);
                }
                Err(error) => return Err(Refusal::Failed(error)),
            }
        }
    }

    /// See [`stockbridge_core::ports::ShopifyReads::fulfillment_orders`].
    pub(crate) async fn read_fulfillment_orders(
        &self,
        ids: &[FulfillmentOrderId],
    ) -> Result<Vec<FulfillmentOrderRead>, ShopifyError> {
        let ids = distinct(ids);
        let mut out = Vec::with_capacity(ids.len());
        let mut rest = ids.as_slice();
        while !rest.is_empty() {
            let n = self.per_request(Kind::FulfillmentOrders).min(rest.len());
            let (chunk, after) = rest.split_at(n);
            match self.fulfillment_orders_request(chunk).await {
                Ok(pages) => {
                    for page in pages {
                        out.extend(self.with_every_line(page).await?);
                    }
                    rest = after;
                }
                Err(Refusal::TooCostly) => {}
                Err(Refusal::Failed(error)) => return Err(error),
            }
        }
        Ok(out)
    }

    /// One `nodes(ids:)` request for fulfillment orders: those Shopify knows, each with its
    /// first page of lines.
    async fn fulfillment_orders_request(
        &self,
        ids: &[FulfillmentOrderId],
    ) -> Result<Vec<FirstPage>, Refusal> {
        const WHAT: &str = "nodes(FulfillmentOrder)";
        let gids: Vec<String> = ids.iter().map(|id| fulfillment_order_gid(*id)).collect();
        let data: NodesData = self
            .read_request(
                (Kind::FulfillmentOrders, ids.len()),
                WHAT,
                FULFILLMENT_ORDERS_QUERY,
                json!({ "ids": gids }),
            )
            .await?;
        check_count(WHAT, ids.len(), data.nodes.len())?;
        let mut pages = Vec::with_capacity(ids.len());
        for (asked, node) in ids.iter().zip(data.nodes) {
            let Some(node) = node else { continue };
            let Some(page) = fulfillment_order_from(node, WHAT)? else {
                continue;
            };
            if page.read.id != *asked {
                return Err(ShopifyError::Unavailable(format!(
                    "{WHAT}: asked for fulfillment order {asked}, got {} in its place",
                    page.read.id
                ))
                .into());
            }
            pages.push(page);
        }
        Ok(pages)
    }

    /// `page` with the rest of its lines read; `None` if it is gone meanwhile.
    async fn with_every_line(
        &self,
        mut page: FirstPage,
    ) -> Result<Option<FulfillmentOrderRead>, ShopifyError> {
        let id = page.read.id;
        let mut restarts = 0;
        'from_the_first_page: loop {
            let mut after = page.more_after.take();
            while let Some(cursor) = after {
                let Some(next) = self.lines_page(id, cursor).await? else {
                    return Ok(None);
                };
                if Some(next.updated_at) != page.read.updated_at {
                    restarts += 1;
                    if restarts > LINE_RESTARTS {
                        return Err(ShopifyError::Unavailable(format!(
                            "fulfillment order {id} changed while its lines were read, \
                             {restarts} times; retry later"
                        )));
                    }
                    let again = self
                        .fulfillment_orders_request(&[id])
                        .await
                        .map_err(|r| r.into_error("nodes(FulfillmentOrder)"))?;
                    match again.into_iter().next() {
                        Some(fresh) => {
                            page = fresh;
                            continue 'from_the_first_page;
                        }
                        None => return Ok(None),
                    }
                }
                page.read.lines.extend(next.lines);
                after = next.more_after;
            }
            return Ok(Some(page.read));
        }
    }

    /// The lines of fulfillment order `id` after `cursor`; `None` if it is gone.
    async fn lines_page(
        &self,
        id: FulfillmentOrderId,
        cursor: String,
    ) -> Result<Option<wire::LinesPage>, ShopifyError> {
        const WHAT: &str = "nodes(FulfillmentOrder).lineItems";
        let data: NodesData = self
            .read_request(
                (Kind::LinePages, 1),
                WHAT,
                FULFILLMENT_ORDER_LINES_QUERY,
                json!({ "ids": [fulfillment_order_gid(id)], "after": cursor }),
            )
            .await
            .map_err(|r| r.into_error(WHAT))?;
        check_count(WHAT, 1, data.nodes.len())?;
        let Some(node) = data.nodes.into_iter().next().flatten() else {
            return Ok(None);
        };
        let page = lines_page_from(node, WHAT)?;
        if page.id != id {
            return Err(ShopifyError::Unavailable(format!(
                "{WHAT}: asked for fulfillment order {id}, got {}",
                page.id
            )));
        }
        tracing::debug!(
            %id,
            lines = page.lines.len(),
            per_page = LINES_PER_FURTHER_PAGE,
            "read further fulfillment order lines"
        );
        Ok(Some(page))
    }

    /// See [`stockbridge_core::ports::ShopifyReads::open_fulfillment_orders`].
    pub(crate) async fn read_open_fulfillment_orders(
        &self,
        location: LocationId,
        cursor: Option<String>,
    ) -> Result<(Vec<FulfillmentOrderRead>, Option<String>), ShopifyError> {
        const WHAT: &str = "fulfillmentOrders";
        let data: OpenData = loop {
            let first = self
                .per_request(Kind::OpenFulfillmentOrders)
                .min(MAX_FULFILLMENT_ORDER_IDS);
            let variables = json!({
                "query": assigned_to(location),
                "first": first,
                "after": cursor,
            });
            match self
                .read_request(
                    (Kind::OpenFulfillmentOrders, first),
                    WHAT,
                    OPEN_FULFILLMENT_ORDERS_QUERY,
                    variables,
                )
                .await
            {
                Ok(data) => break data,
                Err(Refusal::TooCostly) => {}
                Err(Refusal::Failed(error)) => return Err(error),
            }
        };
        let connection = data.fulfillment_orders;
        let next = match (
            connection.page_info.has_next_page,
            connection.page_info.end_cursor,
        ) {
            (false, _) => None,
            (true, Some(cursor)) => Some(cursor),
            (true, None) => {
                return Err(ShopifyError::Unavailable(format!(
                    "{WHAT}: hasNextPage without an endCursor"
                )))
            }
        };
        let mut out = Vec::with_capacity(connection.nodes.len());
        for node in connection.nodes {
            let Some(page) = fulfillment_order_from(node, WHAT)? else {
                continue;
            };
            if !page.read.open || page.read.location != location {
                tracing::debug!(
                    fulfillment_order = %page.read.id,
                    open = page.read.open,
                    assigned = %page.read.location,
                    %location,
                    "open fulfillment orders: left out (closed, or assigned elsewhere now)"
                );
                continue;
            }
            out.extend(self.with_every_line(page).await?);
        }
        Ok((out, next))
    }

    /// See [`stockbridge_core::ports::ShopifyReads::quantities`].
    pub(crate) async fn read_quantities(
        &self,
        pairs: &[(InventoryItemId, LocationId)],
    ) -> Result<Vec<LevelRead>, ShopifyError> {
        const WHAT: &str = "nodes(InventoryLevel)";
        let pairs = distinct(pairs);
        let mut out = Vec::with_capacity(pairs.len());
        let mut rest = pairs.as_slice();
        while !rest.is_empty() {
            let n = self.per_request(Kind::Levels).min(rest.len());
            let (chunk, after) = rest.split_at(n);
            let ids: Vec<String> = chunk.iter().map(|(i, l)| level_gid(*i, *l)).collect();
            let request = self
                .read_request::<NodesData>(
                    (Kind::Levels, n),
                    WHAT,
                    LEVEL_QUANTITIES_QUERY,
                    json!({ "ids": ids, "names": ShopifyQuantities::NAMES }),
                )
                .await;
            let data = match request {
                Ok(data) => data,
                Err(Refusal::TooCostly) => continue,
                Err(Refusal::Failed(error)) => return Err(error),
            };
            check_count(WHAT, n, data.nodes.len())?;
            for (&(item, location), node) in chunk.iter().zip(data.nodes) {
                let (quantities, updated_at) = match node {
                    None => (None, None),
                    Some(node) => {
                        let (quantities, updated_at) = quantities_from(node, item, location, WHAT)?;
                        (Some(quantities), Some(updated_at))
                    }
                };
                out.push(LevelRead {
                    item,
                    location,
                    quantities,
                    updated_at,
                });
            }
            rest = after;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod flow_tests;

#[cfg(test)]
mod tests {
    use super::*;

    use Kind::{FulfillmentOrders, Levels, OpenFulfillmentOrders};

    #[test]
    fn requests_carry_at_most_the_cap_and_what_the_bucket_affords() {
        let sizing = Sizing::default();
        // 45 points a fulfillment order by Shopify's rules: 20 in a 1000-point query.
        assert_eq!(FULFILLMENT_ORDER_NODE_COST, 45.0);
        assert_eq!(sizing.per_request(FulfillmentOrders, None), 20);
        assert_eq!(sizing.per_request(OpenFulfillmentOrders, None), 20);
        assert_eq!(sizing.per_request(FulfillmentOrders, Some(250.0)), 5);
        assert_eq!(sizing.per_request(Levels, None), 100);
        assert_eq!(sizing.per_request(Levels, Some(2000.0)), 100);
        // A 200-point bucket holds 50 levels of 4 points.
        assert_eq!(sizing.per_request(Levels, Some(200.0)), 50);
        // Never none, whatever the bucket says.
        assert_eq!(sizing.per_request(Levels, Some(1.0)), 1);
        assert_eq!(sizing.per_request(Levels, Some(-5.0)), 1);
        // A bucket of no number is no limit but the query's.
        assert_eq!(sizing.per_request(Levels, Some(f64::NAN)), 100);
        assert_eq!(sizing.estimate(Levels, 100), 400.0);
        assert_eq!(sizing.estimate(OpenFulfillmentOrders, 2), 93.0);
        assert_eq!(sizing.estimate(Kind::LinePages, 1), 203.0);
    }

    #[test]
    fn the_cost_of_a_node_and_the_query_limit_are_learnt_per_kind() {
        let mut sizing = Sizing::default();
        // Costlier than estimated: 9 fit.
        sizing.learn(FulfillmentOrders, 20, Some(2100.0), Some(1000.0));
        assert_eq!(sizing.per_request(FulfillmentOrders, None), 9);
        // Cheaper again: up to the cap of 20.
        sizing.learn(FulfillmentOrders, 9, Some(360.0), None);
        assert_eq!(sizing.per_request(FulfillmentOrders, None), 20);
        // A stated 0 is a point a node.
        sizing.learn(FulfillmentOrders, 9, Some(0.0), None);
        assert_eq!(sizing.estimate(FulfillmentOrders, 20), 20.0);
        // The open listing is sized apart: 2102 for 20 is 104.95 each besides the connection.
        assert_eq!(sizing.per_request(OpenFulfillmentOrders, None), 20);
        sizing.learn(OpenFulfillmentOrders, 20, Some(2102.0), Some(1000.0));
        assert_eq!(sizing.per_request(OpenFulfillmentOrders, None), 9);
        assert_eq!(sizing.per_request(FulfillmentOrders, None), 20);
        // A smaller query limit, nonsense ignored.
        sizing.learn(Levels, 100, Some(f64::INFINITY), Some(200.0));
        assert_eq!(sizing.per_request(Levels, None), 50);
        sizing.learn(Levels, 100, Some(-1.0), Some(0.0));
        assert_eq!(sizing.per_request(Levels, None), 50);
    }

    #[test]
    fn a_refusal_that_taught_nothing_halves_the_requests() {
        let mut sizing = Sizing::default();
        sizing.learn(FulfillmentOrders, 20, Some(400.0), None);
        // Refused without a stated cost: 20 again would be refused again.
        sizing.too_costly(FulfillmentOrders, 20, None);
        assert_eq!(sizing.per_request(FulfillmentOrders, None), 10);
        sizing.too_costly(FulfillmentOrders, 1, None);
        assert_eq!(sizing.per_request(FulfillmentOrders, None), 1);
        assert_eq!(sizing.per_request(Levels, None), 100);
        // Refused with the cost stated: what was learnt sizes the next one, the cap stays.
        let mut sizing = Sizing::default();
        sizing.learn(Levels, 100, Some(1000.0), None);
        sizing.learn(Levels, 100, Some(2000.0), Some(1000.0));
        sizing.too_costly(Levels, 100, None);
        assert_eq!(sizing.per_request(Levels, None), 50);
        sizing.learn(Levels, 50, Some(100.0), None);
        assert_eq!(sizing.per_request(Levels, None), 100);
    }

    #[test]
    fn ids_are_read_once_in_the_order_first_asked() {
        assert_eq!(distinct(&[3, 1, 3, 2, 1]), vec![3, 1, 2]);
    }
}
