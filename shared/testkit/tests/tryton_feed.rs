//! The Tryton feed (`ErpFeed for TrytonErp`) against a real Tryton 8.2 with `stock_supply`, run
//! via `bash infra/test.sh --test tryton_feed` (which exports `TRYTON_URL`, `TRYTON_API_KEY`,
//! the bootstrap's ids and `STOCKBRIDGE_TRYTON_STATE`).
//!
//! Tests share one Tryton and run in parallel: each creates its own products, takes the feed's
//! end before acting, and looks only at its own products' rows after it. Purchases, transfers
//! and counts are made over REST as an operator would; order points need Stock Administration,
//! which the integration user lacks, so the test creates them as the fixture's admin over
//! JSON-RPC.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::json;

use stockbridge_core::ports::{
    Change, Erp, ErpError, ErpFeed, ErpSales, FeedCursor, FeedMove, FeedPage, SalesLine,
    SalesMovement, SalesOrder,
};
use stockbridge_domain::erp_write::{ErpLine, ErpWrite, Incoming};
use stockbridge_domain::storefront::{own_document, OwnDocument};
use stockbridge_erp::tryton::TrytonErp;

mod support;

use support::tryton_rest::{date_in, dec, env, env_id, unique, Rest};

fn erp() -> TrytonErp {
    TrytonErp::new(env("TRYTON_URL"), env("TRYTON_API_KEY"), 1).expect("a loopback Tryton URL")
}

const WH: &str = "WH";
const STORE: &str = "STORE";

/// The feed's end now: read from the start until no page is full.
async fn end_of<T>(
    read: impl Fn(
        Option<FeedCursor>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<FeedPage<T>, ErpError>> + Send>,
    >,
) -> Option<FeedCursor> {
    let mut cursor = None;
    loop {
        let page = read(cursor.clone()).await.expect("feed page");
        if page.next.is_some() {
            cursor = page.next;
        }
        if !page.more {
            return cursor;
        }
    }
}

async fn moves_end() -> Option<FeedCursor> {
    end_of(|c| Box::pin(async move { erp().moves_after(c.as_ref(), 500).await })).await
}

async fn purchases_end() -> Option<FeedCursor> {
    end_of(|c| Box::pin(async move { erp().purchases_changed_after(c.as_ref(), 500).await })).await
}

async fn items_end() -> Option<FeedCursor> {
    end_of(|c| Box::pin(async move { erp().items_changed_after(c.as_ref(), 500).await })).await
}

/// Every move row after `from` of these items, reading pages of `limit`.
async fn moves_of(from: &Option<FeedCursor>, items: &[&str], limit: usize) -> Vec<FeedMove> {
    let erp = erp();
    let mut cursor = from.clone();
    let mut out = Vec::new();
    loop {
        let page = erp
            .moves_after(cursor.as_ref(), limit)
            .await
            .expect("moves");
        out.extend(
            page.rows
                .into_iter()
                .filter(|m| items.contains(&m.item.as_str())),
        );
        if page.next.is_some() {
            cursor = page.next;
        }
        if !page.more {
            return out;
        }
    }
}

/// Every item after `from` of a list of items changed.
async fn changed_after(
    from: &Option<FeedCursor>,
    purchases: bool,
) -> (Vec<String>, Option<FeedCursor>) {
    let erp = erp();
    let mut cursor = from.clone();
    let mut out = Vec::new();
    loop {
        let page = if purchases {
            erp.purchases_changed_after(cursor.as_ref(), 50).await
        } else {
            erp.items_changed_after(cursor.as_ref(), 50).await
        }
        .expect("changes");
        out.extend(page.rows);
        if page.next.is_some() {
            cursor = page.next;
        }
        if !page.more {
            return (out, cursor);
        }
    }
}

async fn on_hand(warehouse: &str, item: &str) -> Decimal {
    erp()
        .on_hand(warehouse, &[item.to_string()])
        .await
        .expect("on hand")
        .get(item)
        .copied()
        .unwrap_or_default()
}

fn sum(rows: &[FeedMove], warehouse: &str) -> Decimal {
    rows.iter()
        .filter(|m| m.warehouse == warehouse)
        .map(|m| m.quantity)
        .sum()
}

fn push(key: &str, item: &str, change: &str) -> ErpWrite {
    ErpWrite {
        key: key.to_string(),
        warehouse: WH.to_string(),
        reason: "stockbridge feed test".to_string(),
        as_of: "2026-01-01T00:00:00Z".to_string(),
        lines: vec![ErpLine {
            item: item.to_string(),
            change: dec(change),
            target: None,
        }],
    }
}

#[tokio::test]
async fn a_received_purchase_is_one_receipt_with_its_number() {
    let rest = Rest::new();
    let p = rest.products(&["rcv"]).await;
    let (code, id) = (&p[0].0, p[0].1);
    let from = moves_end().await;
    let before = on_hand(WH, code).await;
    let number = rest.purchase(&[(id, "7")], &date_in(20).1).await;
    assert!(
        moves_of(&from, &[code], 100).await.is_empty(),
        "a confirmed purchase moves nothing yet"
    );
    rest.receive(&[rest.incoming_move(id).await]).await;
    let rows = moves_of(&from, &[code], 100).await;
    assert_eq!(
        rows.len(),
        1,
        "supplier -> input changes no on-hand: {rows:?}"
    );
    let r = &rows[0];
    assert_eq!(
        (r.warehouse.as_str(), r.quantity, r.kind.as_str()),
        (WH, dec("7"), "receipt")
    );
    assert_eq!(r.reference.as_deref(), Some(number.as_str()));
    assert_eq!(r.counterpart, None);
    assert_eq!(on_hand(WH, code).await - before, sum(&rows, WH));
}

#[tokio::test]
async fn a_transfer_is_minus_and_plus_with_counterparts_and_a_push_is_ours() {
    let rest = Rest::new();
    let erp = erp();
    let p = rest.products(&["xfer"]).await;
    let (code, id) = (&p[0].0, p[0].1);
    let from = moves_end().await;
    let (wh0, st0) = (on_hand(WH, code).await, on_hand(STORE, code).await);
    let key = format!("sb-{}", unique("push"));
    erp.apply(&push(&key, code, "5")).await.expect("push");
    rest.transfer(
        id,
        env_id("TRYTON_WH_WH_STORAGE_ID"),
        env_id("TRYTON_WH_STORE_STORAGE_ID"),
        2.0,
    )
    .await;
    let rows = moves_of(&from, &[code], 100).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let pushed = &rows[0];
    assert_eq!(
        (
            pushed.warehouse.as_str(),
            pushed.quantity,
            pushed.kind.as_str()
        ),
        (WH, dec("5"), "adjustment")
    );
    let reference = pushed.reference.clone().expect("a reference");
    assert!(reference.starts_with(&key), "{reference}");
    assert_eq!(own_document(&reference), Some(OwnDocument::StockPush));
    let out = &rows[1];
    let into = &rows[2];
    assert_eq!(
        (out.warehouse.as_str(), out.quantity, out.kind.as_str()),
        (WH, dec("-2"), "transfer")
    );
    assert_eq!(out.counterpart.as_deref(), Some(STORE));
    assert_eq!(
        (into.warehouse.as_str(), into.quantity, into.kind.as_str()),
        (STORE, dec("2"), "transfer")
    );
    assert_eq!(into.counterpart.as_deref(), Some(WH));
    assert_eq!(own_document(into.reference.as_deref().unwrap_or("")), None);
    assert_eq!(on_hand(WH, code).await - wh0, sum(&rows, WH));
    assert_eq!(on_hand(STORE, code).await - st0, sum(&rows, STORE));
    assert_eq!(sum(&rows, WH), dec("3"));
}

#[tokio::test]
async fn an_inventory_count_is_an_adjustment() {
    let rest = Rest::new();
    let erp = erp();
    let p = rest.products(&["count"]).await;
    let (code, id) = (&p[0].0, p[0].1);
    let from = moves_end().await;
    let before = on_hand(WH, code).await;
    erp.apply(&push(&format!("sb-{}", unique("c")), code, "4"))
        .await
        .expect("push");
    let number = rest
        .count(id, env_id("TRYTON_WH_WH_STORAGE_ID"), 10.0)
        .await;
    let rows = moves_of(&from, &[code], 100).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[1].quantity, rows[1].kind.as_str()),
        (dec("6"), "adjustment")
    );
    assert_eq!(rows[1].reference.as_deref(), Some(number.as_str()));
    assert_eq!(on_hand(WH, code).await - before, sum(&rows, WH));
    assert_eq!(on_hand(WH, code).await, dec("10"));
}

#[tokio::test]
async fn pages_of_two_read_every_move_once_in_order_and_again_the_same() {
    let rest = Rest::new();
    let erp = erp();
    let p = rest.products(&["page"]).await;
    let code = &p[0].0;
    let from = moves_end().await;
    let before = on_hand(WH, code).await;
    let mut keys = Vec::new();
    for i in 0..5 {
        let key = format!("sb-{}-{i}", unique("pg"));
        erp.apply(&push(&key, code, &(i + 1).to_string()))
            .await
            .expect("push");
        keys.push(key);
    }
    let mut cursor = from.clone();
    let mut mine: Vec<FeedMove> = Vec::new();
    loop {
        let page = erp.moves_after(cursor.as_ref(), 2).await.expect("page");
        let ids: std::collections::BTreeSet<&str> =
            page.rows.iter().map(|m| m.id.as_str()).collect();
        assert!(ids.len() <= 2, "at most 2 moves a page: {:?}", page.rows);
        let again = erp
            .moves_after(cursor.as_ref(), 2)
            .await
            .expect("page again");
        if page.more {
            assert_eq!(again, page, "a page read twice is the same page");
        } else {
            // The last page may grow by what parallel tests did since; what it had stays.
            assert_eq!(
                again.rows.get(..page.rows.len()),
                Some(page.rows.as_slice()),
                "a page read twice starts with the same rows"
            );
        }
        mine.extend(page.rows.iter().filter(|m| &m.item == code).cloned());
        if page.next.is_some() {
            cursor = page.next;
        }
        if !page.more {
            break;
        }
    }
    let ids: Vec<&str> = mine.iter().map(|m| m.id.as_str()).collect();
    let distinct: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!((ids.len(), distinct.len()), (5, 5), "{mine:?}");
    let quantities: Vec<Decimal> = mine.iter().map(|m| m.quantity).collect();
    assert_eq!(
        quantities,
        ["1", "2", "3", "4", "5"].map(dec).to_vec(),
        "in the order done"
    );
    assert!(mine.windows(2).all(|w| w[0].done_at <= w[1].done_at));
    for (m, key) in mine.iter().zip(&keys) {
        assert!(
            m.reference
                .as_deref()
                .is_some_and(|r| r.starts_with(key.as_str())),
            "{m:?}"
        );
    }
    assert_eq!(on_hand(WH, code).await - before, sum(&mine, WH));
    assert!(matches!(
        erp.moves_after(Some(&FeedCursor("nonsense".into())), 2)
            .await,
        Err(ErpError::Rejected(_))
    ));
}

#[tokio::test]
async fn restock_shows_confirmed_moved_cancelled_and_received_purchases() {
    let rest = Rest::new();
    let erp = erp();
    let p = rest.products(&["ra", "rb"]).await;
    let (a, aid) = (p[0].0.clone(), p[0].1);
    let (b, bid) = (p[1].0.clone(), p[1].1);
    let items = vec![a.clone(), b.clone()];
    let start = purchases_end().await;
    let (d1, d1v) = date_in(15);
    rest.purchase(&[(aid, "5"), (bid, "3")], &d1v).await;

    let (changed, c1) = changed_after(&start, true).await;
    assert!(
        changed.contains(&a) && changed.contains(&b),
        "confirmed: {changed:?}"
    );
    let incoming = |item: &str, q: &str, date: &str| Incoming {
        item: item.to_string(),
        quantity: dec(q),
        expected: Some(date.to_string()),
    };
    let mut open = erp.open_purchases(&items).await.expect("open");
    open.sort_by(|x, y| x.item.cmp(&y.item));
    let mut want = vec![incoming(&a, "5", &d1), incoming(&b, "3", &d1)];
    want.sort_by(|x, y| x.item.cmp(&y.item));
    assert_eq!(open, want);
    let (nothing, _) = changed_after(&c1, true).await;
    assert!(
        !nothing.contains(&a) && !nothing.contains(&b),
        "{nothing:?}"
    );

    let (d2, d2v) = date_in(25);
    let a_move = rest.incoming_move(aid).await;
    rest.put(
        &format!("stock.move/{a_move}"),
        json!({"planned_date": d2v}),
    )
    .await;
    let (changed, c2) = changed_after(&c1, true).await;
    assert!(
        changed.contains(&a) && !changed.contains(&b),
        "date moved: {changed:?}"
    );
    let open = erp
        .open_purchases(std::slice::from_ref(&a))
        .await
        .expect("open");
    assert_eq!(open, vec![incoming(&a, "5", &d2)]);

    let b_move = rest.incoming_move(bid).await;
    rest.run("stock.move", b_move, &["cancel"]).await;
    let (changed, c3) = changed_after(&c2, true).await;
    // The move first; then Tryton's purchase processing writes the purchase, which shows its
    // other lines' items too (after, as their change is newer).
    assert_eq!(changed.first(), Some(&b), "cancelled: {changed:?}");
    assert_eq!(
        erp.open_purchases(std::slice::from_ref(&b))
            .await
            .expect("open"),
        vec![]
    );

    rest.receive(&[a_move]).await;
    let (changed, _) = changed_after(&c3, true).await;
    assert_eq!(changed.first(), Some(&a), "received: {changed:?}");
    assert_eq!(erp.open_purchases(&items).await.expect("open"), vec![]);
}

#[tokio::test]
async fn item_fields_round_trip_a_boolean_and_refuse_unknown_fields() {
    let rest = Rest::new();
    let erp = erp();
    let p = rest.products(&["field"]).await;
    let code = p[0].0.clone();
    let fields = vec!["template.salable".to_string(), "code".to_string()];
    let unknown = unique("none");
    let read = erp
        .item_fields(&[code.clone(), unknown.clone()], &fields)
        .await
        .expect("fields");
    assert_eq!(read.len(), 1, "an unknown item is absent: {read:?}");
    assert_eq!(read[&code]["template.salable"], "false");
    assert_eq!(read[&code]["code"], code);

    let from = items_end().await;
    erp.set_item_field(&code, "template.salable", "true")
        .await
        .expect("write");
    let read = erp
        .item_fields(std::slice::from_ref(&code), &fields)
        .await
        .expect("fields");
    assert_eq!(read[&code]["template.salable"], "true");
    let (changed, _) = changed_after(&from, false).await;
    assert!(changed.contains(&code), "{changed:?}");
    erp.set_item_field(&code, "template.salable", "false")
        .await
        .expect("write back");
    let read = erp
        .item_fields(std::slice::from_ref(&code), &fields)
        .await
        .expect("fields");
    assert_eq!(read[&code]["template.salable"], "false");

    for bad in ["template.nosuch", "nosuch"] {
        match erp
            .item_fields(std::slice::from_ref(&code), &[bad.to_string()])
            .await
        {
            Err(ErpError::Rejected(m)) => assert!(m.contains(bad), "{m}"),
            other => panic!("{bad}: {other:?}"),
        }
        match erp.set_item_field(&code, bad, "1").await {
            Err(ErpError::Rejected(m)) => assert!(m.contains(bad), "{m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert!(matches!(
        erp.set_item_field(&code, "template.salable", "maybe").await,
        Err(ErpError::Rejected(_))
    ));
}

#[tokio::test]
async fn order_points_give_the_minimum_at_their_warehouse() {
    let rest = Rest::new();
    let erp = erp();
    let p = rest.products(&["op", "nop"]).await;
    rest.order_point(p[0].1, env_id("TRYTON_WH_WH_ID"), 4.0)
        .await;
    let items = vec![p[0].0.clone(), p[1].0.clone()];
    let at_wh = erp.order_points(WH, &items).await.expect("order points");
    assert_eq!(at_wh, HashMap::from([(p[0].0.clone(), dec("4"))]));
    let at_store = erp.order_points(STORE, &items).await.expect("order points");
    assert!(at_store.is_empty(), "{at_store:?}");
}

#[tokio::test]
async fn a_sale_shipped_and_taken_back_carries_its_shopify_reference() {
    let rest = Rest::new();
    let erp = erp().with_sale_party(Some(env("TRYTON_SALE_PARTY")));
    let p = rest.goods(&["sale"], true).await;
    let code = p[0].0.clone();
    let from = moves_end().await;
    let before = on_hand(WH, &code).await;
    let line = |q: &str| SalesLine {
        line: "71".into(),
        item: code.clone(),
        quantity: dec(q),
    };
    let order = format!("shopify:{}:WH", unique("order"));
    erp.place(&SalesOrder {
        reference: order.clone(),
        number: "#1071".into(),
        warehouse: WH.into(),
        lines: vec![line("3")],
    })
    .await
    .expect("place");
    let movement = |key: String, q: &str| SalesMovement {
        order: order.clone(),
        key,
        warehouse: WH.into(),
        lines: vec![line(q)],
    };
    let shipped = movement(format!("shopify:{}:fulfillment", unique("f")), "2");
    assert_eq!(erp.ship(&shipped).await.expect("ship"), Change::Made);
    let back = movement(format!("shopify:{}:return", unique("r")), "1");
    assert_eq!(erp.take_back(&back).await.expect("take back"), Change::Made);

    let rows = moves_of(&from, &[&code], 100).await;
    assert_eq!(
        rows.len(),
        2,
        "storage -> output and input -> storage: {rows:?}"
    );
    assert_eq!(
        (rows[0].quantity, rows[0].kind.as_str()),
        (dec("-2"), "shipment")
    );
    assert_eq!(
        (rows[1].quantity, rows[1].kind.as_str()),
        (dec("1"), "shipment")
    );
    for r in &rows {
        let reference = r.reference.as_deref().unwrap_or("");
        assert_eq!(
            own_document(reference),
            Some(OwnDocument::SalesOrder),
            "{r:?}"
        );
    }
    assert_eq!(on_hand(WH, &code).await - before, sum(&rows, WH));
}
