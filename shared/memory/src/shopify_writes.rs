//! Shopify's writes in memory, on [`MemoryShopify`]: `ShopifyAdmin` (levels listed, and
//! `available` set with compare-and-set under an idempotency key, as `inventorySetQuantities`
//! does from 2026-04: a stale `expected` is [`ShopifyError::Stale`], the same key with the same
//! sets replays the first answer, the same key with other sets is `KeyReused`) and `Metafields`
//! (each set or delete stamped with a strictly increasing time, read back after a cursor of
//! those times' milliseconds).
//! Every applied set is kept in the adjustment history with its key; a test can run a sale (any
//! change of the levels) between a reader's read and its next write
//! ([`MemoryShopify::before_next_write`]).

use stockbridge_core::ports::{
    FeedCursor, FeedPage, MetafieldRef, MetafieldWrite, Metafields, ShopifyAdmin, ShopifyError,
    ShopifyLevel, ShopifySet, VariantMetafield,
};
use stockbridge_domain::ids::{LocationId, Timestamp, VariantId};

use crate::shopify::{Adjustment, LevelMap, MemoryShopify};

impl MemoryShopify {
    /// Every applied set, oldest first.
    pub fn adjustments(&self) -> Vec<Adjustment> {
        self.with(|s| s.writes.history.clone())
    }

    /// The metafield's `(type, value)`, if set.
    pub fn metafield(&self, owner: u64, namespace: &str, key: &str) -> Option<(String, String)> {
        self.with(|s| {
            s.writes
                .metafields
                .get(&(VariantId(owner), namespace.to_string(), key.to_string()))
                .cloned()
        })
    }

    /// Runs `change` on the levels right before the next write is judged (a storefront sale
    /// landing between a reader's read and its write).
    pub fn before_next_write(&self, change: impl FnOnce(&mut LevelMap) + Send + 'static) {
        self.with(|s| s.writes.before_write = Some(Box::new(change)));
    }
}

/// The levels in item order, with nothing spilled.
pub type Levels = std::vec::IntoIter<Result<ShopifyLevel, ShopifyError>>;

impl ShopifyAdmin for MemoryShopify {
    type ItemOrdered = Levels;

    async fn levels_page(
        &self,
        location: LocationId,
        _cursor: Option<String>,
    ) -> Result<(Vec<ShopifyLevel>, Option<String>), ShopifyError> {
        self.call("levels_page")?;
        Ok((self.levels_at(location), None))
    }

    async fn bulk_levels(&self, location: LocationId) -> Result<Levels, ShopifyError> {
        self.call("bulk_levels")?;
        Ok(self
            .levels_at(location)
            .into_iter()
            .map(Ok)
            .collect::<Vec<_>>()
            .into_iter())
    }

    async fn locations(&self) -> Result<Vec<LocationId>, ShopifyError> {
        self.call("locations")?;
        Ok(self.with(|s| {
            let mut l: Vec<LocationId> = s.levels.keys().map(|(_, l)| *l).collect();
            l.dedup();
            l.sort();
            l.dedup();
            l
        }))
    }

    async fn set_available(
        &self,
        sets: &[ShopifySet],
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ShopifyError> {
        self.call("set_available")?;
        self.with(|s| {
            if let Some(hook) = s.writes.before_write.take() {
                hook(&mut s.levels);
            }
            if let Some(first) = s.writes.keys.get(idempotency_key) {
                return if first == sets {
                    Ok(())
                } else {
                    Err(ShopifyError::KeyReused)
                };
            }
            for set in sets {
                let Some(q) = s.levels.get(&(set.item, set.location)) else {
                    return Err(ShopifyError::Rejected(format!(
                        "item {} is not stocked at location {}",
                        set.item, set.location
                    )));
                };
                if q.available != set.expected {
                    return Err(ShopifyError::Stale);
                }
            }
            for set in sets {
                if let Some(q) = s.levels.get_mut(&(set.item, set.location)) {
                    let delta = set.quantity - q.available;
                    q.available = set.quantity;
                    q.on_hand += delta;
                    s.writes.history.push(Adjustment {
                        key: idempotency_key.to_string(),
                        reason: reason.to_string(),
                        item: set.item,
                        location: set.location,
                        delta,
                        after: set.quantity,
                    });
                }
            }
            s.writes
                .keys
                .insert(idempotency_key.to_string(), sets.to_vec());
            Ok(())
        })
    }
}

impl MemoryShopify {
    fn levels_at(&self, location: LocationId) -> Vec<ShopifyLevel> {
        self.with(|s| {
            s.levels
                .iter()
                .filter(|((_, l), _)| *l == location)
                .map(|((item, l), q)| ShopifyLevel {
                    item: *item,
                    location: *l,
                    available: q.available,
                    on_hand: q.on_hand,
                    committed: q.committed,
                    reserved: q.reserved,
                    damaged: q.damaged,
                    safety_stock: q.safety_stock,
                    quality_control: q.quality_control,
                    incoming: q.incoming,
                })
                .collect()
        })
    }
}

/// The next metafield stamp: now, or one millisecond after the newest one.
fn next_stamp(s: &crate::shopify::Writes) -> Timestamp {
    let newest = s.metafield_stamps.values().map(|t| t.as_millis()).max();
    let now = Timestamp::now().as_millis();
    Timestamp::from_millis(newest.map_or(now, |n| now.max(n + 1)))
}

impl Metafields for MemoryShopify {
    async fn set_metafields(&self, writes: &[MetafieldWrite]) -> Result<(), ShopifyError> {
        self.call("set_metafields")?;
        self.with(|s| {
            for w in writes {
                let key = (w.owner, w.namespace.clone(), w.key.clone());
                let stamp = next_stamp(&s.writes);
                s.writes.metafield_stamps.insert(key.clone(), stamp);
                s.writes
                    .metafields
                    .insert(key, (w.kind.clone(), w.value.clone()));
            }
        });
        Ok(())
    }

    async fn delete_metafields(&self, refs: &[MetafieldRef]) -> Result<(), ShopifyError> {
        self.call("delete_metafields")?;
        self.with(|s| {
            for r in refs {
                let key = (r.owner, r.namespace.clone(), r.key.clone());
                if s.writes.metafields.remove(&key).is_some() {
                    let stamp = next_stamp(&s.writes);
                    s.writes.metafield_stamps.insert(key, stamp);
                }
            }
        });
        Ok(())
    }

    async fn variant_metafields_changed(
        &self,
        namespaces_keys: &[(String, String)],
        since: Option<FeedCursor>,
        limit: usize,
    ) -> Result<FeedPage<VariantMetafield>, ShopifyError> {
        self.call("variant_metafields_changed")?;
        let after = match since {
            None => None,
            Some(c) => Some(c.0.parse::<i64>().map_err(|_| {
                ShopifyError::Rejected(format!("{:?} is not a metafield cursor", c.0))
            })?),
        };
        Ok(self.with(|s| {
            let mut rows: Vec<VariantMetafield> = s
                .writes
                .metafield_stamps
                .iter()
                .filter(|((_, ns, k), t)| {
                    after.is_none_or(|a| t.as_millis() > a)
                        && namespaces_keys.iter().any(|(n, kk)| n == ns && kk == k)
                })
                .map(|(key, t)| VariantMetafield {
                    variant: key.0,
                    namespace: key.1.clone(),
                    key: key.2.clone(),
                    value: s.writes.metafields.get(key).map(|(_, v)| v.clone()),
                    updated_at: *t,
                })
                .collect();
            rows.sort_by_key(|r| r.updated_at);
            let more = rows.len() > limit;
            rows.truncate(limit);
            let next = rows
                .last()
                .map(|r| FeedCursor(r.updated_at.as_millis().to_string()));
            FeedPage { rows, next, more }
        }))
    }
}
