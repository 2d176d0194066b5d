//! `Inbox` and `BodyStore` for [`MemoryStore`], keyed as the DynamoDB and S3 adapters key
//! them: quarantined deliveries by shop, receipt time and webhook id (so a delivery quarantined
//! twice is one entry, listed oldest first), refused like DynamoDB refuses an item over 400 KB;
//! bodies by shop and SHA-256; parked events by shop and event key (`remove_parked` answers
//! whether it was still there); reconciliation reports by shop and run, listed newest run first,
//! at least one and at most 100; the consumer's failure records by message id, the latest kept.

use stockbridge_core::ports::{BodyRef, BodyStore, Inbox, ParkedEvent, PortError, QuarantineEntry};
use stockbridge_domain::ids::{ShopDomain, Version};

use crate::store::{MemoryStore, StoreOp};

/// DynamoDB's largest item.
const ITEM_LIMIT_BYTES: usize = 400 * 1024;
/// The bucket name the in-memory body store reports.
const BUCKET: &str = "memory-quarantine";

fn quarantine_key(entry: &QuarantineEntry) -> (ShopDomain, String) {
    let at = Version::new(entry.received_at, entry.received_at).to_key();
    (entry.shop.clone(), format!("{at}#{}", entry.webhook_id))
}

impl MemoryStore {
    /// A kept body, by its key.
    pub fn body(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().bodies.get(key).cloned()
    }

    /// How many bodies the body store holds.
    pub fn body_count(&self) -> usize {
        self.lock().bodies.len()
    }
}

impl BodyStore for MemoryStore {
    async fn put_body(
        &self,
        shop: &ShopDomain,
        sha256: &str,
        body: &[u8],
    ) -> Result<BodyRef, PortError> {
        let lost = self.enter(StoreOp::PutBody).await?;
        let key = format!("{shop}/{sha256}");
        self.lock().bodies.insert(key.clone(), body.to_vec());
        let at = BodyRef {
            bucket: BUCKET.into(),
            key,
            size: body.len() as u64,
            sha256: sha256.into(),
        };
        Self::finish(StoreOp::PutBody, lost, Ok(at))
    }

    async fn get_body(&self, at: &BodyRef) -> Result<Vec<u8>, PortError> {
        let lost = self.enter(StoreOp::GetBody).await?;
        let body = self.body(&at.key).ok_or_else(|| PortError::Corrupt {
            key: format!("{}/{}", at.bucket, at.key),
            detail: "the body is gone (expired or deleted)".into(),
        });
        Self::finish(StoreOp::GetBody, lost, body)
    }

    async fn delete_body(&self, at: &BodyRef) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::DeleteBody).await?;
        self.lock().bodies.remove(&at.key);
        Self::finish(StoreOp::DeleteBody, lost, Ok(()))
    }
}

impl Inbox for MemoryStore {
    async fn quarantine(&self, entry: &QuarantineEntry) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::Quarantine).await?;
        let size = serde_json::to_string(entry).map_or(0, |t| t.len());
        if size > ITEM_LIMIT_BYTES {
            return Err(PortError::Refused {
                service: "memory store",
                detail: format!("item of {size} bytes is over DynamoDB's 400 KB"),
            });
        }
        self.lock()
            .quarantine
            .insert(quarantine_key(entry), entry.clone());
        Self::finish(StoreOp::Quarantine, lost, Ok(()))
    }

    async fn list_quarantine(&self, shop: &ShopDomain) -> Result<Vec<QuarantineEntry>, PortError> {
        let lost = self.enter(StoreOp::ListQuarantine).await?;
        let listed = self.quarantined(shop);
        Self::finish(StoreOp::ListQuarantine, lost, Ok(listed))
    }

    async fn remove_quarantine(&self, entry: &QuarantineEntry) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::RemoveQuarantine).await?;
        self.lock().quarantine.remove(&quarantine_key(entry));
        Self::finish(StoreOp::RemoveQuarantine, lost, Ok(()))
    }

    async fn list_parked(&self, shop: &ShopDomain) -> Result<Vec<ParkedEvent>, PortError> {
        let lost = self.enter(StoreOp::ListParked).await?;
        let listed = self.parked(shop);
        Self::finish(StoreOp::ListParked, lost, Ok(listed))
    }

    async fn remove_parked(&self, shop: &ShopDomain, key: &str) -> Result<bool, PortError> {
        let lost = self.enter(StoreOp::RemoveParked).await?;
        let removed = self
            .lock()
            .parked
            .remove(&(shop.clone(), key.to_string()))
            .is_some();
        Self::finish(StoreOp::RemoveParked, lost, Ok(removed))
    }

    async fn put_report(
        &self,
        shop: &ShopDomain,
        run: &str,
        report: &str,
    ) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::PutReport).await?;
        self.lock()
            .reports
            .insert((shop.clone(), run.to_string()), report.to_string());
        Self::finish(StoreOp::PutReport, lost, Ok(()))
    }

    async fn reports(&self, shop: &ShopDomain, limit: usize) -> Result<Vec<String>, PortError> {
        let lost = self.enter(StoreOp::Reports).await?;
        let s = self.lock();
        let newest: Vec<String> = s
            .reports
            .iter()
            .rev()
            .filter(|((sh, _), _)| sh == shop)
            .take(limit.clamp(1, 100))
            .map(|(_, r)| r.clone())
            .collect();
        Self::finish(StoreOp::Reports, lost, Ok(newest))
    }
}

impl stockbridge_core::ports::FailureLog for MemoryStore {
    async fn record_failures(
        &self,
        records: &[stockbridge_core::ports::FailureRecord],
    ) -> Result<(), PortError> {
        let mut state = self.lock();
        for r in records {
            state.failures.insert(r.message_id.clone(), r.clone());
        }
        Ok(())
    }

    async fn failures(
        &self,
        message_ids: &[String],
    ) -> Result<std::collections::HashMap<String, stockbridge_core::ports::FailureRecord>, PortError>
    {
        let state = self.lock();
        Ok(message_ids
            .iter()
            .filter_map(|id| state.failures.get(id).map(|r| (id.clone(), r.clone())))
            .collect())
    }
}
