//! Bringing stock changes into the ERP: what is owed is read from the stock records, grouped per
//! warehouse into one write (a burst on one SKU is one line of its net result), marked in flight
//! under a fixed key before the call, and settled when the ERP acknowledges it.
//!
//! The ERP is the slow end. Calls are retried under the one [`RetryPolicy`] (exponential backoff
//! and jitter, honouring `Retry-After`); after repeated failures a circuit breaker stops calling
//! the ERP for a cool-down and fails fast. Nothing is lost meanwhile: the debt stays on the stock
//! records, the in-flight write keeps its key (so a retry after a timeout finds the first write),
//! and the consumer schedules itself a retry of the stock still owed.
//!
//! One write, one sender. An in-flight write is leased to the consumer process that prepared
//! or claimed it ([`Inflight::holder`]); the holder renews the lease before each ERP call and
//! bounds each call well inside it ([`PushPolicy::attempt_timeout`]), so nobody else sends it
//! while the holder might. Another consumer that owes the same records does not wait or back
//! off: it leaves them to the holder, which after settling prepares and sends what became owed
//! meanwhile (a hand-over, up to [`PushPolicy::rounds`] rounds within its time); the other
//! consumer schedules one retry for about the rest of the lease, as a backstop, without
//! counting it as an ERP failure (`ErpContended`).
//!
//! A refused write keeps its key: the ERP may have applied part of it (Tryton's "in" shipment
//! before it refused the "out"), and only the same key lets the adapter find that part. The
//! refusal is counted on the write; after [`PushPolicy::max_refusals`] the write is parked for
//! an operator (`ErpWriteParked`; `stockbridge erp parked`, `stockbridge erp retry`). Every push
//! reports the age of the oldest debt it saw (`ErpOldestDebtAgeSeconds`), failed or not.
//!
//! The store's side of the lease (prepare, claim, renew, settle, refuse, give back) is in
//! `lease`; one call through the circuit breaker in `breaker`; the retries a push's leftovers
//! need in `schedule`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

mod breaker;
mod lease;
mod schedule;

use breaker::{Breaker, Sent};
use lease::Bookkeeping;
pub use schedule::{retry_events, Retry, RETRY_KEYS_PER_MESSAGE};

use crate::ports::{Erp, PortError, SkuMapStore, StockStore, Wanted};
use crate::retry::RetryPolicy;
use crate::telemetry::{Metrics, Unit};
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::skumap::SkuMap;
use stockbridge_domain::stock::{Inflight, StockKey};

/// Retry, circuit-breaker, lease and parking settings.
#[derive(Clone, Debug)]
pub struct PushPolicy {
    /// Calls per write before giving up for this invocation (the stock then gets a scheduled
    /// retry), their backoff, and the longest `Retry-After` waited out in the function
    /// ([`PushPolicy::RETRY`] by default).
    pub retry: RetryPolicy,
    /// Consecutive transient failures that open the circuit.
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    /// How long a consumer holds an in-flight write after taking or renewing its lease. Renewed
    /// before each ERP call; shorter than a Lambda invocation, so a holder that died frees it.
    pub lease: Duration,
    /// The longest one call to the ERP may take before it is given up (and retried). Must stay
    /// well inside `lease`: a request given up on may still run in the ERP for up to the
    /// adapter's own request timeout (10 s), and no one else may send the write before that.
    pub attempt_timeout: Duration,
    /// Refusals after which a write is parked for an operator instead of retried.
    pub max_refusals: u32,
    /// Rounds of prepare-and-send in one push: the first for what the batch owes, each further
    /// one (a hand-over) for what became owed on those records while the previous one was sent.
    pub rounds: u32,
    /// How long one push may go on: no round or ERP call starts after it (nor after the
    /// invocation's deadline, see [`ErpPush::push_before`]).
    pub budget: Duration,
}

impl PushPolicy {
    /// Four calls per write, 200 ms doubling with jitter between them; a `Retry-After` up to 10 s
    /// is waited out, a longer one leaves the write to the scheduled retry.
    pub const RETRY: RetryPolicy = RetryPolicy {
        attempts: 4,
        min_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(5),
        max_wait: Duration::from_secs(10),
        min_after: Duration::ZERO,
    };

    /// Settling a write (one read, one conditional write): a lost race or an unreachable store
    /// is tried again, six times in all, 10 ms doubling with jitter.
    const SETTLE: RetryPolicy = RetryPolicy {
        attempts: 6,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(320),
        max_wait: Duration::ZERO,
        min_after: Duration::ZERO,
    };
}

impl Default for PushPolicy {
    /// Leases of 55 s (a Lambda invocation is 60 s) renewed before each call, calls of at most
    /// 25 s (30 s left for a request given up on to end in the ERP), parked after 5 refusals,
    /// up to 4 rounds within 40 s.
    fn default() -> Self {
        PushPolicy {
            retry: PushPolicy::RETRY,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            lease: Duration::from_secs(55),
            attempt_timeout: Duration::from_secs(25),
            max_refusals: 5,
            rounds: 4,
            budget: Duration::from_secs(40),
        }
    }
}

impl PushPolicy {
    /// The defaults, with the breaker's cool-down from `ERP_BREAKER_COOLDOWN_SECONDS` and the
    /// refusals before parking from `ERP_MAX_REFUSALS` (a value that is not a whole number is an
    /// error).
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        let mut policy = PushPolicy::default();
        let secs = crate::config::env_or(
            "ERP_BREAKER_COOLDOWN_SECONDS",
            policy.breaker_cooldown.as_secs(),
        )?;
        policy.breaker_cooldown = Duration::from_secs(secs);
        policy.max_refusals = crate::config::env_or("ERP_MAX_REFUSALS", policy.max_refusals)?;
        if policy.max_refusals == 0 {
            return Err(crate::config::ConfigError::Invalid {
                name: "ERP_MAX_REFUSALS",
                detail: "must be at least 1 (refusals before a write is parked)".into(),
            });
        }
        Ok(policy)
    }
}

/// The ERP side of the stock consumer.
pub struct ErpPush<E> {
    pub erp: E,
    pub policy: PushPolicy,
    pub metrics: Metrics,
    /// This process's name on the leases it holds.
    holder: String,
    breaker: Mutex<Breaker>,
    /// One push at a time per process: leases carry the process's name, so two pushes of one
    /// process (pollers sharing a consumer) must not both take a write for their own.
    turn: tokio::sync::Mutex<()>,
}

/// What one push did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PushReport {
    pub writes: usize,
    pub lines: usize,
    /// Stock records still owed to the ERP after this push, parked ones aside (their stock
    /// should be tried again).
    pub pending: BTreeSet<StockKey>,
    /// Of `pending`, the records that met another consumer's write in flight: not an ERP
    /// failure; worth one retry after about `contended_for` (the rest of that lease).
    pub contended: BTreeSet<StockKey>,
    pub contended_for: Duration,
    /// Records whose write is parked for an operator: not tried again until released.
    pub parked: BTreeSet<StockKey>,
    pub last_error: Option<String>,
    /// Webhook-to-acknowledged latencies of the writes acknowledged, per shop (the digest's).
    pub latency: crate::ports::LatencyTally,
}

/// What a push met on its way, over its rounds.
#[derive(Debug, Default)]
struct Met {
    /// Records of writes another consumer holds (or took while we looked).
    contended: BTreeSet<StockKey>,
    contended_for: Duration,
    /// The writes met so, each counted once whatever the rounds.
    contended_writes: BTreeSet<String>,
}

impl Met {
    fn contention(&mut self, write_key: &str, members: &[(StockKey, Inflight)], left: Duration) {
        self.contended
            .extend(members.iter().map(|(k, _)| k.clone()));
        self.contended_for = self.contended_for.max(left);
        self.contended_writes.insert(write_key.to_string());
    }
}

/// How a round of sending ended.
enum Round {
    /// This many writes were acknowledged and settled.
    Settled(usize),
    /// The ERP failed, or the time ran out: the rest waits for the scheduled retry.
    Stopped,
}

impl<E: Erp> ErpPush<E> {
    pub fn new(erp: E, policy: PushPolicy, metrics: Metrics) -> Self {
        ErpPush {
            erp,
            policy,
            metrics,
            holder: format!("consumer-{:032x}", nonce()),
            breaker: Mutex::new(Breaker::default()),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// This process's name on the leases it holds.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Brings what `keys` owe into the ERP, within [`PushPolicy::budget`].
    pub async fn push<S: StockStore + SkuMapStore>(
        &self,
        store: &S,
        keys: &BTreeSet<StockKey>,
    ) -> PushReport {
        self.push_before(store, keys, None).await
    }

    /// The same, starting nothing (a round, an ERP call) after `deadline` either, and bounding
    /// each call by it.
    pub async fn push_before<S: StockStore + SkuMapStore>(
        &self,
        store: &S,
        keys: &BTreeSet<StockKey>,
        deadline: Option<std::time::Instant>,
    ) -> PushReport {
        let mut report = PushReport::default();
        if keys.is_empty() {
            return report;
        }
        let mut end = tokio::time::Instant::now() + self.policy.budget;
        if let Some(deadline) = deadline {
            end = end.min(tokio::time::Instant::from_std(deadline));
        }
        let mut met = Met::default();
        let Ok(_turn) = tokio::time::timeout_at(end, self.turn.lock()).await else {
            // Another push of this process held the turn until the deadline: what is owed stays
            // owed, and the retry the caller schedules takes it.
            self.account(store, keys, &met, &mut report).await;
            return report;
        };
        if let Err(e) = self
            .push_inner(store, keys, end, &mut met, &mut report)
            .await
        {
            tracing::warn!("ERP push stopped: {e}");
            report.last_error = Some(e.to_string());
        }
        self.account(store, keys, &met, &mut report).await;
        report
    }

    async fn push_inner<S: StockStore + SkuMapStore>(
        &self,
        store: &S,
        keys: &BTreeSet<StockKey>,
        end: tokio::time::Instant,
        met: &mut Met,
        report: &mut PushReport,
    ) -> Result<(), PortError> {
        let maps = self.maps(store, keys).await?;
        for round in 0..self.policy.rounds.max(1) {
            if tokio::time::Instant::now() >= end {
                break;
            }
            let mine = self.prepare(store, keys, &maps).await?;
            if round > 0 && mine.is_empty() {
                // Nothing became owed while the last round was sent.
                break;
            }
            if round > 0 {
                self.metrics.count("ErpHandOver", None);
            }
            match self
                .send_round(store, keys, &mine, end, met, report)
                .await?
            {
                Round::Settled(0) | Round::Stopped => break,
                Round::Settled(_) => {}
            }
        }
        Ok(())
    }

    /// Sends every write in flight on `keys` this consumer may send (its own, and those whose
    /// lease ran out, once claimed), and settles or records what the ERP answered.
    async fn send_round<S: StockStore>(
        &self,
        store: &S,
        keys: &BTreeSet<StockKey>,
        mine: &BTreeSet<String>,
        end: tokio::time::Instant,
        met: &mut Met,
        report: &mut PushReport,
    ) -> Result<Round, PortError> {
        let loaded = store
            .load(&Wanted {
                levels: keys.clone(),
                ..Wanted::default()
            })
            .await?;
        let mut writes: BTreeMap<String, Vec<(StockKey, Inflight)>> = BTreeMap::new();
        for (key, level) in &loaded.book.levels {
            if let Some(inflight) = &level.erp_inflight {
                writes
                    .entry(inflight.key.clone())
                    .or_default()
                    .push((key.clone(), inflight.clone()));
            }
        }
        let writes: Vec<(String, Vec<(StockKey, Inflight)>)> = writes.into_iter().collect();
        let now = Timestamp::now();
        let mut settled = 0;
        for (n, (write_key, members)) in writes.iter().enumerate() {
            if members.iter().any(|(_, i)| i.parked_at.is_some()) {
                continue;
            }
            if tokio::time::Instant::now() >= end {
                report.last_error = Some("the push's time ran out with writes unsent".into());
                self.give_back(store, mine, &writes[n..]).await;
                return Ok(Round::Stopped);
            }
            if !mine.contains(write_key) {
                // Left by an earlier attempt, or another consumer's: take it over only when its
                // lease has run out, and only if the claim wins the race.
                if let Some(until) = members
                    .iter()
                    .filter(|(_, i)| i.leased_to_another(&self.holder, now))
                    .filter_map(|(_, i)| i.lease_until)
                    .max()
                {
                    met.contention(write_key, members, remaining(now, until));
                    continue;
                }
                match self.claim(store, write_key, members).await {
                    Ok(()) => {}
                    Err(Bookkeeping::Lost(why)) => {
                        tracing::debug!(key = %write_key, "another consumer has the write: {why}");
                        met.contention(write_key, members, self.policy.lease);
                        continue;
                    }
                    Err(Bookkeeping::Store(e)) => return Err(e),
                }
            }
            let write = to_write(write_key, members);
            match self
                .apply_leased(store, write_key, members, &write, end)
                .await
            {
                Sent::Acknowledged => {
                    self.settle(store, write_key, members)
                        .await
                        .map_err(Bookkeeping::into_port)?;
                    settled += 1;
                    self.acknowledged(&write, members, report);
                }
                Sent::Refused(why) => {
                    self.refused(store, write_key, members, &write, &why)
                        .await?;
                    report.last_error = Some(why);
                }
                Sent::LeaseLost(why) => {
                    tracing::warn!(key = %write_key, "stopped sending the write: {why}");
                    met.contention(write_key, members, self.policy.lease);
                }
                Sent::Failed(e) => {
                    report.last_error = Some(e.to_string());
                    // Give the leases back so the scheduled retry may send at once; the keys
                    // stay, so it still finds whatever this attempt left in the ERP.
                    self.give_back(store, mine, &writes[n + 1..]).await;
                    let _ = self.release(store, write_key, members).await;
                    return Ok(Round::Stopped);
                }
                Sent::OutOfTime => {
                    report.last_error = Some("the ERP did not answer in the push's time".into());
                    self.give_back(store, mine, &writes[n + 1..]).await;
                    let _ = self.release(store, write_key, members).await;
                    return Ok(Round::Stopped);
                }
            }
        }
        Ok(Round::Settled(settled))
    }

    /// Metrics and logs of an acknowledged write.
    fn acknowledged(&self, write: &ErpWrite, members: &[(StockKey, Inflight)], r: &mut PushReport) {
        r.writes += 1;
        r.lines += write.lines.len();
        self.metrics.count("ErpWrites", None);
        self.metrics
            .put("ErpLines", write.lines.len() as f64, Unit::Count, None);
        let now = Timestamp::now();
        for (key, inflight) in members {
            if let Some(since) = inflight.since {
                let ms = (now.0 - since.0) as f64 / 1e6;
                self.metrics
                    .put("EndToEndLatencyMs", ms.max(0.0), Unit::Milliseconds, None);
                let kind = crate::ports::LatencyKind::ErpAcknowledged;
                r.latency.record(&key.shop, kind, ms);
            }
        }
    }

    /// A refusal: counted on the write, which keeps its key; parked after too many.
    async fn refused<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
        write: &ErpWrite,
        why: &str,
    ) -> Result<(), PortError> {
        self.metrics.count("ErpRejected", None);
        match self.refuse(store, write_key, members, why).await {
            Ok(Some(refusals)) if refusals >= self.policy.max_refusals => {
                self.metrics.count("ErpWriteParked", None);
                tracing::error!(
                    key = %write_key, warehouse = %write.warehouse, refusals,
                    "ERP refused the write {refusals} times: {why}; parked for an operator. Fix \
                     the cause (SKU map, ERP product or unit, a cancelled document), then \
                     `stockbridge erp retry --shop <shop> --key {write_key}`"
                );
            }
            Ok(refusals) => {
                let refusals = refusals.unwrap_or_default();
                tracing::error!(
                    key = %write_key, warehouse = %write.warehouse, refusals,
                    "ERP refused the write: {why}; it keeps its key and is sent again later"
                );
            }
            Err(Bookkeeping::Lost(lost)) => {
                tracing::warn!(key = %write_key, "ERP refused the write ({why}), but {lost}");
            }
            Err(Bookkeeping::Store(e)) => return Err(e),
        }
        Ok(())
    }

    /// Gives back the leases of this consumer's writes among `rest` that it will not send now.
    async fn give_back<S: StockStore>(
        &self,
        store: &S,
        mine: &BTreeSet<String>,
        rest: &[(String, Vec<(StockKey, Inflight)>)],
    ) {
        for (write_key, members) in rest.iter().filter(|(k, _)| mine.contains(k)) {
            if let Err(e) = self.release(store, write_key, members).await {
                tracing::debug!(key = %write_key, "lease not given back, it runs out: {e}");
            }
        }
    }

    /// Sorts what is still owed (pending, contended, parked) and reports the oldest debt's age.
    async fn account<S: StockStore>(
        &self,
        store: &S,
        keys: &BTreeSet<StockKey>,
        met: &Met,
        report: &mut PushReport,
    ) {
        let loaded = store
            .load(&Wanted {
                levels: keys.clone(),
                ..Wanted::default()
            })
            .await;
        match loaded {
            Ok(loaded) => {
                let mut oldest: Option<i64> = None;
                for (key, level) in &loaded.book.levels {
                    let inflight = level.erp_inflight.as_ref();
                    if level.erp_owed == 0 && inflight.is_none() {
                        continue;
                    }
                    let since = [level.erp_owed_since, inflight.and_then(|i| i.since)]
                        .into_iter()
                        .flatten()
                        .map(|t| t.0)
                        .min();
                    oldest = match (oldest, since) {
                        (Some(o), Some(s)) => Some(o.min(s)),
                        (o, s) => o.or(s),
                    };
                    if inflight.is_some_and(|i| i.parked_at.is_some()) {
                        report.parked.insert(key.clone());
                        continue;
                    }
                    report.pending.insert(key.clone());
                    if met.contended.contains(key) {
                        report.contended.insert(key.clone());
                    }
                }
                let now = Timestamp::now().0;
                let age = oldest.map_or(0.0, |t| (now.saturating_sub(t) as f64 / 1e9).max(0.0));
                self.metrics
                    .put("ErpOldestDebtAgeSeconds", age, Unit::Seconds, None);
            }
            Err(e) => {
                tracing::warn!("could not read back what is still owed to the ERP: {e}");
                report.pending.extend(keys.iter().cloned());
            }
        }
        report.contended_for = met.contended_for;
        if !met.contended_writes.is_empty() {
            self.metrics.put(
                "ErpContended",
                met.contended_writes.len() as f64,
                Unit::Count,
                None,
            );
        }
        if !report.pending.is_empty() {
            self.metrics
                .put("ErpPending", report.pending.len() as f64, Unit::Count, None);
        }
    }

    async fn maps<S: SkuMapStore>(
        &self,
        store: &S,
        keys: &BTreeSet<StockKey>,
    ) -> Result<HashMap<ShopDomain, SkuMap>, PortError> {
        let mut by_shop: HashMap<&ShopDomain, Vec<_>> = HashMap::new();
        for k in keys {
            by_shop.entry(&k.shop).or_default().push(k.item);
        }
        let mut maps = HashMap::new();
        for (shop, items) in by_shop {
            maps.insert(shop.clone(), store.lookup(shop, &items, &[], &[]).await?);
        }
        Ok(maps)
    }
}

/// The time from `now` to `until` (zero when past).
fn remaining(now: Timestamp, until: Timestamp) -> Duration {
    Duration::from_nanos(u64::try_from(until.0.saturating_sub(now.0)).unwrap_or(0))
}

/// A value no other preparation gets: the clock and a per-process counter.
pub(crate) fn nonce() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    (Timestamp::now().0 as u128) << 64 | u128::from(count) ^ u128::from(std::process::id()) << 32
}

/// The write for an in-flight key, lines of one ERP item merged (two Shopify listings of one ERP
/// item, e.g. singles and a dozen, make one line).
fn to_write(key: &str, members: &[(StockKey, Inflight)]) -> ErpWrite {
    let mut lines: BTreeMap<String, ErpLine> = BTreeMap::new();
    let mut warehouse = String::new();
    for (_, i) in members {
        warehouse = i.warehouse.clone();
        let (change, target) = (i.change, i.target);
        lines
            .entry(i.erp_item.clone())
            .and_modify(|l| {
                l.change += change;
                l.target = None;
            })
            .or_insert(ErpLine {
                item: i.erp_item.clone(),
                change,
                target,
            });
    }
    ErpWrite {
        key: key.to_string(),
        warehouse,
        reason: "Stockbridge: Shopify stock changes".into(),
        as_of: Timestamp::now().to_rfc3339(),
        lines: lines.into_values().collect(),
    }
}
