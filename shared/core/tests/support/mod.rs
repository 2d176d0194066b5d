//! What the handler tests share: a shop with a SKU map (an ERP-master warehouse, the default
//! location, and a Shopify-master shop floor), events built from the domain directly or as
//! signed Shopify deliveries, a queue drained through a consumer as SQS would (batches of 10, a
//! failed message delivered again under its id), and read-outs of the stock.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use stockbridge_core::config::ShopSecrets;
use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_push::PushPolicy;
use stockbridge_core::ports::{Erp, EventQueue, NoErp, NoQueue, ShopifyReads};
use stockbridge_core::retry::RetryPolicy;
use stockbridge_core::telemetry::Metrics;
use stockbridge_core::webhook::{Body, RequestHeaders, WebhookService, DEFAULT_MAX_BODY_BYTES};
use stockbridge_domain::batch::Outcome;
use stockbridge_domain::event::{
    EventBody, InventoryEvent, ItemRef, Part, Source, StockChange, SCHEMA_VERSION,
};
use stockbridge_domain::ids::{
    InventoryItemId, LineItemId, LocationId, OrderId, ShopDomain, Timestamp, VariantId, Version,
};
use stockbridge_domain::stock::StockKey;
use stockbridge_memory::{EchoShopify, MemoryQueue, MemoryStore};
use stockbridge_ops::import_skumap;

pub mod day;

pub const SHOP: &str = "stockbridge-demo.myshopify.com";
pub const SECRET: &str = "stockbridge-test-secret";
pub const OLD_SECRET: &str = "stockbridge-retired-secret";

/// ERP-master warehouse, the default location.
pub const WH: u64 = 72000000001;
/// Shopify-master shop floor (POS).
pub const STORE: u64 = 72000000002;
/// (inventory item, variant) pairs. Ids above 2^53, as Shopify's are.
pub const TEE: (u64, u64) = (45000000000000001, 46000000000000001);
pub const MUG: (u64, u64) = (45000000000000003, 46000000000000003);
pub const CAP: (u64, u64) = (45000000000000004, 46000000000000004);

pub const ITEMS_CSV: &str = "shop,inventory_item_id,variant_id,sku,erp_item,shopify_uom,erp_uom\n\
    stockbridge-demo.myshopify.com,45000000000000001,46000000000000001,SB-TEE,TEE,each,each\n\
    stockbridge-demo.myshopify.com,45000000000000003,46000000000000003,SB-MUG-12,MUG,dozen,each\n\
    stockbridge-demo.myshopify.com,45000000000000004,46000000000000004,SB-CAP,CAP,each,each\n";
pub const LOCATIONS_CSV: &str = "shop,location_id,name,erp_warehouse,master,default\n\
    stockbridge-demo.myshopify.com,72000000001,Warehouse,WH,erp,true\n\
    stockbridge-demo.myshopify.com,72000000002,Shop floor,STORE,shopify,false\n";

pub fn shop() -> ShopDomain {
    ShopDomain::new(SHOP)
}

pub fn key(item: u64, location: u64) -> StockKey {
    StockKey {
        shop: shop(),
        item: InventoryItemId(item),
        location: LocationId(location),
    }
}

/// A time of the test day, `n` seconds after 10:00.
pub fn t(n: u32) -> String {
    format!("2026-11-27T10:{:02}:{:02}Z", n / 60, n % 60)
}

pub fn version(n: u32) -> Version {
    let at = Timestamp::parse(&t(n)).unwrap_or_default();
    Version::new(at, at)
}

/// A store holding the SKU map of the test shop.
pub async fn mapped_store() -> MemoryStore {
    let store = MemoryStore::new();
    let summary = import_skumap(
        &store,
        &MemoryQueue::new(),
        Some(ITEMS_CSV),
        Some(LOCATIONS_CSV),
        false,
    )
    .await
    .expect("import the test SKU map");
    assert_eq!((summary.items_written, summary.locations_written), (3, 2));
    store
}

/// An event of the test shop as the webhook would enqueue it for delivery `webhook`.
pub fn event(webhook: &str, changes: Vec<StockChange>) -> InventoryEvent {
    let now = Timestamp::now();
    InventoryEvent {
        schema: SCHEMA_VERSION,
        key: InventoryEvent::delivery_key(&shop(), webhook, Part::WHOLE),
        shop: shop(),
        source: Source {
            topic: "inventory_levels/update".into(),
            webhook_id: webhook.into(),
            event_id: None,
            api_version: Some("2026-04".into()),
            triggered_at: now,
            received_at: now,
        },
        part: Part::WHOLE,
        body: EventBody::Stock { changes },
    }
}

/// `available` of an item at a location, as of second `n`.
pub fn level(item: u64, location: u64, available: i64, n: u32) -> StockChange {
    StockChange::Available {
        item: InventoryItemId(item),
        location: LocationId(location),
        available: Some(available),
        version: version(n),
        connect: false,
    }
}

/// The open quantity of an order line naming a variant, as of second `n`.
pub fn commitment(
    order: u64,
    line: u64,
    variant: u64,
    location: Option<u64>,
    open: i64,
    n: u32,
) -> StockChange {
    StockChange::Commitment {
        order: OrderId(order),
        line: LineItemId(line),
        item: ItemRef {
            variant: Some(VariantId(variant)),
            sku: None,
        },
        location: location.map(LocationId),
        open,
        version: version(n),
    }
}

/// Queue messages for events, ids `e0`, `e1`, ...
pub fn messages(events: &[InventoryEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("e{i}"), e.to_json()))
        .collect()
}

/// The queue message of one event, id `e0`.
pub fn message(event: &InventoryEvent) -> Vec<(String, String)> {
    messages(std::slice::from_ref(event))
}

/// A consumer without ERP or Admin API reads, counting metrics in memory.
pub fn consumer(store: &MemoryStore) -> StockConsumer<MemoryStore> {
    StockConsumer::new(store.clone(), Metrics::silent("test-consumer"))
}

/// The same, whose reads of Shopify confirm what the store holds ([`EchoShopify`]: the shop
/// is what its webhooks say).
pub fn consumer_echo(
    store: &MemoryStore,
) -> StockConsumer<MemoryStore, NoErp, NoQueue, EchoShopify<MemoryStore>> {
    consumer(store).with_shopify(Some(EchoShopify::new(store.clone(), shop())))
}

/// A push policy whose waits are a millisecond or two.
pub fn fast_push() -> PushPolicy {
    PushPolicy {
        retry: RetryPolicy {
            attempts: 4,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_wait: Duration::from_millis(50),
            min_after: Duration::from_millis(1),
        },
        ..PushPolicy::default()
    }
}

/// What draining a queue did.
#[derive(Debug, Default)]
pub struct Drained {
    pub receives: usize,
    pub failed: usize,
    pub outcomes: Vec<(String, Outcome)>,
}

/// Receives batches of 10 and applies them until the queue is empty; a failed message goes back
/// under its id, as SQS delivers it again after the visibility timeout.
pub async fn drain<E: Erp, Q: EventQueue, R: ShopifyReads>(
    queue: &MemoryQueue,
    consumer: &StockConsumer<MemoryStore, E, Q, R>,
) -> Drained {
    let mut drained = Drained::default();
    for _ in 0..200 {
        let batch = queue.receive(10);
        if batch.is_empty() {
            return drained;
        }
        let report = consumer.apply_messages(&batch).await;
        drained.receives += 1;
        drained.failed += report.failed.len();
        drained.outcomes.extend(report.outcomes);
        let failed: Vec<(String, String)> = batch
            .into_iter()
            .filter(|(id, _)| report.failed.contains(id))
            .collect();
        queue.redeliver(&failed);
    }
    panic!("the queue did not drain in 200 receives: {queue:?}");
}

/// Stock by `item@location`: (available, committed, on hand).
pub fn stock(store: &MemoryStore) -> BTreeMap<String, (i64, i64, i64)> {
    store
        .levels(&shop())
        .into_iter()
        .map(|(k, l)| {
            (
                format!("{}@{}", k.item, k.location),
                (l.available, l.committed, l.on_hand()),
            )
        })
        .collect()
}

/// What each stock record owes the ERP, by `item@location` (records that owe nothing left out).
pub fn owed(store: &MemoryStore) -> BTreeMap<String, i64> {
    store
        .levels(&shop())
        .into_iter()
        .filter(|(_, l)| l.erp_owed != 0)
        .map(|(k, l)| (format!("{}@{}", k.item, k.location), l.erp_owed))
        .collect()
}

/// The webhook intake of the test shop over these adapters (previous secret still accepted).
pub fn webhook(
    queue: &MemoryQueue,
    inbox: &MemoryStore,
) -> WebhookService<MemoryQueue, MemoryStore> {
    let mut shops = ShopSecrets::default();
    shops.insert(shop(), vec![SECRET.into(), OLD_SECRET.into()]);
    WebhookService {
        shops,
        queue: queue.clone(),
        inbox: inbox.clone(),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        metrics: Metrics::silent("test-webhook"),
    }
}

/// The headers Shopify sends with a delivery of `body`, signed with `secret`.
pub fn signed(topic: &str, body: &[u8], secret: &str, webhook_id: &str) -> RequestHeaders {
    let hmac = stockbridge_shopify::signature::sign(secret.as_bytes(), body);
    RequestHeaders::new([
        ("X-Shopify-Topic", topic.to_string()),
        ("X-Shopify-Hmac-Sha256", hmac),
        ("X-Shopify-Shop-Domain", SHOP.to_string()),
        ("X-Shopify-Webhook-Id", webhook_id.to_string()),
        ("X-Shopify-API-Version", "2026-04".to_string()),
    ])
}

/// Delivers one signed webhook; returns the answer's status.
pub async fn post(
    service: &WebhookService<MemoryQueue, MemoryStore>,
    topic: &str,
    body: &str,
    webhook_id: &str,
) -> u16 {
    let headers = signed(topic, body.as_bytes(), SECRET, webhook_id);
    service
        .receive(&headers, Body::Complete(body.as_bytes()))
        .await
        .status
}

/// One of Shopify's documented example payloads (`shared/shopify/tests/fixtures/shopify/`).
pub fn fixture(path: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shopify/tests/fixtures/shopify")
        .join(path);
    std::fs::read(&root).unwrap_or_else(|e| panic!("fixture {}: {e}", root.display()))
}
