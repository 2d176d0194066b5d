//! [`FailureLog`] over the inbox table: one record per failed queue message
//! (`FAILURE#<message id>`, sort key `FAILURE`), the latest failure as JSON, with the shop (so a
//! shop's redaction deletes it) and a TTL of the dead-letter queue's retention, 14 days
//! (`docs/DATA.md`).

use std::collections::HashMap;

use stockbridge_core::ports::{FailureLog, FailureRecord, PortError};

use super::codec::attr::{days_from, json, req_json};
use super::codec::s;
use super::{keys, sdk_unavailable, DynamoStore};

const KIND: &str = "consumer_failure";
/// The events dead-letter queue's retention (`MessageRetentionPeriod`, 1,209,600 s).
const FAILURE_DAYS: i64 = 14;

impl FailureLog for DynamoStore {
    async fn record_failures(&self, records: &[FailureRecord]) -> Result<(), PortError> {
        for r in records {
            let mut item = keys::key(&keys::failure_pk(&r.message_id), keys::FAILURE);
            item.insert("kind".into(), s(KIND));
            if let Some(shop) = &r.shop {
                item.insert("shop".into(), s(shop.as_str()));
            }
            item.insert("failure".into(), json(r));
            item.insert("expires_at".into(), days_from(r.at, FAILURE_DAYS));
            self.put_inbox(item).await?;
        }
        Ok(())
    }

    async fn failures(
        &self,
        message_ids: &[String],
    ) -> Result<HashMap<String, FailureRecord>, PortError> {
        let mut found = HashMap::new();
        for id in message_ids {
            let resp = self
                .client
                .get_item()
                .table_name(&self.tables.inbox)
                .set_key(Some(keys::key(&keys::failure_pk(id), keys::FAILURE)))
                .send()
                .await
                .map_err(sdk_unavailable)?;
            if let Some(item) = resp.item() {
                let record: FailureRecord = req_json(item, "failure")?;
                found.insert(id.clone(), record);
            }
        }
        Ok(found)
    }
}
