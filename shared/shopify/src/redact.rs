//! Personal data removal for payloads kept in quarantine.
//!
//! A quarantined payload is kept so it can be replayed, but Stockbridge stores no personal data:
//! before it is kept, every field on this deny-list is removed wherever it appears. The list
//! covers what Shopify's order, fulfilment, refund, customer and shop payloads carry (customer,
//! addresses, contact details, names, notes, client details, status URLs with access keys).
//! A body that is not JSON cannot be redacted field by field: it is kept with an expiry instead
//! (see `Inbox`).

use serde_json::Value;

/// Field names removed at any depth.
pub const PERSONAL_FIELDS: &[&str] = &[
    "customer",
    "email",
    "contact_email",
    "phone",
    "first_name",
    "last_name",
    "name",
    "company",
    "billing_address",
    "shipping_address",
    "default_address",
    "addresses",
    "address1",
    "address2",
    "city",
    "zip",
    "province",
    "province_code",
    "latitude",
    "longitude",
    "destination",
    "origin_address",
    "browser_ip",
    "client_details",
    "note",
    "note_attributes",
    "order_status_url",
    "landing_site",
    "referring_site",
    "landing_site_ref",
    "payment_details",
    "credit_card_number",
    "credit_card_bin",
    "buyer_accepts_marketing",
    "user_id",
    "device_id",
    "checkout_token",
    "cart_token",
    "token",
    "tracking_numbers",
    "tracking_urls",
    "tracking_number",
    "tracking_url",
    "receipt",
    "data_request",
    "orders_requested",
    "shop_owner",
    "customer_email",
];

/// Removes every personal field from `value`, at any depth. Returns how many were removed.
pub fn redact(value: &mut Value) -> usize {
    match value {
        Value::Object(map) => {
            let before = map.len();
            map.retain(|k, _| !PERSONAL_FIELDS.contains(&k.to_ascii_lowercase().as_str()));
            let mut removed = before - map.len();
            for v in map.values_mut() {
                removed += redact(v);
            }
            removed
        }
        Value::Array(items) => items.iter_mut().map(redact).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_personal_fields_at_any_depth_and_keeps_stock_fields() {
        let mut v: Value = serde_json::from_str(
            r#"{"id":1,"email":"a@b.c","customer":{"id":2,"email":"a@b.c"},
                "line_items":[{"id":3,"sku":"X","quantity":2,"name":"Red shirt",
                  "destination":{"address1":"1 Main"}}],
                "billing_address":{"first_name":"A"}}"#,
        )
        .unwrap();
        assert_eq!(redact(&mut v), 5);
        let text = v.to_string();
        assert!(!text.contains("a@b.c") && !text.contains("Main") && !text.contains("first_name"));
        assert_eq!(v["line_items"][0]["quantity"], 2);
        assert_eq!(v["line_items"][0]["sku"], "X");
    }
}
