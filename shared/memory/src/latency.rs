//! `LatencyDigest` for [`MemoryStore`]: per shop and hour, the counts added so far (added up as
//! DynamoDB's `ADD` adds them), read back by hour range, oldest first.

use stockbridge_core::ports::{HourDigest, LatencyDigest, PortError};
use stockbridge_domain::ids::ShopDomain;

use crate::store::{MemoryStore, StoreOp};

impl LatencyDigest for MemoryStore {
    async fn add_latency(&self, shop: &ShopDomain, digest: &HourDigest) -> Result<(), PortError> {
        let lost = self.enter(StoreOp::AddLatency).await?;
        {
            let mut s = self.lock();
            let row = s
                .latency
                .entry((shop.clone(), digest.hour.clone()))
                .or_insert_with(|| HourDigest {
                    hour: digest.hour.clone(),
                    ..HourDigest::default()
                });
            row.applied.add(&digest.applied);
            row.erp.add(&digest.erp);
        }
        Self::finish(StoreOp::AddLatency, lost, Ok(()))
    }

    async fn read_latency(
        &self,
        shop: &ShopDomain,
        from_hour: &str,
        to_hour: &str,
    ) -> Result<Vec<HourDigest>, PortError> {
        let lost = self.enter(StoreOp::ReadLatency).await?;
        let rows = self
            .lock()
            .latency
            .iter()
            .filter(|((s, hour), _)| {
                s == shop && hour.as_str() >= from_hour && hour.as_str() <= to_hour
            })
            .map(|(_, row)| row.clone())
            .collect();
        Self::finish(StoreOp::ReadLatency, lost, Ok(rows))
    }
}
