//! `ErpSales` on [`MemoryErp`]: sales orders by reference, placed confirmed; like Tryton, the
//! lines of a confirmed order are not edited (`Refused`), an order with anything shipped is not
//! cancelled (`Refused`); a shipment or return changes the same on-hand the stock writes do,
//! once per movement key. Faults (`fail_next`, `lose_next_answers`) apply here too.

use rust_decimal::Decimal;
use stockbridge_core::ports::{
    Change, ErpError, ErpSales, SalesLine, SalesMovement, SalesOrder, SalesOrderState,
    SalesOrderView,
};

use crate::erp::{ErpFault, MemoryErp};

impl MemoryErp {
    /// Every sales order held, by reference.
    pub fn sales_orders(&self) -> Vec<SalesOrderView> {
        self.lock().sales.values().cloned().collect()
    }

    /// Runs `f` unless the next fault says otherwise; a lost answer runs it and fails.
    fn sales_call<T>(&self, f: impl FnOnce(&mut crate::erp::ErpState) -> T) -> Result<T, ErpError> {
        let fault = self.next_fault();
        if let Some(ErpFault::Fail(e)) = fault {
            return Err(e);
        }
        let out = f(&mut self.lock());
        match fault {
            Some(ErpFault::LoseAnswer) => {
                Err(ErpError::Unavailable("timed out (answer lost)".into()))
            }
            _ => Ok(out),
        }
    }
}

fn add(list: &mut Vec<SalesLine>, line: &SalesLine) {
    match list.iter_mut().find(|l| l.line == line.line) {
        Some(l) => l.quantity += line.quantity,
        None => list.push(line.clone()),
    }
}

impl ErpSales for MemoryErp {
    async fn place(&self, order: &SalesOrder) -> Result<SalesOrderView, ErpError> {
        if order.lines.iter().any(|l| l.quantity <= Decimal::ZERO) {
            return Err(ErpError::Rejected(
                "a sales line needs a positive quantity".into(),
            ));
        }
        {
            let s = self.lock();
            if let Some(known) = &s.known {
                if let Some(l) = order.lines.iter().find(|l| !known.contains(&l.item)) {
                    return Err(ErpError::Rejected(format!("unknown item {}", l.item)));
                }
            }
        }
        self.sales_call(|s| {
            s.sales
                .entry(order.reference.clone())
                .or_insert_with(|| SalesOrderView {
                    reference: order.reference.clone(),
                    erp_number: Some(format!("SO{}", order.number.trim_start_matches('#'))),
                    state: SalesOrderState::Confirmed,
                    lines: order.lines.clone(),
                    shipped: Vec::new(),
                    returned: Vec::new(),
                })
                .clone()
        })
    }

    async fn revise(&self, order: &SalesOrder) -> Result<Change, ErpError> {
        self.sales_call(|s| match s.sales.get(&order.reference) {
            Some(held) if held.lines == order.lines => Change::Made,
            Some(_) => Change::Refused("a confirmed sales order's lines cannot be edited".into()),
            None => Change::Refused("no such sales order".into()),
        })
    }

    async fn cancel(&self, reference: &str) -> Result<Change, ErpError> {
        self.sales_call(|s| match s.sales.get_mut(reference) {
            None => Change::Made,
            Some(o) if !o.shipped.is_empty() => {
                Change::Refused("goods shipped under the order; it cannot be cancelled".into())
            }
            Some(o) => {
                o.state = SalesOrderState::Cancelled;
                Change::Made
            }
        })
    }

    async fn ship(&self, movement: &SalesMovement) -> Result<Change, ErpError> {
        self.move_goods(movement, -1)
    }

    async fn take_back(&self, movement: &SalesMovement) -> Result<Change, ErpError> {
        self.move_goods(movement, 1)
    }

    async fn find(&self, reference: &str) -> Result<Option<SalesOrderView>, ErpError> {
        self.sales_call(|s| s.sales.get(reference).cloned())
    }
}

impl MemoryErp {
    fn move_goods(&self, movement: &SalesMovement, sign: i64) -> Result<Change, ErpError> {
        self.sales_call(|s| {
            if !s.sales.contains_key(&movement.order) {
                return Change::Refused(format!("no sales order {}", movement.order));
            }
            if s.sales_moves.contains(&movement.key) {
                return Change::Made;
            }
            // Like Tryton: no more shipped than the order holds, no more back than shipped.
            if let Some(o) = s.sales.get(&movement.order) {
                for line in &movement.lines {
                    let sum = |list: &[SalesLine]| -> Decimal {
                        list.iter()
                            .filter(|l| l.line == line.line)
                            .map(|l| l.quantity)
                            .sum()
                    };
                    let (ordered, shipped, back) =
                        (sum(&o.lines), sum(&o.shipped), sum(&o.returned));
                    let room = if sign < 0 {
                        ordered - shipped
                    } else {
                        shipped - back
                    };
                    if line.quantity > room {
                        return Change::Refused(format!(
                            "line {} has {room} left to {}",
                            line.line,
                            if sign < 0 { "ship" } else { "take back" }
                        ));
                    }
                }
            }
            s.sales_moves.insert(movement.key.clone());
            for line in &movement.lines {
                *s.on_hand
                    .entry((movement.warehouse.clone(), line.item.clone()))
                    .or_default() += line.quantity * Decimal::from(sign);
            }
            if let Some(o) = s.sales.get_mut(&movement.order) {
                for line in &movement.lines {
                    if sign < 0 {
                        add(&mut o.shipped, line);
                    } else {
                        add(&mut o.returned, line);
                    }
                }
            }
            Change::Made
        })
    }
}
