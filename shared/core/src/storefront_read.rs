//! The storefront's read of availability (`GET /storefront/v1/availability?sku=A&sku=B`): per
//! SKU, Shopify's sellable quantity (`available`) at each mapped location as the sync keeps it
//! in the stock records, their sum, and the item's next restock (ERP units converted to Shopify
//! units with the mapping's factor), read from the stores only (no ERP or Shopify call).
//!
//! Owns the request's checks (1 to [`MAX_SKUS`] SKUs, each by the SKU naming policy; the shop
//! one of those served, [`ServedShops`]), the answer's JSON, and its caching: `Cache-Control:
//! public, max-age=30`, a strong `ETag` (the body's SHA-256), `If-None-Match` answered 304
//! without a body. Statuses: 200; 304; 400 (no SKU, too many, a SKU the policy refuses, several
//! shops served and none named); 404 (a shop not served); 503 (a store unavailable or too slow:
//! retry); 500 (a stored record unreadable). Error bodies name the problem, never a store's
//! detail. The answer holds SKUs, location ids and names, quantities and dates: no order or
//! customer data exists in what it reads.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use stockbridge_domain::ids::{InventoryItemId, ShopDomain};
use stockbridge_domain::skumap::{check_sku, ItemMapping, SkuMap};
use stockbridge_domain::stock::StockKey;
use stockbridge_domain::storefront::ITEM_WIDE;

use crate::config::ConfigError;
use crate::ports::{sha256_hex, ErpRecords, PortError, SkuMapStore, StockStore, Wanted};
use crate::telemetry::{Metrics, Unit};
use crate::webhook::RequestHeaders;

/// Most SKUs one request may ask for (counting every value given, repeats included).
pub const MAX_SKUS: usize = 50;
/// How long a CDN or browser may reuse an answer.
pub const CACHE_CONTROL: &str = "public, max-age=30";
/// What error answers say about caching.
const NO_STORE: &str = "no-store";
/// The reads of one request end within this, or it is answered 503.
pub const READ_DEADLINE: Duration = Duration::from_secs(4);
/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER_SECS: &str = "2";

/// The shops this deployment answers for (`SHOP_DOMAIN`: one shop, or several separated by
/// commas). A `shop` query parameter is only ever one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedShops(BTreeSet<ShopDomain>);

impl ServedShops {
    /// Parses `a.myshopify.com[,b.myshopify.com]` (`variable` names the source in errors).
    pub fn parse(spec: &str, variable: &'static str) -> Result<Self, ConfigError> {
        let mut shops = BTreeSet::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if !is_shop_domain(part) {
                return Err(ConfigError::Invalid {
                    name: variable,
                    detail: format!("{part:?} is not a <name>.myshopify.com domain"),
                });
            }
            shops.insert(ShopDomain::new(part));
        }
        if shops.is_empty() {
            return Err(ConfigError::Missing(variable));
        }
        Ok(ServedShops(shops))
    }

    /// The shop a request is about: the one it names if served, else the only one served.
    fn choose(&self, named: Option<&str>) -> Result<&ShopDomain, Refusal> {
        match named {
            Some(name) => self
                .0
                .get(&ShopDomain::new(name))
                .ok_or(Refusal::UnknownShop),
            None if self.0.len() == 1 => self.0.iter().next().ok_or(Refusal::ShopNeeded),
            None => Err(Refusal::ShopNeeded),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &ShopDomain> {
        self.0.iter()
    }
}

fn is_shop_domain(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s.strip_suffix(".myshopify.com").is_some_and(|name| {
        !name.is_empty()
            && name.len() <= 63
            && !name.starts_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    })
}

/// What the read needs, built once per process: the SKU map, the stock records and the ERP
/// records (restock dates), which may all be one store.
pub struct StorefrontRead<M, S, R> {
    pub shops: ServedShops,
    pub skumap: M,
    pub stock: S,
    pub erp_records: R,
    pub metrics: Metrics,
}

/// An answer: status, headers (names in lower case) and a body (none for 304).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl Reply {
    /// The value of header `name`, if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The answer's body, in this field order (the ETag hashes it).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Availability {
    pub shop: ShopDomain,
    pub items: Vec<SkuAvailability>,
    /// The SKUs asked for that the SKU map does not hold, as asked.
    pub unknown: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SkuAvailability {
    /// As asked (SKUs match case-insensitively).
    pub sku: String,
    /// Each mapped location with a stock record of the item, by location id.
    pub locations: Vec<LocationAvailability>,
    /// The sum over `locations`.
    pub available: i64,
    pub restock: Option<RestockAnswer>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LocationAvailability {
    pub location: u64,
    pub name: String,
    /// Shopify's `available` there, as the sync keeps it.
    pub available: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RestockAnswer {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Shopify units (whole units, rounded down).
    pub quantity: i64,
}

/// Why a request is refused before any read.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Refusal {
    NoSku,
    TooMany(usize),
    BadSku(String),
    ShopNeeded,
    UnknownShop,
    RepeatedShop,
}

impl Refusal {
    fn reply(&self) -> Reply {
        let (status, code, message) = match self {
            Refusal::NoSku => (
                400,
                "no_sku",
                "name at least one SKU: ?sku=A&sku=B".to_string(),
            ),
            Refusal::TooMany(n) => (
                400,
                "too_many_skus",
                format!("{n} SKUs asked for; at most {MAX_SKUS} per request"),
            ),
            Refusal::BadSku(why) => (400, "bad_sku", why.clone()),
            Refusal::ShopNeeded => (
                400,
                "shop_needed",
                "this deployment serves several shops: name one with ?shop=".to_string(),
            ),
            Refusal::RepeatedShop => (400, "repeated_shop", "name one shop only".to_string()),
            Refusal::UnknownShop => (404, "unknown_shop", "shop not served here".to_string()),
        };
        error_reply(status, code, &message)
    }

    fn reason(&self) -> &'static str {
        match self {
            Refusal::NoSku => "no_sku",
            Refusal::TooMany(_) => "too_many_skus",
            Refusal::BadSku(_) => "bad_sku",
            Refusal::ShopNeeded => "shop_needed",
            Refusal::UnknownShop => "unknown_shop",
            Refusal::RepeatedShop => "repeated_shop",
        }
    }
}

fn error_reply(status: u16, code: &str, message: &str) -> Reply {
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        ("cache-control", NO_STORE.to_string()),
        ("access-control-allow-origin", "*".to_string()),
    ];
    if status == 503 {
        headers.push(("retry-after", RETRY_AFTER_SECS.to_string()));
    }
    Reply {
        status,
        headers,
        body: Some(json!({"error": code, "message": message}).to_string()),
    }
}

/// The request, checked: its shop and its distinct SKUs (first spelling kept, in order).
struct Checked<'a> {
    shop: &'a ShopDomain,
    skus: Vec<String>,
}

impl<M: SkuMapStore, S: StockStore, R: ErpRecords> StorefrontRead<M, S, R> {
    /// Answers one request: `query` is the decoded query string's pairs in order (`sku` may come
    /// many times, each value may hold several SKUs separated by commas), `headers` the request's.
    pub async fn answer(&self, query: &[(String, String)], headers: &RequestHeaders) -> Reply {
        let started = std::time::Instant::now();
        let checked = match self.check(query) {
            Ok(c) => c,
            Err(refusal) => {
                self.metrics
                    .count("StorefrontRejected", Some(refusal.reason()));
                return refusal.reply();
            }
        };
        let read = tokio::time::timeout(READ_DEADLINE, self.read(checked.shop, &checked.skus));
        let availability = match read.await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return self.failed(&e),
            Err(_) => {
                tracing::warn!(
                    deadline_ms = READ_DEADLINE.as_millis() as u64,
                    "storefront read too slow"
                );
                self.metrics
                    .count("StorefrontUnavailable", Some("deadline"));
                return error_reply(503, "unavailable", "stock is not readable now; retry");
            }
        };
        let reply = respond(&availability, headers.get("if-none-match"));
        self.metrics.put(
            "StorefrontReadMs",
            started.elapsed().as_secs_f64() * 1000.0,
            Unit::Milliseconds,
            None,
        );
        reply
    }

    fn check<'a>(&'a self, query: &[(String, String)]) -> Result<Checked<'a>, Refusal> {
        let named: Vec<&str> = query
            .iter()
            .filter(|(k, _)| k == "shop")
            .map(|(_, v)| v.trim())
            .collect();
        let shop = match named.as_slice() {
            [] => self.shops.choose(None)?,
            [one] => self.shops.choose(Some(one))?,
            _ => return Err(Refusal::RepeatedShop),
        };
        let given: Vec<&str> = query
            .iter()
            .filter(|(k, _)| k == "sku")
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if given.is_empty() {
            return Err(Refusal::NoSku);
        }
        if given.len() > MAX_SKUS {
            return Err(Refusal::TooMany(given.len()));
        }
        let mut seen = HashSet::new();
        let mut skus = Vec::new();
        for sku in given {
            check_sku(sku).map_err(Refusal::BadSku)?;
            if seen.insert(sku.to_ascii_uppercase()) {
                skus.push(sku.to_string());
            }
        }
        Ok(Checked { shop, skus })
    }

    async fn read(&self, shop: &ShopDomain, skus: &[String]) -> Result<Availability, PortError> {
        let map = self.skumap.lookup(shop, &[], &[], skus).await?;
        let mut found: Vec<(&String, &ItemMapping)> = Vec::new();
        let mut unknown = Vec::new();
        for sku in skus {
            match mapping_of(&map, sku) {
                Some(m) => found.push((sku, m)),
                None => unknown.push(sku.clone()),
            }
        }
        let mut wanted = Wanted::default();
        for (_, m) in &found {
            for location in map.locations.keys() {
                wanted.levels.insert(StockKey {
                    shop: shop.clone(),
                    item: m.item,
                    location: *location,
                });
            }
        }
        let levels = if wanted.levels.is_empty() {
            BTreeMap::new()
        } else {
            self.stock.load(&wanted).await?.book.levels
        };
        let pairs: Vec<(String, String)> = found
            .iter()
            .map(|(_, m)| (ITEM_WIDE.to_string(), m.erp_item.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let records = if pairs.is_empty() {
            Default::default()
        } else {
            self.erp_records.erp_records(shop, &pairs).await?
        };
        let items = found
            .into_iter()
            .map(|(sku, m)| {
                let locations: Vec<LocationAvailability> = levels
                    .range(range_of(shop, m.item))
                    .filter_map(|(key, level)| {
                        let l = map.locations.get(&key.location)?;
                        Some(LocationAvailability {
                            location: key.location.0,
                            name: l.name.clone(),
                            available: level.available,
                        })
                    })
                    .collect();
                let available = locations
                    .iter()
                    .fold(0i64, |sum, l| sum.saturating_add(l.available));
                let restock = records
                    .get(&(ITEM_WIDE.to_string(), m.erp_item.clone()))
                    .and_then(|(record, _)| record.restock.as_ref())
                    .and_then(|r| {
                        let quantity = m.uom.to_shopify(r.quantity);
                        // Less than one Shopify unit on order is no restock of this listing.
                        (quantity > 0).then(|| RestockAnswer {
                            date: r.date.clone(),
                            quantity,
                        })
                    });
                SkuAvailability {
                    sku: sku.clone(),
                    locations,
                    available,
                    restock,
                }
            })
            .collect();
        Ok(Availability {
            shop: shop.clone(),
            items,
            unknown,
        })
    }

    fn failed(&self, e: &PortError) -> Reply {
        match e {
            PortError::Unavailable { .. } => {
                tracing::warn!(error = %e, "storefront read: a store is unavailable");
                self.metrics
                    .count("StorefrontUnavailable", Some("store_unavailable"));
                error_reply(503, "unavailable", "stock is not readable now; retry")
            }
            _ => {
                tracing::error!(error = %e, "storefront read failed");
                self.metrics.count("StorefrontFailed", None);
                error_reply(500, "failed", "stock could not be read")
            }
        }
    }
}

/// The mapping of `sku` (the SKU map keys SKUs in upper case).
fn mapping_of<'m>(map: &'m SkuMap, sku: &str) -> Option<&'m ItemMapping> {
    map.by_sku
        .get(&sku.to_ascii_uppercase())
        .and_then(|id| map.items.get(id))
}

/// Every stock key of `item` in `shop`, for a range over a sorted map of them.
fn range_of(shop: &ShopDomain, item: InventoryItemId) -> std::ops::RangeInclusive<StockKey> {
    use stockbridge_domain::ids::LocationId;
    StockKey {
        shop: shop.clone(),
        item,
        location: LocationId(0),
    }..=StockKey {
        shop: shop.clone(),
        item,
        location: LocationId(u64::MAX),
    }
}

/// The ETag of a body: `"<the first 32 hex digits of its SHA-256>"`.
pub fn etag_of(body: &str) -> String {
    let digest = sha256_hex(body.as_bytes());
    format!("\"{}\"", &digest[..32.min(digest.len())])
}

/// Whether `If-None-Match` (a list of entity tags, or `*`) matches `etag`, by the weak
/// comparison the header calls for (`W/"x"` matches `"x"`).
pub fn none_match(if_none_match: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

fn respond(availability: &Availability, if_none_match: Option<&str>) -> Reply {
    let body = match serde_json::to_string(availability) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "storefront answer not serialisable");
            return error_reply(500, "failed", "stock could not be read");
        }
    };
    let etag = etag_of(&body);
    let mut headers = vec![
        ("cache-control", CACHE_CONTROL.to_string()),
        ("etag", etag.clone()),
        ("vary", "Accept-Encoding".to_string()),
        ("access-control-allow-origin", "*".to_string()),
    ];
    if if_none_match.is_some_and(|v| none_match(v, &etag)) {
        return Reply {
            status: 304,
            headers,
            body: None,
        };
    }
    headers.push(("content-type", "application/json".to_string()));
    Reply {
        status: 200,
        headers,
        body: Some(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shops_parse_and_only_served_ones_are_chosen() {
        let one = ServedShops::parse("Demo.myshopify.com", "SHOP_DOMAIN").unwrap();
        assert_eq!(one.choose(None).unwrap().as_str(), "demo.myshopify.com");
        assert_eq!(
            one.choose(Some("DEMO.myshopify.com")).unwrap().as_str(),
            "demo.myshopify.com"
        );
        assert_eq!(
            one.choose(Some("other.myshopify.com")),
            Err(Refusal::UnknownShop)
        );
        let two = ServedShops::parse("a.myshopify.com, b.myshopify.com", "SHOP_DOMAIN").unwrap();
        assert_eq!(two.choose(None), Err(Refusal::ShopNeeded));
        assert!(ServedShops::parse("", "SHOP_DOMAIN").is_err());
        assert!(ServedShops::parse("evil.com", "SHOP_DOMAIN").is_err());
        assert!(ServedShops::parse("a b.myshopify.com", "SHOP_DOMAIN").is_err());
    }

    #[test]
    fn etags_compare_weakly_and_lists_match() {
        let tag = etag_of("{}");
        assert_eq!(tag.len(), 34);
        assert!(none_match(&tag, &tag));
        assert!(none_match(&format!("W/{tag}"), &tag));
        assert!(none_match(&format!("\"other\", {tag}"), &tag));
        assert!(none_match("*", &tag));
        assert!(!none_match("\"other\"", &tag));
    }
}
