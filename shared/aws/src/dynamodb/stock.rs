//! [`StockStore`] over the stock and idempotency tables: which events are done, loading the
//! records a batch touches, committing a plan in one transaction, reconciliation's level writes
//! and corrections, the order flow's conditional write of an order record (`put_sales`), and
//! `shop/redact`. Also the operator's reads of a shop's levels and of one
//! level's log.

use std::collections::HashSet;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use stockbridge_core::ports::{
    CorrectionRecord, Loaded, ParkedEvent, PortError, RedactProgress, RedactStep, StockStore,
    Wanted,
};
use stockbridge_domain::batch::Plan;
use stockbridge_domain::event::{EventBody, InventoryEvent, RedactCursor};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::sales::SalesRecord;
use stockbridge_domain::stock::{OrderKey, StockKey, StockLevel};

use super::codec::{self, kind, n, s, Item, StockRecord};
use super::keys::{self, LOG_PREFIX, STATE};
use super::{put_request, sdk_unavailable, unavailable, DynamoStore};

/// Most actions one `TransactWriteItems` takes.
const TRANSACTION_ACTIONS: usize = 100;

impl DynamoStore {
    /// Every stock level of a shop (operator tooling and tests; a scan, not for hot paths).
    pub async fn levels(
        &self,
        shop: &ShopDomain,
    ) -> Result<Vec<(StockKey, StockLevel)>, PortError> {
        let items = self
            .scan(
                &self.tables.stock,
                "shop = :s AND kind = :k",
                &[(":s", s(shop.as_str())), (":k", s(kind::LEVEL))],
            )
            .await?;
        items.iter().map(codec::read_level).collect()
    }

    /// The transaction log of one stock record, oldest first.
    pub async fn ledger(&self, key: &StockKey) -> Result<Vec<Item>, PortError> {
        self.query_partition(&self.tables.stock, &keys::level_pk(key), Some(LOG_PREFIX))
            .await
    }
}

/// A conditional put that expects the record at `rev` (or absent when it was not loaded).
fn guarded_put(
    table: &str,
    item: Item,
    expected: Option<u64>,
) -> Result<TransactWriteItem, PortError> {
    let put = Put::builder().table_name(table).set_item(Some(item));
    let put = match expected {
        Some(rev) => put
            .condition_expression("rev = :rev")
            .expression_attribute_values(":rev", n(rev)),
        None => put.condition_expression("attribute_not_exists(pk)"),
    };
    Ok(TransactWriteItem::builder()
        .put(put.build().map_err(unavailable)?)
        .build())
}

fn plain_put(table: &str, item: Item) -> Result<TransactWriteItem, PortError> {
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .build()
                .map_err(unavailable)?,
        )
        .build())
}

/// The revision a record was loaded at (`None`: not there) and the one its write carries.
fn revisions(loaded: &Loaded, pk: &str) -> (Option<u64>, u64) {
    let rev = loaded.revisions.get(pk).copied();
    (rev, rev.map_or(1, |r| r + 1))
}

impl StockStore for DynamoStore {
    async fn applied(&self, keys: &[String]) -> Result<HashSet<String>, PortError> {
        let distinct: HashSet<&String> = keys.iter().collect();
        let request: Vec<Item> = distinct
            .into_iter()
            .map(|k| keys::idempotency_key(k))
            .collect();
        let found = self.batch_get(&self.tables.idempotency, request).await?;
        found.iter().map(codec::read_pk).collect()
    }

    async fn load(&self, wanted: &Wanted) -> Result<Loaded, PortError> {
        let mut pks = Vec::new();
        pks.extend(wanted.levels.iter().map(keys::level_pk));
        pks.extend(wanted.lines.iter().map(keys::line_pk));
        pks.extend(wanted.items.iter().map(|(sh, i)| keys::item_pk(sh, *i)));
        pks.extend(wanted.movements.iter().map(keys::movement_pk));
        pks.extend(wanted.orders.iter().map(keys::sale_pk));
        let request = pks.iter().map(|pk| keys::key(pk, STATE)).collect();
        let mut loaded = Loaded::default();
        for item in self.batch_get(&self.tables.stock, request).await? {
            let (pk, rev) = codec::read_revision(&item)?;
            let book = &mut loaded.book;
            match codec::read_stock_record(&item)? {
                StockRecord::Level(key, level) => {
                    book.levels.insert(key, level);
                }
                StockRecord::Line(key, line) => {
                    book.lines.insert(key, line);
                }
                StockRecord::Item(id, record) => {
                    book.items.insert(id, record);
                }
                StockRecord::Movement(key, movement) => {
                    book.movements.insert(key, movement);
                }
                StockRecord::Sale(key, sale) => {
                    book.sales.insert(key, sale);
                }
            }
            loaded.revisions.insert(pk, rev);
        }
        Ok(loaded)
    }

    async fn commit(
        &self,
        plan: &Plan,
        loaded: &Loaded,
        events: &[InventoryEvent],
    ) -> Result<(), PortError> {
        let now = Timestamp::now();
        let t = &self.tables;
        let mut actions = Vec::new();
        for key in &plan.changed_levels {
            let (expected, rev) = revisions(loaded, &keys::level_pk(key));
            let level = plan.book.level(key);
            let item = codec::write_level(key, &level, rev, now);
            actions.push(guarded_put(&t.stock, item, expected)?);
        }
        for key in &plan.changed_lines {
            if let Some(line) = plan.book.lines.get(key) {
                let (expected, rev) = revisions(loaded, &keys::line_pk(key));
                let item = codec::write_line(key, line, rev);
                actions.push(guarded_put(&t.stock, item, expected)?);
            }
        }
        for (shop, id) in &plan.changed_items {
            if let Some(record) = plan.book.items.get(&(shop.clone(), *id)) {
                let (expected, rev) = revisions(loaded, &keys::item_pk(shop, *id));
                let item = codec::write_item_record(shop, *id, record, rev);
                actions.push(guarded_put(&t.stock, item, expected)?);
            }
        }
        for key in &plan.changed_movements {
            if let Some(m) = plan.book.movements.get(key) {
                let (expected, rev) = revisions(loaded, &keys::movement_pk(key));
                let item = codec::write_movement(key, m, rev);
                actions.push(guarded_put(&t.stock, item, expected)?);
            }
        }
        for key in &plan.changed_sales {
            if let Some(sale) = plan.book.sales.get(key) {
                let (expected, rev) = revisions(loaded, &keys::sale_pk(key));
                let item = codec::write_sale(key, sale, rev, now);
                actions.push(guarded_put(&t.stock, item, expected)?);
            }
        }
        for (n_entry, entry) in plan.ledger.iter().enumerate() {
            actions.push(plain_put(
                &t.stock,
                codec::write_log_entry(entry, n_entry, now),
            )?);
        }
        for (key, outcome) in plan.new_keys() {
            let item = codec::write_applied(key, outcome, now);
            actions.push(guarded_put(&t.idempotency, item, None)?);
        }
        for (key, unresolved) in &plan.parked {
            let Some(original) = events.iter().find(|e| &e.key == key) else {
                continue;
            };
            let mut parked_event = original.clone();
            parked_event.body = EventBody::Stock {
                changes: unresolved.changes.clone(),
            };
            let parked = ParkedEvent {
                event: parked_event,
                missing: unresolved.missing.clone(),
                parked_at: now,
            };
            actions.push(plain_put(&t.inbox, codec::write_parked(key, &parked))?);
        }
        if actions.is_empty() {
            return Ok(());
        }
        if actions.len() > TRANSACTION_ACTIONS {
            return Err(PortError::TooLarge(actions.len()));
        }
        self.transact(actions).await
    }

    async fn put_levels(
        &self,
        levels: &[(StockKey, StockLevel)],
        loaded: &Loaded,
    ) -> Result<(), PortError> {
        if levels.is_empty() {
            return Ok(());
        }
        if levels.len() > TRANSACTION_ACTIONS {
            return Err(PortError::TooLarge(levels.len()));
        }
        let now = Timestamp::now();
        let actions = levels
            .iter()
            .map(|(key, level)| {
                let (expected, rev) = revisions(loaded, &keys::level_pk(key));
                let item = codec::write_level(key, level, rev, now);
                guarded_put(&self.tables.stock, item, expected)
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.transact(actions).await
    }

    async fn put_sales(
        &self,
        key: &OrderKey,
        record: &SalesRecord,
        loaded: &Loaded,
    ) -> Result<(), PortError> {
        let pk = keys::sale_pk(key);
        let (expected, rev) = revisions(loaded, &pk);
        let item = codec::write_sale(key, record, rev, Timestamp::now());
        let put = self
            .client
            .put_item()
            .table_name(&self.tables.stock)
            .set_item(Some(item));
        let put = match expected {
            Some(rev) => put
                .condition_expression("rev = :rev")
                .expression_attribute_values(":rev", n(rev)),
            None => put.condition_expression("attribute_not_exists(pk)"),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(PortError::Conflict(format!(
                    "{pk}: revision {expected:?} expected, changed meanwhile"
                )))
            }
            Err(e) => Err(sdk_unavailable(e)),
        }
    }

    async fn log_corrections(&self, records: &[CorrectionRecord]) -> Result<(), PortError> {
        let writes = records
            .iter()
            .enumerate()
            .map(|(n_entry, r)| put_request(codec::write_correction(r, n_entry)))
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(&self.tables.stock, writes).await
    }

    async fn redact_shop(
        &self,
        shop: &ShopDomain,
        from: Option<&RedactCursor>,
        page: usize,
    ) -> Result<RedactStep, PortError> {
        self.redact_step(shop, from, page).await
    }

    async fn redact_progress(
        &self,
        shop: &ShopDomain,
    ) -> Result<Option<RedactProgress>, PortError> {
        self.read_redact_progress(shop).await
    }

    async fn put_redact_progress(&self, progress: &RedactProgress) -> Result<(), PortError> {
        self.write_redact_progress(progress).await
    }
}
