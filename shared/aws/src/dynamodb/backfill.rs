//! [`BackfillCheckpoints`] over the inbox table: one record per shop and location
//! (`BACKFILL#<shop>`, sort key the location id), the checkpoint as JSON (`docs/DATA.md`).

use aws_sdk_dynamodb::types::AttributeValue;

use stockbridge_core::ports::{BackfillCheckpoint, BackfillCheckpoints, PortError};
use stockbridge_domain::ids::ShopDomain;

use super::codec::s;
use super::{keys, sdk_unavailable, DynamoStore};

const KIND: &str = "backfill_checkpoint";

impl BackfillCheckpoints for DynamoStore {
    async fn checkpoints(&self, shop: &ShopDomain) -> Result<Vec<BackfillCheckpoint>, PortError> {
        let pk = keys::backfill_pk(shop);
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.tables.inbox)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_unavailable)?;
            for item in resp.items() {
                let text = item
                    .get("checkpoint")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| PortError::Corrupt {
                        key: pk.clone(),
                        detail: "a backfill record without its checkpoint attribute".into(),
                    })?;
                found.push(serde_json::from_str(text).map_err(|e| PortError::Corrupt {
                    key: pk.clone(),
                    detail: format!("checkpoint is not a backfill checkpoint: {e}"),
                })?);
            }
            start = resp.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    async fn put_checkpoint(&self, checkpoint: &BackfillCheckpoint) -> Result<(), PortError> {
        let mut item = keys::key(
            &keys::backfill_pk(&checkpoint.shop),
            &keys::location_sk(checkpoint.location),
        );
        item.insert("kind".into(), s(KIND));
        item.insert("shop".into(), s(checkpoint.shop.as_str()));
        item.insert(
            "updated_at".into(),
            AttributeValue::N(checkpoint.updated_at.0.to_string()),
        );
        let json = serde_json::to_string(checkpoint).map_err(|e| PortError::Unavailable {
            service: "DynamoDB",
            detail: format!("backfill checkpoint not serialisable: {e}"),
        })?;
        item.insert("checkpoint".into(), s(&json));
        self.put_inbox(item).await
    }
}
