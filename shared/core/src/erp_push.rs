//! Bringing stock changes into the ERP: what is owed is read from the stock records, grouped per
//! warehouse into one write (a burst on one SKU is one line of its net result), marked in flight
//! under a fixed key before the call, and settled when the ERP acknowledges it.
//!
//! The ERP is the slow end. Calls are retried under the one [`RetryPolicy`] (exponential backoff
//! and jitter, honouring `Retry-After`); after repeated failures a circuit breaker stops calling
//! the ERP for a cool-down and fails fast. Nothing is lost meanwhile: the debt stays on the stock
//! records, the in-flight write keeps its key (so a retry after a timeout finds the first write),
//! and the consumer reports the messages whose stock is still owed as failed, so SQS delivers
//! them again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

mod breaker;

use breaker::Breaker;

use crate::ports::{Erp, ErpError, PortError, SkuMapStore, StockStore, Wanted};
use crate::retry::RetryPolicy;
use crate::telemetry::{Metrics, Unit};
use stockbridge_domain::erp_write::{push_key, ErpLine, ErpWrite};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::skumap::{Master, SkuMap};
use stockbridge_domain::stock::{Inflight, StockKey, StockLevel};

/// Retry and circuit-breaker settings.
#[derive(Clone, Debug)]
pub struct PushPolicy {
    /// Calls per write before giving up for this invocation (the messages then come back), their
    /// backoff, and the longest `Retry-After` waited out in the function ([`PushPolicy::RETRY`]
    /// by default).
    pub retry: RetryPolicy,
    /// Consecutive transient failures that open the circuit.
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
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
    fn default() -> Self {
        PushPolicy {
            retry: PushPolicy::RETRY,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

impl PushPolicy {
    /// The defaults, with the breaker's cool-down from `ERP_BREAKER_COOLDOWN_SECONDS` (a value
    /// that is not a whole number of seconds is an error).
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        let mut policy = PushPolicy::default();
        let secs = crate::config::env_or(
            "ERP_BREAKER_COOLDOWN_SECONDS",
            policy.breaker_cooldown.as_secs(),
        )?;
        policy.breaker_cooldown = Duration::from_secs(secs);
        Ok(policy)
    }
}

/// The ERP side of the stock consumer.
pub struct ErpPush<E> {
    pub erp: E,
    pub policy: PushPolicy,
    pub metrics: Metrics,
    breaker: Mutex<Breaker>,
}

/// What one push did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PushReport {
    pub writes: usize,
    pub lines: usize,
    /// Stock records still owed to the ERP after this push (their messages should come back).
    pub pending: BTreeSet<StockKey>,
    pub last_error: Option<String>,
}

impl<E: Erp> ErpPush<E> {
    pub fn new(erp: E, policy: PushPolicy, metrics: Metrics) -> Self {
        ErpPush {
            erp,
            policy,
            metrics,
            breaker: Mutex::new(Breaker::default()),
        }
    }

    /// Brings what `keys` owe into the ERP.
    pub async fn push<S: StockStore + SkuMapStore>(
        &self,
        store: &S,
        keys: &BTreeSet<StockKey>,
    ) -> PushReport {
        let mut report = PushReport::default();
        if keys.is_empty() {
            return report;
        }
        match self.push_inner(store, keys, &mut report).await {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!("ERP push stopped: {e}");
                report.last_error = Some(e.to_string());
            }
        }
        // Whatever is still owed or in flight comes back with its messages.
        if let Ok(loaded) = store
            .load(&Wanted {
                levels: keys.clone(),
                ..Wanted::default()
            })
            .await
        {
            for (key, level) in &loaded.book.levels {
                if level.erp_owed != 0 || level.erp_inflight.is_some() {
                    report.pending.insert(key.clone());
                }
            }
        } else {
            report.pending.extend(keys.iter().cloned());
        }
        if !report.pending.is_empty() {
            self.metrics
                .put("ErpPending", report.pending.len() as f64, Unit::Count, None);
        }
        report
    }

    async fn push_inner<S: StockStore + SkuMapStore>(
        &self,
        store: &S,
        keys: &BTreeSet<StockKey>,
        report: &mut PushReport,
    ) -> Result<(), PortError> {
        let maps = self.maps(store, keys).await?;
        // 1. Prepare: owed stock without a write in flight gets one, under a fixed key, leased to
        //    this consumer.
        let mut mine: BTreeSet<String> = BTreeSet::new();
        for _ in 0..4 {
            let loaded = store
                .load(&Wanted {
                    levels: keys.clone(),
                    ..Wanted::default()
                })
                .await?;
            let mut marked: Vec<(StockKey, StockLevel)> = Vec::new();
            let mut groups: BTreeMap<String, Vec<(StockKey, StockLevel)>> = BTreeMap::new();
            for (key, level) in &loaded.book.levels {
                if level.erp_owed == 0 || level.erp_inflight.is_some() {
                    continue;
                }
                let Some(map) = maps.get(&key.shop) else {
                    continue;
                };
                let (Some(item), Some(location)) =
                    (map.items.get(&key.item), map.locations.get(&key.location))
                else {
                    continue;
                };
                let mut level = level.clone();
                level.erp_inflight = Some(Inflight {
                    key: String::new(),
                    warehouse: location.erp_warehouse.clone(),
                    erp_item: item.erp_item.clone(),
                    quantity: level.erp_owed,
                    change: item.uom.to_erp(level.erp_owed),
                    target: (location.master == Master::Shopify)
                        .then(|| item.uom.to_erp(level.on_hand())),
                    since: level.erp_owed_since,
                    lease_until: Some(lease()),
                });
                groups
                    .entry(location.erp_warehouse.clone())
                    .or_default()
                    .push((key.clone(), level));
            }
            for (warehouse, members) in groups {
                for chunk in members.chunks(50) {
                    let covered: Vec<(String, u64)> = chunk
                        .iter()
                        .map(|(k, l)| (k.to_string(), l.erp_seq))
                        .collect();
                    let key = push_key(&warehouse, &covered, nonce());
                    for (k, l) in chunk {
                        let mut l = l.clone();
                        if let Some(i) = l.erp_inflight.as_mut() {
                            i.key = key.clone();
                        }
                        marked.push((k.clone(), l));
                    }
                }
            }
            if marked.is_empty() {
                break;
            }
            match store.put_levels(&marked, &loaded).await {
                Ok(()) => {
                    mine.extend(
                        marked
                            .iter()
                            .filter_map(|(_, l)| l.erp_inflight.as_ref().map(|i| i.key.clone())),
                    );
                    break;
                }
                Err(PortError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }

        // 2. Send every write in flight (new or left by an earlier attempt) and settle it.
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
        let now = Timestamp::now();
        for (write_key, members) in writes {
            if !mine.contains(&write_key) {
                // Left by an earlier attempt, or another consumer's: take it over only when its
                // lease has run out, and only if the claim wins the race.
                let leased = members
                    .iter()
                    .any(|(_, i)| i.lease_until.is_some_and(|until| until > now));
                if leased {
                    continue;
                }
                match self.claim(store, &write_key, &members).await {
                    Ok(()) => {}
                    Err(PortError::Conflict(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
            let write = to_write(&write_key, &members);
            match self.apply_with_retry(&write).await {
                Ok(()) => {
                    self.settle(store, &write_key, &members).await?;
                    report.writes += 1;
                    report.lines += write.lines.len();
                    self.metrics.count("ErpWrites", None);
                    self.metrics
                        .put("ErpLines", write.lines.len() as f64, Unit::Count, None);
                    let now = Timestamp::now();
                    for (_, inflight) in &members {
                        if let Some(since) = inflight.since {
                            let ms = (now.0 - since.0) as f64 / 1e6;
                            self.metrics.put(
                                "EndToEndLatencyMs",
                                ms.max(0.0),
                                Unit::Milliseconds,
                                None,
                            );
                        }
                    }
                }
                Err(ErpError::Rejected(why)) => {
                    self.metrics.count("ErpRejected", None);
                    tracing::error!(key = %write_key, warehouse = %write.warehouse, "ERP rejected the write: {why}; the stock stays owed until the mapping or the ERP is fixed");
                    self.clear(store, &write_key, &members).await?;
                    report.last_error = Some(why);
                }
                Err(e) => {
                    report.last_error = Some(e.to_string());
                    // Give the lease back so the scheduled retry may send it at once; the key
                    // stays, so the retry still finds whatever this attempt left in the ERP.
                    let _ = self
                        .rewrite(store, &write_key, &members, |level, _| {
                            if let Some(i) = level.erp_inflight.as_mut() {
                                i.lease_until = None;
                            }
                        })
                        .await;
                    // The circuit or the retries gave up: the rest waits for the next delivery.
                    return Ok(());
                }
            }
        }
        Ok(())
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

    /// Marks the write acknowledged: the debt it covered is paid, the sequence moves on.
    async fn settle<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
    ) -> Result<(), PortError> {
        self.rewrite(store, write_key, members, |level, inflight| {
            level.erp_owed -= inflight.quantity;
            level.erp_seq += 1;
            level.erp_inflight = None;
            if level.erp_owed == 0 {
                level.erp_owed_since = None;
            }
        })
        .await
    }

    /// Drops a refused write: the debt stays, and a later push prepares it again.
    async fn clear<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
    ) -> Result<(), PortError> {
        self.rewrite(store, write_key, members, |level, _| {
            level.erp_inflight = None
        })
        .await
    }

    /// Takes the lease of an in-flight write whose lease ran out: one read, one conditional
    /// write; [`PortError::Conflict`] if another consumer holds or took it.
    async fn claim<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
    ) -> Result<(), PortError> {
        let keys: BTreeSet<StockKey> = members.iter().map(|(k, _)| k.clone()).collect();
        let loaded = store
            .load(&Wanted {
                levels: keys,
                ..Wanted::default()
            })
            .await?;
        let now = Timestamp::now();
        let mut changed = Vec::new();
        for (key, level) in &loaded.book.levels {
            let Some(inflight) = &level.erp_inflight else {
                continue;
            };
            if inflight.key != write_key {
                continue;
            }
            if inflight.lease_until.is_some_and(|until| until > now) {
                return Err(PortError::Conflict(format!("write {write_key} is leased")));
            }
            let mut level = level.clone();
            if let Some(i) = level.erp_inflight.as_mut() {
                i.lease_until = Some(lease());
            }
            changed.push((key.clone(), level));
        }
        if changed.is_empty() {
            return Err(PortError::Conflict(format!("write {write_key} is settled")));
        }
        store.put_levels(&changed, &loaded).await
    }

    /// Applies `change` to every stock record the write covers, trying again under
    /// [`PushPolicy::SETTLE`] after a lost race or an unreachable store.
    async fn rewrite<S: StockStore>(
        &self,
        store: &S,
        write_key: &str,
        members: &[(StockKey, Inflight)],
        change: impl Fn(&mut StockLevel, &Inflight) + Send + Sync,
    ) -> Result<(), PortError> {
        let keys: BTreeSet<StockKey> = members.iter().map(|(k, _)| k.clone()).collect();
        let once = || async {
            let loaded = store
                .load(&Wanted {
                    levels: keys.clone(),
                    ..Wanted::default()
                })
                .await?;
            let mut changed = Vec::new();
            for (key, level) in &loaded.book.levels {
                let Some(inflight) = level.erp_inflight.clone() else {
                    continue;
                };
                if inflight.key != write_key {
                    continue;
                }
                let mut level = level.clone();
                change(&mut level, &inflight);
                changed.push((key.clone(), level));
            }
            store.put_levels(&changed, &loaded).await
        };
        PushPolicy::SETTLE
            .run(once, |e, wait| {
                let wait_ms = wait.as_millis() as u64;
                tracing::debug!(key = %write_key, wait_ms, "settling the ERP write again: {e}");
            })
            .await
            .map_err(|e| match e {
                PortError::Conflict(what) => {
                    PortError::Conflict(format!("settling ERP write {write_key}: {what}"))
                }
                e => e,
            })
    }
}

/// How long a consumer holds an in-flight write: longer than one push can take (attempts x the
/// ERP call timeout plus waits), shorter than a Lambda invocation's 60 s.
const LEASE: Duration = Duration::from_secs(55);

fn lease() -> Timestamp {
    Timestamp(Timestamp::now().0 + LEASE.as_nanos() as i64)
}

/// A value no other preparation gets: the clock and a per-process counter.
fn nonce() -> u128 {
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
