//! `stockbridge sales settings --shop <shop> [--enabled true|false] [--authorized true|false]`
//! (and `show`, `clear`, `retry`: one order, in `crate::sales_orders`):
//! the shop's setting for the order flow (paid Shopify orders become ERP sales orders), kept
//! in the SKU map table and read by the consumer on every batch, so a change applies from the
//! next batch without a redeploy. Prints the setting as stored (never set: off, the default);
//! with `--enabled` or `--authorized` sets what is given, keeps the other as it was, and prints
//! the new setting. Needs `dynamodb:Query` and, to set, `dynamodb:PutItem` on the SKU map table.

use std::process::ExitCode;

use clap::Subcommand;

use stockbridge_core::ports::SkuMapStore;
use stockbridge_domain::ids::ShopDomain;
use stockbridge_domain::sales::SalesSettings;

use crate::deployment::Deployment;
use crate::error::Result;

#[derive(Subcommand)]
pub enum SalesAction {
    /// Shows the shop's order-flow setting; sets what is given.
    Settings {
        #[arg(long)]
        shop: String,
        /// Paid orders become ERP sales orders.
        #[arg(long, action = clap::ArgAction::Set)]
        enabled: Option<bool>,
        /// `authorized` payments count as paid (shops that capture on fulfilment).
        #[arg(long, action = clap::ArgAction::Set)]
        authorized: Option<bool>,
    },
    /// One order's record: decision, ERP orders per warehouse, carried movements, exceptions.
    Show {
        #[arg(long)]
        shop: String,
        /// Shopify's order id (not its number).
        #[arg(long)]
        order: u64,
        #[arg(long)]
        json: bool,
    },
    /// Removes an exception an operator settled, so the flow asks the step again.
    Clear {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        order: u64,
        /// The step as `sales show` names it.
        #[arg(long)]
        step: String,
    },
    /// Sends the order through the order flow again.
    Retry {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        order: u64,
    },
}

pub async fn command(action: SalesAction, at: &Deployment) -> Result<ExitCode> {
    match action {
        SalesAction::Settings {
            shop,
            enabled,
            authorized,
        } => {
            let store = at.store()?;
            settings(&store, &ShopDomain::new(&shop), enabled, authorized).await?;
            Ok(ExitCode::SUCCESS)
        }
        SalesAction::Show { shop, order, json } => {
            crate::sales_orders::show(&at.store()?, &shop, order, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        SalesAction::Clear { shop, order, step } => {
            crate::sales_orders::clear(&at.store()?, &shop, order, &step).await?;
            Ok(ExitCode::SUCCESS)
        }
        SalesAction::Retry { shop, order } => {
            crate::sales_orders::retry(&at.queue()?, &shop, order).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints the shop's setting and, when anything is given, sets it and prints the new one.
async fn settings(
    store: &impl SkuMapStore,
    shop: &ShopDomain,
    enabled: Option<bool>,
    authorized: Option<bool>,
) -> Result<()> {
    let current = store.lookup(shop, &[], &[], &[]).await?.sales;
    println!("{shop}: {}", describe(current));
    if let Some(new) = changed(current, enabled, authorized) {
        store.put_sales_settings(shop, new).await?;
        println!("{shop}: now {}", describe(new));
    }
    Ok(())
}

/// The setting with what was given applied; `None` when nothing was given.
fn changed(
    current: SalesSettings,
    enabled: Option<bool>,
    authorized: Option<bool>,
) -> Option<SalesSettings> {
    if enabled.is_none() && authorized.is_none() {
        return None;
    }
    Some(SalesSettings {
        enabled: enabled.unwrap_or(current.enabled),
        authorized: authorized.unwrap_or(current.authorized),
    })
}

fn describe(s: SalesSettings) -> String {
    let payments = if s.authorized {
        "paid and authorized orders"
    } else {
        "paid orders"
    };
    match s.enabled {
        true => format!(
            "sales orders on ({payments} go to the ERP); enabled=true authorized={}",
            s.authorized
        ),
        false => format!(
            "sales orders off; enabled=false authorized={}",
            s.authorized
        ),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        action: SalesAction,
    }

    fn parse(args: &[&str]) -> Option<(String, Option<bool>, Option<bool>)> {
        let cli = Cli::try_parse_from(args).ok()?;
        let SalesAction::Settings {
            shop,
            enabled,
            authorized,
        } = cli.action
        else {
            return None;
        };
        Some((shop, enabled, authorized))
    }

    #[test]
    fn flags_take_true_or_false_and_may_be_left_out() {
        let shop = "a.myshopify.com".to_string();
        assert_eq!(
            parse(&["x", "settings", "--shop", &shop]),
            Some((shop.clone(), None, None))
        );
        assert_eq!(
            parse(&["x", "settings", "--shop", &shop, "--enabled", "true"]),
            Some((shop.clone(), Some(true), None))
        );
        assert_eq!(
            parse(&["x", "settings", "--shop", &shop, "--authorized", "false"]),
            Some((shop.clone(), None, Some(false)))
        );
        assert_eq!(
            parse(&["x", "settings", "--shop", &shop, "--enabled"]),
            None
        );
        assert_eq!(
            parse(&["x", "settings", "--shop", &shop, "--enabled", "yes"]),
            None
        );
        assert_eq!(parse(&["x", "settings", "--enabled", "true"]), None);
    }

    #[test]
    fn what_is_given_is_set_and_the_rest_kept() {
        let on = SalesSettings {
            enabled: true,
            authorized: true,
        };
        assert_eq!(changed(on, None, None), None);
        assert_eq!(
            changed(on, Some(false), None),
            Some(SalesSettings {
                enabled: false,
                authorized: true
            })
        );
        assert_eq!(
            changed(SalesSettings::default(), None, Some(true)),
            Some(SalesSettings {
                enabled: false,
                authorized: true
            })
        );
    }

    #[test]
    fn the_setting_reads_as_on_or_off() {
        assert!(describe(SalesSettings::default()).starts_with("sales orders off"));
        let text = describe(SalesSettings {
            enabled: true,
            authorized: true,
        });
        assert!(text.contains("paid and authorized orders"), "{text}");
    }
}
