//! [`RunLock`] on the inbox table: one item per job (`LOCK#<job>`), taken with a conditional put
//! (absent, or its lease ran out) and given back with a conditional delete (still ours).

use aws_sdk_dynamodb::error::SdkError;
use stockbridge_core::ports::{LeaseHeld, PortError, RunLock};
use stockbridge_domain::ids::Timestamp;

use super::codec::attr::{n, s};
use super::{keys, sdk_unavailable, DynamoStore};

impl RunLock for DynamoStore {
    async fn acquire(
        &self,
        job: &str,
        holder: &str,
        until: Timestamp,
    ) -> Result<Result<(), LeaseHeld>, PortError> {
        let mut item = keys::key(&keys::lock_pk(job), keys::STATE);
        item.insert("holder".into(), s(holder));
        item.insert("until".into(), n(until.0));
        // Expired leases are also removed by the table's time to live (seconds).
        item.insert("expires_at".into(), n(until.0 / 1_000_000_000 + 3600));
        let put = self
            .client
            .put_item()
            .table_name(&self.tables.inbox)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #until < :now")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":now", n(Timestamp::now().0))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Ok(())),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let current = self
                    .client
                    .get_item()
                    .table_name(&self.tables.inbox)
                    .set_key(Some(keys::key(&keys::lock_pk(job), keys::STATE)))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(sdk_unavailable)?;
                let item = current.item();
                let holder = item
                    .and_then(|i| i.get("holder"))
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_else(|| "(given back meanwhile)".into());
                let until = item
                    .and_then(|i| i.get("until"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .map(Timestamp)
                    .unwrap_or(Timestamp(0));
                Ok(Err(LeaseHeld { holder, until }))
            }
            Err(e) => Err(sdk_unavailable(e)),
        }
    }

    async fn release(&self, job: &str, holder: &str) -> Result<(), PortError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.tables.inbox)
            .set_key(Some(keys::key(&keys::lock_pk(job), keys::STATE)))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                tracing::warn!(job, holder, "the lease was taken by another run meanwhile");
                Ok(())
            }
            Err(e) => Err(sdk_unavailable(e)),
        }
    }
}
