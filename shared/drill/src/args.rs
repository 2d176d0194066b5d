//! What each drill is asked to do (its command-line flags, checked before anything is
//! provisioned) and what a webhook sender saw: shared by the drills and their reports.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::measure::Sorted;
use crate::stack::SHOP;

#[derive(clap::Parser, Clone)]
pub struct ErpArgs {
    #[arg(long, default_value_t = 10_000)]
    pub events: usize,
    #[arg(long, default_value_t = 200)]
    pub skus: usize,
    /// Zipf exponent: 0 is uniform, 1.1 puts about a fifth of the events on the hottest SKU.
    #[arg(long, default_value_t = 1.1)]
    pub zipf: f64,
    /// Events enqueued per second (moto takes about 100 SQS calls/s; 10 events per call).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Concurrent consumers (Lambda's MaximumConcurrency).
    #[arg(long, default_value_t = 4)]
    pub consumers: usize,
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    #[arg(long, default_value_t = 1000)]
    pub window_ms: u64,
    /// Give up after this long.
    #[arg(long, default_value_t = 900)]
    pub max_seconds: u64,
    /// Write the report (Markdown) here too.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl ErpArgs {
    /// Flags the drill cannot run with, before anything is provisioned.
    pub fn check(&self) -> Result<(), String> {
        if self.skus == 0 {
            return Err("--skus must be at least 1".into());
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err("--rate must be a positive number of events per second".into());
        }
        Ok(())
    }
}

#[derive(clap::Parser, Clone)]
pub struct WebhookArgs {
    /// Webhooks per second.
    #[arg(long, default_value_t = 40.0)]
    pub rate: f64,
    /// How long to send.
    #[arg(long, default_value_t = 120)]
    pub seconds: u64,
    #[arg(long, default_value_t = 200)]
    pub skus: usize,
    #[arg(long, default_value_t = 1.1)]
    pub zipf: f64,
    #[arg(long, default_value_t = 4)]
    pub consumers: usize,
    /// At most this many requests in flight.
    #[arg(long, default_value_t = 32)]
    pub in_flight: usize,
    /// Give up waiting for the pipeline to settle after this long.
    #[arg(long, default_value_t = 900)]
    pub max_seconds: u64,
    /// Where to write report.md and latency.svg.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Send to this deployed webhook URL instead of a private local stack (https, or http on
    /// loopback); the secret comes from DRILL_WEBHOOK_SECRET. Reports what the sender sees.
    #[arg(long)]
    pub url: Option<String>,
    /// The shop domain the webhooks claim (with --url).
    #[arg(long, default_value = SHOP)]
    pub shop: String,
}

impl WebhookArgs {
    /// Flags the drill cannot run with, before anything is provisioned or sent.
    pub fn check(&self) -> Result<(), String> {
        if self.skus == 0 {
            return Err("--skus must be at least 1".into());
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err("--rate must be a positive number of webhooks per second".into());
        }
        if self.in_flight == 0 {
            return Err("--in-flight must be at least 1".into());
        }
        Ok(())
    }
}

/// What the sender saw.
pub struct Sent {
    pub n: usize,
    pub mix: BTreeMap<&'static str, usize>,
    pub statuses: BTreeMap<u16, usize>,
    pub response_ms: Sorted,
}

impl Sent {
    /// Answered 200.
    pub fn accepted(&self) -> usize {
        self.statuses.get(&200).copied().unwrap_or(0)
    }

    /// Webhooks per topic, e.g. `orders/create 12, inventory_levels/update 30`.
    pub fn mix_text(&self) -> String {
        let mix: Vec<String> = self.mix.iter().map(|(t, c)| format!("{t} {c}")).collect();
        mix.join(", ")
    }

    /// Answers per HTTP status (0: no answer), e.g. `200: 40, 0: 2`.
    pub fn status_text(&self) -> String {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, c)| format!("{s}: {c}"))
            .collect();
        statuses.join(", ")
    }

    /// `n` webhooks answered as `statuses` (status, count), one topic, no timings.
    #[cfg(test)]
    pub fn for_tests(n: usize, statuses: &[(u16, usize)]) -> Self {
        Sent {
            n,
            mix: BTreeMap::from([("inventory_levels/update", n)]),
            statuses: statuses.iter().copied().collect(),
            response_ms: Sorted::new(vec![]),
        }
    }
}

#[derive(clap::Parser, Clone)]
pub struct FlashArgs {
    /// Online orders in the sale (1-2 units on 1-2 of the hot SKUs each).
    #[arg(long, default_value_t = 300)]
    pub orders: usize,
    /// Orders placed per second.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// Hot SKUs, each stocked at WH and STORE.
    #[arg(long, default_value_t = 3)]
    pub skus: usize,
    /// Fulfil one fulfillment order of every n-th order (0: no fulfilments).
    #[arg(long, default_value_t = 5)]
    pub fulfil_every: usize,
    /// Concurrent consumers (Lambda's MaximumConcurrency), each with its own Admin API client.
    #[arg(long, default_value_t = 4)]
    pub consumers: usize,
    /// The stand-in's leaky bucket (points) and restore rate (points/s): Shopify Standard's
    /// restore rate is 100 points/s.
    #[arg(long, default_value_t = 1000)]
    pub bucket: u32,
    #[arg(long, default_value_t = 100)]
    pub restore: u32,
    /// Give up waiting for the stock to settle after this long.
    #[arg(long, default_value_t = 600)]
    pub max_seconds: u64,
    /// Write the report (Markdown) here too.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl FlashArgs {
    /// Flags the drill cannot run with, before anything is provisioned.
    pub fn check(&self) -> Result<(), String> {
        if self.orders == 0 {
            return Err("--orders must be at least 1".into());
        }
        if !(1..=50).contains(&self.skus) {
            return Err("--skus must be between 1 and 50 (a flash sale's few hot items)".into());
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err("--rate must be a positive number of orders per second".into());
        }
        if self.consumers == 0 {
            return Err("--consumers must be at least 1".into());
        }
        if self.bucket == 0 || self.restore == 0 {
            return Err("--bucket and --restore must be positive".into());
        }
        Ok(())
    }
}

#[derive(clap::Parser, Clone)]
pub struct OrdersArgs {
    /// Paid orders (1-3 lines of 1-2 units on distinct SKUs each).
    #[arg(long, default_value_t = 200)]
    pub orders: usize,
    /// Orders created per second (each sends orders/create, then orders/paid).
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 20)]
    pub skus: usize,
    /// How long after its orders/create (payment pending) an order's orders/paid is sent.
    #[arg(long, default_value_t = 1000)]
    pub pay_after_ms: u64,
    /// Concurrent consumers (Lambda's MaximumConcurrency).
    #[arg(long, default_value_t = 4)]
    pub consumers: usize,
    /// The consumers' batching window.
    #[arg(long, default_value_t = 1000)]
    pub window_ms: u64,
    /// How often Tryton is searched for the sales not yet seen confirmed.
    #[arg(long, default_value_t = 200)]
    pub poll_ms: u64,
    /// Give up waiting for the sales after this long.
    #[arg(long, default_value_t = 600)]
    pub max_seconds: u64,
    /// Write the report (Markdown) here too.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl OrdersArgs {
    /// Flags the drill cannot run with, before anything is provisioned.
    pub fn check(&self) -> Result<(), String> {
        if self.orders == 0 {
            return Err("--orders must be at least 1".into());
        }
        if self.skus == 0 {
            return Err("--skus must be at least 1".into());
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err("--rate must be a positive number of orders per second".into());
        }
        if self.consumers == 0 {
            return Err("--consumers must be at least 1".into());
        }
        if self.poll_ms == 0 {
            return Err("--poll-ms must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(clap::Parser, Clone)]
pub struct TwoWayArgs {
    /// ERP changes (inventory counts in Tryton, round-robin over the items).
    #[arg(long, default_value_t = 200)]
    pub changes: usize,
    /// ERP changes made per second.
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    /// Distinct items counted (an item's next change comes `items / rate` seconds later).
    #[arg(long, default_value_t = 40)]
    pub items: usize,
    /// The poller's interval (`ERP_POLL_EVERY_SECONDS` is 2 in production).
    #[arg(long, default_value_t = 1000)]
    pub every_ms: u64,
    /// The sync's batching window on the ERP changes queue (1 s in template.yaml).
    #[arg(long, default_value_t = 1000)]
    pub window_ms: u64,
    /// How often the observer reads the stand-in's levels.
    #[arg(long, default_value_t = 50)]
    pub observe_ms: u64,
    /// The stand-in the script started (its webhooks go to `--webhook-port`).
    #[arg(long, default_value = "http://127.0.0.1:8782")]
    pub standin_url: String,
    /// The stand-in's Admin API token and webhook secret (as the script started it).
    #[arg(long, default_value = "shpat_drill_two_way")]
    pub standin_token: String,
    #[arg(long, default_value = "drill-two-way-secret")]
    pub webhook_secret: String,
    /// The loopback port the drill's webhook router listens on.
    #[arg(long, default_value_t = 8783)]
    pub webhook_port: u16,
    /// Give up waiting for Shopify after this long.
    #[arg(long, default_value_t = 600)]
    pub max_seconds: u64,
    /// Write the report (Markdown) here too.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl TwoWayArgs {
    /// Flags the drill cannot run with, before anything is provisioned.
    pub fn check(&self) -> Result<(), String> {
        if self.changes == 0 || self.items == 0 {
            return Err("--changes and --items must be at least 1".into());
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err("--rate must be a positive number of changes per second".into());
        }
        if self.every_ms == 0 || self.observe_ms == 0 {
            return Err("--every-ms and --observe-ms must be at least 1".into());
        }
        Ok(())
    }
}
