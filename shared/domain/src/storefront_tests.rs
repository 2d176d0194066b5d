use super::*;
use crate::skumap::UomFactor;

use proptest::prelude::*;

fn t(secs: i64) -> Timestamp {
    Timestamp(secs * 1_000_000_000)
}

fn dec(n: i64) -> Decimal {
    Decimal::from(n)
}

#[test]
fn own_documents_are_recognised() {
    assert_eq!(
        own_document("sb-WH-0a1b2c:in"),
        Some(OwnDocument::StockPush)
    );
    assert_eq!(
        own_document("shopify:shop.myshopify.com:1001:WH"),
        Some(OwnDocument::SalesOrder)
    );
    assert_eq!(own_document("PO-2026-118"), None);
    assert_eq!(own_document(""), None);
}

#[test]
fn the_figure_is_on_hand_less_commitments_states_and_buffer() {
    let rule = SellRule {
        buffer: 2,
        sellable: true,
    };
    let d = derive(
        dec(20),
        UomFactor::identity().to_shopify(dec(20)),
        3,
        1,
        (rule, RuleSource::Location),
    );
    assert_eq!((d.on_hand, d.target), (20, 14));
    // Never below zero.
    let d = derive(
        dec(4),
        UomFactor::identity().to_shopify(dec(4)),
        3,
        1,
        (rule, RuleSource::Location),
    );
    assert_eq!(d.target, 0);
    // Never sellable: zero whatever is on hand.
    let shut = SellRule {
        buffer: 0,
        sellable: false,
    };
    let d = derive(
        dec(50),
        UomFactor::identity().to_shopify(dec(50)),
        0,
        0,
        (shut, RuleSource::Location),
    );
    assert_eq!(d.target, 0);
}

#[test]
fn units_round_down_to_whole_listings() {
    let dozen = UomFactor::new("dozen", "each").expect("units");
    let d = derive(
        dec(30),
        dozen.to_shopify(dec(30)),
        0,
        0,
        (SellRule::default(), RuleSource::Default),
    );
    assert_eq!((d.on_hand, d.target), (2, 2));
}

#[test]
fn an_item_rule_wins_over_its_location() {
    let mut rules = SellRules::default();
    rules.locations.insert(
        LocationId(1),
        SellRule {
            buffer: 5,
            sellable: true,
        },
    );
    rules.items.insert(
        (LocationId(1), InventoryItemId(9)),
        SellRule {
            buffer: 0,
            sellable: true,
        },
    );
    assert_eq!(
        rules.rule(LocationId(1), InventoryItemId(9)).1,
        RuleSource::Item
    );
    assert_eq!(rules.rule(LocationId(1), InventoryItemId(8)).0.buffer, 5);
    assert_eq!(
        rules.rule(LocationId(2), InventoryItemId(8)),
        (SellRule::default(), RuleSource::Default)
    );
    let json = serde_json::to_string(&rules).expect("json");
    assert!(json.contains("\"1/9\""), "{json}");
    assert_eq!(
        serde_json::from_str::<SellRules>(&json).expect("back"),
        rules
    );
    assert!(serde_json::from_str::<SellRules>(r#"{"items":{"x":{"buffer":1}}}"#).is_err());
    rules.locations.insert(
        LocationId(3),
        SellRule {
            buffer: -1,
            sellable: true,
        },
    );
    assert!(rules.check().is_err());
}

#[test]
fn the_reorder_signal_fires_once_per_window_and_a_recovery_re_arms_it() {
    let point = Some(dec(10));
    let s = ReorderState::default();
    let (s, fired) = reorder_step(s, dec(9), point, t(0));
    assert!(fired);
    // Still below: nothing.
    let (s, fired) = reorder_step(s, dec(8), point, t(5));
    assert!(!fired);
    // Recovered, then a second dip within the window: nothing.
    let (s, fired) = reorder_step(s, dec(12), point, t(30));
    assert!(!fired && s.armed);
    let (s, fired) = reorder_step(s, dec(9), point, t(60));
    assert!(!fired);
    // Still below after the window (it stayed armed): fires.
    let (s, fired) = reorder_step(s, dec(9), point, t(125));
    assert!(fired && !s.armed);
    // No point: never.
    let (_, fired) = reorder_step(ReorderState::default(), dec(0), None, t(0));
    assert!(!fired);
}

#[test]
fn the_next_restock_is_the_earliest_dated_line() {
    let lines = vec![
        (Some("2026-12-20".to_string()), dec(5)),
        (Some("2026-12-10".to_string()), dec(3)),
        (None, dec(7)),
        (Some("2026-12-10".to_string()), dec(2)),
        (Some("2026-12-01".to_string()), dec(0)),
    ];
    assert_eq!(
        next_restock(&lines),
        Some(Restock {
            date: "2026-12-10".into(),
            quantity: dec(5)
        })
    );
    assert_eq!(next_restock(&[]), None);
}

#[test]
fn field_values_are_checked_against_their_type() {
    let link = FieldLink {
        erp_field: "pre_order".into(),
        namespace: "stockbridge".into(),
        key: "pre_order".into(),
        kind: "boolean".into(),
        enabled: true,
    };
    assert_eq!(
        FieldMap::metafield_value(&link, "True").as_deref(),
        Ok("true")
    );
    assert!(FieldMap::metafield_value(&link, "perhaps").is_err());
    let int = FieldLink {
        kind: "number_integer".into(),
        ..link.clone()
    };
    assert!(FieldMap::metafield_value(&int, "1.5").is_err());
    let map = FieldMap {
        links: vec![
            link.clone(),
            FieldLink {
                enabled: false,
                ..link
            },
        ],
    };
    assert_eq!(map.enabled().count(), 1);
    assert!(map.check().is_ok());
}

#[test]
fn storefront_keys_differ_per_try_and_per_move() {
    let a = storefront_key("WH", "m1", InventoryItemId(1), LocationId(2), 0);
    assert_ne!(
        a,
        storefront_key("WH", "m1", InventoryItemId(1), LocationId(2), 1)
    );
    assert_ne!(
        a,
        storefront_key("WH", "m2", InventoryItemId(1), LocationId(2), 0)
    );
    assert_eq!(
        a,
        storefront_key("WH", "m1", InventoryItemId(1), LocationId(2), 0)
    );
    assert!(a.starts_with("sb-erp-") && a.len() < 40);
}

fn mv(id: u32) -> ErpMove {
    ErpMove {
        id: format!("m{id}"),
        quantity: dec(1),
        kind: "receipt".into(),
        document: None,
        done_at: t(i64::from(id)),
    }
}

proptest! {
    /// Any order and duplication of stock facts ends where the newest fact alone does.
    #[test]
    fn stock_facts_in_any_order_end_at_the_newest(
        facts in proptest::collection::vec((0i64..50, 0i64..100, 0u32..30), 1..30),
        seed in any::<u64>(),
    ) {
        let mut shuffled = facts.clone();
        // A deterministic shuffle with duplicates.
        let n = shuffled.len();
        for i in 0..n {
            let j = (seed as usize).wrapping_mul(i + 7) % n;
            shuffled.swap(i, j);
        }
        shuffled.extend(facts.iter().take(3).cloned());
        let mut rec = ErpStockRecord::default();
        for (at, on_hand, m) in &shuffled {
            rec.apply_stock(dec(*on_hand), t(*at), &[mv(*m)], None);
        }
        let newest = facts.iter().map(|f| f.0).max().expect("one");
        prop_assert_eq!(rec.as_of, Some(t(newest)));
        let expected: Vec<i64> = facts.iter().filter(|f| f.0 == newest).map(|f| f.1).collect();
        // Facts with the same time are the same statement; the first applied stands.
        prop_assert!(expected.contains(&rec.on_hand.expect("set").try_into().expect("small")));
        prop_assert!(rec.moves.len() <= KEEP_MOVES);
    }

    /// The figure is never below zero, and never above on-hand less the buffer.
    #[test]
    fn the_figure_is_bounded(on_hand in 0i64..1000, committed in 0i64..1000, un in 0i64..100, buffer in 0i64..50) {
        let d = derive(dec(on_hand), UomFactor::identity().to_shopify(dec(on_hand)), committed, un,
            (SellRule { buffer, sellable: true }, RuleSource::Location));
        prop_assert!(d.target >= 0);
        prop_assert!(d.target <= (on_hand - buffer).max(0));
    }
}
