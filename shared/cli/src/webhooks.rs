//! `stockbridge webhooks check | ensure`: the shop's webhook subscriptions and the app's access
//! scopes against what Stockbridge needs ([`stockbridge_core::webhook_health`]), through the
//! Admin API (`SHOPIFY_ADMIN_URL` and the token as the reconcile function reads them), with the
//! deployment's webhook address (`--url` or `WEBHOOK_URL`).
//!
//! `check` prints the comparison and exits 1 on any difference. `ensure` creates a subscription
//! for every missing or misdirected topic, then checks again: access scopes cannot be granted
//! through the API (they come from the app's configuration), so missing ones are only reported;
//! extra subscriptions are listed, never deleted. Exit 0 when all is as needed afterwards, 1
//! otherwise, 2 when Shopify could not be read.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use stockbridge_aws::sdk::sdk_config;
use stockbridge_aws::ssm::SsmSecrets;
use stockbridge_core::config::{required_env, SecretSource};
use stockbridge_core::webhook_health::{self, Health, Needs};
use stockbridge_shopify_admin::ShopifyGraphql;

use crate::error::Result;

#[derive(Subcommand)]
pub enum WebhooksAction {
    /// Compares the shop's subscriptions and granted scopes with what Stockbridge needs; exit 1
    /// on a difference.
    Check {
        /// The deployment's webhook endpoint (the stack output WebhookUrl).
        #[arg(long, env = "WEBHOOK_URL")]
        url: String,
        /// The comparison as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Creates the missing (or misdirected) subscriptions and reports missing access scopes,
    /// which only the app's configuration can grant.
    Ensure {
        #[arg(long, env = "WEBHOOK_URL")]
        url: String,
    },
}

pub async fn command(action: WebhooksAction) -> Result<ExitCode> {
    match action {
        WebhooksAction::Check { url, json } => {
            let needs = Needs::stockbridge(&url)?;
            let health = webhook_health::check(&admin().await?, &needs).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&health_json(&health))?);
            } else {
                print_health(&needs, &health);
            }
            Ok(exit_for(&health))
        }
        WebhooksAction::Ensure { url } => {
            let needs = Needs::stockbridge(&url)?;
            let admin = admin().await?;
            let ensured = webhook_health::ensure(&admin, &needs).await?;
            for sub in &ensured.created {
                println!("created: {} to {} ({})", sub.topic, sub.uri, sub.id);
            }
            for (topic, e) in &ensured.failed {
                println!("not created: {topic}: {e}");
            }
            if ensured.created.is_empty() && ensured.failed.is_empty() {
                println!("no subscription to create");
            }
            let after = webhook_health::check(&admin, &needs).await?;
            print_health(&needs, &after);
            Ok(exit_for(&after))
        }
    }
}

/// The Admin API client as the reconcile function builds it.
async fn admin() -> Result<ShopifyGraphql> {
    let sdk = sdk_config().await;
    let token = SsmSecrets::new(&sdk)
        .secret("SHOPIFY_ACCESS_TOKEN", "SHOPIFY_TOKEN_SSM_PARAM")
        .await?;
    Ok(ShopifyGraphql::new(
        &required_env("SHOPIFY_ADMIN_URL")?,
        &token,
    )?)
}

fn exit_for(health: &Health) -> ExitCode {
    if health.is_healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_health(needs: &Needs, health: &Health) {
    println!(
        "{} subscriptions; {} topics needed at {} (API version {}); scopes granted: {}",
        health.subscriptions.len(),
        needs.topics.len(),
        needs.address,
        needs.api_version,
        if health.granted_scopes.is_empty() {
            "none".to_string()
        } else {
            health.granted_scopes.join(", ")
        }
    );
    let differences = health.differences();
    if differences.is_empty() {
        println!("ok: every needed topic is subscribed at the address, every scope granted");
    }
    for line in differences {
        println!("  {line}");
    }
}

fn health_json(health: &Health) -> serde_json::Value {
    let sub = |s: &webhook_health::Subscription| {
        json!({"id": s.id, "topic": s.topic, "uri": s.uri, "format": s.format,
               "include_fields": s.include_fields, "api_version": s.api_version})
    };
    json!({
        "healthy": health.is_healthy(),
        "address": health.address,
        "missing": health.missing.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "wrong_address": health.wrong_address.iter()
            .map(|w| json!({"topic": w.topic.as_str(), "uris": w.uris}))
            .collect::<Vec<_>>(),
        "extra": health.extra.iter().map(sub).collect::<Vec<_>>(),
        "other_version": health.other_version.iter().map(sub).collect::<Vec<_>>(),
        "missing_scopes": health.missing_scopes,
        "granted_scopes": health.granted_scopes,
        "subscriptions": health.subscriptions.iter().map(sub).collect::<Vec<_>>(),
        "differences": health.differences(),
    })
}
