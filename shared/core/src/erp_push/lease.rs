//! The store's side of an in-flight write: preparing owed records into writes leased to this
//! consumer, and every later change of a write (claim, renew, settle, refuse, give back), each
//! one read and one conditional write of the records it covers, tried again after a lost race.
//!
//! Who may do what: anyone may prepare a record with nothing in flight; a write whose lease ran
//! out (or that nobody holds) may be claimed; only its holder renews it, records a refusal on
//! it or gives its lease back; anyone who saw the ERP acknowledge it may settle it (the key
//! check makes settling once enough). A write that is parked is claimed by nobody.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{nonce, ErpPush, PushPolicy};
use crate::ports::{Erp, PortError, StockStore, Wanted};
use crate::retry::{Retryable, Verdict};
use stockbridge_domain::erp_write::push_key;
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::skumap::{Master, SkuMap};
use stockbridge_domain::stock::{Inflight, StockKey, StockLevel};

/// Records per write: a burst over many SKUs of one warehouse goes as several documents.
const WRITE_MEMBERS: usize = 50;
/// Records per transaction (DynamoDB's `TransactWriteItems` takes 100); a write is never split
/// over two.
const TRANSACTION_RECORDS: usize = 100;
/// Preparations tried again after a lost race before the rest waits for the next push.
const PREPARE_PASSES: usize = 4;
/// Longest refusal text kept on a write.
const REFUSAL_CHARS: usize = 500;

/// Why a change of an in-flight write did not happen.
#[derive(Debug, thiserror::Error)]
pub(super) enum Bookkeeping {
    /// The write is not this consumer's to change any more (settled, held by another, parked).
    #[error("{0}")]
    Lost(String),
    #[error(transparent)]
    Store(#[from] PortError),
}

impl Bookkeeping {
    /// A lost write as a store conflict (for callers that only report).
    pub(super) fn into_port(self) -> PortError {
        match self {
            Bookkeeping::Lost(why) => PortError::Conflict(why),
            Bookkeeping::Store(e) => e,
        }
    }
}

impl Retryable for Bookkeeping {
    fn verdict(&self) -> Verdict {
        match self {
            Bookkeeping::Lost(_) => Verdict::Stop,
            Bookkeeping::Store(e) => e.verdict(),
        }
    }
}

impl<E: Erp> ErpPush<E> {
    fn lease_until(&self) -> Timestamp {
        let lease = i64::try_from(self.policy.lease.as_nanos()).unwrap_or(i64::MAX);
        Timestamp(Timestamp::now().0.saturating_add(lease))
    }

    /// Prepares every record of `keys` that owes the ERP and has nothing in flight: writes of at
    /// most [`WRITE_MEMBERS`] records per warehouse, each under a fresh key, leased to this
    /// consumer, stored in transactions of whole writes. Returns the keys of the writes stored.
    pub(super) async fn prepare<S: StockStore>(
        &self,
        store: &S,
        keys: &BTreeSet<StockKey>,
        maps: &HashMap<ShopDomain, SkuMap>,
    ) -> Result<BTreeSet<String>, PortError> {
        let mut mine = BTreeSet::new();
        for _ in 0..PREPARE_PASSES {
            let loaded = store
                .load(&Wanted {
                    levels: keys.clone(),
                    ..Wanted::default()
                })
                .await?;
            let until = self.lease_until();
            let mut groups: BTreeMap<String, Vec<(StockKey, StockLevel)>> = BTreeMap::new();
            for (key, level) in &loaded.book.levels {
                if level.erp_owed == 0 || level.erp_inflight.is_some() {
                    continue;
                }
                let Some(map) = maps.get(&key.shop) else {
                    continue;
                };
                let (Some(item), Some(location)) =
                    (map.items.get(&key.item), map.locations.get(&key.location))
                else {
                    continue;
                };
                let mut level = level.clone();
                level.erp_inflight = Some(Inflight {
                    key: String::new(),
                    warehouse: location.erp_warehouse.clone(),
                    erp_item: item.erp_item.clone(),
                    quantity: level.erp_owed,
                    change: item.uom.to_erp(level.erp_owed),
                    target: (location.master == Master::Shopify)
                        .then(|| item.uom.to_erp(level.on_hand())),
                    since: level.erp_owed_since,
                    lease_until: Some(until),
                    holder: Some(self.holder.clone()),
                    refusals: 0,
                    refused: None,
                    parked_at: None,
                });
                groups
                    .entry(location.erp_warehouse.clone())
                    .or_default()
                    .push((key.clone(), level));
            }
            let mut writes: Vec<Vec<(StockKey, StockLevel)>> = Vec::new();
            for (warehouse, members) in groups {
                for chunk in members.chunks(WRITE_MEMBERS) {
                    let covered: Vec<(String, u64)> = chunk
                        .iter()
                        .map(|(k, l)| (k.to_string(), l.erp_seq))
                        .collect();
                    let key = push_key(&warehouse, &covered, nonce());
                    let mut write = chunk.to_vec();
                    for (_, l) in &mut write {
                        if let Some(i) = l.erp_inflight.as_mut() {
                            i.key = key.clone();
                        }
                    }
                    writes.push(write);
                }
            }
            if writes.is_empty() {
                break;
            }
            let mut lost_a_race = false;
            for transaction in pack(writes) {
                match store.put_levels(&transaction, &loaded).await {
                    Ok(()) => mine.extend(
                        transaction
                            .iter()
                            .filter_map(|(_, l)| l.erp_inflight.as_ref().map(|i| i.key.clone())),
                    ),
                    // Changed since read (a commit, another consumer's preparation): read again.
                    Err(PortError::Conflict(_)) => lost_a_race = true,
                    Err(e) => return Err(e),
                }
            }
            if !lost_a_race {
                break;
            }
        }
        Ok(mine)
    }

    /// Takes the lease of a write nobody holds (or whose lease ran out); [`Bookkeeping::Lost`]
    /// if another consumer holds or took it, or it was settled or parked meanwhile.
    pub(super) async fn claim<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
    ) -> Result<(), Bookkeeping> {
        let until = self.lease_until();
        self.update(store, write_key, members, true, |_, inflight, now| {
            if inflight.parked_at.is_some() {
                return Err(Bookkeeping::Lost(format!("write {write_key} is parked")));
            }
            if inflight.leased_to_another(&self.holder, now) {
                return Err(Bookkeeping::Lost(format!(
                    "write {write_key} is leased to {}",
                    inflight.holder.as_deref().unwrap_or("another consumer")
                )));
            }
            inflight.lease_until = Some(until);
            inflight.holder = Some(self.holder.clone());
            Ok(())
        })
        .await
    }

    /// Extends this consumer's lease on a write before an ERP call; [`Bookkeeping::Lost`] when
    /// it is no longer this consumer's (it may then not send it).
    pub(super) async fn renew<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
    ) -> Result<(), Bookkeeping> {
        let until = self.lease_until();
        self.update(store, write_key, members, true, |_, inflight, _| {
            if inflight.holder.as_deref() != Some(self.holder.as_str()) {
                return Err(Bookkeeping::Lost(format!(
                    "the lease on write {write_key} went to {}",
                    inflight.holder.as_deref().unwrap_or("nobody")
                )));
            }
            if inflight.parked_at.is_some() {
                return Err(Bookkeeping::Lost(format!("write {write_key} is parked")));
            }
            inflight.lease_until = Some(until);
            Ok(())
        })
        .await
    }

    /// Marks the write acknowledged: the debt it covered is paid, the sequence moves on.
    pub(super) async fn settle<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
    ) -> Result<(), Bookkeeping> {
        self.update_levels(store, write_key, members, false, |level, _| {
            let quantity = level.erp_inflight.as_ref().map_or(0, |i| i.quantity);
            level.erp_owed = level.erp_owed.saturating_sub(quantity);
            level.erp_seq = level.erp_seq.saturating_add(1);
            level.erp_inflight = None;
            if level.erp_owed == 0 {
                level.erp_owed_since = None;
            }
            Ok(())
        })
        .await
    }

    /// Records a refusal on this consumer's write: it keeps its key, its lease is given back,
    /// and after [`PushPolicy::max_refusals`] it is parked. Returns its refusals so far (`None`
    /// if it was settled meanwhile).
    pub(super) async fn refuse<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
        why: &str,
    ) -> Result<Option<u32>, Bookkeeping> {
        let refusals = AtomicU32::new(0);
        let why: String = why.chars().take(REFUSAL_CHARS).collect();
        let max = self.policy.max_refusals;
        self.update(store, write_key, members, true, |_, inflight, now| {
            if inflight.holder.as_deref() != Some(self.holder.as_str()) {
                return Err(Bookkeeping::Lost(format!(
                    "write {write_key} is no longer this consumer's"
                )));
            }
            inflight.refusals = inflight.refusals.saturating_add(1);
            inflight.refused = Some(why.clone());
            inflight.lease_until = None;
            inflight.holder = None;
            if inflight.refusals >= max {
                inflight.parked_at = Some(now);
            }
            refusals.store(inflight.refusals, Ordering::Relaxed);
            Ok(())
        })
        .await?;
        let refusals = refusals.load(Ordering::Relaxed);
        Ok((refusals > 0).then_some(refusals))
    }

    /// Gives back this consumer's lease on a write (the key stays), so the next push may send
    /// it at once. A lease another consumer holds is left alone.
    pub(super) async fn release<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
    ) -> Result<(), Bookkeeping> {
        self.update(store, write_key, members, false, |_, inflight, _| {
            if inflight.holder.as_deref() == Some(self.holder.as_str()) {
                inflight.lease_until = None;
                inflight.holder = None;
            }
            Ok(())
        })
        .await
    }

    /// [`Self::update_levels`], for a change of the in-flight write alone.
    async fn update<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
        required: bool,
        change: impl Fn(&StockKey, &mut Inflight, Timestamp) -> Result<(), Bookkeeping> + Send + Sync,
    ) -> Result<(), Bookkeeping> {
        self.update_levels(store, write_key, members, required, |level, key| {
            let now = Timestamp::now();
            match level.erp_inflight.as_mut() {
                Some(inflight) => change(key, inflight, now),
                None => Ok(()),
            }
        })
        .await
    }

    /// One read of the records `members` name and one conditional write of those still
    /// carrying `write_key`, changed by `change`; tried again under [`PushPolicy::SETTLE`] after
    /// a lost race or an unreachable store. When no record carries the write any more, that is
    /// [`Bookkeeping::Lost`] if `required`, else nothing to do.
    async fn update_levels<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
        required: bool,
        change: impl Fn(&mut StockLevel, &StockKey) -> Result<(), Bookkeeping> + Send + Sync,
    ) -> Result<(), Bookkeeping> {
        let keys: BTreeSet<StockKey> = members.iter().map(|(k, _)| k.clone()).collect();
        let once = || async {
            let loaded = store
                .load(&Wanted {
                    levels: keys.clone(),
                    ..Wanted::default()
                })
                .await?;
            let mut changed = Vec::new();
            for (key, level) in &loaded.book.levels {
                if level
                    .erp_inflight
                    .as_ref()
                    .is_none_or(|i| i.key != write_key)
                {
                    continue;
                }
                let mut level = level.clone();
                change(&mut level, key)?;
                changed.push((key.clone(), level));
            }
            if changed.is_empty() {
                return if required {
                    Err(Bookkeeping::Lost(format!(
                        "write {write_key} was settled meanwhile"
                    )))
                } else {
                    Ok(())
                };
            }
            store.put_levels(&changed, &loaded).await?;
            Ok(())
        };
        PushPolicy::SETTLE
            .run(once, |e, wait| {
                let wait_ms = wait.as_millis() as u64;
                tracing::debug!(key = %write_key, wait_ms, "updating the ERP write again: {e}");
            })
            .await
            .map_err(|e| match e {
                Bookkeeping::Store(PortError::Conflict(what)) => Bookkeeping::Store(
                    PortError::Conflict(format!("updating ERP write {write_key}: {what}")),
                ),
                e => e,
            })
    }
}

/// Whole writes packed into transactions of at most [`TRANSACTION_RECORDS`] records.
fn pack(writes: Vec<Vec<(StockKey, StockLevel)>>) -> Vec<Vec<(StockKey, StockLevel)>> {
    let mut out: Vec<Vec<(StockKey, StockLevel)>> = Vec::new();
    for write in writes {
        match out.last_mut() {
            Some(last) if last.len() + write.len() <= TRANSACTION_RECORDS => last.extend(write),
            _ => out.push(write),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockbridge_domain::ids::{InventoryItemId, LocationId};

    fn records(n: u64) -> Vec<(StockKey, StockLevel)> {
        (0..n)
            .map(|i| {
                let key = StockKey {
                    shop: ShopDomain::new("a.myshopify.com"),
                    item: InventoryItemId(i),
                    location: LocationId(1),
                };
                (key, StockLevel::default())
            })
            .collect()
    }

    #[test]
    fn writes_are_packed_whole_into_transactions_of_at_most_a_hundred_records() {
        let writes = vec![
            records(50),
            records(50),
            records(30),
            records(50),
            records(1),
        ];
        let sizes: Vec<usize> = pack(writes).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![100, 81]);
    }
}
