//! `stockbridge skumap import`: validates the item and location CSVs, writes the good rows,
//! prints the summary (rejected rows with their reasons) and replays parked events the new
//! rows map. Exit 1 if any row was rejected.

use std::path::Path;
use std::process::ExitCode;

use stockbridge_ops as ops;

use crate::deployment::Deployment;
use crate::error::Result;

pub async fn import(
    at: &Deployment,
    items: Option<&Path>,
    locations: Option<&Path>,
    dry_run: bool,
) -> Result<ExitCode> {
    let store = at.store()?;
    let (items, locations) = (read(items)?, read(locations)?);
    let summary = ops::import_skumap(
        &store,
        &at.queue()?,
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

fn read(path: Option<&Path>) -> std::io::Result<Option<String>> {
    path.map(std::fs::read_to_string).transpose()
}
