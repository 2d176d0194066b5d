//! Hot paths, each measured next to its floor in the same run (see `docs/perf/criterion.md`).
//!
//! - `webhook_<case>`: `subject` = verify the HMAC header + normalise the delivery (the webhook's
//!   CPU work per request); `floor` = HMAC-SHA256 of the same bytes (`signature::sign`) + a bare
//!   `serde_json::from_slice::<Value>` of them.
//! - `consumer_<case>`: `subject` = `resolve` each of 100 decoded events + `plan_batch` over them
//!   (the consumer's pure step, book clone included as the consumer does it); `floor` =
//!   `serde_json::from_str::<InventoryEvent>` of the same 100 queue message bodies.
//!
//! `cargo bench -p stockbridge --bench hot_paths`, then `python3 infra/drill/bench_ratios.py`.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::de::IgnoredAny;
use serde_json::Value;

use stockbridge_domain::batch::{plan_batch, Masters};
use stockbridge_domain::event::{
    EventBody, InventoryEvent, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{
    InventoryItemId, LocationId, ShopDomain, Timestamp, VariantId, Version,
};
use stockbridge_domain::resolve::resolve;
use stockbridge_domain::skumap::{ItemMapping, LocationMapping, Master, SkuMap, UomFactor};
use stockbridge_domain::stock::{Book, StockKey, StockLevel};
use stockbridge_shopify::normalise::{normalise, Delivery, Normalised};
use stockbridge_shopify::signature::{sign, verify};

const SECRET: &[u8] = b"shpss_0123456789abcdef0123456789abcdef";
const SHOP: &str = "demo.myshopify.com";
const LOCATION: u64 = 24_826_418;

const LEVEL_FIXTURE: &str =
    include_str!("../../shopify/tests/fixtures/shopify/2023-07/inventory_levels__update.json");
const ORDER_FIXTURE: &str =
    include_str!("../../shopify/tests/fixtures/shopify/2026-04/orders__create.json");

/// Shopify's example `inventory_levels/update`, tracked (available 6), compact as Shopify sends it.
fn level_body() -> Vec<u8> {
    let mut v: Value = serde_json::from_str(LEVEL_FIXTURE).expect("fixture");
    v["available"] = Value::from(6);
    serde_json::to_vec(&v).expect("json")
}

/// Shopify's example `orders/create` (customer, billing and shipping addresses, prices, taxes)
/// with `lines` line items cloned from the example's own lines, each a distinct variant and SKU.
/// The example is a cancelled order; a fresh order is not, so `cancelled_at` is cleared.
fn order_body(lines: usize) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(ORDER_FIXTURE).expect("fixture");
    let examples = v["line_items"].as_array().expect("line_items").clone();
    let line_items: Vec<Value> = (0..lines)
        .map(|i| {
            let mut line = examples[i % examples.len()].clone();
            line["id"] = Value::from(487_817_672_276_298_000u64 + i as u64);
            line["admin_graphql_api_id"] = Value::from(format!(
                "gid://shopify/LineItem/{}",
                487_817_672_276_298_000u64 + i as u64
            ));
            line["variant_id"] = Value::from(46_000_000_000u64 + i as u64);
            line["sku"] = Value::from(format!("SKU2006-{i:03}"));
            line["gift_card"] = Value::from(false);
            line
        })
        .collect();
    v["line_items"] = Value::from(line_items);
    v["cancelled_at"] = Value::Null;
    v["cancel_reason"] = Value::Null;
    serde_json::to_vec(&v).expect("json")
}

fn bench_webhook(c: &mut Criterion) {
    let shop = ShopDomain::new(SHOP);
    let received_at = Timestamp::parse("2026-11-27T10:00:01Z").expect("time");
    let triggered_at = Timestamp::parse("2026-11-27T10:00:00.123456789Z");
    let cases: Vec<(&str, &str, Vec<u8>, usize)> = vec![
        (
            "inventory_levels_update",
            "inventory_levels/update",
            level_body(),
            1,
        ),
        // A commitment per line, and the order's one `sales_order` snapshot.
        ("orders_create_1", "orders/create", order_body(1), 1 + 1),
        ("orders_create_10", "orders/create", order_body(10), 10 + 1),
        ("orders_create_50", "orders/create", order_body(50), 50 + 1),
    ];
    for (name, topic, body, expected_changes) in &cases {
        let header = sign(SECRET, body);
        let secrets = [SECRET];
        let run = |body: &[u8], header: &str| {
            let index = verify(&secrets, body, header).expect("signature");
            let delivery = Delivery {
                shop: &shop,
                topic,
                webhook_id: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                event_id: Some("98880550-7158-44d4-b7cd-2c97c8a091b5"),
                api_version: Some("2026-04"),
                triggered_at,
                received_at,
                body,
            };
            (index, normalise(&delivery))
        };
        // What is measured is the path that succeeds, not an error.
        match run(body, &header).1 {
            Ok(Normalised::Events(events)) => {
                let changes: usize = events
                    .iter()
                    .map(|e| match &e.body {
                        EventBody::Stock { changes } => changes.len(),
                        _ => 0,
                    })
                    .sum();
                assert_eq!(changes, *expected_changes, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }

        let mut group = c.benchmark_group(format!("webhook_{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("subject", |b| {
            b.iter(|| run(black_box(body), black_box(&header)))
        });
        group.bench_function("floor", |b| {
            b.iter(|| {
                let mac = sign(SECRET, black_box(body));
                let value: Value = serde_json::from_slice(black_box(body)).expect("json");
                (mac, value)
            })
        });
        // A tighter floor: HMAC + a validating parse that builds nothing.
        group.bench_function("floor_ignored", |b| {
            b.iter(|| {
                let mac = sign(SECRET, black_box(body));
                let value: IgnoredAny = serde_json::from_slice(black_box(body)).expect("json");
                (mac, value)
            })
        });
        group.finish();
    }
}

fn shop() -> ShopDomain {
    ShopDomain::new(SHOP)
}

/// 100 `inventory_levels/update` events; event `n` is about item `item(n)`, newer than the last.
fn level_events(item: impl Fn(usize) -> u64) -> Vec<InventoryEvent> {
    let t0 = Timestamp::parse("2026-11-27T10:00:00Z").expect("time").0;
    (0..100)
        .map(|n| {
            let at = Timestamp(t0 + n as i64 * 1_000_000_000);
            let webhook_id = format!("b54557e4-bdd9-4b37-8a5f-{n:012}");
            InventoryEvent {
                schema: SCHEMA_VERSION,
                key: InventoryEvent::delivery_key(&shop(), &webhook_id, Part::WHOLE),
                shop: shop(),
                source: Source {
                    topic: "inventory_levels/update".into(),
                    webhook_id,
                    event_id: Some(format!("98880550-7158-44d4-b7cd-{n:012}")),
                    api_version: Some("2026-04".into()),
                    triggered_at: at,
                    received_at: Timestamp(at.0 + 150_000_000),
                },
                part: Part::WHOLE,
                body: EventBody::Stock {
                    changes: vec![StockChange::Available {
                        item: InventoryItemId(item(n)),
                        location: LocationId(LOCATION),
                        available: Some(500 - n as i64),
                        version: Version::new(at, at),
                        connect: false,
                    }],
                },
            }
        })
        .collect()
}

/// The SKU map for `items` at one shop-floor location (Shopify is master: the ERP is owed every
/// change), and the book the consumer would load: every record present, older than the batch.
fn world(items: &[u64]) -> (SkuMap, Book, Masters) {
    let mut map = SkuMap::default();
    let mut book = Book::default();
    for (i, &item) in items.iter().enumerate() {
        let variant = VariantId(46_000_000_000 + i as u64);
        let sku = format!("SKU2006-{i:03}");
        map.items.insert(
            InventoryItemId(item),
            ItemMapping {
                shop: shop(),
                item: InventoryItemId(item),
                variant,
                sku: sku.clone(),
                erp_item: format!("ERP-{i:03}"),
                uom: UomFactor::identity(),
            },
        );
        map.by_variant.insert(variant, InventoryItemId(item));
        map.by_sku.insert(sku, InventoryItemId(item));
        book.levels.insert(
            StockKey {
                shop: shop(),
                item: InventoryItemId(item),
                location: LocationId(LOCATION),
            },
            StockLevel {
                available: 600,
                level_version: Some(Version::new(Timestamp(0), Timestamp(0))),
                ..StockLevel::default()
            },
        );
    }
    map.locations.insert(
        LocationId(LOCATION),
        LocationMapping {
            shop: shop(),
            location: LocationId(LOCATION),
            name: "Store".into(),
            erp_warehouse: "STORE".into(),
            master: Master::Shopify,
            default: true,
        },
    );
    let masters: Masters = HashMap::from([((shop(), LocationId(LOCATION)), Master::Shopify)]);
    (map, book, masters)
}

fn bench_consumer(c: &mut Criterion) {
    let hot_item = 271_878_346_596_884_015u64;
    let cases: Vec<(&str, Vec<u64>, Vec<InventoryEvent>, usize)> = vec![
        ("hot_sku_100", vec![hot_item], level_events(|_| hot_item), 1),
        (
            "spread_100",
            (0..100).map(|n| hot_item + n).collect(),
            level_events(|n| hot_item + n as u64),
            100,
        ),
    ];
    for (name, items, events, expected_levels) in &cases {
        let (map, book, masters) = world(items);
        let applied: HashSet<String> = HashSet::new();
        let bodies: Vec<String> = events.iter().map(InventoryEvent::to_json).collect();
        let step = |events: &[InventoryEvent]| {
            let resolved: Vec<_> = events.iter().map(|e| resolve(e, &map)).collect();
            plan_batch(book.clone(), &applied, &resolved, &masters)
        };
        // Everything resolves, and the plan coalesces to one write per stock record.
        let plan = step(events);
        assert!(plan.parked.is_empty(), "{name}: parked {:?}", plan.parked);
        assert_eq!(plan.changed_levels.len(), *expected_levels, "{name}");
        assert_eq!(plan.ledger.len(), *expected_levels, "{name}");
        let decoded: Vec<InventoryEvent> = bodies
            .iter()
            .map(|b| serde_json::from_str(b).expect("decode"))
            .collect();
        assert_eq!(&decoded, events);

        let mut group = c.benchmark_group(format!("consumer_{name}"));
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function("subject", |b| b.iter(|| step(black_box(events))));
        group.bench_function("floor", |b| {
            b.iter(|| {
                black_box(&bodies)
                    .iter()
                    .map(|body| serde_json::from_str::<InventoryEvent>(body).expect("decode"))
                    .collect::<Vec<_>>()
            })
        });
        // What the consumer really calls: `from_json` probes the schema, then decodes.
        group.bench_function("from_json", |b| {
            b.iter(|| {
                black_box(&bodies)
                    .iter()
                    .map(|body| InventoryEvent::from_json(body).expect("decode"))
                    .collect::<Vec<_>>()
            })
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_webhook, bench_consumer
}
criterion_main!(benches);
