//! `StockStore` for [`MemoryStore`], with the DynamoDB adapter's semantics:
//!
//! - `commit` is one transaction: it counts its actions as DynamoDB's `TransactWriteItems` would
//!   (one per changed level, line, item record, movement and order record of the order flow,
//!   per log entry, per new idempotency
//!   record, per parked event), answers `TooLarge` over 100, and writes everything or nothing.
//!   Every record write is conditional on the revision in `loaded` (absent in `loaded`: the
//!   record must not exist), every idempotency record on the key not being recorded yet; either
//!   failing is a `Conflict`.
//! - `put_levels` is one transaction of conditional level writes (`TooLarge` over 100).
//! - `put_sales` is one conditional write of an order record, as `commit` writes it.
//! - `redact_shop` is one page of a redaction (`crate::redact`): every record of the shop and
//!   every event key starting `shop:` it reads is deleted, counted as DynamoDB holds them (an
//!   item mapping is two: the mapping and its listing); progress records are kept apart.
//! - `commit` refuses (`Refused`, DynamoDB's `ValidationException`) an event key over 2,048
//!   bytes, DynamoDB's limit on a partition key (the idempotency record's key).

use std::collections::{BTreeSet, HashSet};

use stockbridge_core::ports::{
    CorrectionRecord, Loaded, ParkedEvent, PortError, RedactProgress, RedactStep, StockStore,
    Wanted,
};
use stockbridge_domain::batch::Plan;
use stockbridge_domain::event::{EventBody, InventoryEvent, RedactCursor};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::sales::SalesRecord;
use stockbridge_domain::stock::{OrderKey, StockKey, StockLevel};

use crate::store::{
    item_pk, level_pk, line_pk, movement_pk, sale_pk, LogEntry, MemoryStore, State, StoreOp, Stored,
};

/// DynamoDB's limit of actions in one transaction.
pub const MAX_TRANSACTION_ACTIONS: usize = 100;
/// DynamoDB's limit on a partition key's size.
pub const MAX_KEY_BYTES: usize = 2048;

/// The actions `commit` sends for `plan`, counted as the DynamoDB adapter builds them.
pub fn transaction_actions(plan: &Plan, events: &[InventoryEvent]) -> usize {
    let book = &plan.book;
    plan.changed_levels.len()
        + plan
            .changed_lines
            .iter()
            .filter(|k| book.lines.contains_key(*k))
            .count()
        + plan
            .changed_items
            .iter()
            .filter(|k| book.items.contains_key(*k))
            .count()
        + plan
            .changed_movements
            .iter()
            .filter(|k| book.movements.contains_key(*k))
            .count()
        + plan
            .changed_sales
            .iter()
            .filter(|k| book.sales.contains_key(*k))
            .count()
        + plan.ledger.len()
        + plan.new_keys().count()
        + plan
            .parked
            .iter()
            .filter(|(key, _)| events.iter().any(|e| &e.key == key))
            .count()
}

fn conflict(pk: &str, expected: Option<u64>, found: Option<u64>) -> PortError {
    PortError::Conflict(format!(
        "{pk}: revision {expected:?} expected, {found:?} found"
    ))
}

/// The condition of a guarded put: the record is at the revision `loaded` saw, or absent if
/// `loaded` did not see it.
fn check<T>(
    pk: String,
    loaded: &Loaded,
    current: Option<&Stored<T>>,
) -> Result<(String, u64), PortError> {
    let expected = loaded.revisions.get(&pk).copied();
    let found = current.map(|s| s.rev);
    if expected != found {
        return Err(conflict(&pk, expected, found));
    }
    Ok((pk, expected.map_or(1, |r| r + 1)))
}

impl State {
    /// Checks every condition of the plan's transaction; writes nothing.
    fn check_plan(&self, plan: &Plan, loaded: &Loaded) -> Result<(), PortError> {
        for key in &plan.changed_levels {
            check(level_pk(key), loaded, self.levels.get(key))?;
        }
        for key in &plan.changed_lines {
            if plan.book.lines.contains_key(key) {
                check(line_pk(key), loaded, self.lines.get(key))?;
            }
        }
        for key in &plan.changed_items {
            if plan.book.items.contains_key(key) {
                check(item_pk(&key.0, key.1), loaded, self.items.get(key))?;
            }
        }
        for key in &plan.changed_movements {
            if plan.book.movements.contains_key(key) {
                check(movement_pk(key), loaded, self.movements.get(key))?;
            }
        }
        for key in &plan.changed_sales {
            if plan.book.sales.contains_key(key) {
                check(sale_pk(key), loaded, self.sales.get(key))?;
            }
        }
        for (key, _) in plan.new_keys() {
            if self.applied.contains_key(key) {
                return Err(PortError::Conflict(format!(
                    "event {key} was recorded meanwhile"
                )));
            }
        }
        Ok(())
    }

    /// Writes the plan; its conditions were checked under the same lock.
    fn write_plan(&mut self, plan: &Plan, events: &[InventoryEvent], now: Timestamp) {
        let rev = |current: Option<u64>| current.map_or(1, |r| r + 1);
        for key in &plan.changed_levels {
            let next = rev(self.levels.get(key).map(|s| s.rev));
            let value = plan.book.level(key);
            self.levels.insert(key.clone(), Stored { value, rev: next });
        }
        for key in &plan.changed_lines {
            if let Some(line) = plan.book.lines.get(key) {
                let next = rev(self.lines.get(key).map(|s| s.rev));
                let value = line.clone();
                self.lines.insert(key.clone(), Stored { value, rev: next });
            }
        }
        for key in &plan.changed_items {
            if let Some(record) = plan.book.items.get(key) {
                let next = rev(self.items.get(key).map(|s| s.rev));
                let value = record.clone();
                self.items.insert(key.clone(), Stored { value, rev: next });
            }
        }
        for key in &plan.changed_movements {
            if let Some(m) = plan.book.movements.get(key) {
                let next = rev(self.movements.get(key).map(|s| s.rev));
                let value = m.clone();
                self.movements
                    .insert(key.clone(), Stored { value, rev: next });
            }
        }
        for key in &plan.changed_sales {
            if let Some(sale) = plan.book.sales.get(key) {
                let next = rev(self.sales.get(key).map(|s| s.rev));
                let value = sale.clone();
                self.sales.insert(key.clone(), Stored { value, rev: next });
            }
        }
        for entry in &plan.ledger {
            self.log
                .entry(entry.key.clone())
                .or_default()
                .push(LogEntry::Stock {
                    at: now,
                    entry: entry.clone(),
                });
        }
        for (key, outcome) in plan.new_keys() {
            self.applied.insert(key.to_string(), outcome);
        }
        for (key, unresolved) in &plan.parked {
            let Some(original) = events.iter().find(|e| &e.key == key) else {
                continue;
            };
            let mut event = original.clone();
            event.body = EventBody::Stock {
                changes: unresolved.changes.clone(),
            };
            let parked = ParkedEvent {
                event,
                missing: unresolved.missing.clone(),
                parked_at: now,
            };
            self.parked
                .insert((original.shop.clone(), key.clone()), parked);
        }
    }

    pub(crate) fn count_all(&self) -> usize {
        self.levels.len()
            + self.lines.len()
            + self.items.len()
            + self.movements.len()
            + self.sales.len()
            + self.log.values().map(Vec::len).sum::<usize>()
            + self.applied.len()
            + 2 * self.item_maps.len()
            + self.variant_alias.len()
            + self.sku_alias.len()
            + self.locations.len()
            + self.sales_settings.len()
            + self.parked.len()
            + self.quarantine.len()
            + self.reports.len()
            + self.erp_records.len()
            + self.erp_alias.len()
            + self.storefront.len()
    }
}

impl StockStore for MemoryStore {
    async fn applied(&self, keys: &[String]) -> Result<HashSet<String>, PortError> {
        let lost = self.enter(StoreOp::Applied).await?;
        let s = self.lock();
        let found = keys
            .iter()
            .filter(|k| s.applied.contains_key(*k))
            .cloned()
            .collect();
        Self::finish(StoreOp::Applied, lost, Ok(found))
    }

    async fn load(&self, wanted: &Wanted) -> Result<Loaded, PortError> {
        let lost = self.enter(StoreOp::Load).await?;
        let s = self.lock();
        let mut loaded = Loaded::default();
        for key in &wanted.levels {
            if let Some(r) = s.levels.get(key) {
                loaded.book.levels.insert(key.clone(), r.value.clone());
                loaded.revisions.insert(level_pk(key), r.rev);
            }
        }
        for key in &wanted.lines {
            if let Some(r) = s.lines.get(key) {
                loaded.book.lines.insert(key.clone(), r.value.clone());
                loaded.revisions.insert(line_pk(key), r.rev);
            }
        }
        for key in &wanted.items {
            if let Some(r) = s.items.get(key) {
                loaded.book.items.insert(key.clone(), r.value.clone());
                loaded.revisions.insert(item_pk(&key.0, key.1), r.rev);
            }
        }
        for key in &wanted.movements {
            if let Some(r) = s.movements.get(key) {
                loaded.book.movements.insert(key.clone(), r.value.clone());
                loaded.revisions.insert(movement_pk(key), r.rev);
            }
        }
        for key in &wanted.orders {
            if let Some(r) = s.sales.get(key) {
                loaded.book.sales.insert(key.clone(), r.value.clone());
                loaded.revisions.insert(sale_pk(key), r.rev);
            }
        }
        Self::finish(StoreOp::Load, lost, Ok(loaded))
    }

    async fn commit(
        &self,
        plan: &Plan,
        loaded: &Loaded,
        events: &[InventoryEvent],
    ) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::Commit).await?;
        self.interfere().await;
        let actions = transaction_actions(plan, events);
        if actions == 0 {
            return Self::finish(StoreOp::Commit, lost, Ok(()));
        }
        if actions > MAX_TRANSACTION_ACTIONS {
            return Err(PortError::TooLarge(actions));
        }
        if let Some((key, _)) = plan.new_keys().find(|(k, _)| k.len() > MAX_KEY_BYTES) {
            return Err(PortError::Refused {
                service: "memory store",
                detail: format!(
                    "ValidationException: event key of {} bytes exceeds the partition key limit of {MAX_KEY_BYTES} bytes",
                    key.len()
                ),
            });
        }
        let mut s = self.lock();
        s.check_plan(plan, loaded)?;
        s.write_plan(plan, events, Timestamp::now());
        Self::finish(StoreOp::Commit, lost, Ok(()))
    }

    async fn put_levels(
        &self,
        levels: &[(StockKey, StockLevel)],
        loaded: &Loaded,
    ) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::PutLevels).await?;
        if levels.is_empty() {
            return Self::finish(StoreOp::PutLevels, lost, Ok(()));
        }
        if levels.len() > MAX_TRANSACTION_ACTIONS {
            return Err(PortError::TooLarge(levels.len()));
        }
        let distinct: BTreeSet<&StockKey> = levels.iter().map(|(k, _)| k).collect();
        if distinct.len() != levels.len() {
            // DynamoDB refuses a transaction with two operations on one item (ValidationException).
            return Err(PortError::Unavailable {
                service: "memory store",
                detail: "transaction names one stock record twice".into(),
            });
        }
        let mut s = self.lock();
        let mut writes = Vec::with_capacity(levels.len());
        for (key, level) in levels {
            let (_, rev) = check(level_pk(key), loaded, s.levels.get(key))?;
            writes.push((key.clone(), level.clone(), rev));
        }
        for (key, value, rev) in writes {
            s.levels.insert(key, Stored { value, rev });
        }
        Self::finish(StoreOp::PutLevels, lost, Ok(()))
    }

    async fn put_sales(
        &self,
        key: &OrderKey,
        record: &SalesRecord,
        loaded: &Loaded,
    ) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::PutSales).await?;
        let mut s = self.lock();
        let (_, rev) = check(sale_pk(key), loaded, s.sales.get(key))?;
        let value = record.clone();
        s.sales.insert(key.clone(), Stored { value, rev });
        Self::finish(StoreOp::PutSales, lost, Ok(()))
    }

    async fn log_corrections(&self, records: &[CorrectionRecord]) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::LogCorrections).await?;
        let mut s = self.lock();
        for r in records {
            let key = StockKey {
                shop: r.shop.clone(),
                item: r.correction.item(),
                location: r.correction.location(),
            };
            s.log
                .entry(key)
                .or_default()
                .push(LogEntry::Correction(r.clone()));
        }
        Self::finish(StoreOp::LogCorrections, lost, Ok(()))
    }

    async fn redact_shop(
        &self,
        shop: &ShopDomain,
        from: Option<&RedactCursor>,
        page: usize,
    ) -> Result<RedactStep, PortError> {
        let lost = self.enter(StoreOp::RedactShop).await?;
        let (deleted, next) = self.lock().redact_page(shop, from, page);
        Self::finish(StoreOp::RedactShop, lost, Ok(RedactStep { deleted, next }))
    }

    async fn redact_progress(
        &self,
        shop: &ShopDomain,
    ) -> Result<Option<RedactProgress>, PortError> {
        let lost = self.enter(StoreOp::RedactProgress).await?;
        let found = self.lock().redactions.get(shop).cloned();
        Self::finish(StoreOp::RedactProgress, lost, Ok(found))
    }

    async fn put_redact_progress(&self, progress: &RedactProgress) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::PutRedactProgress).await?;
        self.lock()
            .redactions
            .insert(progress.shop.clone(), progress.clone());
        Self::finish(StoreOp::PutRedactProgress, lost, Ok(()))
    }
}
