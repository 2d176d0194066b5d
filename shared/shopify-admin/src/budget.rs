//! The cost budget: Shopify's leaky bucket as last reported in `extensions.cost.throttleStatus`,
//! what it holds now, how long to wait for a query's cost, how large a page of levels it affords,
//! and the cap on every wait an answer can ask for.
//!
//! The last status is kept behind the client's mutex with the time it was seen; what a call is
//! about to spend is debited at once, so concurrent calls through one client pace too. The
//! arithmetic is pure ([`Budget`]) and the client's pacing loops only sleep what it says.
//!
//! Every wait derived from an answer (the bucket's deficit over its restore rate, a `THROTTLED`
//! error, a `Retry-After` header) is capped at [`MAX_THROTTLE_WAIT`]: a broken or hostile answer
//! (a negative `currentlyAvailable`, a restore rate of 0, `Retry-After: 86400`) costs at most a
//! minute per call, never parks a function until its timeout.

use std::time::{Duration, Instant};

use crate::wire::Cost;
use crate::{ShopifyGraphql, DEFAULT_RETRY_AFTER_MS, LEVELS_OVERHEAD, LEVEL_NODE_COST, MAX_PAGE};
use crate::{FIRST_PAGE, MIN_PAGE};

/// The longest wait any answer can impose on one call: the bucket refill, a `THROTTLED` error's
/// wait and a 429's `Retry-After` are all capped here (Shopify's real waits are seconds).
pub const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(60);

/// [`MAX_THROTTLE_WAIT`] in milliseconds, for the `retry_after_ms` of an error.
const MAX_THROTTLE_WAIT_MS: u64 = MAX_THROTTLE_WAIT.as_millis() as u64;

/// A wait in milliseconds, capped at [`MAX_THROTTLE_WAIT`].
pub(crate) fn capped_wait_ms(ms: u64) -> u64 {
    ms.min(MAX_THROTTLE_WAIT_MS)
}

/// Milliseconds from a computed (float) wait: rounded up, never negative, capped.
fn wait_ms_from(ms: f64) -> u64 {
    if ms.is_nan() || ms <= 0.0 {
        return 0;
    }
    // `as` saturates at u64::MAX for huge values; the cap brings it down.
    capped_wait_ms(ms.ceil() as u64)
}

/// Shopify's `throttleStatus`, as last reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

/// The budget as last seen, with when, and the learnt cost of one level node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    pub(crate) status: ThrottleStatus,
    pub(crate) seen: Instant,
    pub(crate) level_cost: f64,
}

impl Budget {
    /// The budget an answer's cost extension reports, `previous` supplying the learnt node cost;
    /// `levels_first` is the page size when the answer was a levels query. `None` when the
    /// answer carries no throttle status.
    pub(crate) fn observed(
        previous: Option<&Budget>,
        cost: &Cost,
        levels_first: Option<u32>,
        now: Instant,
    ) -> Option<Budget> {
        let t = cost.throttle_status?;
        let mut level_cost = previous.map_or(LEVEL_NODE_COST, |b| b.level_cost);
        if let (Some(first), Some(requested)) = (levels_first, cost.requested_query_cost) {
            if first > 0 {
                let seen = (requested - LEVELS_OVERHEAD) / first as f64;
                if seen.is_finite() && seen > level_cost {
                    level_cost = seen.ceil();
                }
            }
        }
        Some(Budget {
            status: ThrottleStatus {
                maximum_available: t.maximum_available,
                currently_available: t.currently_available,
                restore_rate: t.restore_rate,
            },
            seen: now,
            level_cost,
        })
    }

    fn restore_rate(&self) -> f64 {
        // A zero or negative rate would never refill; treat it as the slowest plausible one.
        self.status.restore_rate.max(1.0)
    }

    /// What the bucket holds now, by the restore rate since it was seen.
    pub(crate) fn available_now(&self, now: Instant) -> f64 {
        let refilled = now.saturating_duration_since(self.seen).as_secs_f64() * self.restore_rate();
        (self.status.currently_available + refilled).min(self.status.maximum_available)
    }

    /// How long until the bucket holds `cost`, at most [`MAX_THROTTLE_WAIT`].
    pub(crate) fn wait_for(&self, cost: f64, now: Instant) -> Duration {
        let deficit = cost - self.available_now(now);
        if deficit.is_nan() || deficit <= 0.0 {
            Duration::ZERO
        } else {
            // Round up to the millisecond, plus one, so the refill is complete when we send.
            let ms = wait_ms_from(deficit / self.restore_rate() * 1000.0);
            Duration::from_millis(capped_wait_ms(ms.saturating_add(1)))
        }
    }

    /// Takes `cost` out now (it is restored when the answer reports the real status).
    pub(crate) fn debit(&mut self, cost: f64, now: Instant) {
        self.status.currently_available = self.available_now(now) - cost;
        self.seen = now;
    }

    /// A call costing `cost` (at most the bucket's size): debited now (`None`), or the wait
    /// before trying again.
    pub(crate) fn take(&mut self, cost: f64, now: Instant) -> Option<Duration> {
        let cost = cost.min(self.status.maximum_available);
        let wait = self.wait_for(cost, now);
        if wait.is_zero() {
            self.debit(cost, now);
            return None;
        }
        Some(wait)
    }

    /// The page size for the next levels query, its cost debited (`Ok`), or the wait before a
    /// [`MIN_PAGE`] page fits (`Err`). A bucket too small for even that (a broken status) gets
    /// the smallest page once it is as full as it gets, rather than a wait that never ends.
    pub(crate) fn take_levels_page(&mut self, now: Instant) -> Result<u32, Duration> {
        let per = self.level_cost;
        let pages_that_fit = |points: f64| ((points - LEVELS_OVERHEAD) / per).floor();
        let largest = pages_that_fit(self.status.maximum_available).clamp(1.0, MAX_PAGE as f64);
        let smallest = (MIN_PAGE as f64).min(largest);
        let affordable = pages_that_fit(self.available_now(now)).min(MAX_PAGE as f64);
        if affordable >= smallest {
            let first = affordable as u32;
            self.debit(LEVELS_OVERHEAD + first as f64 * per, now);
            return Ok(first);
        }
        let wanted = LEVELS_OVERHEAD + smallest * per;
        let wait = self.wait_for(wanted.min(self.status.maximum_available), now);
        if wait.is_zero() {
            let first = (smallest as u32).max(1);
            self.debit(wanted, now);
            return Ok(first);
        }
        Err(wait)
    }
}

/// The wait a `THROTTLED` answer implies: the points missing for the requested cost over the
/// restore rate, capped at [`MAX_THROTTLE_WAIT`].
pub(crate) fn throttled_wait_ms(cost: Option<&Cost>) -> u64 {
    let Some(cost) = cost else {
        return DEFAULT_RETRY_AFTER_MS;
    };
    let (Some(requested), Some(t)) = (cost.requested_query_cost, cost.throttle_status) else {
        return DEFAULT_RETRY_AFTER_MS;
    };
    let rate = t.restore_rate.max(1.0);
    let deficit = (requested - t.currently_available).max(1.0);
    wait_ms_from(deficit / rate * 1000.0)
}

impl ShopifyGraphql {
    pub(crate) fn lock_budget(&self) -> std::sync::MutexGuard<'_, Option<Budget>> {
        // The budget is plain data: a panic elsewhere cannot leave it inconsistent.
        self.budget.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Chooses the page size for the next levels query and debits its cost, waiting first when
    /// the bucket holds less than a [`MIN_PAGE`] page.
    pub(crate) async fn pace_levels(&self) -> u32 {
        loop {
            let wait = {
                let mut guard = self.lock_budget();
                let Some(budget) = guard.as_mut() else {
                    return FIRST_PAGE;
                };
                match budget.take_levels_page(Instant::now()) {
                    Ok(first) => return first,
                    Err(wait) => wait,
                }
            };
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "Shopify bucket low: waiting"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits until the bucket holds `cost`, then debits it.
    pub(crate) async fn pace(&self, cost: f64) {
        loop {
            let wait = {
                let mut guard = self.lock_budget();
                let Some(budget) = guard.as_mut() else {
                    return;
                };
                match budget.take(cost, Instant::now()) {
                    None => return,
                    Some(wait) => wait,
                }
            };
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "Shopify bucket low: waiting"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Records the cost extension of an answer (the bucket, and the points it was charged);
    /// `levels_first` is the page size of a levels query.
    pub(crate) fn observe(&self, cost: Option<&Cost>, levels_first: Option<u32>) {
        let Some(cost) = cost else { return };
        if let Some(actual) = cost.actual_query_cost.filter(|a| a.is_finite() && *a > 0.0) {
            *self.spent.lock().unwrap_or_else(|e| e.into_inner()) += actual;
        }
        let mut guard = self.lock_budget();
        if let Some(next) = Budget::observed(guard.as_ref(), cost, levels_first, Instant::now()) {
            *guard = Some(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WireThrottle;

    fn budget(maximum: f64, current: f64, rate: f64, seen: Instant) -> Budget {
        Budget {
            status: ThrottleStatus {
                maximum_available: maximum,
                currently_available: current,
                restore_rate: rate,
            },
            seen,
            level_cost: LEVEL_NODE_COST,
        }
    }

    #[test]
    fn budget_refills_at_the_restore_rate_and_waits_for_the_deficit() {
        let seen = Instant::now();
        let budget = budget(50.0, 5.0, 10.0, seen);
        assert_eq!(budget.available_now(seen), 5.0);
        assert_eq!(budget.available_now(seen + Duration::from_secs(1)), 15.0);
        assert_eq!(budget.available_now(seen + Duration::from_secs(100)), 50.0);
        assert_eq!(budget.wait_for(25.0, seen), Duration::from_millis(2001));
        assert_eq!(budget.wait_for(5.0, seen), Duration::ZERO);
    }

    #[test]
    fn throttled_wait_comes_from_the_deficit() {
        let cost = Cost {
            requested_query_cost: Some(153.0),
            actual_query_cost: None,
            throttle_status: Some(WireThrottle {
                maximum_available: 1000.0,
                currently_available: 53.0,
                restore_rate: 100.0,
            }),
        };
        assert_eq!(throttled_wait_ms(Some(&cost)), 1000);
        assert_eq!(throttled_wait_ms(None), DEFAULT_RETRY_AFTER_MS);
    }

    #[test]
    fn waits_are_capped_whatever_the_answer_says() {
        assert_eq!(capped_wait_ms(86_400_000), 60_000);
        assert_eq!(capped_wait_ms(u64::MAX), 60_000);
        assert_eq!(capped_wait_ms(1500), 1500);
        let now = Instant::now();
        // A hugely negative bucket once overflowed the millisecond count (`u64::MAX + 1`).
        for hostile in [
            budget(1000.0, -1e300, 100.0, now),
            budget(1000.0, -1e9, 0.0, now),
            budget(f64::MAX, f64::MIN, 1e-300, now),
        ] {
            assert_eq!(hostile.wait_for(1e300, now), MAX_THROTTLE_WAIT);
            let mut taking = hostile;
            assert!(taking.take(10.0, now).unwrap() <= MAX_THROTTLE_WAIT);
        }
        let hostile = Cost {
            requested_query_cost: Some(1e300),
            actual_query_cost: None,
            throttle_status: Some(WireThrottle {
                maximum_available: 1000.0,
                currently_available: -1e300,
                restore_rate: 0.0,
            }),
        };
        assert_eq!(throttled_wait_ms(Some(&hostile)), 60_000);
    }

    #[test]
    fn pages_are_sized_to_what_the_bucket_holds() {
        let now = Instant::now();
        let mut full = budget(1000.0, 1000.0, 50.0, now);
        assert_eq!(full.take_levels_page(now), Ok(MAX_PAGE));
        assert_eq!(full.status.currently_available, 1000.0 - 3.0 - 750.0);
        let mut some = budget(1000.0, 93.0, 50.0, now);
        assert_eq!(some.take_levels_page(now), Ok(30));
        let mut low = budget(1000.0, 20.0, 50.0, now);
        // 33 points for a 10-level page, 13 missing at 50 a second: 260 ms (+1).
        assert_eq!(low.take_levels_page(now), Err(Duration::from_millis(261)));
    }

    #[test]
    fn a_bucket_too_small_for_any_page_still_sends_one_when_full() {
        let now = Instant::now();
        // A node cost learnt from a broken answer: not even one level fits the whole bucket.
        let mut broken = budget(100.0, 100.0, 10.0, now);
        broken.level_cost = 1e12;
        assert_eq!(broken.take_levels_page(now), Ok(1));
        let mut tiny = budget(2.0, 2.0, 10.0, now);
        assert_eq!(tiny.take_levels_page(now), Ok(1));
        let mut refilling = budget(2.0, 0.0, 1.0, now);
        assert_eq!(
            refilling.take_levels_page(now),
            Err(Duration::from_millis(2001))
        );
        assert_eq!(
            refilling.take_levels_page(now + Duration::from_secs(3)),
            Ok(1)
        );
    }

    #[test]
    fn the_node_cost_is_learnt_upwards_only() {
        let now = Instant::now();
        let cost = |requested: f64| Cost {
            requested_query_cost: Some(requested),
            actual_query_cost: None,
            throttle_status: Some(WireThrottle {
                maximum_available: 1000.0,
                currently_available: 900.0,
                restore_rate: 50.0,
            }),
        };
        let learnt = Budget::observed(None, &cost(53.0), Some(10), now).unwrap();
        assert_eq!(learnt.level_cost, 5.0);
        let kept = Budget::observed(Some(&learnt), &cost(13.0), Some(10), now).unwrap();
        assert_eq!(kept.level_cost, 5.0);
        let no_status = Cost {
            requested_query_cost: Some(10.0),
            actual_query_cost: None,
            throttle_status: None,
        };
        assert!(Budget::observed(Some(&learnt), &no_status, None, now).is_none());
    }
}
