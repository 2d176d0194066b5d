//! The field map: named ERP item fields carried to named Shopify metafields on the variants
//! (and back), each link switched on per shop, and the check of a value against its
//! metafield type (a value that does not fit is an error, never a default).

use serde::{Deserialize, Serialize};

/// One named ERP item field carried to one named Shopify metafield on the variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldLink {
    /// The ERP item field (e.g. Tryton's `product.product` field name).
    pub erp_field: String,
    pub namespace: String,
    pub key: String,
    /// Shopify's metafield type (`boolean`, `single_line_text_field`, `number_integer`, `date`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Off: not carried (switched per shop without a redeploy).
    pub enabled: bool,
}

/// A shop's field map, as stored in the configuration table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMap {
    #[serde(default)]
    pub links: Vec<FieldLink>,
}

impl FieldMap {
    /// The links switched on.
    pub fn enabled(&self) -> impl Iterator<Item = &FieldLink> {
        self.links.iter().filter(|l| l.enabled)
    }

    /// The value Shopify's metafield gets for an ERP field's value, checked against its type
    /// (an ERP value that does not fit is an error, never a default).
    pub fn metafield_value(link: &FieldLink, erp_value: &str) -> Result<String, String> {
        let v = erp_value.trim();
        match link.kind.as_str() {
            "boolean" => match v {
                "true" | "1" | "True" => Ok("true".into()),
                "false" | "0" | "False" | "" => Ok("false".into()),
                _ => Err(format!("{}: {v:?} is not a boolean", link.erp_field)),
            },
            "number_integer" => v
                .parse::<i64>()
                .map(|n| n.to_string())
                .map_err(|_| format!("{}: {v:?} is not an integer", link.erp_field)),
            "date" => {
                if v.len() == 10 && v.as_bytes()[4] == b'-' && v.as_bytes()[7] == b'-' {
                    Ok(v.to_string())
                } else {
                    Err(format!("{}: {v:?} is not a date", link.erp_field))
                }
            }
            "single_line_text_field" => {
                if v.contains('\n') || v.len() > 255 {
                    Err(format!("{}: not a single line of text", link.erp_field))
                } else {
                    Ok(v.to_string())
                }
            }
            other => Err(format!(
                "{}: metafield type {other:?} is not carried",
                link.erp_field
            )),
        }
    }

    /// Checks what an operator stored.
    pub fn check(&self) -> Result<(), String> {
        for l in &self.links {
            if l.erp_field.is_empty() || l.namespace.len() < 3 || l.key.len() < 2 {
                return Err(format!(
                    "link {l:?}: an ERP field, a namespace of 3+ and a key of 2+ characters"
                ));
            }
            Self::metafield_value(
                l,
                match l.kind.as_str() {
                    "number_integer" => "0",
                    "date" => "2026-01-01",
                    _ => "",
                },
            )?;
        }
        Ok(())
    }
}
