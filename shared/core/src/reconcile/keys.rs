//! The names a run gives what it writes, each derived so a retry or a redelivery finds the first
//! one: the run's id, an ERP correction's key, and the level snapshot event (keyed per run, item
//! and location, so the consumer applies it once).

use stockbridge_domain::event::{
    EventBody, InventoryEvent, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp, Version};

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
    let webhook_id = format!("{run}:{item}:{location}");
    // One second before the read: Shopify's `updated_at` has whole seconds, so a change made
    // just after the read still carries a newer version than this snapshot.
    let as_of = Timestamp(read_at.0 - 1_000_000_000);
    InventoryEvent {
        schema: SCHEMA_VERSION,
        key: InventoryEvent::delivery_key(shop, &webhook_id, Part::WHOLE),
        shop: shop.clone(),
        source: Source {
            topic: RECONCILE_TOPIC.into(),
            webhook_id,
            event_id: None,
            api_version: None,
            triggered_at: as_of,
            received_at: Timestamp::now(),
        },
        part: Part::WHOLE,
        body: EventBody::Stock {
            changes: vec![StockChange::Available {
                item,
                location,
                available: Some(available),
                version: Version::new(as_of, as_of),
                connect: false,
            }],
        },
    }
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
}
