//! `shop/redact` page by page over the four tables, and its progress record.
//!
//! A step is one `Scan` page (`Limit` = the page size, from the cursor's `ExclusiveStartKey`)
//! of one table, filtered to the shop's records (`shop = :s`; in the idempotency table, event
//! keys beginning `<shop>:`), whose keys are deleted with `BatchWriteItem` (unprocessed items
//! retried). Tables are read in turn: stock, SKU map, inbox, idempotency. The cursor is JSON:
//! the table being read and the key of the last item the page evaluated, exactly as DynamoDB's
//! `LastEvaluatedKey` gave it (`{"table":"stock","after":{"pk":"…","sk":"…"}}`).
//!
//! The progress record (`REDACT#<shop>` / `PROGRESS` in the inbox table) carries no `shop`
//! attribute, so the redaction it describes never deletes it: `redacted_shop`, `kind`,
//! `updated_at` and `progress` (the JSON of [`RedactProgress`]).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use stockbridge_core::ports::{PortError, RedactProgress, RedactStep};
use stockbridge_domain::event::RedactCursor;
use stockbridge_domain::ids::ShopDomain;

use super::codec::{s, Item};
use super::keys::{self, PK, PROGRESS, SK};
use super::{delete_request, sdk_unavailable, DynamoStore};

/// The tables in the order a redaction reads them.
const TABLES: [&str; 4] = ["stock", "skumap", "inbox", "idempotency"];

/// `kind` of a progress record.
const KIND: &str = "redact_progress";

/// The cursor as stored: a table of [`TABLES`] and, within it, the key to start after.
#[derive(serde::Serialize, serde::Deserialize)]
struct Position {
    table: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    after: BTreeMap<String, String>,
}

fn corrupt_cursor(detail: String) -> PortError {
    PortError::Corrupt {
        key: "redaction cursor".into(),
        detail,
    }
}

fn read_cursor(cursor: &RedactCursor) -> Result<(usize, Option<Item>), PortError> {
    let position: Position =
        serde_json::from_str(&cursor.0).map_err(|e| corrupt_cursor(e.to_string()))?;
    let table = TABLES
        .iter()
        .position(|t| *t == position.table)
        .ok_or_else(|| corrupt_cursor(format!("unknown table {:?}", position.table)))?;
    let after = (!position.after.is_empty()).then(|| {
        position
            .after
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect::<Item>()
    });
    Ok((table, after))
}

fn write_cursor(table: usize, after: Option<&HashMap<String, AttributeValue>>) -> RedactCursor {
    let after = after
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
        .collect();
    let position = Position {
        table: TABLES[table].to_string(),
        after,
    };
    // Plain strings: serialising cannot fail.
    RedactCursor(serde_json::to_string(&position).unwrap_or_default())
}

impl DynamoStore {
    /// One redaction step (see the module documentation).
    pub(super) async fn redact_step(
        &self,
        shop: &ShopDomain,
        from: Option<&RedactCursor>,
        page: usize,
    ) -> Result<RedactStep, PortError> {
        let (table_no, start) = match from {
            Some(cursor) => read_cursor(cursor)?,
            None => (0, None),
        };
        let t = &self.tables;
        let (table, filter, value) = match table_no {
            0 => (&t.stock, "shop = :v", shop.as_str().to_string()),
            1 => (&t.skumap, "shop = :v", shop.as_str().to_string()),
            2 => (&t.inbox, "shop = :v", shop.as_str().to_string()),
            _ => (
                &t.idempotency,
                "begins_with(pk, :v)",
                keys::idempotency_prefix(shop),
            ),
        };
        let limit = i32::try_from(page.max(1)).unwrap_or(i32::MAX);
        let resp = self
            .client
            .scan()
            .table_name(table)
            .filter_expression(filter)
            .expression_attribute_values(":v", s(&value))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_unavailable)?;
        let deletes = resp
            .items()
            .iter()
            .map(|i| {
                let key: Item = i
                    .iter()
                    .filter(|(k, _)| *k == PK || *k == SK)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                delete_request(key)
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        let deleted = deletes.len();
        self.batch_write(table, deletes).await?;
        let next = match resp.last_evaluated_key() {
            Some(after) if !after.is_empty() => Some(write_cursor(table_no, Some(after))),
            _ if table_no + 1 < TABLES.len() => Some(write_cursor(table_no + 1, None)),
            _ => None,
        };
        Ok(RedactStep { deleted, next })
    }

    pub(super) async fn read_redact_progress(
        &self,
        shop: &ShopDomain,
    ) -> Result<Option<RedactProgress>, PortError> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.tables.inbox)
            .set_key(Some(keys::key(&keys::redact_pk(shop), PROGRESS)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_unavailable)?;
        let Some(item) = resp.item() else {
            return Ok(None);
        };
        let key = keys::redact_pk(shop);
        let text = item
            .get("progress")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| PortError::Corrupt {
                key: key.clone(),
                detail: "no progress attribute".into(),
            })?;
        serde_json::from_str(text)
            .map(Some)
            .map_err(|e| PortError::Corrupt {
                key,
                detail: format!("progress is not a redaction progress record: {e}"),
            })
    }

    pub(super) async fn write_redact_progress(
        &self,
        progress: &RedactProgress,
    ) -> Result<(), PortError> {
        let mut item = keys::key(&keys::redact_pk(&progress.shop), PROGRESS);
        item.insert("kind".into(), s(KIND));
        item.insert("redacted_shop".into(), s(progress.shop.as_str()));
        item.insert(
            "updated_at".into(),
            AttributeValue::N(progress.updated_at.0.to_string()),
        );
        let json = serde_json::to_string(progress).map_err(|e| PortError::Unavailable {
            service: "DynamoDB",
            detail: format!("redaction progress not serialisable: {e}"),
        })?;
        item.insert("progress".into(), s(&json));
        self.put_inbox(item).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_written_and_a_foreign_one_is_refused() {
        let after = HashMap::from([
            ("pk".to_string(), AttributeValue::S("LEVEL#a#1#2".into())),
            ("sk".to_string(), AttributeValue::S("STATE".into())),
        ]);
        let cursor = write_cursor(2, Some(&after));
        let (table, start) = read_cursor(&cursor).unwrap();
        assert_eq!(table, 2);
        assert_eq!(start.unwrap(), after);
        let (table, start) = read_cursor(&write_cursor(3, None)).unwrap();
        assert_eq!((table, start), (3, None));
        for bad in ["", "{}", r#"{"table":"elsewhere"}"#] {
            assert!(matches!(
                read_cursor(&RedactCursor(bad.into())),
                Err(PortError::Corrupt { .. })
            ));
        }
    }
}
