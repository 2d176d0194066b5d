//! The field map's way back: a variant metafield an operator changed in Shopify, for a link
//! switched on, written to the ERP item's field, exactly once and with no echo.
//!
//! One step ([`FieldsBack::run_once`]) reads, after the shop's durable cursor (source
//! `shopify-fields:<shop>` in the feed cursor store), a page of the linked variant metafields
//! Shopify changed; maps each variant to its ERP item through the SKU map; and compares the value
//! with the item's ERP record (warehouse [`ITEM_WIDE`], `fields[erp_field]`, compared as
//! [`FieldMap::metafield_value`] renders it). Equal: our own write (or the ERP's value) coming
//! back, skipped (`FieldEchoSkipped`). Different: the value is checked against the link's type
//! (an unusable one is counted, `FieldBackRejected`, and logged, never written as a default),
//! written to the ERP ([`ErpFeed::set_item_field`]), read back from the ERP, and the ERP's text
//! kept on the record (`fields_as_of` = now, conditional put), so the ERP's next snapshot of
//! the same value is no change and nothing goes back to Shopify. The other variants selling the
//! same item are then given the value (`metafieldsSet`), which comes back as an echo.
//!
//! The cursor advances only after the whole page is handled; a page read again (after a crash)
//! finds the record already holding each value: nothing is written twice. A first start (no
//! stored cursor) walks to Shopify's newest change without writing anything: what the metafields
//! held before is not news.

use std::collections::BTreeMap;

use stockbridge_domain::ids::{ShopDomain, Timestamp, VariantId};
use stockbridge_domain::storefront::{FieldLink, FieldMap, ITEM_WIDE};

use crate::ports::{
    ErpError, ErpFeed, ErpRecords, FeedCursorStore, FeedCursors, MetafieldWrite, Metafields,
    PortError, ShopifyError, SkuMapStore, StorefrontMap, VariantMetafield,
};
use crate::telemetry::Metrics;

/// Conditional record writes tried before the item is left for the next step.
const ROUNDS: usize = 3;

/// How the step is set up.
#[derive(Clone, Debug)]
pub struct FieldsBackSettings {
    pub shop: ShopDomain,
    /// Variants per page.
    pub page: usize,
}

/// Why a step failed; the cursor did not advance past what failed.
#[derive(Debug, thiserror::Error)]
pub enum FieldsBackError {
    #[error("Shopify: {0}")]
    Shopify(#[from] ShopifyError),
    #[error("the ERP: {0}")]
    Erp(#[from] ErpError),
    #[error("the store: {0}")]
    Port(#[from] PortError),
    #[error("the ERP record of item {0} kept changing under us")]
    Contended(String),
}

/// What one step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldsBackReport {
    /// Metafields read.
    pub read: usize,
    /// Values written to the ERP.
    pub written: usize,
    /// Values equal to the record's (our own writes coming back).
    pub echoes: usize,
    /// Values that do not fit the link's type, or were unset: not written.
    pub rejected: usize,
    /// Variants no item mapping names.
    pub unmapped: usize,
    /// A page was full: step again.
    pub more: bool,
}

/// The way back over its ports.
pub struct FieldsBack<M, S, F, C> {
    pub shopify: M,
    pub store: S,
    pub erp: F,
    pub cursors: C,
    pub metrics: Metrics,
    pub settings: FieldsBackSettings,
}

/// The ERP's text for a metafield's value, checked against the link's type.
pub fn erp_value(link: &FieldLink, metafield: Option<&str>) -> Result<String, String> {
    let Some(v) = metafield else {
        return Err(format!(
            "{}: the metafield was unset; nothing is written",
            link.erp_field
        ));
    };
    if link.kind == "boolean" && v != "true" && v != "false" {
        return Err(format!("{}: {v:?} is not a boolean", link.erp_field));
    }
    FieldMap::metafield_value(link, v)
}

impl<M, S, F, C> FieldsBack<M, S, F, C>
where
    M: Metafields,
    S: SkuMapStore + StorefrontMap + ErpRecords,
    F: ErpFeed,
    C: FeedCursorStore,
{
    fn source(&self) -> String {
        format!("shopify-fields:{}", self.settings.shop)
    }

    /// Steps until a page is not full (at most `max_steps`).
    pub async fn run(&self, max_steps: usize) -> Result<Vec<FieldsBackReport>, FieldsBackError> {
        let mut reports = Vec::new();
        for _ in 0..max_steps.max(1) {
            let r = self.run_once().await?;
            let more = r.more;
            reports.push(r);
            if !more {
                break;
            }
        }
        Ok(reports)
    }

    /// One page: read, carry what changed, then advance the cursor.
    pub async fn run_once(&self) -> Result<FieldsBackReport, FieldsBackError> {
        let shop = &self.settings.shop;
        let settings = self.store.storefront_settings(shop).await?;
        let links: Vec<&FieldLink> = settings.fields.enabled().collect();
        let mut report = FieldsBackReport::default();
        if links.is_empty() {
            return Ok(report);
        }
        let mut wanted: Vec<(String, String)> = links
            .iter()
            .map(|l| (l.namespace.clone(), l.key.clone()))
            .collect();
        wanted.sort();
        wanted.dedup();
        let source = self.source();
        let stored = self.cursors.feed_cursors(&source).await?;
        if stored.revision == 0 {
            return self.start_now(&stored, &wanted).await;
        }
        let page = self
            .shopify
            .variant_metafields_changed(&wanted, stored.items.clone(), self.settings.page)
            .await?;
        report.read = page.rows.len();
        report.more = page.more;

        // The newest value per variant and link in the page.
        let mut newest: BTreeMap<(VariantId, String, String), VariantMetafield> = BTreeMap::new();
        for row in page.rows {
            let k = (row.variant, row.namespace.clone(), row.key.clone());
            if newest
                .get(&k)
                .is_none_or(|o| o.updated_at <= row.updated_at)
            {
                newest.insert(k, row);
            }
        }
        let variants: Vec<VariantId> = newest.keys().map(|k| k.0).collect();
        let map = if variants.is_empty() {
            Default::default()
        } else {
            self.store.lookup(shop, &[], &variants, &[]).await?
        };
        // Per ERP item and field: the newest change of any variant selling it.
        let mut per_item: BTreeMap<(String, String), (&FieldLink, VariantMetafield)> =
            BTreeMap::new();
        for ((variant, ns, key), row) in newest {
            let Some(mapping) = map
                .by_variant
                .get(&variant)
                .and_then(|item| map.items.get(item))
            else {
                report.unmapped += 1;
                continue;
            };
            for link in links.iter().filter(|l| l.namespace == ns && l.key == key) {
                let k = (mapping.erp_item.clone(), link.erp_field.clone());
                if per_item
                    .get(&k)
                    .is_none_or(|(_, o)| o.updated_at <= row.updated_at)
                {
                    per_item.insert(k, (link, row.clone()));
                }
            }
        }
        for ((item, _), (link, row)) in per_item {
            self.carry(&item, link, &row, &mut report).await?;
        }

        if let Some(next) = page.next.filter(|n| stored.items.as_ref() != Some(n)) {
            let cursors = FeedCursors {
                items: Some(next),
                updated_at: Some(Timestamp::now()),
                ..stored.clone()
            };
            self.cursors
                .put_feed_cursors(&source, &cursors, stored.revision)
                .await?;
        }
        self.metrics.put(
            "FieldBackWritten",
            report.written as f64,
            crate::telemetry::Unit::Count,
            None,
        );
        self.metrics.put(
            "FieldEchoSkipped",
            report.echoes as f64,
            crate::telemetry::Unit::Count,
            None,
        );
        Ok(report)
    }

    /// One metafield value toward one ERP item field.
    async fn carry(
        &self,
        item: &str,
        link: &FieldLink,
        row: &VariantMetafield,
        report: &mut FieldsBackReport,
    ) -> Result<(), FieldsBackError> {
        let shop = &self.settings.shop;
        let pair = (ITEM_WIDE.to_string(), item.to_string());
        for _ in 0..ROUNDS {
            let mut records = self
                .store
                .erp_records(shop, std::slice::from_ref(&pair))
                .await?;
            let (mut record, revision) = records.remove(&pair).unwrap_or_default();
            let held = record
                .fields
                .get(&link.erp_field)
                .and_then(|v| FieldMap::metafield_value(link, v).ok());
            let rendered = row
                .value
                .as_deref()
                .and_then(|v| FieldMap::metafield_value(link, v).ok());
            if held.is_some() && held == rendered {
                report.echoes += 1;
                return Ok(());
            }
            let value = match erp_value(link, row.value.as_deref()) {
                Ok(v) => v,
                Err(why) => {
                    report.rejected += 1;
                    self.metrics.count("FieldBackRejected", None);
                    tracing::warn!(item = %item, variant = %row.variant.0, "field not carried back: {why}");
                    return Ok(());
                }
            };
            match self.erp.set_item_field(item, &link.erp_field, &value).await {
                Ok(()) => {}
                Err(ErpError::Rejected(why)) => {
                    report.rejected += 1;
                    self.metrics.count("FieldBackRejected", None);
                    tracing::warn!(item = %item, "the ERP refused the field: {why}");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
            // The ERP's own text of what it now holds, so its next snapshot is no change.
            let read = self
                .erp
                .item_fields(&[item.to_string()], std::slice::from_ref(&link.erp_field))
                .await?;
            let kept = read
                .get(item)
                .and_then(|f| f.get(&link.erp_field))
                .cloned()
                .unwrap_or(value.clone());
            record.fields.insert(link.erp_field.clone(), kept);
            record.fields_as_of = Some(Timestamp::now());
            match self
                .store
                .put_erp_record(shop, &pair, &record, revision)
                .await
            {
                Ok(()) => {}
                Err(PortError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            report.written += 1;
            self.siblings(item, link, row, &value).await?;
            return Ok(());
        }
        Err(FieldsBackError::Contended(item.to_string()))
    }

    /// The other variants selling the item get the value too (their change comes back as an
    /// echo).
    async fn siblings(
        &self,
        item: &str,
        link: &FieldLink,
        row: &VariantMetafield,
        value: &str,
    ) -> Result<(), FieldsBackError> {
        let map = self
            .store
            .lookup_erp_items(&self.settings.shop, &[item.to_string()])
            .await?;
        let Ok(rendered) = FieldMap::metafield_value(link, value) else {
            return Ok(());
        };
        let mut sets: Vec<MetafieldWrite> = map
            .items
            .values()
            .filter(|m| m.erp_item == item && m.variant != row.variant)
            .map(|m| MetafieldWrite {
                owner: m.variant,
                namespace: link.namespace.clone(),
                key: link.key.clone(),
                kind: link.kind.clone(),
                value: rendered.clone(),
            })
            .collect();
        sets.sort_by_key(|w| w.owner);
        sets.dedup_by_key(|w| w.owner);
        if !sets.is_empty() {
            self.shopify.set_metafields(&sets).await?;
            self.metrics.put(
                "MetafieldsSet",
                sets.len() as f64,
                crate::telemetry::Unit::Count,
                None,
            );
        }
        Ok(())
    }

    /// Walks to Shopify's newest change, writing nothing, and stores the cursor there.
    async fn start_now(
        &self,
        stored: &FeedCursors,
        wanted: &[(String, String)],
    ) -> Result<FieldsBackReport, FieldsBackError> {
        let mut cursor = stored.items.clone();
        loop {
            let page = self
                .shopify
                .variant_metafields_changed(wanted, cursor.clone(), 250)
                .await?;
            if page.next.is_some() {
                cursor = page.next;
            }
            if !page.more {
                break;
            }
        }
        let cursors = FeedCursors {
            items: cursor,
            updated_at: Some(Timestamp::now()),
            ..stored.clone()
        };
        self.cursors
            .put_feed_cursors(&self.source(), &cursors, stored.revision)
            .await?;
        self.metrics.count("FieldBackStarted", None);
        tracing::info!(shop = %self.settings.shop, "the field map's way back starts after Shopify's newest change");
        Ok(FieldsBackReport::default())
    }
}
