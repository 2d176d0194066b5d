//! ERP writes parked for an operator: a write the ERP refused `PushPolicy::max_refusals` times
//! is no longer sent on its own (it keeps its key, since the ERP may have applied part of it).
//! [`parked_writes`] lists them from a shop's stock records, with the ERP's last refusal;
//! [`release_parked`] lets one go again after the cause is fixed: it is sent at once under the
//! same key (the ERP adapter finds whatever part it already applied), and one more refusal
//! parks it again.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;

use stockbridge_core::erp_push::retry_events;
use stockbridge_core::ports::{EventQueue, PortError, StockStore, Wanted};
use stockbridge_domain::ids::Timestamp;
use stockbridge_domain::stock::{StockKey, StockLevel};

/// One parked write as an operator sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParkedWrite {
    pub key: String,
    pub warehouse: String,
    pub refusals: u32,
    /// The ERP's last refusal.
    pub refused: Option<String>,
    pub parked_at: Option<Timestamp>,
    /// Its lines: ERP item and change (ERP units), per stock record.
    pub lines: Vec<ParkedLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParkedLine {
    pub record: StockKey,
    pub erp_item: String,
    pub change: Decimal,
}

/// The parked writes among `levels` (e.g. every stock record of a shop), by key.
pub fn parked_writes(levels: &[(StockKey, StockLevel)]) -> Vec<ParkedWrite> {
    let mut writes: BTreeMap<String, ParkedWrite> = BTreeMap::new();
    for (record, level) in levels {
        let Some(inflight) = &level.erp_inflight else {
            continue;
        };
        if inflight.parked_at.is_none() {
            continue;
        }
        let write = writes
            .entry(inflight.key.clone())
            .or_insert_with(|| ParkedWrite {
                key: inflight.key.clone(),
                warehouse: inflight.warehouse.clone(),
                refusals: inflight.refusals,
                refused: inflight.refused.clone(),
                parked_at: inflight.parked_at,
                lines: Vec::new(),
            });
        write.lines.push(ParkedLine {
            record: record.clone(),
            erp_item: inflight.erp_item.clone(),
            change: inflight.change,
        });
    }
    writes.into_values().collect()
}

/// Lost races with the consumer tolerated while releasing (each one re-reads the records).
const RELEASE_TRIES: usize = 5;

/// Releases the parked write `key` found among `levels`: it is no longer parked, and an
/// `erp_retry` for its records is sent at once, so the consumer sends it again under the same
/// key. Its refusals are kept: one more refusal parks it again. Returns how many stock records
/// it covers; 0 when no write of that key is parked there (nothing is changed or sent).
pub async fn release_parked<S, Q>(
    store: &S,
    queue: &Q,
    levels: &[(StockKey, StockLevel)],
    key: &str,
) -> Result<usize, PortError>
where
    S: StockStore,
    Q: EventQueue,
{
    let records: BTreeSet<StockKey> = levels
        .iter()
        .filter(|(_, l)| {
            l.erp_inflight
                .as_ref()
                .is_some_and(|i| i.key == key && i.parked_at.is_some())
        })
        .map(|(k, _)| k.clone())
        .collect();
    if records.is_empty() {
        return Ok(0);
    }
    let mut last = None;
    for _ in 0..RELEASE_TRIES {
        let loaded = store
            .load(&Wanted {
                levels: records.clone(),
                ..Wanted::default()
            })
            .await?;
        let mut changed: Vec<(StockKey, StockLevel)> = Vec::new();
        for (record, level) in &loaded.book.levels {
            let mut level = level.clone();
            let Some(inflight) = level.erp_inflight.as_mut() else {
                continue;
            };
            if inflight.key != key || inflight.parked_at.is_none() {
                continue;
            }
            inflight.parked_at = None;
            inflight.lease_until = None;
            inflight.holder = None;
            changed.push((record.clone(), level));
        }
        if changed.is_empty() {
            // Released meanwhile (by another operator): nothing left to do.
            return Ok(0);
        }
        let mut result = Ok(());
        for chunk in changed.chunks(100) {
            result = store.put_levels(chunk, &loaded).await;
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(()) => {
                let keys: BTreeSet<StockKey> = changed.into_iter().map(|(k, _)| k).collect();
                queue.send(&retry_events(&keys, 0)).await?;
                return Ok(keys.len());
            }
            Err(PortError::Conflict(what)) => last = Some(what),
            Err(e) => return Err(e),
        }
    }
    Err(PortError::Conflict(format!(
        "releasing ERP write {key}: {}; run the command again",
        last.unwrap_or_default()
    )))
}
