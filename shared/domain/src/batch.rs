//! Turns a batch of events into one coalesced plan of writes.
//!
//! The consumer loads the records a batch touches into a [`Book`], and [`plan_batch`] folds every
//! event into it in arrival order: duplicates (a key already applied, or seen twice in the batch)
//! are skipped, stale facts are no-ops, and however many events touch one stock record the plan
//! writes it once with one log entry naming every cause. That is what keeps a hot SKU in a flash
//! sale at one DynamoDB write per batch instead of one per event.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::apply::apply_change;
use crate::event::{Source, StockChange};
use crate::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp};
use crate::skumap::Master;
use crate::stock::{Book, Effect, Fact, LineKey, MovementKey, Quantities, StockKey};

/// An event whose changes were looked up in the SKU map.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedEvent {
    pub key: String,
    pub shop: ShopDomain,
    pub source: Source,
    pub facts: Vec<Fact>,
    /// Changes whose item or location has no mapping yet: parked, replayed when it arrives.
    pub unresolved: Option<Unresolved>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unresolved {
    pub changes: Vec<StockChange>,
    /// What is missing, e.g. `item 4500`, `variant 46`, `location 72` (sorted, distinct).
    pub missing: Vec<String>,
}

/// What happened to one event of the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    Parked,
    AppliedAndParked,
    Duplicate,
}

/// Why a stock record changed: the event and, for notes, what it said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    pub event_key: String,
    pub topic: String,
    pub webhook_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One transaction-log entry: a stock record before and after the batch, and every cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub key: StockKey,
    pub before: Quantities,
    pub after: Quantities,
    pub causes: Vec<Cause>,
}

/// The writes a batch needs, all to be committed in one transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The book after the batch.
    pub book: Book,
    pub changed_levels: BTreeSet<StockKey>,
    pub changed_lines: BTreeSet<LineKey>,
    pub changed_items: BTreeSet<(ShopDomain, InventoryItemId)>,
    pub changed_movements: BTreeSet<MovementKey>,
    /// Order records of the order flow the batch changed ([`crate::sales`]).
    pub changed_sales: BTreeSet<crate::stock::OrderKey>,
    pub ledger: Vec<LedgerEntry>,
    /// Every event of the batch, in order, with what happened to it.
    pub outcomes: Vec<(String, Outcome)>,
    /// Events (or their unresolved part) to park, by event key.
    pub parked: Vec<(String, Unresolved)>,
    /// Facts refused because a quantity would leave its bounds (see
    /// [`crate::stock::MAX_QUANTITY`]), by event key, with the reason; each is also a note in
    /// the stock record's log. The webhook quarantines such quantities, so this stays empty
    /// unless a stored record was changed outside Stockbridge.
    pub refused: Vec<(String, String)>,
}

impl Plan {
    /// Keys of events that this plan marks as done (everything but duplicates).
    pub fn new_keys(&self) -> impl Iterator<Item = (&str, Outcome)> {
        self.outcomes
            .iter()
            .filter(|(_, o)| *o != Outcome::Duplicate)
            .map(|(k, o)| (k.as_str(), *o))
    }
}

/// The part of `owed` (a settled change at a Shopify-master location) that units booked ahead
/// by an ERP transfer (`ahead`) already account for: the same sign, at most the smaller.
pub fn net_ahead(owed: i64, ahead: i64) -> i64 {
    if owed > 0 && ahead > 0 {
        owed.min(ahead)
    } else if owed < 0 && ahead < 0 {
        owed.max(ahead)
    } else {
        0
    }
}

/// Which side keeps the count at each mapped location (absent: none is told, e.g. no ERP).
pub type Masters = HashMap<(ShopDomain, LocationId), Master>;

/// Folds `events` into `book`. `already_applied` holds keys the store has recorded as done;
/// `masters` decides what the ERP is owed (see [`crate::erp_write`]).
pub fn plan_batch(
    book: Book,
    already_applied: &HashSet<String>,
    events: &[ResolvedEvent],
    masters: &Masters,
) -> Plan {
    let before = book.clone();
    let mut plan = Plan {
        book,
        ..Plan::default()
    };
    let mut seen: HashSet<&str> = HashSet::new();
    let mut causes: BTreeMap<StockKey, Vec<Cause>> = BTreeMap::new();
    let mut moved: BTreeMap<StockKey, i64> = BTreeMap::new();
    // Movement effects ERP sales orders took over (plus) or gave back (minus), per record.
    let mut carried: BTreeMap<StockKey, i64> = BTreeMap::new();
    let mut confirmed: BTreeMap<StockKey, i64> = BTreeMap::new();
    let mut first_seen: BTreeMap<StockKey, Timestamp> = BTreeMap::new();

    for event in events {
        if already_applied.contains(&event.key) || !seen.insert(event.key.as_str()) {
            plan.outcomes.push((event.key.clone(), Outcome::Duplicate));
            continue;
        }
        let cause = |note: Option<String>| Cause {
            event_key: event.key.clone(),
            topic: event.source.topic.clone(),
            webhook_id: event.source.webhook_id.clone(),
            event_id: event.source.event_id.clone(),
            note,
        };
        for fact in &event.facts {
            match apply_change(&mut plan.book, fact) {
                Effect::Changed(keys) => {
                    match fact {
                        Fact::Commitment { line, .. } => {
                            plan.changed_lines.insert(line.clone());
                        }
                        Fact::FulfillmentOrder { shop, lines, .. } => {
                            plan.changed_lines
                                .extend(lines.iter().map(|(line, _, _)| LineKey {
                                    shop: shop.clone(),
                                    line: *line,
                                }));
                        }
                        _ => {}
                    }
                    for key in keys {
                        first_seen
                            .entry(key.clone())
                            .or_insert(event.source.received_at);
                        push_cause(causes.entry(key).or_default(), cause(None));
                    }
                }
                Effect::Read(key, on_hand) => {
                    first_seen
                        .entry(key.clone())
                        .or_insert(event.source.received_at);
                    if let Some(on_hand) = on_hand {
                        confirmed.insert(key.clone(), on_hand);
                    }
                    push_cause(causes.entry(key).or_default(), cause(None));
                }
                Effect::Noted {
                    notes,
                    carried: by_order,
                } => {
                    if let Fact::Movement {
                        movement, carry, ..
                    } = fact
                    {
                        plan.changed_movements.insert(movement.clone());
                        if let Some((order, _)) = carry {
                            plan.changed_sales.insert(crate::stock::OrderKey {
                                shop: movement.shop.clone(),
                                order: *order,
                            });
                        }
                    }
                    for (key, note, erp) in notes {
                        if by_order {
                            *carried.entry(key.clone()).or_default() += erp;
                        }
                        first_seen
                            .entry(key.clone())
                            .or_insert(event.source.received_at);
                        let sum = moved.entry(key.clone()).or_default();
                        let level = plan.book.levels.entry(key.clone()).or_default();
                        match (sum.checked_add(erp), level.moved.checked_add(erp)) {
                            (Some(total), Some(since)) => {
                                *sum = total;
                                level.moved = since;
                            }
                            _ => {
                                let why = "the movements of this batch would overflow".to_string();
                                plan.refused.push((event.key.clone(), why.clone()));
                                push_cause(
                                    causes.entry(key.clone()).or_default(),
                                    cause(Some(format!("refused: {why}"))),
                                );
                            }
                        }
                        push_cause(causes.entry(key).or_default(), cause(Some(note)))
                    }
                }
                Effect::OutOfRange(key, why) => {
                    plan.refused.push((event.key.clone(), why.clone()));
                    push_cause(
                        causes.entry(key).or_default(),
                        cause(Some(format!("refused: {why}"))),
                    );
                }
                Effect::SalesChanged { key, released } => {
                    plan.changed_sales.insert(key);
                    for (k, note, effect) in released {
                        *carried.entry(k.clone()).or_default() -= effect;
                        push_cause(causes.entry(k).or_default(), cause(Some(note)));
                    }
                }
                Effect::ItemUpdated => {
                    if let Fact::Item { shop, item, .. } = fact {
                        plan.changed_items.insert((shop.clone(), *item));
                    }
                }
                Effect::Stale => {}
            }
        }
        let outcome = match (&event.unresolved, event.facts.is_empty()) {
            (None, _) => Outcome::Applied,
            (Some(_), true) => Outcome::Parked,
            (Some(_), false) => Outcome::AppliedAndParked,
        };
        if let Some(unresolved) = &event.unresolved {
            plan.parked.push((event.key.clone(), unresolved.clone()));
        }
        plan.outcomes.push((event.key.clone(), outcome));
    }

    for (key, mut causes) in causes {
        // What became explained: at a Shopify-master location that is what the ERP is owed.
        let level = plan.book.levels.entry(key.clone()).or_default();
        // A debt that waited for its explanation dates from the change that waited.
        let waited = level.unsettled_since;
        let explained = settle(
            level,
            confirmed.get(&key).copied(),
            first_seen.get(&key).copied(),
        );
        // The on_hands are within ±(MAX_QUANTITY + MAX_COMMITTED) and a few states, so their
        // differences fit; the debt accumulates across batches until settled, so its sum is
        // checked.
        // What ERP sales orders carry is theirs to move (the one-movement rule).
        let carry = carried.get(&key).copied().unwrap_or(0);
        let owed = match masters.get(&(key.shop.clone(), key.location)) {
            Some(Master::Shopify) => {
                let level = plan.book.levels.entry(key.clone()).or_default();
                level.carried += carry;
                let owed = if explained != 0 || level.is_settled() {
                    explained - std::mem::take(&mut level.carried)
                } else {
                    0
                };
                // What an ERP transfer already booked here is not told again.
                let netted = net_ahead(owed, level.erp_ahead);
                level.erp_ahead -= netted;
                owed - netted
            }
            Some(Master::Erp) => moved.get(&key).copied().unwrap_or(0) - carry,
            None => 0,
        };
        let level = plan.book.levels.get(&key);
        let owed_now = level.map_or(0, |l| l.erp_owed);
        if owed != 0 && owed_now.checked_add(owed).is_none() {
            let why = format!("what the ERP is owed ({owed_now}) cannot take {owed} more");
            let mut owing: Vec<&str> = causes
                .iter()
                .filter(|c| !c.note.as_deref().is_some_and(|n| n.starts_with("refused")))
                .map(|c| c.event_key.as_str())
                .collect();
            owing.dedup();
            for k in owing {
                plan.refused.push((k.to_string(), why.clone()));
            }
            let mut note = causes[0].clone();
            note.note = Some(format!("refused: {why}"));
            push_cause(&mut causes, note);
        } else if owed != 0 {
            let level = plan.book.levels.entry(key.clone()).or_default();
            level.erp_owed += owed;
            if level.erp_owed == 0 {
                level.erp_owed_since = None;
            } else if level.erp_owed_since.is_none() {
                level.erp_owed_since = match (waited, first_seen.get(&key).copied()) {
                    (Some(w), Some(f)) => Some(w.min(f)),
                    (w, f) => w.or(f),
                };
            }
        }
        let old = before.levels.get(&key);
        let new = plan.book.levels.get(&key);
        let changed = old != new;
        if changed {
            plan.changed_levels.insert(key.clone());
        }
        // The log tells how the figures moved: a change of bookkeeping alone (a read that
        // confirmed what was known, a debt settled) is on the record, not in the log.
        let has_note = causes.iter().any(|c| c.note.is_some());
        let figures_moved = old.map(|l| l.quantities()) != new.map(|l| l.quantities());
        if figures_moved || has_note {
            plan.ledger.push(LedgerEntry {
                before: old.map(|l| l.quantities()).unwrap_or_default(),
                after: new.map(|l| l.quantities()).unwrap_or_default(),
                key,
                causes,
            });
        }
    }
    plan
}

/// Moves `settled` to what is now explained and returns by how much: first a read's confirmed
/// figure, then, if the movements since account for the rest, the whole `on_hand`. What stays
/// unexplained is marked (`unsettled_since`) for a read; see [`crate::stock`]'s "Settled".
pub fn settle(
    level: &mut crate::stock::StockLevel,
    confirmed: Option<i64>,
    at: Option<Timestamp>,
) -> i64 {
    let mut explained = 0;
    if let Some(on_hand) = confirmed {
        explained += on_hand - level.settled;
        level.settled = on_hand;
        level.moved = 0;
    }
    if level.is_settled() {
        explained += level.on_hand() - level.settled;
        level.settled = level.on_hand();
        level.moved = 0;
        level.unsettled_since = None;
    } else if level.unsettled_since.is_none() {
        level.unsettled_since = Some(at.unwrap_or_else(Timestamp::now));
    }
    explained
}

fn push_cause(causes: &mut Vec<Cause>, cause: Cause) {
    if !causes.contains(&cause) {
        causes.push(cause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{FulfillmentOrderId, LineItemId, OrderId, Version};
    use proptest::prelude::*;

    fn shop() -> ShopDomain {
        ShopDomain::new("prop.myshopify.com")
    }

    #[test]
    fn units_booked_ahead_by_an_erp_transfer_net_only_a_change_the_same_way() {
        assert_eq!(net_ahead(6, 6), 6);
        assert_eq!(
            net_ahead(10, 6),
            6,
            "a receipt larger than the transfer: the rest is owed"
        );
        assert_eq!(net_ahead(4, 6), 4, "a short receipt: 2 stay ahead");
        assert_eq!(net_ahead(-3, 6), 0, "a sale is not a receipt");
        assert_eq!(net_ahead(-5, -3), -3, "sent off after a transfer out");
        assert_eq!(net_ahead(5, -3), 0);
        assert_eq!(net_ahead(0, 6), 0);
    }

    fn skey(item: u64, location: u64) -> StockKey {
        StockKey {
            shop: shop(),
            item: InventoryItemId(item),
            location: LocationId(location),
        }
    }

    fn source(n: usize) -> Source {
        Source {
            topic: "test".into(),
            webhook_id: format!("w{n}"),
            event_id: None,
            api_version: None,
            triggered_at: Timestamp(0),
            received_at: Timestamp(0),
        }
    }

    /// A random "true" history on two locations: each step is a fact about one of a few items,
    /// order lines and fulfillment orders, with a strictly increasing clock (Shopify's
    /// `updated_at` order): levels, order snapshots (odd lines name a location, as POS orders
    /// do; even lines are online), fulfillment orders routing and moving lines between the two
    /// locations, movements and reads of every quantity name.
    fn history() -> impl Strategy<Value = Vec<ResolvedEvent>> {
        let step = (0u8..8, 1u64..4, 1u64..3, 0i64..50, 1u64..5);
        prop::collection::vec(step, 1..40).prop_map(|steps| {
            steps
                .into_iter()
                .enumerate()
                .map(|(n, (kind, item, location, qty, line))| {
                    let version = Version::new(Timestamp(n as i64 * 1_000), Timestamp(n as i64));
                    // A line always names the same item.
                    let line_item = InventoryItemId(line % 3 + 1);
                    let fact = match kind {
                        0 => Fact::Available {
                            key: skey(item, location),
                            available: if qty == 0 { None } else { Some(qty - 10) },
                            version,
                        },
                        1 => Fact::Commitment {
                            line: LineKey {
                                shop: shop(),
                                line: LineItemId(line),
                            },
                            order: OrderId(line / 2),
                            item: line_item,
                            named: (line % 2 == 1).then_some(LocationId(line % 2 + 1)),
                            open: qty % 7,
                            version,
                        },
                        2 => Fact::Disconnected {
                            key: skey(item, location),
                            version,
                        },
                        3 | 4 => Fact::FulfillmentOrder {
                            shop: shop(),
                            // Two fulfillment orders per line: routed to one location, moved
                            // to the other (the first closes).
                            fulfillment_order: FulfillmentOrderId(line * 10 + location),
                            order: OrderId(line / 2),
                            location: LocationId(location),
                            open: qty % 5 != 0,
                            lines: vec![(LineItemId(line), line_item, qty % 7)],
                            version,
                        },
                        5 => Fact::Quantities {
                            key: skey(item, location),
                            quantities: (qty != 0).then(|| crate::event::ShopifyQuantities {
                                available: qty - 10,
                                committed: qty % 3,
                                on_hand: qty - 10 + qty % 3 + qty % 4,
                                damaged: qty % 4,
                                incoming: qty % 2,
                                ..Default::default()
                            }),
                            version,
                        },
                        _ => Fact::Movement {
                            movement: crate::stock::MovementKey {
                                shop: shop(),
                                // The same movement may name another location later.
                                id: format!("fulfillment:{item}:{line}"),
                            },
                            version,
                            key: skey(item, location),
                            kind: if qty % 2 == 0 {
                                crate::event::MovementKind::Fulfilled
                            } else {
                                crate::event::MovementKind::RestockedReturn
                            },
                            reference: format!("fulfillment {n}"),
                            quantity: qty % 5,
                            carry: None,
                        },
                    };
                    ResolvedEvent {
                        key: format!("{}:w{n}:0", shop()),
                        shop: shop(),
                        source: source(n),
                        facts: vec![fact],
                        unresolved: None,
                    }
                })
                .collect()
        })
    }

    /// Location 1 is kept by the ERP, location 2 by Shopify.
    fn masters() -> Masters {
        HashMap::from([
            ((shop(), LocationId(1)), Master::Erp),
            ((shop(), LocationId(2)), Master::Shopify),
        ])
    }

    fn apply_in_chunks(events: &[ResolvedEvent], chunk: usize) -> Book {
        let mut book = Book::default();
        let mut applied = HashSet::new();
        for part in events.chunks(chunk.max(1)) {
            let plan = plan_batch(book, &applied, part, &masters());
            applied.extend(plan.new_keys().map(|(k, _)| k.to_string()));
            book = plan.book;
        }
        book
    }

    proptest! {
        /// Any interleaving with duplicates and reordering, in any batch sizes, ends in the same
        /// stock as applying the history once, in order, one event at a time.
        #[test]
        fn duplicates_and_reordering_end_in_the_same_stock(
            events in history(),
            shuffle_seed in any::<u64>(),
            dups in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
            chunk in 1usize..12,
        ) {
            let expected = apply_in_chunks(&events, 1);
            let mut messy = events.clone();
            for d in &dups {
                messy.push(d.get(&events).clone());
            }
            // Fisher-Yates with a small deterministic generator.
            let mut state = shuffle_seed | 1;
            for i in (1..messy.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                messy.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let got = apply_in_chunks(&messy, chunk);
            // The figures: every quantity name, and the versions they come from. (What was
            // explained when, and so owed when, follows arrival; what it adds up to does not.)
            let figures = |b: &Book| -> Vec<(StockKey, crate::stock::Quantities, crate::stock::States, bool, bool)> {
                b.levels
                    .iter()
                    .map(|(k, l)| (k.clone(), l.quantities(), l.states, l.connected, l.tracked))
                    // An absent record and an all-zero one are the same stock.
                    .filter(|(_, q, st, c, t)| {
                        *q != crate::stock::Quantities::default()
                            || *st != crate::stock::States::default()
                            || !*c
                            || !*t
                    })
                    .collect()
            };
            prop_assert_eq!(figures(&got), figures(&expected));
            prop_assert_eq!(&got.lines, &expected.lines);
            prop_assert_eq!(&got.movements, &expected.movements);
            for (key, level) in &got.levels {
                // What a Shopify-kept location owes the ERP is exactly what was explained;
                // an ERP-kept one, the movements that name it now (a movement that moved
                // location gave its old one back).
                if key.location == LocationId(2) {
                    prop_assert_eq!(level.erp_owed, level.settled);
                } else {
                    let moved: i64 = got.movements.values()
                        .filter(|m| m.key == *key)
                        .map(|m| m.erp_effect)
                        .sum();
                    prop_assert_eq!(level.erp_owed, moved);
                }
                // Committed always equals what the lines count at the location.
                let counted: i64 = got.lines.values()
                    .filter(|l| l.item == key.item)
                    .filter_map(|l| l.counted.get(&key.location))
                    .sum();
                prop_assert_eq!(level.committed, counted);
            }
        }
    }

    #[test]
    fn a_burst_on_one_sku_is_one_write_with_every_cause() {
        let events: Vec<ResolvedEvent> = (0..50)
            .map(|n| ResolvedEvent {
                key: format!("k{n}"),
                shop: shop(),
                source: source(n),
                facts: vec![Fact::Available {
                    key: skey(1, 1),
                    available: Some(100 - n as i64),
                    version: Version::new(Timestamp(n as i64), Timestamp(0)),
                }],
                unresolved: None,
            })
            .collect();
        let plan = plan_batch(Book::default(), &HashSet::new(), &events, &masters());
        assert_eq!(plan.changed_levels.len(), 1);
        assert_eq!(plan.ledger.len(), 1);
        assert_eq!(plan.ledger[0].causes.len(), 50);
        assert_eq!(plan.ledger[0].after.available, 51);
    }

    #[test]
    fn duplicates_inside_and_across_batches_are_skipped() {
        let event = ResolvedEvent {
            key: "k".into(),
            shop: shop(),
            source: source(0),
            facts: vec![],
            unresolved: None,
        };
        let plan = plan_batch(
            Book::default(),
            &HashSet::new(),
            &[event.clone(), event.clone()],
            &masters(),
        );
        assert_eq!(
            plan.outcomes,
            vec![
                ("k".into(), Outcome::Applied),
                ("k".into(), Outcome::Duplicate)
            ]
        );
        let applied: HashSet<String> = ["k".to_string()].into();
        let plan = plan_batch(Book::default(), &applied, &[event], &masters());
        assert_eq!(plan.outcomes, vec![("k".into(), Outcome::Duplicate)]);
    }

    #[test]
    fn unresolved_changes_are_parked_and_resolved_ones_applied() {
        let event = ResolvedEvent {
            key: "k".into(),
            shop: shop(),
            source: source(0),
            facts: vec![Fact::Available {
                key: skey(1, 1),
                available: Some(3),
                version: Version::default(),
            }],
            unresolved: Some(Unresolved {
                changes: vec![],
                missing: vec!["variant 5".into()],
            }),
        };
        let plan = plan_batch(Book::default(), &HashSet::new(), &[event], &masters());
        assert_eq!(plan.outcomes[0].1, Outcome::AppliedAndParked);
        assert_eq!(plan.parked.len(), 1);
        assert_eq!(plan.changed_levels.len(), 1);
    }
}
