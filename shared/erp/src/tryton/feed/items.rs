//! Item records for the field map: the items whose `product.product` or its template was
//! written after a cursor, named fields read as text, and one named field written.
//!
//! A field is a path from `product.product`, dotted through Many2One fields
//! (`template.salable`, `default_uom.name`); each part is checked against Tryton's own list of
//! fields (`ir.model.field`), so an unknown one is [`ErpError::Rejected`] naming it before any
//! read or write. Values as text: booleans `true`/`false`, numbers as decimal text, dates
//! `YYYY-MM-DD`, datetimes RFC 3339 (UTC), Many2One the record's id, an unset value `""`.
//! Writes parse the text per the field's type (`""` unsets it; a boolean reads `""` as false),
//! write the record that owns the last part (`template.salable` writes the template) and read
//! the value back: a field Tryton does not keep (a computed one) is refused, not reported done.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::ports::{ErpError, FeedCursor, FeedPage};

use super::super::wire::{date_of, decimal_of, id_of, short, tryton_decimal};
use super::super::TrytonErp;
use super::{at, distinct_items, stamp_of, timestamp, Source};

const ROOT: &str = "product.product";

/// A checked field path.
#[derive(Clone, Debug)]
struct Field {
    path: String,
    /// Tryton's type of the last part (`boolean`, `char`, `numeric`, ...).
    ttype: String,
    /// The model owning the last part, and the path to its record (`""`: the product).
    owner: String,
    prefix: String,
    name: String,
}

/// The types read and written as text.
const SCALARS: &[&str] = &[
    "boolean",
    "integer",
    "biginteger",
    "float",
    "numeric",
    "char",
    "text",
    "selection",
    "date",
    "datetime",
    "many2one",
];

impl TrytonErp {
    /// Items whose product or template was written after `after`, oldest first.
    pub(in crate::tryton) async fn feed_items_changed(
        &self,
        after: Option<&FeedCursor>,
        limit: usize,
    ) -> Result<FeedPage<String>, ErpError> {
        let coded = json!(["code", "!=", null]);
        let sources = [
            Source {
                model: ROOT,
                domain: vec![coded.clone()],
                stamp_of: "",
                fields: &["code"],
            },
            Source {
                model: ROOT,
                domain: vec![coded],
                stamp_of: "template.",
                fields: &["code"],
            },
        ];
        let page = self.changes_after(&sources, after, limit).await?;
        Ok(FeedPage {
            rows: distinct_items(&page, "code")?,
            next: page.next,
            more: page.more,
        })
    }

    /// Named fields of `items` as text (see the module doc).
    pub(in crate::tryton) async fn feed_item_fields(
        &self,
        items: &[String],
        fields: &[String],
    ) -> Result<HashMap<String, BTreeMap<String, String>>, ErpError> {
        if items.is_empty() {
            return Ok(HashMap::new());
        }
        let mut checked = Vec::new();
        for f in fields {
            checked.push(self.field(f).await?);
        }
        let mut read: Vec<&str> = vec!["code"];
        read.extend(checked.iter().map(|f| f.path.as_str()));
        let rows = self
            .search(ROOT, &json!([["code", "in", items]]), &read, None)
            .await?;
        let mut out = HashMap::new();
        for row in rows {
            let Some(code) = row.get("code").and_then(Value::as_str) else {
                return Err(ErpError::Unavailable(format!(
                    "Tryton answered a product without code: {}",
                    short(&row.to_string())
                )));
            };
            let mut values = BTreeMap::new();
            for f in &checked {
                values.insert(f.path.clone(), field_text(f, at(&row, &f.path), code)?);
            }
            out.insert(code.to_string(), values);
        }
        Ok(out)
    }

    /// Writes one named field of an item and checks Tryton kept it (see the module doc).
    pub(in crate::tryton) async fn feed_set_item_field(
        &self,
        item: &str,
        field: &str,
        value: &str,
    ) -> Result<(), ErpError> {
        let f = self.field(field).await?;
        let wanted = parse_value(&f, value)?;
        let owner_path = if f.prefix.is_empty() {
            "id".to_string()
        } else {
            f.prefix.clone()
        };
        let rows = self
            .search(
                ROOT,
                &json!([["code", "=", item]]),
                &["code", &owner_path],
                None,
            )
            .await?;
        let row = match rows.as_slice() {
            [row] => row,
            [] => {
                return Err(ErpError::Rejected(format!(
                    "Tryton has no product with code {item:?}"
                )))
            }
            _ => {
                return Err(ErpError::Rejected(format!(
                    "Tryton has {} products with code {item:?}; make the code unique",
                    rows.len()
                )))
            }
        };
        let Some(owner_id) = id_of(at(row, &owner_path)) else {
            return Err(ErpError::Rejected(format!(
                "product {item:?} has no {} to write {field:?} on",
                f.prefix
            )));
        };
        self.put(
            &format!("{}/{owner_id}", f.owner),
            &json!({ f.name.clone(): wanted.clone() }),
            &[],
        )
        .await?;
        let back = self
            .search(
                &f.owner,
                &json!([["id", "=", owner_id]]),
                &[f.name.as_str()],
                None,
            )
            .await?;
        let kept = field_text(&f, back.first().and_then(|r| r.get(&f.name)), item)?;
        let meant = field_text(&f, Some(&wanted), item)?;
        if kept != meant {
            return Err(ErpError::Rejected(format!(
                "Tryton did not keep {field:?} = {meant:?} on {item:?} (reads {kept:?}): the \
                 field is computed or read-only"
            )));
        }
        Ok(())
    }

    /// Checks a field path from `product.product` against `ir.model.field`.
    async fn field(&self, path: &str) -> Result<Field, ErpError> {
        let parts: Vec<&str> = path.split('.').map(str::trim).collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(ErpError::Rejected(format!(
                "{path:?} is not a Tryton field name"
            )));
        }
        let mut model = ROOT.to_string();
        let mut prefix: Vec<&str> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let rows = self
                .search(
                    "ir.model.field",
                    &json!([["model", "=", model], ["name", "=", part]]),
                    &["ttype", "relation"],
                    None,
                )
                .await?;
            let Some(row) = rows.first() else {
                return Err(ErpError::Rejected(format!(
                    "Tryton's {ROOT} has no field {path:?} ({model} has no field {part:?})"
                )));
            };
            let Some(ttype) = row.get("ttype").and_then(Value::as_str) else {
                return Err(ErpError::Unavailable(format!(
                    "Tryton answered field {part:?} of {model} without its type: {}",
                    short(&row.to_string())
                )));
            };
            if i + 1 == parts.len() {
                if !SCALARS.contains(&ttype) {
                    return Err(ErpError::Rejected(format!(
                        "field {path:?} is a {ttype}: only single values are carried"
                    )));
                }
                return Ok(Field {
                    path: parts.join("."),
                    ttype: ttype.to_string(),
                    owner: model,
                    prefix: prefix.join("."),
                    name: (*part).to_string(),
                });
            }
            let relation = row.get("relation").and_then(Value::as_str);
            match (ttype, relation) {
                ("many2one", Some(r)) => model = r.to_string(),
                _ => {
                    return Err(ErpError::Rejected(format!(
                        "field {path:?}: {part:?} of {model} is not a Many2One to go through"
                    )))
                }
            }
            prefix.push(part);
        }
        Err(ErpError::Rejected(format!(
            "{path:?} is not a Tryton field name"
        )))
    }
}

/// A read value as text (see the module doc).
fn field_text(f: &Field, v: Option<&Value>, item: &str) -> Result<String, ErpError> {
    let v = match v {
        None | Some(Value::Null) => return Ok(String::new()),
        Some(v) => v,
    };
    let text = match (f.ttype.as_str(), v) {
        ("boolean", Value::Bool(b)) => Some(b.to_string()),
        // Dotted reads on SQLite answer a boolean as its stored 0/1.
        ("boolean", Value::Number(n)) => match n.as_i64() {
            Some(0) => Some("false".to_string()),
            Some(1) => Some("true".to_string()),
            _ => None,
        },
        ("integer" | "biginteger" | "float" | "numeric", v) => {
            decimal_of(v).map(|d| d.normalize().to_string())
        }
        ("char" | "text" | "selection", Value::String(s)) => Some(s.clone()),
        ("date", v) => date_of(v),
        ("datetime", v) => stamp_of(v).map(|t| timestamp(t).to_rfc3339()),
        ("many2one", v) => id_of(Some(v)).map(|id| id.to_string()),
        _ => None,
    };
    text.ok_or_else(|| {
        ErpError::Unavailable(format!(
            "Tryton answered {:?} of {item:?} ({}) with {}",
            f.path,
            f.ttype,
            short(&v.to_string())
        ))
    })
}

/// Text as the value Tryton takes for the field's type.
fn parse_value(f: &Field, text: &str) -> Result<Value, ErpError> {
    let t = text.trim();
    let bad = || {
        ErpError::Rejected(format!(
            "{t:?} is not a value of {:?} ({})",
            f.path, f.ttype
        ))
    };
    if t.is_empty() && f.ttype != "boolean" {
        return Ok(Value::Null);
    }
    Ok(match f.ttype.as_str() {
        "boolean" => match t {
            "true" | "True" | "1" => json!(true),
            "false" | "False" | "0" | "" => json!(false),
            _ => return Err(bad()),
        },
        "integer" | "biginteger" | "many2one" => json!(t.parse::<i64>().map_err(|_| bad())?),
        "float" => {
            let x: f64 = t.parse().map_err(|_| bad())?;
            serde_json::Number::from_f64(x)
                .map(Value::Number)
                .ok_or_else(bad)?
        }
        "numeric" => tryton_decimal(Decimal::from_str(t).map_err(|_| bad())?),
        "char" | "text" | "selection" => json!(t),
        "date" => {
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            let d = time::Date::parse(t, &fmt).map_err(|_| bad())?;
            json!({"__class__": "date", "year": d.year(), "month": u8::from(d.month()),
                   "day": d.day()})
        }
        _ => {
            return Err(ErpError::Rejected(format!(
                "field {:?} ({}) cannot be written from text",
                f.path, f.ttype
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(ttype: &str) -> Field {
        Field {
            path: "template.x".into(),
            ttype: ttype.into(),
            owner: "product.template".into(),
            prefix: "template".into(),
            name: "x".into(),
        }
    }

    #[test]
    fn values_read_as_text() {
        let t = |ty: &str, v: Value| field_text(&field(ty), Some(&v), "I").ok();
        assert_eq!(t("boolean", json!(true)).as_deref(), Some("true"));
        assert_eq!(t("boolean", json!(0)).as_deref(), Some("false"));
        assert_eq!(t("boolean", json!(2)), None);
        assert_eq!(
            t("numeric", json!({"__class__":"Decimal","decimal":"2.50"})).as_deref(),
            Some("2.5")
        );
        assert_eq!(t("float", json!(3.0)).as_deref(), Some("3"));
        assert_eq!(
            t(
                "date",
                json!({"__class__":"date","year":2026,"month":1,"day":5})
            )
            .as_deref(),
            Some("2026-01-05")
        );
        assert_eq!(t("many2one", json!({"id": 4})).as_deref(), Some("4"));
        assert_eq!(
            field_text(&field("char"), None, "I").ok().as_deref(),
            Some("")
        );
        assert!(matches!(
            field_text(&field("boolean"), Some(&json!("yes")), "I"),
            Err(ErpError::Unavailable(_))
        ));
    }

    #[test]
    fn text_parses_per_type_and_round_trips() {
        for (ty, text) in [
            ("boolean", "false"),
            ("numeric", "2.5"),
            ("integer", "7"),
            ("date", "2026-03-04"),
            ("char", "x y"),
        ] {
            let f = field(ty);
            let v = parse_value(&f, text).expect("parses");
            assert_eq!(
                field_text(&f, Some(&v), "I").ok().as_deref(),
                Some(text),
                "{ty}"
            );
        }
        assert!(matches!(
            parse_value(&field("boolean"), "maybe"),
            Err(ErpError::Rejected(_))
        ));
        assert!(matches!(
            parse_value(&field("date"), "5/3/2026"),
            Err(ErpError::Rejected(_))
        ));
        assert_eq!(parse_value(&field("char"), "").ok(), Some(Value::Null));
    }
}
