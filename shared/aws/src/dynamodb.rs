//! DynamoDB adapter: the stock, idempotency, SKU map and inbox tables (layout in `docs/DATA.md`).
//!
//! Every write a batch needs goes in one `TransactWriteItems`: stock records and order lines with a
//! revision condition (optimistic concurrency), idempotency records with `attribute_not_exists`,
//! log entries and parked events. A lost race surfaces as [`PortError::Conflict`] and the
//! consumer plans again from fresh reads.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, Put, PutRequest, TransactWriteItem,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;

use stockbridge_core::ports::{
    CorrectionRecord, Inbox, Loaded, ParkedEvent, PortError, QuarantineEntry, SkuMapStore,
    StockStore, Wanted,
};
use stockbridge_domain::batch::{Outcome, Plan};
use stockbridge_domain::event::{EventBody, InventoryEvent};
use stockbridge_domain::ids::{
    InventoryItemId, LineItemId, LocationId, OrderId, ShopDomain, Timestamp, VariantId, Version,
};
use stockbridge_domain::skumap::{ItemMapping, LocationMapping, Master, SkuMap, UomFactor};
use stockbridge_domain::stock::{
    ItemRecord, LineKey, MovementKey, MovementRecord, OrderLine, StockKey, StockLevel,
};

use stockbridge_core::config::{required_env, ConfigError};

type Item = HashMap<String, AttributeValue>;

/// How long an idempotency record outlives its event: longer than Shopify's 4 h of retries, an
/// SQS message's 14 days and an operator's replay of a parked event.
const IDEMPOTENCY_DAYS: i64 = 35;
/// A quarantined body that is not JSON cannot be redacted field by field; it expires after this.
const RAW_QUARANTINE_DAYS: i64 = 30;
const STATE: &str = "STATE";
const MAP: &str = "MAP";
/// Reconciliation reports are kept this long.
const REPORT_DAYS: i64 = 90;

/// The listing of a shop's item mappings in item order (sort key: the id, zero-padded).
fn items_listing_pk(shop: &ShopDomain) -> String {
    format!("ITEMS#{shop}")
}

fn item_sort_key(item: InventoryItemId) -> String {
    format!("{:020}", item.0)
}

fn put_request(item: Item) -> Result<WriteRequest, PortError> {
    Ok(WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(unavailable)?,
        )
        .build())
}

/// The table names, from the environment the template sets.
#[derive(Clone, Debug)]
pub struct Tables {
    pub stock: String,
    pub idempotency: String,
    pub skumap: String,
    pub inbox: String,
}

impl Tables {
    /// The four tables the template names: `STOCK_TABLE`, `IDEMPOTENCY_TABLE`, `SKUMAP_TABLE`,
    /// `INBOX_TABLE`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Tables {
            stock: required_env("STOCK_TABLE")?,
            idempotency: required_env("IDEMPOTENCY_TABLE")?,
            skumap: required_env("SKUMAP_TABLE")?,
            inbox: required_env("INBOX_TABLE")?,
        })
    }

    /// Only the inbox (the webhook keeps quarantined deliveries and nothing else); a call on
    /// another table fails with the service's error for an empty table name.
    pub fn inbox_only(inbox: String) -> Self {
        Tables {
            stock: String::new(),
            idempotency: String::new(),
            skumap: String::new(),
            inbox,
        }
    }
}

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    tables: Tables,
}

impl DynamoStore {
    pub fn new(client: Client, tables: Tables) -> Self {
        DynamoStore { client, tables }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Every stock level of a shop (operator tooling and tests; a scan, not for hot paths).
    pub async fn levels(
        &self,
        shop: &ShopDomain,
    ) -> Result<Vec<(StockKey, StockLevel)>, PortError> {
        let items = self
            .scan(
                &self.tables.stock,
                "shop = :s AND kind = :k",
                &[(":s", s(shop.as_str())), (":k", s("level"))],
            )
            .await?;
        items
            .iter()
            .map(|i| Ok((level_key(i)?, read_level(i)?)))
            .collect()
    }

    /// The whole SKU map of a shop (operator tooling and reconciliation; a scan).
    pub async fn full_map(&self, shop: &ShopDomain) -> Result<SkuMap, PortError> {
        let items = self
            .scan(
                &self.tables.skumap,
                "shop = :s AND kind = :k",
                &[(":s", s(shop.as_str())), (":k", s("item_map"))],
            )
            .await?;
        let ids: Vec<InventoryItemId> = items
            .iter()
            .map(|i| get_n(i, "item").map(InventoryItemId))
            .collect::<Result<_, _>>()?;
        self.lookup(shop, &ids, &[], &[]).await
    }

    async fn put_inbox(&self, item: Item) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.tables.inbox)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(e)))?;
        Ok(())
    }

    /// The transaction log of one stock record, oldest first.
    pub async fn ledger(&self, key: &StockKey) -> Result<Vec<Item>, PortError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.stock)
            .key_condition_expression("pk = :pk AND begins_with(sk, :log)")
            .expression_attribute_values(":pk", s(&level_pk(key)))
            .expression_attribute_values(":log", s("LOG#"))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(|e| unavailable(DisplayErrorContext(e)))?);
        }
        Ok(out)
    }

    async fn scan(
        &self,
        table: &str,
        filter: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<Vec<Item>, PortError> {
        let mut request = self
            .client
            .scan()
            .table_name(table)
            .filter_expression(filter);
        for (k, v) in values {
            request = request.expression_attribute_values(*k, v.clone());
        }
        let mut pages = request.into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(|e| unavailable(DisplayErrorContext(e)))?);
        }
        Ok(out)
    }

    async fn query_pk(&self, table: &str, pk: &str) -> Result<Vec<Item>, PortError> {
        let mut pages = self
            .client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(|e| unavailable(DisplayErrorContext(e)))?);
        }
        Ok(out)
    }

    /// BatchGetItem over any number of keys, retrying unprocessed keys with backoff.
    async fn batch_get(&self, table: &str, keys: Vec<Item>) -> Result<Vec<Item>, PortError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(100) {
            let mut pending = chunk.to_vec();
            for attempt in 0..8u32 {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending.clone()))
                    .consistent_read(true)
                    .build()
                    .map_err(unavailable)?;
                let resp = self
                    .client
                    .batch_get_item()
                    .request_items(table, request)
                    .send()
                    .await
                    .map_err(|e| unavailable(DisplayErrorContext(e)))?;
                if let Some(items) = resp.responses().and_then(|r| r.get(table)) {
                    out.extend(items.iter().cloned());
                }
                pending = resp
                    .unprocessed_keys()
                    .and_then(|u| u.get(table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt == 7 {
                    return Err(unavailable("DynamoDB left keys unprocessed after 8 tries"));
                }
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
        }
        Ok(out)
    }

    /// BatchWriteItem over any number of requests, retrying unprocessed ones with backoff.
    async fn batch_write(&self, table: &str, requests: Vec<WriteRequest>) -> Result<(), PortError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for attempt in 0..8u32 {
                let resp = self
                    .client
                    .batch_write_item()
                    .request_items(table, pending.clone())
                    .send()
                    .await
                    .map_err(|e| unavailable(DisplayErrorContext(e)))?;
                pending = resp
                    .unprocessed_items()
                    .and_then(|u| u.get(table))
                    .cloned()
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt == 7 {
                    return Err(unavailable(
                        "DynamoDB left writes unprocessed after 8 tries",
                    ));
                }
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
        }
        Ok(())
    }
}

fn unavailable(e: impl std::fmt::Display) -> PortError {
    PortError::Unavailable {
        service: "DynamoDB",
        detail: e.to_string(),
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key_of(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn corrupt(item: &Item, detail: &str) -> PortError {
    PortError::Corrupt {
        key: get_s(item, "pk").unwrap_or_default(),
        detail: detail.to_string(),
    }
}

fn get_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, PortError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt(item, &format!("attribute {name} missing or not a number")))
}

fn get_bool(item: &Item, name: &str) -> Option<bool> {
    item.get(name).and_then(|v| v.as_bool().ok()).copied()
}

pub fn level_pk(key: &StockKey) -> String {
    format!("LEVEL#{}#{}#{}", key.shop, key.item, key.location)
}

fn line_pk(key: &LineKey) -> String {
    format!("LINE#{}#{}", key.shop, key.line)
}

fn item_pk(shop: &ShopDomain, item: InventoryItemId) -> String {
    format!("ITEM#{shop}#{item}")
}

fn movement_pk(key: &MovementKey) -> String {
    format!("MOVE#{}#{}", key.shop, key.id)
}

fn level_key(item: &Item) -> Result<StockKey, PortError> {
    Ok(StockKey {
        shop: ShopDomain::new(&get_s(item, "shop").ok_or_else(|| corrupt(item, "no shop"))?),
        item: InventoryItemId(get_n(item, "item")?),
        location: LocationId(get_n(item, "location")?),
    })
}

fn read_level(item: &Item) -> Result<StockLevel, PortError> {
    Ok(StockLevel {
        available: get_n(item, "available")?,
        committed: get_n(item, "committed")?,
        tracked: get_bool(item, "tracked").unwrap_or(true),
        connected: get_bool(item, "connected").unwrap_or(true),
        level_version: get_s(item, "level_version").and_then(|v| Version::from_key(&v)),
        erp_owed: get_n(item, "erp_owed").unwrap_or(0),
        erp_owed_since: get_n(item, "erp_owed_since").ok().map(Timestamp),
        erp_inflight: get_s(item, "erp_inflight").and_then(|j| serde_json::from_str(&j).ok()),
        erp_seq: get_n(item, "erp_seq").unwrap_or(0),
    })
}

fn write_level(key: &StockKey, level: &StockLevel, rev: u64, now: Timestamp) -> Item {
    let mut item = key_of(&level_pk(key), STATE);
    item.insert("kind".into(), s("level"));
    item.insert("shop".into(), s(key.shop.as_str()));
    item.insert("item".into(), n(key.item));
    item.insert("location".into(), n(key.location));
    item.insert("available".into(), n(level.available));
    item.insert("committed".into(), n(level.committed));
    item.insert("on_hand".into(), n(level.on_hand()));
    item.insert("tracked".into(), AttributeValue::Bool(level.tracked));
    item.insert("connected".into(), AttributeValue::Bool(level.connected));
    if let Some(v) = level.level_version {
        item.insert("level_version".into(), s(&v.to_key()));
        item.insert("level_as_of".into(), s(&v.as_of.to_rfc3339()));
    }
    item.insert("erp_owed".into(), n(level.erp_owed));
    if let Some(since) = level.erp_owed_since {
        item.insert("erp_owed_since".into(), n(since.0));
    }
    if let Some(inflight) = &level.erp_inflight {
        item.insert("erp_inflight_key".into(), s(&inflight.key));
        item.insert(
            "erp_inflight".into(),
            s(&serde_json::to_string(inflight).unwrap_or_default()),
        );
    }
    item.insert("erp_seq".into(), n(level.erp_seq));
    item.insert("rev".into(), n(rev));
    item.insert("updated_at".into(), s(&now.to_rfc3339()));
    item
}

fn read_line(item: &Item) -> Result<OrderLine, PortError> {
    Ok(OrderLine {
        order: OrderId(get_n(item, "order")?),
        item: InventoryItemId(get_n(item, "item")?),
        location: LocationId(get_n(item, "location")?),
        open: get_n(item, "open")?,
        version: get_s(item, "version")
            .and_then(|v| Version::from_key(&v))
            .ok_or_else(|| corrupt(item, "no version"))?,
    })
}

fn write_line(key: &LineKey, line: &OrderLine, rev: u64) -> Item {
    let mut item = key_of(&line_pk(key), STATE);
    item.insert("kind".into(), s("line"));
    item.insert("shop".into(), s(key.shop.as_str()));
    item.insert("line".into(), n(key.line));
    item.insert("order".into(), n(line.order));
    item.insert("item".into(), n(line.item));
    item.insert("location".into(), n(line.location));
    item.insert("open".into(), n(line.open));
    item.insert("version".into(), s(&line.version.to_key()));
    item.insert("rev".into(), n(rev));
    item
}

fn read_item_record(item: &Item) -> Result<ItemRecord, PortError> {
    Ok(ItemRecord {
        sku: get_s(item, "sku"),
        tracked: get_bool(item, "tracked"),
        deleted: get_bool(item, "deleted").unwrap_or(false),
        version: get_s(item, "version")
            .and_then(|v| Version::from_key(&v))
            .ok_or_else(|| corrupt(item, "no version"))?,
    })
}

fn write_item_record(shop: &ShopDomain, id: InventoryItemId, r: &ItemRecord, rev: u64) -> Item {
    let mut item = key_of(&item_pk(shop, id), STATE);
    item.insert("kind".into(), s("item"));
    item.insert("shop".into(), s(shop.as_str()));
    item.insert("item".into(), n(id));
    if let Some(sku) = &r.sku {
        item.insert("sku".into(), s(sku));
    }
    if let Some(t) = r.tracked {
        item.insert("tracked".into(), AttributeValue::Bool(t));
    }
    item.insert("deleted".into(), AttributeValue::Bool(r.deleted));
    item.insert("version".into(), s(&r.version.to_key()));
    item.insert("rev".into(), n(rev));
    item
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

fn days_from(now: Timestamp, days: i64) -> AttributeValue {
    n(now.as_secs() + days * 86_400)
}

impl StockStore for DynamoStore {
    async fn applied(&self, keys: &[String]) -> Result<HashSet<String>, PortError> {
        let distinct: HashSet<&String> = keys.iter().collect();
        let request: Vec<Item> = distinct
            .into_iter()
            .map(|k| HashMap::from([("pk".to_string(), s(k))]))
            .collect();
        let found = self.batch_get(&self.tables.idempotency, request).await?;
        Ok(found.iter().filter_map(|i| get_s(i, "pk")).collect())
    }

    async fn load(&self, wanted: &Wanted) -> Result<Loaded, PortError> {
        let mut keys = Vec::new();
        keys.extend(wanted.levels.iter().map(|k| key_of(&level_pk(k), STATE)));
        keys.extend(wanted.lines.iter().map(|k| key_of(&line_pk(k), STATE)));
        keys.extend(
            wanted
                .items
                .iter()
                .map(|(sh, i)| key_of(&item_pk(sh, *i), STATE)),
        );
        keys.extend(
            wanted
                .movements
                .iter()
                .map(|m| key_of(&movement_pk(m), STATE)),
        );
        let mut loaded = Loaded::default();
        for item in self.batch_get(&self.tables.stock, keys).await? {
            let pk = get_s(&item, "pk").unwrap_or_default();
            let rev: u64 = get_n(&item, "rev")?;
            match get_s(&item, "kind").as_deref() {
                Some("level") => {
                    loaded
                        .book
                        .levels
                        .insert(level_key(&item)?, read_level(&item)?);
                }
                Some("line") => {
                    let key = LineKey {
                        shop: ShopDomain::new(&get_s(&item, "shop").unwrap_or_default()),
                        line: LineItemId(get_n(&item, "line")?),
                    };
                    loaded.book.lines.insert(key, read_line(&item)?);
                }
                Some("item") => {
                    let shop = ShopDomain::new(&get_s(&item, "shop").unwrap_or_default());
                    let id = InventoryItemId(get_n(&item, "item")?);
                    loaded
                        .book
                        .items
                        .insert((shop, id), read_item_record(&item)?);
                }
                Some("movement") => {
                    let shop = ShopDomain::new(&get_s(&item, "shop").unwrap_or_default());
                    let key = MovementKey {
                        shop: shop.clone(),
                        id: get_s(&item, "movement").unwrap_or_default(),
                    };
                    let record = MovementRecord {
                        key: StockKey {
                            shop,
                            item: InventoryItemId(get_n(&item, "item")?),
                            location: LocationId(get_n(&item, "location")?),
                        },
                        erp_effect: get_n(&item, "erp_effect")?,
                        version: get_s(&item, "version")
                            .and_then(|v| Version::from_key(&v))
                            .ok_or_else(|| corrupt(&item, "no version"))?,
                    };
                    loaded.book.movements.insert(key, record);
                }
                _ => return Err(corrupt(&item, "unknown kind")),
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
        let next = |pk: &str| -> (Option<u64>, u64) {
            let rev = loaded.revisions.get(pk).copied();
            (rev, rev.map_or(1, |r| r + 1))
        };
        for key in &plan.changed_levels {
            let (expected, rev) = next(&level_pk(key));
            let level = plan.book.level(key);
            actions.push(guarded_put(
                &t.stock,
                write_level(key, &level, rev, now),
                expected,
            )?);
        }
        for key in &plan.changed_lines {
            if let Some(line) = plan.book.lines.get(key) {
                let (expected, rev) = next(&line_pk(key));
                actions.push(guarded_put(&t.stock, write_line(key, line, rev), expected)?);
            }
        }
        for (shop, id) in &plan.changed_items {
            if let Some(record) = plan.book.items.get(&(shop.clone(), *id)) {
                let (expected, rev) = next(&item_pk(shop, *id));
                actions.push(guarded_put(
                    &t.stock,
                    write_item_record(shop, *id, record, rev),
                    expected,
                )?);
            }
        }
        for key in &plan.changed_movements {
            if let Some(m) = plan.book.movements.get(key) {
                let pk = movement_pk(key);
                let (expected, rev) = next(&pk);
                let mut item = key_of(&pk, STATE);
                item.insert("kind".into(), s("movement"));
                item.insert("shop".into(), s(key.shop.as_str()));
                item.insert("movement".into(), s(&key.id));
                item.insert("item".into(), n(m.key.item));
                item.insert("location".into(), n(m.key.location));
                item.insert("erp_effect".into(), n(m.erp_effect));
                item.insert("version".into(), s(&m.version.to_key()));
                item.insert("rev".into(), n(rev));
                actions.push(guarded_put(&t.stock, item, expected)?);
            }
        }
        for (n_entry, entry) in plan.ledger.iter().enumerate() {
            let mut item = key_of(
                &level_pk(&entry.key),
                &format!("LOG#{}#{n_entry:03}", Version::new(now, now).to_key()),
            );
            item.insert("kind".into(), s("log"));
            item.insert("shop".into(), s(entry.key.shop.as_str()));
            item.insert("at".into(), s(&now.to_rfc3339()));
            for (prefix, q) in [("before", entry.before), ("after", entry.after)] {
                item.insert(format!("{prefix}_available"), n(q.available));
                item.insert(format!("{prefix}_committed"), n(q.committed));
                item.insert(format!("{prefix}_on_hand"), n(q.on_hand));
            }
            item.insert(
                "causes".into(),
                s(&serde_json::to_string(&entry.causes).unwrap_or_default()),
            );
            actions.push(plain_put(&t.stock, item)?);
        }
        for (key, outcome) in plan.new_keys() {
            let mut item = HashMap::from([("pk".to_string(), s(key))]);
            item.insert("outcome".into(), s(outcome_name(outcome)));
            item.insert("at".into(), s(&now.to_rfc3339()));
            item.insert("expires_at".into(), days_from(now, IDEMPOTENCY_DAYS));
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
            let mut item = key_of(&format!("PARKED#{}", original.shop), key);
            item.insert("kind".into(), s("parked"));
            item.insert("shop".into(), s(original.shop.as_str()));
            item.insert("missing".into(), s(&unresolved.missing.join(", ")));
            item.insert(
                "parked".into(),
                s(&serde_json::to_string(&parked).unwrap_or_default()),
            );
            actions.push(plain_put(&t.inbox, item)?);
        }
        if actions.is_empty() {
            return Ok(());
        }
        if actions.len() > 100 {
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
        if levels.len() > 100 {
            return Err(PortError::TooLarge(levels.len()));
        }
        let now = Timestamp::now();
        let actions = levels
            .iter()
            .map(|(key, level)| {
                let expected = loaded.revisions.get(&level_pk(key)).copied();
                let rev = expected.map_or(1, |r| r + 1);
                guarded_put(
                    &self.tables.stock,
                    write_level(key, level, rev, now),
                    expected,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.transact(actions).await
    }

    async fn log_corrections(&self, records: &[CorrectionRecord]) -> Result<(), PortError> {
        let mut writes = Vec::with_capacity(records.len());
        for (n_entry, r) in records.iter().enumerate() {
            let key = StockKey {
                shop: r.shop.clone(),
                item: r.correction.item(),
                location: r.correction.location(),
            };
            let mut item = key_of(
                &level_pk(&key),
                &format!("LOG#{}#rc{n_entry:03}", Version::new(r.at, r.at).to_key()),
            );
            item.insert("kind".into(), s("correction"));
            item.insert("shop".into(), s(r.shop.as_str()));
            item.insert("at".into(), s(&r.at.to_rfc3339()));
            item.insert("run".into(), s(&r.run));
            item.insert("side".into(), s(r.correction.side()));
            item.insert("outcome".into(), s(&r.outcome));
            item.insert("reason".into(), s(&r.reason));
            item.insert(
                "correction".into(),
                s(&serde_json::to_string(&r.correction).unwrap_or_default()),
            );
            writes.push(put_request(item)?);
        }
        self.batch_write(&self.tables.stock, writes).await
    }

    async fn redact_shop(&self, shop: &ShopDomain) -> Result<usize, PortError> {
        let mut removed = 0;
        for table in [&self.tables.stock, &self.tables.skumap, &self.tables.inbox] {
            let items = self
                .scan(table, "shop = :s", &[(":s", s(shop.as_str()))])
                .await?;
            let deletes = items
                .iter()
                .map(|i| {
                    let key: Item = i
                        .iter()
                        .filter(|(k, _)| *k == "pk" || *k == "sk")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    Ok(WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(key))
                                .build()
                                .map_err(unavailable)?,
                        )
                        .build())
                })
                .collect::<Result<Vec<_>, PortError>>()?;
            removed += deletes.len();
            self.batch_write(table, deletes).await?;
        }
        let prefix = format!("{shop}:");
        let keys = self
            .scan(
                &self.tables.idempotency,
                "begins_with(pk, :p)",
                &[(":p", s(&prefix))],
            )
            .await?;
        let deletes = keys
            .iter()
            .filter_map(|i| i.get("pk").cloned())
            .map(|pk| {
                Ok(WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .key("pk", pk)
                            .build()
                            .map_err(unavailable)?,
                    )
                    .build())
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        removed += deletes.len();
        self.batch_write(&self.tables.idempotency, deletes).await?;
        Ok(removed)
    }
}

impl DynamoStore {
    /// One TransactWriteItems; a cancelled transaction whose reasons are all condition failures
    /// or conflicts is a [`PortError::Conflict`] (re-read and plan again).
    async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<(), PortError> {
        let keys: Vec<String> = actions
            .iter()
            .map(|a| {
                a.put()
                    .and_then(|p| p.item().get("pk"))
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                TransactWriteItemsError::TransactionCanceledException(c) => {
                    let failed: Vec<(&str, &str)> = c
                        .cancellation_reasons()
                        .iter()
                        .enumerate()
                        .filter_map(|(i, r)| {
                            let code = r.code().filter(|c| *c != "None")?;
                            Some((code, keys.get(i).map_or("", String::as_str)))
                        })
                        .collect();
                    let codes: Vec<&str> = failed.iter().map(|(c, _)| *c).collect();
                    if codes
                        .iter()
                        .all(|c| *c == "ConditionalCheckFailed" || *c == "TransactionConflict")
                    {
                        Err(PortError::Conflict(format!("{failed:?}")))
                    } else {
                        Err(unavailable(format!("transaction cancelled: {codes:?}")))
                    }
                }
                other => Err(unavailable(DisplayErrorContext(other))),
            },
            Err(other) => Err(unavailable(DisplayErrorContext(other))),
        }
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Applied => "applied",
        Outcome::Parked => "parked",
        Outcome::AppliedAndParked => "applied_and_parked",
        Outcome::Duplicate => "duplicate",
    }
}

fn read_mapping(i: &Item) -> Result<ItemMapping, PortError> {
    let uom = UomFactor::new(
        &get_s(i, "shopify_uom").unwrap_or_default(),
        &get_s(i, "erp_uom").unwrap_or_default(),
    )
    .ok_or_else(|| corrupt(i, "unknown unit"))?;
    Ok(ItemMapping {
        shop: ShopDomain::new(&get_s(i, "shop").unwrap_or_default()),
        item: InventoryItemId(get_n(i, "item")?),
        variant: VariantId(get_n(i, "variant")?),
        sku: get_s(i, "sku").unwrap_or_default(),
        erp_item: get_s(i, "erp_item").unwrap_or_default(),
        uom,
    })
}

impl SkuMapStore for DynamoStore {
    async fn lookup(
        &self,
        shop: &ShopDomain,
        items: &[InventoryItemId],
        variants: &[VariantId],
        skus: &[String],
    ) -> Result<SkuMap, PortError> {
        let table = &self.tables.skumap;
        let mut map = SkuMap::default();
        let mut aliases: Vec<Item> = Vec::new();
        let variant_set: HashSet<&VariantId> = variants.iter().collect();
        let sku_set: HashSet<String> = skus.iter().map(|s| s.to_ascii_uppercase()).collect();
        aliases.extend(
            variant_set
                .iter()
                .map(|v| key_of(&format!("VARIANT#{shop}#{v}"), MAP)),
        );
        aliases.extend(
            sku_set
                .iter()
                .map(|k| key_of(&format!("SKU#{shop}#{k}"), MAP)),
        );
        let mut wanted: HashSet<InventoryItemId> = items.iter().copied().collect();
        for alias in self.batch_get(table, aliases).await? {
            let id = InventoryItemId(get_n(&alias, "item")?);
            let pk = get_s(&alias, "pk").unwrap_or_default();
            if let Some(v) = pk.strip_prefix(&format!("VARIANT#{shop}#")) {
                if let Ok(v) = v.parse() {
                    map.by_variant.insert(VariantId(v), id);
                }
            } else if let Some(k) = pk.strip_prefix(&format!("SKU#{shop}#")) {
                map.by_sku.insert(k.to_string(), id);
            }
            wanted.insert(id);
        }
        let keys = wanted
            .iter()
            .map(|id| key_of(&format!("ITEM#{shop}#{id}"), MAP))
            .collect();
        for i in self.batch_get(table, keys).await? {
            let m = read_mapping(&i)?;
            map.items.insert(m.item, m);
        }
        for i in self.query_pk(table, &format!("LOCATIONS#{shop}")).await? {
            let master = match get_s(&i, "master").as_deref() {
                Some("shopify") => Master::Shopify,
                _ => Master::Erp,
            };
            let l = LocationMapping {
                shop: shop.clone(),
                location: LocationId(get_n(&i, "location")?),
                name: get_s(&i, "name").unwrap_or_default(),
                erp_warehouse: get_s(&i, "erp_warehouse").unwrap_or_default(),
                master,
                default: get_bool(&i, "default").unwrap_or(false),
            };
            map.locations.insert(l.location, l);
        }
        Ok(map)
    }

    async fn items_after(
        &self,
        shop: &ShopDomain,
        after: Option<InventoryItemId>,
        limit: usize,
    ) -> Result<Vec<ItemMapping>, PortError> {
        let mut out = Vec::with_capacity(limit);
        let mut start: Option<Item> = None;
        // A page of a Query stops at `limit` items or 1 MB, whichever first; ask again until
        // `limit` mappings are in hand or the listing ends.
        while out.len() < limit {
            let mut query = self
                .client
                .query()
                .table_name(&self.tables.skumap)
                .expression_attribute_values(":pk", s(&items_listing_pk(shop)));
            query = match after {
                Some(after) => query
                    .key_condition_expression("pk = :pk AND sk > :after")
                    .expression_attribute_values(":after", s(&item_sort_key(after))),
                None => query.key_condition_expression("pk = :pk"),
            };
            let resp = query
                .limit((limit - out.len()).min(1000) as i32)
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(e)))?;
            for i in resp.items() {
                out.push(read_mapping(i)?);
            }
            match resp.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn put_items(&self, rows: &[ItemMapping]) -> Result<(), PortError> {
        let mut writes = Vec::with_capacity(rows.len() * 4);
        for m in rows {
            let mut listed = key_of(&items_listing_pk(&m.shop), &item_sort_key(m.item));
            listed.insert("kind".into(), s("item_listing"));
            let mut item = key_of(&format!("ITEM#{}#{}", m.shop, m.item), MAP);
            item.insert("kind".into(), s("item_map"));
            item.insert("shop".into(), s(m.shop.as_str()));
            item.insert("item".into(), n(m.item));
            item.insert("variant".into(), n(m.variant));
            item.insert("sku".into(), s(&m.sku));
            item.insert("erp_item".into(), s(&m.erp_item));
            item.insert("shopify_uom".into(), s(&m.uom.shopify_uom));
            item.insert("erp_uom".into(), s(&m.uom.erp_uom));
            let alias = |pk: String| {
                let mut a = key_of(&pk, MAP);
                a.insert("kind".into(), s("alias"));
                a.insert("shop".into(), s(m.shop.as_str()));
                a.insert("item".into(), n(m.item));
                a
            };
            for (name, value) in &item {
                if name != "pk" && name != "sk" && name != "kind" {
                    listed.insert(name.clone(), value.clone());
                }
            }
            for it in [
                item,
                listed,
                alias(format!("VARIANT#{}#{}", m.shop, m.variant)),
                alias(format!("SKU#{}#{}", m.shop, m.sku.to_ascii_uppercase())),
            ] {
                writes.push(
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(it))
                                .build()
                                .map_err(unavailable)?,
                        )
                        .build(),
                );
            }
        }
        self.batch_write(&self.tables.skumap, writes).await
    }

    async fn put_locations(&self, rows: &[LocationMapping]) -> Result<(), PortError> {
        let mut writes = Vec::with_capacity(rows.len());
        for l in rows {
            let mut item = key_of(&format!("LOCATIONS#{}", l.shop), &l.location.to_string());
            item.insert("kind".into(), s("location_map"));
            item.insert("shop".into(), s(l.shop.as_str()));
            item.insert("location".into(), n(l.location));
            item.insert("name".into(), s(&l.name));
            item.insert("erp_warehouse".into(), s(&l.erp_warehouse));
            item.insert(
                "master".into(),
                s(match l.master {
                    Master::Erp => "erp",
                    Master::Shopify => "shopify",
                }),
            );
            item.insert("default".into(), AttributeValue::Bool(l.default));
            writes.push(
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .map_err(unavailable)?,
                    )
                    .build(),
            );
        }
        self.batch_write(&self.tables.skumap, writes).await
    }
}

impl Inbox for DynamoStore {
    async fn quarantine(&self, entry: &QuarantineEntry) -> Result<(), PortError> {
        let sk = format!(
            "{}#{}",
            Version::new(entry.received_at, entry.received_at).to_key(),
            entry.webhook_id
        );
        let mut item = key_of(&format!("QUARANTINE#{}", entry.shop), &sk);
        item.insert("kind".into(), s("quarantine"));
        item.insert("shop".into(), s(entry.shop.as_str()));
        item.insert("code".into(), s(&entry.code));
        item.insert("topic".into(), s(&entry.topic));
        item.insert(
            "entry".into(),
            s(&serde_json::to_string(entry).unwrap_or_default()),
        );
        if !entry.redacted {
            item.insert(
                "expires_at".into(),
                days_from(entry.received_at, RAW_QUARANTINE_DAYS),
            );
        }
        self.put_inbox(item).await
    }

    async fn list_quarantine(&self, shop: &ShopDomain) -> Result<Vec<QuarantineEntry>, PortError> {
        self.query_pk(&self.tables.inbox, &format!("QUARANTINE#{shop}"))
            .await?
            .iter()
            .map(|i| {
                serde_json::from_str(&get_s(i, "entry").unwrap_or_default())
                    .map_err(|e| corrupt(i, &e.to_string()))
            })
            .collect()
    }

    async fn remove_quarantine(&self, entry: &QuarantineEntry) -> Result<(), PortError> {
        let sk = format!(
            "{}#{}",
            Version::new(entry.received_at, entry.received_at).to_key(),
            entry.webhook_id
        );
        self.client
            .delete_item()
            .table_name(&self.tables.inbox)
            .set_key(Some(key_of(&format!("QUARANTINE#{}", entry.shop), &sk)))
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(e)))?;
        Ok(())
    }

    async fn list_parked(&self, shop: &ShopDomain) -> Result<Vec<ParkedEvent>, PortError> {
        self.query_pk(&self.tables.inbox, &format!("PARKED#{shop}"))
            .await?
            .iter()
            .map(|i| {
                serde_json::from_str(&get_s(i, "parked").unwrap_or_default())
                    .map_err(|e| corrupt(i, &e.to_string()))
            })
            .collect()
    }

    async fn put_report(
        &self,
        shop: &ShopDomain,
        run: &str,
        report: &str,
    ) -> Result<(), PortError> {
        let now = Timestamp::now();
        let mut item = key_of(&format!("REPORT#{shop}"), run);
        item.insert("kind".into(), s("reconcile_report"));
        item.insert("shop".into(), s(shop.as_str()));
        item.insert("at".into(), s(&now.to_rfc3339()));
        item.insert("report".into(), s(report));
        item.insert("expires_at".into(), days_from(now, REPORT_DAYS));
        self.put_inbox(item).await
    }

    async fn reports(&self, shop: &ShopDomain, limit: usize) -> Result<Vec<String>, PortError> {
        let resp = self
            .client
            .query()
            .table_name(&self.tables.inbox)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&format!("REPORT#{shop}")))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 100) as i32)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(e)))?;
        Ok(resp
            .items()
            .iter()
            .filter_map(|i| get_s(i, "report"))
            .collect())
    }

    async fn remove_parked(&self, shop: &ShopDomain, key: &str) -> Result<bool, PortError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.inbox)
            .set_key(Some(key_of(&format!("PARKED#{shop}"), key)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(unavailable(DisplayErrorContext(e))),
        }
    }
}
