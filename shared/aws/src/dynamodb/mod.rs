//! DynamoDB adapter: [`DynamoStore`] implements the stock, SKU map and inbox ports of
//! `stockbridge-core` over four tables (layout in `docs/DATA.md`).
//!
//! Every write a batch needs goes in one `TransactWriteItems`: stock records and order lines with a
//! revision condition (optimistic concurrency), idempotency records with `attribute_not_exists`,
//! log entries and parked events. A lost race surfaces as [`PortError::Conflict`] and the
//! consumer plans again from fresh reads.
//!
//! This module owns the store, its table names, the paged and batched calls every port shares
//! and the mapping of SDK failures to [`PortError`]. The rest is one file per job:
//! - `keys`: the table key layout (the only place a key format is written);
//! - `codec`: domain records to items and back (a stored record it cannot read is
//!   [`PortError::Corrupt`]);
//! - `stock`, `skumap`, `inbox`: the [`StockStore`](stockbridge_core::ports::StockStore),
//!   [`SkuMapStore`](stockbridge_core::ports::SkuMapStore) and
//!   [`Inbox`](stockbridge_core::ports::Inbox) implementations.
//! - `two_way`: the ERP feed's cursors, the ERP records and the look-up by ERP item with the
//!   storefront settings ([`FeedCursorStore`](stockbridge_core::ports::FeedCursorStore),
//!   [`ErpRecords`](stockbridge_core::ports::ErpRecords),
//!   [`StorefrontMap`](stockbridge_core::ports::StorefrontMap)).
//! - `redact`: `shop/redact` page by page (a `Scan` page per step from `ExclusiveStartKey`,
//!   `BatchWriteItem` deletes) and its progress record.
//!
//! SDK failures: DynamoDB refusing the request itself (`ValidationException`, e.g. a key over
//! 2 KB) is [`PortError::Refused`], never retried; anything else is [`PortError::Unavailable`].

use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;

use stockbridge_core::config::{required_env, ConfigError};
use stockbridge_core::ports::PortError;

mod backfill;
mod codec;
mod failures;
mod inbox;
mod keys;
mod latency;
mod lock;
mod redact;
mod report_history;
mod skumap;
mod stock;
mod two_way;

pub use keys::level_pk;

use codec::{s, Item};

/// Most keys one `BatchGetItem` takes.
const BATCH_GET_KEYS: usize = 100;
/// Most requests one `BatchWriteItem` takes.
const BATCH_WRITE_REQUESTS: usize = 25;
/// Tries of a batch call before keys or writes DynamoDB left unprocessed are an error.
const BATCH_TRIES: u32 = 8;

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

/// The stock, SKU map and inbox stores over one DynamoDB client.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    tables: Tables,
    /// Where quarantined bodies too large for an inbox record go, and the entries' retention.
    quarantine: crate::s3::QuarantineSettings,
}

impl DynamoStore {
    pub fn new(client: Client, tables: Tables) -> Self {
        DynamoStore {
            client,
            tables,
            quarantine: Default::default(),
        }
    }

    /// The same store, keeping large quarantined bodies and expiring quarantine entries as
    /// `quarantine` says (the webhook, and the CLI's replay).
    pub fn with_quarantine(mut self, quarantine: crate::s3::QuarantineSettings) -> Self {
        self.quarantine = quarantine;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Every item of `table` that passes `filter`, all pages (a scan: operator tooling only).
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
            out.push(item.map_err(sdk_unavailable)?);
        }
        Ok(out)
    }

    /// Every item of one partition whose sort key begins with `sk_prefix` (all of it when
    /// `None`), in sort key order, all pages.
    async fn query_partition(
        &self,
        table: &str,
        pk: &str,
        sk_prefix: Option<&str>,
    ) -> Result<Vec<Item>, PortError> {
        let query = self
            .client
            .query()
            .table_name(table)
            .expression_attribute_values(":pk", s(pk));
        let query = match sk_prefix {
            Some(prefix) => query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix)),
            None => query.key_condition_expression("pk = :pk"),
        };
        let mut pages = query.into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(sdk_unavailable)?);
        }
        Ok(out)
    }

    /// BatchGetItem over any number of keys, retrying unprocessed keys with backoff.
    async fn batch_get(&self, table: &str, keys: Vec<Item>) -> Result<Vec<Item>, PortError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(BATCH_GET_KEYS) {
            let mut pending = chunk.to_vec();
            for attempt in 0..BATCH_TRIES {
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
                    .map_err(sdk_unavailable)?;
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
                if attempt + 1 == BATCH_TRIES {
                    return Err(unavailable(format!(
                        "DynamoDB left keys unprocessed after {BATCH_TRIES} tries"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
        }
        Ok(out)
    }

    /// BatchWriteItem over any number of requests, retrying unprocessed ones with backoff.
    async fn batch_write(&self, table: &str, requests: Vec<WriteRequest>) -> Result<(), PortError> {
        for chunk in requests.chunks(BATCH_WRITE_REQUESTS) {
            let mut pending = chunk.to_vec();
            for attempt in 0..BATCH_TRIES {
                let resp = self
                    .client
                    .batch_write_item()
                    .request_items(table, pending.clone())
                    .send()
                    .await
                    .map_err(sdk_unavailable)?;
                pending = resp
                    .unprocessed_items()
                    .and_then(|u| u.get(table))
                    .cloned()
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt + 1 == BATCH_TRIES {
                    return Err(unavailable(format!(
                        "DynamoDB left writes unprocessed after {BATCH_TRIES} tries"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
        }
        Ok(())
    }

    /// One TransactWriteItems; a cancelled transaction whose reasons are all condition failures
    /// or conflicts is a [`PortError::Conflict`] (re-read and plan again).
    async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<(), PortError> {
        let keys: Vec<String> = actions
            .iter()
            .map(|a| {
                a.put()
                    .and_then(|p| p.item().get(keys::PK))
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
                    } else if codes.contains(&"ValidationError") {
                        Err(refused_by(format!("transaction cancelled: {codes:?}")))
                    } else {
                        Err(unavailable(format!("transaction cancelled: {codes:?}")))
                    }
                }
                other if other.code().is_some_and(|c| REFUSALS.contains(&c)) => {
                    Err(refused_by(DisplayErrorContext(other)))
                }
                other => Err(unavailable(DisplayErrorContext(other))),
            },
            Err(other) => Err(sdk_unavailable(other)),
        }
    }
}

/// A put of a whole item in a BatchWriteItem.
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

/// A delete by key in a BatchWriteItem.
fn delete_request(key: Item) -> Result<WriteRequest, PortError> {
    Ok(WriteRequest::builder()
        .delete_request(
            DeleteRequest::builder()
                .set_key(Some(key))
                .build()
                .map_err(unavailable)?,
        )
        .build())
}

/// DynamoDB failed or could not be reached: the caller retries later.
fn unavailable(e: impl std::fmt::Display) -> PortError {
    PortError::Unavailable {
        service: "DynamoDB",
        detail: e.to_string(),
    }
}

/// Error codes with which DynamoDB refuses a request itself: sent again, it fails the same way.
const REFUSALS: [&str; 2] = ["ValidationException", "SerializationException"];

/// An SDK call's failure, with its full context (service code, request id, cause):
/// [`PortError::Refused`] when DynamoDB refused the request itself ([`REFUSALS`]: a key over
/// its size limit, an item over 400 KB), else [`PortError::Unavailable`] (throttling, a
/// failure, no answer, and also a missing table or permission, which a deployment fixes).
fn sdk_unavailable<E, R>(e: SdkError<E, R>) -> PortError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let refused = matches!(&e, SdkError::ServiceError(s) if s.err().code().is_some_and(|c| REFUSALS.contains(&c)));
    if refused {
        refused_by(DisplayErrorContext(e))
    } else {
        unavailable(DisplayErrorContext(e))
    }
}

/// DynamoDB refused the request itself.
fn refused_by(e: impl std::fmt::Display) -> PortError {
    PortError::Refused {
        service: "DynamoDB",
        detail: e.to_string(),
    }
}
