//! `stockbridge reconcile`: one reconciliation of Shopify, DynamoDB and the ERP on demand (the
//! reconcile function's run, with its `RECONCILE_*` settings), the stored reports, and the
//! revert of a run's corrections; each report printed as a summary or as JSON.

use std::process::ExitCode;

use stockbridge_core::ports::Inbox;
use stockbridge_core::reconcile::{
    policy_from_env, ReconcileReport, ReportedCorrection, RunOptions, ShopifyRead,
};
use stockbridge_domain::ids::ShopDomain;
use stockbridge_domain::variance::{Correction, LocationTally, Variance};

use crate::deployment::Deployment;
use crate::error::{CommandError, Result};

/// How many of the newest stored reports are searched for a run.
const REPORTS_SEARCHED: usize = 100;

/// What the operator asks of one run, over the function's settings.
pub struct RunFlags {
    /// Report and alert only, whatever `RECONCILE_DRY_RUN` says.
    pub dry_run: bool,
    pub lift_cap: bool,
    /// `paged` or `bulk`; `RECONCILE_SHOPIFY_READ` when absent.
    pub read: Option<String>,
}

pub async fn run(at: &Deployment, flags: RunFlags, json: bool) -> Result<ExitCode> {
    let reconciler = at.reconciler().await?;
    let mut policy = policy_from_env()?;
    policy.dry_run |= flags.dry_run;
    let read = match flags.read {
        Some(r) => r.parse()?,
        None => ShopifyRead::from_env()?,
    };
    let report = reconciler
        .run(&RunOptions {
            policy,
            lift_cap: flags.lift_cap,
            read,
        })
        .await?;
    print_report(&report, json)?;
    Ok(ExitCode::SUCCESS)
}

/// The newest report of `shop`, or the one of `run`.
pub async fn show_report(
    at: &Deployment,
    shop: &str,
    run: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let store = at.store()?;
    let reports = store
        .reports(&ShopDomain::new(shop), REPORTS_SEARCHED)
        .await?;
    print_report(&find(reports, run)?, json)?;
    Ok(ExitCode::SUCCESS)
}

/// Undoes what `run` applied; the shop must be the one the reconcile settings serve.
pub async fn revert(at: &Deployment, shop: &str, run: &str) -> Result<ExitCode> {
    let reconciler = at.reconciler().await?;
    if reconciler.shop.as_str() != shop {
        return Err(CommandError::OtherShop {
            configured: reconciler.shop.to_string(),
            asked: shop.to_string(),
        }
        .into());
    }
    let reports = reconciler
        .store
        .reports(&ShopDomain::new(shop), REPORTS_SEARCHED)
        .await?;
    let original = find(reports, Some(run))?;
    let report = reconciler.revert(&original).await?;
    print_report(&report, false)?;
    Ok(ExitCode::SUCCESS)
}

/// The first of the stored reports (newest first) that is of `run`, or the first if no run.
fn find(reports: Vec<String>, run: Option<&str>) -> Result<ReconcileReport> {
    for r in reports {
        let report: ReconcileReport = serde_json::from_str(&r)?;
        if run.is_none_or(|want| report.run == want) {
            return Ok(report);
        }
    }
    Err(CommandError::NoReport {
        run: run.map(str::to_string),
    }
    .into())
}

/// The whole report as JSON, or [`print_summary`].
fn print_report(report: &ReconcileReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print_summary(report);
    }
    Ok(())
}

/// Per location, the unmapped locations, each variance with what was done, the corrections by
/// outcome and the alert.
fn print_summary(report: &ReconcileReport) {
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
        println!("{}", location_line(t));
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
        println!("{}", variance_line(v, done.as_ref()));
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
}

fn location_line(t: &LocationTally) -> String {
    format!(
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
    )
}

/// A variance and, if one was decided, its correction with the outcome.
fn variance_line(v: &Variance, done: Option<&ReportedCorrection>) -> String {
    format!(
        "  {:?} item {} at {}: {} units{}",
        v.kind,
        v.item,
        v.location,
        v.units,
        done.map(|d| format!(
            ", {} {}: {}",
            d.correction.side(),
            correction_summary(&d.correction),
            d.outcome
        ))
        .unwrap_or_default()
    )
}

/// `before -> after` of a correction.
fn correction_summary(c: &Correction) -> String {
    match c {
        Correction::RecordLevel { before, after, .. }
        | Correction::SetShopify { before, after, .. } => {
            format!("{before} -> {after}")
        }
        Correction::AdjustErp { before, after, .. } => format!("{before} -> {after}"),
        Correction::RepairCommitments { before, after, .. } => {
            format!("committed {before} -> {after} (fulfillment orders re-read)")
        }
        Correction::RecordQuantities { before, after, .. } => format!(
            "available {} -> {}, unavailable {} -> {}, incoming {} -> {}",
            before.available,
            after.available,
            before.on_hand - before.available - before.committed,
            after.on_hand - after.available - after.committed,
            before.incoming,
            after.incoming
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(run: &str) -> String {
        serde_json::to_string(&ReconcileReport {
            run: run.into(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn the_newest_report_or_the_one_of_the_run() {
        let reports = || vec![stored("r-2"), stored("r-1")];
        assert_eq!(find(reports(), None).unwrap().run, "r-2");
        assert_eq!(find(reports(), Some("r-1")).unwrap().run, "r-1");
        let missing = find(reports(), Some("r-0")).unwrap_err();
        assert_eq!(missing.to_string(), "no report for run r-0");
        assert_eq!(find(vec![], None).unwrap_err().to_string(), "no report");
    }

    #[test]
    fn a_stored_report_that_does_not_parse_is_an_error() {
        assert!(find(vec!["{".into()], None).is_err());
    }
}
