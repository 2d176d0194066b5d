//! A fault-injecting HTTP reverse proxy for integration tests.
//!
//! ```ignore
//! mod fault_proxy;
//! use fault_proxy::{Fault, FaultProxy};
//!
//! let proxy = FaultProxy::start(&server_url).await;
//! proxy.push(Fault::Status { code: 500, retry_after: None });
//! // point the client at proxy.url(): its next request gets a 500, the one after is forwarded
//! ```
//!
//! Faults are queued and each one is used by the next request, in order; with the queue empty a
//! request is forwarded unchanged (method, path and query, headers, body) and the target's answer
//! is returned. A fault may instead be aimed at the requests a [`Matcher`] picks (method, part of
//! the path, part of the body), `times` of them ([`FaultProxy::push_matching`]); those are tried
//! first, and a request they do not pick takes the next queued fault as before. Forwarding runs in its own task, so a request delayed past the client's timeout
//! still reaches the target, like a real server that finishes work its client gave up on.
#![allow(dead_code)] // each test file uses a different part

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// What to do to one request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and `Retry-After: <seconds>` if given) without forwarding.
    Status { code: u16, retry_after: Option<u64> },
    /// Wait this long, then forward (drives client timeouts).
    Delay(Duration),
    /// Never answer: the client times out. Nothing is forwarded.
    Drop,
}

/// Which requests an aimed fault applies to; a field left `None` matches every request.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    /// `GET`, `POST`, ...
    pub method: Option<&'static str>,
    /// A part of the path (e.g. `stock.shipment.internal`).
    pub path_contains: Option<String>,
    /// A part of the request body (e.g. a shipment reference).
    pub body_contains: Option<String>,
}

impl Matcher {
    fn picks(&self, method: &str, path: &str, body: &[u8]) -> bool {
        self.method.is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
            && self
                .body_contains
                .as_deref()
                .is_none_or(|b| String::from_utf8_lossy(body).contains(b))
    }
}

/// A fault aimed at the requests a matcher picks, this many more times.
struct Aimed {
    matcher: Matcher,
    fault: Fault,
    left: usize,
}

struct Shared {
    target: String,
    faults: Mutex<VecDeque<Fault>>,
    aimed: Mutex<Vec<Aimed>>,
    aimed_served: AtomicUsize,
    forwarded: AtomicUsize,
    faults_served: AtomicUsize,
    client: reqwest::Client,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) in front of `target_base` (e.g.
    /// `http://127.0.0.1:4000`, no trailing slash needed).
    pub async fn start(target_base: &str) -> FaultProxy {
        let shared = Arc::new(Shared {
            target: target_base.trim_end_matches('/').to_string(),
            faults: Mutex::new(VecDeque::new()),
            aimed: Mutex::new(Vec::new()),
            aimed_served: AtomicUsize::new(0),
            forwarded: AtomicUsize::new(0),
            faults_served: AtomicUsize::new(0),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("proxy client"),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("proxy server");
        });
        FaultProxy { addr, shared, task }
    }

    /// The base URL to give the client instead of the target's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a fault for the next request not already given one.
    pub fn push(&self, fault: Fault) {
        self.shared.faults.lock().expect("faults").push_back(fault);
    }

    /// Aims `fault` at the next `times` requests `matcher` picks (before any queued fault).
    pub fn push_matching(&self, matcher: Matcher, fault: Fault, times: usize) {
        self.shared.aimed.lock().expect("aimed").push(Aimed {
            matcher,
            fault,
            left: times,
        });
    }

    /// Aimed faults used so far (also counted in [`FaultProxy::faults_served`]).
    pub fn aimed_served(&self) -> usize {
        self.shared.aimed_served.load(Ordering::SeqCst)
    }

    /// Requests forwarded to the target so far (a delayed one counts once it is sent).
    pub fn requests(&self) -> usize {
        self.shared.forwarded.load(Ordering::SeqCst)
    }

    /// Faults used so far.
    pub fn faults_served(&self) -> usize {
        self.shared.faults_served.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let aimed = {
        let mut aimed = shared.aimed.lock().expect("aimed");
        let path = parts.uri.path();
        aimed
            .iter_mut()
            .find(|a| a.left > 0 && a.matcher.picks(parts.method.as_str(), path, &body))
            .map(|a| {
                a.left -= 1;
                a.fault.clone()
            })
    };
    if aimed.is_some() {
        shared.aimed_served.fetch_add(1, Ordering::SeqCst);
    }
    let fault = aimed.or_else(|| shared.faults.lock().expect("faults").pop_front());
    if fault.is_some() {
        shared.faults_served.fetch_add(1, Ordering::SeqCst);
    }
    let delay = match fault {
        None => Duration::ZERO,
        Some(Fault::Delay(d)) => d,
        Some(Fault::Status { code, retry_after }) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (
                status,
                [("content-type", "application/json")],
                r#"{"error":"injected by the fault proxy"}"#,
            )
                .into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(seconds));
            }
            return response;
        }
        Some(Fault::Drop) => std::future::pending::<Duration>().await,
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", shared.target);
    // Its own task: a client that stops waiting does not cancel the forwarded request.
    let forward = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        shared.forwarded.fetch_add(1, Ordering::SeqCst);
        let sent = shared
            .client
            .request(parts.method, url)
            .headers(end_to_end(&parts.headers))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(answer) => {
                let status = answer.status();
                let headers = end_to_end(answer.headers());
                let body = answer.bytes().await.unwrap_or_else(|_| Bytes::new());
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                response
            }
            Err(e) => (StatusCode::BAD_GATEWAY, format!("fault proxy: {e}")).into_response(),
        }
    });
    forward
        .await
        .unwrap_or_else(|e| (StatusCode::BAD_GATEWAY, format!("fault proxy: {e}")).into_response())
}

/// The headers without hop-by-hop ones and those the HTTP stack sets itself.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    const SKIP: [&str; 10] = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    ];
    headers
        .iter()
        .filter(|(name, _)| !SKIP.contains(&name.as_str()))
        .map(|(name, value)| (HeaderName::clone(name), value.clone()))
        .collect()
}
