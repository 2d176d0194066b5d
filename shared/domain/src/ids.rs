//! Identifiers and timestamps: Shopify ids as 64-bit integers (they exceed 2^53, so never floats),
//! shop domains, and a nanosecond UTC timestamp with an ordering key for "which is newer".

use std::fmt;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Shopify `InventoryItem` id: the unit whose stock is counted.
    InventoryItemId
);
id_type!(
    /// Shopify `Location` id.
    LocationId
);
id_type!(
    /// Shopify `ProductVariant` id (1:1 with an inventory item).
    VariantId
);
id_type!(
    /// Shopify order id.
    OrderId
);
id_type!(
    /// Shopify order line item id.
    LineItemId
);
id_type!(
    /// Shopify `FulfillmentOrder` id: the part of an order Shopify assigned to one location.
    FulfillmentOrderId
);

/// A shop, by its permanent `*.myshopify.com` domain, lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShopDomain(String);

impl ShopDomain {
    /// Normalises a domain as Shopify sends it in `X-Shopify-Shop-Domain` (case-insensitive).
    pub fn new(domain: &str) -> Self {
        ShopDomain(domain.trim().to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShopDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A UTC instant in nanoseconds since the Unix epoch.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses RFC 3339 with any offset and up to nanosecond precision
    /// (`2021-12-31T19:00:00-05:00`, `2023-03-29T18:00:27.877041743Z`).
    pub fn parse(text: &str) -> Option<Self> {
        let parsed = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
        i64::try_from(parsed.unix_timestamp_nanos())
            .ok()
            .map(Timestamp)
    }

    pub fn now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms.saturating_mul(1_000_000))
    }

    pub fn as_millis(self) -> i64 {
        self.0 / 1_000_000
    }

    pub fn as_secs(self) -> i64 {
        self.0 / 1_000_000_000
    }

    /// RFC 3339 in UTC with nanoseconds, for people and logs.
    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0))
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// How newer is told from older for one resource: the payload's own time (`updated_at`), then
/// Shopify's `X-Shopify-Triggered-At` to break ties inside one second. Larger is newer; an equal
/// version is the same fact seen again.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct Version {
    pub as_of: Timestamp,
    pub triggered: Timestamp,
}

impl Version {
    pub fn new(as_of: Timestamp, triggered: Timestamp) -> Self {
        Version { as_of, triggered }
    }

    /// A fixed-width text form that sorts like the version (for storage).
    pub fn to_key(self) -> String {
        format!(
            "{:020}.{:020}",
            offset(self.as_of.0),
            offset(self.triggered.0)
        )
    }

    pub fn from_key(key: &str) -> Option<Self> {
        let (a, t) = key.split_once('.')?;
        Some(Version {
            as_of: Timestamp(unoffset(a.parse().ok()?)),
            triggered: Timestamp(unoffset(t.parse().ok()?)),
        })
    }
}

fn offset(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

fn unoffset(v: u64) -> i64 {
    (v ^ (1 << 63)) as i64
}

/// Which stock record: one shop, one inventory item, one location.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StockKey {
    pub shop: ShopDomain,
    pub item: InventoryItemId,
    pub location: LocationId,
}

impl fmt::Display for StockKey {
    /// `shop/item/location`: stable, used in ERP write keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.shop, self.item, self.location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shopify_timestamps_with_offsets_and_nanos() {
        let a = Timestamp::parse("2021-12-31T19:00:00-05:00").unwrap();
        let b = Timestamp::parse("2022-01-01T00:00:00Z").unwrap();
        assert_eq!(a, b);
        let c = Timestamp::parse("2023-03-29T18:00:27.877041743Z").unwrap();
        assert_eq!(c.0 % 1_000_000_000, 877_041_743);
        assert!(Timestamp::parse("yesterday").is_none());
        assert!(Timestamp::parse("").is_none());
    }

    #[test]
    fn version_keys_sort_like_versions_even_before_1970() {
        let vs = [
            Version::new(Timestamp(-5), Timestamp(3)),
            Version::new(Timestamp(0), Timestamp(0)),
            Version::new(Timestamp(0), Timestamp(1)),
            Version::new(Timestamp(1_700_000_000_000_000_000), Timestamp(-1)),
        ];
        for w in vs.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].to_key() < w[1].to_key());
        }
        for v in vs {
            assert_eq!(Version::from_key(&v.to_key()), Some(v));
        }
    }

    #[test]
    fn shop_domains_compare_case_insensitively() {
        assert_eq!(
            ShopDomain::new(" Demo.MyShopify.com "),
            ShopDomain::new("demo.myshopify.com")
        );
    }
}
