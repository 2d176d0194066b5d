//! `stockbridge backfill`: takes a shop that already has stock into Stockbridge
//! ([`stockbridge_ops::backfill`]): reports what differs between Shopify, the SKU map and the
//! ERP, then (unless `--dry-run`) records the starting state, resumable, with a progress bar,
//! and sends the consumer (on `EVENTS_QUEUE_URL`) each location's commitments repair.
//! The ERP side is the configured ERP (`ERP_KIND`) or a recorded levels file (`--erp-levels`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::sdk::{operator_sdk_config, sdk_config};
use stockbridge_aws::ssm::SsmSecrets;
use stockbridge_core::config::{required_env, SecretSource};
use stockbridge_core::ports::Erp;
use stockbridge_domain::ids::{LocationId, ShopDomain};
use stockbridge_domain::skumap::Master;
use stockbridge_ops::backfill::diff::{Difference, LocationSurvey};
use stockbridge_ops::backfill::erp_file::RecordedErp;
use stockbridge_ops::backfill::{record, survey, Progress, Recorded, Survey};
use stockbridge_shopify_admin::ShopifyGraphql;

use crate::deployment::Deployment;
use crate::error::Result;

/// How long the backfill waits for each location's bulk operation (and its download): an
/// operator's command, not a Lambda, and Shopify may take tens of minutes over a large
/// catalogue, where the adapter's default would give up after ten.
const BULK_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);

/// What the operator asks of a backfill.
pub struct BackfillFlags<'a> {
    pub shop: &'a str,
    pub dry_run: bool,
    /// A recorded `warehouse,erp_item,on_hand` file instead of the configured ERP.
    pub erp_levels: Option<&'a Path>,
    /// Stop once this many records were written (the next run carries on).
    pub stop_after: Option<u64>,
    pub json: bool,
}

pub async fn run(at: &Deployment, flags: BackfillFlags<'_>) -> Result<ExitCode> {
    let sdk = sdk_config().await;
    let token = SsmSecrets::new(&sdk)
        .secret("SHOPIFY_ACCESS_TOKEN", "SHOPIFY_TOKEN_SSM_PARAM")
        .await?;
    let shopify = ShopifyGraphql::new(&required_env("SHOPIFY_ADMIN_URL")?, &token)?
        .with_bulk_timeout(BULK_TIMEOUT);
    match flags.erp_levels {
        Some(path) => {
            let erp = RecordedErp::parse(&std::fs::read_to_string(path)?)?;
            backfill(at, &erp, &shopify, &flags).await
        }
        None => backfill(at, &at.erp().await?, &shopify, &flags).await,
    }
}

async fn backfill<E: Erp>(
    at: &Deployment,
    erp: &E,
    shopify: &ShopifyGraphql,
    flags: &BackfillFlags<'_>,
) -> Result<ExitCode> {
    // The operator's timeouts: a page of a large SKU map may take seconds (moto's especially).
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&operator_sdk_config().await),
        Tables::from_env()?,
    );
    let shop = ShopDomain::new(flags.shop);
    let bar = Bar::new(flags.json);
    let found = survey(&store, erp, shopify, &shop, &bar).await?;
    if !flags.json {
        print_survey(&found, flags.dry_run);
    }
    let recorded = if flags.dry_run || found.nothing_to_do() {
        None
    } else {
        let queue = at.queue()?;
        Some(record(&store, shopify, &queue, &shop, flags.stop_after, &bar).await?)
    };
    if flags.json {
        let out = serde_json::json!({"survey": found, "recorded": recorded});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if let Some(r) = &recorded {
        print_recorded(r);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_survey(survey: &Survey, dry_run: bool) {
    println!(
        "backfill of {}{}",
        survey.shop,
        if dry_run {
            " (dry run: nothing is written)"
        } else {
            ""
        }
    );
    for l in &survey.locations {
        print_location(l);
    }
    for u in &survey.unmapped_locations {
        println!("  Shopify location {u} has no mapping: not backfilled (map it, then run again)");
    }
    if survey.nothing_to_do() {
        println!("nothing to do: every mapped location was backfilled");
    }
}

fn print_location(l: &LocationSurvey) {
    let master = match l.master {
        Master::Erp => "ERP-master",
        Master::Shopify => "Shopify-master",
    };
    let from = l
        .resumed_after
        .map(|a| format!(", after item {a}"))
        .unwrap_or_default();
    if l.finished {
        println!(
            "  location {} ({}, {master}): done by an earlier run",
            l.location, l.warehouse
        );
        return;
    }
    println!(
        "  location {} ({}, {master}){from}: {} in Shopify, {} mapped; {} only in Shopify, {} only in the map, {} unknown to the ERP, {} on-hand differences ({} ERP units apart)",
        l.location,
        l.warehouse,
        l.shopify_items,
        l.mapped_items,
        l.only_in_shopify,
        l.only_in_map,
        l.erp_unknown,
        l.on_hand_differs,
        l.erp_units_apart
    );
    for d in &l.examples {
        println!("    {}", difference_line(d));
    }
}

fn difference_line(d: &Difference) -> String {
    match d {
        Difference::OnlyInShopify { item, on_hand } => {
            format!("item {item}: only in Shopify ({on_hand} on hand), not in the SKU map")
        }
        Difference::OnlyInMap { item, sku } => {
            format!("item {item} ({sku}): in the SKU map, no level in Shopify here")
        }
        Difference::ErpUnknown { item, erp_item, shopify_erp_units } => format!(
            "item {item} ({erp_item}): Shopify {shopify_erp_units} ERP units, the ERP does not know it here"
        ),
        Difference::OnHand { item, erp_item, shopify_erp_units, erp } => format!(
            "item {item} ({erp_item}): Shopify {shopify_erp_units}, ERP {erp} (ERP units)"
        ),
    }
}

fn print_recorded(r: &Recorded) {
    for l in &r.locations {
        println!(
            "  location {}: {} recorded, {} already held{}",
            l.location,
            l.recorded,
            l.already_held,
            if l.finished { ", done" } else { "" }
        );
        if l.open_fulfillment_orders > 0 {
            println!(
                "    {} open fulfillment orders sent to the consumer: their lines make `committed`",
                l.open_fulfillment_orders
            );
        }
    }
    if r.stopped_early {
        println!("stopped as asked (--stop-after); run again to carry on from the checkpoint");
    }
}

/// A spinner per pass with the items done and their rate (drawn on stderr, hidden when it is
/// not a terminal or with `--json`).
struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new(hidden: bool) -> Self {
        let bar = if hidden {
            ProgressBar::hidden()
        } else {
            ProgressBar::new_spinner()
        };
        let style =
            ProgressStyle::with_template("{spinner} {msg} {human_pos} items, {per_sec}, {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        Bar { bar }
    }
}

impl Progress for Bar {
    fn begin(&self, what: &str, location: LocationId) {
        self.bar.reset();
        self.bar.set_message(format!("{what} location {location}:"));
        self.bar.enable_steady_tick(Duration::from_millis(200));
    }

    fn advance(&self, items: u64) {
        self.bar.inc(items);
    }

    fn end(&self) {
        self.bar.disable_steady_tick();
        self.bar.finish_and_clear();
    }
}
