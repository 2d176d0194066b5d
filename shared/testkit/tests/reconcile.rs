//! The reconcile run through the real components: the Shopify stand-in (its webhooks signed and
//! delivered to this test's webhook), moto (tables, queue, the EventBridge bus with a rule to a
//! queue this test reads) and the test Tryton. Drift is seeded the way it happens (a webhook
//! lost, a count typed into the ERP, a count typed into Shopify, an item and a location nobody
//! mapped); each is found, reported, alerted, corrected toward the right side and logged, and a
//! second run changes nothing. Then dry run, the cap, and a shop that throttles.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::{json, Value};
use stockbridge_aws::dynamodb::DynamoStore;
use stockbridge_aws::eventbridge::EventBridgeAlerts;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_push::PushPolicy;
use stockbridge_core::ports::{Erp, Inbox};
use stockbridge_core::reconcile::{
    ReconcileError, ReconcileReport, Reconciler, RunOptions, ShopifyRead, ALERT_DETAIL_TYPE,
};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::erp_write::{ErpLine, ErpWrite};
use stockbridge_domain::ids::{InventoryItemId, LocationId};
use stockbridge_domain::stock::StockKey;
use stockbridge_domain::variance::{Correction, Policy, VarianceKind};
use stockbridge_erp::tryton::TrytonErp;
use stockbridge_shopify_admin::ShopifyGraphql;
use support::erp::{consumer_with_erp, create_products, env, unique};
use support::standin::{Options, Standin};
use support::{Stack, SHOP};

const WH: u64 = 73000000001; // ERP-master warehouse
const STORE: u64 = 73000000002; // Shopify-master shop floor
const POPUP: u64 = 73000000003; // a Shopify location nobody mapped
const A: u64 = 48000000000000001;
const B: u64 = 48000000000000002;
const C: u64 = 48000000000000003;
const D: u64 = 48000000000000004; // stocked in Shopify, not in the SKU map

type TestReconciler =
    Reconciler<DynamoStore, TrytonErp, ShopifyGraphql, SqsQueue, EventBridgeAlerts>;

struct World {
    s: Stack,
    standin: Standin,
    erp: TrytonErp,
    codes: HashMap<u64, String>,
    consumer: Arc<StockConsumer<DynamoStore, TrytonErp, SqsQueue, support::erp::EchoDynamo>>,
    reconciler: TestReconciler,
    /// The queue the alert rule targets.
    alerts_url: String,
}

fn tryton() -> TrytonErp {
    TrytonErp::new(env("TRYTON_URL"), env("TRYTON_API_KEY"), 1).expect("a loopback Tryton URL")
}

/// A bus with a rule sending `InventoryVarianceDetected` to a queue this test reads, as the
/// template's rule sends it to the alarm topic.
async fn alert_bus(s: &Stack) -> (String, String) {
    let events = aws_sdk_eventbridge::Client::new(&s.sdk);
    let bus = unique("stockbridge-bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let url = s
        .sqs
        .create_queue()
        .queue_name(unique("alerts"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let arn = s
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name("variance-alerts")
        .event_bus_name(&bus)
        .event_pattern(
            json!({"source": [stockbridge_aws::eventbridge::SOURCE], "detail-type": [ALERT_DETAIL_TYPE]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("variance-alerts")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("alerts-queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (bus, url)
}

/// The stand-in, the SKU map (A, B at the shop floor; C at the warehouse; D unmapped; POPUP
/// unmapped), the ERP's opening stock, and every level delivered by webhook and pushed.
async fn world(options: Options) -> World {
    let s = support::stack().await;
    let standin = Standin::start(Options {
        webhook_url: Some(s.url.clone()),
        ..options
    })
    .await;
    let (base, key) = (env("TRYTON_URL"), env("TRYTON_API_KEY"));
    let codes: HashMap<u64, String> = [(A, "RA"), (B, "RB"), (C, "RC")]
        .into_iter()
        .map(|(i, tag)| (i, unique(tag)))
        .collect();
    let mut all: Vec<String> = codes.values().cloned().collect();
    all.sort();
    create_products(&base, &key, &all).await;
    let items = format!(
        "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n\
         {SHOP},{A},{},SB-RA,{},each,each\n{SHOP},{B},{},SB-RB,{},each,each\n{SHOP},{C},{},SB-RC,{},each,each\n",
        A + 1_000_000, codes[&A], B + 1_000_000, codes[&B], C + 1_000_000, codes[&C]
    );
    let locations = format!(
        "shop,location_id,name,erp_warehouse,master,default\n{SHOP},{WH},Warehouse,WH,erp,true\n{SHOP},{STORE},Shop floor,STORE,shopify,false\n"
    );
    stockbridge_ops::import_skumap(&s.store, &s.queue, Some(&items), Some(&locations), false)
        .await
        .unwrap();
    let erp = tryton();
    erp.apply(&ErpWrite {
        key: unique("opening"),
        warehouse: "WH".into(),
        reason: "opening stock".into(),
        as_of: "2026-11-27T09:00:00Z".into(),
        lines: vec![ErpLine {
            item: codes[&C].clone(),
            change: Decimal::from(50),
            target: None,
        }],
    })
    .await
    .unwrap();
    let items_json: Vec<Value> = [A, B, C, D]
        .iter()
        .map(|i| json!({"id": i, "sku": format!("SKU-{i}")}))
        .collect();
    standin
        .post(
            "/_standin/seed",
            json!({
                "items": items_json,
                "locations": [{"id": WH, "name": "Warehouse"}, {"id": STORE, "name": "Shop floor"}, {"id": POPUP, "name": "Pop-up"}],
                "levels": [
                    {"item": A, "location": STORE, "available": 30},
                    {"item": B, "location": STORE, "available": 20},
                    {"item": C, "location": WH, "available": 50},
                    {"item": D, "location": STORE, "available": 6},
                    {"item": D, "location": POPUP, "available": 4},
                ],
                "notify": true,
            }),
        )
        .await;
    let consumer = consumer_with_erp(&s, tryton(), PushPolicy::default());
    let (bus, alerts_url) = alert_bus(&s).await;
    let reconciler = Reconciler {
        shop: s.shop(),
        store: s.store.clone(),
        erp: tryton(),
        shopify: standin.client(),
        queue: s.queue.clone(),
        alerts: EventBridgeAlerts::new(aws_sdk_eventbridge::Client::new(&s.sdk), bus),
        metrics: Metrics::silent("reconcile"),
    };
    let w = World {
        s,
        standin,
        erp,
        codes,
        consumer,
        reconciler,
        alerts_url,
    };
    w.settle().await;
    w
}

impl World {
    /// Waits for the stand-in's webhooks to be delivered, then drains the queue through the
    /// consumer (which pushes to the ERP).
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
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.s.drain_with(&self.consumer).await;
    }

    async fn run(&self, policy: Policy, lift_cap: bool) -> ReconcileReport {
        self.run_reading(policy, lift_cap, ShopifyRead::Paged).await
    }

    async fn run_reading(
        &self,
        policy: Policy,
        lift_cap: bool,
        read: ShopifyRead,
    ) -> ReconcileReport {
        self.reconciler
            .run(&RunOptions {
                policy,
                lift_cap,
                read,
            })
            .await
            .expect("the run completes")
    }

    /// Shopify's (available, committed) of one level.
    async fn shopify(&self, item: u64, location: u64) -> (i64, i64) {
        let state = self.standin.get("/_standin/state").await;
        let l = state["levels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| {
                l["item_id"].as_u64() == Some(item) && l["location_id"].as_u64() == Some(location)
            })
            .unwrap_or_else(|| panic!("no level {item}@{location}"))
            .clone();
        (
            l["available"].as_i64().unwrap(),
            l["committed"].as_i64().unwrap(),
        )
    }

    async fn ours(&self, item: u64, location: u64) -> i64 {
        self.s.stock().await[&format!("{item}@{location}")].0
    }

    async fn erp_on_hand(&self, item: u64, warehouse: &str) -> Decimal {
        let code = &self.codes[&item];
        self.erp
            .levels(warehouse, std::slice::from_ref(code))
            .await
            .unwrap()
            .get(code)
            .copied()
            .unwrap_or_default()
    }

    /// A count typed into the Shopify admin; `silent` loses its webhook.
    async fn shopify_manual(&self, item: u64, location: u64, available: i64, silent: bool) {
        self.standin
            .post(
                "/_standin/set",
                json!({"item": item, "location": location, "available": available, "silent": silent}),
            )
            .await;
    }

    /// A change typed into the ERP.
    async fn erp_manual(&self, item: u64, warehouse: &str, change: i64) {
        self.erp
            .apply(&ErpWrite {
                key: unique("manual"),
                warehouse: warehouse.into(),
                reason: "manual count".into(),
                as_of: "2026-11-27T12:00:00Z".into(),
                lines: vec![ErpLine {
                    item: self.codes[&item].clone(),
                    change: Decimal::from(change),
                    target: None,
                }],
            })
            .await
            .unwrap();
    }

    /// Alert events delivered to the rule's queue.
    async fn alerts(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for _ in 0..3 {
            let got = self
                .s
                .sqs
                .receive_message()
                .queue_url(&self.alerts_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for m in got.messages() {
                out.push(serde_json::from_str(m.body().unwrap_or("null")).unwrap());
                self.s
                    .sqs
                    .delete_message()
                    .queue_url(&self.alerts_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        out
    }

    /// Correction entries in the transaction log of one item at one location.
    async fn corrections_logged(&self, item: u64, location: u64) -> Vec<(String, String, String)> {
        let key = StockKey {
            shop: self.s.shop(),
            item: InventoryItemId(item),
            location: LocationId(location),
        };
        let get = |e: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| {
            e.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        self.s
            .store
            .ledger(&key)
            .await
            .unwrap()
            .iter()
            .filter(|e| get(e, "kind") == "correction")
            .map(|e| (get(e, "run"), get(e, "side"), get(e, "outcome")))
            .collect()
    }
}

fn kinds(report: &ReconcileReport) -> Vec<(u64, u64, VarianceKind, Option<String>)> {
    let mut out: Vec<_> = report
        .details
        .iter()
        .map(|(v, done)| {
            (
                v.item.0,
                v.location.0,
                v.kind,
                done.as_ref().map(|d| d.outcome.clone()),
            )
        })
        .collect();
    out.sort_by_key(|k| (k.0, k.1));
    out
}

#[tokio::test]
async fn seeded_drift_is_found_alerted_corrected_toward_the_master_and_logged_once() {
    let w = world(Options::default()).await;

    // In step: only what nobody mapped is reported, and nothing is corrected.
    let baseline = w.run(Policy::default(), false).await;
    assert_eq!(
        kinds(&baseline),
        vec![(D, STORE, VarianceKind::UnmappedItem, None)],
        "{baseline:#?}"
    );
    assert_eq!(baseline.unmapped_locations.len(), 1);
    assert_eq!(
        (
            baseline.unmapped_locations[0].location.0,
            baseline.unmapped_locations[0].on_hand
        ),
        (POPUP, 4)
    );
    assert_eq!(baseline.corrections_applied, 0);
    w.alerts().await;

    // The drift of a day.
    w.shopify_manual(A, STORE, 25, true).await; // a webhook lost
    w.erp_manual(B, "STORE", 7).await; // a count typed into the ERP at a Shopify-master location
    w.shopify_manual(C, WH, 58, false).await; // a count typed into Shopify at an ERP-master location
    w.settle().await;
    assert_eq!(w.ours(A, STORE).await, 30, "the lost webhook never arrived");
    assert_eq!(w.ours(C, WH).await, 58, "Shopify's own webhook arrived");
    assert_eq!(w.erp_on_hand(B, "STORE").await, Decimal::from(27));

    let first = w.run(Policy::default(), false).await;
    assert_eq!(
        kinds(&first),
        vec![
            (
                A,
                STORE,
                VarianceKind::StockbridgeBehind,
                Some("applied".into())
            ),
            (B, STORE, VarianceKind::ErpDrift, Some("applied".into())),
            (C, WH, VarianceKind::ShopifyDrift, Some("applied".into())),
            (D, STORE, VarianceKind::UnmappedItem, None),
        ],
        "{first:#?}"
    );
    let correction = |item| {
        first
            .details
            .iter()
            .find(|(v, _)| v.item.0 == item)
            .and_then(|(v, _)| v.correction.clone())
            .unwrap()
    };
    assert!(
        matches!(correction(A), Correction::RecordQuantities { before, after, .. }
            if before.available == 30 && after.available == 25),
        "{:?}",
        correction(A)
    );
    assert!(
        matches!(correction(B), Correction::AdjustErp { before, after, .. } if before == Decimal::from(27) && after == Decimal::from(20))
    );
    assert!(matches!(
        correction(C),
        Correction::SetShopify {
            before: 58,
            after: 50,
            ..
        }
    ));
    assert_eq!(first.corrections_applied, 3);
    assert!(first.alert, "over the threshold");
    let store = first
        .locations
        .iter()
        .find(|t| t.location.0 == STORE)
        .unwrap();
    assert_eq!((store.units_off, store.largest), (5 + 7 + 6, 7));
    let warehouse = first.locations.iter().find(|t| t.location.0 == WH).unwrap();
    assert_eq!(warehouse.units_off, 8, "Shopify 58 against the ERP's 50");
    assert_eq!(first.total_units_off, 5 + 7 + 6 + 8);
    assert_eq!(
        first.total_master_units,
        store.master_units + warehouse.master_units
    );
    assert!(first
        .alert_reasons
        .iter()
        .any(|r| r.contains(&POPUP.to_string())));

    // The alert went out on the bus with the run and the figures.
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["detail-type"], ALERT_DETAIL_TYPE);
    assert_eq!(alerts[0]["detail"]["run"], first.run.as_str());
    assert_eq!(alerts[0]["detail"]["corrections"]["applied"], 3);

    // The corrections land: Stockbridge and the ERP follow Shopify at the shop floor, Shopify
    // follows the ERP at the warehouse (its webhook brings Stockbridge along).
    w.settle().await;
    assert_eq!(w.ours(A, STORE).await, 25);
    assert_eq!(
        w.erp_on_hand(A, "STORE").await,
        Decimal::from(25),
        "told through the push"
    );
    assert_eq!(w.erp_on_hand(B, "STORE").await, Decimal::from(20));
    assert_eq!(w.shopify(C, WH).await, (50, 0));
    assert_eq!(w.ours(C, WH).await, 50);
    assert_eq!(
        w.erp_on_hand(C, "WH").await,
        Decimal::from(50),
        "the master untouched"
    );

    // Logged with before, after, reason and outcome, on each item's own log.
    for (item, location, side) in [
        (A, STORE, "stockbridge"),
        (B, STORE, "erp"),
        (C, WH, "shopify"),
    ] {
        assert_eq!(
            w.corrections_logged(item, location).await,
            vec![(first.run.clone(), side.to_string(), "applied".to_string())]
        );
    }

    // The same run again changes nothing.
    let second = w.run(Policy::default(), false).await;
    assert_eq!(
        kinds(&second),
        vec![(D, STORE, VarianceKind::UnmappedItem, None)],
        "{second:#?}"
    );
    assert_eq!(second.corrections_applied, 0);
    assert_eq!(w.corrections_logged(B, STORE).await.len(), 1);

    // Both reports are there for an operator, newest first.
    let reports = w.s.store.reports(&w.s.shop(), 5).await.unwrap();
    let runs: Vec<String> = reports
        .iter()
        .map(|r| serde_json::from_str::<ReconcileReport>(r).unwrap().run)
        .collect();
    assert_eq!(
        runs[..3],
        [second.run.clone(), first.run.clone(), baseline.run.clone()]
    );
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_the_cap_holds_corrections_for_an_operator() {
    let w = world(Options::default()).await;
    w.shopify_manual(A, STORE, 25, true).await;
    w.erp_manual(B, "STORE", 7).await;
    w.settle().await;

    let dry = w
        .run(
            Policy {
                dry_run: true,
                ..Policy::default()
            },
            false,
        )
        .await;
    assert_eq!((dry.corrections_planned, dry.corrections_applied), (2, 0));
    w.settle().await;
    assert_eq!(w.ours(A, STORE).await, 30);
    assert_eq!(w.erp_on_hand(B, "STORE").await, Decimal::from(27));
    assert_eq!(
        w.corrections_logged(B, STORE).await,
        vec![(dry.run.clone(), "erp".into(), "dry_run".into())]
    );

    // A cap of 6 units: A (5 units) fits, B (7 more) does not and waits for an operator.
    let capped = Policy {
        cap_units: 6,
        ..Policy::default()
    };
    let held = w.run(capped.clone(), false).await;
    assert_eq!(
        (held.corrections_applied, held.corrections_held),
        (1, 1),
        "{held:#?}"
    );
    assert!(held
        .alert_reasons
        .iter()
        .any(|r| r.contains("held back by the cap")));
    w.settle().await;
    assert_eq!(w.ours(A, STORE).await, 25);
    assert_eq!(w.erp_on_hand(B, "STORE").await, Decimal::from(27), "held");

    // The operator lifts the cap for one run.
    let lifted = w.run(capped, true).await;
    assert_eq!(
        (lifted.corrections_applied, lifted.corrections_held),
        (1, 0),
        "{lifted:#?}"
    );
    assert_eq!(w.erp_on_hand(B, "STORE").await, Decimal::from(20));
}

#[tokio::test]
async fn a_shop_that_throttles_slows_the_run_down_and_the_bucket_is_never_overdrawn() {
    // 60 points restoring at 60 a second, and 100 more items stocked at the pop-up: reading
    // them costs about 3 points a level, some 300 points, five buckets' worth.
    let w = world(Options {
        bucket: 60,
        restore: 60,
        webhook_url: None,
    })
    .await;
    let extra: Vec<Value> = (0..100u64).map(|i| json!({"id": D + 100 + i})).collect();
    let levels: Vec<Value> = (0..100u64)
        .map(|i| json!({"item": D + 100 + i, "location": POPUP, "available": 1}))
        .collect();
    w.standin
        .post("/_standin/seed", json!({"items": extra, "levels": levels}))
        .await;
    let started = Instant::now();
    let report = w.run(Policy::default(), false).await;
    let elapsed = started.elapsed();
    assert_eq!(
        kinds(&report),
        vec![(D, STORE, VarianceKind::UnmappedItem, None)],
        "{report:#?}"
    );
    assert_eq!(
        report.unmapped_locations[0].items, 101,
        "every page was read"
    );
    assert_eq!(report.unmapped_locations[0].on_hand, 104);
    let stats = w.standin.get("/_standin/stats").await;
    assert_eq!(stats["throttled"], 0, "paced, never throttled: {stats}");
    assert!(
        stats["min_available"].as_f64().unwrap() >= 0.0,
        "the bucket was never overdrawn: {stats}"
    );
    assert!(
        stats["min_available"].as_f64().unwrap() < 30.0,
        "the run used the bucket down to its last points: {stats}"
    );
    assert!(
        elapsed >= Duration::from_secs(3),
        "300 points through a 60-point bucket at 60/s waited for it ({elapsed:?})"
    );
}

#[tokio::test]
async fn a_bulk_operation_finds_the_same_drift_as_pages_whatever_the_order_of_its_lines() {
    let w = world(Options::default()).await;
    // 300 more items at the shop floor, in step, so the bulk output (which the stand-in
    // shuffles, as Shopify promises no order) has to be sorted back.
    let extra: Vec<Value> = (0..300u64).map(|i| json!({"id": D + 1000 + i})).collect();
    let levels: Vec<Value> = (0..300u64)
        .map(|i| json!({"item": D + 1000 + i, "location": STORE, "available": 0}))
        .collect();
    w.standin
        .post("/_standin/seed", json!({"items": extra, "levels": levels}))
        .await;
    w.shopify_manual(A, STORE, 25, true).await;
    w.erp_manual(B, "STORE", 7).await;
    w.settle().await;
    let dry = Policy {
        dry_run: true,
        ..Policy::default()
    };
    let paged = w.run_reading(dry.clone(), false, ShopifyRead::Paged).await;
    let bulk = w.run_reading(dry, false, ShopifyRead::Bulk).await;
    assert_eq!(kinds(&bulk), kinds(&paged));
    assert_eq!(
        kinds(&bulk),
        vec![
            (
                A,
                STORE,
                VarianceKind::StockbridgeBehind,
                Some("dry_run".into())
            ),
            (B, STORE, VarianceKind::ErpDrift, Some("dry_run".into())),
            (D, STORE, VarianceKind::UnmappedItem, None),
        ],
        "{bulk:#?}"
    );
    assert_eq!(bulk.items_compared, paged.items_compared);
    assert_eq!(bulk.locations, paged.locations);
    let stats = w.standin.get("/_standin/stats").await;
    assert_eq!(
        stats["bulk_operations"], 2,
        "one per mapped location: {stats}"
    );
}

#[tokio::test]
async fn an_unreachable_erp_or_a_refused_token_fails_the_run_loudly_and_changes_nothing() {
    let w = world(Options::default()).await;
    w.erp_manual(B, "STORE", 7).await;
    let closed = support::standin::free_port();
    let metrics = Metrics::silent("reconcile");
    let no_erp = Reconciler {
        shop: w.s.shop(),
        store: w.s.store.clone(),
        erp: TrytonErp::new(format!("http://127.0.0.1:{closed}/db"), "k", 1)
            .expect("a loopback Tryton URL"),
        shopify: w.standin.client(),
        queue: w.s.queue.clone(),
        alerts: EventBridgeAlerts::new(aws_sdk_eventbridge::Client::new(&w.s.sdk), "no-such-bus"),
        metrics: metrics.clone(),
    };
    match no_erp.run(&RunOptions::default()).await {
        Err(stockbridge_core::reconcile::ReconcileError::Erp(e)) => {
            assert!(e.is_transient(), "{e}")
        }
        other => panic!("expected an ERP failure, got {other:?}"),
    }
    assert_eq!(metrics.total("ReconcileFailed"), 1.0);
    assert_eq!(
        w.erp_on_hand(B, "STORE").await,
        Decimal::from(27),
        "nothing corrected"
    );

    let wrong_token = Reconciler {
        shopify: ShopifyGraphql::new(&w.standin.base, "shpat_wrong").unwrap(),
        erp: tryton(),
        ..no_erp
    };
    match wrong_token.run(&RunOptions::default()).await {
        Err(stockbridge_core::reconcile::ReconcileError::Shopify(
            stockbridge_core::ports::ShopifyError::Rejected(why),
        )) => assert!(why.contains("access"), "{why}"),
        other => panic!("expected Shopify to refuse the token, got {other:?}"),
    }
    assert_eq!(metrics.total("ReconcileFailed"), 2.0);
    let reports = w.s.store.reports(&w.s.shop(), 5).await.unwrap();
    assert!(reports.is_empty(), "a failed run stores no report");
}

#[tokio::test]
async fn overlapping_runs_correct_a_difference_once() {
    let w = world(Options::default()).await;
    let baseline = w.run(Policy::default(), false).await;
    assert_eq!(baseline.corrections_applied, 0);
    w.erp_manual(B, "STORE", 7).await; // a count typed into the ERP at a Shopify-master location
    w.settle().await;
    assert_eq!(w.erp_on_hand(B, "STORE").await, Decimal::from(27));

    // The schedule fires while an operator's run is still going: two runs at once.
    let options = RunOptions {
        policy: Policy::default(),
        lift_cap: false,
        read: ShopifyRead::Paged,
    };
    let (a, b) = tokio::join!(w.reconciler.run(&options), w.reconciler.run(&options));
    assert_eq!(
        w.erp_on_hand(B, "STORE").await,
        Decimal::from(20),
        "the ERP is set back once, not once per run"
    );
    let (ran, skipped): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(|r| r.is_ok());
    assert_eq!(ran.len(), 1, "exactly one run goes ahead: {skipped:?}");
    assert!(
        matches!(skipped[0], Err(ReconcileError::AlreadyRunning { .. })),
        "the other finds the lease held: {skipped:?}"
    );
    let report = ran.into_iter().next().unwrap().unwrap();
    assert_eq!(report.corrections_applied, 1, "{report:#?}");
    assert_eq!(w.reconciler.metrics.total("ReconcileOverlap"), 1.0);

    // The lease was given back: the next run goes ahead and finds nothing to correct.
    let next = w.run(Policy::default(), false).await;
    assert_eq!(next.corrections_applied, 0, "{next:#?}");
}

/// A consumer that reads the stand-in's Admin API (fulfillment orders, every quantity name).
fn reading_consumer(
    w: &World,
) -> Arc<StockConsumer<DynamoStore, TrytonErp, SqsQueue, ShopifyGraphql>> {
    let metrics = Metrics::silent("stock-consumer");
    Arc::new(
        StockConsumer::with_erp(
            w.s.store.clone(),
            metrics.clone(),
            stockbridge_core::erp_push::ErpPush::new(tryton(), PushPolicy::default(), metrics),
            Some(w.s.queue.clone()),
        )
        .with_shopify(Some(
            ShopifyGraphql::new(&w.standin.base, support::standin::TOKEN).expect("client"),
        )),
    )
}

/// Waits for the stand-in's queued webhooks, then drains through `consumer`.
async fn settle_with(
    w: &World,
    consumer: &Arc<StockConsumer<DynamoStore, TrytonErp, SqsQueue, ShopifyGraphql>>,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = w.standin.get("/_standin/stats").await["deliveries"].clone();
        let n = |k: &str| d[k].as_u64().unwrap_or(0);
        if n("delivered") + n("failed") == n("queued") {
            break;
        }
        assert!(Instant::now() < deadline, "webhooks not delivered: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.s.drain_with(consumer).await;
}

/// Shopify's level as the stand-in keeps it.
async fn standin_level(w: &World, item: u64, location: u64) -> Value {
    let state = w.standin.get("/_standin/state").await;
    state["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["item_id"].as_u64() == Some(item) && l["location_id"].as_u64() == Some(location)
        })
        .unwrap_or_else(|| panic!("no level {item}@{location}"))
        .clone()
}

/// Stockbridge's record of one level.
async fn record(w: &World, item: u64, location: u64) -> stockbridge_domain::stock::StockLevel {
    w.s.store
        .levels(&w.s.shop())
        .await
        .unwrap()
        .into_iter()
        .find(|(k, _)| k.item.0 == item && k.location.0 == location)
        .map(|(_, l)| l)
        .unwrap_or_else(|| panic!("no record {item}@{location}"))
}

#[tokio::test]
async fn a_lost_fulfillment_order_move_and_a_lost_damaged_count_are_repaired() {
    let w = world(Options::default()).await;
    let consumer = reading_consumer(&w);
    // C is stocked at the shop floor too; an online order of 2 C routes to the warehouse (the
    // primary location) and its fulfillment order is read.
    w.standin
        .post(
            "/_standin/seed",
            json!({"levels": [{"item": C, "location": STORE, "available": 10}], "notify": true}),
        )
        .await;
    settle_with(&w, &consumer).await;
    let placed = w
        .standin
        .post(
            "/_standin/order",
            json!({"lines": [{"inventory_item_id": C, "quantity": 2}]}),
        )
        .await;
    let fo = placed["fulfillment_orders"][0]["id"].as_u64().unwrap();
    settle_with(&w, &consumer).await;
    assert_eq!(
        record(&w, C, WH).await.committed,
        2,
        "the routed order counts at the warehouse"
    );

    // The fulfillment order moves to the shop floor; its `fulfillment_orders/moved` is lost.
    w.standin
        .post(
            "/_standin/move",
            json!({"fulfillment_order": fo, "location": STORE, "hold": true}),
        )
        .await;
    let dropped = w
        .standin
        .post(
            "/_standin/webhooks/drop",
            json!({"topic": "fulfillment_orders/moved"}),
        )
        .await;
    assert_eq!(
        dropped["dropped"].as_array().map(Vec::len),
        Some(1),
        "{dropped}"
    );
    w.standin.post("/_standin/webhooks/flush", json!({})).await;
    // 3 of A at the shop floor are marked damaged; that webhook is lost too.
    w.standin
        .post(
            "/_standin/set",
            json!({"item": A, "location": STORE, "available": 27, "damaged": 3, "silent": true}),
        )
        .await;
    settle_with(&w, &consumer).await;
    let committed = |l: &Value| l["committed"].as_i64().unwrap();
    let (wh, store) = (
        standin_level(&w, C, WH).await,
        standin_level(&w, C, STORE).await,
    );
    assert_eq!(
        (committed(&wh), committed(&store)),
        (0, 2),
        "Shopify moved it"
    );
    let before = (
        record(&w, C, WH).await.committed,
        record(&w, C, STORE).await.committed,
    );
    assert_eq!(before, (2, 0), "committed is wrong at both locations");
    assert_eq!(record(&w, A, STORE).await.states.damaged, 0);

    let report = w.run(Policy::default(), false).await;
    let found = kinds(&report);
    for (item, location, kind) in [
        (C, WH, VarianceKind::CommittedDiffers),
        (C, STORE, VarianceKind::CommittedDiffers),
        (A, STORE, VarianceKind::StockbridgeBehind),
    ] {
        assert!(
            found.contains(&(item, location, kind, Some("applied".into()))),
            "{item}@{location} {kind:?}: {found:?}"
        );
    }
    let repaired: Vec<(u64, u64)> = report
        .applied
        .iter()
        .filter(|c| matches!(c, Correction::RepairCommitments { .. }))
        .map(|c| (c.item().0, c.location().0))
        .collect();
    assert_eq!(repaired, vec![(C, WH), (C, STORE)], "{:?}", report.applied);

    w.s.drain_with(&consumer).await;
    let wh_after = record(&w, C, WH).await;
    let store_after = record(&w, C, STORE).await;
    assert_eq!(
        (wh_after.committed, store_after.committed),
        (committed(&wh), committed(&store)),
        "committed is Shopify's at both"
    );
    assert_eq!(
        wh_after.available,
        standin_level(&w, C, WH).await["available"]
            .as_i64()
            .unwrap()
    );
    let a = record(&w, A, STORE).await;
    let shop_a = standin_level(&w, A, STORE).await;
    assert_eq!(
        (a.available, a.states.damaged, a.on_hand()),
        (
            shop_a["available"].as_i64().unwrap(),
            shop_a["damaged"].as_i64().unwrap(),
            shop_a["on_hand"].as_i64().unwrap()
        ),
        "the states are Shopify's"
    );
    assert_eq!(a.states.damaged, 3);

    // Logged like the other corrections, and a second run finds nothing left to repair.
    let entry = (
        report.run.clone(),
        "stockbridge".to_string(),
        "applied".to_string(),
    );
    for location in [WH, STORE] {
        assert_eq!(
            w.corrections_logged(C, location).await,
            vec![entry.clone(), entry.clone()],
            "the snapshot and the commitments repair at {location}"
        );
    }
    assert_eq!(w.corrections_logged(A, STORE).await, vec![entry]);
    let second = w.run(Policy::default(), false).await;
    let left: Vec<_> = kinds(&second)
        .into_iter()
        .filter(|k| {
            matches!(
                k.2,
                VarianceKind::CommittedDiffers | VarianceKind::StockbridgeBehind
            )
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
