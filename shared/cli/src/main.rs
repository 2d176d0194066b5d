//! `stockbridge`: the operator's command. Reads the same environment as the functions (table
//! names, queue URL, `AWS_ENDPOINT_URL` locally; see README "Configuration").
//!
//! This file is the command line and its dispatch; each command family lives in its own module
//! ([`skumap`], [`stock`], [`parked`], [`quarantine`], [`erp`], [`reconciliation`],
//! [`redact`], [`send`]), built on [`deployment`]. Exit codes: 0 done, 1 done with rejected
//! rows or failed deliveries (or nothing found: `redact status`), 2 could not run (the reason
//! is printed).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod backfill;
mod deployment;
mod dlq;
mod erp;
mod error;
mod parked;
mod quarantine;
mod reconciliation;
mod redact;
mod sales;
mod sales_orders;
mod send;
mod skumap;
mod status;
mod stock;
mod storefront;
mod suggest;
mod webhooks;
mod weekly_report;

use deployment::Deployment;
use error::Result;

#[derive(Parser)]
#[command(
    name = "stockbridge",
    about = "Operate Stockbridge: SKU map, stock, parked and quarantined events"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The SKU map (Shopify items and locations -> ERP items and warehouses).
    Skumap {
        #[command(subcommand)]
        action: SkumapAction,
    },
    /// Stock as DynamoDB holds it.
    Stock {
        #[command(subcommand)]
        action: StockAction,
    },
    /// Events waiting for a mapping.
    Parked {
        #[command(subcommand)]
        action: InboxAction,
    },
    /// Authentic deliveries that could not be used.
    Quarantine {
        #[command(subcommand)]
        action: InboxAction,
    },
    /// The ERP as Stockbridge sees it (ERP_KIND and its settings, as for the consumer).
    Erp {
        #[command(subcommand)]
        action: ErpAction,
    },
    /// Reconciliation of Shopify, DynamoDB and the ERP (the reconcile function's run, on demand).
    Reconcile {
        #[command(subcommand)]
        action: ReconcileAction,
    },
    /// `shop/redact`: how far the shop's newest redaction got (the consumer's progress record).
    Redact {
        #[command(subcommand)]
        action: RedactAction,
    },
    /// POSTs API Gateway v2 event files (body and headers as recorded) to a webhook URL.
    Send {
        #[arg(long, env = "WEBHOOK_URL")]
        url: String,
        files: Vec<PathBuf>,
    },
    /// The events dead-letter queue: what failed and why; redrive.
    Dlq {
        #[command(subcommand)]
        action: dlq::DlqAction,
    },
    /// One screen with the deployment's health and a verdict: healthy, degraded or failing.
    ///
    /// Exit code 0 healthy, 1 degraded, 2 failing (or could not run). Failing: the ERP is
    /// unreachable or refuses a read; a dead letter older than 15 min; the newest
    /// reconciliation report raised the alert or is older than 30 min; a webhook subscription
    /// missing. Degraded: over 1,000 events waiting; dead letters younger than 15 min; ERP
    /// writes parked, or debt to the ERP older than 15 min; parked events or quarantined
    /// deliveries new within the last hour; records unsettled for over 30 min; variance under
    /// the alert threshold but not 0, or failed corrections; a check that could not be made.
    Status {
        #[arg(long, env = "RECONCILE_SHOP")]
        shop: String,
        /// The verdict, its reasons and everything seen, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reports for operators: `report weekly --out FILE`, the weekly health page.
    Report {
        #[command(subcommand)]
        action: weekly_report::ReportAction,
    },
    /// Takes a shop that already has stock into Stockbridge: per mapped location, reports what
    /// differs between Shopify, the SKU map and the ERP (before anything is written), then
    /// records Shopify's quantities as each record's settled starting state, owing the ERP
    /// nothing. Resumable (a checkpoint per location); a finished backfill does nothing.
    Backfill {
        #[arg(long)]
        shop: String,
        /// Report only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Read the ERP's on-hand from a `warehouse,erp_item,on_hand` CSV instead of the ERP.
        #[arg(long)]
        erp_levels: Option<PathBuf>,
        /// Stop once this many records were written; the next run carries on.
        #[arg(long)]
        stop_after: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// The shop's webhook subscriptions and the app's access scopes against what Stockbridge
    /// needs: `check` (exit 1 on a difference), `ensure` (creates what is missing).
    Webhooks {
        #[command(subcommand)]
        action: webhooks::WebhooksAction,
    },
    /// The order flow: `sales settings --shop S [--enabled B] [--authorized B]` shows the
    /// shop's setting (paid orders as ERP sales orders; off unless set) and sets what is given.
    Sales {
        #[command(subcommand)]
        action: sales::SalesAction,
    },
    /// What the storefront is told from the ERP: `storefront rules|fields|reorder-point --shop
    /// S` show the shop's available-to-sell rules, field map and reorder points, and set what
    /// is given (read by the ERP sync on every batch: no redeploy).
    Storefront {
        #[command(subcommand)]
        action: storefront::StorefrontAction,
    },
}

#[derive(Subcommand)]
enum SkumapAction {
    /// Validates the CSVs, writes the good rows, reports rejected ones, replays parked events.
    Import {
        #[arg(long)]
        items: Option<PathBuf>,
        #[arg(long)]
        locations: Option<PathBuf>,
        /// Validate only.
        #[arg(long)]
        dry_run: bool,
    },
    /// Proposes an item CSV: Shopify's SKUs (Admin API) matched to ERP codes (a CSV with a
    /// `code` column); the proposal on stdout, the ambiguous and unmatched on stderr.
    Suggest {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        erp_items: PathBuf,
        #[arg(long, default_value = "each")]
        shopify_uom: String,
        #[arg(long, default_value = "each")]
        erp_uom: String,
    },
}

#[derive(Subcommand)]
enum ErpAction {
    /// Per mapped item and location: Shopify's on-hand in DynamoDB (in ERP units), what is
    /// still owed to the ERP, and the ERP's on-hand.
    Levels {
        #[arg(long)]
        shop: String,
    },
    /// Applies one write to the ERP, e.g. stock received: `--warehouse WH --key seed-1 TEE=100`.
    Apply {
        #[arg(long)]
        warehouse: String,
        #[arg(long)]
        key: String,
        #[arg(long, default_value = "stock received")]
        reason: String,
        /// ITEM=CHANGE pairs, in ERP units.
        lines: Vec<String>,
    },
    /// ERP writes parked after repeated refusals: key, warehouse, refusals, the ERP's last
    /// reason and the lines; they are not sent again until released with `erp retry`.
    Parked {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        json: bool,
    },
    /// Releases a parked write once its cause is fixed: it is sent again at once under the same
    /// key (what the ERP already applied of it is not applied twice); one more refusal parks it
    /// again.
    Retry {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        key: String,
    },
}

#[derive(Subcommand)]
enum StockAction {
    /// Every stock level of a shop.
    Show {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        json: bool,
    },
    /// The transaction log of one item at one location: why does Shopify show N?
    History {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        item: u64,
        #[arg(long)]
        location: u64,
    },
    /// How the figure Shopify shows at an ERP-master location was derived: the ERP's on-hand
    /// and moves, the unit, the commitments, the rule, what Shopify was last told.
    Explain {
        #[arg(long)]
        shop: String,
        /// The inventory item id, or its SKU.
        #[arg(long)]
        item: String,
        #[arg(long)]
        location: u64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ReconcileAction {
    /// Runs one reconciliation now, with the function's settings (RECONCILE_* variables).
    Run {
        /// Report and alert only; correct nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply corrections beyond the cap (after reviewing a run that held some back).
        #[arg(long)]
        lift_cap: bool,
        /// Print the whole report as JSON.
        #[arg(long)]
        json: bool,
        /// How to read Shopify: `paged` or `bulk` (default: RECONCILE_SHOPIFY_READ, else paged).
        #[arg(long)]
        read: Option<String>,
    },
    /// Shows the newest report (or the one of `--run`).
    Report {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        run: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Undoes the corrections a run applied (each logged as a revert).
    Revert {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        run: String,
    },
}

#[derive(Subcommand)]
enum RedactAction {
    /// Started, finished or how far; records deleted, steps, hand-overs (exit 1: none recorded).
    Status {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum InboxAction {
    List {
        #[arg(long)]
        shop: String,
    },
    Replay {
        #[arg(long)]
        shop: String,
        /// Quarantine only: replay this delivery only.
        #[arg(long)]
        webhook_id: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    stockbridge_lambda::init_tracing();
    match run(Cli::parse().command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stockbridge: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs one command. Every command but `send` works on the deployment the environment names.
async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Send { url, files } => send::post_events(&url, &files).await,
        Command::Skumap { action } => skumap_command(action, &Deployment::connect().await).await,
        Command::Stock { action } => stock_command(action, &Deployment::connect().await).await,
        Command::Parked { action } => parked_command(action, &Deployment::connect().await).await,
        Command::Quarantine { action } => {
            quarantine_command(action, &Deployment::connect().await).await
        }
        Command::Erp { action } => erp_command(action, &Deployment::connect().await).await,
        Command::Reconcile { action } => {
            reconcile_command(action, &Deployment::connect().await).await
        }
        Command::Redact {
            action: RedactAction::Status { shop, json },
        } => redact::status(&Deployment::connect().await, &shop, json).await,
        Command::Dlq { action } => dlq::command(action, &Deployment::connect().await).await,
        Command::Status { shop, json } => {
            status::status(&Deployment::connect().await, &shop, json).await
        }
        Command::Report { action } => {
            weekly_report::command(action, &Deployment::connect().await).await
        }
        Command::Backfill {
            shop,
            dry_run,
            erp_levels,
            stop_after,
            json,
        } => {
            let flags = backfill::BackfillFlags {
                shop: &shop,
                dry_run,
                erp_levels: erp_levels.as_deref(),
                stop_after,
                json,
            };
            backfill::run(&Deployment::connect().await, flags).await
        }
        Command::Webhooks { action } => webhooks::command(action).await,
        Command::Sales { action } => sales::command(action, &Deployment::connect().await).await,
        Command::Storefront { action } => {
            storefront::command(action, &Deployment::connect().await).await
        }
    }
}

async fn skumap_command(action: SkumapAction, at: &Deployment) -> Result<ExitCode> {
    match action {
        SkumapAction::Import {
            items,
            locations,
            dry_run,
        } => skumap::import(at, items.as_deref(), locations.as_deref(), dry_run).await,
        SkumapAction::Suggest {
            shop,
            erp_items,
            shopify_uom,
            erp_uom,
        } => {
            suggest::run(suggest::SuggestFlags {
                shop: &shop,
                erp_items: &erp_items,
                shopify_uom: &shopify_uom,
                erp_uom: &erp_uom,
            })
            .await
        }
    }
}

async fn stock_command(action: StockAction, at: &Deployment) -> Result<ExitCode> {
    match action {
        StockAction::Show { shop, json } => stock::show(at, &shop, json).await,
        StockAction::History {
            shop,
            item,
            location,
        } => stock::history(at, &shop, item, location).await,
        StockAction::Explain {
            shop,
            item,
            location,
            json,
        } => storefront::explain(at, &shop, &item, location, json).await,
    }
}

async fn parked_command(action: InboxAction, at: &Deployment) -> Result<ExitCode> {
    match action {
        InboxAction::List { shop } => parked::list(at, &shop).await,
        // `--webhook-id` is for quarantined deliveries; parked events replay all at once.
        InboxAction::Replay { shop, .. } => parked::replay(at, &shop).await,
    }
}

async fn quarantine_command(action: InboxAction, at: &Deployment) -> Result<ExitCode> {
    match action {
        InboxAction::List { shop } => quarantine::list(at, &shop).await,
        InboxAction::Replay { shop, webhook_id } => {
            quarantine::replay(at, &shop, webhook_id.as_deref()).await
        }
    }
}

async fn erp_command(action: ErpAction, at: &Deployment) -> Result<ExitCode> {
    match action {
        ErpAction::Levels { shop } => erp::levels(at, &shop).await,
        ErpAction::Apply {
            warehouse,
            key,
            reason,
            lines,
        } => erp::apply(at, &warehouse, &key, &reason, &lines).await,
        ErpAction::Parked { shop, json } => erp::parked(at, &shop, json).await,
        ErpAction::Retry { shop, key } => erp::retry(at, &shop, &key).await,
    }
}

async fn reconcile_command(action: ReconcileAction, at: &Deployment) -> Result<ExitCode> {
    match action {
        ReconcileAction::Run {
            dry_run,
            lift_cap,
            json,
            read,
        } => {
            let options = reconciliation::RunFlags {
                dry_run,
                lift_cap,
                read,
            };
            reconciliation::run(at, options, json).await
        }
        ReconcileAction::Report { shop, run, json } => {
            reconciliation::show_report(at, &shop, run.as_deref(), json).await
        }
        ReconcileAction::Revert { shop, run } => reconciliation::revert(at, &shop, &run).await,
    }
}
