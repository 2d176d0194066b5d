//! The port of `stockbridge backfill`'s progress ([`BackfillCheckpoints`]): how far taking a
//! shop's existing stock into Stockbridge got at each location, so an interrupted run carries on
//! where it stopped and a run over a finished backfill finds nothing to do.

use std::future::Future;

use serde::{Deserialize, Serialize};

use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp};

use super::PortError;

/// How far the backfill of one location got: every item up to `after` (in inventory item order)
/// is recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillCheckpoint {
    pub shop: ShopDomain,
    pub location: LocationId,
    /// The last item done; `None` before the first.
    pub after: Option<InventoryItemId>,
    /// Stock records written so far, over every run.
    pub recorded: u64,
    /// Items skipped because Stockbridge already held a record for them (a webhook came first).
    pub already_held: u64,
    /// Set once the location's last item is done: a later run leaves it alone.
    pub finished_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

/// Where backfill checkpoints are kept (the inbox table's `BACKFILL#<shop>`).
pub trait BackfillCheckpoints: Send + Sync {
    /// Every checkpoint of `shop`, one per location started.
    fn checkpoints(
        &self,
        shop: &ShopDomain,
    ) -> impl Future<Output = Result<Vec<BackfillCheckpoint>, PortError>> + Send;
    /// Records a checkpoint (replacing the location's previous one).
    fn put_checkpoint(
        &self,
        checkpoint: &BackfillCheckpoint,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}
