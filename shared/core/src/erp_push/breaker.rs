//! One ERP write through the circuit breaker, under the push's [`RetryPolicy`]: each call's
//! time and result feed the metrics and the breaker; after `breaker_threshold` consecutive
//! transient failures the circuit opens for `breaker_cooldown`, and while it is open no call is
//! made (the write fails at once and waits for the next delivery). After the cool-down one call
//! goes through (half-open): a success closes the circuit, a failure opens it again.
//!
//! Each call is bounded by `attempt_timeout` (a call that takes longer is given up, counted as
//! a failure and retried); a leased write ([`ErpPush::apply_leased`]) renews its lease before
//! each call and sends nothing once the lease is not this consumer's or the push's time is up.
//!
//! [`RetryPolicy`]: crate::retry::RetryPolicy

use std::time::{Duration, Instant};

use super::lease::Bookkeeping;
use super::ErpPush;
use crate::ports::{Erp, ErpError, StockStore};
use crate::retry::{Retryable, Verdict};
use crate::telemetry::Unit;
use stockbridge_domain::erp_write::ErpWrite;
use stockbridge_domain::stock::{Inflight, StockKey};

/// What sending a leased write came to.
#[derive(Debug)]
pub(super) enum Sent {
    Acknowledged,
    /// The ERP refused it (a retry now would not help).
    Refused(String),
    /// The lease is not this consumer's any more (or could not be renewed): it sent nothing more.
    LeaseLost(String),
    /// The ERP failed (or the circuit is open) and the retries are spent.
    Failed(ErpError),
    /// No time left in the push for another call.
    OutOfTime,
}

/// Why one leased attempt did not succeed.
#[derive(Debug, thiserror::Error)]
enum Attempt {
    #[error(transparent)]
    Call(BreakerCall),
    #[error("{0}")]
    Lease(String),
    #[error("no time left in this push for another ERP call")]
    OutOfTime,
}

impl Retryable for Attempt {
    fn verdict(&self) -> Verdict {
        match self {
            Attempt::Call(c) => c.verdict(),
            Attempt::Lease(_) | Attempt::OutOfTime => Verdict::Stop,
        }
    }
}

/// The circuit breaker's state: consecutive transient failures, and while open, until when.
#[derive(Debug, Default)]
pub(super) struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

/// Why one call through the breaker did not succeed.
#[derive(Debug, thiserror::Error)]
enum BreakerCall {
    /// The circuit is open: the ERP was not called; nothing to retry until the cool-down ends.
    #[error("ERP circuit open for another {for_ms} ms")]
    Open { for_ms: u64 },
    #[error(transparent)]
    Erp(ErpError),
}

impl Retryable for BreakerCall {
    fn verdict(&self) -> Verdict {
        match self {
            BreakerCall::Open { .. } => Verdict::Stop,
            BreakerCall::Erp(e) => e.verdict(),
        }
    }
}

impl<E: Erp> ErpPush<E> {
    /// Sends a write this consumer holds: before each call its lease is renewed (a write whose
    /// lease went to another consumer is not sent), and each call ends before `end` and within
    /// `attempt_timeout`, so the holder never sends past its lease.
    pub(super) async fn apply_leased<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
        write: &ErpWrite,
        end: tokio::time::Instant,
    ) -> Sent {
        let mut retries = 0u32;
        let attempt = || async {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(Attempt::OutOfTime);
            }
            match self.renew(store, write_key, members).await {
                Ok(()) => {}
                Err(Bookkeeping::Lost(why)) => return Err(Attempt::Lease(why)),
                Err(Bookkeeping::Store(e)) => {
                    return Err(Attempt::Lease(format!(
                        "the lease could not be renewed: {e}"
                    )))
                }
            }
            let limit = self.policy.attempt_timeout.min(left);
            self.apply_through_breaker(write, limit)
                .await
                .map_err(Attempt::Call)
        };
        let result = self
            .policy
            .retry
            .run(attempt, |e, wait| {
                retries += 1;
                let (attempt, wait_ms) = (retries, wait.as_millis() as u64);
                tracing::warn!(attempt, key = %write.key, wait_ms, "ERP call failed: {e}");
            })
            .await;
        match result {
            Ok(()) => Sent::Acknowledged,
            Err(Attempt::Call(BreakerCall::Open { for_ms })) => {
                Sent::Failed(ErpError::Unavailable(format!(
                    "circuit open for another {for_ms} ms after repeated ERP failures"
                )))
            }
            Err(Attempt::Call(BreakerCall::Erp(ErpError::Rejected(why)))) => Sent::Refused(why),
            Err(Attempt::Call(BreakerCall::Erp(e))) => {
                let attempts = retries + 1;
                tracing::warn!(attempts, key = %write.key, "ERP call failed: {e}; giving up");
                Sent::Failed(e)
            }
            Err(Attempt::Lease(why)) => Sent::LeaseLost(why),
            Err(Attempt::OutOfTime) => Sent::OutOfTime,
        }
    }

    /// One write under [`PushPolicy::retry`](super::PushPolicy::retry) (backoff with jitter, `Retry-After` up to its
    /// `max_wait`), through the circuit breaker: while the circuit is open no call is made and
    /// the write fails at once as [`ErpError::Unavailable`].
    pub async fn apply_with_retry(&self, write: &ErpWrite) -> Result<(), ErpError> {
        let mut retries = 0u32;
        let result = self
            .policy
            .retry
            .run(
                || self.apply_through_breaker(write, self.policy.attempt_timeout),
                |e, wait| {
                    retries += 1;
                    let (attempt, wait_ms) = (retries, wait.as_millis() as u64);
                    tracing::warn!(attempt, key = %write.key, wait_ms, "ERP call failed: {e}");
                },
            )
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(BreakerCall::Open { for_ms }) => Err(ErpError::Unavailable(format!(
                "circuit open for another {for_ms} ms after repeated ERP failures"
            ))),
            Err(BreakerCall::Erp(e)) => {
                if e.is_transient() {
                    let attempts = retries + 1;
                    tracing::warn!(attempts, key = %write.key, "ERP call failed: {e}; giving up");
                }
                Err(e)
            }
        }
    }

    /// One call, unless the circuit is open, given up after `limit`; its time and its result
    /// feed the metrics and the breaker (a refusal is the write's fault, not the ERP's: it
    /// neither opens nor closes it).
    async fn apply_through_breaker(
        &self,
        write: &ErpWrite,
        limit: Duration,
    ) -> Result<(), BreakerCall> {
        if let Some(wait) = self.open_for() {
            self.metrics.count("ErpCircuitOpen", None);
            return Err(BreakerCall::Open {
                for_ms: wait.as_millis() as u64,
            });
        }
        let started = Instant::now();
        let result = match tokio::time::timeout(limit, self.erp.apply(write)).await {
            Ok(result) => result,
            Err(_) => Err(ErpError::Unavailable(format!(
                "the ERP did not answer write {} within {} ms; given up (the write keeps its \
                 key, so a retry finds whatever it applied)",
                write.key,
                limit.as_millis()
            ))),
        };
        self.metrics.put(
            "ErpCallMs",
            started.elapsed().as_secs_f64() * 1000.0,
            Unit::Milliseconds,
            None,
        );
        match &result {
            Ok(()) => self.record(true),
            Err(ErpError::Rejected(_)) => {}
            Err(_) => {
                self.record(false);
                self.metrics.count("ErpRetry", None);
            }
        }
        result.map_err(BreakerCall::Erp)
    }

    /// How much longer the circuit stays open; `None` lets a call through.
    fn open_for(&self) -> Option<Duration> {
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        match b.open_until {
            Some(until) if until > Instant::now() => Some(until - Instant::now()),
            Some(_) => {
                // Half-open: let one call through; a failure re-opens at once.
                b.open_until = None;
                b.failures = self.policy.breaker_threshold.saturating_sub(1);
                None
            }
            None => None,
        }
    }

    /// Feeds one call's result to the breaker: a success closes it, enough failures open it.
    fn record(&self, ok: bool) {
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            b.failures = 0;
            b.open_until = None;
        } else {
            b.failures += 1;
            if b.failures >= self.policy.breaker_threshold {
                b.open_until = Some(Instant::now() + self.policy.breaker_cooldown);
                tracing::error!(
                    cooldown_s = self.policy.breaker_cooldown.as_secs(),
                    "ERP circuit opened"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erp_push::PushPolicy;
    use crate::retry::RetryPolicy;
    use crate::telemetry::Metrics;
    use std::collections::{HashMap, VecDeque};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    /// An ERP that answers `apply` from a script (then succeeds) and counts the calls.
    #[derive(Default)]
    struct ScriptedErp {
        answers: Mutex<VecDeque<Result<(), ErpError>>>,
        calls: AtomicU32,
    }

    impl ScriptedErp {
        fn answering(answers: impl IntoIterator<Item = Result<(), ErpError>>) -> Self {
            ScriptedErp {
                answers: Mutex::new(answers.into_iter().collect()),
                calls: AtomicU32::new(0),
            }
        }
    }

    impl Erp for ScriptedErp {
        async fn apply(&self, _: &ErpWrite) -> Result<(), ErpError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = self.answers.lock().ok().and_then(|mut a| a.pop_front());
            next.unwrap_or(Ok(()))
        }

        async fn levels(
            &self,
            _: &str,
            _: &[String],
        ) -> Result<HashMap<String, rust_decimal::Decimal>, ErpError> {
            Ok(HashMap::new())
        }

        async fn incoming(
            &self,
            _: &str,
            _: &[String],
        ) -> Result<Vec<stockbridge_domain::erp_write::Incoming>, ErpError> {
            Ok(Vec::new())
        }
    }

    fn push(erp: ScriptedErp, threshold: u32, cooldown: Duration) -> ErpPush<ScriptedErp> {
        let policy = PushPolicy {
            retry: RetryPolicy {
                attempts: 5,
                min_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(4),
                max_wait: Duration::from_millis(200),
                min_after: Duration::ZERO,
            },
            breaker_threshold: threshold,
            breaker_cooldown: cooldown,
            ..PushPolicy::default()
        };
        ErpPush::new(erp, policy, Metrics::silent("test"))
    }

    fn write() -> ErpWrite {
        ErpWrite {
            key: "sb-WH-1".into(),
            warehouse: "WH".into(),
            reason: "test".into(),
            as_of: "2026-01-01T00:00:00Z".into(),
            lines: Vec::new(),
        }
    }

    fn down() -> Result<(), ErpError> {
        Err(ErpError::Unavailable("connection refused".into()))
    }

    fn calls(p: &ErpPush<ScriptedErp>) -> u32 {
        p.erp.calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn the_breaker_opens_after_repeated_failures_and_then_fails_fast() {
        let p = push(
            ScriptedErp::answering(vec![down(); 10]),
            2,
            Duration::from_secs(60),
        );
        let first = p.apply_with_retry(&write()).await;
        assert!(
            matches!(&first, Err(ErpError::Unavailable(why)) if why.contains("circuit open")),
            "{first:?}"
        );
        assert_eq!(calls(&p), 2, "the third attempt found the circuit open");
        assert_eq!(p.metrics.total("ErpRetry"), 2.0);

        let started = Instant::now();
        let again = p.apply_with_retry(&write()).await;
        assert!(matches!(again, Err(ErpError::Unavailable(_))));
        assert_eq!(calls(&p), 2, "an open circuit does not call the ERP");
        assert!(started.elapsed() < Duration::from_millis(100));
        assert_eq!(p.metrics.total("ErpCircuitOpen"), 2.0);
    }

    #[tokio::test]
    async fn after_the_cool_down_one_call_goes_through_and_a_failure_reopens_at_once() {
        let p = push(
            ScriptedErp::answering(vec![down(); 3]),
            2,
            Duration::from_millis(30),
        );
        assert!(p.apply_with_retry(&write()).await.is_err());
        assert_eq!(calls(&p), 2);
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(p.apply_with_retry(&write()).await.is_err());
        assert_eq!(
            calls(&p),
            3,
            "half-open: one call, its failure re-opened the circuit"
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(p.apply_with_retry(&write()).await, Ok(()));
        assert_eq!(calls(&p), 4);
    }

    #[tokio::test]
    async fn a_throttled_erp_is_waited_out_then_the_write_succeeds() {
        let throttled = Err(ErpError::Throttled { retry_after_ms: 30 });
        let p = push(
            ScriptedErp::answering([throttled]),
            5,
            Duration::from_secs(60),
        );
        let started = Instant::now();
        assert_eq!(p.apply_with_retry(&write()).await, Ok(()));
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(calls(&p), 2);
        assert_eq!(p.metrics.values("ErpCallMs").len(), 2);
    }

    #[tokio::test]
    async fn a_retry_after_past_max_wait_is_left_to_the_scheduled_retry() {
        let throttled = Err(ErpError::Throttled {
            retry_after_ms: 60_000,
        });
        let p = push(
            ScriptedErp::answering([throttled]),
            5,
            Duration::from_secs(60),
        );
        let result = p.apply_with_retry(&write()).await;
        assert_eq!(
            result,
            Err(ErpError::Throttled {
                retry_after_ms: 60_000
            })
        );
        assert_eq!(calls(&p), 1);
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried_and_does_not_feed_the_breaker() {
        let refused = || Err(ErpError::Rejected("unknown item".into()));
        let p = push(
            ScriptedErp::answering([refused(), refused()]),
            1,
            Duration::from_secs(60),
        );
        assert!(matches!(
            p.apply_with_retry(&write()).await,
            Err(ErpError::Rejected(_))
        ));
        assert!(matches!(
            p.apply_with_retry(&write()).await,
            Err(ErpError::Rejected(_))
        ));
        assert_eq!(calls(&p), 2, "one call each, and the circuit stayed closed");
        assert_eq!(p.metrics.total("ErpCircuitOpen"), 0.0);
    }
}
