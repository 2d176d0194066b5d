//! `stockbridge backfill` through the real components at a small size: the Shopify stand-in
//! (its bulk operations, shuffled JSONL sorted back), moto (the SKU map, stock records and the
//! inbox table's checkpoints) and the ERP's on-hand from a recorded levels file (the
//! `--erp-levels` path; the live ERP read is the same `Erp::levels` port the reconciliation's
//! Tryton tests cover). 300 items x 2 mapped locations and one unmapped: a dry run reports the
//! differences and writes nothing; a run stopped early keeps its checkpoint and the next one
//! carries on from it, leaving a record a webhook wrote meanwhile as it is; a run over the
//! finished backfill does nothing. An order open at the backfill is counted once: its lines come
//! from the commitments repair the backfill sends, and its next webhook does not add them again.

mod support;

use serde_json::{json, Value};
use stockbridge_aws::dynamodb::DynamoStore;
use stockbridge_core::ports::{BackfillCheckpoints, Loaded, StockStore, Wanted};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, StockKey};
use stockbridge_domain::stock::StockLevel;
use stockbridge_ops::backfill::erp_file::RecordedErp;
use stockbridge_ops::backfill::{record, survey, Quiet};
use stockbridge_shopify_admin::ShopifyGraphql;
use support::standin::{Options, Standin};
use support::SHOP;

const WH: u64 = 74000000001; // ERP-master warehouse
const STORE: u64 = 74000000002; // Shopify-master shop floor
const POPUP: u64 = 74000000003; // nobody mapped it
const FIRST: u64 = 49000000000000000;
const ITEMS: u64 = 300;
/// Items Shopify has that nobody mapped.
const UNMAPPED: u64 = 5;

fn item(n: u64) -> u64 {
    FIRST + n
}

/// Shopify's quantities of item `n` at `location`: available, committed, damaged.
fn quantities(n: u64, location: u64) -> (i64, i64, i64) {
    let a = ((n * 7 + location % 10) % 23) as i64;
    (a, (n % 3) as i64, i64::from(n % 10 == 0))
}

/// The stand-in's shop: every mapped item at the warehouse, all but the last ten at the shop
/// floor, five unmapped items at both, a few levels at the unmapped location.
async fn seed(standin: &Standin) {
    let mut items: Vec<Value> = (0..ITEMS + UNMAPPED)
        .map(|n| json!({"id": item(n), "sku": format!("BF-{n}")}))
        .collect();
    items.sort_by_key(|v| v["id"].as_u64());
    let mut levels = Vec::new();
    for n in 0..ITEMS + UNMAPPED {
        for location in [WH, STORE] {
            if location == STORE && (ITEMS - 10..ITEMS).contains(&n) {
                continue;
            }
            let (available, committed, damaged) = quantities(n, location);
            levels.push(
                json!({"item": item(n), "location": location, "available": available,
                               "committed": committed, "damaged": damaged}),
            );
        }
    }
    for n in 0..3 {
        levels.push(json!({"item": item(n), "location": POPUP, "available": 1}));
    }
    let locations = json!([
        {"id": WH, "name": "Warehouse"}, {"id": STORE, "name": "Shop floor"}, {"id": POPUP, "name": "Pop-up"}
    ]);
    standin
        .post(
            "/_standin/seed",
            json!({"reset": true, "items": items, "locations": locations, "levels": levels}),
        )
        .await;
}

async fn import_map(s: &support::Stack) {
    let mut items =
        String::from("shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n");
    for n in 0..ITEMS {
        items += &format!(
            "{SHOP},{},{},BF-{n},E-{n},each,each\n",
            item(n),
            51000000000000000 + n
        );
    }
    let locations = format!(
        "shop,location_id,name,erp_warehouse,master,default\n{SHOP},{WH},Warehouse,WH,erp,true\n{SHOP},{STORE},Shop floor,STORE,shopify,false\n"
    );
    let summary =
        stockbridge_ops::import_skumap(&s.store, &s.queue, Some(&items), Some(&locations), false)
            .await
            .expect("map imported");
    assert!(summary.rejected_items.is_empty() && summary.rejected_locations.is_empty());
}

/// The ERP's on-hand: in step with Shopify but for three items at the warehouse (off by 4)
/// and one the ERP does not know there.
fn erp_levels() -> RecordedErp {
    let mut text = String::from("warehouse,erp_item,on_hand\n");
    for n in 0..ITEMS {
        for (location, warehouse) in [(WH, "WH"), (STORE, "STORE")] {
            if location == WH && n == 7 {
                continue;
            }
            let (a, c, d) = quantities(n, location);
            let off = if location == WH && [1, 2, 3].contains(&n) {
                4
            } else {
                0
            };
            text += &format!("{warehouse},E-{n},{}\n", a + c + d + off);
        }
    }
    RecordedErp::parse(&text).expect("a good levels file")
}

fn key(n: u64, location: u64) -> StockKey {
    StockKey {
        shop: ShopDomain::new(SHOP),
        item: InventoryItemId(item(n)),
        location: LocationId(location),
    }
}

/// The stock records held for these items at `location`.
async fn held(
    store: &DynamoStore,
    items: impl Iterator<Item = u64>,
    location: u64,
) -> Vec<(u64, StockLevel)> {
    let keys: Vec<(u64, StockKey)> = items.map(|n| (n, key(n, location))).collect();
    let mut found = Vec::new();
    for chunk in keys.chunks(100) {
        let wanted = Wanted {
            levels: chunk.iter().map(|(_, k)| k.clone()).collect(),
            ..Wanted::default()
        };
        let loaded = store.load(&wanted).await.expect("load");
        for (n, k) in chunk {
            if let Some(level) = loaded.book.levels.get(k) {
                found.push((*n, level.clone()));
            }
        }
    }
    found
}

#[tokio::test]
async fn a_backfill_reports_then_records_resumes_and_then_finds_nothing_to_do() {
    let s = support::stack().await;
    let standin = Standin::start(Options::default()).await;
    seed(&standin).await;
    import_map(&s).await;
    let shopify: ShopifyGraphql = standin.client();
    let erp = erp_levels();
    let shop = ShopDomain::new(SHOP);

    // The differences, before anything is written (the dry run is the survey alone).
    let found = survey(&s.store, &erp, &shopify, &shop, &Quiet)
        .await
        .expect("survey");
    assert_eq!(found.unmapped_locations, vec![LocationId(POPUP)]);
    let (wh, store) = (&found.locations[0], &found.locations[1]);
    assert_eq!(wh.location, LocationId(WH));
    assert_eq!(
        (wh.shopify_items, wh.mapped_items),
        (ITEMS + UNMAPPED, ITEMS)
    );
    assert_eq!((wh.only_in_shopify, wh.only_in_map), (UNMAPPED, 0));
    assert_eq!((wh.on_hand_differs, wh.erp_unknown), (3, 1));
    assert_eq!(wh.erp_units_apart, rust_decimal::Decimal::from(12));
    assert_eq!(
        (store.shopify_items, store.only_in_map),
        (ITEMS - 10 + UNMAPPED, 10)
    );
    assert_eq!((store.on_hand_differs, store.erp_unknown), (0, 0));
    assert!(!found.nothing_to_do());
    assert!(
        held(&s.store, 0..ITEMS, WH).await.is_empty(),
        "a survey writes nothing"
    );
    assert!(s.store.checkpoints(&shop).await.unwrap().is_empty());

    // Interrupted after the first chunk at the warehouse.
    let first = record(&s.store, &shopify, &s.queue, &shop, Some(50), &Quiet)
        .await
        .expect("record");
    assert!(first.stopped_early);
    assert_eq!(first.locations[0].recorded, 100);
    assert!(!first.locations[0].finished);
    assert_eq!(first.locations[1].recorded, 0);
    assert_eq!(held(&s.store, 0..ITEMS, WH).await.len(), 100);
    let checkpoints = s.store.checkpoints(&shop).await.unwrap();
    assert_eq!(checkpoints.len(), 1);
    assert_eq!(checkpoints[0].after, Some(InventoryItemId(item(99))));
    assert!(checkpoints[0].finished_at.is_none());

    // Meanwhile a webhook recorded item 200 at the warehouse: the backfill leaves it as it is.
    let webhook = StockLevel {
        available: 999,
        ..StockLevel::default()
    };
    s.store
        .put_levels(&[(key(200, WH), webhook.clone())], &Loaded::default())
        .await
        .unwrap();

    // The next run carries on from the checkpoint and finishes both locations.
    let second = record(&s.store, &shopify, &s.queue, &shop, None, &Quiet)
        .await
        .expect("record");
    assert!(!second.stopped_early);
    assert_eq!(second.locations[0].recorded, ITEMS + UNMAPPED - 100 - 1);
    assert_eq!(second.locations[0].already_held, 1);
    assert_eq!(second.locations[1].recorded, ITEMS - 10 + UNMAPPED);
    assert!(second.locations.iter().all(|l| l.finished));
    let at_wh = held(&s.store, 0..ITEMS + UNMAPPED, WH).await;
    assert_eq!(at_wh.len() as u64, ITEMS + UNMAPPED);
    for (n, level) in &at_wh {
        if *n == 200 {
            assert_eq!(level, &webhook, "the webhook's record is kept");
            continue;
        }
        let (a, c, d) = quantities(*n, WH);
        assert_eq!(
            (level.available, level.committed, level.states.damaged),
            (a, 0, d),
            "item {n}: committed comes from order lines, and none is held yet"
        );
        assert_eq!(level.settled, a + c + d, "Shopify's on-hand");
        assert_eq!(
            level.is_settled(),
            c == 0,
            "item {n}: unexplained while Shopify's committed is not"
        );
        assert_eq!(level.erp_owed, 0, "item {n} owes the ERP nothing");
    }
    let at_store = held(&s.store, 0..ITEMS + UNMAPPED, STORE).await;
    assert_eq!(at_store.len() as u64, ITEMS - 10 + UNMAPPED);
    assert!(at_store
        .iter()
        .all(|(n, l)| l.erp_owed == 0 && l.is_settled() == (quantities(*n, STORE).1 == 0)));
    assert!(
        held(&s.store, 0..3, POPUP).await.is_empty(),
        "an unmapped location is left alone"
    );

    // Over a finished backfill: nothing to do, nothing written.
    let again = survey(&s.store, &erp, &shopify, &shop, &Quiet)
        .await
        .expect("survey");
    assert!(again.nothing_to_do());
    let third = record(&s.store, &shopify, &s.queue, &shop, None, &Quiet)
        .await
        .expect("record");
    assert!(third
        .locations
        .iter()
        .all(|l| l.finished && l.recorded == 0));
    let bulk_runs = standin.get("/_standin/stats").await["bulk_operations"].as_u64();
    // Survey (2), the stopped run (1), the resumed run (2); none for finished locations.
    assert_eq!(bulk_runs, Some(5));
}

/// Stockbridge's record of item `n` at `location`.
async fn one(store: &DynamoStore, n: u64, location: u64) -> StockLevel {
    held(store, n..n + 1, location)
        .await
        .pop()
        .map(|(_, l)| l)
        .unwrap_or_else(|| panic!("no record of item {n} at {location}"))
}

/// Shopify's `committed` of item `n` at `location`, as the stand-in keeps it.
async fn shopify_committed(standin: &Standin, n: u64, location: u64) -> i64 {
    let state = standin.get("/_standin/state").await;
    state["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .find(|l| {
            l["item_id"].as_u64() == Some(item(n)) && l["location_id"].as_u64() == Some(location)
        })
        .and_then(|l| l["committed"].as_i64())
        .expect("a level with committed")
}

/// An order open when the shop is taken in (a POS sale at the shop floor, so its webhooks name
/// the location): the backfill records no `committed` for it (no order line is held) and sends
/// the consumer the commitments repair; the consumer reads the order's fulfillment order and
/// takes its line in; the order's next `orders/updated` then counts nothing twice: `committed`
/// stays Shopify's, `on_hand` is `available + committed + states`, and the Shopify-master
/// location owes the ERP nothing.
#[tokio::test]
async fn an_order_open_at_the_backfill_is_counted_once_when_its_webhook_comes() {
    let s = support::stack().await;
    // Webhooks to the stack's, held until the test says (the order's never go).
    let standin = Standin::start(Options {
        webhook_url: Some(s.url.clone()),
        ..Options::default()
    })
    .await;
    let (n, sold) = (4, 3);
    let mut levels = Vec::new();
    for k in 0..6 {
        for location in [WH, STORE] {
            levels.push(
                json!({"item": item(k), "location": location, "available": 10,
                               "damaged": i64::from(k == n)}),
            );
        }
    }
    let items: Vec<Value> = (0..6)
        .map(|k| json!({"id": item(k), "sku": format!("BF-{k}")}))
        .collect();
    let locations = json!([{"id": WH, "name": "Warehouse"}, {"id": STORE, "name": "Shop floor"}]);
    standin
        .post(
            "/_standin/seed",
            json!({"reset": true, "items": items, "locations": locations, "levels": levels}),
        )
        .await;
    import_map(&s).await;
    // Sold before the shop was taken in; its webhooks are held, never delivered.
    let placed = standin
        .post(
            "/_standin/order",
            json!({"pos_location": STORE, "hold": true,
                   "lines": [{"inventory_item_id": item(n), "quantity": sold}]}),
        )
        .await;
    let order = placed["order"]["id"].as_u64().expect("an order id");
    assert_eq!(shopify_committed(&standin, n, STORE).await, sold);

    let shopify: ShopifyGraphql = standin.client();
    let shop = ShopDomain::new(SHOP);
    let recorded = record(&s.store, &shopify, &s.queue, &shop, None, &Quiet)
        .await
        .expect("record");
    assert_eq!(recorded.locations[1].open_fulfillment_orders, 1);
    let start = one(&s.store, n, STORE).await;
    assert_eq!(
        (start.available, start.committed, start.states.damaged),
        (10 - sold, 0, 1),
        "no order line is held yet: nothing committed"
    );
    assert_eq!(start.settled, 11, "Shopify's on-hand");
    assert!(!start.is_settled(), "unexplained until the lines arrive");

    // The consumer takes the commitments repair: it reads the fulfillment order.
    let consumer = std::sync::Arc::new(
        stockbridge_core::consumer::StockConsumer::new(
            s.store.clone(),
            stockbridge_core::telemetry::Metrics::silent("stock-consumer"),
        )
        .with_queue(s.queue.clone())
        .with_shopify(Some(standin.client())),
    );
    s.drain_with(&consumer).await;
    let repaired = one(&s.store, n, STORE).await;
    assert_eq!(repaired.committed, sold, "the open line is counted");
    assert_eq!(repaired.available, 10 - sold);
    assert_eq!(repaired.on_hand(), 11);
    assert!(repaired.is_settled());
    assert_eq!(repaired.erp_owed, 0);

    // The order's next webhook: the same line, not counted again.
    let held = standin.get("/_standin/webhooks").await;
    let mut body = held["held"]
        .as_array()
        .expect("held webhooks")
        .iter()
        .find(|w| w["topic"] == "orders/create" && w["body"]["id"].as_u64() == Some(order))
        .map(|w| w["body"].clone())
        .expect("the order's orders/create");
    body["updated_at"] = json!(stockbridge_domain::ids::Timestamp::now().to_rfc3339());
    let (status, text) = s
        .post(
            "orders/updated",
            &body.to_string(),
            support::SECRET,
            "w-backfill-order-updated",
        )
        .await;
    assert_eq!(status, 200, "{text}");
    s.drain_with(&consumer).await;
    let after = one(&s.store, n, STORE).await;
    assert_eq!(
        after.committed,
        shopify_committed(&standin, n, STORE).await,
        "committed is Shopify's, not doubled"
    );
    assert_eq!(
        after.on_hand(),
        after.available + after.committed + after.states.unavailable()
    );
    assert_eq!(after.on_hand(), 11);
    assert!(after.is_settled());
    assert_eq!(
        after.erp_owed, 0,
        "the Shopify-master location owes the ERP nothing"
    );
    // The warehouse's record of the item never moved.
    let wh = one(&s.store, n, WH).await;
    assert_eq!((wh.available, wh.committed, wh.erp_owed), (10, 0, 0));
}
