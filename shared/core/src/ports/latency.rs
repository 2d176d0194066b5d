//! The latency digest ([`LatencyDigest`]): per shop and per hour, a fixed log-scale histogram of
//! each sync latency (webhook received to applied in DynamoDB, webhook received to acknowledged
//! by the ERP), so the weekly health report can say p50/p99 without reading CloudWatch. The
//! consumer adds one batch's counts per shop in one write ([`LatencyTally::keep`]); a failed
//! write is logged and counted (`LatencyDigestFailed`), never failing the batch.
//!
//! Also here, pure: the buckets ([`bucket_of`], [`upper_bound_ms`]) and the percentile of a
//! histogram ([`Histogram::percentile`]), which answers the upper bound of the bucket holding
//! the rank, so a percentile is never under-stated and is at most 19% over (one bucket's width).

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::telemetry::{Metrics, Unit};
use stockbridge_domain::ids::{ShopDomain, Timestamp};

use super::PortError;

/// Buckets per doubling: bucket `k` holds latencies in `(2^((k-1)/4), 2^(k/4)]` ms.
pub const BUCKETS_PER_DOUBLING: u16 = 4;
/// The last bucket (`2^22` ms, about 70 minutes): longer latencies are counted in it too.
pub const LAST_BUCKET: u16 = 88;

/// The bucket of a latency of `ms` milliseconds: the smallest `k` with `ms <= 2^(k/4)`; up to
/// 1 ms (and a negative or not-a-number latency, a clock skew) is bucket 0; past the last bucket
/// is the last bucket.
pub fn bucket_of(ms: f64) -> u16 {
    if ms.is_nan() || ms <= 1.0 {
        return 0;
    }
    let k = (ms.log2() * f64::from(BUCKETS_PER_DOUBLING)).ceil();
    let mut k = if k >= f64::from(LAST_BUCKET) {
        LAST_BUCKET
    } else {
        k as u16
    };
    // log2 rounding: keep `ms <= upper_bound_ms(k)` and `ms > upper_bound_ms(k - 1)`.
    while k < LAST_BUCKET && ms > upper_bound_ms(k) {
        k += 1;
    }
    while k > 0 && ms <= upper_bound_ms(k - 1) {
        k -= 1;
    }
    k
}

/// The upper bound of bucket `k`, in milliseconds: `2^(k/4)`.
pub fn upper_bound_ms(k: u16) -> f64 {
    2f64.powf(f64::from(k) / f64::from(BUCKETS_PER_DOUBLING))
}

/// Which latency a histogram counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LatencyKind {
    /// Webhook received to applied in DynamoDB (the metric `AppliedLatencyMs`).
    Applied,
    /// Webhook received to acknowledged by the ERP (the metric `EndToEndLatencyMs`).
    ErpAcknowledged,
}

/// Counts per bucket (buckets with none left out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    pub counts: BTreeMap<u16, u64>,
}

impl Histogram {
    /// Counts one latency of `ms` milliseconds.
    pub fn record(&mut self, ms: f64) {
        *self.counts.entry(bucket_of(ms)).or_insert(0) += 1;
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Histogram) {
        for (k, n) in &other.counts {
            *self.counts.entry(*k).or_insert(0) += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// The `q` quantile (0 < q <= 1; 0.5 is p50): the upper bound, in milliseconds, of the
    /// bucket holding the latency of rank `ceil(q * total)`. `None` when nothing was counted.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (k, n) in &self.counts {
            seen += n;
            if seen >= rank {
                return Some(upper_bound_ms(*k));
            }
        }
        self.counts.keys().last().map(|k| upper_bound_ms(*k))
    }
}

/// One shop's digest of one hour: both latencies' histograms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourDigest {
    /// The hour, UTC, as `yyyy-mm-ddThh` ([`hour_of`]).
    pub hour: String,
    pub applied: Histogram,
    pub erp: Histogram,
}

impl HourDigest {
    pub fn of(&self, kind: LatencyKind) -> &Histogram {
        match kind {
            LatencyKind::Applied => &self.applied,
            LatencyKind::ErpAcknowledged => &self.erp,
        }
    }

    fn of_mut(&mut self, kind: LatencyKind) -> &mut Histogram {
        match kind {
            LatencyKind::Applied => &mut self.applied,
            LatencyKind::ErpAcknowledged => &mut self.erp,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.applied.is_empty() && self.erp.is_empty()
    }
}

/// The hour of `at`, UTC, as the digest names it: `yyyy-mm-ddThh`.
pub fn hour_of(at: Timestamp) -> String {
    at.to_rfc3339().chars().take(13).collect()
}

/// Where the digest is kept (the inbox table's `LATENCY#<shop>` / `<yyyy-mm-ddThh>`, expiring
/// after [`DIGEST_DAYS`]).
pub trait LatencyDigest: Send + Sync {
    /// Adds `digest`'s counts to the shop's record of `digest.hour` (creating it), in one write.
    fn add_latency(
        &self,
        shop: &ShopDomain,
        digest: &HourDigest,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The shop's records of the hours `from_hour..=to_hour` (`yyyy-mm-ddThh`), oldest first;
    /// hours with none are left out.
    fn read_latency(
        &self,
        shop: &ShopDomain,
        from_hour: &str,
        to_hour: &str,
    ) -> impl Future<Output = Result<Vec<HourDigest>, PortError>> + Send;
}

/// Days a digest record is kept (the weekly report reads 7; the rest is for a late rerun).
pub const DIGEST_DAYS: i64 = 40;

/// One batch's latencies, per shop, before they are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencyTally {
    pub shops: BTreeMap<ShopDomain, HourDigest>,
}

impl LatencyTally {
    /// Counts one latency of `kind` of `shop`.
    pub fn record(&mut self, shop: &ShopDomain, kind: LatencyKind, ms: f64) {
        let digest = self.shops.entry(shop.clone()).or_default();
        digest.of_mut(kind).record(ms);
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &LatencyTally) {
        for (shop, d) in &other.shops {
            let mine = self.shops.entry(shop.clone()).or_default();
            mine.applied.add(&d.applied);
            mine.erp.add(&d.erp);
        }
    }

    /// Adds the counts to `digest` under the hour of `now`, one write per shop. A failed write
    /// is logged and counted (`LatencyDigestFailed`) and the rest go on: the digest serves a
    /// report, never the sync.
    pub async fn keep<D: LatencyDigest>(&self, digest: &D, now: Timestamp, metrics: &Metrics) {
        let hour = hour_of(now);
        for (shop, counts) in &self.shops {
            if counts.is_empty() {
                continue;
            }
            let row = HourDigest {
                hour: hour.clone(),
                ..counts.clone()
            };
            if let Err(e) = digest.add_latency(shop, &row).await {
                metrics.put("LatencyDigestFailed", 1.0, Unit::Count, None);
                tracing::warn!(shop = %shop, hour = %hour, "latency digest not kept (the weekly report will under-count this hour): {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_latency_falls_in_the_bucket_whose_bounds_hold_it() {
        for ms in [1.5, 10.0, 99.0, 100.0, 1000.0, 12_345.6, 3_600_000.0] {
            let k = bucket_of(ms);
            assert!(ms <= upper_bound_ms(k), "{ms} <= bound of {k}");
            assert!(ms > upper_bound_ms(k - 1), "{ms} > bound of {}", k - 1);
        }
        assert_eq!(
            bucket_of(16.0),
            16,
            "2^(16/4) = 16 ms is its own bucket's bound"
        );
        assert_eq!(bucket_of(0.2), 0);
        assert_eq!(bucket_of(-5.0), 0, "clock skew");
        assert_eq!(bucket_of(f64::NAN), 0);
        assert_eq!(bucket_of(1e12), LAST_BUCKET);
    }

    #[test]
    fn percentiles_answer_the_upper_bound_of_the_bucket_holding_the_rank() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(0.5), None, "nothing counted");
        // 98 fast (16 ms), 2 slow (1024 ms = 2^10, bucket 40).
        for _ in 0..98 {
            h.record(16.0);
        }
        h.record(1024.0);
        h.record(1024.0);
        assert_eq!(h.total(), 100);
        assert_eq!(h.percentile(0.5), Some(16.0));
        assert_eq!(h.percentile(0.98), Some(16.0), "rank 98 is still fast");
        assert_eq!(h.percentile(0.99), Some(1024.0), "rank 99 is slow");
        // A latency inside a bucket is reported as the bucket's upper bound.
        let mut one = Histogram::default();
        one.record(100.0);
        let p = one.percentile(0.5).unwrap();
        assert!((100.0..=100.0 * 2f64.powf(0.25)).contains(&p), "{p}");
    }

    #[test]
    fn a_tally_merges_per_shop_and_kind() {
        let a = ShopDomain::new("a.myshopify.com");
        let mut t = LatencyTally::default();
        t.record(&a, LatencyKind::Applied, 50.0);
        let mut u = LatencyTally::default();
        u.record(&a, LatencyKind::Applied, 50.0);
        u.record(&a, LatencyKind::ErpAcknowledged, 900.0);
        t.merge(&u);
        let d = &t.shops[&a];
        assert_eq!(d.applied.total(), 2);
        assert_eq!(d.erp.total(), 1);
        assert_eq!(
            hour_of(Timestamp::parse("2026-11-24T14:28:00Z").unwrap()),
            "2026-11-24T14"
        );
    }
}
