//! `stockbridge backfill`: takes a shop that already has stock into Stockbridge. Per mapped
//! location it reads Shopify's levels in one bulk operation (every quantity name, in inventory
//! item order), the SKU map in the same order and the ERP's on-hand in chunks, and reports the
//! differences ([`survey`]) before anything is written; then ([`record`]) it writes a starting
//! stock record per item and location: Shopify's quantities, settled, owing the ERP nothing, each
//! logged. Resumable: after every chunk the location's checkpoint (the last item done) is kept,
//! so an interrupted run carries on there and a run over a finished backfill does nothing.
//!
//! A starting record carries no `committed` (Stockbridge counts it from the order lines it holds,
//! and holds none yet); once a location is recorded the consumer is sent the reconciliation's
//! commitments repair for it, which reads the open fulfillment orders and takes their lines in
//! ([`commitments`]).
//!
//! The records are written directly, each with a put conditional on its absence, rather than
//! sent through the queue as `Quantities` snapshots: the consumer counts a level it sees for the
//! first time as stock that arrived, and at a Shopify-master location it would owe the ERP the
//! whole on-hand, stock the ERP counts already. A record a webhook wrote first is newer than the
//! bulk read and is left as it is (counted as already held).
//!
//! - [`commitments`]: the commitments repair sent once a location is recorded.
//! - [`diff`]: the pairing of Shopify's levels with the map, the differences, the records.
//! - [`erp_file`]: a recorded ERP levels file (`--erp-levels`), for the ERP side without a live read.

pub mod commitments;
pub mod diff;
pub mod erp_file;

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::Serialize;

use crate::backfill::diff::{
    in_bounds, snapshot_quantities, snapshot_version, starting_level, take, LocationSurvey, Take,
};
use stockbridge_core::ports::{
    BackfillCheckpoint, BackfillCheckpoints, CorrectionRecord, Erp, ErpError, EventQueue, Loaded,
    PortError, ShopifyAdmin, ShopifyError, ShopifyReads, SkuMapStore, StockStore, Wanted,
};
use stockbridge_domain::event::ShopifyQuantities;
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, StockKey, Timestamp};
use stockbridge_domain::skumap::{ItemMapping, LocationMapping};
use stockbridge_domain::variance::{Correction, ShopifyLevel};

/// Map items read per page.
const MAP_PAGE: usize = 1000;
/// Items per ERP read.
const ERP_CHUNK: usize = 100;
/// Records per write (one DynamoDB transaction takes 100) and per checkpoint.
const WRITE_CHUNK: usize = 100;
/// Tries of a chunk whose conditional writes lost a race with the consumer.
const CONFLICT_TRIES: u32 = 3;

/// Why a backfill stopped; what was recorded up to the last checkpoint stays, and the next run
/// carries on from there.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("reading Shopify: {0}")]
    Shopify(#[from] ShopifyError),
    #[error("reading the ERP: {0}")]
    Erp(#[from] ErpError),
    #[error("the store: {0}")]
    Store(#[from] PortError),
    #[error("no location of {0} is mapped: import the locations (stockbridge skumap import --locations) first")]
    NoLocations(ShopDomain),
    #[error("Shopify's levels at location {location} are not in item order ({item} after {previous}): the bulk output was not sorted; run again")]
    OutOfOrder {
        location: LocationId,
        previous: InventoryItemId,
        item: InventoryItemId,
    },
    #[error("Shopify's quantities of item {item} at location {location} are beyond what a stock record keeps; check the item in Shopify")]
    OutOfRange {
        item: InventoryItemId,
        location: LocationId,
    },
    #[error("stock records at location {0} kept changing while they were written; run again")]
    KeptChanging(LocationId),
    #[error("reading the open fulfillment orders at location {location}: {why}; run again (the location is finished once its commitments repair is sent)")]
    OpenOrders { location: LocationId, why: String },
    #[error("sending the commitments repair of location {location} to the events queue: {error}; check EVENTS_QUEUE_URL and run again")]
    Queue {
        location: LocationId,
        error: PortError,
    },
}

/// How the backfill is shown progressing (a progress bar in the command; nothing in tests).
pub trait Progress: Send + Sync {
    /// A location's pass starts: `what` is `survey` or `record`.
    fn begin(&self, what: &str, location: LocationId);
    /// `items` more items of the pass are done.
    fn advance(&self, items: u64);
    /// The pass is over.
    fn end(&self);
}

/// Shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: &str, _: LocationId) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// What a backfill would do, before anything is written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Survey {
    pub shop: ShopDomain,
    pub locations: Vec<LocationSurvey>,
    /// Shopify's active locations that are not mapped: not backfilled.
    pub unmapped_locations: Vec<LocationId>,
}

impl Survey {
    /// Every location was finished by an earlier run.
    pub fn nothing_to_do(&self) -> bool {
        self.locations.iter().all(|l| l.finished)
    }
}

/// What a recording run did at one location.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LocationRecorded {
    pub location: LocationId,
    /// Records written by this run.
    pub recorded: u64,
    /// Items Stockbridge already held a record for (left as they are).
    pub already_held: u64,
    /// Done by an earlier run, or finished by this one.
    pub finished: bool,
    /// Open fulfillment orders the commitments repair named (when this run finished it).
    pub open_fulfillment_orders: u64,
}

/// What a recording run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Recorded {
    pub locations: Vec<LocationRecorded>,
    /// The run stopped at `stop_after` before the end; the next run carries on.
    pub stopped_early: bool,
}

/// The mapped locations to backfill, in id order, with their checkpoints, and Shopify's active
/// locations nobody mapped.
struct Plan {
    locations: Vec<(LocationMapping, Option<BackfillCheckpoint>)>,
    unmapped: Vec<LocationId>,
}

async fn plan<St, S>(store: &St, shopify: &S, shop: &ShopDomain) -> Result<Plan, BackfillError>
where
    St: SkuMapStore + BackfillCheckpoints,
    S: ShopifyAdmin,
{
    let map = store.lookup(shop, &[], &[], &[]).await?;
    if map.locations.is_empty() {
        return Err(BackfillError::NoLocations(shop.clone()));
    }
    let active: BTreeSet<LocationId> = shopify.locations().await?.into_iter().collect();
    let mut checkpoints: HashMap<LocationId, BackfillCheckpoint> = store
        .checkpoints(shop)
        .await?
        .into_iter()
        .map(|c| (c.location, c))
        .collect();
    let mut locations: Vec<LocationMapping> = map.locations.into_values().collect();
    locations.sort_by_key(|l| l.location);
    let unmapped = active
        .iter()
        .filter(|l| !locations.iter().any(|m| m.location == **l))
        .copied()
        .collect();
    Ok(Plan {
        locations: locations
            .into_iter()
            .map(|l| {
                let c = checkpoints.remove(&l.location);
                (l, c)
            })
            .collect(),
        unmapped,
    })
}

/// Reads Shopify, the map and the ERP and tells what differs, per mapped location from its
/// checkpoint on. Writes nothing.
pub async fn survey<St, E, S, P>(
    store: &St,
    erp: &E,
    shopify: &S,
    shop: &ShopDomain,
    progress: &P,
) -> Result<Survey, BackfillError>
where
    St: SkuMapStore + BackfillCheckpoints,
    E: Erp,
    S: ShopifyAdmin,
    P: Progress,
{
    let plan = plan(store, shopify, shop).await?;
    let mut survey = Survey {
        shop: shop.clone(),
        locations: Vec::new(),
        unmapped_locations: plan.unmapped,
    };
    for (location, checkpoint) in plan.locations {
        let after = checkpoint.as_ref().and_then(|c| c.after);
        let mut tally = LocationSurvey::new(
            location.location,
            &location.erp_warehouse,
            location.master,
            after,
        );
        if checkpoint.is_some_and(|c| c.finished_at.is_some()) {
            tally.finished = true;
            survey.locations.push(tally);
            continue;
        }
        progress.begin("survey", location.location);
        let mut pairs = Pairs::open(shopify, shop, location.location, after).await?;
        let mut chunk = Vec::with_capacity(ERP_CHUNK);
        loop {
            let pair = pairs.next(store).await?;
            let done = pair.is_none();
            chunk.extend(pair);
            if chunk.len() == ERP_CHUNK || (done && !chunk.is_empty()) {
                let codes: Vec<String> = chunk
                    .iter()
                    .filter(|(l, _)| l.is_some())
                    .filter_map(|(_, m)| m.as_ref().map(|m| m.erp_item.clone()))
                    .collect();
                let known = if codes.is_empty() {
                    HashMap::new()
                } else {
                    erp.levels(&location.erp_warehouse, &codes).await?
                };
                let pairs_done = chunk.len() as u64;
                for (level, mapping) in chunk.drain(..) {
                    let on_hand = mapping
                        .as_ref()
                        .and_then(|m| known.get(&m.erp_item).copied());
                    tally.count(level.as_ref(), mapping.as_ref(), on_hand);
                }
                progress.advance(pairs_done);
            }
            if done {
                break;
            }
        }
        progress.end();
        survey.locations.push(tally);
    }
    Ok(survey)
}

/// Records the starting state of every mapped location not finished yet, from its checkpoint
/// on; stops once `stop_after` records were written in this run (after that chunk's checkpoint).
/// A location is finished once its commitments repair is sent on `queue`.
pub async fn record<St, S, Q, P>(
    store: &St,
    shopify: &S,
    queue: &Q,
    shop: &ShopDomain,
    stop_after: Option<u64>,
    progress: &P,
) -> Result<Recorded, BackfillError>
where
    St: StockStore + SkuMapStore + BackfillCheckpoints,
    S: ShopifyAdmin + ShopifyReads,
    Q: EventQueue,
    P: Progress,
{
    let plan = plan(store, shopify, shop).await?;
    let run = format!("backfill-{}", Timestamp::now().0);
    let mut result = Recorded::default();
    let mut written = 0u64;
    for (location, checkpoint) in plan.locations {
        let mut done = LocationRecorded {
            location: location.location,
            ..LocationRecorded::default()
        };
        let mut checkpoint = match checkpoint {
            Some(c) if c.finished_at.is_some() => {
                done.finished = true;
                result.locations.push(done);
                continue;
            }
            Some(c) => c,
            None => BackfillCheckpoint {
                shop: shop.clone(),
                location: location.location,
                after: None,
                recorded: 0,
                already_held: 0,
                finished_at: None,
                updated_at: Timestamp::now(),
            },
        };
        if stop_after.is_some_and(|n| written >= n) {
            result.stopped_early = true;
            result.locations.push(done);
            continue;
        }
        progress.begin("record", location.location);
        let read_at = Timestamp::now();
        let version = snapshot_version(read_at);
        let mut pairs = Pairs::open(shopify, shop, location.location, checkpoint.after).await?;
        let mut chunk: Vec<ShopifyLevel> = Vec::with_capacity(WRITE_CHUNK);
        let mut last = checkpoint.after;
        // The records Shopify said had something committed: the repair names them.
        let mut committed: Vec<StockKey> = Vec::new();
        loop {
            let pair = pairs.next(store).await?;
            let end = pair.is_none();
            if let Some((level, mapping)) = pair {
                last = level
                    .as_ref()
                    .map(|l| l.item)
                    .or(mapping.as_ref().map(|m| m.item));
                chunk.extend(level);
            }
            if chunk.len() == WRITE_CHUNK || end {
                committed.extend(chunk.iter().filter(|l| l.committed != 0).map(|l| StockKey {
                    shop: shop.clone(),
                    item: l.item,
                    location: l.location,
                }));
                let (recorded, held) = write_chunk(store, shop, &run, &chunk, version).await?;
                chunk.clear();
                done.recorded += recorded;
                done.already_held += held;
                written += recorded;
                checkpoint.after = last;
                checkpoint.recorded += recorded;
                checkpoint.already_held += held;
                checkpoint.updated_at = Timestamp::now();
                if end {
                    done.open_fulfillment_orders = commitments::send_commitments_repair(
                        shopify,
                        queue,
                        shop,
                        &run,
                        location.location,
                        &committed,
                    )
                    .await?;
                    checkpoint.finished_at = Some(checkpoint.updated_at);
                    done.finished = true;
                }
                store.put_checkpoint(&checkpoint).await?;
                progress.advance(recorded + held);
                if !end && stop_after.is_some_and(|n| written >= n) {
                    result.stopped_early = true;
                    break;
                }
            }
            if end {
                break;
            }
        }
        progress.end();
        result.locations.push(done);
    }
    Ok(result)
}

/// Writes the starting records of `levels` that Stockbridge does not hold yet, each conditional
/// on its absence, and logs each; returns how many were written and how many were held already.
async fn write_chunk<St: StockStore>(
    store: &St,
    shop: &ShopDomain,
    run: &str,
    levels: &[ShopifyLevel],
    version: stockbridge_domain::ids::Version,
) -> Result<(u64, u64), BackfillError> {
    if levels.is_empty() {
        return Ok((0, 0));
    }
    let key = |l: &ShopifyLevel| StockKey {
        shop: shop.clone(),
        item: l.item,
        location: l.location,
    };
    for level in levels {
        if !in_bounds(level) {
            return Err(BackfillError::OutOfRange {
                item: level.item,
                location: level.location,
            });
        }
    }
    let wanted = Wanted {
        levels: levels.iter().map(key).collect(),
        ..Wanted::default()
    };
    for _ in 0..CONFLICT_TRIES {
        let held = store.load(&wanted).await?;
        let absent: Vec<&ShopifyLevel> = levels
            .iter()
            .filter(|l| !held.book.levels.contains_key(&key(l)))
            .collect();
        let records: Vec<_> = absent
            .iter()
            .map(|l| (key(l), starting_level(l, version)))
            .collect();
        match store.put_levels(&records, &Loaded::default()).await {
            Ok(()) => {}
            Err(PortError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
        let log: Vec<CorrectionRecord> = absent
            .iter()
            .map(|l| CorrectionRecord {
                shop: shop.clone(),
                run: run.to_string(),
                correction: Correction::RecordQuantities {
                    item: l.item,
                    location: l.location,
                    before: ShopifyQuantities::default(),
                    after: snapshot_quantities(l),
                },
                reason: "backfill: Shopify's quantities when the shop was taken in, settled, owing the ERP nothing; committed follows from the open orders' lines (commitments repair)".into(),
                outcome: "applied".into(),
                at: Timestamp::now(),
            })
            .collect();
        store.log_corrections(&log).await?;
        let recorded = absent.len() as u64;
        return Ok((recorded, levels.len() as u64 - recorded));
    }
    Err(BackfillError::KeptChanging(levels[0].location))
}

/// Shopify's levels at a location merged with the SKU map, both in item order, after a
/// checkpoint: each item once, with its level, its mapping or both.
struct Pairs<I: Iterator> {
    location: LocationId,
    shop: ShopDomain,
    levels: std::iter::Peekable<I>,
    previous: Option<InventoryItemId>,
    after: Option<InventoryItemId>,
    map: VecDeque<ItemMapping>,
    map_after: Option<InventoryItemId>,
    map_done: bool,
}

type Pair = (Option<ShopifyLevel>, Option<ItemMapping>);

impl<I> Pairs<I>
where
    I: Iterator<Item = Result<ShopifyLevel, ShopifyError>>,
{
    async fn open<S>(
        shopify: &S,
        shop: &ShopDomain,
        location: LocationId,
        after: Option<InventoryItemId>,
    ) -> Result<Self, BackfillError>
    where
        S: ShopifyAdmin<ItemOrdered = I>,
    {
        let levels = shopify.bulk_levels(location).await?.peekable();
        Ok(Pairs {
            location,
            shop: shop.clone(),
            levels,
            previous: None,
            after,
            map: VecDeque::new(),
            map_after: after,
            map_done: false,
        })
    }

    /// The head of Shopify's levels after the checkpoint, checked to be in item order.
    fn level_head(&mut self) -> Result<Option<InventoryItemId>, BackfillError> {
        loop {
            let item = match self.levels.peek() {
                None => return Ok(None),
                Some(Err(_)) => {
                    return match self.levels.next() {
                        Some(Err(e)) => Err(e.into()),
                        _ => Ok(None),
                    }
                }
                Some(Ok(l)) => l.item,
            };
            if self.previous.is_some_and(|p| item <= p) {
                return Err(BackfillError::OutOfOrder {
                    location: self.location,
                    previous: self.previous.unwrap_or(item),
                    item,
                });
            }
            if self.after.is_some_and(|a| item <= a) {
                self.previous = Some(item);
                self.levels.next();
                continue;
            }
            return Ok(Some(item));
        }
    }

    async fn map_head<St: SkuMapStore>(
        &mut self,
        store: &St,
    ) -> Result<Option<InventoryItemId>, BackfillError> {
        if self.map.is_empty() && !self.map_done {
            let page = store
                .items_after(&self.shop, self.map_after, MAP_PAGE)
                .await?;
            self.map_done = page.len() < MAP_PAGE;
            self.map_after = page.last().map(|m| m.item).or(self.map_after);
            self.map.extend(page);
        }
        Ok(self.map.front().map(|m| m.item))
    }

    async fn next<St: SkuMapStore>(&mut self, store: &St) -> Result<Option<Pair>, BackfillError> {
        let level = self.level_head()?;
        let mapped = self.map_head(store).await?;
        Ok(match take(level, mapped) {
            Take::Done => None,
            Take::Level => Some((self.take_level(), None)),
            Take::Mapping => Some((None, self.map.pop_front())),
            Take::Both => Some((self.take_level(), self.map.pop_front())),
        })
    }

    /// The head level (already checked by [`Pairs::level_head`]).
    fn take_level(&mut self) -> Option<ShopifyLevel> {
        let level = self.levels.next().and_then(Result::ok);
        self.previous = level.as_ref().map(|l| l.item);
        level
    }
}
