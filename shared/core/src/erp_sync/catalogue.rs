//! Restock dates and the field map applied: the item's ERP record (warehouse
//! [`ITEM_WIDE`]) takes the fact if it is newer, and what changed is written to the metafields
//! of every variant selling the item (`metafieldsSet`), or deleted when the restock is gone
//! (received or cancelled).

use stockbridge_domain::ids::ShopDomain;
use stockbridge_domain::storefront::{
    ErpChange, FieldMap, ITEM_WIDE, RESTOCK_DATE_KEY, RESTOCK_NAMESPACE, RESTOCK_QUANTITY_KEY,
};

use super::{Context, ErpSync, Later, SyncReport};
use crate::ports::{
    AlertSink, ErpRecords, EventQueue, MetafieldRef, MetafieldWrite, Metafields, PortError,
    ShopifyAdmin, ShopifyError, ShopifyReads, StockStore, StorefrontMap,
};

const ROUNDS: usize = 3;

fn shopify_later(e: ShopifyError) -> Later {
    match e {
        ShopifyError::Rejected(why) => {
            Later::Fail(format!("Shopify refused the metafields: {why}"))
        }
        other => Later::Retry(other.to_string()),
    }
}

impl<S, W, A, Q> ErpSync<S, W, A, Q>
where
    S: ErpRecords + StorefrontMap + StockStore,
    W: ShopifyAdmin + ShopifyReads + Metafields,
    A: AlertSink,
    Q: EventQueue,
{
    /// One [`ErpChange::Restock`] or [`ErpChange::Fields`].
    pub(super) async fn catalogue(
        &self,
        shop: &ShopDomain,
        change: &ErpChange,
        context: &Context,
        report: &mut SyncReport,
    ) -> Result<(), Later> {
        let item = change.item().to_string();
        let pair = (ITEM_WIDE.to_string(), item.clone());
        let mappings = context.by_erp.get(&item).cloned().unwrap_or_default();
        for _ in 0..ROUNDS {
            let mut records = self
                .store
                .erp_records(shop, std::slice::from_ref(&pair))
                .await
                .map_err(|e| Later::Retry(e.to_string()))?;
            let (mut record, revision) = records.remove(&pair).unwrap_or_default();
            let mut sets = Vec::new();
            let mut deletes = Vec::new();
            match change {
                ErpChange::Restock { next, as_of, .. } => {
                    if record.restock_as_of.is_some_and(|t| t >= *as_of) {
                        self.metrics.count("ErpChangeDuplicate", None);
                        return Ok(());
                    }
                    if !record.apply_restock(next.clone(), *as_of) {
                        // Newer, the same restock: only its time is kept.
                    } else {
                        for m in &mappings {
                            match next {
                                Some(r) => {
                                    let units = m.uom.to_shopify(r.quantity);
                                    sets.push(restock_field(m, RESTOCK_DATE_KEY, "date", &r.date));
                                    sets.push(restock_field(
                                        m,
                                        RESTOCK_QUANTITY_KEY,
                                        "number_integer",
                                        &units.to_string(),
                                    ));
                                }
                                None => {
                                    for key in [RESTOCK_DATE_KEY, RESTOCK_QUANTITY_KEY] {
                                        deletes.push(MetafieldRef {
                                            owner: m.variant,
                                            namespace: RESTOCK_NAMESPACE.to_string(),
                                            key: key.to_string(),
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
                ErpChange::Fields { fields, as_of, .. } => {
                    if record.fields_as_of.is_some_and(|t| t >= *as_of) {
                        self.metrics.count("ErpChangeDuplicate", None);
                        return Ok(());
                    }
                    let changed = record.apply_fields(fields, *as_of);
                    for link in context.settings.fields.enabled() {
                        if !changed.contains(&link.erp_field) {
                            continue;
                        }
                        let Some(raw) = fields.get(&link.erp_field) else {
                            continue;
                        };
                        let value = match FieldMap::metafield_value(link, raw) {
                            Ok(v) => v,
                            Err(why) => {
                                self.metrics.count("FieldMapRejected", None);
                                tracing::warn!(item = %item, "field not carried: {why}");
                                continue;
                            }
                        };
                        for m in &mappings {
                            sets.push(MetafieldWrite {
                                owner: m.variant,
                                namespace: link.namespace.clone(),
                                key: link.key.clone(),
                                kind: link.kind.clone(),
                                value: value.clone(),
                            });
                        }
                    }
                }
                ErpChange::Stock { .. } => return Ok(()),
            }
            if !sets.is_empty() {
                self.shopify
                    .set_metafields(&sets)
                    .await
                    .map_err(shopify_later)?;
                report.writes += 1;
                self.metrics.put(
                    "MetafieldsSet",
                    sets.len() as f64,
                    crate::telemetry::Unit::Count,
                    None,
                );
            }
            if !deletes.is_empty() {
                self.shopify
                    .delete_metafields(&deletes)
                    .await
                    .map_err(shopify_later)?;
                report.writes += 1;
                self.metrics.put(
                    "MetafieldsDeleted",
                    deletes.len() as f64,
                    crate::telemetry::Unit::Count,
                    None,
                );
            }
            match self
                .store
                .put_erp_record(shop, &pair, &record, revision)
                .await
            {
                Ok(()) => return Ok(()),
                Err(PortError::Conflict(_)) => continue,
                Err(e) => return Err(Later::Retry(e.to_string())),
            }
        }
        Err(Later::Retry(format!(
            "the ERP record of item {item} kept changing under us"
        )))
    }
}

fn restock_field(
    m: &stockbridge_domain::skumap::ItemMapping,
    key: &str,
    kind: &str,
    value: &str,
) -> MetafieldWrite {
    MetafieldWrite {
        owner: m.variant,
        namespace: RESTOCK_NAMESPACE.to_string(),
        key: key.to_string(),
        kind: kind.to_string(),
        value: value.to_string(),
    }
}
