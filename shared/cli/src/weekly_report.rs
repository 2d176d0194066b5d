//! `stockbridge report weekly`: the weekly health report (`stockbridge_core::weekly`) of the
//! week ending now, rendered locally to a file (`--out`), from the same inbox table and
//! dead-letter queue (`EVENTS_DLQ_URL`, when set) the reconcile function reads; with
//! `--publish` it is also kept in the report bucket and announced on the bus, as the weekly
//! schedule does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use stockbridge_aws::health_reports::SqsDeadLetterDepth;
use stockbridge_core::weekly::{gather, render, Week};
use stockbridge_domain::ids::{ShopDomain, Timestamp};

use crate::deployment::Deployment;
use crate::error::Result;

#[derive(Subcommand)]
pub enum ReportAction {
    /// The week's health as one self-contained HTML page (inline SVG charts, no script): sync
    /// latency (no data: it is in CloudWatch), variance per location, corrections, errors by
    /// kind, dead-lettered, parked and quarantined counts, unmapped SKUs.
    Weekly {
        #[arg(long, env = "RECONCILE_SHOP")]
        shop: String,
        /// Where to write the page.
        #[arg(long)]
        out: PathBuf,
        /// Also keep it in HEALTH_REPORT_BUCKET and announce it (WeeklyHealthReportReady), as
        /// the weekly schedule does (for RECONCILE_SHOP).
        #[arg(long)]
        publish: bool,
    },
}

pub async fn command(action: ReportAction, at: &Deployment) -> Result<ExitCode> {
    match action {
        ReportAction::Weekly { shop, out, publish } => weekly(at, &shop, &out, publish).await,
    }
}

async fn weekly(at: &Deployment, shop: &str, out: &Path, publish: bool) -> Result<ExitCode> {
    let sdk = stockbridge_aws::sdk::sdk_config().await;
    let store = at.store()?;
    let now = Timestamp::now();
    let dead_letters = match std::env::var("EVENTS_DLQ_URL") {
        Ok(url) if !url.trim().is_empty() => Some(SqsDeadLetterDepth::new(
            aws_sdk_sqs::Client::new(&sdk),
            url.trim(),
        )),
        _ => {
            eprintln!("EVENTS_DLQ_URL is not set: the dead-letter depth shows as no data");
            None
        }
    };
    let health = gather(
        &store,
        dead_letters.as_ref(),
        &ShopDomain::new(shop),
        Week::ending(now),
    )
    .await?;
    std::fs::write(out, render(&health, now))?;
    println!(
        "wrote {} ({} reconciliation runs from {} to {})",
        out.display(),
        health.runs.len(),
        health.week_start,
        health.week_end
    );
    if publish {
        let kept = reconcile::weekly_reporter(&sdk)?.publish(now).await?;
        println!("kept {} and announced it on the bus", kept.location);
    }
    Ok(ExitCode::SUCCESS)
}
