//! The drill's count of Tryton REST calls: a loopback relay in front of Tryton that copies each
//! connection both ways and counts the requests going up (each carries `X-Tryton-Context` once).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The header every Tryton REST call of the adapter carries once: what the relay counts.
const CALL_MARK: &[u8] = b"x-tryton-context:";

/// How many times `mark` occurs in `tail` + `chunk` (ASCII case-insensitive); keeps in `tail`
/// the end of the stream a match may continue from.
fn count_marks(tail: &mut Vec<u8>, chunk: &[u8], mark: &[u8]) -> u64 {
    tail.extend_from_slice(chunk);
    let found = tail
        .windows(mark.len())
        .filter(|w| w.eq_ignore_ascii_case(mark))
        .count() as u64;
    let keep = tail.len().min(mark.len() - 1);
    tail.drain(..tail.len() - keep);
    found
}

/// A loopback relay to Tryton that counts the REST calls passing through it.
pub(crate) struct CountedTryton {
    /// Tryton's URL through the relay (same path).
    pub(crate) url: String,
    calls: Arc<AtomicU64>,
}

impl CountedTryton {
    pub(crate) async fn start(tryton_url: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let parsed = reqwest::Url::parse(tryton_url)?;
        let upstream = format!(
            "{}:{}",
            parsed.host_str().ok_or("TRYTON_URL names no host")?,
            parsed
                .port_or_known_default()
                .ok_or("TRYTON_URL names no port")?
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}{}", listener.local_addr()?, parsed.path());
        let calls = Arc::new(AtomicU64::new(0));
        let counter = calls.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream.clone(), counter.clone()));
            }
        });
        Ok(CountedTryton {
            url: url.trim_end_matches('/').to_string(),
            calls,
        })
    }

    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// Copies one connection both ways until either side closes, counting requests going up.
async fn relay(client: tokio::net::TcpStream, upstream: String, calls: Arc<AtomicU64>) {
    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
        return;
    };
    let up = async {
        let mut tail = Vec::new();
        pump(&client, &server, |chunk| {
            calls.fetch_add(count_marks(&mut tail, chunk, CALL_MARK), Ordering::Relaxed);
        })
        .await
    };
    let down = pump(&server, &client, |_| {});
    tokio::select! { _ = up => {}, _ = down => {} }
}

/// Reads from `from` and writes all of it to `to` until `from` closes or either fails.
async fn pump(
    from: &tokio::net::TcpStream,
    to: &tokio::net::TcpStream,
    mut seen: impl FnMut(&[u8]),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        from.readable().await?;
        let n = match from.try_read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        seen(&buf[..n]);
        let mut sent = 0;
        while sent < n {
            to.writable().await?;
            match to.try_write(&buf[sent..n]) {
                Ok(w) => sent += w,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_mark_is_counted_once_even_split_across_reads() {
        let mut tail = Vec::new();
        let request = b"GET /x HTTP/1.1\r\nx-tryton-context: e30=\r\n\r\n";
        let (a, b) = request.split_at(25);
        assert_eq!(count_marks(&mut tail, a, CALL_MARK), 0);
        assert_eq!(count_marks(&mut tail, b, CALL_MARK), 1);
        assert_eq!(count_marks(&mut tail, b"", CALL_MARK), 0);
        let two = b"X-Tryton-Context: a\r\n\r\nx-tryton-context: b\r\n\r\n";
        assert_eq!(count_marks(&mut Vec::new(), two, CALL_MARK), 2);
    }
}
