//! The latency digest's DynamoDB adapter against moto's inbox table: two batches' `UpdateItem`
//! `ADD`s to the same hour add up bucket by bucket; the record carries the shop (so a shop's
//! redaction deletes it) and a TTL of 40 days after its hour; a read takes only the hours asked.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use stockbridge_core::ports::{bucket_of, Histogram, HourDigest, LatencyDigest};
use stockbridge_domain::ids::Timestamp;
use support::stack;

fn histogram(latencies: &[(f64, u64)]) -> Histogram {
    let mut h = Histogram::default();
    for (ms, count) in latencies {
        for _ in 0..*count {
            h.record(*ms);
        }
    }
    h
}

fn digest(hour: &str, applied: &[(f64, u64)], erp: &[(f64, u64)]) -> HourDigest {
    HourDigest {
        hour: hour.into(),
        applied: histogram(applied),
        erp: histogram(erp),
    }
}

#[tokio::test]
async fn two_batches_add_up_in_the_hours_record() {
    let s = stack().await;
    let shop = s.shop();
    let hour = "2026-11-24T14";
    s.store
        .add_latency(&shop, &digest(hour, &[(64.0, 3), (900.0, 1)], &[]))
        .await
        .unwrap();
    s.store
        .add_latency(&shop, &digest(hour, &[(64.0, 2)], &[(2000.0, 4)]))
        .await
        .unwrap();
    s.store
        .add_latency(&shop, &digest("2026-11-24T16", &[(10.0, 1)], &[]))
        .await
        .unwrap();

    let rows = s
        .store
        .read_latency(&shop, "2026-11-24T13", "2026-11-24T15")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only the hours asked: {rows:?}");
    let row = &rows[0];
    assert_eq!(row.hour, hour);
    assert_eq!(row.applied.counts[&bucket_of(64.0)], 5, "3 + 2 added up");
    assert_eq!(row.applied.counts[&bucket_of(900.0)], 1);
    assert_eq!(row.applied.total(), 6);
    assert_eq!(row.erp.counts[&bucket_of(2000.0)], 4);
    assert_eq!(row.applied.percentile(0.5), Some(64.0));

    let both = s
        .store
        .read_latency(&shop, "2026-11-24T00", "2026-11-24T23")
        .await
        .unwrap();
    let hours: Vec<&str> = both.iter().map(|r| r.hour.as_str()).collect();
    assert_eq!(hours, ["2026-11-24T14", "2026-11-24T16"], "oldest first");

    let item = aws_sdk_dynamodb::Client::new(&s.sdk)
        .get_item()
        .table_name(&s.env["INBOX_TABLE"])
        .key("pk", AttributeValue::S(format!("LATENCY#{shop}")))
        .key("sk", AttributeValue::S(hour.into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the hour's record");
    assert_eq!(item["shop"], AttributeValue::S(shop.as_str().into()));
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let start = Timestamp::parse("2026-11-24T14:00:00Z").unwrap().as_secs();
    assert_eq!(expires, start + 40 * 86_400, "40 days after the hour");
}
