//! The names a run gives what it writes, each derived so a retry or a redelivery finds the first
//! one: the run's id, an ERP correction's key, the level and quantities snapshot events (keyed
//! per run, item and location, so the consumer applies each once) and the commitments repair's
//! `refresh` messages (keyed per run, location and part).

use stockbridge_domain::event::{
    EventBody, InventoryEvent, Part, ShopifyQuantities, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{
    FulfillmentOrderId, InventoryItemId, LocationId, ShopDomain, Timestamp, Version,
};
use stockbridge_domain::stock::StockKey;

use super::RECONCILE_TOPIC;

/// `rc-YYYYMMDDTHHMMSSZ-<ns>`: sorts by time, unique per run.
pub fn run_id(at: Timestamp) -> String {
    let rfc = at.to_rfc3339();
    let compact: String = rfc
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("rc-{compact}Z-{:09}", at.0.rem_euclid(1_000_000_000))
}

/// The key of an ERP correction: the same run, warehouse and item always give the same key.
pub fn correction_key(run: &str, warehouse: &str, item: InventoryItemId) -> String {
    stockbridge_domain::erp_write::push_key(
        warehouse,
        &[(format!("{run}#{item}"), 0)],
        u128::from(item.0),
    )
    .replacen("sb-", "rc-", 1)
}

/// The event that records Shopify's `available` in Stockbridge, through the normal pipeline.
pub fn level_snapshot(
    shop: &ShopDomain,
    run: &str,
    item: InventoryItemId,
    location: LocationId,
    available: i64,
    read_at: Timestamp,
) -> InventoryEvent {
    let at = as_of(read_at);
    let body = EventBody::Stock {
        changes: vec![StockChange::Available {
            item,
            location,
            available: Some(available),
            version: Version::new(at, at),
            connect: false,
        }],
    };
    run_event(shop, format!("{run}:{item}:{location}"), at, body)
}

/// One second before the read: Shopify's `updated_at` has whole seconds, so a change made just
/// after the read still carries a newer version than a snapshot made from it.
fn as_of(read_at: Timestamp) -> Timestamp {
    Timestamp(read_at.0 - 1_000_000_000)
}

/// An internal event of a run, keyed by `webhook_id` (unique per run and subject).
fn run_event(
    shop: &ShopDomain,
    webhook_id: String,
    at: Timestamp,
    body: EventBody,
) -> InventoryEvent {
    InventoryEvent {
        schema: SCHEMA_VERSION,
        key: InventoryEvent::delivery_key(shop, &webhook_id, Part::WHOLE),
        shop: shop.clone(),
        source: Source {
            topic: RECONCILE_TOPIC.into(),
            webhook_id,
            event_id: None,
            api_version: None,
            triggered_at: at,
            received_at: Timestamp::now(),
        },
        part: Part::WHOLE,
        body,
    }
}

/// The event that records every quantity name Shopify read in Stockbridge (a `Quantities`
/// fact, as the consumer's own reads make), versioned a second before the read.
pub fn quantities_snapshot(
    shop: &ShopDomain,
    run: &str,
    item: InventoryItemId,
    location: LocationId,
    quantities: ShopifyQuantities,
    read_at: Timestamp,
) -> InventoryEvent {
    let at = as_of(read_at);
    let body = EventBody::Stock {
        changes: vec![StockChange::Quantities {
            item,
            location,
            quantities: Some(quantities),
            version: Version::new(at, at),
        }],
    };
    run_event(shop, format!("{run}:q:{item}:{location}"), at, body)
}

/// Fulfillment orders or levels per `refresh` message (well under a queue message's size).
pub const REFRESH_CHUNK: usize = 500;

/// The `refresh` messages that repair `committed` at `location`: the consumer reads the open
/// fulfillment orders `fulfillment_orders` there and the differing levels `levels`, and applies
/// what Shopify says. In parts of at most [`REFRESH_CHUNK`] of each.
pub fn commitments_refresh(
    shop: &ShopDomain,
    run: &str,
    location: LocationId,
    fulfillment_orders: &[FulfillmentOrderId],
    levels: &[StockKey],
) -> Vec<InventoryEvent> {
    let fos: Vec<&[FulfillmentOrderId]> = fulfillment_orders.chunks(REFRESH_CHUNK).collect();
    let keys: Vec<&[StockKey]> = levels.chunks(REFRESH_CHUNK).collect();
    let parts = fos.len().max(keys.len());
    (0..parts)
        .map(|n| {
            let body = EventBody::Refresh {
                fulfillment_orders: fos.get(n).map(|c| c.to_vec()).unwrap_or_default(),
                levels: keys.get(n).map(|c| c.to_vec()).unwrap_or_default(),
                attempt: 0,
            };
            let id = format!("{run}:refresh:{location}:{n}");
            run_event(shop, id, Timestamp::now(), body)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time() {
        let a = run_id(Timestamp(1_795_000_000_000_000_000));
        let b = run_id(Timestamp(1_795_000_001_000_000_000));
        assert!(a < b, "{a} {b}");
        assert!(a.starts_with("rc-20") && a.contains('T'), "{a}");
    }

    #[test]
    fn correction_keys_are_stable_per_run_and_item() {
        let k = correction_key("rc-1", "WH", InventoryItemId(5));
        assert_eq!(k, correction_key("rc-1", "WH", InventoryItemId(5)));
        assert_ne!(k, correction_key("rc-2", "WH", InventoryItemId(5)));
        assert_ne!(k, correction_key("rc-1", "WH", InventoryItemId(6)));
        assert!(k.starts_with("rc-WH-"));
    }

    #[test]
    fn a_snapshot_is_versioned_a_second_before_the_read() {
        let shop = ShopDomain::new("t.myshopify.com");
        let e = level_snapshot(
            &shop,
            "rc-1",
            InventoryItemId(1),
            LocationId(2),
            7,
            Timestamp(5_000_000_000),
        );
        assert_eq!(e.source.topic, RECONCILE_TOPIC);
        let EventBody::Stock { changes } = &e.body else {
            panic!("not a stock event")
        };
        match &changes[0] {
            StockChange::Available {
                available, version, ..
            } => {
                assert_eq!(*available, Some(7));
                assert_eq!(version.as_of, Timestamp(4_000_000_000));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.key, "t.myshopify.com:rc-1:1:2:0");
    }

    #[test]
    fn a_quantities_snapshot_is_versioned_a_second_before_the_read() {
        let shop = ShopDomain::new("t.myshopify.com");
        let q = ShopifyQuantities {
            available: 3,
            damaged: 2,
            on_hand: 5,
            ..Default::default()
        };
        let e = quantities_snapshot(
            &shop,
            "rc-1",
            InventoryItemId(1),
            LocationId(2),
            q,
            Timestamp(5_000_000_000),
        );
        let EventBody::Stock { changes } = &e.body else {
            panic!("not a stock event")
        };
        assert_eq!(
            changes[0],
            StockChange::Quantities {
                item: InventoryItemId(1),
                location: LocationId(2),
                quantities: Some(q),
                version: Version::new(Timestamp(4_000_000_000), Timestamp(4_000_000_000)),
            }
        );
        assert_ne!(
            e.key,
            level_snapshot(
                &shop,
                "rc-1",
                InventoryItemId(1),
                LocationId(2),
                3,
                Timestamp(5_000_000_000)
            )
            .key
        );
    }

    #[test]
    fn a_commitments_refresh_names_the_fulfillment_orders_and_levels_in_parts() {
        let shop = ShopDomain::new("t.myshopify.com");
        let fos: Vec<FulfillmentOrderId> = (1..=REFRESH_CHUNK as u64 + 1)
            .map(FulfillmentOrderId)
            .collect();
        let key = StockKey {
            shop: shop.clone(),
            item: InventoryItemId(1),
            location: LocationId(2),
        };
        let events = commitments_refresh(
            &shop,
            "rc-1",
            LocationId(2),
            &fos,
            std::slice::from_ref(&key),
        );
        assert_eq!(events.len(), 2);
        let EventBody::Refresh {
            fulfillment_orders,
            levels,
            attempt,
        } = &events[0].body
        else {
            panic!("not a refresh")
        };
        assert_eq!(
            (fulfillment_orders.len(), levels.clone(), *attempt),
            (REFRESH_CHUNK, vec![key], 0)
        );
        assert_ne!(events[0].key, events[1].key);
    }
}
