//! [`Inbox`] over the inbox table: quarantined deliveries, parked events (written by the stock
//! commit, listed and removed here) and reconciliation reports. Quarantined entries expire after
//! the quarantine's retention (`QuarantineSettings::retention_days`, a TTL on the record); a
//! body too large for the record is kept by the store's [`BodyStore`] (S3), which
//! [`DynamoStore`] hands on to, so the webhook's inbox is one value.

use aws_sdk_dynamodb::error::SdkError;

use stockbridge_core::ports::{BodyRef, BodyStore, Inbox, ParkedEvent, PortError, QuarantineEntry};
use stockbridge_domain::ids::{ShopDomain, Timestamp};

use super::codec::{self, s, Item};
use super::keys;
use super::{sdk_unavailable, DynamoStore};

/// Most reports one call returns.
const REPORTS_MAX: usize = 100;

impl DynamoStore {
    /// Puts one record into the inbox table (unconditionally).
    pub(super) async fn put_inbox(&self, item: Item) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.tables.inbox)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_unavailable)?;
        Ok(())
    }
}

impl DynamoStore {
    fn bodies(&self) -> Result<&crate::s3::S3Bodies, PortError> {
        self.quarantine
            .bodies
            .as_ref()
            .ok_or_else(|| PortError::Unavailable {
                service: "S3",
                detail: "no quarantine bucket configured: set QUARANTINE_BUCKET".into(),
            })
    }
}

impl BodyStore for DynamoStore {
    async fn put_body(
        &self,
        shop: &ShopDomain,
        sha256: &str,
        body: &[u8],
    ) -> Result<BodyRef, PortError> {
        self.bodies()?.put_body(shop, sha256, body).await
    }

    async fn get_body(&self, at: &BodyRef) -> Result<Vec<u8>, PortError> {
        self.bodies()?.get_body(at).await
    }

    async fn delete_body(&self, at: &BodyRef) -> Result<(), PortError> {
        self.bodies()?.delete_body(at).await
    }
}

impl Inbox for DynamoStore {
    async fn quarantine(&self, entry: &QuarantineEntry) -> Result<(), PortError> {
        let item = codec::write_quarantine(entry, self.quarantine.retention_days);
        self.put_inbox(item).await
    }

    async fn list_quarantine(&self, shop: &ShopDomain) -> Result<Vec<QuarantineEntry>, PortError> {
        self.query_partition(&self.tables.inbox, &keys::quarantine_pk(shop), None)
            .await?
            .iter()
            .map(codec::read_quarantine)
            .collect()
    }

    async fn remove_quarantine(&self, entry: &QuarantineEntry) -> Result<(), PortError> {
        let pk = keys::quarantine_pk(&entry.shop);
        let sk = keys::quarantine_sk(entry.received_at, &entry.webhook_id);
        self.client
            .delete_item()
            .table_name(&self.tables.inbox)
            .set_key(Some(keys::key(&pk, &sk)))
            .send()
            .await
            .map_err(sdk_unavailable)?;
        Ok(())
    }

    async fn list_parked(&self, shop: &ShopDomain) -> Result<Vec<ParkedEvent>, PortError> {
        self.query_partition(&self.tables.inbox, &keys::parked_pk(shop), None)
            .await?
            .iter()
            .map(codec::read_parked)
            .collect()
    }

    async fn put_report(
        &self,
        shop: &ShopDomain,
        run: &str,
        report: &str,
    ) -> Result<(), PortError> {
        let item = codec::write_report(shop, run, report, Timestamp::now());
        self.put_inbox(item).await
    }

    async fn reports(&self, shop: &ShopDomain, limit: usize) -> Result<Vec<String>, PortError> {
        let resp = self
            .client
            .query()
            .table_name(&self.tables.inbox)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&keys::report_pk(shop)))
            .scan_index_forward(false)
            .limit(limit.clamp(1, REPORTS_MAX) as i32)
            .send()
            .await
            .map_err(sdk_unavailable)?;
        resp.items().iter().map(codec::read_report).collect()
    }

    async fn remove_parked(&self, shop: &ShopDomain, key: &str) -> Result<bool, PortError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.inbox)
            .set_key(Some(keys::key(&keys::parked_pk(shop), key)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(sdk_unavailable(e)),
        }
    }
}
