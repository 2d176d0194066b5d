//! The field map's way back through the real components: the Shopify stand-in's Admin API (an
//! operator's `metafieldsSet` on a variant, read back by `productVariants(query:
//! "updated_at:>=…")`), the real `FieldsBack` step writing Tryton 8.2's product field, its cursor
//! and the item's ERP record in DynamoDB (moto); then the real ERP poller and sync, which must
//! not write the value back to Shopify (no echo loop).

mod support;

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;
use stockbridge_aws::dynamodb::DynamoStore;
use stockbridge_aws::sqs::SqsQueue;
use stockbridge_core::erp_feed::{ErpPoller, PollerSettings as FeedSettings};
use stockbridge_core::erp_sync::ErpSync;
use stockbridge_core::fields_back::{FieldsBack, FieldsBackSettings};
use stockbridge_core::ports::{
    ErpFeed, ErpRecords, MetafieldWrite, Metafields, StorefrontMap, StorefrontSettings,
};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::ids::VariantId;
use stockbridge_domain::storefront::{FieldLink, FieldMap, ITEM_WIDE};
use stockbridge_erp::tryton::TrytonErp;
use stockbridge_lambda::local::{poll_once, PollerSettings};
use stockbridge_memory::MemoryAlerts;
use support::standin::{Options, Standin};
use support::tryton_rest::{env, Rest};
use support::SHOP;

const WH: u64 = 78000000001;
const ITEM: u64 = 56000000000000001;
const VARIANT: u64 = 56000000001000001;
const FIELD: &str = "template.salable";

fn erp() -> TrytonErp {
    TrytonErp::new(env("TRYTON_URL"), env("TRYTON_API_KEY"), 1).expect("a loopback Tryton URL")
}

async fn salable(code: &str) -> String {
    erp()
        .item_fields(&[code.to_string()], &[FIELD.to_string()])
        .await
        .expect("read the field")[code][FIELD]
        .clone()
}

async fn metafields_set(standin: &Standin) -> u64 {
    standin.get("/_standin/stats").await["metafields_set"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn an_operator_s_metafield_reaches_tryton_once_and_nothing_echoes_back() {
    let s = support::stack().await;
    let standin = Standin::start(Options::default()).await;
    let rest = Rest::new();
    let code = rest.products(&["fieldsback"]).await[0].0.clone();
    let items = format!(
        "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n{SHOP},{ITEM},{VARIANT},SKU-FB,{code},each,each\n"
    );
    let locations = format!(
        "shop,location_id,name,erp_warehouse,master,default\n{SHOP},{WH},Warehouse,WH,erp,true\n"
    );
    stockbridge_ops::import_skumap(&s.store, &s.queue, Some(&items), Some(&locations), false)
        .await
        .expect("SKU map");
    standin
        .post(
            "/_standin/seed",
            json!({"items": [{"id": ITEM, "sku": "SKU-FB", "variant_id": VARIANT}],
                   "locations": [{"id": WH, "name": "Warehouse"}],
                   "levels": [{"item": ITEM, "location": WH, "available": 0}]}),
        )
        .await;
    s.store
        .put_storefront_settings(
            &s.shop(),
            &StorefrontSettings {
                fields: FieldMap {
                    links: vec![FieldLink {
                        erp_field: FIELD.into(),
                        namespace: "stockbridge".into(),
                        key: "salable".into(),
                        kind: "boolean".into(),
                        enabled: true,
                    }],
                },
                ..StorefrontSettings::default()
            },
        )
        .await
        .expect("settings");
    assert_eq!(
        salable(&code).await,
        "false",
        "a new product is not salable"
    );

    let erp_url = s.env["ERP_CHANGES_QUEUE_URL"].clone();
    let poller = ErpPoller {
        feed: erp(),
        cursors: s.store.clone(),
        map: s.store.clone(),
        queue: SqsQueue::new(s.sqs.clone(), erp_url.clone()),
        lock: s.store.clone(),
        metrics: Metrics::silent("erp-poller"),
        settings: FeedSettings {
            source: "tryton".into(),
            shops: vec![s.shop()],
            page: 100,
            holder: "fields-back-test".into(),
            from_start: false,
        },
    };
    let back: FieldsBack<_, DynamoStore, TrytonErp, DynamoStore> = FieldsBack {
        shopify: standin.client(),
        store: s.store.clone(),
        erp: erp(),
        cursors: s.store.clone(),
        metrics: Metrics::silent("erp-poller"),
        settings: FieldsBackSettings {
            shop: s.shop(),
            page: 100,
        },
    };
    // First starts: after everything there is now.
    poller.poll_once().await.expect("the poller's first start");
    back.run(5).await.expect("the way back's first start");

    // The operator switches the variant to salable in Shopify's admin.
    standin
        .client()
        .set_metafields(&[MetafieldWrite {
            owner: VariantId(VARIANT),
            namespace: "stockbridge".into(),
            key: "salable".into(),
            kind: "boolean".into(),
            value: "true".into(),
        }])
        .await
        .expect("the operator's metafieldsSet");
    let reports = back.run(5).await.expect("the way back");
    let written: usize = reports.iter().map(|r| r.written).sum();
    assert_eq!(written, 1, "{reports:?}");
    assert_eq!(salable(&code).await, "true", "Tryton's product took it");
    let pair = (ITEM_WIDE.to_string(), code.clone());
    let records = s
        .store
        .erp_records(&s.shop(), std::slice::from_ref(&pair))
        .await
        .expect("records");
    assert_eq!(
        records[&pair].0.fields.get(FIELD).map(String::as_str),
        Some("true"),
        "the ERP record holds the ERP's value"
    );

    // Read again: nothing written twice.
    let again = back.run(5).await.expect("again");
    assert_eq!(
        again.iter().map(|r| r.written).sum::<usize>(),
        0,
        "{again:?}"
    );

    // The ERP's own snapshot of our write comes through the poller and the sync: no metafield
    // write back to Shopify.
    let before = metafields_set(&standin).await;
    let sync = std::sync::Arc::new(ErpSync {
        shop: s.shop(),
        store: s.store.clone(),
        shopify: standin.client(),
        alerts: MemoryAlerts::new(),
        retries: SqsQueue::new(s.sqs.clone(), erp_url.clone()),
        stock_events: s.queue.clone(),
        metrics: Metrics::silent("erp-sync"),
    });
    let arn = s
        .sqs
        .get_queue_attributes()
        .queue_url(&erp_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    let erp_queue = PollerSettings {
        queue_url: erp_url.clone(),
        queue_arn: arn,
        ..s.poller.clone()
    };
    let mut fields_seen = 0;
    for _ in 0..20 {
        let r = poller.poll_once().await.expect("poll the ERP");
        fields_seen += r.changes;
        if !r.more {
            break;
        }
    }
    assert!(fields_seen > 0, "the poller saw the item change");
    let handler = move |event: aws_lambda_events::sqs::SqsEvent, _deadline| {
        let sync = sync.clone();
        async move { stockbridge_lambda::sqs_batch::consume_erp_changes(&sync, event).await }
    };
    for _ in 0..300 {
        if s.depth(&erp_url).await == 0 {
            break;
        }
        poll_once(&s.sqs, &erp_queue, &handler)
            .await
            .expect("poll the ERP changes queue");
    }
    assert_eq!(s.depth(&erp_url).await, 0, "the ERP changes queue drained");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        metafields_set(&standin).await,
        before,
        "no metafield written back to Shopify"
    );
    // And the way back, stepping again, finds nothing to carry.
    let last = back.run(5).await.expect("last");
    assert_eq!(last.iter().map(|r| r.written).sum::<usize>(), 0, "{last:?}");
    assert_eq!(salable(&code).await, "true");
}
