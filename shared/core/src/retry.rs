//! The one retry policy every caller uses: exponential backoff with jitter (the `backon` crate),
//! a server's own `Retry-After` honoured when it names one, a cap on how long one wait may be,
//! and a cap on the attempts. What is worth retrying is the error's to say ([`Retryable`]);
//! the ERP push, the consumer's conflicting writes and the reconciler's reads differ only in the
//! [`RetryPolicy`] they pass.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};

use crate::ports::{ErpError, PortError, ShopifyError};

/// What to do after an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A retry will not help (a refusal, a conflict that needs a new plan): give up now.
    Stop,
    /// Transient: wait the policy's next backoff.
    Backoff,
    /// The service said how long to wait (`Retry-After`, a refilling cost budget).
    After(Duration),
}

/// An error that knows whether it is worth another attempt.
pub trait Retryable {
    fn verdict(&self) -> Verdict;
}

impl Retryable for ErpError {
    fn verdict(&self) -> Verdict {
        match self {
            ErpError::Throttled { retry_after_ms } => {
                Verdict::After(Duration::from_millis(*retry_after_ms))
            }
            ErpError::Unavailable(_) => Verdict::Backoff,
            ErpError::Rejected(_) => Verdict::Stop,
        }
    }
}

impl Retryable for ShopifyError {
    fn verdict(&self) -> Verdict {
        match self {
            ShopifyError::Throttled { retry_after_ms } => {
                Verdict::After(Duration::from_millis(*retry_after_ms))
            }
            ShopifyError::Unavailable(_) => Verdict::Backoff,
            ShopifyError::Stale | ShopifyError::KeyReused | ShopifyError::Rejected(_) => {
                Verdict::Stop
            }
        }
    }
}

impl Retryable for PortError {
    /// A lost race or an unreachable store is worth another attempt; a plan too large, a
    /// corrupt record or a refused request is not.
    fn verdict(&self) -> Verdict {
        match self {
            PortError::Conflict(_) | PortError::Unavailable { .. } => Verdict::Backoff,
            PortError::TooLarge(_) | PortError::Corrupt { .. } | PortError::Refused { .. } => {
                Verdict::Stop
            }
        }
    }
}

/// How a caller retries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Calls in all, the first included.
    pub attempts: u32,
    /// The first backoff; each next one doubles, with jitter, up to `max_delay`.
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// A wait the service asks for that is longer than this is not waited out in-process: the
    /// error is returned (the caller has a durable retry, e.g. a delayed queue message).
    pub max_wait: Duration,
    /// The shortest wait after a `Retry-After` or throttled answer.
    pub min_after: Duration,
}

impl RetryPolicy {
    /// No retry at all.
    pub const NONE: RetryPolicy = RetryPolicy {
        attempts: 1,
        min_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        max_wait: Duration::ZERO,
        min_after: Duration::ZERO,
    };

    /// Calls `call` until it succeeds, fails with an error whose [`Verdict`] is `Stop`, asks for
    /// a wait over `max_wait`, or the attempts are spent; returns the last result. `on_retry`
    /// sees each error that will be retried and the wait before the next call.
    pub async fn run<T, E, F, Fut>(
        &self,
        call: F,
        mut on_retry: impl FnMut(&E, Duration) + Send,
    ) -> Result<T, E>
    where
        E: Retryable + Display,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay.max(self.min_delay))
            .with_max_times(self.attempts.saturating_sub(1) as usize)
            .with_jitter();
        let (max_wait, min_after) = (self.max_wait, self.min_after);
        call.retry(backoff)
            .when(|e: &E| e.verdict() != Verdict::Stop)
            .adjust(move |e: &E, next: Option<Duration>| {
                // `next` is None once the attempts are spent.
                let next = next?;
                match e.verdict() {
                    Verdict::Stop => None,
                    Verdict::Backoff => Some(next),
                    Verdict::After(wait) => {
                        let wait = wait.max(min_after);
                        (wait <= max_wait).then_some(wait)
                    }
                }
            })
            .notify(|e: &E, wait: Duration| on_retry(e, wait))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const FAST: RetryPolicy = RetryPolicy {
        attempts: 4,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_wait: Duration::from_millis(50),
        min_after: Duration::from_millis(1),
    };

    async fn count_calls(
        policy: RetryPolicy,
        errors: Vec<ErpError>,
    ) -> (Result<(), ErpError>, u32) {
        let calls = AtomicU32::new(0);
        let result = policy
            .run(
                || {
                    let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
                    let e = errors.get(n).cloned();
                    async move { e.map_or(Ok(()), Err) }
                },
                |_, _| {},
            )
            .await;
        (result, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let errors = vec![
            ErpError::Unavailable("a".into()),
            ErpError::Unavailable("b".into()),
        ];
        assert_eq!(count_calls(FAST, errors).await, (Ok(()), 3));
    }

    #[tokio::test]
    async fn attempts_are_capped_and_the_last_error_returned() {
        let errors = vec![ErpError::Unavailable("x".into()); 10];
        let (result, calls) = count_calls(FAST, errors).await;
        assert_eq!(calls, 4);
        assert_eq!(result, Err(ErpError::Unavailable("x".into())));
    }

    #[tokio::test]
    async fn a_refusal_is_never_retried() {
        let errors = vec![ErpError::Rejected("no".into())];
        assert_eq!(count_calls(FAST, errors).await.1, 1);
    }

    #[tokio::test]
    async fn retry_after_is_honoured_within_the_cap_and_refused_past_it() {
        let short = vec![ErpError::Throttled { retry_after_ms: 20 }];
        let started = std::time::Instant::now();
        assert_eq!(count_calls(FAST, short).await, (Ok(()), 2));
        assert!(started.elapsed() >= Duration::from_millis(20));
        let long = vec![ErpError::Throttled {
            retry_after_ms: 60_000,
        }];
        let started = std::time::Instant::now();
        let (result, calls) = count_calls(FAST, long).await;
        assert_eq!(calls, 1, "a minute's Retry-After is not slept in-process");
        assert!(matches!(result, Err(ErpError::Throttled { .. })));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn no_retry_policy_calls_once() {
        let errors = vec![ErpError::Unavailable("x".into())];
        assert_eq!(count_calls(RetryPolicy::NONE, errors).await.1, 1);
    }
}
