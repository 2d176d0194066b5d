//! `drill erp`: N inventory events over S SKUs with a Zipf-like skew, enqueued at a steady rate
//! into a private queue and table set, consumed by the real consumer (C concurrent pollers with
//! the Lambda event source's semantics) pushing into the real Tryton. Reports ERP writes per
//! event, events per second through the consumer, end-to-end latency (enqueued -> ERP
//! acknowledged) p50/p99, and checks that every SKU's ERP on-hand equals DynamoDB's (nothing lost
//! or doubled). Bounded in count and time.

use std::collections::HashMap;

use std::time::{Duration, Instant};

use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::ports::EventQueue;
use stockbridge_domain::event::{
    EventBody, InventoryEvent, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp, Version};

pub use crate::args::ErpArgs;
use crate::load::{Rng, Zipf};
use crate::measure::{cpu_seconds, Sorted};
use crate::report::ErpFigures;
use crate::stack::{self, ITEM_BASE, SHOP, STORE};

/// The drill's events and what they leave behind.
struct Plan {
    events: Vec<InventoryEvent>,
    /// Events per SKU index.
    hits: Vec<usize>,
    /// The last level sent per SKU index.
    level: Vec<i64>,
}

impl Plan {
    /// Zipf-distributed SKUs, each event a new absolute level (a random walk per SKU).
    fn new(args: &ErpArgs, run: i64) -> Self {
        let zipf = Zipf::new(args.skus, args.zipf);
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let mut level: Vec<i64> = vec![100; args.skus];
        let mut hits: Vec<usize> = vec![0; args.skus];
        let shop = ShopDomain::new(SHOP);
        let mut clock = Timestamp::now().0;
        let mut events = Vec::with_capacity(args.events);
        for n in 0..args.events {
            let sku = zipf.at(rng.unit());
            hits[sku] += 1;
            level[sku] = (level[sku] + (rng.next() % 7) as i64 - 3).max(0);
            clock += 1_000;
            let version = Version::new(Timestamp(clock), Timestamp(clock));
            events.push(level_event(
                &shop,
                format!("drill-{run}-{n}"),
                sku,
                level[sku],
                version,
            ));
        }
        Plan {
            events,
            hits,
            level,
        }
    }

    /// Each SKU that received an event, by item id, with its final level.
    fn final_levels(&self) -> HashMap<u64, i64> {
        (0..self.hits.len())
            .filter(|i| self.hits[*i] > 0)
            .map(|i| (ITEM_BASE + i as u64, self.level[i]))
            .collect()
    }
}

fn level_event(
    shop: &ShopDomain,
    webhook_id: String,
    sku: usize,
    available: i64,
    version: Version,
) -> InventoryEvent {
    InventoryEvent {
        schema: SCHEMA_VERSION,
        key: InventoryEvent::delivery_key(shop, &webhook_id, Part::WHOLE),
        shop: shop.clone(),
        source: Source {
            topic: "inventory_levels/update".into(),
            webhook_id,
            event_id: None,
            api_version: Some("2026-04".into()),
            triggered_at: version.triggered,
            received_at: Timestamp::now(),
        },
        part: Part::WHOLE,
        body: EventBody::Stock {
            changes: vec![StockChange::Available {
                item: InventoryItemId(ITEM_BASE + sku as u64),
                location: LocationId(STORE),
                available: Some(available),
                version,
                connect: false,
            }],
        },
    }
}

/// Enqueues at a steady `rate`, 10 events per SendMessageBatch, `received_at` stamped at send.
async fn enqueue(
    queue: &SqsQueue,
    events: &mut [InventoryEvent],
    rate: f64,
    started: Instant,
) -> Result<(), String> {
    for (i, chunk) in events.chunks_mut(10).enumerate() {
        let due = started + Duration::from_secs_f64((i * 10) as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        for e in chunk.iter_mut() {
            e.source.received_at = Timestamp::now();
        }
        // The local emulator stalls under load: retry, never drop an event.
        let mut tries = 0;
        while let Err(e) = queue.send(chunk).await {
            tries += 1;
            if tries > 10 {
                return Err(format!("could not enqueue after 10 tries: {e}"));
            }
            tokio::time::sleep(Duration::from_millis(200 * tries)).await;
        }
    }
    Ok(())
}

pub async fn drill(args: ErpArgs) -> Result<String, Box<dyn std::error::Error>> {
    args.check()?;
    let setup = stack::setup(args.skus).await?;
    let mut plan = Plan::new(&args, setup.run);
    let hottest = plan.hits.iter().max().copied().unwrap_or(0);

    // Consumers: the real handler behind C pollers with the event source's semantics.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let window = Duration::from_millis(args.window_ms);
    let consumers = stack::start_consumers(
        &setup,
        &setup.store,
        (args.consumers, args.batch, window),
        &stop_rx,
    )?;

    eprintln!(
        "drill: sending {} events at {} events/s",
        args.events, args.rate
    );
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_seconds);
    enqueue(&setup.queue, &mut plan.events, args.rate, started).await?;
    let sent_in = started.elapsed();

    // Wait until every event is applied and nothing is owed to the ERP.
    let expected_final = plan.final_levels();
    stack::wait_until_settled(
        &setup.store,
        args.skus,
        deadline,
        expected_final.len(),
        |sku, l| {
            let want = expected_final.get(&(ITEM_BASE + sku as u64))?;
            (l.available != *want)
                .then(|| format!("SKU {sku}: DynamoDB {}, final {want}", l.available))
        },
    )
    .await?;
    let settled_in = started.elapsed();
    let metrics = consumers.stop(&stop_tx).await;
    let cpu = cpu_seconds() - cpu_before;

    // Nothing lost or doubled: the ERP holds what DynamoDB holds, SKU by SKU.
    let mismatches = stack::erp_mismatches(&setup, |sku| {
        Some(
            expected_final
                .get(&(ITEM_BASE + sku as u64))
                .copied()
                .unwrap_or(0),
        )
    })
    .await?;
    let report = ErpFigures {
        args: &args,
        applied: metrics.total("EventsApplied"),
        hottest,
        sent_secs: sent_in.as_secs_f64(),
        settled_secs: settled_in.as_secs_f64(),
        writes: metrics.total("ErpWrites"),
        lines: metrics.total("ErpLines"),
        applied_ms: Sorted::new(metrics.values("AppliedLatencyMs")),
        end_to_end_ms: Sorted::new(metrics.values("EndToEndLatencyMs")),
        erp_call_ms: Sorted::new(metrics.values("ErpCallMs")),
        mismatches: mismatches.len(),
        cpu_secs: cpu,
    }
    .markdown();
    if !mismatches.is_empty() {
        eprintln!("drill: MISMATCH: {}", mismatches.join("; "));
    }
    if let Some(path) = &args.out {
        std::fs::write(path, &report)?;
    }
    if !mismatches.is_empty() {
        return Err(format!(
            "{} SKUs differ between the ERP and DynamoDB",
            mismatches.len()
        )
        .into());
    }
    Ok(report)
}
