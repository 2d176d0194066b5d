//! The field map's way back (`FieldsBack`) over the in-memory Shopify and store and a small ERP
//! of item fields: an operator's metafield change reaches the ERP once (read twice: written
//! once), our own write coming back is skipped, a link switched off is not carried, a value that
//! does not fit is refused and counted, the cursor advances only after the page is handled, and
//! the item's other variants are given the value (which comes back as an echo).

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use stockbridge_core::fields_back::{FieldsBack, FieldsBackSettings};
use stockbridge_core::ports::{
    ErpError, ErpFeed, ErpRecords, FeedCursor, FeedCursorStore, FeedMove, FeedPage, MetafieldWrite,
    Metafields, StorefrontMap, StorefrontSettings,
};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::erp_write::Incoming;
use stockbridge_domain::ids::VariantId;
use stockbridge_domain::storefront::{ErpStockRecord, FieldLink, FieldMap, ITEM_WIDE};
use stockbridge_memory::{Fault, MemoryShopify, MemoryStore, StoreOp};
use support::*;

/// An ERP of item fields only: what was written, in order.
#[derive(Clone, Default)]
struct Fields {
    values: Arc<Mutex<HashMap<String, BTreeMap<String, String>>>>,
    writes: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl Fields {
    fn writes(&self) -> Vec<(String, String, String)> {
        self.writes.lock().expect("writes").clone()
    }
}

impl ErpFeed for Fields {
    async fn moves_after(
        &self,
        _after: Option<&FeedCursor>,
        _limit: usize,
    ) -> Result<FeedPage<FeedMove>, ErpError> {
        Ok(FeedPage {
            rows: Vec::new(),
            next: None,
            more: false,
        })
    }
    async fn on_hand(
        &self,
        _w: &str,
        _items: &[String],
    ) -> Result<HashMap<String, rust_decimal::Decimal>, ErpError> {
        Ok(HashMap::new())
    }
    async fn order_points(
        &self,
        _w: &str,
        _items: &[String],
    ) -> Result<HashMap<String, rust_decimal::Decimal>, ErpError> {
        Ok(HashMap::new())
    }
    async fn purchases_changed_after(
        &self,
        _after: Option<&FeedCursor>,
        _limit: usize,
    ) -> Result<FeedPage<String>, ErpError> {
        Ok(FeedPage::default())
    }
    async fn open_purchases(&self, _items: &[String]) -> Result<Vec<Incoming>, ErpError> {
        Ok(Vec::new())
    }
    async fn items_changed_after(
        &self,
        _after: Option<&FeedCursor>,
        _limit: usize,
    ) -> Result<FeedPage<String>, ErpError> {
        Ok(FeedPage::default())
    }
    async fn item_fields(
        &self,
        items: &[String],
        _fields: &[String],
    ) -> Result<HashMap<String, BTreeMap<String, String>>, ErpError> {
        let v = self.values.lock().expect("values");
        Ok(items
            .iter()
            .filter_map(|i| v.get(i).map(|f| (i.clone(), f.clone())))
            .collect())
    }
    async fn set_item_field(&self, item: &str, field: &str, value: &str) -> Result<(), ErpError> {
        self.writes
            .lock()
            .expect("writes")
            .push((item.into(), field.into(), value.into()));
        self.values
            .lock()
            .expect("values")
            .entry(item.into())
            .or_default()
            .insert(field.into(), value.into());
        Ok(())
    }
}

fn link(field: &str, key: &str, kind: &str, enabled: bool) -> FieldLink {
    FieldLink {
        erp_field: field.into(),
        namespace: "stockbridge".into(),
        key: key.into(),
        kind: kind.into(),
        enabled,
    }
}

async fn world(
    links: Vec<FieldLink>,
) -> (
    FieldsBack<MemoryShopify, MemoryStore, Fields, MemoryStore>,
    MemoryShopify,
    MemoryStore,
    Fields,
) {
    let store = mapped_store().await;
    store
        .put_storefront_settings(
            &shop(),
            &StorefrontSettings {
                fields: FieldMap { links },
                ..StorefrontSettings::default()
            },
        )
        .await
        .expect("settings");
    let shopify = MemoryShopify::new();
    let erp = Fields::default();
    let back = FieldsBack {
        shopify: shopify.clone(),
        store: store.clone(),
        erp: erp.clone(),
        cursors: store.clone(),
        metrics: Metrics::silent("test"),
        settings: FieldsBackSettings {
            shop: shop(),
            page: 50,
        },
    };
    (back, shopify, store, erp)
}

async fn operator_sets(shopify: &MemoryShopify, variant: u64, key: &str, kind: &str, value: &str) {
    shopify
        .set_metafields(&[MetafieldWrite {
            owner: VariantId(variant),
            namespace: "stockbridge".into(),
            key: key.into(),
            kind: kind.into(),
            value: value.into(),
        }])
        .await
        .expect("set");
}

async fn record(store: &MemoryStore, item: &str) -> ErpStockRecord {
    let pair = (ITEM_WIDE.to_string(), item.to_string());
    store
        .erp_records(&shop(), std::slice::from_ref(&pair))
        .await
        .expect("records")
        .remove(&pair)
        .map(|(r, _)| r)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_first_start_carries_nothing_from_before() {
    let (back, shopify, _store, erp) =
        world(vec![link("template.salable", "salable", "boolean", true)]).await;
    operator_sets(&shopify, TEE.1, "salable", "boolean", "false").await;
    back.run(5).await.expect("start");
    assert!(erp.writes().is_empty(), "what was there before is not news");
    operator_sets(&shopify, TEE.1, "salable", "boolean", "true").await;
    let r = back.run_once().await.expect("step");
    assert_eq!(r.written, 1);
    assert_eq!(
        erp.writes(),
        vec![("TEE".into(), "template.salable".into(), "true".into())]
    );
}

#[tokio::test]
async fn a_changed_metafield_reaches_the_erp_once_and_its_echo_is_skipped() {
    let (back, shopify, store, erp) =
        world(vec![link("template.salable", "salable", "boolean", true)]).await;
    back.run_once().await.expect("start");
    operator_sets(&shopify, TEE.1, "salable", "boolean", "false").await;
    let before = store
        .feed_cursors("shopify-fields:stockbridge-demo.myshopify.com")
        .await;
    let r = back.run_once().await.expect("step");
    assert_eq!((r.read, r.written, r.echoes), (1, 1, 0));
    let rec = record(&store, "TEE").await;
    assert_eq!(
        rec.fields.get("template.salable").map(String::as_str),
        Some("false")
    );
    assert!(rec.fields_as_of.is_some());
    // The same page read again (the cursor put back, as after a crash): nothing written twice.
    let before = before.expect("cursor");
    let now = store
        .feed_cursors("shopify-fields:stockbridge-demo.myshopify.com")
        .await
        .expect("cursor");
    store
        .put_feed_cursors(
            "shopify-fields:stockbridge-demo.myshopify.com",
            &stockbridge_core::ports::FeedCursors {
                items: before.items.clone(),
                ..now.clone()
            },
            now.revision,
        )
        .await
        .expect("rewind");
    let again = back.run_once().await.expect("again");
    assert_eq!((again.read, again.written, again.echoes), (1, 0, 1));
    assert_eq!(erp.writes().len(), 1, "written once");

    // Our own write of the ERP's value (the sync) comes back: skipped.
    operator_sets(&shopify, TEE.1, "salable", "boolean", "false").await;
    let echo = back.run_once().await.expect("echo");
    assert_eq!((echo.written, echo.echoes), (0, 1));
    assert_eq!(erp.writes().len(), 1);
}

#[tokio::test]
async fn a_link_switched_off_is_not_carried() {
    let (back, shopify, _store, erp) = world(vec![
        link("template.salable", "salable", "boolean", false),
        link("template.code", "code", "single_line_text_field", true),
    ])
    .await;
    back.run_once().await.expect("start");
    operator_sets(&shopify, TEE.1, "salable", "boolean", "false").await;
    let r = back.run_once().await.expect("step");
    assert_eq!((r.read, r.written), (0, 0));
    assert!(erp.writes().is_empty());
}

#[tokio::test]
async fn a_value_that_does_not_fit_is_refused_and_counted() {
    let (back, shopify, store, erp) = world(vec![link(
        "template.weight",
        "weight",
        "number_integer",
        true,
    )])
    .await;
    back.run_once().await.expect("start");
    operator_sets(&shopify, MUG.1, "weight", "single_line_text_field", "heavy").await;
    let r = back.run_once().await.expect("step");
    assert_eq!((r.read, r.written, r.rejected), (1, 0, 1));
    assert!(erp.writes().is_empty(), "never written as a default");
    assert!(record(&store, "MUG").await.fields.is_empty());
}

#[tokio::test]
async fn the_cursor_advances_only_after_the_page_is_handled() {
    let (back, shopify, store, erp) =
        world(vec![link("template.salable", "salable", "boolean", true)]).await;
    back.run_once().await.expect("start");
    let source = "shopify-fields:stockbridge-demo.myshopify.com";
    let start = store.feed_cursors(source).await.expect("cursor");
    operator_sets(&shopify, CAP.1, "salable", "boolean", "false").await;
    // The ERP record cannot be read: the page fails, the cursor stays.
    store.fail_next(StoreOp::ErpRecords, 1, Fault::Unavailable);
    let failed = back.run_once().await;
    assert!(failed.is_err());
    assert_eq!(store.feed_cursors(source).await.expect("cursor"), start);
    let r = back.run_once().await.expect("step");
    assert_eq!(r.written, 1);
    assert_ne!(store.feed_cursors(source).await.expect("cursor"), start);
    assert_eq!(erp.writes().len(), 1);
}

#[tokio::test]
async fn the_item_s_other_variants_are_given_the_value_and_it_comes_back_as_an_echo() {
    let (back, shopify, store, erp) =
        world(vec![link("template.salable", "salable", "boolean", true)]).await;
    // A second variant sells the tees (a two-pack, say).
    let pack = (45000000000000009_u64, 46000000000000009_u64);
    stockbridge_ops::import_skumap(
        &store,
        &stockbridge_memory::MemoryQueue::new(),
        Some(&format!(
            "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n\
             {SHOP},{},{},SB-TEE-2,TEE,each,each\n",
            pack.0, pack.1
        )),
        None,
        false,
    )
    .await
    .expect("a second mapping");
    back.run_once().await.expect("start");
    operator_sets(&shopify, TEE.1, "salable", "boolean", "true").await;
    let r = back.run_once().await.expect("step");
    assert_eq!(r.written, 1);
    assert_eq!(
        shopify
            .metafield(pack.1, "stockbridge", "salable")
            .map(|(_, v)| v)
            .as_deref(),
        Some("true"),
        "the other variant follows"
    );
    let echo = back.run_once().await.expect("echo");
    assert_eq!((echo.read, echo.written, echo.echoes), (1, 0, 1));
    assert_eq!(erp.writes().len(), 1);
}
