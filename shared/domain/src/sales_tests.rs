//! The order flow's decisions and the one-movement rule, through `plan_batch`.

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;

use super::*;
use crate::batch::{plan_batch, Masters, ResolvedEvent};
use crate::event::{MovementKind, SalesLineKind, Source};
use crate::ids::{LocationId, OrderId, ShopDomain, Timestamp, Version};
use crate::skumap::Master;
use crate::stock::{Book, Fact, MovementKey, OrderKey, StockKey};

const ON: SalesSettings = SalesSettings {
    enabled: true,
    authorized: false,
};

fn shop() -> ShopDomain {
    ShopDomain::new("sales.myshopify.com")
}

fn key(location: u64) -> StockKey {
    StockKey {
        shop: shop(),
        item: InventoryItemId(7),
        location: LocationId(location),
    }
}

fn order_key() -> OrderKey {
    OrderKey {
        shop: shop(),
        order: OrderId(1001),
    }
}

fn snapshot(payment: &str, test: bool, cancelled: bool, n: i64) -> Fact {
    Fact::SalesOrder {
        key: order_key(),
        snapshot: OrderSnapshot {
            number: "#1001".into(),
            payment: Some(payment.into()),
            test,
            cancelled,
            lines: vec![
                (
                    LineItemId(1),
                    Some(InventoryItemId(7)),
                    3,
                    SalesLineKind::Goods,
                ),
                (LineItemId(2), None, 1, SalesLineKind::GiftCard),
            ],
            version: Version::new(Timestamp(n * 1000), Timestamp(n)),
        },
        settings: ON,
        at: Timestamp(n),
    }
}

fn movement(
    id: &str,
    location: u64,
    kind: MovementKind,
    quantity: i64,
    n: i64,
    carry: bool,
) -> Fact {
    Fact::Movement {
        movement: MovementKey {
            shop: shop(),
            id: id.into(),
        },
        key: key(location),
        kind,
        reference: id.into(),
        quantity,
        version: Version::new(Timestamp(n * 1000), Timestamp(n)),
        carry: carry.then_some((OrderId(1001), LineItemId(1))),
    }
}

fn event(n: usize, fact: Fact) -> ResolvedEvent {
    ResolvedEvent {
        key: format!("e{n}"),
        shop: shop(),
        source: Source::internal("test", Timestamp(n as i64)),
        facts: vec![fact],
        unresolved: None,
    }
}

fn masters() -> Masters {
    HashMap::from([
        ((shop(), LocationId(1)), Master::Erp),
        ((shop(), LocationId(2)), Master::Shopify),
    ])
}

fn run(facts: Vec<Fact>) -> Book {
    let events: Vec<ResolvedEvent> = facts
        .into_iter()
        .enumerate()
        .map(|(n, f)| event(n, f))
        .collect();
    let mut book = Book::default();
    let mut applied = HashSet::new();
    for e in events.chunks(1) {
        let plan = plan_batch(book, &applied, e, &masters());
        applied.extend(plan.new_keys().map(|(k, _)| k.to_string()));
        book = plan.book;
    }
    book
}

#[test]
fn payment_test_and_setting_decide_whether_an_order_goes() {
    let mut r = SalesRecord {
        version: Some(Version::new(Timestamp(1), Timestamp(1))),
        payment: Some("paid".into()),
        ..SalesRecord::default()
    };
    assert!(matches!(
        decide(&r, ON, Timestamp(5)),
        Decision::Goes {
            since: Timestamp(5)
        }
    ));
    assert!(matches!(
        decide(&r, SalesSettings::default(), Timestamp(5)),
        Decision::Never { .. }
    ));
    r.payment = Some("authorized".into());
    assert!(matches!(
        decide(&r, ON, Timestamp(5)),
        Decision::Waits { .. }
    ));
    let auth = SalesSettings {
        enabled: true,
        authorized: true,
    };
    assert!(matches!(
        decide(&r, auth, Timestamp(5)),
        Decision::Goes { .. }
    ));
    r.payment = Some("pending".into());
    assert!(matches!(
        decide(&r, ON, Timestamp(5)),
        Decision::Waits { .. }
    ));
    r.payment = Some("voided".into());
    assert!(matches!(
        decide(&r, ON, Timestamp(5)),
        Decision::Never { .. }
    ));
    r.payment = Some("paid".into());
    r.test = true;
    assert!(matches!(
        decide(&r, ON, Timestamp(5)),
        Decision::Never { .. }
    ));
    // Final once decided.
    r.test = false;
    r.decision = Decision::Goes {
        since: Timestamp(1),
    };
    r.payment = Some("voided".into());
    assert_eq!(
        decide(&r, ON, Timestamp(9)),
        Decision::Goes {
            since: Timestamp(1)
        }
    );
}

#[test]
fn a_paid_order_carries_its_shipment_and_the_stock_push_owes_nothing_for_it() {
    let book = run(vec![
        snapshot("paid", false, false, 1),
        movement("fulfillment:9:1", 1, MovementKind::Fulfilled, 3, 2, true),
    ]);
    assert_eq!(book.level(&key(1)).erp_owed, 0, "the sales order ships it");
    let record = &book.sales[&order_key()];
    assert_eq!(record.carried["fulfillment:9:1"].effect, -3);
    assert_eq!(record.skipped_lines, 1, "the gift card is not an ERP line");
}

#[test]
fn a_movement_before_its_order_is_carried_then_given_back_when_the_order_never_goes() {
    let book = run(vec![
        movement("fulfillment:9:1", 1, MovementKind::Fulfilled, 3, 1, true),
        snapshot("paid", true, false, 2),
    ]);
    assert_eq!(
        book.level(&key(1)).erp_owed,
        -3,
        "a test order's shipment is stock"
    );
    assert!(book.sales[&order_key()].carried.is_empty());
}

#[test]
fn with_the_flow_off_nothing_is_carried_and_no_record_is_kept() {
    let mut off = snapshot("paid", false, false, 1);
    if let Fact::SalesOrder { settings, .. } = &mut off {
        *settings = SalesSettings::default();
    }
    let book = run(vec![
        off,
        movement("fulfillment:9:1", 1, MovementKind::Fulfilled, 3, 2, false),
    ]);
    assert_eq!(book.level(&key(1)).erp_owed, -3);
    assert!(book.sales.is_empty());
}

#[test]
fn steps_place_per_warehouse_then_ship_what_was_carried_once() {
    let mut record = SalesRecord::default();
    let snap = OrderSnapshot {
        number: "#1001".into(),
        payment: Some("paid".into()),
        test: false,
        cancelled: false,
        lines: vec![(
            LineItemId(1),
            Some(InventoryItemId(7)),
            3,
            SalesLineKind::Goods,
        )],
        version: Version::new(Timestamp(1), Timestamp(1)),
    };
    record.observe(&snap, ON, Timestamp(1));
    let wh = |l: LocationId| Some(format!("W{}", l.0));
    let none = BTreeMap::new();
    assert_eq!(
        next_steps(&shop(), OrderId(1001), &record, &none, wh),
        Err(Wait::Routing(LineItemId(1)))
    );
    let counted = BTreeMap::from([(
        LineItemId(1),
        BTreeMap::from([(LocationId(1), 2), (LocationId(2), 1)]),
    )]);
    let steps = next_steps(&shop(), OrderId(1001), &record, &counted, wh).unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    for s in &steps {
        let SalesStep::Place(w) = s else {
            panic!("{s:?}")
        };
        record.placed.insert(
            w.warehouse.clone(),
            Placed {
                reference: w.reference.clone(),
                lines: w.lines.iter().map(|(l, (_, q))| (*l, *q)).collect(),
                cancelled: false,
            },
        );
    }
    assert!(next_steps(&shop(), OrderId(1001), &record, &counted, wh)
        .unwrap()
        .is_empty());
    record.carry("fulfillment:9:1", key(1), LineItemId(1), -2);
    let steps = next_steps(&shop(), OrderId(1001), &record, &counted, wh).unwrap();
    assert!(
        matches!(&steps[..], [SalesStep::Move { change: -2, .. }]),
        "{steps:?}"
    );
    record.carried.get_mut("fulfillment:9:1").unwrap().told = -2;
    assert!(next_steps(&shop(), OrderId(1001), &record, &counted, wh)
        .unwrap()
        .is_empty());
}

proptest! {
    /// The one-movement rule: at an ERP-master location, whatever the order of the facts and
    /// their duplicates, what the stock push owes plus what the order carries equals what the
    /// stock push owes with the flow off. So the ERP's on-hand is the same either way.
    #[test]
    fn carried_plus_pushed_equals_pushed_with_the_flow_off(
        steps in prop::collection::vec((0u8..5, 1i64..5), 1..12),
        payment in prop::sample::select(vec!["paid", "pending", "voided", "authorized"]),
        test in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let facts_with = |carry: bool| -> Vec<Fact> {
            let mut v = Vec::new();
            for (n, (kind, q)) in steps.iter().enumerate() {
                let n = n as i64 + 1;
                let kind = match kind {
                    0 => MovementKind::Fulfilled,
                    1 => MovementKind::FulfillmentCancelled,
                    2 => MovementKind::RestockedReturn,
                    3 => MovementKind::RemovedNoRestock,
                    _ => MovementKind::Fulfilled,
                };
                v.push(movement(&format!("fulfillment:{}:1", n % 3), 1, kind, *q, n, carry));
            }
            let mut s = snapshot(payment, test, false, 5);
            if !carry {
                if let Fact::SalesOrder { settings, .. } = &mut s {
                    *settings = SalesSettings::default();
                }
            }
            v.push(s);
            v
        };
        let shuffle = |mut v: Vec<Fact>| {
            let mut state = seed | 1;
            for i in (1..v.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                v.swap(i, (state % (i as u64 + 1)) as usize);
            }
            v
        };
        let on = run(shuffle(facts_with(true)));
        let off = run(facts_with(false));
        let carried: i64 = on.sales.values().flat_map(|r| r.carried.values()).map(|c| c.effect).sum();
        prop_assert_eq!(on.level(&key(1)).erp_owed + carried, off.level(&key(1)).erp_owed);
    }
}

/// A POS sale on a Shopify-master shop floor: with the flow on the stock push owes nothing
/// for it (the sales order ships it); off, it owes the shipment.
#[test]
fn a_pos_sale_at_a_shopify_master_location_is_shipped_once() {
    use crate::event::ShopifyQuantities;
    use crate::stock::LineKey;
    let v = |n: i64| Version::new(Timestamp(n * 1000), Timestamp(n));
    let day = |on: bool| {
        let mut s = snapshot("paid", false, false, 2);
        if let Fact::SalesOrder { settings, .. } = &mut s {
            settings.enabled = on;
        }
        vec![
            Fact::Quantities {
                key: key(2),
                quantities: Some(ShopifyQuantities {
                    available: 10,
                    on_hand: 10,
                    ..ShopifyQuantities::default()
                }),
                version: v(1),
            },
            s,
            Fact::Commitment {
                line: LineKey {
                    shop: shop(),
                    line: LineItemId(1),
                },
                order: OrderId(1001),
                item: InventoryItemId(7),
                named: Some(LocationId(2)),
                open: 0,
                version: v(3),
            },
            Fact::Available {
                key: key(2),
                available: Some(7),
                version: v(3),
            },
            movement("fulfillment:9:1", 2, MovementKind::Fulfilled, 3, 3, on),
        ]
    };
    let on = run(day(true));
    let off = run(day(false));
    // The first read explains the 10 found there (owed from 0); then the sale.
    assert_eq!(off.level(&key(2)).erp_owed, 10 - 3);
    assert_eq!(on.level(&key(2)).erp_owed, 10);
    assert_eq!(
        on.level(&key(2)).carried,
        0,
        "consumed when the level settled"
    );
    assert_eq!(on.sales[&order_key()].carried["fulfillment:9:1"].effect, -3);
}
