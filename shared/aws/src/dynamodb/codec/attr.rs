//! Typed reads and writes of single attributes. A read never guesses: an attribute of the wrong
//! type or out of range is [`PortError::Corrupt`], and so is a missing one the caller requires;
//! the error names the record (`pk / sk`) and the attribute.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;

use stockbridge_core::ports::PortError;
use stockbridge_domain::ids::{Timestamp, Version};

use super::super::keys::{PK, SK};

/// One DynamoDB item: attribute name to value.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// A string value.
pub(crate) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

/// A number value (DynamoDB carries numbers as text).
pub(crate) fn n(v: impl Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A boolean value.
pub(crate) fn b(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

/// A map value (DynamoDB `M`).
pub(crate) fn m(v: Item) -> AttributeValue {
    AttributeValue::M(v)
}

/// A value as JSON text. The domain types stored this way always serialize; were one ever not
/// to, the empty string stored reads back as corrupt rather than as a default.
pub(crate) fn json(v: &impl serde::Serialize) -> AttributeValue {
    s(&serde_json::to_string(v).unwrap_or_default())
}

/// A TTL attribute: `days` after `now`, in epoch seconds.
pub(crate) fn days_from(now: Timestamp, days: i64) -> AttributeValue {
    n(now.as_secs() + days * 86_400)
}

/// How an error names a stored record: its partition key, and its sort key when it has one.
fn record_key(item: &Item) -> String {
    let part = |name| item.get(name).and_then(|v| v.as_s().ok());
    match (part(PK), part(SK)) {
        (Some(pk), Some(sk)) => format!("{pk} / {sk}"),
        (Some(pk), None) => pk.clone(),
        (None, _) => "(no pk)".into(),
    }
}

/// A stored record that cannot be read back, and why.
pub(crate) fn corrupt(item: &Item, detail: impl Display) -> PortError {
    PortError::Corrupt {
        key: record_key(item),
        detail: detail.to_string(),
    }
}

fn missing(item: &Item, name: &str) -> PortError {
    corrupt(item, format!("attribute {name} is missing"))
}

/// Required: `value` if there is one, else corrupt as missing.
pub(crate) fn required<T>(item: &Item, name: &str, value: Option<T>) -> Result<T, PortError> {
    value.ok_or_else(|| missing(item, name))
}

/// A string attribute; absent is `None`, any other type is corrupt.
pub(crate) fn opt_s(item: &Item, name: &str) -> Result<Option<String>, PortError> {
    s_at(item, item.get(name), name)
}

/// A string `value` held by `item` under `name` (a top-level attribute, or a path such as
/// `parts.10.version` inside one); absent is `None`, any other type is corrupt.
pub(crate) fn s_at(
    item: &Item,
    value: Option<&AttributeValue>,
    name: &str,
) -> Result<Option<String>, PortError> {
    match value {
        None => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
        Some(_) => Err(corrupt(item, format!("attribute {name} is not a string"))),
    }
}

pub(crate) fn req_s(item: &Item, name: &str) -> Result<String, PortError> {
    required(item, name, opt_s(item, name)?)
}

/// A number attribute that fits `T`; absent is `None`.
pub(crate) fn opt_n<T: FromStr>(item: &Item, name: &str) -> Result<Option<T>, PortError> {
    n_at(item, item.get(name), name)
}

/// A number `value` that fits `T`, held by `item` under `name` (see [`s_at`]).
pub(crate) fn n_at<T: FromStr>(
    item: &Item,
    value: Option<&AttributeValue>,
    name: &str,
) -> Result<Option<T>, PortError> {
    match value {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| {
            corrupt(
                item,
                format!("attribute {name} = {v} is not a number in range"),
            )
        }),
        Some(_) => Err(corrupt(item, format!("attribute {name} is not a number"))),
    }
}

pub(crate) fn req_n<T: FromStr>(item: &Item, name: &str) -> Result<T, PortError> {
    required(item, name, opt_n(item, name)?)
}

pub(crate) fn opt_bool(item: &Item, name: &str) -> Result<Option<bool>, PortError> {
    bool_at(item, item.get(name), name)
}

/// A boolean `value` held by `item` under `name` (see [`s_at`]).
pub(crate) fn bool_at(
    item: &Item,
    value: Option<&AttributeValue>,
    name: &str,
) -> Result<Option<bool>, PortError> {
    match value {
        None => Ok(None),
        Some(AttributeValue::Bool(v)) => Ok(Some(*v)),
        Some(_) => Err(corrupt(item, format!("attribute {name} is not a boolean"))),
    }
}

pub(crate) fn req_bool(item: &Item, name: &str) -> Result<bool, PortError> {
    required(item, name, opt_bool(item, name)?)
}

pub(crate) fn opt_version(item: &Item, name: &str) -> Result<Option<Version>, PortError> {
    version_at(item, item.get(name), name)
}

/// A version `value` (its [`Version::to_key`] text) held by `item` under `name` (see [`s_at`]).
pub(crate) fn version_at(
    item: &Item,
    value: Option<&AttributeValue>,
    name: &str,
) -> Result<Option<Version>, PortError> {
    s_at(item, value, name)?
        .map(|v| {
            Version::from_key(&v)
                .ok_or_else(|| corrupt(item, format!("attribute {name} = {v:?} is not a version")))
        })
        .transpose()
}

pub(crate) fn req_version(item: &Item, name: &str) -> Result<Version, PortError> {
    required(item, name, opt_version(item, name)?)
}

/// A map attribute (DynamoDB `M`); absent is `None`, any other type is corrupt.
pub(crate) fn opt_m<'a>(item: &'a Item, name: &str) -> Result<Option<&'a Item>, PortError> {
    m_at(item, item.get(name), name)
}

/// A map `value` held by `item` under `name` (see [`s_at`]).
pub(crate) fn m_at<'a>(
    item: &Item,
    value: Option<&'a AttributeValue>,
    name: &str,
) -> Result<Option<&'a Item>, PortError> {
    match value {
        None => Ok(None),
        Some(AttributeValue::M(v)) => Ok(Some(v)),
        Some(_) => Err(corrupt(item, format!("attribute {name} is not a map"))),
    }
}

pub(crate) fn req_json<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> Result<T, PortError> {
    serde_json::from_str(&req_s(item, name)?)
        .map_err(|e| corrupt(item, format!("attribute {name} is not readable JSON: {e}")))
}
