//! `RunLock` on [`MemoryStore`]: a job's lease is taken if nobody holds it or the holder's lease
//! ran out, and given back only by its holder, as the DynamoDB adapter's conditional writes do.

use stockbridge_core::ports::{LeaseHeld, PortError, RunLock};
use stockbridge_domain::ids::Timestamp;

use crate::store::MemoryStore;

impl RunLock for MemoryStore {
    async fn acquire(
        &self,
        job: &str,
        holder: &str,
        until: Timestamp,
    ) -> Result<Result<(), LeaseHeld>, PortError> {
        tokio::task::yield_now().await;
        let mut state = self.lock();
        let now = Timestamp::now();
        if let Some((current, current_until)) = state.leases.get(job) {
            if *current_until >= now {
                return Ok(Err(LeaseHeld {
                    holder: current.clone(),
                    until: *current_until,
                }));
            }
        }
        state
            .leases
            .insert(job.to_string(), (holder.to_string(), until));
        Ok(Ok(()))
    }

    async fn release(&self, job: &str, holder: &str) -> Result<(), PortError> {
        tokio::task::yield_now().await;
        let mut state = self.lock();
        if state.leases.get(job).is_some_and(|(h, _)| h == holder) {
            state.leases.remove(job);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lease_is_held_until_given_back_or_expired() {
        let store = MemoryStore::new();
        let later = Timestamp(Timestamp::now().0 + 60_000_000_000);
        assert_eq!(store.acquire("job", "a", later).await.unwrap(), Ok(()));
        let held = store.acquire("job", "b", later).await.unwrap().unwrap_err();
        assert_eq!(held.holder, "a");
        store.release("job", "b").await.unwrap();
        assert!(
            store.acquire("job", "b", later).await.unwrap().is_err(),
            "only the holder gives it back"
        );
        store.release("job", "a").await.unwrap();
        assert_eq!(store.acquire("job", "b", later).await.unwrap(), Ok(()));
        let past = Timestamp(Timestamp::now().0 - 1);
        assert_eq!(store.acquire("other", "a", past).await.unwrap(), Ok(()));
        assert_eq!(
            store.acquire("other", "b", later).await.unwrap(),
            Ok(()),
            "an expired lease is free"
        );
    }
}
