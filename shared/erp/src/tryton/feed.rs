//! The ERP feed ([`ErpFeed`]) over Tryton 8.2: what the poller reads because Tryton cannot call
//! out. This module owns the cursor discipline shared by the three change lists; the lists
//! themselves are in:
//!
//! - `moves`: done `stock.move`s as [`FeedMove`]s per warehouse;
//! - `purchases`: items whose purchases changed, open purchase quantities, order points;
//! - `items`: items whose record changed, and their named fields read and written.
//!
//! **Order and cursor.** Every list is read in the order (stamp, source, id) ascending, where
//! the stamp is Tryton's `write_date`, or `create_date` for a record never written after its
//! create (Tryton leaves `write_date` null then: a purchase's incoming moves are created, not
//! written, by `confirm`). The REST API cannot order by a COALESCE, so each source is read as
//! two sub-queries — `write_date != null` ordered by (`write_date`, `id`), and `write_date =
//! null` ordered by (`create_date`, `id`) — each with its own source rank, and the sub-lists
//! are merged. Each sub-query selects strictly after the cursor with
//! `OR(stamp > t, AND(stamp = t, id > id0))` (`stamp >= t` for a rank after the cursor's, `stamp
//! > t` for one before), so equal stamps never skip or repeat a row and a page read twice from
//! one cursor is the same page. Each sub-query reads at most `limit` rows; the first `limit`
//! rows of the merge are then exactly the first `limit` of the whole order. The cursor is
//! `"<stamp ISO, microseconds>|<rank>|<id>"` of the last row read.
//!
//! Ids alone would not do: a purchase's incoming move is created (low id) at confirm and done
//! days later, after moves created since; an internal shipment's incoming move has a lower id
//! than its outgoing one but is done after it. Every done move went through `Move.do`, which
//! writes it, so a done move's `write_date` is when it was done (or written since).
//!
//! **Limits.** Tryton stamps with the database's `CURRENT_TIMESTAMP`, on PostgreSQL the start
//! of the transaction: a row written by a transaction that started before the last row read
//! but committed after the read is passed over. SQLite, which the tests use, has one writer at
//! a time; on PostgreSQL a long transaction can do that (not handled here: reading with a lag
//! behind "now" would). A done move written again later (the average cost price recomputation
//! writes `cost_price` on done moves) is read again with the same id: whoever consumes the
//! feed must de-duplicate moves by id.
//!
//! [`ErpFeed`]: stockbridge_core::ports::ErpFeed
//! [`FeedMove`]: stockbridge_core::ports::FeedMove

mod items;
mod moves;
mod purchases;

use serde_json::{json, Value};
use time::macros::format_description;
use time::PrimitiveDateTime;

use stockbridge_core::ports::{ErpError, FeedCursor};
use stockbridge_domain::ids::Timestamp;

use super::wire::{id_of, short};
use super::TrytonErp;

/// One source of a change list: a model, the records of it that count, and where the stamp is
/// (`""`: the record's own `write_date`/`create_date`; `"purchase."`: its purchase's).
pub(super) struct Source<'a> {
    pub(super) model: &'a str,
    pub(super) domain: Vec<Value>,
    pub(super) stamp_of: &'a str,
    pub(super) fields: &'a [&'a str],
}

/// Where a row stands in a list's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub(super) stamp: PrimitiveDateTime,
    pub(super) rank: u32,
    pub(super) id: i64,
}

/// A row read, with its key.
pub(super) struct Row {
    pub(super) key: Key,
    pub(super) value: Value,
}

/// A page of rows in order, before the caller turns them into what it reports.
pub(super) struct Rows {
    pub(super) rows: Vec<Row>,
    pub(super) next: Option<FeedCursor>,
    pub(super) more: bool,
}

impl Key {
    pub(super) fn cursor(&self) -> FeedCursor {
        FeedCursor(format!(
            "{}|{}|{}",
            stamp_text(self.stamp),
            self.rank,
            self.id
        ))
    }

    fn parse(cursor: &FeedCursor) -> Result<Key, ErpError> {
        let bad = || {
            ErpError::Rejected(format!(
                "feed cursor {:?} is not a Tryton feed cursor (\"<write_date>|<rank>|<id>\")",
                short(&cursor.0)
            ))
        };
        let mut parts = cursor.0.split('|');
        let (Some(stamp), Some(rank), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");
        Ok(Key {
            stamp: PrimitiveDateTime::parse(stamp, &fmt).map_err(|_| bad())?,
            rank: rank.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

fn stamp_text(t: PrimitiveDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// A stamp as Tryton's datetime value.
fn stamp_value(t: PrimitiveDateTime) -> Value {
    json!({
        "__class__": "datetime", "year": t.year(), "month": u8::from(t.month()),
        "day": t.day(), "hour": t.hour(), "minute": t.minute(), "second": t.second(),
        "microsecond": t.microsecond(),
    })
}

/// Tryton's datetime value (`{"__class__":"datetime",...}`, UTC) as a stamp.
pub(super) fn stamp_of(v: &Value) -> Option<PrimitiveDateTime> {
    let o = v.as_object()?;
    if o.get("__class__")?.as_str()? != "datetime" {
        return None;
    }
    let n = |k: &str| o.get(k).and_then(Value::as_i64);
    let month = time::Month::try_from(u8::try_from(n("month")?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(n("year")?).ok()?,
        month,
        u8::try_from(n("day")?).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms_micro(
        u8::try_from(n("hour")?).ok()?,
        u8::try_from(n("minute")?).ok()?,
        u8::try_from(n("second")?).ok()?,
        u32::try_from(n("microsecond").unwrap_or(0)).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, t))
}

/// A stamp (UTC) as a [`Timestamp`].
pub(super) fn timestamp(t: PrimitiveDateTime) -> Timestamp {
    Timestamp(i64::try_from(t.assume_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX))
}

/// The value at a dotted path of a row read with dotted fields (`purchase.write_date` is
/// answered as `{"purchase": {"write_date": ...}}`).
pub(super) fn at<'v>(row: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(row, |v, part| v.get(part))
}

/// `stamp` strictly after `cursor` in the order, for a sub-query of rank `rank`.
fn after(field: &str, rank: u32, cursor: Option<&Key>) -> Option<Value> {
    let c = cursor?;
    let t = stamp_value(c.stamp);
    Some(match rank.cmp(&c.rank) {
        std::cmp::Ordering::Greater => json!([field, ">=", t]),
        std::cmp::Ordering::Less => json!([field, ">", t]),
        std::cmp::Ordering::Equal => {
            json!(["OR", [field, ">", t], [[field, "=", t], ["id", ">", c.id]]])
        }
    })
}

impl TrytonErp {
    /// The first `limit` rows of `sources` after `after` in the order of the module doc.
    pub(super) async fn changes_after(
        &self,
        sources: &[Source<'_>],
        after_cursor: Option<&FeedCursor>,
        limit: usize,
    ) -> Result<Rows, ErpError> {
        if limit == 0 {
            return Err(ErpError::Rejected(
                "a feed read needs a limit of at least 1".into(),
            ));
        }
        let cursor = after_cursor.map(Key::parse).transpose()?;
        let mut merged: Vec<Row> = Vec::new();
        let mut full = false;
        for (i, src) in sources.iter().enumerate() {
            let written = format!("{}write_date", src.stamp_of);
            let created = format!("{}create_date", src.stamp_of);
            for (variant, stamp_field) in [(0u32, &written), (1, &created)] {
                let rank = u32::try_from(i).unwrap_or(u32::MAX / 2).saturating_mul(2) + variant;
                let mut domain = src.domain.clone();
                domain.push(json!([
                    written,
                    if variant == 0 { "!=" } else { "=" },
                    null
                ]));
                if let Some(a) = after(stamp_field, rank, cursor.as_ref()) {
                    domain.push(a);
                }
                let mut fields: Vec<&str> = src.fields.to_vec();
                fields.push(stamp_field);
                let order = json!([[stamp_field, "ASC"], ["id", "ASC"]]);
                let rows = self
                    .search_ordered(src.model, &Value::Array(domain), &fields, &order, limit)
                    .await?;
                full |= rows.len() >= limit;
                for value in rows {
                    let stamp = at(&value, stamp_field).and_then(stamp_of);
                    let (Some(stamp), Some(id)) = (stamp, id_of(value.get("id"))) else {
                        return Err(ErpError::Unavailable(format!(
                            "Tryton answered a {} without id or {stamp_field}: {}",
                            src.model,
                            short(&value.to_string())
                        )));
                    };
                    merged.push(Row {
                        key: Key { stamp, rank, id },
                        value,
                    });
                }
            }
        }
        merged.sort_by_key(|r| r.key);
        let more = full || merged.len() > limit;
        merged.truncate(limit);
        let next = merged.last().map(|r| r.key.cursor());
        Ok(Rows {
            rows: merged,
            next,
            more,
        })
    }
}

/// Distinct item codes of `rows` (at `path` of each), in the order of their first change.
pub(super) fn distinct_items(rows: &Rows, path: &str) -> Result<Vec<String>, ErpError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for row in &rows.rows {
        let code = match at(&row.value, path) {
            Some(Value::String(s)) => s.clone(),
            other => {
                return Err(ErpError::Unavailable(format!(
                    "Tryton answered a change row without an item code at {path}: {}",
                    short(&other.map(Value::to_string).unwrap_or_default())
                )))
            }
        };
        if seen.insert(code.clone()) {
            out.push(code);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str, rank: u32, id: i64) -> Key {
        let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");
        Key {
            stamp: PrimitiveDateTime::parse(s, &fmt).expect("test stamp"),
            rank,
            id,
        }
    }

    #[test]
    fn cursors_read_back_what_they_wrote() {
        let k = key("2026-12-01T18:58:40.696260", 3, 42);
        let c = k.cursor();
        assert_eq!(c.0, "2026-12-01T18:58:40.696260|3|42");
        assert_eq!(Key::parse(&c).ok(), Some(k));
        let zero = key("2026-12-01T18:58:40.000000", 0, 1);
        assert_eq!(Key::parse(&zero.cursor()).ok(), Some(zero));
        for bad in [
            "",
            "x|1|2",
            "2026-12-01T18:58:40.1|1",
            "2026-12-01T18:58:40.1|a|2|3",
        ] {
            assert!(matches!(
                Key::parse(&FeedCursor(bad.into())),
                Err(ErpError::Rejected(_))
            ));
        }
    }

    #[test]
    fn stamps_read_tryton_datetimes() {
        let v = json!({"__class__":"datetime","year":2026,"month":12,"day":1,"hour":18,
            "minute":58,"second":40,"microsecond":696260});
        let t = stamp_of(&v).expect("a datetime");
        assert_eq!(stamp_value(t), v);
        assert_eq!(timestamp(t).to_rfc3339(), "2026-12-01T18:58:40.69626Z");
        assert_eq!(stamp_of(&json!({"__class__":"date","year":2026})), None);
    }

    #[test]
    fn after_breaks_ties_by_rank_then_id() {
        let c = key("2026-12-01T18:58:40.000001", 2, 7);
        let t = stamp_value(c.stamp);
        assert_eq!(
            after("write_date", 3, Some(&c)),
            Some(json!(["write_date", ">=", t]))
        );
        assert_eq!(
            after("write_date", 1, Some(&c)),
            Some(json!(["write_date", ">", t]))
        );
        assert_eq!(
            after("write_date", 2, Some(&c)),
            Some(json!([
                "OR",
                ["write_date", ">", t],
                [["write_date", "=", t], ["id", ">", 7]]
            ]))
        );
        assert_eq!(after("write_date", 2, None), None);
    }
}
