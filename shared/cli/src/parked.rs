//! `stockbridge parked`: events waiting for a mapping (`list`, with what each is missing), and
//! `replay`: sends again those the SKU map can now resolve; what is still unmapped waits.

use std::process::ExitCode;

use stockbridge_core::ports::Inbox;
use stockbridge_domain::ids::ShopDomain;
use stockbridge_ops as ops;

use crate::deployment::Deployment;
use crate::error::Result;

pub async fn list(at: &Deployment, shop: &str) -> Result<ExitCode> {
    let store = at.store()?;
    for p in store.list_parked(&ShopDomain::new(shop)).await? {
        println!(
            "{}  parked {}  missing: {}",
            p.event.key,
            p.parked_at,
            p.missing.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the replay summary as one JSON line.
pub async fn replay(at: &Deployment, shop: &str) -> Result<ExitCode> {
    let store = at.store()?;
    let summary = ops::replay_parked(&store, &at.queue()?, &ShopDomain::new(shop)).await?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}
