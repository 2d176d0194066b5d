//! The webhook's HTTP front door: `POST /webhooks/shopify` and `GET /healthz`, as an axum router
//! that runs unchanged in Lambda (through `lambda_http`) and on a local port. It reads the body up
//! to the intake's limit (a declared or actual body over it is not read further), hands headers
//! and body to the core intake, and writes its answer back.

use std::sync::Arc;

use axum::body::{to_bytes, Body as HttpBody};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
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

async fn receive<Q: EventQueue, I: Inbox + BodyStore>(
    State(service): State<Arc<WebhookService<Q, I>>>,
    headers: HeaderMap,
    body: HttpBody,
) -> Response {
    let limit = service.max_body_bytes;
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
    let answer = match &read {
        Some(bytes) => service.receive(&headers, Body::Complete(bytes)).await,
        None => service.receive(&headers, Body::TooLarge).await,
    };
    respond(answer)
}

fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(answer.body)).into_response()
}
