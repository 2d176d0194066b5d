//! The stock consumer's handler: a batch of SQS messages in, stock applied exactly once, and the
//! messages that failed reported back (`batchItemFailures`) so only they are delivered again.
//!
//! Per batch: decode (a message that is not an event fails, and after `maxReceiveCount` receives
//! the queue moves it to the dead-letter queue); skip keys already applied; resolve items and
//! locations (unmapped changes are parked); load the records touched; plan (pure, coalesced); and
//! commit in one transaction. A lost race re-plans from fresh reads (under `CONFLICTS`, a
//! [`RetryPolicy`]); a plan too large for one transaction is split.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use crate::erp_push::ErpPush;
use crate::ports::{Erp, EventQueue, NoErp, NoQueue, PortError, SkuMapStore, StockStore, Wanted};
use crate::retry::{RetryPolicy, Retryable, Verdict};
use crate::telemetry::{Metrics, Unit};
use stockbridge_domain::batch::{plan_batch, Masters, Outcome, ResolvedEvent};
use stockbridge_domain::event::{EventBody, InventoryEvent};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::resolve::{references, resolve};
use stockbridge_domain::skumap::SkuMap;
use stockbridge_domain::stock::{Fact, StockKey};

/// A batch that lost a race is planned again from fresh reads: six plans in all, 20 ms doubling
/// to 320 ms, with jitter to split racing consumers; then its messages fail and come back.
const CONFLICTS: RetryPolicy = RetryPolicy {
    attempts: 6,
    min_delay: Duration::from_millis(20),
    max_delay: Duration::from_millis(320),
    max_wait: Duration::ZERO,
    min_after: Duration::ZERO,
};
/// A batch that found the store unreachable is tried this many times (with the same waits).
const UNAVAILABLE_ATTEMPTS: u32 = 3;

/// Typical transaction actions per change (its record, a level, a log entry); a plan that still
/// needs more than one transaction takes is split in half and tried again.
const ACTIONS_PER_CHANGE: usize = 3;
const MAX_ACTIONS: usize = 100;

/// A store error on a chunk's `attempt`-th try: a lost race is retried while [`CONFLICTS`]
/// allows, an unreachable store only [`UNAVAILABLE_ATTEMPTS`] times, anything else never.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
struct ChunkError {
    error: PortError,
    attempt: u32,
}

impl Retryable for ChunkError {
    fn verdict(&self) -> Verdict {
        match self.error {
            PortError::Unavailable { .. } if self.attempt >= UNAVAILABLE_ATTEMPTS => Verdict::Stop,
            _ => self.error.verdict(),
        }
    }
}

pub struct StockConsumer<S, E = NoErp, Q = NoQueue> {
    pub store: S,
    pub metrics: Metrics,
    /// The ERP side; `None` keeps stock in DynamoDB only.
    pub erp: Option<ErpPush<E>>,
    /// Where the consumer schedules its own ERP retries (the events queue). Without it, messages
    /// whose stock is still owed are reported failed and come back after the visibility timeout.
    pub retries: Option<Q>,
}

/// First delay of a scheduled ERP retry; it doubles per attempt up to SQS's 15 minutes.
const RETRY_BASE_DELAY: Duration = Duration::from_secs(2);

/// What one batch did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BatchReport {
    pub outcomes: Vec<(String, Outcome)>,
    pub failed: Vec<String>,
    /// Per message, the stock records it touched (for the ERP push).
    pub touched: Vec<(String, BTreeSet<StockKey>)>,
    /// Stock records still owed to the ERP after this batch.
    pub erp_pending: BTreeSet<StockKey>,
}

impl<S: StockStore + SkuMapStore> StockConsumer<S, NoErp, NoQueue> {
    pub fn new(store: S, metrics: Metrics) -> Self {
        StockConsumer {
            store,
            metrics,
            erp: None,
            retries: None,
        }
    }
}

impl<S: StockStore + SkuMapStore, E: Erp, Q: EventQueue> StockConsumer<S, E, Q> {
    pub fn with_erp(store: S, metrics: Metrics, erp: ErpPush<E>, retries: Option<Q>) -> Self {
        StockConsumer {
            store,
            metrics,
            erp: Some(erp),
            retries,
        }
    }

    /// Applies `(message id, body)` pairs; returns what happened and the ids that failed.
    pub async fn apply_messages(&self, messages: &[(String, String)]) -> BatchReport {
        let mut report = BatchReport::default();
        let mut stock: Vec<(String, InventoryEvent)> = Vec::new();
        let mut retry_attempt = 0;
        for (id, body) in messages {
            match InventoryEvent::from_json(body) {
                Ok(InventoryEvent {
                    body: EventBody::ErpRetry { keys, attempt },
                    ..
                }) => {
                    retry_attempt = retry_attempt.max(attempt);
                    report
                        .touched
                        .push((id.clone(), keys.into_iter().collect()));
                }
                Ok(event) if event.body == EventBody::ShopRedact => {
                    match self.store.redact_shop(&event.shop).await {
                        Ok(n) => {
                            tracing::info!(shop = %event.shop, records = n, "shop redacted");
                            self.metrics.count("ShopRedacted", None);
                            report.outcomes.push((event.key, Outcome::Applied));
                        }
                        Err(e) => {
                            tracing::error!(shop = %event.shop, "shop redaction failed: {e}");
                            report.failed.push(id.clone());
                        }
                    }
                }
                Ok(event) => stock.push((id.clone(), event)),
                Err(e) => {
                    self.metrics.count("ConsumerUndecodable", None);
                    tracing::error!(message_id = %id, "message failed: {e}");
                    report.failed.push(id.clone());
                }
            }
        }
        let started = std::time::Instant::now();
        for chunk in chunks(&stock) {
            self.apply_chunk(chunk, &mut report).await;
        }
        let applied_ms = started.elapsed().as_millis() as u64;
        if let Some(erp) = &self.erp {
            self.push_to_erp(erp, retry_attempt, &mut report).await;
        }
        tracing::info!(
            messages = messages.len(),
            failed = report.failed.len(),
            applied_ms,
            erp_ms = started.elapsed().as_millis() as u64 - applied_ms,
            "batch done"
        );
        report
    }

    /// One ERP push for everything the batch touched (a burst across chunks coalesces too).
    /// Stock still owed afterwards gets a scheduled retry with a growing delay; if even that
    /// cannot be sent, the messages that touched it fail and come back.
    async fn push_to_erp(&self, erp: &ErpPush<E>, attempt: u32, report: &mut BatchReport) {
        let failed: BTreeSet<String> = report.failed.iter().cloned().collect();
        let keys: BTreeSet<StockKey> = report
            .touched
            .iter()
            .filter(|(id, _)| !failed.contains(id))
            .flat_map(|(_, keys)| keys.iter().cloned())
            .collect();
        if keys.is_empty() {
            return;
        }
        let pushed = erp.push(&self.store, &keys).await;
        if pushed.pending.is_empty() {
            return;
        }
        let delay = RETRY_BASE_DELAY
            .saturating_mul(1u32 << attempt.min(9))
            .min(Duration::from_secs(900));
        let scheduled = match &self.retries {
            Some(queue) => {
                let first = pushed.pending.iter().next().map(|k| k.shop.clone());
                let retry = InventoryEvent {
                    schema: stockbridge_domain::event::SCHEMA_VERSION,
                    key: format!("erp-retry:{}:{}", attempt + 1, Timestamp::now().0),
                    shop: first.unwrap_or_else(|| ShopDomain::new("")),
                    source: stockbridge_domain::event::Source {
                        topic: "stockbridge/erp-retry".into(),
                        webhook_id: String::new(),
                        event_id: None,
                        api_version: None,
                        triggered_at: Timestamp::now(),
                        received_at: Timestamp::now(),
                    },
                    part: stockbridge_domain::event::Part::WHOLE,
                    body: EventBody::ErpRetry {
                        keys: pushed.pending.iter().cloned().collect(),
                        attempt: attempt + 1,
                    },
                };
                match queue.send_after(&[retry], delay).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!("could not schedule the ERP retry: {e}");
                        false
                    }
                }
            }
            None => false,
        };
        if scheduled {
            self.metrics.count("ErpRetryScheduled", None);
            tracing::warn!(
                pending = pushed.pending.len(),
                delay_s = delay.as_secs(),
                error = ?pushed.last_error,
                "ERP push incomplete; retry scheduled"
            );
        } else {
            let owed: Vec<String> = report
                .touched
                .iter()
                .filter(|(id, keys)| {
                    keys.iter().any(|k| pushed.pending.contains(k)) && !failed.contains(id)
                })
                .map(|(id, _)| id.clone())
                .collect();
            report.failed.extend(owed);
        }
        report.erp_pending = pushed.pending;
    }

    async fn apply_chunk(&self, chunk: &[(String, InventoryEvent)], report: &mut BatchReport) {
        let events: Vec<InventoryEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
        let events = &events;
        let mut tries = 0u32;
        let try_chunk = || {
            tries += 1;
            let attempt = tries;
            async move {
                self.try_apply(events)
                    .await
                    .map_err(|error| ChunkError { error, attempt })
            }
        };
        let applied = CONFLICTS
            .run(try_chunk, |e, wait| {
                let (attempt, wait_ms) = (e.attempt, wait.as_millis() as u64);
                match &e.error {
                    PortError::Conflict(what) => {
                        self.metrics.count("ConsumerConflictRetry", None);
                        tracing::debug!(attempt, wait_ms, "lost a race ({what}); planning again");
                    }
                    other => tracing::debug!(attempt, wait_ms, "{other}; trying again"),
                }
            })
            .await
            .map_err(|e| e.error);
        match applied {
            Ok((outcomes, touched)) => {
                self.record(events, &outcomes);
                report.outcomes.extend(outcomes);
                report
                    .touched
                    .extend(chunk.iter().map(|(id, _)| id.clone()).zip(touched));
            }
            // Not a retry: the plan cannot fit one transaction, so each half is applied alone.
            Err(PortError::TooLarge(n)) if chunk.len() > 1 => {
                tracing::info!(
                    actions = n,
                    events = chunk.len(),
                    "splitting a batch too large for one transaction"
                );
                let (a, b) = chunk.split_at(chunk.len() / 2);
                Box::pin(self.apply_chunk(a, report)).await;
                Box::pin(self.apply_chunk(b, report)).await;
            }
            Err(e) => {
                self.metrics
                    .put("ConsumerFailed", chunk.len() as f64, Unit::Count, None);
                tracing::error!(
                    events = chunk.len(),
                    "batch failed, messages go back to the queue: {e}"
                );
                report.failed.extend(chunk.iter().map(|(id, _)| id.clone()));
            }
        }
    }

    /// Applies a chunk; returns each event's outcome and the stock records each one touches
    /// (duplicates included, so a redelivery can finish an ERP push).
    #[allow(clippy::type_complexity)]
    async fn try_apply(
        &self,
        events: &[InventoryEvent],
    ) -> Result<(Vec<(String, Outcome)>, Vec<BTreeSet<StockKey>>), PortError> {
        let keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
        let applied = self.store.applied(&keys).await?;

        let mut maps: HashMap<ShopDomain, SkuMap> = HashMap::new();
        let mut by_shop: HashMap<&ShopDomain, Vec<&InventoryEvent>> = HashMap::new();
        for e in events {
            by_shop.entry(&e.shop).or_default().push(e);
        }
        for (shop, list) in by_shop {
            let (mut items, mut variants, mut skus) = (Vec::new(), Vec::new(), Vec::new());
            for e in list {
                let (i, v, s) = references(e);
                items.extend(i);
                variants.extend(v);
                skus.extend(s);
            }
            let map = self.store.lookup(shop, &items, &variants, &skus).await?;
            maps.insert(shop.clone(), map);
        }
        let empty = SkuMap::default();
        let resolved: Vec<ResolvedEvent> = events
            .iter()
            .map(|e| resolve(e, maps.get(&e.shop).unwrap_or(&empty)))
            .collect();

        let mut wanted = Wanted::default();
        for fact in resolved.iter().flat_map(|r| &r.facts) {
            match fact {
                Fact::Available { key, .. } | Fact::Disconnected { key, .. } => {
                    wanted.levels.insert(key.clone());
                }
                Fact::Commitment { line, key, .. } => {
                    wanted.lines.insert(line.clone());
                    wanted.levels.insert(key.clone());
                }
                Fact::Movement { movement, key, .. } => {
                    wanted.movements.insert(movement.clone());
                    wanted.levels.insert(key.clone());
                }
                Fact::Item { shop, item, .. } => {
                    wanted.items.insert((shop.clone(), *item));
                }
            }
        }
        let mut loaded = self.store.load(&wanted).await?;
        // A line already attributed elsewhere gives back its commitment there: load that level too.
        let mut more = Wanted::default();
        for (key, line) in &loaded.book.lines {
            let old = StockKey {
                shop: key.shop.clone(),
                item: line.item,
                location: line.location,
            };
            if !wanted.levels.contains(&old) {
                more.levels.insert(old);
            }
        }
        if !more.levels.is_empty() {
            let extra = self.store.load(&more).await?;
            loaded.book.levels.extend(extra.book.levels);
            loaded.revisions.extend(extra.revisions);
        }

        let masters: Masters = maps
            .iter()
            .flat_map(|(shop, map)| {
                map.locations
                    .values()
                    .map(move |l| ((shop.clone(), l.location), l.master))
            })
            .collect();
        let plan = plan_batch(loaded.book.clone(), &applied, &resolved, &masters);
        self.store.commit(&plan, &loaded, events).await?;
        // Items written in the transaction (each costs 2 write units in a DynamoDB transaction).
        let items = plan.changed_levels.len()
            + plan.changed_lines.len()
            + plan.changed_items.len()
            + plan.changed_movements.len()
            + plan.ledger.len()
            + plan.parked.len()
            + plan.new_keys().count();
        self.metrics
            .put("DynamoItemsWritten", items as f64, Unit::Count, None);
        for entry in &plan.ledger {
            tracing::info!(
                shop = %entry.key.shop, item = %entry.key.item, location = %entry.key.location,
                available = entry.after.available, committed = entry.after.committed,
                on_hand = entry.after.on_hand, causes = entry.causes.len(), "stock updated"
            );
        }
        for (key, unresolved) in &plan.parked {
            tracing::warn!(event = %key, missing = ?unresolved.missing, "parked until the mapping arrives");
        }
        let touched = resolved
            .iter()
            .map(|r| r.facts.iter().filter_map(fact_key).collect())
            .collect();
        Ok((plan.outcomes, touched))
    }

    fn record(&self, events: &[InventoryEvent], outcomes: &[(String, Outcome)]) {
        let now = Timestamp::now();
        for ((_, outcome), event) in outcomes.iter().zip(events) {
            let (name, reason) = match outcome {
                Outcome::Applied => ("EventsApplied", None),
                Outcome::AppliedAndParked => ("EventsApplied", Some("partly_parked")),
                Outcome::Parked => ("EventsParked", None),
                Outcome::Duplicate => ("EventsDuplicate", None),
            };
            self.metrics.count(name, reason);
            if matches!(outcome, Outcome::Applied | Outcome::AppliedAndParked) {
                let ms = (now.0 - event.source.received_at.0) as f64 / 1e6;
                self.metrics
                    .put("AppliedLatencyMs", ms.max(0.0), Unit::Milliseconds, None);
            }
        }
    }
}

fn fact_key(fact: &Fact) -> Option<StockKey> {
    match fact {
        Fact::Available { key, .. }
        | Fact::Disconnected { key, .. }
        | Fact::Commitment { key, .. }
        | Fact::Movement { key, .. } => Some(key.clone()),
        Fact::Item { .. } => None,
    }
}

/// Groups events so each group's worst-case transaction stays within DynamoDB's 100 actions.
fn chunks(events: &[(String, InventoryEvent)]) -> Vec<&[(String, InventoryEvent)]> {
    let cost = |e: &InventoryEvent| match &e.body {
        EventBody::Stock { changes } => 1 + ACTIONS_PER_CHANGE * changes.len(),
        EventBody::ShopRedact | EventBody::ErpRetry { .. } => 0,
    };
    let mut out = Vec::new();
    let (mut start, mut total) = (0, 0);
    for (i, (_, e)) in events.iter().enumerate() {
        let c = cost(e);
        if i > start && total + c > MAX_ACTIONS {
            out.push(&events[start..i]);
            start = i;
            total = 0;
        }
        total += c;
    }
    if start < events.len() {
        out.push(&events[start..]);
    }
    out
}
