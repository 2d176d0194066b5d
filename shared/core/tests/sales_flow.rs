//! The order flow (`SalesFlow`, driven by the stock consumer) over the in-memory store, queue
//! and ERP: a paid order placed once whatever is delivered twice, its shipment made by the
//! sales order and not by the stock push (the ERP's on-hand the same as with the flow off), an
//! order waiting for payment, a test order's shipment pushed as stock, and the ERP down.

mod support;

use rust_decimal::Decimal;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_push::ErpPush;
use stockbridge_core::ports::{ErpError, SalesOrderState, SkuMapStore, StockStore, Wanted};
use stockbridge_core::sales_flow::SalesFlow;
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::event::{
    ItemRef, MovementKind, SalesLineKind, SalesOrderLine, StockChange,
};
use stockbridge_domain::ids::{LineItemId, LocationId, OrderId, VariantId};
use stockbridge_domain::sales::SalesSettings;
use stockbridge_domain::stock::OrderKey;
use stockbridge_memory::{EchoShopify, MemoryErp, MemoryQueue, MemoryStore};
use support::*;

type Flow = StockConsumer<MemoryStore, MemoryErp, MemoryQueue, EchoShopify<MemoryStore>, MemoryErp>;

fn consumer(store: &MemoryStore, erp: &MemoryErp, queue: &MemoryQueue) -> Flow {
    let push = ErpPush::new(erp.clone(), fast_push(), Metrics::silent("test-push"));
    StockConsumer::with_erp(
        store.clone(),
        Metrics::silent("test"),
        push,
        Some(queue.clone()),
    )
    .with_shopify(Some(EchoShopify::new(store.clone(), shop())))
    .with_sales(Some(SalesFlow::new(
        erp.clone(),
        Metrics::silent("test-sales"),
    )))
}

async fn drain(queue: &MemoryQueue, c: &Flow) {
    for _ in 0..100 {
        let batch = queue.receive(10);
        if batch.is_empty() {
            return;
        }
        let report = c.apply_messages(&batch).await;
        let failed: Vec<(String, String)> = batch
            .into_iter()
            .filter(|(id, _)| report.failed.contains(id))
            .collect();
        queue.redeliver(&failed);
    }
    panic!("the queue did not drain");
}

/// Order 1001: two tees and a gift card, at the warehouse (the order names it).
fn order(payment: &str, test: bool, n: u32) -> StockChange {
    StockChange::SalesOrder {
        order: OrderId(1001),
        number: "#1001".into(),
        payment: Some(payment.into()),
        test,
        cancelled: false,
        location: Some(LocationId(WH)),
        lines: vec![
            SalesOrderLine {
                line: LineItemId(1),
                item: Some(ItemRef {
                    variant: Some(VariantId(TEE.1)),
                    sku: None,
                }),
                quantity: 2,
                kind: SalesLineKind::Goods,
            },
            SalesOrderLine {
                line: LineItemId(2),
                item: None,
                quantity: 1,
                kind: SalesLineKind::GiftCard,
            },
        ],
        version: version(n),
    }
}

fn shipped(n: u32) -> StockChange {
    StockChange::Movement {
        movement: "fulfillment:9:1".into(),
        kind: MovementKind::Fulfilled,
        reference: "fulfillment 9 of order 1001".into(),
        item: ItemRef {
            variant: Some(VariantId(TEE.1)),
            sku: None,
        },
        location: Some(LocationId(WH)),
        quantity: 2,
        version: version(n),
        order: Some(OrderId(1001)),
        line: Some(LineItemId(1)),
    }
}

/// The day: the order created pending, then paid, then shipped, each delivered twice.
fn day(payment_then: &str, test: bool) -> Vec<(String, String)> {
    let events = vec![
        event(
            "o1",
            vec![
                commitment(1001, 1, TEE.1, Some(WH), 2, 1),
                order("pending", test, 1),
            ],
        ),
        event("o2", vec![order(payment_then, test, 2)]),
        event(
            "f1",
            vec![commitment(1001, 1, TEE.1, Some(WH), 0, 3), shipped(3)],
        ),
    ];
    let mut twice = events.clone();
    twice.extend(events);
    messages(&twice)
}

async fn run(settings: SalesSettings, payment_then: &str, test: bool) -> (MemoryStore, MemoryErp) {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    store.put_sales_settings(&shop(), settings).await.unwrap();
    let c = consumer(&store, &erp, &queue);
    for m in day(payment_then, test) {
        queue.redeliver(&[m]);
    }
    drain(&queue, &c).await;
    (store, erp)
}

const ON: SalesSettings = SalesSettings {
    enabled: true,
    authorized: false,
};

#[tokio::test(start_paused = true)]
async fn a_paid_order_is_placed_once_and_its_shipment_moves_stock_once() {
    let (_, erp) = run(ON, "paid", false).await;
    let orders = erp.sales_orders();
    assert_eq!(orders.len(), 1, "{orders:?}");
    let o = &orders[0];
    assert_eq!(o.reference, format!("shopify:{SHOP}:1001:WH"));
    assert_eq!(o.state, SalesOrderState::Confirmed);
    assert_eq!(
        o.lines.len(),
        1,
        "the gift card is no ERP line: {:?}",
        o.lines
    );
    assert_eq!(
        (o.lines[0].item.as_str(), o.lines[0].quantity),
        ("TEE", Decimal::from(2))
    );
    assert_eq!(o.shipped.len(), 1);
    assert_eq!(o.shipped[0].quantity, Decimal::from(2));
    // Moved once, by the sales order: the stock push wrote nothing for it.
    assert_eq!(erp.on_hand("WH", "TEE"), Some(Decimal::from(-2)));
    assert!(erp.writes().is_empty(), "{:?}", erp.writes());

    // The same day with the flow off: the same on-hand, through the stock push.
    let (_, off) = run(SalesSettings::default(), "paid", false).await;
    assert!(off.sales_orders().is_empty());
    assert_eq!(off.on_hand("WH", "TEE"), erp.on_hand("WH", "TEE"));
}

#[tokio::test(start_paused = true)]
async fn a_pending_order_waits_and_a_test_orders_shipment_is_pushed_as_stock() {
    let (store, erp) = run(ON, "pending", false).await;
    assert!(erp.sales_orders().is_empty(), "pending never places");
    // Carried (it may yet be paid): no ERP movement until it goes.
    assert_eq!(erp.on_hand("WH", "TEE"), None);
    assert!(owed(&store).is_empty());

    let (_, erp) = run(ON, "paid", true).await;
    assert!(erp.sales_orders().is_empty(), "a test order never goes");
    assert_eq!(erp.on_hand("WH", "TEE"), Some(Decimal::from(-2)));
}

#[tokio::test(start_paused = true)]
async fn the_erp_down_then_a_lost_answer_still_place_one_order() {
    let (store, erp, queue) = (mapped_store().await, MemoryErp::new(), MemoryQueue::new());
    store.put_sales_settings(&shop(), ON).await.unwrap();
    let c = consumer(&store, &erp, &queue);
    erp.fail_next(3, ErpError::Unavailable("503".into()));
    erp.lose_next_answers(1);
    for m in day("paid", false) {
        queue.redeliver(&[m]);
    }
    drain(&queue, &c).await;
    let orders = erp.sales_orders();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].shipped[0].quantity, Decimal::from(2));
    assert_eq!(erp.on_hand("WH", "TEE"), Some(Decimal::from(-2)));
}

/// Order 1001 with `tees` tees at the warehouse, as of second `n`.
fn order_of(tees: i64, n: u32) -> StockChange {
    let StockChange::SalesOrder {
        order,
        number,
        payment,
        test,
        cancelled,
        location,
        mut lines,
        ..
    } = order("paid", false, n)
    else {
        unreachable!()
    };
    lines[0].quantity = tees;
    StockChange::SalesOrder {
        order,
        number,
        payment,
        test,
        cancelled,
        location,
        lines,
        version: version(n),
    }
}

fn shipped_n(quantity: i64, n: u32) -> StockChange {
    let StockChange::Movement {
        movement,
        kind,
        reference,
        item,
        location,
        version: _,
        order,
        line,
        ..
    } = shipped(n)
    else {
        unreachable!()
    };
    StockChange::Movement {
        movement,
        kind,
        reference,
        item,
        location,
        quantity,
        version: version(n),
        order,
        line,
    }
}

/// Paid with 2, placed; edited to 3 (Tryton-like: refused on a confirmed order); 3 shipped.
/// The ERP order cannot ship 3, so the shipment goes back to the stock push: the ERP's stock
/// moves by 3, once, as with the flow off.
async fn edited_day(settings: SalesSettings, erp: &MemoryErp) -> MemoryStore {
    let (store, queue) = (mapped_store().await, MemoryQueue::new());
    store.put_sales_settings(&shop(), settings).await.unwrap();
    let c = consumer(&store, erp, &queue);
    let steps = vec![
        event(
            "o1",
            vec![commitment(1001, 1, TEE.1, Some(WH), 2, 1), order_of(2, 1)],
        ),
        event(
            "o2",
            vec![commitment(1001, 1, TEE.1, Some(WH), 3, 2), order_of(3, 2)],
        ),
        event(
            "f1",
            vec![commitment(1001, 1, TEE.1, Some(WH), 0, 3), shipped_n(3, 3)],
        ),
    ];
    for e in steps {
        queue.redeliver(&message(&e));
        drain(&queue, &c).await;
    }
    store
}

#[tokio::test(start_paused = true)]
async fn a_shipment_the_erp_order_cannot_carry_is_pushed_as_stock_once() {
    let erp = MemoryErp::new();
    edited_day(ON, &erp).await;
    let orders = erp.sales_orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        orders[0].lines[0].quantity,
        Decimal::from(2),
        "the edit was refused"
    );
    assert!(orders[0].shipped.is_empty(), "3 do not fit an order of 2");
    assert_eq!(erp.on_hand("WH", "TEE"), Some(Decimal::from(-3)));
    let off = MemoryErp::new();
    edited_day(SalesSettings::default(), &off).await;
    assert_eq!(off.on_hand("WH", "TEE"), erp.on_hand("WH", "TEE"));
}

#[tokio::test(start_paused = true)]
async fn an_order_the_erp_refuses_leaves_its_shipment_to_the_stock_push() {
    let erp = MemoryErp::new();
    erp.know_only(["MUG"]);
    let (store, queue) = (mapped_store().await, MemoryQueue::new());
    store.put_sales_settings(&shop(), ON).await.unwrap();
    let c = consumer(&store, &erp, &queue);
    for m in day("paid", false) {
        queue.redeliver(&[m]);
    }
    drain(&queue, &c).await;
    assert!(erp.sales_orders().is_empty());
    // The order gave its shipment back to the stock push, whose write the ERP refuses too
    // (the same unknown item): it is tried, and parked for an operator, as with the flow off.
    let mut wanted = Wanted::default();
    wanted.orders.insert(OrderKey {
        shop: shop(),
        order: OrderId(1001),
    });
    let record = &store.load(&wanted).await.unwrap().book.sales[&OrderKey {
        shop: shop(),
        order: OrderId(1001),
    }];
    let carried = &record.carried["fulfillment:9:1"];
    assert_eq!(
        (carried.effect, carried.told, carried.released),
        (-2, 0, -2)
    );
    assert!(
        record.exceptions.keys().any(|k| k.starts_with("place ")),
        "{:?}",
        record.exceptions
    );
    assert!(!erp.calls().is_empty(), "the stock push sent the shipment");
}
