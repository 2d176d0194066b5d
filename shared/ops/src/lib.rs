//! Operator actions, shared by the `stockbridge` command and the tests: import the SKU map (and
//! replay what was parked for it), list and replay parked events and quarantined deliveries.
//! Kept out of the core so that no Lambda links the CSV reader.
//!
//! - [`skumap_csv`]: the SKU map's CSV import, row by row with the reason for each refusal.
//! - [`backfill`]: a shop's existing stock taken into Stockbridge, resumable.
//! - [`erp_parked`]: ERP writes parked after repeated refusals, listed and released.
//! - [`status`]: the verdict of `stockbridge status` (healthy, degraded, failing) and its rules.
//! - [`dlq`]: what a dead-lettered message is and why it failed.
//! - [`skumap_suggest`]: a proposed SKU map, Shopify SKUs matched to ERP codes.

pub mod backfill;
pub mod dlq;
pub mod erp_parked;
pub mod skumap_csv;
pub mod skumap_suggest;
pub mod status;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::skumap_csv::{parse_items, parse_locations, Rejection};
use stockbridge_core::ports::{BodyStore, EventQueue, Inbox, PortError, SkuMapStore};
use stockbridge_domain::event::replay_key;
use stockbridge_domain::ids::ShopDomain;
use stockbridge_domain::resolve::{references, resolve};
use stockbridge_shopify::normalise::{normalise, Delivery, Normalised};

/// What an import wrote and refused.
#[derive(Debug, Default, Serialize)]
pub struct ImportSummary {
    pub items_written: usize,
    pub locations_written: usize,
    pub rejected_items: Vec<Rejection>,
    pub rejected_locations: Vec<Rejection>,
    pub replayed: Vec<ReplaySummary>,
}

/// Validates and writes the SKU map CSVs, then replays the parked events of every shop touched.
/// With `dry_run` nothing is written.
pub async fn import_skumap<S, Q>(
    store: &S,
    queue: &Q,
    items_csv: Option<&str>,
    locations_csv: Option<&str>,
    dry_run: bool,
) -> Result<ImportSummary, PortError>
where
    S: SkuMapStore + Inbox,
    Q: EventQueue,
{
    let mut summary = ImportSummary::default();
    let mut shops = BTreeSet::new();
    if let Some(text) = locations_csv {
        let report = parse_locations(text);
        let rows: Vec<_> = report.accepted.into_iter().map(|(_, r)| r).collect();
        shops.extend(rows.iter().map(|r| r.shop.clone()));
        if !dry_run {
            store.put_locations(&rows).await?;
        }
        summary.locations_written = rows.len();
        summary.rejected_locations = report.rejected;
    }
    if let Some(text) = items_csv {
        let report = parse_items(text);
        let rows: Vec<_> = report.accepted.into_iter().map(|(_, r)| r).collect();
        shops.extend(rows.iter().map(|r| r.shop.clone()));
        if !dry_run {
            store.put_items(&rows).await?;
        }
        summary.items_written = rows.len();
        summary.rejected_items = report.rejected;
    }
    if !dry_run {
        for shop in shops {
            summary
                .replayed
                .push(replay_parked(store, queue, &shop).await?);
        }
    }
    Ok(summary)
}

/// What a replay of parked events did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct ReplaySummary {
    pub shop: String,
    pub replayed: usize,
    pub still_waiting: usize,
}

/// Sends again every parked event of `shop` that the SKU map can now (at least partly) resolve,
/// under a new replay key, and removes it from the parking. What is still unmapped waits.
pub async fn replay_parked<S, Q>(
    store: &S,
    queue: &Q,
    shop: &ShopDomain,
) -> Result<ReplaySummary, PortError>
where
    S: SkuMapStore + Inbox,
    Q: EventQueue,
{
    let parked = store.list_parked(shop).await?;
    let mut summary = ReplaySummary {
        shop: shop.to_string(),
        ..ReplaySummary::default()
    };
    for p in parked {
        let (items, variants, skus) = references(&p.event);
        let map = store.lookup(shop, &items, &variants, &skus).await?;
        let resolved = resolve(&p.event, &map);
        if resolved.facts.is_empty() {
            summary.still_waiting += 1;
            continue;
        }
        let mut event = p.event.clone();
        event.key = replay_key(&p.event.key);
        queue.send(std::slice::from_ref(&event)).await?;
        if store.remove_parked(shop, &p.event.key).await? {
            summary.replayed += 1;
        }
    }
    Ok(summary)
}

/// Normalises quarantined deliveries of `shop` again (after a fix or a new release) and enqueues
/// what now normalises; those are removed from quarantine (and their body, if it was kept in the
/// body store). `only` limits it to one webhook id. Returns how many were replayed and how many
/// are still unusable; a body kept apart that is gone or not whole (size or SHA-256 differ)
/// counts as still unusable and stays listed.
pub async fn replay_quarantine<S, Q>(
    store: &S,
    queue: &Q,
    shop: &ShopDomain,
    only: Option<&str>,
) -> Result<(usize, usize), PortError>
where
    S: Inbox + BodyStore,
    Q: EventQueue,
{
    replay_quarantine_with(store, queue, None, shop, only).await
}

/// The same, with the ERP changes queue for quarantined ERP notifications (`erp/stock`, from
/// `POST /webhooks/erp`): those are read again as notifications and their events go there;
/// without `erp_queue` they stay listed.
pub async fn replay_quarantine_with<S, Q>(
    store: &S,
    queue: &Q,
    erp_queue: Option<&Q>,
    shop: &ShopDomain,
    only: Option<&str>,
) -> Result<(usize, usize), PortError>
where
    S: Inbox + BodyStore,
    Q: EventQueue,
{
    let (mut replayed, mut still_bad) = (0, 0);
    for entry in store.list_quarantine(shop).await? {
        if only.is_some_and(|id| id != entry.webhook_id) {
            continue;
        }
        let kept;
        let body = match &entry.body_ref {
            None => entry.body.as_bytes(),
            Some(at) => match store.get_body(at).await {
                Ok(bytes) if at.check(&bytes).is_ok() => {
                    kept = bytes;
                    &kept[..]
                }
                Ok(_) | Err(PortError::Corrupt { .. }) => {
                    still_bad += 1;
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        if entry.topic == stockbridge_core::erp_webhook::TOPIC {
            use stockbridge_core::erp_webhook::{events, parse};
            let (Some(erp_queue), Ok(events)) = (
                erp_queue,
                parse(body)
                    .and_then(|n| events(&n, std::slice::from_ref(&entry.shop), entry.received_at)),
            ) else {
                still_bad += 1;
                continue;
            };
            erp_queue.send(&events).await?;
            store.remove_quarantine(&entry).await?;
            if let Some(at) = &entry.body_ref {
                store.delete_body(at).await?;
            }
            replayed += 1;
            continue;
        }
        let delivery = Delivery {
            shop: &entry.shop,
            topic: &entry.topic,
            webhook_id: &entry.webhook_id,
            event_id: entry.event_id.as_deref(),
            api_version: entry.api_version.as_deref(),
            triggered_at: entry.triggered_at,
            received_at: entry.received_at,
            body,
        };
        match normalise(&delivery) {
            Ok(Normalised::Events(events)) => {
                queue.send(&events).await?;
            }
            Ok(Normalised::Acknowledge(_)) => {}
            Err(_) => {
                still_bad += 1;
                continue;
            }
        }
        store.remove_quarantine(&entry).await?;
        if let Some(at) = &entry.body_ref {
            store.delete_body(at).await?;
        }
        replayed += 1;
    }
    Ok((replayed, still_bad))
}
