//! Webhook signatures: `X-Shopify-Hmac-Sha256` is base64(HMAC-SHA256(secret, raw body)).
//! Verified on the raw bytes before anything is parsed, in constant time, against every active
//! secret of the shop (after a rotation Shopify signs with the old secret for up to an hour).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signs a body as Shopify does (for tests, the sample events and the load generator).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    STANDARD.encode(digest(secret, body))
}

/// HMAC-SHA256 of `body` under `secret`: the digest a signature header encodes (base64 in
/// Shopify's, hex in the ERP webhook's `X-Stockbridge-Signature`).
pub fn digest(secret: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Which of `secrets` signed `body`, if any. The comparison of digests is constant time; a header
/// that is not base64 of 32 bytes matches nothing.
pub fn verify<S: AsRef<[u8]>>(secrets: &[S], body: &[u8], header: &str) -> Option<usize> {
    let claimed = STANDARD.decode(header.trim()).ok()?;
    verify_digest(secrets, body, &claimed)
}

/// Which of `secrets` made `claimed`, the HMAC-SHA256 of `body` however its header encoded it;
/// a claim that is not 32 bytes matches nothing. Constant time, every secret tried.
pub fn verify_digest<S: AsRef<[u8]>>(secrets: &[S], body: &[u8], claimed: &[u8]) -> Option<usize> {
    if claimed.len() != 32 {
        return None;
    }
    let mut matched = None;
    for (index, secret) in secrets.iter().enumerate() {
        let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_ref()) else {
            continue;
        };
        mac.update(body);
        // Every secret is tried, so the time does not tell which one matched.
        if mac.verify_slice(claimed).is_ok() && matched.is_none() {
            matched = Some(index);
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shopify/shopify-api-js packages/shopify-api/lib/webhooks/__tests__/validate.test.ts
    #[test]
    fn shopify_api_js_vector() {
        let body = br#"{"foo": "bar"}"#;
        assert_eq!(
            sign(b"test_secret_key", body),
            "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
        );
        assert_eq!(
            verify(
                &["test_secret_key"],
                body,
                "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
            ),
            Some(0)
        );
    }

    // Shopify/shopify_app test/shopify_app/controller_concerns/webhook_verification_test.rb
    #[test]
    fn shopify_app_vectors_with_rotation() {
        let body = b"foo=anything";
        assert_eq!(
            sign(b"secret", body),
            "yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yI="
        );
        assert_eq!(
            sign(b"old_secret", body),
            "XqRcjrSv57VACn6apEO9znyu/wkN1VC7QxdSPwK3Hzs="
        );
        let secrets = ["secret", "old_secret"];
        assert_eq!(
            verify(
                &secrets,
                body,
                "yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yI="
            ),
            Some(0)
        );
        assert_eq!(
            verify(
                &secrets,
                body,
                "XqRcjrSv57VACn6apEO9znyu/wkN1VC7QxdSPwK3Hzs="
            ),
            Some(1)
        );
        // The previous secret alone is no longer enough once it is retired.
        assert_eq!(
            verify(
                &["secret"],
                body,
                "XqRcjrSv57VACn6apEO9znyu/wkN1VC7QxdSPwK3Hzs="
            ),
            None
        );
    }

    #[test]
    fn tampered_body_wrong_secret_and_garbage_fail() {
        let body = br#"{"foo": "bar"}"#;
        let good = sign(b"test_secret_key", body);
        assert_eq!(
            verify(&["test_secret_key"], br#"{"foo": "baz"}"#, &good),
            None
        );
        assert_eq!(verify(&["wrong"], body, &good), None);
        assert_eq!(verify(&["test_secret_key"], body, "not base64!"), None);
        assert_eq!(verify(&["test_secret_key"], body, ""), None);
        assert_eq!(verify(&["test_secret_key"], body, "AAAA"), None);
        let no_secrets: [&str; 0] = [];
        assert_eq!(verify(&no_secrets, body, &good), None);
    }
}
