//! Quantity arithmetic never wraps or panics, whatever a fact or a stored record holds: a fact
//! beyond `MAX_QUANTITY`, a sum that would leave the bounds, or a debt to the ERP that would
//! overflow is refused, logged on the stock record, and reported in `Plan::refused`; everything
//! else in the batch is applied.

use std::collections::HashSet;

use stockbridge_domain::apply::apply_change;
use stockbridge_domain::batch::{plan_batch, Masters, ResolvedEvent};
use stockbridge_domain::event::{MovementKind, Source};
use stockbridge_domain::ids::{
    InventoryItemId, LineItemId, LocationId, OrderId, ShopDomain, Timestamp, Version,
};
use stockbridge_domain::skumap::Master;
use stockbridge_domain::stock::{
    Book, Effect, Fact, LineKey, MovementKey, StockLevel, MAX_COMMITTED, MAX_QUANTITY,
};

fn shop() -> ShopDomain {
    ShopDomain::new("bounds.myshopify.com")
}

fn key(location: u64) -> stockbridge_domain::stock::StockKey {
    stockbridge_domain::stock::StockKey {
        shop: shop(),
        item: InventoryItemId(7),
        location: LocationId(location),
    }
}

fn v(t: i64) -> Version {
    Version::new(Timestamp(t), Timestamp(t))
}

fn event(n: usize, facts: Vec<Fact>) -> ResolvedEvent {
    ResolvedEvent {
        key: format!("e{n}"),
        shop: shop(),
        source: Source {
            topic: "test".into(),
            webhook_id: format!("w{n}"),
            event_id: None,
            api_version: None,
            triggered_at: Timestamp(0),
            received_at: Timestamp(0),
        },
        facts,
        unresolved: None,
    }
}

fn movement(id: &str, quantity: i64, t: i64) -> Fact {
    Fact::Movement {
        movement: MovementKey {
            shop: shop(),
            id: id.into(),
        },
        key: key(1),
        kind: MovementKind::Fulfilled,
        reference: "test".into(),
        quantity,
        version: v(t),
        carry: None,
    }
}

fn commitment(line: u64, open: i64, t: i64) -> Fact {
    Fact::Commitment {
        line: LineKey {
            shop: shop(),
            line: LineItemId(line),
        },
        order: OrderId(1),
        item: key(1).item,
        named: Some(key(1).location),
        open,
        version: v(t),
    }
}

#[test]
fn facts_beyond_the_bound_are_refused_and_change_nothing() {
    let mut book = Book::default();
    for fact in [
        Fact::Available {
            key: key(1),
            available: Some(MAX_QUANTITY + 1),
            version: v(1),
        },
        Fact::Available {
            key: key(1),
            available: Some(i64::MIN),
            version: v(2),
        },
        commitment(1, i64::MAX, 3),
        movement("fulfillment:1:1", i64::MIN, 4),
        movement("fulfillment:1:2", MAX_QUANTITY + 1, 5),
    ] {
        assert!(
            matches!(apply_change(&mut book, &fact), Effect::OutOfRange(..)),
            "{fact:?}"
        );
    }
    assert_eq!(book, Book::default(), "nothing was applied");
    // At the bound it is applied.
    let at = Fact::Available {
        key: key(1),
        available: Some(-MAX_QUANTITY),
        version: v(6),
    };
    assert!(matches!(apply_change(&mut book, &at), Effect::Changed(_)));
}

#[test]
fn a_sum_that_would_leave_the_bounds_is_refused() {
    let mut book = Book::default();
    book.levels.insert(
        key(1),
        StockLevel {
            committed: MAX_COMMITTED,
            ..StockLevel::default()
        },
    );
    assert!(matches!(
        apply_change(&mut book, &commitment(1, 1, 1)),
        Effect::OutOfRange(..)
    ));
    assert_eq!(book.level(&key(1)).committed, MAX_COMMITTED);
    assert!(book.lines.is_empty(), "the line was not recorded either");
}

#[test]
fn a_debt_to_the_erp_that_would_overflow_is_refused_and_logged_not_wrapped() {
    let mut book = Book::default();
    book.levels.insert(
        key(1),
        StockLevel {
            erp_owed: i64::MIN + 1,
            ..StockLevel::default()
        },
    );
    let mut masters = Masters::new();
    masters.insert((shop(), LocationId(1)), Master::Erp);
    let events = [
        event(1, vec![movement("fulfillment:9:1", 5, 1)]),
        event(2, vec![commitment(3, i64::MAX, 2)]),
    ];
    let plan = plan_batch(book, &HashSet::new(), &events, &masters);
    assert_eq!(
        plan.book.level(&key(1)).erp_owed,
        i64::MIN + 1,
        "not wrapped"
    );
    assert_eq!(plan.refused.len(), 2, "{:?}", plan.refused);
    assert!(plan.refused.iter().any(|(k, _)| k == "e1"));
    assert!(plan.refused.iter().any(|(k, _)| k == "e2"));
    let entry = plan
        .ledger
        .iter()
        .find(|e| e.key == key(1))
        .expect("logged");
    assert!(
        entry
            .causes
            .iter()
            .any(|c| c.note.as_deref().is_some_and(|n| n.starts_with("refused"))),
        "{entry:?}"
    );
}
