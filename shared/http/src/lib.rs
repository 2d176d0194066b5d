//! What the HTTP adapters (the ERPs, Shopify's Admin API) share, written once:
//!
//! - [`client`]: a `reqwest` client with connect and request timeouts that follows no redirect
//!   (a credential is only ever sent to the configured base);
//! - [`base_url`]: a configured base URL, refused unless it is https (plain http only on
//!   loopback, for the local stack);
//! - [`Failure`] and [`failure`]: one mapping of an HTTP answer that is not a success, or of no
//!   answer at all, to what the caller should do, turned into each port's error type;
//! - [`retry_after_ms`]: the `Retry-After` header (seconds, or an HTTP date).

use std::time::Duration;

use reqwest::Url;
use stockbridge_core::config::ConfigError;
use stockbridge_core::ports::{ErpError, ShopifyError};

/// A client with timeouts that follows no redirect. Building fails only when the TLS backend
/// cannot start; the caller reports that as configuration, never falls back to a client without
/// timeouts.
pub fn client(connect: Duration, request: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(request)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("stockbridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Parses the base URL configured in `name`: https, or plain http to a loopback address only
/// (`127.0.0.0/8`, `[::1]`, `localhost`).
pub fn base_url(name: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let invalid = |detail: String| ConfigError::Invalid { name, detail };
    let url = Url::parse(raw.trim()).map_err(|e| invalid(format!("{raw:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(invalid(format!(
            "{raw:?} is plain http to a host that is not loopback; use https"
        ))),
        other => Err(invalid(format!("{raw:?} has scheme {other:?}; use https"))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// What an HTTP failure means for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// 429: wait at least this long.
    Throttled { retry_after_ms: u64 },
    /// 5xx, or no answer (refused, timed out, broken): retry later.
    Unavailable(String),
    /// Any other answer (4xx, an unexpected redirect): a retry will not fix it.
    Refused(String),
}

/// Classifies a non-success answer: `status`, the `Retry-After` header if any, and a detail
/// (what was asked, and the server's message) for the error text. A 429 without a usable
/// `Retry-After` waits `default_retry_after_ms`.
pub fn failure(
    status: u16,
    retry_after: Option<&str>,
    detail: String,
    default_retry_after_ms: u64,
) -> Failure {
    match status {
        429 => Failure::Throttled {
            retry_after_ms: retry_after
                .and_then(|v| retry_after_ms(v, std::time::SystemTime::now()))
                .unwrap_or(default_retry_after_ms),
        },
        500..=599 => Failure::Unavailable(detail),
        300..=399 => Failure::Refused(format!(
            "{detail} (redirects are not followed; check the configured URL)"
        )),
        _ => Failure::Refused(detail),
    }
}

/// A request that got no answer: `what` was asked, and why it failed (`timed out`, `could not
/// connect`, `failed`) with the chain of causes, without the URL (configuration, possibly long).
pub fn no_answer(what: &str, e: &reqwest::Error) -> Failure {
    Failure::Unavailable(format!("{what}: {}", transport_failure(e)))
}

/// Why a request got no answer, with the chain of causes and without the URL.
pub fn transport_failure(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut detail = strip_url(e.to_string(), e.url());
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&strip_url(s.to_string(), e.url()));
        source = s.source();
    }
    format!("{kind}: {detail}")
}

fn strip_url(text: String, url: Option<&Url>) -> String {
    match url {
        Some(u) => text
            .replace(&format!(" for url ({u})"), "")
            .replace(u.as_str(), "<url>"),
        None => text,
    }
}

impl From<Failure> for ErpError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Throttled { retry_after_ms } => ErpError::Throttled { retry_after_ms },
            Failure::Unavailable(d) => ErpError::Unavailable(d),
            Failure::Refused(d) => ErpError::Rejected(d),
        }
    }
}

impl From<Failure> for ShopifyError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Throttled { retry_after_ms } => ShopifyError::Throttled { retry_after_ms },
            Failure::Unavailable(d) => ShopifyError::Unavailable(d),
            Failure::Refused(d) => ShopifyError::Rejected(d),
        }
    }
}

/// `Retry-After` as milliseconds: delay-seconds (whole, or with a fraction as Shopify sends) or an
/// IMF-fixdate HTTP-date (one in the past is 0). `None` when it is neither.
pub fn retry_after_ms(value: &str, now: std::time::SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        if seconds.is_finite() && seconds >= 0.0 && !value.starts_with('+') {
            return Some((seconds * 1000.0).ceil().min(u64::MAX as f64) as u64);
        }
        return None;
    }
    let fixdate = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, fixdate)
        .ok()?
        .assume_utc();
    let ms = (at - time::OffsetDateTime::from(now)).whole_milliseconds();
    Some(u64::try_from(ms.max(0)).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    // 2026-01-01T00:00:00Z
    fn now() -> std::time::SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    #[test]
    fn retry_after_takes_seconds_fractions_and_http_dates() {
        assert_eq!(retry_after_ms("2", now()), Some(2000));
        assert_eq!(retry_after_ms(" 0 ", now()), Some(0));
        assert_eq!(retry_after_ms("1.5", now()), Some(1500));
        assert_eq!(
            retry_after_ms("Thu, 01 Jan 2026 00:00:05 GMT", now()),
            Some(5000)
        );
        assert_eq!(
            retry_after_ms("Wed, 31 Dec 2025 23:00:00 GMT", now()),
            Some(0)
        );
        assert_eq!(retry_after_ms("soon", now()), None);
        assert_eq!(retry_after_ms("-3", now()), None);
        assert_eq!(retry_after_ms("NaN", now()), None);
        assert_eq!(retry_after_ms("inf", now()), None);
    }

    #[test]
    fn statuses_map_to_what_the_caller_should_do() {
        assert_eq!(
            failure(429, Some("3"), "x".into(), 1000),
            Failure::Throttled {
                retry_after_ms: 3000
            }
        );
        assert_eq!(
            failure(429, Some("later"), "x".into(), 1000),
            Failure::Throttled {
                retry_after_ms: 1000
            }
        );
        assert_eq!(
            failure(503, None, "x".into(), 0),
            Failure::Unavailable("x".into())
        );
        assert_eq!(
            failure(422, None, "x".into(), 0),
            Failure::Refused("x".into())
        );
        assert!(
            matches!(failure(301, None, "x".into(), 0), Failure::Refused(d) if d.contains("redirects"))
        );
        assert_eq!(
            ErpError::from(failure(500, None, "x".into(), 0)),
            ErpError::Unavailable("x".into())
        );
        assert_eq!(
            ShopifyError::from(failure(403, None, "x".into(), 0)),
            ShopifyError::Rejected("x".into())
        );
    }

    #[test]
    fn base_urls_are_https_or_loopback() {
        assert!(base_url("ERP_URL", "https://erp.example.com/api").is_ok());
        assert!(base_url("ERP_URL", "http://127.0.0.1:8000/db").is_ok());
        assert!(base_url("ERP_URL", "http://localhost:8000").is_ok());
        assert!(base_url("ERP_URL", "http://[::1]:8000").is_ok());
        assert!(base_url("ERP_URL", "http://erp.example.com").is_err());
        assert!(base_url("ERP_URL", "http://10.0.0.5").is_err());
        assert!(base_url("ERP_URL", "ftp://erp.example.com").is_err());
        assert!(base_url("ERP_URL", "not a url").is_err());
    }
}
