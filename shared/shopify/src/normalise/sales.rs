//! The [`StockChange::SalesOrder`] of an `orders/*` payload: what the order flow needs to place
//! the order in the ERP as a sales order (ids, number, payment and test flags, every line with
//! what it is and how many units it holds now). Nothing personal is read.

use stockbridge_domain::event::{SalesLineKind, SalesOrderLine, StockChange};
use stockbridge_domain::ids::{LineItemId, LocationId, OrderId, Version};

use crate::payload;
use crate::redact::is_status_word;

/// Why an order cannot become a sales order. Each is quarantined as `unmappable` (a missing
/// field) or `bad_field` (a payment status that is no status word) for an operator to replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SalesOrderError {
    /// Shopify names every order (`name`, `#1001`); without it the ERP order has no number.
    NoNumber,
    /// A line without an id cannot be revised or shipped later.
    LineWithoutId,
    /// A line with neither `current_quantity` nor `quantity` holds an unknown number of units.
    LineWithoutQuantity,
    /// `financial_status` is text but no status word (`[a-z_]`, at most 40 bytes).
    PaymentNotAWord,
}

impl SalesOrderError {
    pub(super) fn detail(self) -> &'static str {
        match self {
            SalesOrderError::NoNumber => {
                "the order has no name (its number, e.g. #1001), which Shopify always sends"
            }
            SalesOrderError::LineWithoutId => "a line item has no id",
            SalesOrderError::LineWithoutQuantity => {
                "a line item has neither current_quantity nor quantity"
            }
            SalesOrderError::PaymentNotAWord => {
                "financial_status is not a status word ([a-z_], at most 40 characters)"
            }
        }
    }
}

/// The sales order an `orders/*` payload describes. `test` absent reads as not a test order
/// (Shopify sends it on every order; its documented samples all have it).
pub(super) fn sales_order(
    p: &payload::Order,
    order: u64,
    version: Version,
) -> Result<StockChange, SalesOrderError> {
    let number = p
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or(SalesOrderError::NoNumber)?;
    if p.financial_status
        .as_deref()
        .is_some_and(|s| !is_status_word(s))
    {
        return Err(SalesOrderError::PaymentNotAWord);
    }
    let lines = p
        .line_items
        .iter()
        .map(sales_line)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StockChange::SalesOrder {
        order: OrderId(order),
        number: number.to_string(),
        payment: p.financial_status.clone(),
        test: p.test == Some(true),
        cancelled: p.cancelled_at.is_some(),
        location: p.location_id.map(LocationId),
        lines,
        version,
    })
}

/// One line: goods through the SKU map, a gift card, or a line with no product behind it
/// (custom item, tip). Units are `current_quantity` (after edits and removals, REST 2024-01
/// on), else `quantity`.
fn sales_line(line: &payload::LineItem) -> Result<SalesOrderLine, SalesOrderError> {
    let id = line.id.ok_or(SalesOrderError::LineWithoutId)?;
    let quantity = line
        .current_quantity
        .or(line.quantity)
        .ok_or(SalesOrderError::LineWithoutQuantity)?;
    let item = super::item_ref(line);
    let kind = if line.gift_card == Some(true) {
        SalesLineKind::GiftCard
    } else if item.is_none() {
        SalesLineKind::NotStocked
    } else {
        SalesLineKind::Goods
    };
    Ok(SalesOrderLine {
        line: LineItemId(id),
        item,
        quantity,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use stockbridge_domain::event::{EventBody, ItemRef};
    use stockbridge_domain::ids::{ShopDomain, Timestamp, VariantId};

    use super::*;
    use crate::normalise::{normalise, Delivery, Normalised, Unusable};

    fn deliver(topic: &str, body: &str) -> Result<Normalised, Unusable> {
        let shop = ShopDomain::new("t.myshopify.com");
        normalise(&Delivery {
            shop: &shop,
            topic,
            webhook_id: "wh-1",
            event_id: None,
            api_version: Some("2026-04"),
            triggered_at: Timestamp::parse("2026-11-27T10:00:00Z"),
            received_at: Timestamp::parse("2026-11-27T10:00:01Z").unwrap(),
            body: body.as_bytes(),
        })
    }

    fn changes(n: Result<Normalised, Unusable>) -> Vec<StockChange> {
        let Ok(Normalised::Events(events)) = n else {
            panic!("expected events, got {n:?}")
        };
        events
            .into_iter()
            .flat_map(|e| match e.body {
                EventBody::Stock { changes } => changes,
                other => panic!("not stock: {other:?}"),
            })
            .collect()
    }

    /// The sales order of a delivery, which comes last.
    fn sales(topic: &str, body: &str) -> StockChange {
        let c = changes(deliver(topic, body));
        let last = c.last().cloned().expect("a change");
        assert!(matches!(last, StockChange::SalesOrder { .. }), "{c:?}");
        assert_eq!(
            c.iter()
                .filter(|c| matches!(c, StockChange::SalesOrder { .. }))
                .count(),
            1
        );
        last
    }

    const MIXED: &str = r##"{"id":450789469,"name":"#1001","financial_status":"partially_paid",
        "test":false,"location_id":72,"email":"jon@example.com","updated_at":"2026-11-27T09:00:00Z",
        "customer":{"first_name":"Jon","phone":"555"},"note":"ring the bell",
        "line_items":[
          {"id":1,"variant_id":808950810,"sku":"TEE-M","quantity":3,"current_quantity":2,"fulfillable_quantity":2,"gift_card":false,"name":"Tee"},
          {"id":2,"variant_id":null,"sku":"MUG","quantity":4,"fulfillable_quantity":4},
          {"id":3,"variant_id":4242,"sku":"GIFT-25","quantity":1,"current_quantity":1,"gift_card":true,"title":"Gift card"},
          {"id":4,"variant_id":null,"sku":null,"quantity":1,"current_quantity":1,"title":"Tip","gift_card":false},
          {"id":5,"variant_id":null,"sku":"  ","quantity":2,"current_quantity":0,"title":"Engraving (custom)"}]}"##;

    #[test]
    fn every_line_is_on_the_sales_order_with_its_kind_and_current_units() {
        let c = changes(deliver("orders/create", MIXED));
        // Commitments only for goods; the sales order names every line.
        assert_eq!(
            c.iter()
                .filter(|c| matches!(c, StockChange::Commitment { .. }))
                .count(),
            2
        );
        let StockChange::SalesOrder {
            order,
            number,
            payment,
            test,
            cancelled,
            location,
            lines,
            version,
        } = sales("orders/create", MIXED)
        else {
            unreachable!()
        };
        assert_eq!(order, OrderId(450789469));
        assert_eq!(number, "#1001");
        assert_eq!(payment.as_deref(), Some("partially_paid"));
        assert!(!test && !cancelled);
        assert_eq!(location, Some(LocationId(72)));
        assert_eq!(version, c[0].version(), "versioned as the commitments");
        let seen: Vec<(u64, i64, SalesLineKind)> = lines
            .iter()
            .map(|l| (l.line.0, l.quantity, l.kind))
            .collect();
        assert_eq!(
            seen,
            [
                (1, 2, SalesLineKind::Goods),
                (2, 4, SalesLineKind::Goods),
                (3, 1, SalesLineKind::GiftCard),
                (4, 1, SalesLineKind::NotStocked),
                (5, 0, SalesLineKind::NotStocked),
            ]
        );
        assert_eq!(
            lines[0].item,
            Some(ItemRef {
                variant: Some(VariantId(808950810)),
                sku: Some("TEE-M".into())
            })
        );
        assert_eq!(
            lines[1].item,
            Some(ItemRef {
                variant: None,
                sku: Some("MUG".into())
            })
        );
        assert!(lines[2..].iter().all(|l| l.item.is_none()));
        let text = format!("{c:?}");
        for pii in [
            "jon@example.com",
            "Jon",
            "555",
            "ring the bell",
            "Tip",
            "Tee",
        ] {
            assert!(!text.contains(pii), "{pii} leaked into {text}");
        }
    }

    #[test]
    fn test_cancelled_and_unknown_payment_words_pass_through() {
        let body = r##"{"id":7,"name":"SHOP-7-EU","financial_status":"on_hold_by_bank","test":true,
            "cancelled_at":"2026-11-27T09:00:00Z","line_items":[]}"##;
        let StockChange::SalesOrder {
            number,
            payment,
            test,
            cancelled,
            lines,
            location,
            ..
        } = sales("orders/cancelled", body)
        else {
            unreachable!()
        };
        assert_eq!(number, "SHOP-7-EU");
        assert_eq!(payment.as_deref(), Some("on_hold_by_bank"));
        assert!(test && cancelled && lines.is_empty() && location.is_none());
        let none = r##"{"id":7,"name":"#7","line_items":[]}"##;
        let StockChange::SalesOrder { payment, test, .. } = sales("orders/create", none) else {
            unreachable!()
        };
        assert_eq!((payment, test), (None, false));
    }

    #[test]
    fn orders_paid_is_an_order_payload_like_orders_updated() {
        let paid = MIXED.replace("partially_paid", "paid");
        let as_paid = changes(deliver("orders/paid", &paid));
        let as_updated = changes(deliver("orders/updated", &paid));
        assert_eq!(as_paid, as_updated);
        assert!(matches!(
            as_paid.last(),
            Some(StockChange::SalesOrder { payment: Some(p), .. }) if p == "paid"
        ));
        let Ok(Normalised::Events(events)) = deliver("ORDERS_PAID", &paid) else {
            panic!()
        };
        assert_eq!(events[0].source.topic, "orders/paid");
    }

    #[test]
    fn an_order_without_its_number_or_with_unreadable_lines_is_refused() {
        for body in [
            r#"{"id":1,"line_items":[]}"#,
            r#"{"id":1,"name":null,"line_items":[]}"#,
            r#"{"id":1,"name":"  ","line_items":[]}"#,
            // A tip without an id, a gift card without any quantity.
            r##"{"id":1,"name":"#1","line_items":[{"variant_id":null,"sku":null,"quantity":1}]}"##,
            r##"{"id":1,"name":"#1","line_items":[{"id":2,"variant_id":3,"gift_card":true}]}"##,
        ] {
            assert_eq!(
                deliver("orders/create", body).unwrap_err().code(),
                "unmappable",
                "{body}"
            );
        }
        let err = deliver("orders/create", r#"{"id":1,"line_items":[]}"#).unwrap_err();
        assert!(err.to_string().contains("no name"), "{err}");
        // Free text where a payment status belongs is refused, never passed on.
        let free =
            r##"{"id":1,"name":"#1","financial_status":"Paid by Jon Snow","line_items":[]}"##;
        let err = deliver("orders/create", free).unwrap_err();
        assert_eq!(err.code(), "bad_field");
        assert!(!err.to_string().contains("Jon"), "{err}");
        assert_eq!(
            deliver("orders/create", r#"{"id":1,"name":5,"line_items":[]}"#)
                .unwrap_err()
                .code(),
            "bad_field"
        );
    }

    #[test]
    fn a_redacted_order_gives_the_same_sales_order() {
        for body in [
            MIXED.to_string(),
            r##"{"id":1,"name":"#1","financial_status":"Paid by Jon Snow","line_items":[]}"##
                .into(),
            r#"{"id":1,"name":{"first":"Jon"},"line_items":[]}"#.into(),
        ] {
            let mut value: serde_json::Value = serde_json::from_str(&body).unwrap();
            crate::redact::redact("orders/paid", &mut value);
            let redacted = value.to_string();
            assert!(!redacted.contains("Jon"), "{redacted}");
            // The same sales order, or the same refusal (at another column: the text is gone).
            match (
                deliver("orders/paid", &redacted),
                deliver("orders/paid", &body),
            ) {
                (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{redacted}"),
                (a, b) => assert_eq!(a, b, "{redacted}"),
            }
        }
    }

    #[test]
    fn an_order_of_500_lines_fits_the_queue_message() {
        let lines: Vec<String> = (1..=500)
            .map(|i| {
                format!(
                    r#"{{"id":{},"variant_id":{},"sku":"SKU-{i:05}-XXXXXXXX","quantity":1000,"current_quantity":999,"fulfillable_quantity":999}}"#,
                    u64::MAX - i,
                    u64::MAX - i
                )
            })
            .collect();
        let body = format!(
            r##"{{"id":{},"name":"#100000001","financial_status":"partially_refunded","line_items":[{}]}}"##,
            u64::MAX,
            lines.join(",")
        );
        let Ok(Normalised::Events(events)) = deliver("orders/updated", &body) else {
            panic!()
        };
        let last = events.last().unwrap();
        assert!(
            last.to_json().len() < 256 * 1024,
            "{}",
            last.to_json().len()
        );
        assert!(matches!(
            &last.body,
            EventBody::Stock { changes } if matches!(changes.last(),
                Some(StockChange::SalesOrder { lines, .. }) if lines.len() == 500)
        ));
    }
}
