//! Reading a completed bulk operation's result: the URL Shopify names is checked before anything
//! is sent to it, the JSONL is streamed without the access token, each line is bounded, and each
//! level is pushed into the external sort ([`ItemOrder`]).
//!
//! The result URL is a pre-signed storage URL (a bearer credential in its query string), not the
//! Admin API. It is fetched only when:
//! - it is `https` (plain `http` only to a loopback host, and only when the Admin API base is
//!   itself loopback `http`: the local stand-in serves `http://127.0.0.1:<port>/_standin/bulk/..`);
//! - its host is one of [`RESULT_HOSTS`], or the Admin API base's own host, or (when the base is
//!   loopback) a loopback host;
//! - it carries no user name or password.
//!
//! Otherwise the run is [`ShopifyError::Rejected`] with the reason (scheme and host named, never
//! the signed query). `storage.googleapis.com` is shared by every Google Cloud customer, so the
//! host check narrows where a tampered answer can point the download; it does not authenticate
//! the file. What holds whatever the URL: the token is never sent (this request carries no
//! Shopify header), redirects are not followed, a line longer than [`MAX_LINE`] is an error
//! rather than a growing buffer, and every line must parse as a level.

use std::net::{Ipv4Addr, Ipv6Addr};

use reqwest::Url;

use stockbridge_core::ports::ShopifyError;
use stockbridge_domain::ids::LocationId;

use crate::bulk::item_order::{InItemOrder, ItemOrder, RUN_LEN};
use crate::client::transport_error;
use crate::wire::{level_from, LevelNode};
use crate::ShopifyGraphql;

/// Hosts Shopify serves bulk operation results from: Google Cloud Storage (today's URLs are
/// `https://storage.googleapis.com/shopify-tiers-assets-prod-<region>/bulk-operation-outputs/..`),
/// and Shopify's own domains. `*.` means any subdomain (not the bare domain).
pub const RESULT_HOSTS: &[&str] = &[
    "storage.googleapis.com",
    "shopify.com",
    "*.shopify.com",
    "*.myshopify.com",
];

/// The longest JSONL line accepted, in bytes (without the newline). A level line is about 200
/// bytes; a longer line is a broken or hostile file, refused rather than buffered.
pub const MAX_LINE: usize = 64 * 1024;

/// Checks the result URL `raw` against the Admin API endpoint `admin` it came from; the URL to
/// fetch, or why not.
pub(crate) fn check_result_url(raw: &str, admin: &Url) -> Result<Url, ShopifyError> {
    let refuse = |why: String| {
        ShopifyError::Rejected(format!(
            "bulk output: the result URL Shopify named is not fetched: {why}"
        ))
    };
    let url = Url::parse(raw.trim()).map_err(|e| refuse(format!("not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("it carries a user name or password".into()));
    }
    let host = url
        .host_str()
        .ok_or_else(|| refuse(format!("a {} URL without a host", url.scheme())))?;
    let admin_loopback = admin.host_str().is_some_and(is_loopback);
    let loopback = is_loopback(host);
    match url.scheme() {
        "https" => {}
        "http" if loopback && admin_loopback && admin.scheme() == "http" => {}
        "http" => {
            return Err(refuse(format!(
                "plain http to {host}; only https (plain http only to loopback, when the Admin \
                 API base is loopback http)"
            )))
        }
        other => return Err(refuse(format!("scheme {other:?}; only https"))),
    }
    let expected =
        is_result_host(host) || admin.host_str() == Some(host) || (admin_loopback && loopback);
    if !expected {
        return Err(refuse(format!(
            "host {host} is not one Shopify serves bulk results from ({}, or the Admin API's own \
             host)",
            RESULT_HOSTS.join(", ")
        )));
    }
    Ok(url)
}

/// `host` (lower case, as a parsed URL has it) matches an entry of [`RESULT_HOSTS`].
fn is_result_host(host: &str) -> bool {
    RESULT_HOSTS
        .iter()
        .any(|pattern| match pattern.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .and_then(|sub| sub.strip_suffix('.'))
                .is_some_and(|sub| !sub.is_empty()),
            None => host == *pattern,
        })
}

/// `localhost`, `127.0.0.0/8` or `[::1]`, as a URL's host string.
fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Splits a byte stream, fed in chunks of any size, into lines (without the `\n`), each at most
/// `max` bytes: a longer line is an error as soon as it is known to be longer, so what is held
/// is bounded by `max` plus one chunk.
pub(crate) struct JsonlLines {
    pending: Vec<u8>,
    line_no: usize,
    max: usize,
}

impl JsonlLines {
    pub(crate) fn new(max: usize) -> Self {
        JsonlLines {
            pending: Vec::new(),
            line_no: 0,
            max,
        }
    }

    fn check(&self, len: usize) -> Result<(), ShopifyError> {
        if len <= self.max {
            return Ok(());
        }
        Err(ShopifyError::Unavailable(format!(
            "bulk output line {} is longer than {} bytes (a level takes a few hundred): not a \
             level, refused rather than buffered",
            self.line_no + 1,
            self.max
        )))
    }

    /// Feeds `chunk`; `take` gets each line completed by it, with its number (from 1).
    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        take: &mut impl FnMut(usize, &[u8]) -> Result<(), ShopifyError>,
    ) -> Result<(), ShopifyError> {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            let (head, tail) = (&rest[..end], &rest[end + 1..]);
            self.check(self.pending.len() + head.len())?;
            self.line_no += 1;
            if self.pending.is_empty() {
                take(self.line_no, head)?;
            } else {
                self.pending.extend_from_slice(head);
                let line = std::mem::take(&mut self.pending);
                take(self.line_no, &line)?;
                self.pending = line;
                self.pending.clear();
            }
            rest = tail;
        }
        self.check(self.pending.len() + rest.len())?;
        self.pending.extend_from_slice(rest);
        Ok(())
    }

    /// Ends the stream: the last line, when it has no final newline.
    pub(crate) fn finish(
        mut self,
        take: &mut impl FnMut(usize, &[u8]) -> Result<(), ShopifyError>,
    ) -> Result<(), ShopifyError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.line_no += 1;
        take(self.line_no, &self.pending)
    }
}

fn spill_error(e: std::io::Error) -> ShopifyError {
    ShopifyError::Unavailable(format!("bulk output: cannot spill to temporary files: {e}"))
}

/// One JSONL line (number `line_no`) as a level at `location`, into `sorter`; blank lines are
/// skipped.
fn take_level(
    line_no: usize,
    line: &[u8],
    location: LocationId,
    sorter: &mut ItemOrder,
) -> Result<(), ShopifyError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let node: LevelNode = serde_json::from_slice(line).map_err(|e| {
        ShopifyError::Unavailable(format!("bulk output line {line_no} is not a level: {e}"))
    })?;
    let level = level_from(&node, location, &format!("bulk output line {line_no}"))?;
    sorter.push(level).map_err(spill_error)
}

impl ShopifyGraphql {
    /// The levels at the result `url` (`None`: the operation found nothing), in item order.
    pub(crate) async fn download_in_item_order(
        &self,
        url: Option<String>,
        location: LocationId,
    ) -> Result<InItemOrder, ShopifyError> {
        let mut sorter = ItemOrder::new(RUN_LEN);
        if let Some(raw) = url {
            let url = check_result_url(&raw, &self.endpoint)?;
            // Pre-signed storage, not the Admin API: no token, no Shopify header at all.
            let mut response = self
                .client
                .get(url)
                .timeout(self.bulk_timeout)
                .send()
                .await
                .map_err(|e| transport_error("bulk output", e))?;
            if !response.status().is_success() {
                return Err(ShopifyError::Unavailable(format!(
                    "bulk output: HTTP {}",
                    response.status()
                )));
            }
            let mut lines = JsonlLines::new(MAX_LINE);
            let mut take = |n: usize, line: &[u8]| take_level(n, line, location, &mut sorter);
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| transport_error("bulk output", e))?
            {
                lines.feed(&chunk, &mut take)?;
            }
            lines.finish(&mut take)?;
        }
        sorter.finish().map_err(spill_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    fn admin(base: &str) -> Url {
        crate::ShopifyGraphql::new(base, "shpat_secret")
            .unwrap()
            .endpoint
    }

    fn refused(raw: &str, base: &str) -> String {
        match check_result_url(raw, &admin(base)) {
            Err(ShopifyError::Rejected(why)) => why,
            other => panic!("{raw} from {base}: {other:?}"),
        }
    }

    #[test]
    fn result_urls_are_https_to_an_expected_host() {
        let shop = "https://demo.myshopify.com";
        for ok in [
            "https://storage.googleapis.com/shopify-tiers-assets-prod-us-east1/bulk-operation-outputs/x.jsonl?GoogleAccessId=a&Signature=b",
            "https://STORAGE.googleapis.com/shopify/x.jsonl",
            "https://cdn.shopify.com/bulk/x.jsonl",
            "https://shopify.com/x",
            "https://demo.myshopify.com/x",
            "https://other.myshopify.com/x",
        ] {
            assert!(check_result_url(ok, &admin(shop)).is_ok(), "{ok}");
        }
        assert!(refused("http://storage.googleapis.com/shopify/x", shop).contains("plain http"));
        assert!(refused("ftp://storage.googleapis.com/x", shop).contains("scheme"));
        for host in [
            "https://evil.example/x",
            "https://evilshopify.com/x",
            "https://myshopify.com/x",
            "https://storage.googleapis.com.evil.example/x",
            "https://storage.googleapis.com./x",
            "https://169.254.169.254/latest/meta-data",
            "https://127.0.0.1/x",
        ] {
            assert!(refused(host, shop).contains("is not one Shopify"), "{host}");
        }
        assert!(refused("https://u:p@storage.googleapis.com/x", shop).contains("user name"));
        assert!(refused("not a url", shop).contains("not a URL"));
        // The signed query is a credential: never quoted.
        assert!(!refused("https://evil.example/x?Signature=s3cret", shop).contains("s3cret"));
    }

    #[test]
    fn plain_http_only_from_a_loopback_http_base_to_loopback() {
        let standin = "http://127.0.0.1:8788";
        for ok in [
            "http://127.0.0.1:8788/_standin/bulk/1.jsonl",
            "http://localhost:9000/_standin/bulk/1.jsonl",
            "http://[::1]:8788/x",
            "https://storage.googleapis.com/shopify/x",
        ] {
            assert!(check_result_url(ok, &admin(standin)).is_ok(), "{ok}");
        }
        assert!(refused("http://10.0.0.5/x", standin).contains("plain http"));
        assert!(refused("http://storage.googleapis.com/x", standin).contains("plain http"));
        // A loopback https base (a TLS proxy) allows loopback hosts, but only over https.
        let tls = "https://localhost:8443";
        assert!(check_result_url("https://127.0.0.1:9/x", &admin(tls)).is_ok());
        assert!(refused("http://127.0.0.1:9/x", tls).contains("plain http"));
        // A production base never allows loopback, whatever the scheme.
        let shop = "https://demo.myshopify.com";
        assert!(refused("http://127.0.0.1:8788/_standin/bulk/1.jsonl", shop).contains("plain http"));
    }

    fn split(input: &[u8], sizes: &[usize], max: usize) -> Result<Vec<(usize, Vec<u8>)>, String> {
        let mut lines = JsonlLines::new(max);
        let mut out = Vec::new();
        let mut take = |n: usize, line: &[u8]| {
            out.push((n, line.to_vec()));
            Ok(())
        };
        let mut rest = input;
        let mut i = 0;
        while !rest.is_empty() {
            let size = sizes[i % sizes.len()].clamp(1, rest.len());
            let (chunk, tail) = rest.split_at(size);
            lines.feed(chunk, &mut take).map_err(|e| e.to_string())?;
            rest = tail;
            i += 1;
        }
        lines.finish(&mut take).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn lines_come_whole_whatever_the_chunks() {
        let input = b"{\"a\":1}\n\n{\"b\":22}\n{\"c\":333}";
        let want: Vec<(usize, Vec<u8>)> = vec![
            (1, b"{\"a\":1}".to_vec()),
            (2, b"".to_vec()),
            (3, b"{\"b\":22}".to_vec()),
            (4, b"{\"c\":333}".to_vec()),
        ];
        for sizes in [&[1][..], &[2, 3], &[7], &[100]] {
            assert_eq!(split(input, sizes, 64).unwrap(), want, "{sizes:?}");
        }
        assert_eq!(split(b"", &[1], 64).unwrap(), vec![]);
        assert_eq!(split(b"x\n", &[1], 64).unwrap(), vec![(1, b"x".to_vec())]);
    }

    #[test]
    fn a_line_over_the_bound_is_an_error_not_a_buffer() {
        let exact = [b"x".repeat(16), b"\n".to_vec()].concat();
        assert_eq!(split(&exact, &[5], 16).unwrap().len(), 1);
        let over = [b"ok\n".to_vec(), b"x".repeat(17), b"\n".to_vec()].concat();
        for sizes in [&[1][..], &[4], &[100]] {
            let err = split(&over, sizes, 16).unwrap_err();
            assert!(err.contains("line 2 is longer than 16 bytes"), "{err}");
        }
        // Without a newline at all: refused once the bound is passed, however it arrives.
        let endless = b"y".repeat(1000);
        let mut lines = JsonlLines::new(16);
        let mut take = |_: usize, _: &[u8]| Ok(());
        let mut fed = 0;
        let result = endless.chunks(3).try_for_each(|c| {
            fed += c.len();
            lines.feed(c, &mut take)
        });
        assert!(matches!(result, Err(ShopifyError::Unavailable(_))));
        assert!(fed <= 16 + 3, "{fed} bytes taken in before refusing");
    }

    /// Serves one canned answer on loopback; the request it received comes back on the channel.
    fn serve_once(body: Vec<u8>) -> (u16, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&request).into_owned());
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/jsonl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        });
        (port, rx)
    }

    fn line(item: u64, available: i64) -> String {
        format!(
            r#"{{"item":{{"id":"gid://shopify/InventoryItem/{item}"}},"quantities":[{{"name":"available","quantity":{available}}},{{"name":"on_hand","quantity":5}},{{"name":"committed","quantity":1}},{{"name":"reserved","quantity":0}},{{"name":"damaged","quantity":2}},{{"name":"safety_stock","quantity":0}},{{"name":"quality_control","quantity":0}},{{"name":"incoming","quantity":4}}]}}"#
        )
    }

    #[tokio::test]
    async fn the_download_sends_no_token_and_sorts_by_item() {
        let body = format!("{}\n{}\n{}", line(30, 3), line(10, 1), line(20, 2));
        let (port, request) = serve_once(body.into_bytes());
        let base = format!("http://127.0.0.1:{port}");
        let client = crate::ShopifyGraphql::new(&base, "shpat_secret").unwrap();
        let url = format!("{base}/_standin/bulk/1.jsonl");
        let levels: Vec<_> = client
            .download_in_item_order(Some(url), LocationId(7))
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let items: Vec<u64> = levels.iter().map(|l| l.item.0).collect();
        assert_eq!(items, vec![10, 20, 30]);
        assert!(levels.iter().all(|l| l.location == LocationId(7)));
        assert!(
            levels.iter().all(|l| (l.damaged, l.incoming) == (2, 4)),
            "every quantity name is read: {levels:?}"
        );
        let request = request.recv().unwrap();
        assert!(
            request.starts_with("GET /_standin/bulk/1.jsonl "),
            "{request}"
        );
        assert!(!request.contains("shpat_secret"), "{request}");
        assert!(
            !request
                .to_ascii_lowercase()
                .contains("x-shopify-access-token"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn an_overlong_line_in_the_download_is_refused() {
        let body = format!("{}\n{}\n", line(1, 1), "x".repeat(MAX_LINE + 1));
        let (port, _request) = serve_once(body.into_bytes());
        let base = format!("http://127.0.0.1:{port}");
        let client = crate::ShopifyGraphql::new(&base, "shpat_secret").unwrap();
        let result = client
            .download_in_item_order(Some(format!("{base}/x.jsonl")), LocationId(7))
            .await;
        assert!(
            matches!(&result, Err(ShopifyError::Unavailable(d)) if d.contains("line 2 is longer")),
            "{:?}",
            result.err()
        );
    }

    #[tokio::test]
    async fn a_refused_url_is_never_fetched() {
        let (port, request) = serve_once(line(1, 1).into_bytes());
        let client =
            crate::ShopifyGraphql::new("https://demo.myshopify.com", "shpat_secret").unwrap();
        let result = client
            .download_in_item_order(
                Some(format!("http://127.0.0.1:{port}/x.jsonl")),
                LocationId(7),
            )
            .await;
        assert!(matches!(result, Err(ShopifyError::Rejected(_))));
        assert!(request
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
    }
}
