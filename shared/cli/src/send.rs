//! `stockbridge send`: POSTs recorded API Gateway v2 events (body and headers as recorded) to a
//! webhook URL and prints each answer. Exit 1 if any answer is not 2xx.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use crate::error::Result;

/// Headers the client sets itself for the new request.
const NOT_REPLAYED: [&str; 2] = ["content-length", "host"];

pub async fn post_events(url: &str, files: &[PathBuf]) -> Result<ExitCode> {
    let client = reqwest::Client::new();
    let mut ok = true;
    for file in files {
        let event: Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
        let response = request(&client, url, &event).send().await?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        ok &= status.is_success();
        println!("{:>3}  {}  {}", status.as_u16(), file_name(file), text);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The recorded event's body and string headers as a POST to `url`.
fn request(client: &reqwest::Client, url: &str, event: &Value) -> reqwest::RequestBuilder {
    let body = event["body"].as_str().unwrap_or_default().to_string();
    let mut request = client.post(url).body(body);
    if let Some(headers) = event["headers"].as_object() {
        for (k, v) in headers {
            let replayed = !NOT_REPLAYED.iter().any(|h| k.eq_ignore_ascii_case(h));
            if let (Some(v), true) = (v.as_str(), replayed) {
                request = request.header(k, v);
            }
        }
    }
    request
}

fn file_name(file: &Path) -> &str {
    file.file_name().and_then(|f| f.to_str()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_body_and_string_headers_are_sent_but_not_host_or_length() {
        let event = serde_json::json!({
            "body": "{\"id\":1}",
            "headers": {
                "X-Shopify-Topic": "orders/create",
                "Host": "example.com",
                "content-length": "8",
                "x-numeric": 5
            }
        });
        let client = reqwest::Client::new();
        let request = request(&client, "http://127.0.0.1:9/hook", &event)
            .build()
            .unwrap();
        let headers = request.headers();
        assert_eq!(headers["x-shopify-topic"], "orders/create");
        assert!(headers.get("host").is_none());
        assert!(headers.get("content-length").is_none());
        assert!(headers.get("x-numeric").is_none());
        let body = request.body().and_then(|b| b.as_bytes()).unwrap();
        assert_eq!(body, b"{\"id\":1}");
    }

    #[test]
    fn an_event_without_a_body_sends_an_empty_one() {
        let client = reqwest::Client::new();
        let request = request(&client, "http://127.0.0.1:9/hook", &serde_json::json!({}))
            .build()
            .unwrap();
        assert_eq!(request.body().and_then(|b| b.as_bytes()).unwrap(), b"");
    }
}
