//! `stockbridge`: the operator's command. Reads the same environment as the functions (table
//! names, queue URL, `AWS_ENDPOINT_URL` locally; see README "Configuration").

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use stockbridge_aws::dynamodb::{DynamoStore, Tables};
use stockbridge_aws::sdk::sdk_config;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::config::required_env;
use stockbridge_core::ops;
use stockbridge_core::ports::Erp;
use stockbridge_core::ports::Inbox;
use stockbridge_domain::erp::{ErpLine, ErpWrite};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain};
use stockbridge_domain::stock::StockKey;
use stockbridge_erp::AnyErp;

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
    /// POSTs API Gateway v2 event files (body and headers as recorded) to a webhook URL.
    Send {
        #[arg(long, env = "WEBHOOK_URL")]
        url: String,
        files: Vec<PathBuf>,
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
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stockbridge: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if let Command::Send { url, files } = &cli.command {
        return send(url, files).await;
    }
    let sdk = sdk_config().await;
    if let Command::Erp {
        action:
            ErpAction::Apply {
                warehouse,
                key,
                reason,
                lines,
            },
    } = &cli.command
    {
        let erp = AnyErp::load(&stockbridge_aws::ssm::SsmSecrets::new(&sdk)).await?;
        let lines = lines
            .iter()
            .map(|l| {
                let (item, change) = l.split_once('=').ok_or("lines are ITEM=CHANGE")?;
                Ok(ErpLine {
                    item: item.to_string(),
                    change: change.parse()?,
                    target: None,
                })
            })
            .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
        let write = ErpWrite {
            key: key.clone(),
            warehouse: warehouse.clone(),
            reason: reason.clone(),
            as_of: stockbridge_domain::ids::Timestamp::now().to_rfc3339(),
            lines,
        };
        erp.apply(&write).await?;
        println!("applied {key}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Reconcile { action } = cli.command {
        return reconcile(&sdk, action).await;
    }
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), Tables::from_env()?);
    let queue = || -> Result<SqsQueue, Box<dyn std::error::Error>> {
        Ok(SqsQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            required_env("EVENTS_QUEUE_URL")?,
        ))
    };
    match cli.command {
        Command::Skumap {
            action:
                SkumapAction::Import {
                    items,
                    locations,
                    dry_run,
                },
        } => {
            let read = |p: &Option<PathBuf>| -> Result<Option<String>, std::io::Error> {
                p.as_ref().map(std::fs::read_to_string).transpose()
            };
            let (items, locations) = (read(&items)?, read(&locations)?);
            let summary = ops::import_skumap(
                &store,
                &queue()?,
                items.as_deref(),
                locations.as_deref(),
                dry_run,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            let rejected = summary.rejected_items.len() + summary.rejected_locations.len();
            Ok(if rejected > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Stock {
            action: StockAction::Show { shop, json },
        } => {
            let mut levels = store.levels(&ShopDomain::new(&shop)).await?;
            levels.sort_by(|a, b| a.0.cmp(&b.0));
            if json {
                let rows: Vec<Value> = levels
                    .iter()
                    .map(|(k, l)| {
                        json!({"item": k.item.0.to_string(), "location": k.location.0.to_string(),
                               "available": l.available, "committed": l.committed, "on_hand": l.on_hand(),
                               "tracked": l.tracked, "connected": l.connected})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<20} {:<14} {:>9} {:>9} {:>8}",
                    "inventory item", "location", "available", "committed", "on hand"
                );
                for (k, l) in &levels {
                    println!(
                        "{:<20} {:<14} {:>9} {:>9} {:>8}{}",
                        k.item,
                        k.location,
                        l.available,
                        l.committed,
                        l.on_hand(),
                        if !l.tracked {
                            "  (untracked)"
                        } else if !l.connected {
                            "  (disconnected)"
                        } else {
                            ""
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Stock {
            action:
                StockAction::History {
                    shop,
                    item,
                    location,
                },
        } => {
            let key = StockKey {
                shop: ShopDomain::new(&shop),
                item: InventoryItemId(item),
                location: LocationId(location),
            };
            for entry in store.ledger(&key).await? {
                let get = |k: &str| {
                    entry
                        .get(k)
                        .and_then(|v| v.as_n().or(v.as_s()).ok())
                        .cloned()
                        .unwrap_or_default()
                };
                if get("kind") == "correction" {
                    println!(
                        "{}  reconciliation {} ({}): {} {}  because {}",
                        get("at"),
                        get("run"),
                        get("outcome"),
                        get("side"),
                        get("correction"),
                        get("reason")
                    );
                    continue;
                }
                println!(
                    "{}  available {} -> {}  committed {} -> {}  on hand {} -> {}  causes {}",
                    get("at"),
                    get("before_available"),
                    get("after_available"),
                    get("before_committed"),
                    get("after_committed"),
                    get("before_on_hand"),
                    get("after_on_hand"),
                    get("causes")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Parked {
            action: InboxAction::List { shop },
        } => {
            for p in store.list_parked(&ShopDomain::new(&shop)).await? {
                println!(
                    "{}  parked {}  missing: {}",
                    p.event.key,
                    p.parked_at,
                    p.missing.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Parked {
            action: InboxAction::Replay { shop, .. },
        } => {
            let summary = ops::replay_parked(&store, &queue()?, &ShopDomain::new(&shop)).await?;
            println!("{}", serde_json::to_string(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Quarantine {
            action: InboxAction::List { shop },
        } => {
            for q in store.list_quarantine(&ShopDomain::new(&shop)).await? {
                println!(
                    "{}  {}  {}  {}  {}",
                    q.received_at, q.webhook_id, q.topic, q.code, q.reason
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Quarantine {
            action: InboxAction::Replay { shop, webhook_id },
        } => {
            let (done, bad) = ops::replay_quarantine(
                &store,
                &queue()?,
                &ShopDomain::new(&shop),
                webhook_id.as_deref(),
            )
            .await?;
            println!("replayed {done}, still unusable {bad}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Erp {
            action: ErpAction::Levels { shop },
        } => {
            let shop = ShopDomain::new(&shop);
            let erp = AnyErp::load(&stockbridge_aws::ssm::SsmSecrets::new(&sdk)).await?;
            let map = store.full_map(&shop).await?;
            let levels: std::collections::HashMap<
                (u64, u64),
                stockbridge_domain::stock::StockLevel,
            > = store
                .levels(&shop)
                .await?
                .into_iter()
                .map(|(k, l)| ((k.item.0, k.location.0), l))
                .collect();
            println!(
                "{:<10} {:<12} {:<8} {:>14} {:>10} {:>12}",
                "warehouse", "ERP item", "master", "Shopify on hand", "owed", "ERP on hand"
            );
            let mut locations: Vec<_> = map.locations.values().collect();
            locations.sort_by_key(|l| l.location);
            for location in locations {
                let mut items: Vec<_> = map.items.values().collect();
                items.sort_by(|a, b| a.erp_item.cmp(&b.erp_item));
                let codes: Vec<String> = items.iter().map(|i| i.erp_item.clone()).collect();
                let erp_levels = erp.levels(&location.erp_warehouse, &codes).await?;
                for item in items {
                    let Some(level) = levels.get(&(item.item.0, location.location.0)) else {
                        continue;
                    };
                    println!(
                        "{:<10} {:<12} {:<8} {:>14} {:>10} {:>12}",
                        location.erp_warehouse,
                        item.erp_item,
                        format!("{:?}", location.master).to_lowercase(),
                        item.uom.to_erp(level.on_hand()).to_string(),
                        item.uom.to_erp(level.erp_owed).to_string(),
                        erp_levels
                            .get(&item.erp_item)
                            .map_or("-".to_string(), |q| q.normalize().to_string())
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Erp { .. } | Command::Send { .. } | Command::Reconcile { .. } => {
            unreachable!("handled above")
        }
    }
}

/// Posts recorded API Gateway v2 events. Exit 1 if any answer is not 2xx.
async fn send(url: &str, files: &[PathBuf]) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let client = reqwest::Client::new();
    let mut ok = true;
    for file in files {
        let event: Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
        let body = event["body"].as_str().unwrap_or_default().to_string();
        let mut request = client.post(url).body(body);
        if let Some(headers) = event["headers"].as_object() {
            for (k, v) in headers {
                if let Some(v) = v.as_str() {
                    if !k.eq_ignore_ascii_case("content-length") && !k.eq_ignore_ascii_case("host")
                    {
                        request = request.header(k, v);
                    }
                }
            }
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        ok &= status.is_success();
        println!(
            "{:>3}  {}  {}",
            status.as_u16(),
            file.file_name().and_then(|f| f.to_str()).unwrap_or(""),
            text
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn reconcile(
    sdk: &aws_config::SdkConfig,
    action: ReconcileAction,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use stockbridge_core::reconcile::{ReconcileReport, RunOptions};
    let find = |reports: Vec<String>,
                run: Option<&str>|
     -> Result<ReconcileReport, Box<dyn std::error::Error>> {
        for r in reports {
            let report: ReconcileReport = serde_json::from_str(&r)?;
            if run.is_none_or(|want| report.run == want) {
                return Ok(report);
            }
        }
        Err(format!(
            "no report{}",
            run.map(|r| format!(" for run {r}")).unwrap_or_default()
        )
        .into())
    };
    match action {
        ReconcileAction::Run {
            dry_run,
            lift_cap,
            json,
            read,
        } => {
            let reconciler = reconcile::reconciler(sdk).await?;
            let mut policy = stockbridge_core::reconcile::policy_from_env()?;
            policy.dry_run |= dry_run;
            let read = match read {
                Some(r) => r.parse()?,
                None => stockbridge_core::reconcile::ShopifyRead::from_env()?,
            };
            let report = reconciler
                .run(&RunOptions {
                    policy,
                    lift_cap,
                    read,
                })
                .await?;
            print_report(&report, json)?;
            Ok(ExitCode::SUCCESS)
        }
        ReconcileAction::Report { shop, run, json } => {
            let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), Tables::from_env()?);
            let reports = store.reports(&ShopDomain::new(&shop), 100).await?;
            print_report(&find(reports, run.as_deref())?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        ReconcileAction::Revert { shop, run } => {
            let reconciler = reconcile::reconciler(sdk).await?;
            if reconciler.shop.as_str() != shop {
                return Err(format!("RECONCILE_SHOP is {}, not {shop}", reconciler.shop).into());
            }
            let reports = reconciler
                .store
                .reports(&ShopDomain::new(&shop), 100)
                .await?;
            let original = find(reports, Some(&run))?;
            let report = reconciler.revert(&original).await?;
            print_report(&report, false)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_report(
    report: &stockbridge_core::reconcile::ReconcileReport,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    println!(
        "run {}{}  shop {}  {} items compared in {} ms",
        report.run,
        report
            .reverts
            .as_ref()
            .map(|r| format!(" (reverts {r})"))
            .unwrap_or_default(),
        report.shop,
        report.items_compared,
        report.duration_ms
    );
    for t in &report.locations {
        println!(
            "  location {} ({}, {} master): {} items, {} in sync, {} pending, {} variances ({} unmapped); {} of {} units off = {:.2} %, largest {}",
            t.location,
            t.warehouse.as_deref().unwrap_or("-"),
            t.master.map(|m| format!("{m:?}").to_lowercase()).unwrap_or_default(),
            t.items,
            t.in_sync,
            t.pending,
            t.variances,
            t.unmapped_items,
            t.units_off,
            t.master_units,
            t.variance_pct(),
            t.largest
        );
    }
    if !report.locations.is_empty() {
        println!(
            "  all locations: {} of {} units off = {:.2} %",
            report.total_units_off, report.total_master_units, report.total_variance_pct
        );
    }
    for u in &report.unmapped_locations {
        println!(
            "  Shopify location {} has no mapping: {} items, {} units on hand",
            u.location, u.items, u.on_hand
        );
    }
    for (v, done) in &report.details {
        println!(
            "  {:?} item {} at {}: {} units{}",
            v.kind,
            v.item,
            v.location,
            v.units,
            done.as_ref()
                .map(|d| format!(
                    ", {} {}: {}",
                    d.correction.side(),
                    correction_summary(&d.correction),
                    d.outcome
                ))
                .unwrap_or_default()
        );
    }
    println!(
        "corrections: {} applied, {} planned (dry run), {} held (cap), {} stale, {} failed",
        report.corrections_applied,
        report.corrections_planned,
        report.corrections_held,
        report.corrections_stale,
        report.corrections_failed
    );
    if report.alert {
        println!("ALERT:");
        for r in &report.alert_reasons {
            println!("  - {r}");
        }
    }
    Ok(())
}

fn correction_summary(c: &stockbridge_domain::reconcile::Correction) -> String {
    use stockbridge_domain::reconcile::Correction;
    match c {
        Correction::RecordLevel { before, after, .. }
        | Correction::SetShopify { before, after, .. } => {
            format!("{before} -> {after}")
        }
        Correction::AdjustErp { before, after, .. } => format!("{before} -> {after}"),
    }
}
