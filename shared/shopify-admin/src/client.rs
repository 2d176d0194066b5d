//! One GraphQL call to the Admin API: the POST with the access token, the answer's HTTP status
//! and transport failures mapped through `stockbridge_http` (the one HTTP mapping), the GraphQL
//! envelope read, its cost recorded in the budget, and GraphQL and user errors turned into
//! [`ShopifyError`]s that say what to do.
//!
//! This is the only place the token is sent, and only to the configured endpoint.

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use stockbridge_core::ports::ShopifyError;

use crate::budget::{capped_wait_ms, throttled_wait_ms};
use crate::truncate;
use crate::wire::{Cost, Envelope, GqlError, UserError};
use crate::{ShopifyGraphql, DEFAULT_RETRY_AFTER_MS};

/// What a refused token needs, appended to 401/403 and `ACCESS_DENIED` errors.
pub(crate) const SCOPES_HINT: &str = "check the access token and that the app has the \
                                      read_inventory and write_inventory access scopes";

/// One GraphQL exchange: its outcome, and what Shopify said the query costs (read even from a
/// refused answer, so the reads can size their next request).
pub(crate) struct Exchange<T> {
    pub(crate) outcome: Result<T, ShopifyError>,
    /// `requestedQueryCost`, or the `cost` of a `MAX_COST_EXCEEDED` error.
    pub(crate) requested: Option<f64>,
    /// The most a single query may cost (`maxCost` of a `MAX_COST_EXCEEDED` error).
    pub(crate) max_cost: Option<f64>,
    /// Refused as costing more than a single query may (`MAX_COST_EXCEEDED`): a smaller request
    /// may pass.
    pub(crate) too_costly: bool,
}

impl<T> Exchange<T> {
    fn failed(error: ShopifyError) -> Self {
        Exchange {
            outcome: Err(error),
            requested: None,
            max_cost: None,
            too_costly: false,
        }
    }
}

impl ShopifyGraphql {
    /// POSTs one GraphQL document; returns the answer's `data` (checked for errors) and records
    /// its cost. `levels_first` is the page size when the document is the levels query.
    pub(crate) async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        what: &str,
        query: &str,
        variables: Value,
        levels_first: Option<u32>,
    ) -> Result<T, ShopifyError> {
        self.exchange(what, query, variables, levels_first)
            .await
            .outcome
    }

    /// [`ShopifyGraphql::call`], with the cost Shopify stated for the query.
    pub(crate) async fn exchange<T: for<'de> Deserialize<'de>>(
        &self,
        what: &str,
        query: &str,
        variables: Value,
        levels_first: Option<u32>,
    ) -> Exchange<T> {
        let body = json!({ "query": query, "variables": variables });
        let response = match self
            .client
            .post(self.endpoint.clone())
            .header("X-Shopify-Access-Token", self.token.clone())
            .header(CONTENT_TYPE, "application/json")
            .json(&body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => return Exchange::failed(transport_error(what, e)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return Exchange::failed(transport_error(what, e)),
        };
        if !status.is_success() {
            return Exchange::failed(status_error(what, status, retry_after.as_deref(), &bytes));
        }
        let (exchange, cost) = read_answer(what, &bytes);
        self.observe(cost.as_ref(), levels_first);
        exchange
    }
}

/// A 2xx answer's body: its `data`, or its errors mapped to a [`ShopifyError`], with the cost it
/// states (the cost extension is returned for the budget).
pub(crate) fn read_answer<T: for<'de> Deserialize<'de>>(
    what: &str,
    bytes: &[u8],
) -> (Exchange<T>, Option<Cost>) {
    let envelope: Envelope<T> = match serde_json::from_slice(bytes) {
        Ok(envelope) => envelope,
        Err(e) => {
            let error = ShopifyError::Unavailable(format!(
                "{what}: an answer that is not a GraphQL answer of the expected shape: {e}"
            ));
            return (Exchange::failed(error), None);
        }
    };
    let cost = envelope.extensions.and_then(|x| x.cost);
    let errors = envelope.errors.unwrap_or_default();
    let too_costly = errors
        .iter()
        .find(|e| e.code() == Some("MAX_COST_EXCEEDED"));
    let stated = too_costly.and_then(|e| e.extensions.as_ref());
    let requested = cost
        .as_ref()
        .and_then(|c| c.requested_query_cost)
        .or_else(|| stated.and_then(|x| x.cost));
    let max_cost = stated.and_then(|x| x.max_cost);
    let outcome = if !errors.is_empty() {
        Err(graphql_error(what, &errors, cost.as_ref()))
    } else {
        envelope.data.ok_or_else(|| {
            ShopifyError::Unavailable(format!("{what}: an answer with neither data nor errors"))
        })
    };
    let exchange = Exchange {
        outcome,
        requested,
        max_cost,
        too_costly: too_costly.is_some(),
    };
    (exchange, cost)
}

/// A request that got no answer, through the one HTTP mapping (without the URL).
pub(crate) fn transport_error(what: &str, e: reqwest::Error) -> ShopifyError {
    stockbridge_http::no_answer(what, &e).into()
}

/// A non-2xx answer, through the one HTTP mapping; a refused token gets the scopes it needs, and
/// a 429's `Retry-After` is capped at [`crate::MAX_THROTTLE_WAIT`].
pub(crate) fn status_error(
    what: &str,
    status: StatusCode,
    retry_after: Option<&str>,
    body: &[u8],
) -> ShopifyError {
    let text = truncate(String::from_utf8_lossy(body).trim());
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return ShopifyError::Rejected(format!("{what}: HTTP {status} ({SCOPES_HINT}): {text}"));
    }
    let detail = format!("{what}: HTTP {status}: {text}");
    let failure =
        stockbridge_http::failure(status.as_u16(), retry_after, detail, DEFAULT_RETRY_AFTER_MS);
    match ShopifyError::from(failure) {
        ShopifyError::Throttled { retry_after_ms } => ShopifyError::Throttled {
            retry_after_ms: capped_wait_ms(retry_after_ms),
        },
        other => other,
    }
}

/// The errors of a GraphQL answer: `THROTTLED` waits (capped) for the deficit, server-side codes
/// are `Unavailable`, the rest `Rejected`.
pub(crate) fn graphql_error(what: &str, errors: &[GqlError], cost: Option<&Cost>) -> ShopifyError {
    let has = |code: &str| errors.iter().any(|e| e.code() == Some(code));
    if has("THROTTLED") {
        return ShopifyError::Throttled {
            retry_after_ms: throttled_wait_ms(cost),
        };
    }
    let detail = errors
        .iter()
        .map(|e| match e.code() {
            Some(code) => format!("{} ({code})", e.message),
            None => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let detail = truncate(&detail);
    if has("INTERNAL_SERVER_ERROR") || has("SERVICE_UNAVAILABLE") || has("TIMEOUT") {
        return ShopifyError::Unavailable(format!("{what}: {detail}"));
    }
    if has("ACCESS_DENIED") {
        return ShopifyError::Rejected(format!("{what}: {detail} ({SCOPES_HINT})"));
    }
    ShopifyError::Rejected(format!("{what}: {detail}"))
}

/// A mutation's `userErrors` as one line: `field.path: message (CODE); ...`.
pub(crate) fn describe_user_errors(errors: &[UserError]) -> String {
    truncate(
        &errors
            .iter()
            .map(|e| {
                let field = e.field.as_ref().map(|f| f.join(".")).unwrap_or_default();
                match (&e.code, field.is_empty()) {
                    (Some(code), false) => format!("{field}: {} ({code})", e.message),
                    (Some(code), true) => format!("{} ({code})", e.message),
                    (None, false) => format!("{field}: {}", e.message),
                    (None, true) => e.message.clone(),
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MESSAGE_MAX;

    #[test]
    fn a_retry_after_of_a_day_is_capped() {
        let capped = status_error("levels", StatusCode::TOO_MANY_REQUESTS, Some("86400"), b"");
        assert_eq!(
            capped,
            ShopifyError::Throttled {
                retry_after_ms: 60_000
            }
        );
        let honest = status_error("levels", StatusCode::TOO_MANY_REQUESTS, Some("2"), b"");
        assert_eq!(
            honest,
            ShopifyError::Throttled {
                retry_after_ms: 2000
            }
        );
        let unusable = status_error("levels", StatusCode::TOO_MANY_REQUESTS, Some("x"), b"");
        assert_eq!(
            unusable,
            ShopifyError::Throttled {
                retry_after_ms: DEFAULT_RETRY_AFTER_MS
            }
        );
    }

    #[test]
    fn statuses_and_graphql_codes_say_what_to_do() {
        assert!(matches!(
            status_error("x", StatusCode::FORBIDDEN, None, b"no"),
            ShopifyError::Rejected(d) if d.contains("read_inventory")
        ));
        assert!(matches!(
            status_error("x", StatusCode::BAD_GATEWAY, None, b""),
            ShopifyError::Unavailable(_)
        ));
        let error = |code: &str| GqlError {
            message: "m".into(),
            extensions: Some(crate::wire::GqlErrorExtensions {
                code: Some(code.into()),
                cost: None,
                max_cost: None,
            }),
        };
        assert!(matches!(
            graphql_error("x", &[error("THROTTLED")], None),
            ShopifyError::Throttled { retry_after_ms } if retry_after_ms == DEFAULT_RETRY_AFTER_MS
        ));
        assert!(matches!(
            graphql_error("x", &[error("TIMEOUT")], None),
            ShopifyError::Unavailable(_)
        ));
        assert!(matches!(
            graphql_error("x", &[error("ACCESS_DENIED")], None),
            ShopifyError::Rejected(d) if d.contains("access scopes")
        ));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let cut = truncate(&long);
        assert!(cut.len() <= MESSAGE_MAX + "…".len());
        assert!(cut.ends_with('…'));
    }
}
