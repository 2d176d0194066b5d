//! The stock consumer's handler: a batch of SQS messages in, stock applied exactly once, and the
//! messages that failed reported back (`batchItemFailures`) so only they are delivered again.
//!
//! Per batch: decode (a message that is not an event fails, and after `maxReceiveCount` receives
//! the queue moves it to the dead-letter queue); skip keys already applied; resolve items and
//! locations (unmapped changes are parked); load the records touched; plan (pure, coalesced); and
//! commit in one transaction. A lost race re-plans from fresh reads (under `CONFLICTS`, a
//! [`RetryPolicy`]); a plan too large for one transaction is split; a chunk the store refuses
//! ([`PortError::Refused`]: e.g. an event key over DynamoDB's 2 KB) is split in halves down to
//! the message that carries the refusal, so only that one fails.
//!
//! Within the invocation's deadline ([`StockConsumer::apply_messages_until`]): no chunk, retry,
//! redaction step or ERP push starts within [`ConsumerSettings::deadline_margin`] of it; what is
//! not done by then fails (`BatchReport::deferred`) and comes back alone, and stock the ERP is
//! still owed gets an `erp_retry` instead of a push. `shop/redact` runs in recorded steps
//! ([`crate::redact`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::deadline::Clock;

use crate::erp_push::ErpPush;
use crate::ports::{
    Erp, ErpSales, EventQueue, LatencyDigest, LatencyTally, NoErp, NoQueue, NoShopify, PortError,
    ShopifyReads, SkuMapStore, StockStore,
};
use crate::redact::{redact, Redaction};
use crate::retry::{RetryPolicy, Retryable, Verdict};
use crate::sales_flow::{NoSales, SalesFlow};
use crate::telemetry::{Metrics, Unit};
use stockbridge_domain::batch::Outcome;
use stockbridge_domain::event::{EventBody, InventoryEvent};
use stockbridge_domain::ids::Timestamp;
use stockbridge_domain::stock::{OrderKey, StockKey};

mod apply;
mod push;
mod refresh;
mod sales;
mod settings;

use apply::chunks;
pub use refresh::Needs;
pub use settings::ConsumerSettings;

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

/// A store error on a chunk's `attempt`-th try: a lost race is retried while [`CONFLICTS`]
/// allows, an unreachable store only [`UNAVAILABLE_ATTEMPTS`] times, anything else never, and
/// nothing once the deadline is near (`out_of_time`).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
struct ChunkError {
    error: PortError,
    attempt: u32,
    out_of_time: bool,
}

impl Retryable for ChunkError {
    fn verdict(&self) -> Verdict {
        match self.error {
            _ if self.out_of_time => Verdict::Stop,
            PortError::Unavailable { .. } if self.attempt >= UNAVAILABLE_ATTEMPTS => Verdict::Stop,
            _ => self.error.verdict(),
        }
    }
}

pub struct StockConsumer<S, E = NoErp, Q = NoQueue, R = NoShopify, O = NoSales> {
    pub store: S,
    pub metrics: Metrics,
    /// The ERP side; `None` keeps stock in DynamoDB only.
    pub erp: Option<ErpPush<E>>,
    /// Where the consumer schedules its own ERP retries and redaction continuations (the
    /// events queue). Without it, messages whose stock is still owed, or whose redaction is not
    /// finished, are reported failed and come back after the visibility timeout.
    pub retries: Option<Q>,
    /// The Admin API reads that explain what webhooks leave open (fulfillment orders, quantity
    /// names). `None`: what is unexplained stays so, and tells the ERP nothing, until
    /// reconciliation reads it.
    pub shopify: Option<R>,
    /// The order flow ([`crate::sales_flow`]); `None`: orders are not placed in the ERP (and
    /// records of orders that would go wait).
    pub sales: Option<SalesFlow<O>>,
    pub settings: ConsumerSettings,
}

/// First delay of a scheduled ERP retry; it doubles per attempt up to SQS's 15 minutes.
const RETRY_BASE_DELAY: Duration = Duration::from_secs(2);

/// What one batch did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BatchReport {
    pub outcomes: Vec<(String, Outcome)>,
    pub failed: Vec<String>,
    /// Why a failed message failed, where the consumer knows (kept as its failure record).
    pub reasons: BTreeMap<String, String>,
    /// Per message, the stock records it touched (for the ERP push).
    pub touched: Vec<(String, BTreeSet<StockKey>)>,
    /// Stock records still owed to the ERP after this batch.
    pub erp_pending: BTreeSet<StockKey>,
    /// The failed messages that were not (or not completely) tried because the deadline came
    /// near; they are in `failed` too.
    pub deferred: Vec<String>,
    /// What the batch left to read from the Admin API (before the reads).
    pub needs: Needs,
    /// The batch's sync latencies per shop, added to the latency digest at its end.
    pub latency: LatencyTally,
}

impl BatchReport {
    /// The failed messages, and the stock the others touched (what an ERP push covers).
    fn owing(&self) -> (BTreeSet<String>, BTreeSet<StockKey>) {
        let failed: BTreeSet<String> = self.failed.iter().cloned().collect();
        let keys = self
            .touched
            .iter()
            .filter(|(id, _)| !failed.contains(id))
            .flat_map(|(_, keys)| keys.iter().cloned())
            .collect();
        (failed, keys)
    }
}

impl<S: StockStore + SkuMapStore> StockConsumer<S, NoErp, NoQueue> {
    pub fn new(store: S, metrics: Metrics) -> Self {
        StockConsumer {
            store,
            metrics,
            erp: None,
            retries: None,
            shopify: None,
            sales: None,
            settings: ConsumerSettings::default(),
        }
    }
}

impl<S, E, Q, R, O> StockConsumer<S, E, Q, R, O> {
    /// The same consumer with other settings.
    pub fn with_settings(self, settings: ConsumerSettings) -> Self {
        StockConsumer { settings, ..self }
    }

    /// The same consumer scheduling its retries and continuations on `queue`.
    pub fn with_queue<Q2>(self, queue: Q2) -> StockConsumer<S, E, Q2, R, O> {
        StockConsumer {
            store: self.store,
            metrics: self.metrics,
            erp: self.erp,
            retries: Some(queue),
            shopify: self.shopify,
            sales: self.sales,
            settings: self.settings,
        }
    }

    /// The same consumer reading what webhooks leave open from `reads` (the Admin API).
    pub fn with_shopify<R2>(self, reads: Option<R2>) -> StockConsumer<S, E, Q, R2, O> {
        StockConsumer {
            store: self.store,
            metrics: self.metrics,
            erp: self.erp,
            retries: self.retries,
            shopify: reads,
            sales: self.sales,
            settings: self.settings,
        }
    }

    /// The same consumer placing orders in the ERP through `flow`.
    pub fn with_sales<O2>(self, flow: Option<SalesFlow<O2>>) -> StockConsumer<S, E, Q, R, O2> {
        StockConsumer {
            store: self.store,
            metrics: self.metrics,
            erp: self.erp,
            retries: self.retries,
            shopify: self.shopify,
            sales: flow,
            settings: self.settings,
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
            shopify: None,
            sales: None,
            settings: ConsumerSettings::default(),
        }
    }
}

impl<S: StockStore + SkuMapStore, E: Erp, Q: EventQueue, R: ShopifyReads, O: ErpSales>
    StockConsumer<S, E, Q, R, O>
{
    /// Applies `(message id, body)` pairs with no deadline; returns what happened and the ids
    /// that failed.
    pub async fn apply_messages(&self, messages: &[(String, String)]) -> BatchReport
    where
        S: LatencyDigest,
    {
        self.apply_messages_until(messages, None).await
    }

    /// Applies `(message id, body)` pairs before `deadline` (when the invocation ends): nothing
    /// starts within the margin of it, and what was not done is reported failed (and
    /// `deferred`), so only that comes back.
    pub async fn apply_messages_until(
        &self,
        messages: &[(String, String)],
        deadline: Option<Instant>,
    ) -> BatchReport
    where
        S: LatencyDigest,
    {
        let clock = Clock {
            deadline,
            margin: self.settings.deadline_margin,
        };
        let mut report = BatchReport::default();
        let mut stock: Vec<(String, InventoryEvent)> = Vec::new();
        let mut redactions: Vec<(String, InventoryEvent)> = Vec::new();
        let mut retry_attempt = 0;
        let mut asked = Needs::default();
        let mut refresh_attempt = 0;
        let mut sales_attempt = 0;
        let mut sales_orders: BTreeSet<OrderKey> = BTreeSet::new();
        for (id, body) in messages {
            match InventoryEvent::from_json(body) {
                Ok(InventoryEvent {
                    shop,
                    body:
                        EventBody::Refresh {
                            fulfillment_orders,
                            levels,
                            attempt,
                        },
                    ..
                }) => {
                    refresh_attempt = refresh_attempt.max(attempt);
                    asked.add_fulfillment_orders(&shop, fulfillment_orders);
                    asked.levels.extend(levels.iter().cloned());
                    report
                        .touched
                        .push((id.clone(), levels.into_iter().collect()));
                }
                Ok(InventoryEvent {
                    body: EventBody::ErpRetry { keys, attempt },
                    ..
                }) => {
                    retry_attempt = retry_attempt.max(attempt);
                    report
                        .touched
                        .push((id.clone(), keys.into_iter().collect()));
                }
                Ok(InventoryEvent {
                    shop,
                    body: EventBody::SalesRetry { orders, attempt },
                    ..
                }) => {
                    sales_attempt = sales_attempt.max(attempt);
                    sales_orders.extend(orders.into_iter().map(|order| OrderKey {
                        shop: shop.clone(),
                        order,
                    }));
                }
                Ok(event) if matches!(event.body, EventBody::ErpChange { .. }) => {
                    // The ERP's changes travel on their own queue to the ERP sync.
                    self.metrics.count("ConsumerUndecodable", None);
                    report.failed.push(id.clone());
                    report.reasons.insert(
                        id.clone(),
                        "an erp_change event belongs on the ERP changes queue".into(),
                    );
                }
                Ok(event) if matches!(event.body, EventBody::ShopRedact { .. }) => {
                    redactions.push((id.clone(), event));
                }
                Ok(event) => stock.push((id.clone(), event)),
                Err(e) => {
                    self.metrics.count("ConsumerUndecodable", None);
                    tracing::error!(message_id = %id, "message failed: {e}");
                    report.failed.push(id.clone());
                    report
                        .reasons
                        .insert(id.clone(), format!("not an event: {e}"));
                }
            }
        }
        for (id, event) in &redactions {
            self.redact_one(id, event, &clock, &mut report).await;
        }
        let started = Instant::now();
        for chunk in chunks(&stock) {
            self.apply_chunk(chunk, &clock, &mut report).await;
        }
        report.needs.merge(asked);
        let needs = report.needs.clone();
        self.refresh(needs, refresh_attempt, &clock, &mut report)
            .await;
        let applied_ms = started.elapsed().as_millis() as u64;
        sales_orders.extend(report.needs.orders.iter().cloned());
        if let Some(flow) = &self.sales {
            self.place_orders(flow, &sales_orders, sales_attempt, &clock)
                .await;
        }
        if let Some(erp) = &self.erp {
            if clock.time_for(self.settings.erp_reserve) {
                let deadline = clock
                    .deadline
                    .map(|d| d.checked_sub(clock.margin).unwrap_or(d));
                self.push_to_erp(erp, retry_attempt, deadline, &mut report)
                    .await;
            } else {
                self.defer_erp(retry_attempt, &mut report).await;
            }
        }
        if !report.deferred.is_empty() {
            self.metrics.put(
                "ConsumerDeferred",
                report.deferred.len() as f64,
                Unit::Count,
                None,
            );
            tracing::warn!(
                deferred = report.deferred.len(),
                "deadline near: messages not applied go back to the queue"
            );
        }
        report
            .latency
            .keep(&self.store, Timestamp::now(), &self.metrics)
            .await;
        tracing::info!(
            messages = messages.len(),
            failed = report.failed.len(),
            applied_ms,
            erp_ms = started.elapsed().as_millis() as u64 - applied_ms,
            "batch done"
        );
        report
    }

    /// One `shop/redact` message, as far as the deadline allows ([`crate::redact`]).
    async fn redact_one(
        &self,
        id: &str,
        event: &InventoryEvent,
        clock: &Clock,
        report: &mut BatchReport,
    ) {
        let EventBody::ShopRedact { resume } = &event.body else {
            return;
        };
        let settings = &self.settings.redact;
        let queue = self.retries.as_ref();
        let done = redact(
            &self.store,
            queue,
            &self.metrics,
            settings,
            clock,
            event,
            resume.as_ref(),
        );
        match done.await {
            Ok(Redaction::Finished | Redaction::HandedOn) => {
                report.outcomes.push((event.key.clone(), Outcome::Applied));
            }
            Ok(Redaction::Duplicate) => {
                report
                    .outcomes
                    .push((event.key.clone(), Outcome::Duplicate));
            }
            Ok(Redaction::Deferred) => {
                report.failed.push(id.to_string());
                report.deferred.push(id.to_string());
            }
            Ok(Redaction::Unfinished) => report.failed.push(id.to_string()),
            Err(e) => {
                tracing::error!(shop = %event.shop, "shop redaction failed, it resumes when the message comes back: {e}");
                report.failed.push(id.to_string());
            }
        }
    }

    async fn apply_chunk(
        &self,
        chunk: &[(String, InventoryEvent)],
        clock: &Clock,
        report: &mut BatchReport,
    ) {
        if !clock.may_start() {
            report.failed.extend(chunk.iter().map(|(id, _)| id.clone()));
            report
                .deferred
                .extend(chunk.iter().map(|(id, _)| id.clone()));
            return;
        }
        let events: Vec<InventoryEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
        let events = &events;
        let mut tries = 0u32;
        let try_chunk = || {
            tries += 1;
            let attempt = tries;
            async move {
                if attempt > 1 && !clock.may_start() {
                    return Err(ChunkError {
                        error: PortError::Unavailable {
                            service: "consumer",
                            detail: "no time left for another attempt".into(),
                        },
                        attempt,
                        out_of_time: true,
                    });
                }
                clock
                    .within(self.try_apply(events))
                    .await
                    .map_err(|error| ChunkError {
                        error,
                        attempt,
                        out_of_time: !clock.may_start(),
                    })
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
            .await;
        match applied {
            Ok((outcomes, touched, needs)) => {
                report.needs.merge(needs);
                self.record(events, &outcomes, &mut report.latency);
                report.outcomes.extend(outcomes);
                report
                    .touched
                    .extend(chunk.iter().map(|(id, _)| id.clone()).zip(touched));
            }
            Err(e) if e.out_of_time => {
                tracing::warn!(
                    events = chunk.len(),
                    "deadline near, messages go back to the queue: {}",
                    e.error
                );
                report.failed.extend(chunk.iter().map(|(id, _)| id.clone()));
                report
                    .deferred
                    .extend(chunk.iter().map(|(id, _)| id.clone()));
            }
            // Not a retry: the plan cannot fit one transaction, or the store refuses something
            // in it that a retry would send again; so each half is applied alone, down to the
            // one message the store refuses.
            Err(ChunkError {
                error: e @ (PortError::TooLarge(_) | PortError::Refused { .. }),
                ..
            }) if chunk.len() > 1 => {
                tracing::info!(
                    events = chunk.len(),
                    "splitting a batch the store cannot take in one transaction: {e}"
                );
                let (a, b) = chunk.split_at(chunk.len() / 2);
                Box::pin(self.apply_chunk(a, clock, report)).await;
                Box::pin(self.apply_chunk(b, clock, report)).await;
            }
            Err(ChunkError {
                error: e @ PortError::Refused { .. },
                ..
            }) => {
                self.metrics.count("ConsumerRefused", None);
                for (id, event) in chunk {
                    let key: String = event.key.chars().take(80).collect();
                    tracing::error!(
                        message_id = %id, key = %key, key_bytes = event.key.len(),
                        "the store refuses this event; it fails alone and reaches the dead-letter queue: {e}"
                    );
                    report
                        .reasons
                        .insert(id.clone(), format!("the store refuses it: {e}"));
                }
                report.failed.extend(chunk.iter().map(|(id, _)| id.clone()));
            }
            Err(ChunkError { error: e, .. }) => {
                self.metrics
                    .put("ConsumerFailed", chunk.len() as f64, Unit::Count, None);
                tracing::error!(
                    events = chunk.len(),
                    "batch failed, messages go back to the queue: {e}"
                );
                report.failed.extend(chunk.iter().map(|(id, _)| id.clone()));
                let why = format!("not applied: {e}");
                report
                    .reasons
                    .extend(chunk.iter().map(|(id, _)| (id.clone(), why.clone())));
            }
        }
    }
}
