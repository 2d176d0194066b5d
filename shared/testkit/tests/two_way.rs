//! Issue #12's two-way direction through the real components: Tryton 8.2 (the shared test ERP,
//! products of each test's own), the real ERP poller reading it after durable cursors in
//! DynamoDB (moto), the ERP changes queue (SQS on moto), the real ERP sync writing to the
//! Shopify stand-in's Admin API, the stand-in's signed webhooks back through the webhook handler
//! to the real stock consumer, which pushes to the same Tryton.
//!
//! What must hold: a purchase received in the ERP reaches Shopify once (one adjustment under
//! our key in the stand-in's history) whatever is delivered twice or re-read after a crash; a
//! storefront sale racing the write survives; the buffer and a never-sellable location hold;
//! 100 ERP receipts make 100 Shopify changes and no ERP write back; a transfer to the shop
//! floor counts once in each system; the restock date is set, moved and cleared; the reorder
//! signal fires once per window; the poller killed mid-page applies every move once.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use stockbridge_aws::dynamodb::DynamoStore;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_feed::{ErpPoller, PollReport, PollerSettings as FeedSettings};
use stockbridge_core::erp_push::{ErpPush, PushPolicy};
use stockbridge_core::erp_sync::{ErpSync, REORDER_DETAIL_TYPE};
use stockbridge_core::ports::{
    Erp, FeedCursorStore, FeedCursors, PortError, StorefrontMap, StorefrontSettings,
};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_domain::ids::LocationId;
use stockbridge_domain::storefront::SellRule;
use stockbridge_erp::tryton::TrytonErp;
use stockbridge_lambda::local::{poll_once, PollerSettings};
use stockbridge_memory::MemoryAlerts;
use stockbridge_shopify_admin::ShopifyGraphql;
use support::standin::{Options, Standin};
use support::tryton_rest::{date_in, env, env_id, unique, Rest};
use support::{Stack, SHOP};

/// The warehouse (ERP master, the default location) and the shop floor (Shopify master).
const WH: u64 = 77000000001;
const STORE: u64 = 77000000002;
const TEE: u64 = 54000000000000001;
/// Sold by the dozen, counted in the ERP each.
const MUG: u64 = 54000000000000002;
const CAP: u64 = 54000000000000003;
const SOCK: u64 = 54000000000000004;
const ITEMS: [u64; 4] = [TEE, MUG, CAP, SOCK];

fn variant(item: u64) -> u64 {
    item + 1_000_000
}

fn factor(item: u64) -> i64 {
    if item == MUG {
        12
    } else {
        1
    }
}

fn erp() -> TrytonErp {
    TrytonErp::new(env("TRYTON_URL"), env("TRYTON_API_KEY"), 1).expect("a loopback Tryton URL")
}

type Consumer = Arc<StockConsumer<DynamoStore, TrytonErp, SqsQueue, ShopifyGraphql>>;
type Sync = Arc<ErpSync<DynamoStore, ShopifyGraphql, MemoryAlerts, SqsQueue>>;

/// The feed's cursor store, which can be made to fail its next write: the poller "dies" after
/// queueing a page and before its cursor moves.
#[derive(Clone)]
struct Crashable {
    inner: DynamoStore,
    crash: Arc<AtomicBool>,
}

impl FeedCursorStore for Crashable {
    async fn feed_cursors(&self, source: &str) -> Result<FeedCursors, PortError> {
        self.inner.feed_cursors(source).await
    }

    async fn put_feed_cursors(
        &self,
        source: &str,
        cursors: &FeedCursors,
        previous: u64,
    ) -> Result<(), PortError> {
        if self.crash.swap(false, Ordering::SeqCst) {
            return Err(PortError::Unavailable {
                service: "test",
                detail: "the poller died after queueing the page".into(),
            });
        }
        self.inner.put_feed_cursors(source, cursors, previous).await
    }
}

type Poller = ErpPoller<TrytonErp, Crashable, DynamoStore, SqsQueue, DynamoStore>;

struct World {
    s: Stack,
    standin: Standin,
    rest: Rest,
    /// ERP code and Tryton product id per item.
    codes: BTreeMap<u64, (String, i64)>,
    consumer: Consumer,
    sync: Sync,
    alerts: MemoryAlerts,
    erp_queue: PollerSettings,
    crash: Arc<AtomicBool>,
    /// Every sync batch is applied twice (an at-least-once queue at its worst).
    twice: bool,
}

/// Opening: the ERP's warehouse holds TEE 50, MUG 60 (5 dozen), CAP 20, SOCK 30; Shopify the
/// same at WH and 10 tees on the shop floor (told to the ERP by the consumer).
async fn world() -> World {
    let s = support::stack().await;
    let standin = Standin::start(Options {
        webhook_url: Some(s.url.clone()),
        ..Options::default()
    })
    .await;
    let rest = Rest::new();
    let made = rest.products(&["tee", "mug", "cap", "sock"]).await;
    let codes: BTreeMap<u64, (String, i64)> = ITEMS.iter().copied().zip(made).collect();
    let mut items =
        "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n".to_string();
    for (item, (code, _)) in &codes {
        let uom = if *item == MUG { "dozen" } else { "each" };
        items += &format!(
            "{SHOP},{item},{},SKU-{item},{code},{uom},each\n",
            variant(*item)
        );
    }
    let locations = format!(
        "shop,location_id,name,erp_warehouse,master,default\n{SHOP},{WH},Warehouse,WH,erp,true\n{SHOP},{STORE},Shop floor,STORE,shopify,false\n"
    );
    stockbridge_ops::import_skumap(&s.store, &s.queue, Some(&items), Some(&locations), false)
        .await
        .expect("SKU map");
    let opening = [(TEE, 50), (MUG, 60), (CAP, 20), (SOCK, 30)];
    erp()
        .apply(&ErpWrite {
            key: unique("opening"),
            warehouse: "WH".into(),
            reason: "opening stock".into(),
            as_of: "2026-12-01T08:00:00Z".into(),
            lines: opening
                .iter()
                .map(|(i, q)| ErpLine {
                    item: codes[i].0.clone(),
                    change: Decimal::from(*q),
                    target: None,
                })
                .collect(),
        })
        .await
        .expect("opening");
    let items_json: Vec<Value> = ITEMS
        .iter()
        .map(|i| json!({"id": i, "sku": format!("SKU-{i}"), "variant_id": variant(*i)}))
        .collect();
    let mut levels: Vec<Value> = opening
        .iter()
        .map(|(i, q)| json!({"item": i, "location": WH, "available": q / factor(*i)}))
        .collect();
    levels.push(json!({"item": TEE, "location": STORE, "available": 10}));
    standin
        .post(
            "/_standin/seed",
            json!({"items": items_json,
                   "locations": [{"id": WH, "name": "Warehouse"}, {"id": STORE, "name": "Shop floor"}],
                   "levels": levels, "notify": true}),
        )
        .await;
    let metrics = Metrics::silent("stock-consumer");
    let consumer: Consumer = Arc::new(
        StockConsumer::with_erp(
            s.store.clone(),
            metrics.clone(),
            ErpPush::new(erp(), PushPolicy::default(), metrics),
            Some(s.queue.clone()),
        )
        .with_shopify(Some(standin.client())),
    );
    let erp_url = s.env["ERP_CHANGES_QUEUE_URL"].clone();
    let erp_changes = SqsQueue::new(s.sqs.clone(), erp_url.clone());
    let alerts = MemoryAlerts::new();
    let sync: Sync = Arc::new(ErpSync {
        shop: s.shop(),
        store: s.store.clone(),
        shopify: standin.client(),
        alerts: alerts.clone(),
        retries: erp_changes,
        stock_events: s.queue.clone(),
        metrics: Metrics::silent("erp-sync"),
    });
    let arn = s
        .sqs
        .get_queue_attributes()
        .queue_url(&erp_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    let erp_queue = PollerSettings {
        queue_url: erp_url,
        queue_arn: arn,
        ..s.poller.clone()
    };
    let w = World {
        s,
        standin,
        rest,
        codes,
        consumer,
        sync,
        alerts,
        erp_queue,
        crash: Arc::new(AtomicBool::new(false)),
        twice: true,
    };
    w.settle().await;
    // The poller's first start: after everything above.
    w.poller("first").poll_once().await.expect("first start");
    w
}

impl World {
    fn poller(&self, holder: &str) -> Poller {
        ErpPoller {
            feed: erp(),
            cursors: Crashable {
                inner: self.s.store.clone(),
                crash: self.crash.clone(),
            },
            map: self.s.store.clone(),
            queue: SqsQueue::new(self.s.sqs.clone(), self.erp_queue.queue_url.clone()),
            lock: self.s.store.clone(),
            metrics: Metrics::silent("erp-poller"),
            settings: FeedSettings {
                source: "tryton".into(),
                shops: vec![self.s.shop()],
                page: 100,
                holder: holder.into(),
                from_start: false,
            },
        }
    }

    fn code(&self, item: u64) -> String {
        self.codes[&item].0.clone()
    }

    fn product(&self, item: u64) -> i64 {
        self.codes[&item].1
    }

    /// Every webhook the stand-in queued is delivered, and the consumer drained.
    async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let d = self.standin.get("/_standin/stats").await["deliveries"].clone();
            let n = |k: &str| d[k].as_u64().unwrap_or(0);
            assert_eq!(n("failed"), 0, "a webhook was refused: {d}");
            if n("delivered") == n("queued") {
                break;
            }
            assert!(Instant::now() < deadline, "webhooks not delivered: {d}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let consumer = self.consumer.clone();
        let handler = move |event, deadline| {
            let consumer = consumer.clone();
            async move { stockbridge_lambda::sqs_batch::consume(&consumer, event, Some(deadline)).await }
        };
        for _ in 0..300 {
            if self.s.depth(&self.s.poller.queue_url).await == 0 {
                return;
            }
            poll_once(&self.s.sqs, &self.s.poller, &handler)
                .await
                .expect("poll the events queue");
        }
        panic!("the events queue did not drain");
    }

    /// The ERP changes queue drained by the sync (each batch twice when `twice`).
    async fn sync_drain(&self) {
        let sync = self.sync.clone();
        let twice = self.twice;
        let handler = move |event: aws_lambda_events::sqs::SqsEvent, _deadline| {
            let sync = sync.clone();
            async move {
                if twice {
                    stockbridge_lambda::sqs_batch::consume_erp_changes(&sync, event.clone()).await;
                }
                stockbridge_lambda::sqs_batch::consume_erp_changes(&sync, event).await
            }
        };
        for _ in 0..300 {
            if self.s.depth(&self.erp_queue.queue_url).await == 0 {
                return;
            }
            poll_once(&self.s.sqs, &self.erp_queue, &handler)
                .await
                .expect("poll the ERP changes queue");
        }
        panic!("the ERP changes queue did not drain");
    }

    /// Polls the ERP until nothing is newer and both queues are empty: the sync and the
    /// consumer finish what each poll queued.
    async fn cycle(&self) -> PollReport {
        let mut total = PollReport::default();
        let poller = self.poller("cycle");
        for _ in 0..10 {
            let mut changes = 0;
            loop {
                let r = poller.poll_once().await.expect("poll the ERP");
                total.moves += r.moves;
                total.echoes += r.echoes;
                total.changes += r.changes;
                changes += r.changes;
                if !r.more {
                    break;
                }
            }
            let waiting = self.s.depth(&self.erp_queue.queue_url).await
                + self.s.depth(&self.s.poller.queue_url).await;
            if changes == 0 && waiting == 0 {
                return total;
            }
            self.sync_drain().await;
            self.settle().await;
        }
        panic!("the ERP kept changing: {total:?}");
    }

    async fn level(&self, item: u64, location: u64) -> Value {
        let state = self.standin.get("/_standin/state").await;
        state["levels"]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|l| l["item_id"] == json!(item) && l["location_id"] == json!(location))
                    .cloned()
            })
            .unwrap_or(Value::Null)
    }

    async fn available(&self, item: u64, location: u64) -> i64 {
        self.level(item, location).await["available"]
            .as_i64()
            .expect("a level")
    }

    /// The `available` changes made under the ERP sync's keys, for an item at a location.
    async fn ours(&self, item: u64, location: u64) -> Vec<(i64, i64)> {
        let log = self.standin.get("/_standin/adjustments").await;
        let mut out = Vec::new();
        for g in log["adjustments"].as_array().cloned().unwrap_or_default() {
            if !g["idempotencyKey"]
                .as_str()
                .unwrap_or("")
                .starts_with("sb-erp-")
            {
                continue;
            }
            for c in g["changes"].as_array().cloned().unwrap_or_default() {
                if c["name"] == "available"
                    && c["item_id"] == json!(item)
                    && c["location_id"] == json!(location)
                {
                    out.push((
                        c["delta"].as_i64().unwrap_or(0),
                        c["after"].as_i64().unwrap_or(0),
                    ));
                }
            }
        }
        out
    }

    async fn erp_on_hand(&self, warehouse: &str, item: u64) -> Decimal {
        let code = self.code(item);
        erp()
            .levels(warehouse, std::slice::from_ref(&code))
            .await
            .expect("ERP levels")
            .get(&code)
            .copied()
            .unwrap_or_default()
    }

    async fn metafield(&self, item: u64, key: &str) -> Option<String> {
        let owner = format!("gid://shopify/ProductVariant/{}", variant(item));
        let state = self.standin.get("/_standin/state").await;
        state["metafields"].as_array().and_then(|m| {
            m.iter()
                .find(|m| {
                    m["ownerId"] == json!(owner)
                        && m["namespace"] == "stockbridge"
                        && m["key"] == key
                })
                .and_then(|m| m["value"].as_str().map(str::to_string))
        })
    }

    /// A count in the ERP: the item's on-hand at WH set to `quantity` (an inventory).
    async fn count(&self, item: u64, quantity: i64) {
        self.rest
            .count(
                self.product(item),
                env_id("TRYTON_WH_WH_STORAGE_ID"),
                quantity as f64,
            )
            .await;
    }

    async fn settings(&self, change: impl FnOnce(&mut StorefrontSettings)) {
        let mut s = self
            .s
            .store
            .storefront_settings(&self.s.shop())
            .await
            .expect("settings");
        change(&mut s);
        self.s
            .store
            .put_storefront_settings(&self.s.shop(), &s)
            .await
            .expect("settings");
    }
}

#[tokio::test]
async fn a_purchase_received_reaches_shopify_once_and_its_restock_date_is_set_moved_and_cleared() {
    let w = world().await;
    let (d1, d1v) = date_in(10);
    w.rest.purchase(&[(w.product(TEE), "24")], &d1v).await;
    w.cycle().await;
    assert_eq!(
        w.metafield(TEE, "restock_date").await.as_deref(),
        Some(d1.as_str())
    );
    assert_eq!(
        w.metafield(TEE, "restock_quantity").await.as_deref(),
        Some("24")
    );
    // Nothing is on hand yet: Shopify unchanged.
    assert_eq!(w.available(TEE, WH).await, 50);

    let (d2, d2v) = date_in(14);
    let incoming = w.rest.incoming_move(w.product(TEE)).await;
    w.rest
        .put(
            &format!("stock.move/{incoming}"),
            json!({"planned_date": d2v}),
        )
        .await;
    w.cycle().await;
    assert_eq!(
        w.metafield(TEE, "restock_date").await.as_deref(),
        Some(d2.as_str())
    );

    // Received; the poller dies after queueing the page, before its cursor moves, and the
    // page is read again; every sync batch is applied twice.
    w.rest.receive(&[incoming]).await;
    w.crash.store(true, Ordering::SeqCst);
    assert!(w.poller("dies").poll_once().await.is_err());
    w.cycle().await;
    assert_eq!(w.erp_on_hand("WH", TEE).await, Decimal::from(74));
    assert_eq!(w.available(TEE, WH).await, 74);
    assert_eq!(
        w.ours(TEE, WH).await,
        vec![(24, 74)],
        "one change under our key"
    );
    assert_eq!(
        w.metafield(TEE, "restock_date").await,
        None,
        "received: cleared"
    );
    assert_eq!(w.metafield(TEE, "restock_quantity").await, None);
    // Shopify's own webhook of our write came back and told the ERP nothing.
    assert_eq!(w.erp_on_hand("WH", TEE).await, Decimal::from(74));
    assert_eq!(w.erp_on_hand("STORE", TEE).await, Decimal::from(10));
    // The operator's explanation of the figure.
    let out = std::process::Command::new(support::stockbridge_binary())
        .args([
            "stock",
            "explain",
            "--shop",
            SHOP,
            "--item",
            &TEE.to_string(),
        ])
        .args(["--location", &WH.to_string(), "--json"])
        .envs(&w.s.env)
        .output()
        .expect("run stockbridge stock explain");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let explained: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(explained["erp"]["on_hand"], "74", "{explained}");
    // The last snapshot found Shopify right; the write it names is the receipt's.
    let told = &explained["last_told"];
    assert_eq!(told["derivation"]["target"].as_i64(), Some(74), "{told}");
    assert_eq!(told["derivation"]["rule_source"], "default");
    let write = &told["last_write"];
    assert_eq!(
        (write["before"].as_i64(), write["after"].as_i64()),
        (Some(50), Some(74)),
        "{told}"
    );
    assert!(
        write["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("sb-erp-")),
        "{told}"
    );
    assert_eq!(explained["derivation_now"]["target"].as_i64(), Some(74));
}

#[tokio::test]
async fn a_racing_sale_survives_and_the_buffer_and_a_never_sellable_location_hold() {
    let w = world().await;
    // A storefront sale of 1 tee at WH lands between the sync's read and its write.
    w.standin
        .post(
            "/_standin/race",
            json!({"lines": [{"inventory_item_id": TEE, "quantity": 1, "location": WH}]}),
        )
        .await;
    w.count(TEE, 55).await;
    w.cycle().await;
    let level = w.level(TEE, WH).await;
    assert_eq!(w.standin.get("/_standin/stats").await["races"], 1);
    // 55 on hand in the ERP, 1 committed to the sale: 54 sellable; the sale's unit survives.
    assert_eq!(
        (level["available"].as_i64(), level["committed"].as_i64()),
        (Some(54), Some(1))
    );
    let ours = w.ours(TEE, WH).await;
    assert_eq!(ours.len(), 1, "the stale try applied nothing: {ours:?}");

    // A buffer of 3 at the warehouse.
    w.settings(|s| {
        s.rules.locations.insert(
            LocationId(WH),
            SellRule {
                buffer: 3,
                sellable: true,
            },
        );
    })
    .await;
    w.count(TEE, 56).await;
    w.cycle().await;
    assert_eq!(w.available(TEE, WH).await, 56 - 1 - 3);
    // Never sellable: 0, whatever is on hand.
    w.settings(|s| {
        s.rules.locations.insert(
            LocationId(WH),
            SellRule {
                buffer: 0,
                sellable: false,
            },
        );
    })
    .await;
    w.count(TEE, 57).await;
    w.cycle().await;
    assert_eq!(w.available(TEE, WH).await, 0);
    assert_eq!(
        w.level(TEE, WH).await["committed"].as_i64(),
        Some(1),
        "the sale still there"
    );
    // And back.
    w.settings(|s| {
        s.rules.locations.remove(&LocationId(WH));
    })
    .await;
    w.count(TEE, 58).await;
    w.cycle().await;
    assert_eq!(w.available(TEE, WH).await, 57);
    // The ERP was told nothing back: only its own counts moved it.
    assert_eq!(w.erp_on_hand("WH", TEE).await, Decimal::from(58));
}

#[tokio::test]
async fn a_hundred_erp_receipts_make_a_hundred_shopify_changes_and_no_erp_write_back() {
    let w = world().await;
    let items = [TEE, CAP, SOCK, MUG];
    // 25 purchase orders of 4 lines, each received: 100 receipts (the mugs by the dozen).
    for round in 0..25 {
        let lines: Vec<(i64, String)> = items
            .iter()
            .map(|i| (w.product(*i), (factor(*i) * (1 + round % 3)).to_string()))
            .collect();
        let lines_ref: Vec<(i64, &str)> = lines.iter().map(|(p, q)| (*p, q.as_str())).collect();
        let (_, date) = date_in(3);
        w.rest.purchase(&lines_ref, &date).await;
        let mut moves = Vec::new();
        for i in items {
            moves.push(w.rest.incoming_move(w.product(i)).await);
        }
        w.rest.receive(&moves).await;
        // Other tests share this Tryton: its echoes are theirs; ours show in the figures below.
        w.cycle().await;
    }
    let mut changes = 0;
    for i in items {
        let ours = w.ours(i, WH).await;
        changes += ours.len();
        let units: i64 = (0..25).map(|r| 1 + r % 3).sum();
        let opening = match i {
            TEE => 50,
            MUG => 60,
            CAP => 20,
            _ => 30,
        };
        let erp_now = w.erp_on_hand("WH", i).await;
        assert_eq!(
            erp_now,
            Decimal::from(opening + units * factor(i)),
            "ERP {i}: no write back"
        );
        assert_eq!(
            Decimal::from(w.available(i, WH).await * factor(i)),
            erp_now,
            "Shopify {i} follows the ERP"
        );
    }
    assert_eq!(changes, 100, "one Shopify change per receipt");
    assert_eq!(w.erp_on_hand("STORE", TEE).await, Decimal::from(10));
}

#[tokio::test]
async fn a_transfer_to_the_shop_floor_counts_once_in_each_system() {
    let w = world().await;
    w.rest
        .transfer(
            w.product(TEE),
            env_id("TRYTON_WH_WH_STORAGE_ID"),
            env_id("TRYTON_WH_STORE_STORAGE_ID"),
            6.0,
        )
        .await;
    w.cycle().await;
    // The ERP booked it: WH 44, STORE 16. Shopify's warehouse follows the ERP; the shop floor
    // is Shopify's to count and is not written.
    assert_eq!(w.erp_on_hand("WH", TEE).await, Decimal::from(44));
    assert_eq!(w.erp_on_hand("STORE", TEE).await, Decimal::from(16));
    assert_eq!(w.available(TEE, WH).await, 44);
    assert_eq!(w.available(TEE, STORE).await, 10);
    // The shop floor receives the 6 in Shopify.
    w.standin
        .post(
            "/_standin/receive",
            json!({"item": TEE, "location": STORE, "quantity": 6}),
        )
        .await;
    w.settle().await;
    w.cycle().await;
    assert_eq!(w.available(TEE, STORE).await, 16);
    // Counted once in the ERP too: the receipt was netted against the transfer.
    assert_eq!(w.erp_on_hand("STORE", TEE).await, Decimal::from(16));
    assert_eq!(w.erp_on_hand("WH", TEE).await, Decimal::from(44));
}

#[tokio::test]
async fn the_reorder_signal_fires_once_per_window_from_the_erp_or_the_shop_s_point() {
    let w = world().await;
    w.settings(|s| {
        s.reorder_points.insert(w.code(TEE), Decimal::from(45));
    })
    .await;
    // The ERP's own order point for the socks.
    w.rest
        .order_point(w.product(SOCK), env_id("TRYTON_WH_WH_ID"), 25.0)
        .await;
    for q in [44, 43, 50, 40] {
        w.count(TEE, q).await;
        w.cycle().await;
    }
    w.count(SOCK, 20).await;
    w.cycle().await;
    let signals: Vec<Value> = w
        .alerts
        .published()
        .into_iter()
        .filter(|(t, _)| t == REORDER_DETAIL_TYPE)
        .map(|(_, d)| d)
        .collect();
    let of = |code: String| {
        signals
            .iter()
            .filter(|d| d["erp_item"] == json!(code))
            .cloned()
            .collect::<Vec<_>>()
    };
    let tees = of(w.code(TEE));
    assert_eq!(
        tees.len(),
        1,
        "one per window, the recovery within it raises nothing: {tees:?}"
    );
    assert_eq!(tees[0]["point_from"], "skumap");
    assert_eq!(tees[0]["on_hand"], "44");
    let socks = of(w.code(SOCK));
    assert_eq!(socks.len(), 1, "{socks:?}");
    assert_eq!(socks[0]["point_from"], "erp");
}

#[tokio::test]
async fn the_poller_killed_mid_page_applies_every_move_once() {
    let mut w = world().await;
    w.twice = false;
    let poller = w.poller("killed");
    let mut expected = 50;
    for (n, q) in [3i64, -2, 5, 1, -4, 2, 6, -1].iter().enumerate() {
        expected += q;
        w.count(TEE, expected).await;
        // Killed at some point of a poll: before, during or after queueing its page.
        let ms = [1u64, 5, 15, 40, 80, 120, 200, 400][n];
        let _ = tokio::time::timeout(Duration::from_millis(ms), poller.poll_once()).await;
    }
    w.cycle().await;
    assert_eq!(w.erp_on_hand("WH", TEE).await, Decimal::from(expected));
    assert_eq!(w.available(TEE, WH).await, expected);
    // Every change under our keys moved Shopify toward an ERP figure: their sum is the ERP's
    // total change, never a move twice.
    let ours = w.ours(TEE, WH).await;
    let sum: i64 = ours.iter().map(|(d, _)| d).sum();
    assert_eq!(sum, expected - 50, "{ours:?}");
}
