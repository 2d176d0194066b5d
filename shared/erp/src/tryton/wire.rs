//! Tryton's JSON values as the REST API writes and reads them: Decimals
//! (`{"__class__":"Decimal"}`), dates (`{"__class__":"date"}`), Many2One ids (plain or nested
//! records), the base64url JSON of domains and contexts, and bodies shortened for messages.

use std::str::FromStr;

use base64::Engine as _;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// Base64url of a JSON value (the `d` parameter and the `X-Tryton-Context` header).
pub(super) fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

/// A decimal as a Tryton Decimal, normalised (Tryton checks the exponent against the unit's
/// digits).
pub(super) fn tryton_decimal(d: Decimal) -> Value {
    json!({"__class__": "Decimal", "decimal": d.normalize().to_string()})
}

/// An id from a Many2One answered either as a plain id or as a nested record.
pub(super) fn id_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::Object(o) => o.get("id")?.as_i64(),
        _ => None,
    }
}

/// A Tryton number (float, int, or `{"__class__":"Decimal"}`) as an exact decimal of its
/// shortest representation.
pub(super) fn decimal_of(v: &Value) -> Option<Decimal> {
    let s = match v {
        Value::Number(n) => n.to_string(),
        Value::Object(o) if o.get("__class__")?.as_str()? == "Decimal" => {
            o.get("decimal")?.as_str()?.to_string()
        }
        _ => return None,
    };
    Decimal::from_str(&s)
        .or_else(|_| Decimal::from_scientific(&s))
        .ok()
        .map(|d| d.normalize())
}

/// A Tryton date `{"__class__":"date","year":..}` as `YYYY-MM-DD`.
pub(super) fn date_of(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    if o.get("__class__")?.as_str()? != "date" {
        return None;
    }
    let y = o.get("year")?.as_i64()?;
    let m = o.get("month")?.as_i64()?;
    let d = o.get("day")?.as_i64()?;
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// The start of a body or value (at most 300 bytes, cut on a character boundary) for messages.
pub(super) fn short(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_dates() {
        assert_eq!(decimal_of(&json!(2.0)), Some(Decimal::from(2)));
        assert_eq!(decimal_of(&json!(0.1)), Decimal::from_str("0.1").ok());
        assert_eq!(decimal_of(&json!(-3)), Some(Decimal::from(-3)));
        assert_eq!(
            decimal_of(&json!({"__class__":"Decimal","decimal":"8.50"})),
            Decimal::from_str("8.5").ok()
        );
        assert_eq!(
            date_of(&json!({"__class__":"date","year":2026,"month":1,"day":5})).as_deref(),
            Some("2026-01-05")
        );
        assert_eq!(
            tryton_decimal(Decimal::from_str("2.50").unwrap_or_default()),
            json!({"__class__":"Decimal","decimal":"2.5"})
        );
    }
}
