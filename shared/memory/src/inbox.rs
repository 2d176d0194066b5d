//! `Inbox` for [`MemoryStore`], keyed as the DynamoDB adapter keys its inbox table: quarantined
//! deliveries by shop, receipt time and webhook id (so a delivery quarantined twice is one
//! entry, listed oldest first); parked events by shop and event key (`remove_parked` answers
//! whether it was still there); reconciliation reports by shop and run, listed newest run first,
//! at least one and at most 100.

use stockbridge_core::ports::{Inbox, ParkedEvent, PortError, QuarantineEntry};
use stockbridge_domain::ids::{ShopDomain, Version};

use crate::store::{MemoryStore, StoreOp};

fn quarantine_key(entry: &QuarantineEntry) -> (ShopDomain, String) {
    let at = Version::new(entry.received_at, entry.received_at).to_key();
    (entry.shop.clone(), format!("{at}#{}", entry.webhook_id))
}

impl Inbox for MemoryStore {
    async fn quarantine(&self, entry: &QuarantineEntry) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::Quarantine).await?;
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
