//! One location's streaming pass: Shopify's levels (pages, or a bulk operation's sorted output)
//! merged with the SKU map read page by page in the same item order, each page of mappings
//! joined with its stock records and the ERP's on-hand; every variance found is corrected and
//! counted as it comes. Memory holds a page of each side, whatever the catalogue size. Also the
//! tally of a Shopify location the SKU map does not name.

use super::corrections::Corrections;
use super::report::{ReconcileReport, UnmappedLocation};
use super::{
    read_erp, read_shopify, ReconcileError, Reconciler, RunOptions, ShopifyRead, MAPPING_PAGE,
    SHOPIFY_PAGE,
};
use crate::ports::RunLock;
use crate::ports::{
    AlertSink, Erp, EventQueue, Inbox, ShopifyAdmin, SkuMapStore, StockStore, Wanted,
};
use stockbridge_domain::ids::{InventoryItemId, LocationId, Timestamp};
use stockbridge_domain::skumap::LocationMapping;
use stockbridge_domain::stock::StockKey;
use stockbridge_domain::variance::{Known, LocationPass, LocationTally};

impl<St, E, S, Q, A> Reconciler<St, E, S, Q, A>
where
    St: StockStore + SkuMapStore + Inbox + RunLock,
    E: Erp,
    S: ShopifyAdmin + crate::ports::ShopifyReads,
    Q: EventQueue,
    A: AlertSink,
{
    /// One location: the merge of Shopify's levels and the SKU map joined with our records and
    /// the ERP; returns the location's tally.
    pub(super) async fn pass(
        &self,
        run: &str,
        mapping: &LocationMapping,
        options: &RunOptions,
        report: &mut ReconcileReport,
        pending: &mut Corrections,
    ) -> Result<LocationTally, ReconcileError> {
        let mut pass = LocationPass::new(mapping.clone());
        let mut cursor: Option<String> = None;
        let mut after: Option<InventoryItemId> = None;
        let mut read_at = Timestamp::now();
        let mut bulk = match options.read {
            ShopifyRead::Bulk => {
                Some(read_shopify(|| self.shopify.bulk_levels(mapping.location)).await?)
            }
            ShopifyRead::Paged => None,
        };
        while !pass.finished() {
            if let (true, Some(sorted)) = (pass.wants_shopify(), bulk.as_mut()) {
                let mut page = Vec::with_capacity(SHOPIFY_PAGE);
                for level in sorted.by_ref().take(SHOPIFY_PAGE) {
                    page.push(level.map_err(ReconcileError::Shopify)?);
                }
                let last = page.len() < SHOPIFY_PAGE;
                pass.push_shopify(page, last)?;
            } else if pass.wants_shopify() {
                read_at = Timestamp::now();
                let c = cursor.clone();
                let (levels, next) =
                    read_shopify(|| self.shopify.levels_page(mapping.location, c.clone())).await?;
                let last = next.is_none();
                cursor = next;
                pass.push_shopify(levels, last)?;
            }
            if pass.wants_known() {
                let page = self.known_page(mapping, after).await?;
                let last = page.len() < MAPPING_PAGE;
                after = page.last().map(|k| k.item).or(after);
                pass.push_known(page, last)?;
            }
            for variance in pass.step() {
                let done = match &variance.correction {
                    Some(c) => Some(
                        self.correct(run, c, &variance, read_at, options, pending)
                            .await?,
                    ),
                    None => None,
                };
                if let Some(repair) = &variance.repair {
                    let repaired = self
                        .correct(run, repair, &variance, read_at, options, pending)
                        .await?;
                    report.count_correction(&repaired);
                }
                report.record_variance(variance, done);
            }
            if pending.batch_ready() {
                self.flush(pending).await?;
            }
        }
        self.end_repair(run, mapping.location, pending);
        Ok(pass.tally)
    }

    /// The next page of the SKU map after `after`, with each item's stock record at this
    /// location and the ERP's on-hand.
    async fn known_page(
        &self,
        mapping: &LocationMapping,
        after: Option<InventoryItemId>,
    ) -> Result<Vec<Known>, ReconcileError> {
        let items = self
            .store
            .items_after(&self.shop, after, MAPPING_PAGE)
            .await?;
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let key = |item| StockKey {
            shop: self.shop.clone(),
            item,
            location: mapping.location,
        };
        let wanted = Wanted {
            levels: items.iter().map(|m| key(m.item)).collect(),
            ..Default::default()
        };
        let mut loaded = self.store.load(&wanted).await?;
        let codes: Vec<String> = items.iter().map(|m| m.erp_item.clone()).collect();
        let erp = read_erp(|| self.erp.levels(&mapping.erp_warehouse, &codes)).await?;
        Ok(items
            .into_iter()
            .map(|m| Known {
                item: m.item,
                ours: loaded.book.levels.remove(&key(m.item)),
                erp: erp.get(&m.erp_item).copied(),
                sku: m.sku,
                erp_item: m.erp_item,
                uom: m.uom,
            })
            .collect())
    }

    /// What a Shopify location the SKU map does not name holds: its items and units.
    pub(super) async fn unmapped_location(
        &self,
        location: LocationId,
    ) -> Result<UnmappedLocation, ReconcileError> {
        let mut found = UnmappedLocation {
            location,
            items: 0,
            on_hand: 0,
        };
        let mut cursor = None;
        loop {
            let c: Option<String> = cursor.clone();
            let (levels, next) =
                read_shopify(|| self.shopify.levels_page(location, c.clone())).await?;
            found.items += levels.len() as u64;
            found.on_hand += levels.iter().map(|l| l.on_hand).sum::<i64>();
            match next {
                Some(n) => cursor = Some(n),
                None => return Ok(found),
            }
        }
    }
}
