//! `stockbridge quarantine`: authentic deliveries that could not be used (`list`, with the
//! reason and where the body is kept), and `replay`: normalises them again (after a fix or a new
//! release; all of a shop's, or one `--webhook-id`), reading a large body back from the
//! quarantine bucket (`QUARANTINE_BUCKET`; `s3:GetObject`, then `s3:DeleteObject` once
//! replayed), and enqueues what now normalises.

use std::process::ExitCode;

use stockbridge_core::ports::Inbox;
use stockbridge_domain::ids::ShopDomain;
use stockbridge_ops as ops;

use crate::deployment::Deployment;
use crate::error::Result;

pub async fn list(at: &Deployment, shop: &str) -> Result<ExitCode> {
    let store = at.store()?;
    for q in store.list_quarantine(&ShopDomain::new(shop)).await? {
        let kept = match &q.body_ref {
            Some(at) => format!("body {} bytes in s3://{}/{}", at.size, at.bucket, at.key),
            None if q.redacted => format!("redacted body {} bytes", q.body.len()),
            None => format!("raw body {} bytes", q.body.len()),
        };
        println!(
            "{}  {}  {}  {}  {}  ({kept})",
            q.received_at, q.webhook_id, q.topic, q.code, q.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn replay(at: &Deployment, shop: &str, webhook_id: Option<&str>) -> Result<ExitCode> {
    let store = at.store()?;
    // Quarantined ERP notifications go to the ERP changes queue, when this deployment has one.
    let erp_queue = at.erp_changes_queue().ok();
    let (done, bad) = ops::replay_quarantine_with(
        &store,
        &at.queue()?,
        erp_queue.as_ref(),
        &ShopDomain::new(shop),
        webhook_id,
    )
    .await?;
    println!("replayed {done}, still unusable {bad}");
    Ok(ExitCode::SUCCESS)
}
