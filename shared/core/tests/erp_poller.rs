//! The ERP poller (`ErpPoller`) over a scripted ERP feed and the in-memory store and queue:
//! a first start begins after the ERP's newest change; Stockbridge's own documents are left
//! out; each page is queued before its cursor advances, so a crash between the two re-sends the
//! same events (the same keys) and skips nothing; the ERP down queues nothing; restocks follow
//! receipts and purchase changes; fields are read only when a shop switched them on; one
//! poller holds the feed at a time.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use stockbridge_core::erp_feed::{ErpPoller, PollError, PollerSettings};
use stockbridge_core::ports::{
    ErpError, ErpFeed, FeedCursor, FeedCursorStore, FeedMove, FeedPage, StorefrontMap,
    StorefrontSettings,
};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::erp_write::Incoming;
use stockbridge_domain::event::{EventBody, InventoryEvent};
use stockbridge_domain::ids::Timestamp;
use stockbridge_domain::storefront::{ErpChange, FieldLink, FieldMap};
use stockbridge_memory::{Fault, MemoryQueue, MemoryStore, StoreOp};
use support::*;

/// An ERP whose done moves, purchases and item changes the test appends to.
#[derive(Clone, Default)]
struct Script {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    moves: Vec<FeedMove>,
    on_hand: HashMap<(String, String), Decimal>,
    purchases: Vec<String>,
    open: Vec<Incoming>,
    items: Vec<String>,
    fields: HashMap<String, BTreeMap<String, String>>,
    down: bool,
    calls: Vec<&'static str>,
}

impl Script {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("script"))
    }

    /// A done move of `quantity` at `warehouse`, the on-hand after it, and its reference.
    fn done(&self, id: &str, warehouse: &str, item: &str, quantity: i64, reference: &str) {
        self.with(|s| {
            s.moves.push(FeedMove {
                id: id.into(),
                warehouse: warehouse.into(),
                item: item.into(),
                quantity: Decimal::from(quantity),
                kind: if reference.starts_with("PO") {
                    "receipt".into()
                } else {
                    "adjustment".into()
                },
                reference: Some(reference.into()),
                counterpart: None,
                done_at: Timestamp::now(),
            });
            *s.on_hand
                .entry((warehouse.into(), item.into()))
                .or_default() += Decimal::from(quantity);
        });
    }

    fn call(&self, name: &'static str) -> Result<(), ErpError> {
        self.with(|s| {
            s.calls.push(name);
            if s.down {
                Err(ErpError::Unavailable("connection refused".into()))
            } else {
                Ok(())
            }
        })
    }
}

/// Rows after the cursor (the index of the last row read), at most `limit`.
fn page_of<T: Clone>(rows: &[T], after: Option<&FeedCursor>, limit: usize) -> FeedPage<T> {
    let from = after.and_then(|c| c.0.parse::<usize>().ok()).unwrap_or(0);
    let slice: Vec<T> = rows.iter().skip(from).take(limit).cloned().collect();
    let to = from + slice.len();
    FeedPage {
        more: to < rows.len(),
        next: (!slice.is_empty()).then(|| FeedCursor(to.to_string())),
        rows: slice,
    }
}

impl ErpFeed for Script {
    async fn moves_after(
        &self,
        after: Option<&FeedCursor>,
        limit: usize,
    ) -> Result<FeedPage<FeedMove>, ErpError> {
        self.call("moves")?;
        Ok(self.with(|s| page_of(&s.moves, after, limit)))
    }

    async fn on_hand(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        self.call("on_hand")?;
        Ok(self.with(|s| {
            items
                .iter()
                .filter_map(|i| {
                    s.on_hand
                        .get(&(warehouse.to_string(), i.clone()))
                        .map(|q| (i.clone(), *q))
                })
                .collect()
        }))
    }

    async fn order_points(
        &self,
        _: &str,
        _: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        self.call("order_points")?;
        Ok(HashMap::new())
    }

    async fn purchases_changed_after(
        &self,
        after: Option<&FeedCursor>,
        limit: usize,
    ) -> Result<FeedPage<String>, ErpError> {
        self.call("purchases")?;
        Ok(self.with(|s| page_of(&s.purchases, after, limit)))
    }

    async fn open_purchases(&self, items: &[String]) -> Result<Vec<Incoming>, ErpError> {
        self.call("open_purchases")?;
        Ok(self.with(|s| {
            s.open
                .iter()
                .filter(|o| items.contains(&o.item))
                .cloned()
                .collect()
        }))
    }

    async fn items_changed_after(
        &self,
        after: Option<&FeedCursor>,
        limit: usize,
    ) -> Result<FeedPage<String>, ErpError> {
        self.call("items")?;
        Ok(self.with(|s| page_of(&s.items, after, limit)))
    }

    async fn item_fields(
        &self,
        items: &[String],
        _: &[String],
    ) -> Result<HashMap<String, BTreeMap<String, String>>, ErpError> {
        self.call("item_fields")?;
        Ok(self.with(|s| {
            items
                .iter()
                .filter_map(|i| s.fields.get(i).map(|f| (i.clone(), f.clone())))
                .collect()
        }))
    }

    async fn set_item_field(&self, _: &str, _: &str, _: &str) -> Result<(), ErpError> {
        self.call("set_item_field")
    }
}

type Poller = ErpPoller<Script, MemoryStore, MemoryStore, MemoryQueue, MemoryStore>;

fn poller(script: &Script, store: &MemoryStore, queue: &MemoryQueue, holder: &str) -> Poller {
    ErpPoller {
        feed: script.clone(),
        cursors: store.clone(),
        map: store.clone(),
        queue: queue.clone(),
        lock: store.clone(),
        metrics: Metrics::silent("test-erp-poller"),
        settings: PollerSettings {
            source: "tryton".into(),
            shops: vec![shop()],
            page: 3,
            holder: holder.into(),
            from_start: false,
        },
    }
}

/// The changes of every message sent so far, in order.
fn sent_changes(queue: &MemoryQueue) -> Vec<(String, ErpChange)> {
    queue
        .sent()
        .into_iter()
        .flat_map(|m| {
            let e = InventoryEvent::from_json(&m.body).expect("an event");
            match e.body {
                EventBody::ErpChange { changes, .. } => {
                    changes.into_iter().map(|c| (e.key.clone(), c)).collect()
                }
                _ => Vec::new(),
            }
        })
        .collect()
}

async fn started() -> (Script, MemoryStore, MemoryQueue, Poller) {
    let script = Script::default();
    // History from before the first start.
    script.done("m0", "WH", "TEE", 50, "opening");
    let store = mapped_store().await;
    let queue = MemoryQueue::new();
    let p = poller(&script, &store, &queue, "p1");
    let first = p.poll_once().await.expect("first start");
    assert_eq!(first.moves, 0);
    assert!(queue.sent().is_empty(), "history is not replayed");
    (script, store, queue, p)
}

#[tokio::test]
async fn a_first_start_begins_after_the_newest_change_and_then_each_move_is_queued() {
    let (script, store, queue, p) = started().await;
    assert_eq!(
        store.feed_cursors("tryton").await.expect("cursor").moves,
        Some(FeedCursor("1".into()))
    );
    script.done("m1", "WH", "TEE", 24, "PO-7");
    let report = p.poll_once().await.expect("poll");
    assert_eq!((report.moves, report.changes), (1, 2), "{report:?}");
    let changes = sent_changes(&queue);
    let stock: Vec<&ErpChange> = changes
        .iter()
        .map(|(_, c)| c)
        .filter(|c| matches!(c, ErpChange::Stock { .. }))
        .collect();
    match stock.as_slice() {
        [ErpChange::Stock {
            warehouse,
            item,
            on_hand,
            moves,
            ..
        }] => {
            assert_eq!((warehouse.as_str(), item.as_str()), ("WH", "TEE"));
            // The on-hand after the move, read from the ERP: an absolute snapshot.
            assert_eq!(*on_hand, Decimal::from(74));
            assert_eq!(moves.len(), 1);
            assert_eq!(moves[0].id, "m1");
        }
        other => panic!("one stock change expected: {other:?}"),
    }
    // The receipt makes the item's restock be read again (nothing open: cleared).
    assert!(changes
        .iter()
        .any(|(_, c)| matches!(c, ErpChange::Restock { item, next: None, .. } if item == "TEE")));
    // Nothing newer: nothing sent.
    let before = queue.sent().len();
    p.poll_once().await.expect("poll");
    assert_eq!(queue.sent().len(), before);
}

#[tokio::test]
async fn stockbridge_s_own_documents_and_unmapped_warehouses_are_left_out() {
    let (script, _store, queue, p) = started().await;
    script.done("m1", "WH", "TEE", -2, "sb-WH-0a1b2c:out");
    script.done(
        "m2",
        "WH",
        "TEE",
        -1,
        "shopify:stockbridge-demo.myshopify.com:1001:WH",
    );
    script.done("m3", "ELSEWHERE", "TEE", 5, "count-9");
    let report = p.poll_once().await.expect("poll");
    assert_eq!((report.echoes, report.unmapped), (2, 1), "{report:?}");
    assert!(sent_changes(&queue).is_empty());
}

#[tokio::test]
async fn a_crash_between_queueing_and_the_cursor_re_sends_the_page_and_skips_nothing() {
    let (script, store, queue, p) = started().await;
    for n in 1..=5 {
        script.done(&format!("m{n}"), "WH", "TEE", 1, &format!("count-{n}"));
    }
    // The cursor write fails once: the page was queued, the cursor did not move.
    store.fail_next(StoreOp::PutFeedCursors, 1, Fault::Unavailable);
    assert!(p.poll_once().await.is_err());
    let first = sent_changes(&queue);
    assert!(!first.is_empty());
    // A new poller (the restarted process) reads the same page again, with the same keys.
    let again = poller(&script, &store, &queue, "p2");
    let report = again.poll_once().await.expect("poll");
    assert!(report.more, "a page of 3 of the 5 moves");
    let all = sent_changes(&queue);
    let keys: Vec<&String> = all.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys[0],
        keys[first.len()],
        "the page read again has the same key"
    );
    again.poll_once().await.expect("poll");
    // Every move is in some change exactly as often as its page was read: none skipped.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (_, c) in sent_changes(&queue) {
        if let ErpChange::Stock { moves, .. } = c {
            for m in moves {
                *seen.entry(m.id).or_default() += 1;
            }
        }
    }
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        ["m1", "m2", "m3", "m4", "m5"]
    );
    // The last snapshot holds every move once: 50 + 5.
    let last = sent_changes(&queue)
        .into_iter()
        .rev()
        .find_map(|(_, c)| match c {
            ErpChange::Stock { on_hand, .. } => Some(on_hand),
            _ => None,
        });
    assert_eq!(last, Some(Decimal::from(55)));
}

#[tokio::test]
async fn the_erp_down_queues_nothing_and_keeps_the_cursor() {
    let (script, store, queue, p) = started().await;
    script.done("m1", "WH", "TEE", 3, "count-1");
    script.with(|s| s.down = true);
    assert!(matches!(p.poll_once().await, Err(PollError::Erp(_))));
    assert!(queue.sent().is_empty());
    assert_eq!(
        store.feed_cursors("tryton").await.expect("cursor").moves,
        Some(FeedCursor("1".into()))
    );
    script.with(|s| s.down = false);
    p.poll_once().await.expect("poll");
    // A count: its stock only (no receipt, so no restock to read again).
    assert_eq!(sent_changes(&queue).len(), 1);
}

#[tokio::test]
async fn restocks_follow_purchases_and_fields_only_when_switched_on() {
    let (script, store, queue, p) = started().await;
    script.with(|s| {
        s.purchases.push("MUG".into());
        s.open.push(Incoming {
            item: "MUG".into(),
            quantity: Decimal::from(36),
            expected: Some("2026-12-20".into()),
        });
        s.items.push("TEE".into());
        s.fields.insert(
            "TEE".into(),
            BTreeMap::from([("pre_order".to_string(), "true".to_string())]),
        );
    });
    p.poll_once().await.expect("poll");
    let changes = sent_changes(&queue);
    assert!(
        changes.iter().any(|(_, c)| matches!(c,
        ErpChange::Restock { item, next: Some(r), .. } if item == "MUG" && r.date == "2026-12-20"))
    );
    assert!(
        !changes
            .iter()
            .any(|(_, c)| matches!(c, ErpChange::Fields { .. })),
        "no shop switched a field on"
    );
    assert!(!script.with(|s| s.calls.contains(&"item_fields")));
    store
        .put_storefront_settings(
            &shop(),
            &StorefrontSettings {
                fields: FieldMap {
                    links: vec![FieldLink {
                        erp_field: "pre_order".into(),
                        namespace: "stockbridge".into(),
                        key: "pre_order".into(),
                        kind: "boolean".into(),
                        enabled: true,
                    }],
                },
                ..StorefrontSettings::default()
            },
        )
        .await
        .expect("settings");
    script.with(|s| s.items.push("TEE".into()));
    p.poll_once().await.expect("poll");
    assert!(sent_changes(&queue)
        .iter()
        .any(|(_, c)| matches!(c, ErpChange::Fields { item, .. } if item == "TEE")));
}

#[tokio::test]
async fn one_poller_holds_the_feed_and_a_run_polls_repeatedly() {
    let (script, store, queue, p) = started().await;
    script.done("m1", "WH", "TEE", 1, "count-1");
    let other = poller(&script, &store, &queue, "p2");
    let (mine, theirs) = tokio::join!(
        p.run(
            Instant::now() + Duration::from_millis(300),
            Duration::from_millis(50)
        ),
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            other
                .run(
                    Instant::now() + Duration::from_millis(100),
                    Duration::from_millis(50),
                )
                .await
        }
    );
    let polls = mine.expect("the first run");
    assert!(polls.len() >= 3, "{polls:?}");
    assert!(matches!(theirs, Err(PollError::Held { .. })), "{theirs:?}");
}
