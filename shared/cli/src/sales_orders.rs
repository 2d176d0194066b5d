//! `stockbridge sales show|clear|retry`: one order's record of the order flow (its decision,
//! the ERP sales orders placed per warehouse, the movements they carry and what the ERP has
//! carried out, the exceptions an operator must settle), clearing an exception once settled, and
//! sending the order through the flow again (a `sales_retry` on the events queue). Needs
//! `dynamodb:BatchGetItem` (and `PutItem` to clear) on the stock table, `sqs:SendMessage` on the
//! events queue to retry.

use stockbridge_core::ports::{EventQueue, PortError, StockStore, Wanted};
use stockbridge_domain::ids::{OrderId, ShopDomain};
use stockbridge_domain::sales::{Decision, SalesRecord};
use stockbridge_domain::stock::OrderKey;

use crate::error::{CommandError, Result};

fn key(shop: &str, order: u64) -> OrderKey {
    OrderKey {
        shop: ShopDomain::new(shop),
        order: OrderId(order),
    }
}

async fn load(
    store: &impl StockStore,
    key: &OrderKey,
) -> Result<(SalesRecord, stockbridge_core::ports::Loaded)> {
    let mut wanted = Wanted::default();
    wanted.orders.insert(key.clone());
    let loaded = store.load(&wanted).await?;
    match loaded.book.sales.get(key).cloned() {
        Some(record) => Ok((record, loaded)),
        None => Err(CommandError::NoSalesRecord {
            shop: key.shop.to_string(),
            order: key.order.0,
        }
        .into()),
    }
}

/// Prints the record (as JSON with `json`).
pub async fn show(store: &impl StockStore, shop: &str, order: u64, json: bool) -> Result<()> {
    let (record, _) = load(store, &key(shop, order)).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&record).unwrap_or_default()
        );
        return Ok(());
    }
    print!("{}", describe(order, &record));
    Ok(())
}

fn describe(order: u64, r: &SalesRecord) -> String {
    let mut out = String::new();
    let number = r.number.as_deref().unwrap_or("?");
    let decision = match &r.decision {
        Decision::Undecided => "undecided (no order snapshot yet)".to_string(),
        Decision::Waits { reason } => format!("waits: {reason}"),
        Decision::Goes { .. } => "goes to the ERP".to_string(),
        Decision::Never { reason } => format!("never goes: {reason}"),
    };
    out.push_str(&format!(
        "order {order} ({number}): {decision}; payment {}, test {}, cancelled {}\n",
        r.payment.as_deref().unwrap_or("-"),
        r.test,
        r.cancelled
    ));
    for (line, g) in &r.goods {
        out.push_str(&format!(
            "  line {line}: item {} x {}\n",
            g.item, g.quantity
        ));
    }
    if r.skipped_lines > 0 {
        out.push_str(&format!(
            "  {} line(s) skipped (gift cards, tips, custom items)\n",
            r.skipped_lines
        ));
    }
    for (warehouse, p) in &r.placed {
        let lines: Vec<String> = p.lines.iter().map(|(l, q)| format!("{l}={q}")).collect();
        out.push_str(&format!(
            "  ERP order at {warehouse}: {}{} lines {}\n",
            p.reference,
            if p.cancelled { " (cancelled)" } else { "" },
            lines.join(",")
        ));
    }
    for (movement, c) in &r.carried {
        out.push_str(&format!(
            "  carries {movement} at location {}: {} (done in the ERP {}, given back to the stock push {}, due {})\n",
            c.key.location,
            c.effect,
            c.told,
            c.released,
            c.due()
        ));
    }
    for (step, reason) in &r.exceptions {
        out.push_str(&format!("  EXCEPTION {step}: {reason}\n"));
    }
    if r.exceptions.is_empty() {
        out.push_str("  no exception\n");
    }
    out
}

/// Removes the exception of `step` (after an operator settled it), so the flow asks it again.
pub async fn clear(store: &impl StockStore, shop: &str, order: u64, step: &str) -> Result<()> {
    let key = key(shop, order);
    let (mut record, loaded) = load(store, &key).await?;
    if record.exceptions.remove(step).is_none() {
        return Err(CommandError::NoException {
            order,
            step: step.to_string(),
        }
        .into());
    }
    match store.put_sales(&key, &record, &loaded).await {
        Ok(()) => {
            println!("order {order}: exception {step:?} cleared; `stockbridge sales retry` asks it again");
            Ok(())
        }
        Err(PortError::Conflict(_)) => Err(CommandError::SalesRecordChanged { order }.into()),
        Err(e) => Err(e.into()),
    }
}

/// Sends the order through the flow again.
pub async fn retry(queue: &impl EventQueue, shop: &str, order: u64) -> Result<()> {
    let (events, _) = stockbridge_core::sales_flow::retry_events(&[key(shop, order)], 0);
    queue.send(&events).await?;
    println!("order {order}: sent through the order flow again");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockbridge_domain::ids::{InventoryItemId, LineItemId, LocationId, StockKey, Timestamp};
    use stockbridge_domain::sales::{Carried, GoodsLine};

    #[test]
    fn a_record_reads_with_its_orders_movements_and_exceptions() {
        let mut r = SalesRecord {
            number: Some("#1001".into()),
            decision: Decision::Goes {
                since: Timestamp(0),
            },
            ..SalesRecord::default()
        };
        r.goods.insert(
            LineItemId(1),
            GoodsLine {
                item: InventoryItemId(7),
                quantity: 2,
            },
        );
        r.carried.insert(
            "fulfillment:9:1".into(),
            Carried {
                key: StockKey {
                    shop: ShopDomain::new("a.myshopify.com"),
                    item: InventoryItemId(7),
                    location: LocationId(1),
                },
                line: LineItemId(1),
                effect: -2,
                told: -2,
                released: 0,
            },
        );
        r.exceptions.insert("revise x".into(), "confirmed".into());
        let text = describe(1001, &r);
        assert!(text.contains("(#1001): goes to the ERP"), "{text}");
        assert!(text.contains("due 0"), "{text}");
        assert!(text.contains("EXCEPTION revise x: confirmed"), "{text}");
    }
}
