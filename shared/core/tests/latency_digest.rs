//! The latency digest kept by the stock consumer over the in-memory store: one write per batch
//! and shop adds the batch's applied latencies (and, with an ERP, its webhook-to-acknowledged
//! latencies) to the hour's histogram; batches add up; a failed digest write leaves the batch
//! applied and is counted.

mod support;

use stockbridge_core::consumer::StockConsumer;
use stockbridge_core::erp_push::ErpPush;
use stockbridge_core::ports::{hour_of, HourDigest, LatencyDigest};
use stockbridge_core::telemetry::Metrics;
use stockbridge_domain::ids::Timestamp;
use stockbridge_memory::{EchoShopify, Fault, MemoryErp, MemoryStore, StoreOp};
use support::*;

async fn this_hour(store: &MemoryStore) -> Vec<HourDigest> {
    let hour = hour_of(Timestamp::now());
    store.read_latency(&shop(), &hour, &hour).await.unwrap()
}

#[tokio::test]
async fn each_batch_adds_its_applied_latencies_in_one_write_per_shop() {
    let store = mapped_store().await;
    let c = consumer(&store);
    let batch = |n: u32| {
        messages(&[
            event(&format!("a{n}"), vec![level(TEE.0, WH, 5, n)]),
            event(&format!("b{n}"), vec![level(MUG.0, WH, 7, n)]),
            event(&format!("c{n}"), vec![level(CAP.0, WH, 9, n)]),
        ])
    };
    let report = c.apply_messages(&batch(1)).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        store.calls(StoreOp::AddLatency),
        1,
        "one write for the batch"
    );
    let rows = this_hour(&store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].applied.total(), 3);
    assert!(rows[0].erp.is_empty(), "no ERP: nothing acknowledged");

    c.apply_messages(&batch(2)).await;
    assert_eq!(store.calls(StoreOp::AddLatency), 2);
    assert_eq!(
        this_hour(&store).await[0].applied.total(),
        6,
        "batches add up"
    );

    // A redelivery applies nothing: no latency, no write.
    c.apply_messages(&batch(2)).await;
    assert_eq!(store.calls(StoreOp::AddLatency), 2);
}

#[tokio::test]
async fn an_acknowledged_erp_write_adds_its_end_to_end_latency() {
    let store = mapped_store().await;
    let erp = MemoryErp::default();
    let push = ErpPush::new(erp.clone(), fast_push(), Metrics::silent("test-push"));
    let c = StockConsumer::with_erp(
        store.clone(),
        Metrics::silent("test-consumer"),
        push,
        None::<stockbridge_memory::MemoryQueue>,
    )
    .with_shopify(Some(EchoShopify::new(store.clone(), shop())));
    let report = c
        .apply_messages(&messages(&[event(
            "count",
            vec![level(TEE.0, STORE, 10, 1)],
        )]))
        .await;
    assert!(report.failed.is_empty(), "{report:?}");
    let rows = this_hour(&store).await;
    assert_eq!(rows[0].applied.total(), 1);
    assert_eq!(rows[0].erp.total(), 1, "the ERP acknowledged the write");
}

#[tokio::test]
async fn a_failed_digest_write_leaves_the_batch_applied_and_is_counted() {
    let store = mapped_store().await;
    let c = consumer(&store);
    store.fail_next(StoreOp::AddLatency, 1, Fault::Unavailable);
    let report = c
        .apply_messages(&messages(&[event("a", vec![level(TEE.0, WH, 5, 1)])]))
        .await;
    assert!(
        report.failed.is_empty(),
        "the batch does not fail: {report:?}"
    );
    assert_eq!(stock(&store).len(), 1, "the stock is applied");
    assert!(
        this_hour(&store).await.is_empty(),
        "the digest lost the batch"
    );
    assert_eq!(c.metrics.total("LatencyDigestFailed"), 1.0);
}
