//! `drill`: load drills against the local stack (moto and Tryton, on this machine only). This
//! file is the command line; each drill lives in its own module.
//!
//! - `drill erp` ([`erp`]): events straight onto a private queue, through the real consumer into
//!   Tryton: ERP writes per event, throughput, end-to-end latency, nothing lost or doubled.
//! - `drill webhooks` ([`webhooks`]): the Black Friday drill, signed webhooks at a rate through
//!   every function of a private local stack, checked against the generator's model; or, with
//!   `--url`, against a deployed webhook, reporting what the sender sees.
//! - `drill flash` ([`flash`]): a flash sale on a private Shopify stand-in, its webhooks through
//!   the real consumers reading the Admin API: points spent per 1,000 events beside the budget.
//! - `drill orders` ([`orders`]): paid orders as signed webhooks through the order flow into
//!   Tryton: `orders/paid` to the ERP sales order confirmed, p50/p99, one sale per order.
//! - `drill reconcile` ([`reconcile`]): the reconciliation comparison at full size, streamed.
//! - `drill two-way` ([`two_way`]): the ERP's own stock changes at a rate through the poller and
//!   the sync into the Shopify stand-in: the Tryton change to Shopify showing it, p50/p99.
//!
//! Shared by the drills: [`stack`] (the private stack and its checks), [`load`] (the synthetic
//! load), [`measure`] (percentiles, counters, samplers), [`report`] and [`plot`] (what they write).
//!
//! Run with `cargo run --profile drill -p stockbridge-drill -- <drill> ...`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod args;
mod erp;
mod flash;
mod load;
mod measure;
mod orders;
mod plot;
mod reconcile;
mod report;
mod stack;
mod two_way;
mod webhooks;

#[derive(Parser)]
#[command(
    name = "drill",
    about = "Load drills against the local stack (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Consumer and ERP push throughput with a skewed SKU distribution.
    Erp(erp::ErpArgs),
    /// Black Friday drill: signed webhooks at a target rate through every function.
    Webhooks(webhooks::WebhookArgs),
    /// Flash sale on a private stand-in: Admin API points per 1,000 events beside the budget.
    Flash(flash::FlashArgs),
    /// Paid orders into ERP sales orders: orders/paid to the sale confirmed in Tryton.
    Orders(orders::OrdersArgs),
    /// The reconciliation comparison at full size (pure, streamed): time and peak memory.
    Reconcile(reconcile::ReconcileArgs),
    /// The ERP's own stock changes into Shopify: the Tryton change to Shopify showing it.
    TwoWay(two_way::TwoWayArgs),
}

/// Prints the drill's report and exits 0, or says why it failed and exits 1 (2: the local
/// stack's environment is missing).
#[tokio::main]
async fn main() -> ExitCode {
    stockbridge_lambda::init_tracing();
    let result = match Cli::parse().command {
        Command::Erp(args) => erp::drill(args).await,
        Command::Webhooks(args) => match args.url.clone() {
            Some(url) => webhooks::remote(args, url).await,
            None => webhooks::local(args).await,
        },
        Command::Flash(args) => flash::drill(args).await,
        Command::Orders(args) => orders::drill(args).await,
        Command::Reconcile(args) if args.live => reconcile::live(args).await,
        Command::Reconcile(args) => reconcile::run(args),
        Command::TwoWay(args) => two_way::drill(args).await,
    };
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("drill: {e}");
            ExitCode::from(1)
        }
    }
}
