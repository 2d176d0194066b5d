//! What the HTTP adapters (ERP, Shopify) share: a readable account of a call that got no answer.

/// Why a request got no answer (`timed out`, `could not connect`, `failed`) and the chain of
/// causes, without the URL (configuration, and possibly long).
pub fn transport_failure(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    format!("{kind}: {detail}")
}
