//! `drill reconcile`: the comparison itself at full size. Three streams per location (Shopify's
//! levels, the SKU map with each item's stock record, the ERP's on-hand) are generated page by
//! page, as the adapters deliver them, and merged by [`LocationPass`]; nothing holds the whole
//! catalogue. Reports time per item and the process's peak memory after a small run and after
//! the full one: if memory is flat, the two peaks are the same.

use std::time::Instant;

use rust_decimal::Decimal;
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain};
use stockbridge_domain::skumap::{LocationMapping, Master, UomFactor};
use stockbridge_domain::stock::StockLevel;
use stockbridge_domain::variance::{Known, LocationPass, ShopifyLevel};

use crate::stack;

#[derive(clap::Parser, Clone)]
pub struct ReconcileArgs {
    #[arg(long, default_value_t = 150_000)]
    pub skus: u64,
    #[arg(long, default_value_t = 3)]
    pub locations: u64,
    /// One item in this many drifts (a lost webhook, an ERP change or a Shopify change).
    #[arg(long, default_value_t = 500)]
    pub drift_every: u64,
    /// Through the real services instead: the local stack's Shopify stand-in
    /// (`SHOPIFY_ADMIN_URL`, `SHOPIFY_ACCESS_TOKEN`; its state is replaced), private tables on
    /// moto and Tryton, one location, a dry run.
    #[arg(long)]
    pub live: bool,
    /// With `--live`: read Shopify with a bulk operation instead of pages.
    #[arg(long)]
    pub bulk: bool,
}

const SHOPIFY_PAGE: u64 = 250;
const MAP_PAGE: u64 = 100;
const ITEM_BASE: u64 = 49_000_000_000_000_000;

/// Peak resident memory of this process so far (VmHWM), KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn location(n: u64) -> LocationMapping {
    LocationMapping {
        shop: ShopDomain::new("bench.myshopify.com"),
        location: LocationId(80_000_000_000 + n),
        name: format!("L{n}"),
        erp_warehouse: format!("WH{n}"),
        master: if n % 2 == 0 {
            Master::Erp
        } else {
            Master::Shopify
        },
        default: n == 0,
    }
}

/// The three sources of item `i` at location `n`: in step, except one in `drift_every`.
fn sources(i: u64, n: u64, drift_every: u64, uom: &UomFactor) -> (ShopifyLevel, Known) {
    let item = InventoryItemId(ITEM_BASE + i);
    let available = ((i * 7 + n * 3) % 90) as i64;
    let committed = (i % 4) as i64;
    let drift = i % drift_every == 0;
    let shopify = ShopifyLevel {
        item,
        location: LocationId(1),
        available: if drift && i % 3 == 1 {
            available + 5
        } else {
            available
        },
        on_hand: available + committed,
        committed,
        reserved: 0,
        damaged: 0,
        safety_stock: 0,
        quality_control: 0,
        incoming: 0,
    };
    let ours_available = if drift && i % 3 == 0 {
        available - 2
    } else {
        available
    };
    let erp_units = available + committed + if drift && i % 3 == 2 { 3 } else { 0 };
    let known = Known {
        item,
        sku: format!("SKU-{i:06}"),
        erp_item: format!("ERP-{i:06}"),
        uom: uom.clone(),
        ours: Some(StockLevel {
            available: ours_available,
            committed,
            ..Default::default()
        }),
        erp: Some(Decimal::from(erp_units)),
    };
    (shopify, known)
}

struct Figures {
    items: u64,
    variances: u64,
    corrections: u64,
    seconds: f64,
}

/// Runs the comparison over `skus` items at `locations` locations, page by page.
fn compare(skus: u64, locations: u64, drift_every: u64) -> Figures {
    let uom = UomFactor::identity();
    let started = Instant::now();
    let (mut items, mut variances, mut corrections) = (0, 0, 0);
    for n in 0..locations {
        let mut pass = LocationPass::new(location(n));
        let (mut next_shopify, mut next_known) = (0u64, 0u64);
        while !pass.finished() {
            if pass.wants_shopify() {
                let end = (next_shopify + SHOPIFY_PAGE).min(skus);
                let page = (next_shopify..end).map(|i| sources(i, n, drift_every, &uom).0);
                pass.push_shopify(page, end == skus).expect("in order");
                next_shopify = end;
            }
            if pass.wants_known() {
                let end = (next_known + MAP_PAGE).min(skus);
                let page = (next_known..end).map(|i| sources(i, n, drift_every, &uom).1);
                pass.push_known(page, end == skus).expect("in order");
                next_known = end;
            }
            for v in pass.step() {
                variances += 1;
                corrections += u64::from(v.correction.is_some());
            }
        }
        items += pass.tally.items;
    }
    Figures {
        items,
        variances,
        corrections,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Generating the streams alone: the floor the comparison is measured against.
fn generate_only(skus: u64, locations: u64, drift_every: u64) -> f64 {
    let uom = UomFactor::identity();
    let started = Instant::now();
    let mut sink = 0i64;
    for n in 0..locations {
        for i in 0..skus {
            let (s, k) = sources(i, n, drift_every, &uom);
            sink = sink.wrapping_add(s.available + k.sku.len() as i64);
        }
    }
    std::hint::black_box(sink);
    started.elapsed().as_secs_f64()
}

/// A bulk operation's output at full size: every location's levels in a scrambled order, sorted
/// back through `spill` (as `ShopifyGraphql::bulk_levels` does) and checked in order.
fn bulk_sort(skus: u64, locations: u64) -> Result<f64, Box<dyn std::error::Error>> {
    use stockbridge_core::ports::ShopifyLevel;
    let started = Instant::now();
    for n in 0..locations {
        let mut sorter = stockbridge_shopify_admin::bulk::item_order::ItemOrder::new(
            stockbridge_shopify_admin::bulk::item_order::RUN_LEN,
        );
        // A scramble: i * a large odd number modulo a power of two visits every index once.
        let span = skus.next_power_of_two();
        for k in 0..span {
            let i = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) & (span - 1);
            if i < skus {
                sorter.push(ShopifyLevel {
                    item: InventoryItemId(ITEM_BASE + i),
                    location: location(n).location,
                    available: (i % 90) as i64,
                    on_hand: (i % 90) as i64,
                    committed: 0,
                    reserved: 0,
                    damaged: 0,
                    safety_stock: 0,
                    quality_control: 0,
                    incoming: 0,
                })?;
            }
        }
        let mut previous = None;
        let mut count = 0u64;
        for level in sorter.finish()? {
            let level = level?;
            if previous.is_some_and(|p| p >= level.item) {
                return Err("the sorted bulk output is out of order".into());
            }
            previous = Some(level.item);
            count += 1;
        }
        if count != skus {
            return Err(format!("the sorted bulk output has {count} levels, not {skus}").into());
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

pub fn run(args: ReconcileArgs) -> Result<String, Box<dyn std::error::Error>> {
    let baseline = peak_kib();
    let small_skus = (args.skus / 10).max(1);
    let small = compare(small_skus, args.locations, args.drift_every);
    let after_small = peak_kib();
    let full = compare(args.skus, args.locations, args.drift_every);
    let after_full = peak_kib();
    let bulk_small = bulk_sort(small_skus, args.locations)?;
    let after_bulk_small = peak_kib();
    let bulk_full = bulk_sort(args.skus, args.locations)?;
    let after_bulk_full = peak_kib();
    let floor = generate_only(args.skus, args.locations, args.drift_every);
    let per_item_us = full.seconds * 1e6 / full.items as f64;
    Ok(format!(
        "## Reconciliation comparison: {skus} SKUs x {locs} locations\n\n\
         Command: `cargo run --profile drill -p stockbridge-drill -- reconcile --skus {skus} --locations {locs} --drift-every {drift}`\n\n\
         | figure | value |\n|---|---|\n\
         | items compared (full run) | {items} |\n\
         | variances found / corrections decided | {var} / {corr} |\n\
         | time, full run | {secs:.2} s ({per_item_us:.2} µs per item and location) |\n\
         | generating the three streams alone (floor) | {floor:.2} s (comparison = {ratio:.2}x the floor) |\n\
         | time, run at a tenth of the size ({small_skus} SKUs) | {small_secs:.2} s |\n\
         | peak memory before any run | {base} KiB |\n\
         | peak memory after the tenth-size run | {after_small} KiB |\n\
         | peak memory after the full run | {after_full} KiB (+{growth} KiB for 10x the items) |\n\
         | bulk output sorted back into item order (spilled runs of {run_len}), tenth size / full size | {bulk_small:.2} s / {bulk_full:.2} s |\n\
         | peak memory after the tenth-size / full-size bulk sort | {after_bulk_small} KiB / {after_bulk_full} KiB |\n",
        skus = args.skus,
        locs = args.locations,
        drift = args.drift_every,
        items = full.items,
        var = full.variances,
        corr = full.corrections,
        secs = full.seconds,
        ratio = full.seconds / floor,
        small_secs = small.seconds,
        base = baseline,
        growth = after_full.saturating_sub(after_small),
        run_len = stockbridge_shopify_admin::bulk::item_order::RUN_LEN,
    ))
}

/// The same comparison through the real services at a smaller size: pages from the stand-in
/// (paced by its cost budget), the SKU map and stock records from moto, on-hand from Tryton.
pub async fn live(args: ReconcileArgs) -> Result<String, Box<dyn std::error::Error>> {
    use stockbridge_aws::eventbridge::EventBridgeAlerts;
    use stockbridge_core::reconcile::{Reconciler, RunOptions};
    use stockbridge_domain::variance::Policy;
    use stockbridge_shopify_admin::ShopifyGraphql;

    let skus = args.skus as usize;
    let setup = stack::setup(skus).await?;
    let admin = stack::env("SHOPIFY_ADMIN_URL");
    let token = stack::env("SHOPIFY_ACCESS_TOKEN");
    let http = reqwest::Client::new();
    let items: Vec<serde_json::Value> = (0..skus as u64)
        .map(|i| serde_json::json!({"id": stack::ITEM_BASE + i}))
        .collect();
    let levels: Vec<serde_json::Value> = (0..skus as u64)
        .map(|i| {
            serde_json::json!({"item": stack::ITEM_BASE + i, "location": stack::STORE,
                               "available": 10 + i % 7, "committed": i % 3})
        })
        .collect();
    let seeded = http
        .post(format!("{admin}/_standin/seed"))
        .json(
            &serde_json::json!({"reset": true, "notify": false, "items": items,
            "locations": [{"id": stack::STORE, "name": "Shop floor"}], "levels": levels}),
        )
        .send()
        .await?;
    if !seeded.status().is_success() {
        return Err(format!("seeding the stand-in: HTTP {}", seeded.status()).into());
    }
    let sdk = stockbridge_aws::sdk::sdk_config().await;
    let reconciler = Reconciler {
        shop: ShopDomain::new(stack::SHOP),
        store: setup.store.clone(),
        erp: stack::tryton(&setup)?,
        shopify: ShopifyGraphql::new(&admin, &token)?,
        queue: setup.queue.clone(),
        alerts: EventBridgeAlerts::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            setup.stack["EVENT_BUS_NAME"].clone(),
        ),
        metrics: stockbridge_core::telemetry::Metrics::silent("reconcile"),
    };
    let before: serde_json::Value = http
        .get(format!("{admin}/_standin/stats"))
        .send()
        .await?
        .json()
        .await?;
    let started = Instant::now();
    let report = reconciler
        .run(&RunOptions {
            policy: Policy {
                dry_run: true,
                ..Policy::default()
            },
            lift_cap: false,
            read: if args.bulk {
                stockbridge_core::reconcile::ShopifyRead::Bulk
            } else {
                stockbridge_core::reconcile::ShopifyRead::Paged
            },
        })
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let after: serde_json::Value = http
        .get(format!("{admin}/_standin/stats"))
        .send()
        .await?
        .json()
        .await?;
    let n = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let bucket = &after["bucket"];
    Ok(format!(
        "## Reconciliation through the real services: {skus} SKUs x 1 location (dry run, {how})\n\n\
         Command: `infra/local/stack.sh up`, `set -a; . infra/local/.state/local.env; set +a`, then\n\
         `cargo run --profile drill -p stockbridge-drill -- reconcile --live --skus {skus}{flag}`\n\n\
         | figure | value |\n|---|---|\n\
         | items compared | {items} |\n\
         | variances (every item: Stockbridge has no record yet) / corrections planned | {var} / {planned} |\n\
         | time | {seconds:.2} s ({per:.2} ms per item) |\n\
         | GraphQL requests to the stand-in / throttled | {gql} / {thr} |\n\
         | stand-in bucket | {max} points, restoring {rate}/s; lowest seen {low} |\n",
        how = if args.bulk { "bulk operation" } else { "paged" },
        flag = if args.bulk { " --bulk" } else { "" },
        items = report.items_compared,
        var = report.variances,
        planned = report.corrections_planned,
        per = seconds * 1000.0 / report.items_compared.max(1) as f64,
        gql = n(&after, "graphql_requests") - n(&before, "graphql_requests"),
        thr = n(&after, "throttled") - n(&before, "throttled"),
        max = bucket["maximumAvailable"],
        rate = bucket["restoreRate"],
        low = after["min_available"],
    ))
}
