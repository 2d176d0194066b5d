//! The order flow: Shopify orders placed, revised, cancelled, shipped and taken back as ERP
//! sales orders, after the stock batch that changed their records.
//!
//! Per order: load its record and where its lines count, ask the domain for the next steps
//! ([`stockbridge_domain::sales::next_steps`]), lease the record (the ERP's references are not
//! unique, so one caller at a time), call the ERP through [`ErpSales`] (each call idempotent
//! by its reference or movement key, so a retry after a timeout whose write landed finds it),
//! and write what was done back, merged into the newest record. The ERP unavailable: the order
//! is retried (`sales_retry`, 2 s doubling to 15 minutes); a step the ERP refuses for good is
//! an exception kept on the record for an operator (`stockbridge sales show`), never retried.

use std::collections::BTreeMap;
use std::time::Duration;

use stockbridge_domain::event::{EventBody, InventoryEvent, Part, Source, SCHEMA_VERSION};
use stockbridge_domain::ids::{InventoryItemId, LineItemId, LocationId, OrderId, Timestamp};
use stockbridge_domain::sales::{next_steps, Lease, Placed, SalesRecord, SalesStep, Wait};
use stockbridge_domain::skumap::SkuMap;
use stockbridge_domain::stock::{LineKey, OrderKey};

use crate::ports::{
    Change, ErpError, ErpSales, Loaded, PortError, SalesLine, SalesMovement, SalesOrder,
    SkuMapStore, StockStore, Wanted,
};
use crate::telemetry::{Metrics, Unit};

/// How long one run may call the ERP for an order before another may.
const LEASE: Duration = Duration::from_secs(60);
/// A record written back after a race is re-read and merged this many times.
const WRITE_BACK_ATTEMPTS: u32 = 4;
/// First delay of a `sales_retry`; it doubles per attempt up to SQS's 15 minutes.
const RETRY_BASE: Duration = Duration::from_secs(2);
/// After this many attempts an order that still cannot go is left for an operator.
pub const RETRY_ATTEMPTS: u32 = 12;

/// No sales module: a deployment that does not place orders. Uninhabited.
#[derive(Clone, Copy, Debug)]
pub enum NoSales {}

impl ErpSales for NoSales {
    async fn place(&self, _: &SalesOrder) -> Result<crate::ports::SalesOrderView, ErpError> {
        match *self {}
    }
    async fn revise(&self, _: &SalesOrder) -> Result<Change, ErpError> {
        match *self {}
    }
    async fn cancel(&self, _: &str) -> Result<Change, ErpError> {
        match *self {}
    }
    async fn ship(&self, _: &SalesMovement) -> Result<Change, ErpError> {
        match *self {}
    }
    async fn take_back(&self, _: &SalesMovement) -> Result<Change, ErpError> {
        match *self {}
    }
    async fn find(&self, _: &str) -> Result<Option<crate::ports::SalesOrderView>, ErpError> {
        match *self {}
    }
}

/// The order flow over one ERP's sales module.
pub struct SalesFlow<O> {
    pub erp: O,
    pub metrics: Metrics,
    holder: String,
}

/// What one run of the flow left to do.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FlowReport {
    /// Steps the ERP carried out.
    pub done: usize,
    /// Orders to try again later (ERP unavailable, routing not read yet, lease held).
    pub again: Vec<OrderKey>,
    /// Why, per order (for logs and tests).
    pub waits: BTreeMap<OrderKey, String>,
    /// Exceptions raised in this run.
    pub exceptions: Vec<(OrderKey, String)>,
    /// Movements the ERP orders could not carry (their shipment, return or placement was
    /// refused): to give back to the stock push (`sales_release`), per order.
    pub release: Vec<(OrderKey, Vec<String>)>,
}

/// One change the run made to a record, replayed onto the newest record when writing back.
#[derive(Clone, Debug)]
enum Progress {
    Placed(String, Placed, Timestamp),
    Revised(String, BTreeMap<LineItemId, i64>),
    Cancelled(String),
    Told(String, i64),
    Exception(String, String),
}

fn replay(record: &mut SalesRecord, progress: &[Progress]) {
    for p in progress {
        match p {
            Progress::Placed(warehouse, placed, at) => {
                record.placed.insert(warehouse.clone(), placed.clone());
                record.confirmed_at.get_or_insert(*at);
            }
            Progress::Revised(warehouse, lines) => {
                if let Some(placed) = record.placed.get_mut(warehouse) {
                    placed.lines = lines.clone();
                }
            }
            Progress::Cancelled(warehouse) => {
                if let Some(placed) = record.placed.get_mut(warehouse) {
                    placed.cancelled = true;
                }
            }
            Progress::Told(movement, told) => {
                if let Some(c) = record.carried.get_mut(movement) {
                    c.told = *told;
                }
            }
            Progress::Exception(step, reason) => {
                record.exceptions.insert(step.clone(), reason.clone());
            }
        }
    }
}

impl<O: ErpSales> SalesFlow<O> {
    pub fn new(erp: O, metrics: Metrics) -> Self {
        let holder = format!("sales-{:032x}", crate::erp_push::nonce());
        SalesFlow {
            erp,
            metrics,
            holder,
        }
    }

    /// Takes the next steps of each order, one order at a time.
    pub async fn run<S: StockStore + SkuMapStore>(
        &self,
        store: &S,
        orders: &[OrderKey],
    ) -> Result<FlowReport, PortError> {
        let mut report = FlowReport::default();
        for key in orders {
            self.one(store, key, &mut report).await?;
        }
        Ok(report)
    }

    async fn load(
        &self,
        store: &impl StockStore,
        key: &OrderKey,
    ) -> Result<(Option<SalesRecord>, Loaded), PortError> {
        let mut wanted = Wanted::default();
        wanted.orders.insert(key.clone());
        let loaded = store.load(&wanted).await?;
        Ok((loaded.book.sales.get(key).cloned(), loaded))
    }

    async fn one<S: StockStore + SkuMapStore>(
        &self,
        store: &S,
        key: &OrderKey,
        report: &mut FlowReport,
    ) -> Result<(), PortError> {
        let (Some(record), loaded) = self.load(store, key).await? else {
            return Ok(());
        };
        let now = Timestamp::now();
        if let Some(lease) = &record.lease {
            // Any live lease, ours included: two runs of one process (pollers sharing a
            // consumer) must not both call the ERP for one order.
            if lease.until > now {
                report.again.push(key.clone());
                report
                    .waits
                    .insert(key.clone(), "another run holds the order".into());
                return Ok(());
            }
        }
        // Where each goods line counts now, and the map of its items and locations.
        let mut wanted = Wanted::default();
        for line in record.goods.keys() {
            wanted.lines.insert(LineKey {
                shop: key.shop.clone(),
                line: *line,
            });
        }
        let lines = store.load(&wanted).await?.book.lines;
        let counted: BTreeMap<LineItemId, BTreeMap<LocationId, i64>> = lines
            .into_iter()
            .map(|(k, l)| (k.line, l.counted))
            .collect();
        let mut items: Vec<InventoryItemId> = record.goods.values().map(|g| g.item).collect();
        items.extend(record.carried.values().map(|c| c.key.item));
        let map = store.lookup(&key.shop, &items, &[], &[]).await?;
        let warehouse_of = |l: LocationId| map.locations.get(&l).map(|m| m.erp_warehouse.clone());
        let steps = match next_steps(&key.shop, key.order, &record, &counted, warehouse_of) {
            Ok(steps) => steps,
            Err(wait) => {
                let reason = wait.to_string();
                match wait {
                    Wait::Decision(_) => self.metrics.count("OrdersWaitingForPayment", None),
                    Wait::Routing(_) => {
                        report.again.push(key.clone());
                        self.metrics.count("OrdersWaitingForRouting", None);
                    }
                    Wait::Unmapped(_) => self.metrics.count("OrdersParked", Some("location")),
                }
                report.waits.insert(key.clone(), reason);
                return Ok(());
            }
        };
        if steps.is_empty() {
            return Ok(());
        }
        // The lease (this run's own name), then the calls.
        let run = format!("{}-{:032x}", self.holder, crate::erp_push::nonce());
        let mut leased = record.clone();
        leased.lease = Some(Lease {
            holder: run.clone(),
            until: Timestamp(now.0 + LEASE.as_nanos() as i64),
        });
        match store.put_sales(key, &leased, &loaded).await {
            Ok(()) => {}
            Err(PortError::Conflict(_)) => {
                report.again.push(key.clone());
                report
                    .waits
                    .insert(key.clone(), "the record changed; again".into());
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let number = record
            .number
            .clone()
            .unwrap_or_else(|| format!("#{}", key.order));
        let mut progress = Vec::new();
        let mut unavailable = None;
        for step in &steps {
            match self.take(step, &number, &map, &record).await {
                Ok(done) => {
                    report.done += 1;
                    progress.extend(done);
                }
                Err(ErpError::Rejected(reason)) => {
                    self.metrics.count("ErpOrderFailures", Some("rejected"));
                    progress.push(Progress::Exception(step.name(), reason));
                }
                Err(e) => {
                    self.metrics.count("ErpOrderFailures", Some("unavailable"));
                    unavailable = Some(e.to_string());
                    break;
                }
            }
        }
        for p in &progress {
            if let Progress::Exception(step, reason) = p {
                self.metrics.count("SalesOrderExceptions", None);
                tracing::warn!(order = %key.order, %step, %reason, "ERP refused an order step: for an operator");
                report
                    .exceptions
                    .push((key.clone(), format!("{step}: {reason}")));
            }
            if let Progress::Placed(_, _, at) = p {
                if let stockbridge_domain::sales::Decision::Goes { since } = record.decision {
                    let ms = (at.0 - since.0) as f64 / 1e6;
                    self.metrics
                        .put("PaymentToErpOrderMs", ms.max(0.0), Unit::Milliseconds, None);
                }
            }
        }
        // What a refusal leaves uncarried goes back to the stock push, so the ERP's stock moves
        // once all the same.
        let refused: Vec<String> = progress
            .iter()
            .filter_map(|p| match p {
                Progress::Exception(name, _) => Some(name.clone()),
                _ => None,
            })
            .collect();
        let mut release = Vec::new();
        for step in steps.iter().filter(|s| refused.contains(&s.name())) {
            match step {
                SalesStep::Move { movement, .. } => release.push(movement.clone()),
                SalesStep::Place(w) => release.extend(
                    record
                        .carried
                        .iter()
                        .filter(|(_, c)| {
                            warehouse_of(c.key.location).as_ref() == Some(&w.warehouse)
                        })
                        .map(|(m, _)| m.clone()),
                ),
                SalesStep::Revise(_) | SalesStep::Cancel { .. } => {}
            }
        }
        if !release.is_empty() {
            report.release.push((key.clone(), release));
        }
        self.write_back(store, key, &progress, &run).await?;
        if let Some(why) = unavailable {
            report.again.push(key.clone());
            report.waits.insert(key.clone(), why);
            return Ok(());
        }
        // An order just placed may have movements waiting for it: one more round.
        if progress.iter().any(|p| matches!(p, Progress::Placed(..))) {
            Box::pin(self.one(store, key, report)).await?;
        }
        Ok(())
    }

    /// Carries out one step; what it changed, to write back.
    async fn take(
        &self,
        step: &SalesStep,
        number: &str,
        map: &SkuMap,
        record: &SalesRecord,
    ) -> Result<Vec<Progress>, ErpError> {
        let line_of = |line: LineItemId, item: InventoryItemId, units: i64| {
            let m = map.items.get(&item).ok_or_else(|| {
                ErpError::Rejected(format!("item {item} of line {line} is not in the SKU map"))
            })?;
            Ok::<SalesLine, ErpError>(SalesLine {
                line: line.to_string(),
                item: m.erp_item.clone(),
                quantity: m.uom.to_erp(units),
            })
        };
        let order_of = |w: &stockbridge_domain::sales::WantedOrder| {
            let lines = w
                .lines
                .iter()
                .map(|(l, (item, q))| line_of(*l, *item, *q))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<SalesOrder, ErpError>(SalesOrder {
                reference: w.reference.clone(),
                number: number.to_string(),
                warehouse: w.warehouse.clone(),
                lines,
            })
        };
        let units = |w: &stockbridge_domain::sales::WantedOrder| {
            w.lines.iter().map(|(l, (_, q))| (*l, *q)).collect()
        };
        let refused = |reason: String| vec![Progress::Exception(step.name(), reason)];
        Ok(match step {
            SalesStep::Place(w) => {
                self.erp.place(&order_of(w)?).await?;
                let placed = Placed {
                    reference: w.reference.clone(),
                    lines: units(w),
                    cancelled: false,
                };
                vec![Progress::Placed(
                    w.warehouse.clone(),
                    placed,
                    Timestamp::now(),
                )]
            }
            SalesStep::Revise(w) => match self.erp.revise(&order_of(w)?).await? {
                Change::Made => vec![Progress::Revised(w.warehouse.clone(), units(w))],
                Change::Refused(reason) => refused(reason),
            },
            SalesStep::Cancel {
                warehouse,
                reference,
            } => match self.erp.cancel(reference).await? {
                Change::Made => vec![Progress::Cancelled(warehouse.clone())],
                Change::Refused(reason) => refused(reason),
            },
            SalesStep::Move {
                warehouse,
                reference,
                movement,
                key,
                line,
                item,
                change,
            } => {
                let moved = SalesMovement {
                    order: reference.clone(),
                    key: key.clone(),
                    warehouse: warehouse.clone(),
                    lines: vec![line_of(*line, *item, change.abs())?],
                };
                let answer = if *change < 0 {
                    self.erp.ship(&moved).await?
                } else {
                    self.erp.take_back(&moved).await?
                };
                match answer {
                    Change::Made => {
                        let told = record.carried.get(movement).map_or(0, |c| c.told) + change;
                        vec![Progress::Told(movement.clone(), told)]
                    }
                    Change::Refused(reason) => refused(reason),
                }
            }
        })
    }

    /// Writes the run's progress onto the newest record and gives the lease back.
    async fn write_back<S: StockStore>(
        &self,
        store: &S,
        key: &OrderKey,
        progress: &[Progress],
        run: &str,
    ) -> Result<(), PortError> {
        let mut last = None;
        for _ in 0..WRITE_BACK_ATTEMPTS {
            let (Some(mut record), loaded) = self.load(store, key).await? else {
                return Ok(());
            };
            replay(&mut record, progress);
            if record.lease.as_ref().is_some_and(|l| l.holder == run) {
                record.lease = None;
            }
            match store.put_sales(key, &record, &loaded).await {
                Ok(()) => return Ok(()),
                Err(e @ PortError::Conflict(_)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| PortError::Conflict(format!("order record {}", key.order))))
    }
}

/// The event that gives `movements` of `order` back to the stock push (`sales_release`).
pub fn release_event(order: &OrderKey, movements: &[String]) -> InventoryEvent {
    let now = Timestamp::now();
    InventoryEvent {
        schema: SCHEMA_VERSION,
        key: format!("{}:sales-release:{}:{}", order.shop, order.order, now.0),
        shop: order.shop.clone(),
        source: Source::internal("stockbridge/sales_release", now),
        part: Part::WHOLE,
        body: EventBody::Stock {
            changes: vec![stockbridge_domain::event::StockChange::SalesRelease {
                order: order.order,
                movements: movements.to_vec(),
                version: stockbridge_domain::ids::Version::new(now, now),
            }],
        },
    }
}

/// The `sales_retry` events for orders to try again, at `attempt`, and their delay.
pub fn retry_events(shop_orders: &[OrderKey], attempt: u32) -> (Vec<InventoryEvent>, Duration) {
    let mut by_shop: BTreeMap<_, Vec<OrderId>> = BTreeMap::new();
    for k in shop_orders {
        by_shop.entry(k.shop.clone()).or_default().push(k.order);
    }
    let now = Timestamp::now();
    let events = by_shop
        .into_iter()
        .map(|(shop, orders)| InventoryEvent {
            schema: SCHEMA_VERSION,
            key: format!("{shop}:sales-retry:{}:{attempt}:{}", now.0, orders[0]),
            shop,
            source: Source::internal("stockbridge/sales_retry", now),
            part: Part::WHOLE,
            body: EventBody::SalesRetry { orders, attempt },
        })
        .collect();
    let delay = RETRY_BASE
        .saturating_mul(1u32 << attempt.min(9))
        .min(Duration::from_secs(900));
    (events, delay)
}
