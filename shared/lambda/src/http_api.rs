//! The webhook's HTTP front door: `POST /webhooks/shopify`, `POST /webhooks/erp` ([`erp_router`])
//! and `GET /healthz`, as an axum router that runs unchanged in Lambda (through `lambda_http`)
//! and on a local port. It reads the body up to the intake's limit (a declared or actual body
//! over it is not read further), hands headers and body to the core intake, and writes its
//! answer back.

use std::sync::Arc;

use axum::body::{to_bytes, Body as HttpBody};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use stockbridge_core::erp_webhook::ErpWebhookService;
use stockbridge_core::ports::{BodyStore, EventQueue, Inbox};
use stockbridge_core::webhook::{Answer, Body, RequestHeaders, WebhookService};

/// The routes, sharing one service built at cold start.
pub fn router<Q, I>(service: Arc<WebhookService<Q, I>>) -> Router
where
    Q: EventQueue + 'static,
    I: Inbox + BodyStore + 'static,
{
    Router::new()
        .route("/webhooks/shopify", post(receive::<Q, I>))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(service)
}

/// `POST /webhooks/erp` (the ERP's signed stock-change notification), on its own service; merge
/// it into [`router`]'s routes.
pub fn erp_router<Q, I>(service: Arc<ErpWebhookService<Q, I>>) -> Router
where
    Q: EventQueue + 'static,
    I: Inbox + BodyStore + 'static,
{
    Router::new()
        .route("/webhooks/erp", post(receive_erp::<Q, I>))
        .with_state(service)
}

async fn receive<Q: EventQueue, I: Inbox + BodyStore>(
    State(service): State<Arc<WebhookService<Q, I>>>,
    headers: HeaderMap,
    body: HttpBody,
) -> Response {
    let (headers, read) = read_request(headers, body, service.max_body_bytes).await;
    let answer = match &read {
        Some(bytes) => service.receive(&headers, Body::Complete(bytes)).await,
        None => service.receive(&headers, Body::TooLarge).await,
    };
    respond(answer)
}

async fn receive_erp<Q: EventQueue, I: Inbox + BodyStore>(
    State(service): State<Arc<ErpWebhookService<Q, I>>>,
    headers: HeaderMap,
    body: HttpBody,
) -> Response {
    let (headers, read) = read_request(headers, body, service.max_body_bytes).await;
    let answer = match &read {
        Some(bytes) => service.receive(&headers, Body::Complete(bytes)).await,
        None => service.receive(&headers, Body::TooLarge).await,
    };
    respond(answer)
}

/// The headers, and the body up to `limit` (`None`: declared or read over it, not read further).
async fn read_request(
    headers: HeaderMap,
    body: HttpBody,
    limit: usize,
) -> (RequestHeaders, Option<axum::body::Bytes>) {
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let headers = RequestHeaders::new(
        headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v.to_string()))),
    );
    let read = if declared.is_some_and(|len| len > limit) {
        None
    } else {
        to_bytes(body, limit).await.ok()
    };
    (headers, read)
}

fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(answer.body)).into_response()
}
