//! The ERP poller: for ERPs that cannot call out (Tryton), the ERP's own changes read from a
//! durable cursor and queued as `erp_change` events for the ERP sync.
//!
//! One poll reads, after the stored cursors, a page of done stock moves, of items whose
//! purchase lines changed, and (when a shop's field map has fields switched on) of items whose
//! record changed. Moves of Stockbridge's own documents (`sb-…`, `shopify:…`: what Shopify
//! moved, told to the ERP) are recognised and left out: they never go back to Shopify. For each
//! warehouse and item a move touched, the ERP's on-hand is read **after** the moves and sent as
//! an absolute snapshot stamped with a time taken before the read, so a snapshot never claims to
//! be newer than it is, and a page read twice (after a crash) is only a newer snapshot of the
//! same truth: no move is applied twice, and none is skipped, because the cursors advance only
//! after every event of the page is on the queue. Restocks are recomputed from every open
//! purchase line of the items named; fields are read for the names the shops switched on.
//!
//! A poller that finds no stored cursor starts after the ERP's newest change (its cursors are
//! moved to the end and stored, nothing queued): what the ERP held before is the backfill's and
//! reconciliation's. `from_start` replays the whole history instead.
//!
//! One poller per ERP source holds a lease (`RunLock`, job `erp-feed:<source>`); the cursor is
//! also written conditionally on its revision. [`ErpPoller::run`] polls repeatedly within one
//! invocation (at once again while pages are full), so a change reaches the queue within the
//! poll interval. A run that finds the lease held waits for it (until its own end), so runs that
//! overlap hand over without a pause.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use stockbridge_domain::event::{EventBody, InventoryEvent, Part, Source, SCHEMA_VERSION};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_domain::storefront::{next_restock, own_document, ErpChange, ErpMove};

use crate::ports::{
    ErpError, ErpFeed, EventQueue, FeedCursorStore, FeedCursors, PortError, RunLock, SkuMapStore,
    StorefrontMap,
};
use crate::telemetry::{Metrics, Unit};

/// How often a run waiting for the feed's lease asks again.
const LEASE_WAIT: Duration = Duration::from_millis(500);

/// Changes per queued event (a message stays far below SQS's 256 KiB).
const CHANGES_PER_EVENT: usize = 40;

/// How the poller is set up.
#[derive(Clone, Debug)]
pub struct PollerSettings {
    /// Names the ERP (cursor and lease), e.g. `tryton`.
    pub source: String,
    /// The shops this ERP serves (`ERP_SHOPS`).
    pub shops: Vec<ShopDomain>,
    /// Moves per page.
    pub page: usize,
    /// Who this poller is (the lease holder).
    pub holder: String,
    /// What a poller with no stored cursor does: false (the default) starts after the newest
    /// change there is now (what was before is the backfill's and reconciliation's), true reads
    /// the ERP's whole history (`ERP_FEED_FROM_START=1`).
    pub from_start: bool,
}

/// Why a poll failed; nothing was skipped (the cursor did not advance past what failed).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("the ERP: {0}")]
    Erp(#[from] ErpError),
    #[error("the store or queue: {0}")]
    Port(#[from] PortError),
    #[error("another poller holds the ERP feed of {feed} until {until}")]
    Held { feed: String, until: String },
}

/// What one poll did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    pub moves: usize,
    /// Moves of Stockbridge's own documents, left out.
    pub echoes: usize,
    /// Moves at warehouses no shop maps.
    pub unmapped: usize,
    pub changes: usize,
    pub events: usize,
    /// A page was full: poll again at once.
    pub more: bool,
}

/// The poller over its ports.
pub struct ErpPoller<F, C, S, Q, L> {
    pub feed: F,
    pub cursors: C,
    pub map: S,
    pub queue: Q,
    pub lock: L,
    pub metrics: Metrics,
    pub settings: PollerSettings,
}

impl<F, C, S, Q, L> ErpPoller<F, C, S, Q, L>
where
    F: ErpFeed,
    C: FeedCursorStore,
    S: SkuMapStore + StorefrontMap,
    Q: EventQueue,
    L: RunLock,
{
    /// Polls every `every` until `until` (polling again at once while pages are full), under
    /// the feed's lease, waiting for it while another run holds it (until `until`: then
    /// [`PollError::Held`]). Returns the polls' reports; the first failure ends the run (the next
    /// scheduled run carries on from the stored cursor).
    pub async fn run(&self, until: Instant, every: Duration) -> Result<Vec<PollReport>, PollError> {
        let job = format!("erp-feed:{}", self.settings.source);
        let lease = Timestamp::from_millis(
            Timestamp::now().as_millis()
                + i64::try_from(until.saturating_duration_since(Instant::now()).as_millis())
                    .unwrap_or(i64::MAX / 4)
                + 30_000,
        );
        // A run that overlaps the one before waits for the lease and takes over the moment it is
        // given back.
        loop {
            match self
                .lock
                .acquire(&job, &self.settings.holder, lease)
                .await?
            {
                Ok(()) => break,
                Err(held) if Instant::now() + LEASE_WAIT >= until => {
                    self.metrics.count("ErpPollerContended", None);
                    return Err(PollError::Held {
                        feed: self.settings.source.clone(),
                        until: held.until.to_rfc3339(),
                    });
                }
                Err(_) => tokio::time::sleep(LEASE_WAIT).await,
            }
        }
        let mut reports = Vec::new();
        let outcome = loop {
            let started = Instant::now();
            match self.poll_once().await {
                Ok(r) => {
                    let more = r.more;
                    reports.push(r);
                    if more && Instant::now() < until {
                        continue;
                    }
                }
                Err(e) => break Err(e),
            }
            let next = started + every;
            if next >= until {
                break Ok(());
            }
            tokio::time::sleep(next.saturating_duration_since(Instant::now())).await;
        };
        if let Err(e) = self.lock.release(&job, &self.settings.holder).await {
            tracing::warn!("the ERP feed's lease was not given back: {e}");
        }
        outcome.map(|()| reports)
    }

    /// One poll: read a page of each feed, queue the changes, then advance the cursors.
    pub async fn poll_once(&self) -> Result<PollReport, PollError> {
        let started = Instant::now();
        let source = &self.settings.source;
        let stored = self.cursors.feed_cursors(source).await?;
        if stored.revision == 0 && !self.settings.from_start {
            self.start_now(&stored).await?;
            return Ok(PollReport::default());
        }
        let mut report = PollReport::default();
        // What the shops map and switch on.
        let mut warehouses: BTreeSet<String> = BTreeSet::new();
        let mut fields: BTreeSet<String> = BTreeSet::new();
        for shop in &self.settings.shops {
            let map = self.map.lookup(shop, &[], &[], &[]).await?;
            warehouses.extend(map.locations.values().map(|l| l.erp_warehouse.clone()));
            let settings = self.map.storefront_settings(shop).await?;
            fields.extend(settings.fields.enabled().map(|l| l.erp_field.clone()));
        }
        let mut next = stored.clone();
        let mut changes: Vec<ErpChange> = Vec::new();

        // Stock moves.
        let page = self
            .feed
            .moves_after(stored.moves.as_ref(), self.settings.page)
            .await?;
        report.more |= page.more;
        report.moves = page.rows.len();
        let mut touched: BTreeMap<(String, String), Vec<ErpMove>> = BTreeMap::new();
        let mut restock_items: BTreeSet<String> = BTreeSet::new();
        for m in page.rows {
            if m.reference.as_deref().and_then(own_document).is_some() {
                report.echoes += 1;
                continue;
            }
            if m.kind == "receipt" {
                restock_items.insert(m.item.clone());
            }
            if !warehouses.contains(&m.warehouse) {
                report.unmapped += 1;
                continue;
            }
            touched
                .entry((m.warehouse.clone(), m.item.clone()))
                .or_default()
                .push(ErpMove {
                    id: m.id,
                    quantity: m.quantity,
                    kind: m.kind,
                    document: m.reference,
                    done_at: m.done_at,
                });
        }
        let mut by_warehouse: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (w, i) in touched.keys() {
            by_warehouse.entry(w.clone()).or_default().push(i.clone());
        }
        for (warehouse, items) in &by_warehouse {
            // Stamped before the read: the snapshot is at least this new.
            let as_of = Timestamp::now();
            let on_hand = self.feed.on_hand(warehouse, items).await?;
            let points = self.feed.order_points(warehouse, items).await?;
            for item in items {
                let moves = touched
                    .remove(&(warehouse.clone(), item.clone()))
                    .unwrap_or_default();
                let Some(q) = on_hand.get(item) else {
                    // A move of an item the ERP no longer reports: nothing to say of it.
                    self.metrics.count("ErpMovesUnknownItem", None);
                    continue;
                };
                changes.push(ErpChange::Stock {
                    warehouse: warehouse.clone(),
                    item: item.clone(),
                    on_hand: *q,
                    as_of,
                    moves,
                    reorder_point: points.get(item).copied(),
                });
            }
        }
        if page.next.is_some() {
            next.moves = page.next;
        }

        // Restock dates.
        let purchases = self
            .feed
            .purchases_changed_after(stored.purchases.as_ref(), self.settings.page)
            .await?;
        report.more |= purchases.more;
        restock_items.extend(purchases.rows);
        if !restock_items.is_empty() {
            let items: Vec<String> = restock_items.into_iter().collect();
            let as_of = Timestamp::now();
            let open = self.feed.open_purchases(&items).await?;
            for item in items {
                let lines: Vec<(Option<String>, rust_decimal::Decimal)> = open
                    .iter()
                    .filter(|o| o.item == item)
                    .map(|o| (o.expected.clone(), o.quantity))
                    .collect();
                changes.push(ErpChange::Restock {
                    next: next_restock(&lines),
                    item,
                    as_of,
                });
            }
        }
        if purchases.next.is_some() {
            next.purchases = purchases.next;
        }

        // The field map.
        if !fields.is_empty() {
            let names: Vec<String> = fields.into_iter().collect();
            let changed = self
                .feed
                .items_changed_after(stored.items.as_ref(), self.settings.page)
                .await?;
            report.more |= changed.more;
            if !changed.rows.is_empty() {
                let as_of = Timestamp::now();
                let values = self.feed.item_fields(&changed.rows, &names).await?;
                for (item, fields) in values {
                    changes.push(ErpChange::Fields {
                        item,
                        fields,
                        as_of,
                    });
                }
            }
            if changed.next.is_some() {
                next.items = changed.next;
            }
        }

        // Queue, then advance.
        report.changes = changes.len();
        if !changes.is_empty() {
            let events = self.events(&stored, &next, &changes);
            report.events = events.len();
            self.queue.send(&events).await?;
        }
        if next != stored {
            next.updated_at = Some(Timestamp::now());
            self.cursors
                .put_feed_cursors(source, &next, stored.revision)
                .await?;
        }
        self.metrics
            .put("ErpFeedMoves", report.moves as f64, Unit::Count, None);
        self.metrics
            .put("ErpEchoesSkipped", report.echoes as f64, Unit::Count, None);
        self.metrics.put(
            "ErpPollMs",
            started.elapsed().as_millis() as f64,
            Unit::Milliseconds,
            None,
        );
        Ok(report)
    }

    /// Moves every cursor past what the ERP holds now, queueing nothing: a poller's first start.
    async fn start_now(&self, stored: &FeedCursors) -> Result<(), PollError> {
        const PAGE: usize = 500;
        let mut next = stored.clone();
        loop {
            let page = self.feed.moves_after(next.moves.as_ref(), PAGE).await?;
            if page.next.is_some() {
                next.moves = page.next;
            }
            if !page.more {
                break;
            }
        }
        loop {
            let page = self
                .feed
                .purchases_changed_after(next.purchases.as_ref(), PAGE)
                .await?;
            if page.next.is_some() {
                next.purchases = page.next;
            }
            if !page.more {
                break;
            }
        }
        loop {
            let page = self
                .feed
                .items_changed_after(next.items.as_ref(), PAGE)
                .await?;
            if page.next.is_some() {
                next.items = page.next;
            }
            if !page.more {
                break;
            }
        }
        next.updated_at = Some(Timestamp::now());
        self.cursors
            .put_feed_cursors(&self.settings.source, &next, stored.revision)
            .await?;
        self.metrics.count("ErpFeedStarted", None);
        tracing::info!(source = %self.settings.source, "ERP feed starts after the ERP's newest change");
        Ok(())
    }

    /// The page's changes as events, per shop, keyed by the cursors they lie between (a page
    /// read again after a crash gets the same keys).
    fn events(
        &self,
        from: &FeedCursors,
        to: &FeedCursors,
        changes: &[ErpChange],
    ) -> Vec<InventoryEvent> {
        use sha2::{Digest, Sha256};
        let span = format!(
            "{:?}|{:?}|{:?}->{:?}|{:?}|{:?}",
            from.moves, from.purchases, from.items, to.moves, to.purchases, to.items
        );
        let digest: String = Sha256::digest(span.as_bytes())
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect();
        let now = Timestamp::now();
        let parts = changes.chunks(CHANGES_PER_EVENT);
        let count = parts.len() as u32;
        let mut out = Vec::new();
        for shop in &self.settings.shops {
            for (n, part) in changes.chunks(CHANGES_PER_EVENT).enumerate() {
                out.push(InventoryEvent {
                    schema: SCHEMA_VERSION,
                    key: format!("{shop}:erp:{}:{digest}:{n}", self.settings.source),
                    shop: shop.clone(),
                    source: Source::internal("erp/poll", now),
                    part: Part {
                        index: n as u32,
                        count,
                    },
                    body: EventBody::ErpChange {
                        changes: part.to_vec(),
                        attempt: 0,
                    },
                });
            }
        }
        out
    }
}
