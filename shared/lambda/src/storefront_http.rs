//! The storefront's HTTP front door: `GET /storefront/v1/availability` (and `GET /healthz`), an
//! axum router that runs unchanged in Lambda (through `lambda_http`) and on a local port. It
//! decodes the query string into its pairs, hands them and the request headers to the core
//! read (`stockbridge_core::storefront_read`), and writes its answer back: status, headers
//! and body (none for 304). The path answers only `GET` (and `HEAD`); the body is never read.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use stockbridge_core::ports::{ErpRecords, SkuMapStore, StockStore};
use stockbridge_core::storefront_read::{Reply, StorefrontRead};
use stockbridge_core::webhook::RequestHeaders;

/// The path of the availability read.
pub const AVAILABILITY_PATH: &str = "/storefront/v1/availability";

/// The routes, sharing one read built at cold start.
pub fn router<M, S, R>(read: Arc<StorefrontRead<M, S, R>>) -> Router
where
    M: SkuMapStore + 'static,
    S: StockStore + 'static,
    R: ErpRecords + 'static,
{
    Router::new()
        .route(AVAILABILITY_PATH, get(availability::<M, S, R>))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(read)
}

async fn availability<M: SkuMapStore, S: StockStore, R: ErpRecords>(
    State(read): State<Arc<StorefrontRead<M, S, R>>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let query = uri.query().map(decode_query).unwrap_or_default();
    let headers = RequestHeaders::new(
        headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v.to_string()))),
    );
    respond(read.answer(&query, &headers).await)
}

fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.body {
        Some(body) => (status, body).into_response(),
        None => (status, Body::empty()).into_response(),
    };
    let out = response.headers_mut();
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            out.insert(n, v);
        }
    }
    response
}

/// The pairs of an `application/x-www-form-urlencoded` query string, in order: `+` is a space,
/// `%XX` a byte; a malformed escape is kept as written (the SKU check then refuses it).
pub fn decode_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_repeated_pairs_escapes_and_plus() {
        assert_eq!(
            decode_query("sku=A-1&sku=b%2Cc&shop=x.myshopify.com&sku=a+b&bad=%zz&flag"),
            vec![
                ("sku".into(), "A-1".into()),
                ("sku".into(), "b,c".into()),
                ("shop".into(), "x.myshopify.com".into()),
                ("sku".into(), "a b".into()),
                ("bad".into(), "%zz".into()),
                ("flag".into(), "".into()),
            ]
        );
    }
}
