//! The `ShopifyReads` port in memory: [`MemoryShopify`], a shop the test describes (every
//! quantity name per item and location, the fulfillment orders, as Shopify would answer now; it
//! counts the calls and can fail the next ones, throttled or down, as the Admin API does), and
//! [`EchoShopify`], a shop that agrees with whatever a store holds.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use stockbridge_core::ports::{
    FulfillmentOrderRead, LevelRead, ShopifyError, ShopifyReads, StockStore, Wanted,
};
use stockbridge_domain::event::ShopifyQuantities;
use stockbridge_domain::ids::{FulfillmentOrderId, InventoryItemId, LocationId, ShopDomain};
use stockbridge_domain::stock::StockKey;

#[derive(Default)]
pub(crate) struct State {
    pub(crate) levels: BTreeMap<(InventoryItemId, LocationId), ShopifyQuantities>,
    fulfillment_orders: BTreeMap<FulfillmentOrderId, FulfillmentOrderRead>,
    failures: VecDeque<ShopifyError>,
    calls: Vec<&'static str>,
    /// The writes' side ([`crate::shopify_writes`]).
    pub(crate) writes: Writes,
}

pub(crate) type LevelMap =
    BTreeMap<(InventoryItemId, LocationId), stockbridge_domain::event::ShopifyQuantities>;
pub(crate) type Hook = Box<dyn FnOnce(&mut LevelMap) + Send>;

/// What the writes keep ([`crate::shopify_writes`]).
#[derive(Default)]
pub(crate) struct Writes {
    pub(crate) history: Vec<Adjustment>,
    pub(crate) keys: BTreeMap<String, Vec<stockbridge_core::ports::ShopifySet>>,
    pub(crate) metafields:
        BTreeMap<(stockbridge_domain::ids::VariantId, String, String), (String, String)>,
    /// When each metafield last changed (set or deleted), strictly increasing.
    pub(crate) metafield_stamps: BTreeMap<
        (stockbridge_domain::ids::VariantId, String, String),
        stockbridge_domain::ids::Timestamp,
    >,
    pub(crate) before_write: Option<Hook>,
}

/// One applied `available` set, as Shopify's adjustment history shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjustment {
    pub key: String,
    pub reason: String,
    pub item: InventoryItemId,
    pub location: LocationId,
    pub delta: i64,
    pub after: i64,
}

/// A shop's Admin API in memory; `Clone` shares the state.
#[derive(Clone, Default)]
pub struct MemoryShopify {
    state: Arc<Mutex<State>>,
}

impl MemoryShopify {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state)
    }

    /// Sets every quantity name of a level (`on_hand` is computed from the others).
    pub fn set_level(&self, item: u64, location: u64, mut q: ShopifyQuantities) {
        q.on_hand =
            q.available + q.committed + q.reserved + q.damaged + q.safety_stock + q.quality_control;
        self.with(|s| {
            s.levels
                .insert((InventoryItemId(item), LocationId(location)), q)
        });
    }

    /// Removes a level (the item is no longer stocked there).
    pub fn remove_level(&self, item: u64, location: u64) {
        self.with(|s| {
            s.levels
                .remove(&(InventoryItemId(item), LocationId(location)))
        });
    }

    pub fn set_fulfillment_order(&self, fo: FulfillmentOrderRead) {
        self.with(|s| s.fulfillment_orders.insert(fo.id, fo));
    }

    /// The next calls fail with these, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = ShopifyError>) {
        self.with(|s| s.failures.extend(errors));
    }

    /// The calls made so far, by name (`fulfillment_orders`, `quantities`, `open`).
    pub fn calls(&self) -> Vec<&'static str> {
        self.with(|s| s.calls.clone())
    }

    pub(crate) fn call(&self, name: &'static str) -> Result<(), ShopifyError> {
        self.with(|s| {
            s.calls.push(name);
            s.failures.pop_front().map_or(Ok(()), Err)
        })
    }
}

impl ShopifyReads for MemoryShopify {
    async fn fulfillment_orders(
        &self,
        ids: &[FulfillmentOrderId],
    ) -> Result<Vec<FulfillmentOrderRead>, ShopifyError> {
        self.call("fulfillment_orders")?;
        Ok(self.with(|s| {
            ids.iter()
                .filter_map(|id| s.fulfillment_orders.get(id).cloned())
                .collect()
        }))
    }

    async fn quantities(
        &self,
        pairs: &[(InventoryItemId, LocationId)],
    ) -> Result<Vec<LevelRead>, ShopifyError> {
        self.call("quantities")?;
        Ok(self.with(|s| {
            pairs
                .iter()
                .map(|(item, location)| LevelRead {
                    item: *item,
                    location: *location,
                    quantities: s.levels.get(&(*item, *location)).copied(),
                    updated_at: None,
                })
                .collect()
        }))
    }

    async fn open_fulfillment_orders(
        &self,
        location: LocationId,
        _cursor: Option<String>,
    ) -> Result<(Vec<FulfillmentOrderRead>, Option<String>), ShopifyError> {
        self.call("open")?;
        Ok(self.with(|s| {
            let open = s
                .fulfillment_orders
                .values()
                .filter(|fo| fo.open && fo.location == location)
                .cloned()
                .collect();
            (open, None)
        }))
    }
}

/// A Shopify that agrees with whatever the store holds: every quantity it is asked is the
/// store's own figure (no unavailable states, each commitment where Stockbridge counts it), and
/// it knows no fulfillment orders. For tests of what comes after the reads (the ERP push, its
/// backlog and contention), where the shop is described by its webhooks alone: every read then
/// confirms what the webhooks said, as the sync behaved before it read anything. Tests of the
/// reads themselves use [`MemoryShopify`] or the stand-in.
#[derive(Clone)]
pub struct EchoShopify<S> {
    store: S,
    shop: ShopDomain,
}

impl<S> EchoShopify<S> {
    /// Echoes `shop`'s records in `store`.
    pub fn new(store: S, shop: ShopDomain) -> Self {
        EchoShopify { store, shop }
    }
}

impl<S: StockStore> ShopifyReads for EchoShopify<S> {
    async fn fulfillment_orders(
        &self,
        _ids: &[FulfillmentOrderId],
    ) -> Result<Vec<FulfillmentOrderRead>, ShopifyError> {
        Ok(Vec::new())
    }

    async fn quantities(
        &self,
        pairs: &[(InventoryItemId, LocationId)],
    ) -> Result<Vec<LevelRead>, ShopifyError> {
        let key = |item: InventoryItemId, location: LocationId| StockKey {
            shop: self.shop.clone(),
            item,
            location,
        };
        let wanted = Wanted {
            levels: pairs.iter().map(|(i, l)| key(*i, *l)).collect(),
            ..Wanted::default()
        };
        let loaded = self
            .store
            .load(&wanted)
            .await
            .map_err(|e| ShopifyError::Unavailable(e.to_string()))?;
        Ok(pairs
            .iter()
            .map(|(item, location)| LevelRead {
                item: *item,
                location: *location,
                quantities: loaded
                    .book
                    .levels
                    .get(&key(*item, *location))
                    .map(|l| l.shopify_quantities()),
                // As of what the store knows: never newer than a fact it has not seen.
                updated_at: loaded
                    .book
                    .levels
                    .get(&key(*item, *location))
                    .and_then(|l| l.fact_version.or(l.level_version))
                    .map(|v| v.as_of),
            })
            .collect())
    }

    async fn open_fulfillment_orders(
        &self,
        _location: LocationId,
        _cursor: Option<String>,
    ) -> Result<(Vec<FulfillmentOrderRead>, Option<String>), ShopifyError> {
        Ok((Vec::new(), None))
    }
}
