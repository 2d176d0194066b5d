//! The retries the consumer schedules itself for what a push left owed ([`PushReport::retries`]):
//! an ERP failure backs off (2 s doubling to 15 minutes, the attempt counted up), stock owed
//! after the push's last round without any failure is tried again in 2 s, stock that only
//! met another consumer's write in flight is tried once more after about the rest of that lease
//! at the same attempt; parked stock waits for its operator. The `erp_retry` messages carry at
//! most [`RETRY_KEYS_PER_MESSAGE`] stock keys each.

use std::collections::BTreeSet;
use std::time::Duration;

use super::PushReport;
use stockbridge_domain::event::{EventBody, InventoryEvent, Part, Source, SCHEMA_VERSION};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::stock::StockKey;

/// First delay of a retry after an ERP failure; it doubles per attempt up to SQS's 15 minutes.
const RETRY_FIRST_DELAY: Duration = Duration::from_secs(2);
const RETRY_MAX_DELAY: Duration = Duration::from_secs(900);

/// One retry the consumer schedules itself for stock a push left owed.
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    pub keys: BTreeSet<StockKey>,
    pub attempt: u32,
    pub delay: Duration,
    /// `erp` (the ERP failed, refused or ran out of time: backs off), `unfinished` (nothing
    /// failed, stock became owed after the last round: soon, at the same attempt) or
    /// `contended` (only another consumer's write in flight: once, at the same attempt).
    pub reason: &'static str,
}

impl PushReport {
    /// The retries what this push left owed needs, the batch being at `attempt`: stock that
    /// only met another consumer's write in flight once more after about the rest of that
    /// lease, at the same attempt (contention is not failure); the rest at `attempt + 1`, 2 s
    /// doubling to 15 minutes. Parked stock waits for its operator.
    pub fn retries(&self, attempt: u32) -> Vec<Retry> {
        let mut retries = Vec::new();
        let rest: BTreeSet<StockKey> = self.pending.difference(&self.contended).cloned().collect();
        let (failed, unfinished) = if self.last_error.is_some() {
            (rest, BTreeSet::new())
        } else {
            (BTreeSet::new(), rest)
        };
        if !unfinished.is_empty() {
            // Nothing failed: stock became owed after the push's last round (or while another
            // push of this process had the turn). Soon, at the same attempt.
            retries.push(Retry {
                keys: unfinished,
                attempt,
                delay: RETRY_FIRST_DELAY,
                reason: "unfinished",
            });
        }
        if !failed.is_empty() {
            let delay = RETRY_FIRST_DELAY
                .saturating_mul(1u32 << attempt.min(9))
                .min(RETRY_MAX_DELAY);
            retries.push(Retry {
                keys: failed,
                attempt: attempt.saturating_add(1),
                delay,
                reason: "erp",
            });
        }
        let contended: BTreeSet<StockKey> = self
            .pending
            .intersection(&self.contended)
            .cloned()
            .collect();
        if !contended.is_empty() {
            retries.push(Retry {
                keys: contended,
                attempt,
                delay: self
                    .contended_for
                    .clamp(Duration::from_secs(1), RETRY_MAX_DELAY),
                reason: "contended",
            });
        }
        retries
    }
}

/// At most this many stock keys go in one `erp_retry` message (about 100 bytes each, so a message
/// stays far below SQS's 256 KB).
pub const RETRY_KEYS_PER_MESSAGE: usize = 500;

/// The `erp_retry` messages for `keys` at `attempt`, [`RETRY_KEYS_PER_MESSAGE`] keys each.
pub fn retry_events(keys: &BTreeSet<StockKey>, attempt: u32) -> Vec<InventoryEvent> {
    let keys: Vec<StockKey> = keys.iter().cloned().collect();
    let now = Timestamp::now();
    keys.chunks(RETRY_KEYS_PER_MESSAGE)
        .enumerate()
        .map(|(n, chunk)| InventoryEvent {
            schema: SCHEMA_VERSION,
            key: format!("erp-retry:{attempt}:{}:{n}", now.0),
            shop: chunk
                .first()
                .map_or_else(|| ShopDomain::new(""), |k| k.shop.clone()),
            source: Source::internal("stockbridge/erp-retry", now),
            part: Part::WHOLE,
            body: EventBody::ErpRetry {
                keys: chunk.to_vec(),
                attempt,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockbridge_domain::ids::{InventoryItemId, LocationId};

    fn key(item: u64) -> StockKey {
        StockKey {
            shop: ShopDomain::new("a.myshopify.com"),
            item: InventoryItemId(item),
            location: LocationId(1),
        }
    }

    #[test]
    fn contention_is_retried_once_after_the_lease_at_the_same_attempt_failures_back_off() {
        let report = PushReport {
            pending: BTreeSet::from([key(1), key(2)]),
            contended: BTreeSet::from([key(2)]),
            contended_for: Duration::from_secs(40),
            last_error: Some("ERP down".into()),
            ..PushReport::default()
        };
        let retries = report.retries(3);
        assert_eq!(retries.len(), 2);
        assert_eq!(
            (
                &retries[0].keys,
                retries[0].attempt,
                retries[0].delay,
                retries[0].reason
            ),
            (&BTreeSet::from([key(1)]), 4, Duration::from_secs(16), "erp")
        );
        assert_eq!(
            (
                &retries[1].keys,
                retries[1].attempt,
                retries[1].delay,
                retries[1].reason
            ),
            (
                &BTreeSet::from([key(2)]),
                3,
                Duration::from_secs(40),
                "contended"
            )
        );
        let only_contended = PushReport {
            pending: BTreeSet::from([key(2)]),
            contended: BTreeSet::from([key(2)]),
            ..PushReport::default()
        };
        let retries = only_contended.retries(0);
        assert_eq!(retries.len(), 1);
        assert_eq!(
            (retries[0].attempt, retries[0].delay),
            (0, Duration::from_secs(1))
        );
        assert_eq!(PushReport::default().retries(9), Vec::new());
        let late = PushReport {
            pending: BTreeSet::from([key(1)]),
            last_error: Some("timeout".into()),
            ..PushReport::default()
        };
        assert_eq!(late.retries(12)[0].delay, Duration::from_secs(900));
        // Owed after the last round, nothing failed: soon, not escalated.
        let unfinished = PushReport {
            pending: BTreeSet::from([key(1)]),
            ..PushReport::default()
        };
        let retries = unfinished.retries(5);
        assert_eq!(
            (
                retries.len(),
                retries[0].attempt,
                retries[0].delay,
                retries[0].reason
            ),
            (1, 5, Duration::from_secs(2), "unfinished")
        );
    }

    #[test]
    fn a_retry_message_carries_at_most_five_hundred_keys() {
        let keys: BTreeSet<StockKey> = (0..1201).map(key).collect();
        let events = retry_events(&keys, 2);
        let sizes: Vec<usize> = events
            .iter()
            .map(|e| match &e.body {
                EventBody::ErpRetry { keys, attempt: 2 } => keys.len(),
                other => panic!("not a retry: {other:?}"),
            })
            .collect();
        assert_eq!(sizes, vec![500, 500, 201]);
        let distinct: BTreeSet<&String> = events.iter().map(|e| &e.key).collect();
        assert_eq!(distinct.len(), 3);
        assert!(events.iter().all(|e| e.to_json().len() < 100_000));
    }
}
