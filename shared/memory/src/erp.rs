//! [`MemoryErp`]: an ERP in memory. It keeps on-hand per warehouse and ERP item, applies each
//! write's `change` per line at most once per write key (a retry of a key it has returns success
//! and changes nothing, as the Tryton adapter's shipment references guarantee), records every
//! call, and can be told to fail its next calls with a given [`ErpError`] (before anything is
//! applied) or to apply a write and lose the answer (a timeout after the ERP committed).
//! `levels` answers items it holds at the warehouse; unknown items are absent. It can be made
//! slow (`set_latency`), so that two pushes overlap.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use rust_decimal::Decimal;
use stockbridge_core::ports::{Erp, ErpError};
use stockbridge_domain::erp_write::{ErpWrite, Incoming};

/// What the next call does instead of succeeding.
#[derive(Clone, Debug)]
pub(crate) enum ErpFault {
    Fail(ErpError),
    /// Apply the write, then answer as a timeout would.
    LoseAnswer,
}

#[derive(Default)]
pub(crate) struct ErpState {
    pub(crate) on_hand: BTreeMap<(String, String), Decimal>,
    keys: BTreeSet<String>,
    applied: Vec<ErpWrite>,
    calls: Vec<String>,
    faults: VecDeque<ErpFault>,
    incoming: BTreeMap<String, Vec<Incoming>>,
    pub(crate) known: Option<BTreeSet<String>>,
    latency: std::time::Duration,
    /// Sales orders by reference, and the movement keys carried out (see `erp_sales`).
    pub(crate) sales: BTreeMap<String, stockbridge_core::ports::SalesOrderView>,
    pub(crate) sales_moves: BTreeSet<String>,
}

/// The in-memory ERP. `Clone` is a handle to the same ERP.
#[derive(Clone, Default)]
pub struct MemoryErp {
    state: Arc<Mutex<ErpState>>,
}

impl std::fmt::Debug for MemoryErp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("MemoryErp")
            .field("on_hand", &s.on_hand)
            .field("applied", &s.applied.len())
            .field("calls", &s.calls.len())
            .finish()
    }
}

impl MemoryErp {
    pub fn new() -> Self {
        MemoryErp::default()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ErpState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `n` calls (any method) fail with `error`, applying nothing.
    pub fn fail_next(&self, n: usize, error: ErpError) {
        let mut s = self.lock();
        s.faults
            .extend((0..n).map(|_| ErpFault::Fail(error.clone())));
    }

    /// The next `n` calls take effect and then answer `Unavailable` (the answer was lost).
    pub fn lose_next_answers(&self, n: usize) {
        self.lock()
            .faults
            .extend((0..n).map(|_| ErpFault::LoseAnswer));
    }

    /// Every `apply` takes this long (on the tokio clock) before it does anything: a slow ERP,
    /// so that pushes overlap.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.lock().latency = latency;
    }

    /// Only these ERP items exist: a write naming another is `Rejected` and changes nothing.
    pub fn know_only<S: Into<String>>(&self, items: impl IntoIterator<Item = S>) {
        self.lock().known = Some(items.into_iter().map(Into::into).collect());
    }

    /// Sets the on-hand of an item at a warehouse (opening stock).
    pub fn set_on_hand(&self, warehouse: &str, item: &str, quantity: Decimal) {
        self.lock()
            .on_hand
            .insert((warehouse.to_string(), item.to_string()), quantity);
    }

    /// The open purchase orders `incoming` answers for a warehouse.
    pub fn set_incoming(&self, warehouse: &str, incoming: Vec<Incoming>) {
        self.lock().incoming.insert(warehouse.to_string(), incoming);
    }

    /// On-hand of an item at a warehouse, `None` if the ERP never held it there.
    pub fn on_hand(&self, warehouse: &str, item: &str) -> Option<Decimal> {
        self.lock()
            .on_hand
            .get(&(warehouse.to_string(), item.to_string()))
            .copied()
    }

    /// All on-hand figures by (warehouse, item), normalised (`48.000` reads `48`).
    pub fn stock(&self) -> BTreeMap<(String, String), Decimal> {
        self.lock()
            .on_hand
            .iter()
            .map(|(k, v)| (k.clone(), v.normalize()))
            .collect()
    }

    /// The writes applied, in order; each key appears once.
    pub fn writes(&self) -> Vec<ErpWrite> {
        self.lock().applied.clone()
    }

    /// The key of every `apply` call, in order, failed and repeated ones included.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    pub(crate) fn next_fault(&self) -> Option<ErpFault> {
        self.lock().faults.pop_front()
    }

    /// A read fails with the next fault; a lost answer of a read is a timeout.
    fn read_fault(&self) -> Result<(), ErpError> {
        match self.next_fault() {
            None => Ok(()),
            Some(ErpFault::Fail(e)) => Err(e),
            Some(ErpFault::LoseAnswer) => Err(ErpError::Unavailable("timed out".into())),
        }
    }
}

impl Erp for MemoryErp {
    async fn apply(&self, write: &ErpWrite) -> Result<(), ErpError> {
        tokio::task::yield_now().await;
        let latency = self.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        self.lock().calls.push(write.key.clone());
        let lose_answer = match self.next_fault() {
            Some(ErpFault::Fail(e)) => return Err(e),
            Some(ErpFault::LoseAnswer) => true,
            None => false,
        };
        let mut s = self.lock();
        if !s.keys.contains(&write.key) {
            if let Some(known) = &s.known {
                let unknown: Vec<&str> = write
                    .lines
                    .iter()
                    .map(|l| l.item.as_str())
                    .filter(|i| !known.contains(*i))
                    .collect();
                if !unknown.is_empty() {
                    return Err(ErpError::Rejected(format!(
                        "no item {} at warehouse {}",
                        unknown.join(", "),
                        write.warehouse
                    )));
                }
            }
            for line in &write.lines {
                *s.on_hand
                    .entry((write.warehouse.clone(), line.item.clone()))
                    .or_default() += line.change;
            }
            s.keys.insert(write.key.clone());
            s.applied.push(write.clone());
        }
        if lose_answer {
            return Err(ErpError::Unavailable(format!(
                "timed out waiting for the answer to {}",
                write.key
            )));
        }
        Ok(())
    }

    async fn levels(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        tokio::task::yield_now().await;
        self.read_fault()?;
        let s = self.lock();
        Ok(items
            .iter()
            .filter_map(|i| {
                let held = s.on_hand.get(&(warehouse.to_string(), i.clone())).copied();
                let known = s.known.as_ref().is_some_and(|k| k.contains(i));
                held.or(known.then_some(Decimal::ZERO))
                    .map(|q| (i.clone(), q))
            })
            .collect())
    }

    async fn incoming(&self, warehouse: &str, items: &[String]) -> Result<Vec<Incoming>, ErpError> {
        tokio::task::yield_now().await;
        self.read_fault()?;
        let s = self.lock();
        Ok(s.incoming
            .get(warehouse)
            .map(|list| {
                list.iter()
                    .filter(|i| items.contains(&i.item))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}
