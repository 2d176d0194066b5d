//! The ERP's stock-change notification on the wire (times RFC 3339, decimals JSON strings, as
//! `docs/erp-http-api.yaml` `StockNotification` has it) and its checks: read whole into the
//! domain's [`ErpChange`]s, or [`Unusable`] with a reason that says where, never what.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use stockbridge_domain::ids::Timestamp;
use stockbridge_domain::stock::MAX_QUANTITY;
use stockbridge_domain::storefront::{ErpChange, ErpMove, Restock};

use super::{MAX_CHANGES, MAX_CODE_BYTES, MAX_NOTIFICATION_ID_BYTES, PART_BUDGET_BYTES};

/// Why an authentic notification cannot be used. Reasons never quote the body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("the body is not UTF-8")]
    BadEncoding,
    #[error("the body is not JSON: {0}")]
    BadJson(String),
    #[error("the body is not a notification: {0}")]
    BadField(String),
    #[error("{0}")]
    UnknownChange(String),
    #[error("{0}")]
    BadId(String),
    #[error("{0}")]
    BadTime(String),
    #[error("{0}")]
    BadQuantity(String),
    #[error("{0}")]
    QuantityOutOfRange(String),
    #[error("{0}")]
    KeyTooLong(String),
    #[error("{0} changes, at most {MAX_CHANGES} in one notification")]
    TooManyChanges(usize),
    #[error("change {0} alone does not fit one queue message ({PART_BUDGET_BYTES} bytes)")]
    ChangeTooLarge(usize),
}

impl Unusable {
    /// A short machine-readable reason, for metrics and the quarantine listing.
    pub fn code(&self) -> &'static str {
        match self {
            Unusable::BadEncoding => "bad_encoding",
            Unusable::BadJson(_) => "bad_json",
            Unusable::BadField(_) => "bad_field",
            Unusable::UnknownChange(_) => "unknown_change",
            Unusable::BadId(_) => "bad_id",
            Unusable::BadTime(_) => "bad_time",
            Unusable::BadQuantity(_) => "bad_quantity",
            Unusable::QuantityOutOfRange(_) => "quantity_out_of_range",
            Unusable::KeyTooLong(_) => "key_too_long",
            Unusable::TooManyChanges(_) => "too_many_changes",
            Unusable::ChangeTooLarge(_) => "change_too_large",
        }
    }
}

/// A notification as the ERP sends it: times RFC 3339, decimals JSON strings.
#[derive(Deserialize)]
struct WireNotification {
    notification_id: String,
    sent_at: String,
    changes: Vec<WireChange>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireChange {
    Stock {
        warehouse: String,
        item: String,
        on_hand: String,
        as_of: String,
        #[serde(default)]
        moves: Vec<WireMove>,
        #[serde(default)]
        reorder_point: Option<String>,
    },
    Restock {
        item: String,
        next: Option<WireRestock>,
        as_of: String,
    },
    Fields {
        item: String,
        fields: BTreeMap<String, String>,
        as_of: String,
    },
}

#[derive(Deserialize)]
struct WireMove {
    id: String,
    quantity: String,
    kind: String,
    #[serde(default)]
    document: Option<String>,
    done_at: String,
}

#[derive(Deserialize)]
struct WireRestock {
    date: String,
    quantity: String,
}

/// A checked notification in the domain's types.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub notification_id: String,
    pub sent_at: Timestamp,
    pub changes: Vec<ErpChange>,
}

/// Reads and checks a notification whole: the first problem found makes it unusable.
pub fn parse(body: &[u8]) -> Result<Notification, Unusable> {
    let text = std::str::from_utf8(body).map_err(|_| Unusable::BadEncoding)?;
    let wire: WireNotification = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    let id = wire.notification_id;
    if id.trim().is_empty() {
        return Err(Unusable::BadId("notification_id is empty".into()));
    }
    if id.len() > MAX_NOTIFICATION_ID_BYTES {
        return Err(Unusable::KeyTooLong(format!(
            "notification_id has {} bytes, at most {MAX_NOTIFICATION_ID_BYTES} make a key",
            id.len()
        )));
    }
    let sent_at = time("sent_at", &wire.sent_at)?;
    if wire.changes.len() > MAX_CHANGES {
        return Err(Unusable::TooManyChanges(wire.changes.len()));
    }
    let changes = wire
        .changes
        .into_iter()
        .enumerate()
        .map(|(i, c)| change(i, c))
        .collect::<Result<_, _>>()?;
    Ok(Notification {
        notification_id: id,
        sent_at,
        changes,
    })
}

fn change(i: usize, c: WireChange) -> Result<ErpChange, Unusable> {
    let at = |field: &str| format!("changes[{i}].{field}");
    Ok(match c {
        WireChange::Stock {
            warehouse,
            item,
            on_hand,
            as_of,
            moves,
            reorder_point,
        } => ErpChange::Stock {
            warehouse: code(&at("warehouse"), warehouse)?,
            item: code(&at("item"), item)?,
            on_hand: quantity(&at("on_hand"), &on_hand)?,
            as_of: time(&at("as_of"), &as_of)?,
            moves: moves
                .into_iter()
                .enumerate()
                .map(|(m, w)| {
                    let at = |field: &str| format!("changes[{i}].moves[{m}].{field}");
                    Ok(ErpMove {
                        id: code(&at("id"), w.id)?,
                        quantity: quantity(&at("quantity"), &w.quantity)?,
                        kind: w.kind,
                        document: w.document,
                        done_at: time(&at("done_at"), &w.done_at)?,
                    })
                })
                .collect::<Result<_, Unusable>>()?,
            reorder_point: reorder_point
                .map(|p| quantity(&at("reorder_point"), &p))
                .transpose()?,
        },
        WireChange::Restock { item, next, as_of } => ErpChange::Restock {
            item: code(&at("item"), item)?,
            next: next
                .map(|n| {
                    Ok::<_, Unusable>(Restock {
                        date: date(&at("next.date"), n.date)?,
                        quantity: quantity(&at("next.quantity"), &n.quantity)?,
                    })
                })
                .transpose()?,
            as_of: time(&at("as_of"), &as_of)?,
        },
        WireChange::Fields {
            item,
            fields,
            as_of,
        } => {
            for name in fields.keys() {
                code(&at("fields"), name.clone())?;
            }
            ErpChange::Fields {
                item: code(&at("item"), item)?,
                fields,
                as_of: time(&at("as_of"), &as_of)?,
            }
        }
    })
}

/// An ERP code that makes a key: not blank, at most [`MAX_CODE_BYTES`].
fn code(at: &str, value: String) -> Result<String, Unusable> {
    if value.trim().is_empty() {
        return Err(Unusable::BadId(format!("{at} is empty")));
    }
    if value.len() > MAX_CODE_BYTES {
        return Err(Unusable::KeyTooLong(format!(
            "{at} has {} bytes, at most {MAX_CODE_BYTES} make a key",
            value.len()
        )));
    }
    Ok(value)
}

/// A decimal string (`docs/erp-http-api.yaml` `Decimal`: an optional sign, digits, an optional
/// fraction; no exponent, no separators) within ±[`MAX_QUANTITY`].
fn quantity(at: &str, text: &str) -> Result<Decimal, Unusable> {
    let bad = || Unusable::BadQuantity(format!("{at} is not a decimal string"));
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "1"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(bad());
    }
    let q = Decimal::from_str_exact(text).map_err(|_| bad())?;
    if q.abs() > Decimal::from(MAX_QUANTITY) {
        return Err(Unusable::QuantityOutOfRange(format!(
            "{at} is beyond ±{MAX_QUANTITY}"
        )));
    }
    Ok(q)
}

fn time(at: &str, text: &str) -> Result<Timestamp, Unusable> {
    Timestamp::parse(text).ok_or_else(|| Unusable::BadTime(format!("{at} is not RFC 3339")))
}

/// An ISO date `YYYY-MM-DD` (month 01-12, day 01-31).
fn date(at: &str, text: String) -> Result<String, Unusable> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && (1..=12).contains(&text[5..7].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&text[8..10].parse::<u8>().unwrap_or(0));
    if ok {
        Ok(text)
    } else {
        Err(Unusable::BadTime(format!("{at} is not a date YYYY-MM-DD")))
    }
}

/// A JSON error as a reason: its kind and where, never the text it would quote.
fn json_error(e: &serde_json::Error) -> Unusable {
    use serde_json::error::Category;
    let at = format!("at line {} column {}", e.line(), e.column());
    let text = e.to_string();
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            // serde_json's syntax messages are fixed texts; they quote nothing.
            let kind = text.split(" at line ").next().unwrap_or("");
            Unusable::BadJson(format!("{kind} {at}"))
        }
        Category::Data if text.starts_with("unknown variant") => Unusable::UnknownChange(format!(
            "a change of an unknown type (expected stock, restock or fields) {at}"
        )),
        // These name a field of ours, never a value.
        Category::Data
            if text.starts_with("missing field `") || text.starts_with("duplicate field `") =>
        {
            let named = text.splitn(3, '`').take(2).collect::<Vec<_>>().join("`");
            Unusable::BadField(format!("{named}` {at}"))
        }
        Category::Data => Unusable::BadField(format!("a value of the wrong type {at}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_plain_decimal_strings_within_a_billion() {
        for (text, q) in [
            ("42", 42),
            ("-2", -2),
            ("+7", 7),
            ("0.5", 0),
            ("1000000000", 1_000_000_000),
        ] {
            let got = quantity("q", text).unwrap();
            assert_eq!(got.trunc(), Decimal::from(q), "{text}");
        }
        assert_eq!(quantity("q", "0.5").unwrap(), Decimal::new(5, 1));
        for bad in [
            "", "-", "4x", "1e3", "1_000", ".5", "5.", "1.2.3", " 4", "NaN", "0x10",
        ] {
            assert_eq!(
                quantity("q", bad).map_err(|e| e.code()),
                Err("bad_quantity"),
                "{bad:?}"
            );
        }
        for far in [
            "1000000000.01",
            "-1000000001",
            "99999999999999999999999999999",
        ] {
            let code = quantity("q", far).map_err(|e| e.code());
            assert!(
                matches!(code, Err("quantity_out_of_range" | "bad_quantity")),
                "{far}"
            );
        }
        assert_eq!(
            quantity("q", "-1000000001").map_err(|e| e.code()),
            Err("quantity_out_of_range")
        );
    }

    #[test]
    fn a_date_is_checked_without_reading_past_its_end() {
        assert!(date("d", "2026-12-20".into()).is_ok());
        for bad in [
            "2026-13-01",
            "2026-12-00",
            "20261220",
            "2026-1-201",
            "é026-12-2",
            "",
        ] {
            assert!(date("d", bad.into()).is_err(), "{bad:?}");
        }
    }
}
