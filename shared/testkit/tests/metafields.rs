//! `ShopifyGraphql` as the two-way direction's [`Metafields`] port, against the local Shopify
//! stand-in (`infra/shopify-standin/`, started per test on a free loopback port): the restock
//! metafields (`date`, `number_integer`) set on a variant and read back from the stand-in's
//! state, moved, deleted and deleted again; a value that does not fit its type refused with
//! Shopify's message and nothing of its call set; more than 25 metafields set in calls of at
//! most 25; and the calls paced to a small cost bucket.
//!
//! Needs `STOCKBRIDGE_TEST_PYTHON` (the venv's python, with graphql-core): `infra/test.sh` sets it.

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use stockbridge_core::ports::{MetafieldRef, MetafieldWrite, Metafields, ShopifyError};
use stockbridge_domain::ids::VariantId;
use stockbridge_domain::storefront::{RESTOCK_DATE_KEY, RESTOCK_NAMESPACE, RESTOCK_QUANTITY_KEY};
use stockbridge_shopify_admin::MAX_METAFIELDS_PER_CALL;
use support::standin::{Options, Standin};

const ITEM: u64 = 271_878_346_596_884_015;
/// Beyond 2^53: a float would round it.
const VARIANT: u64 = 9_007_199_254_740_995;
const OTHER_ITEM: u64 = ITEM + 1;
const OTHER_VARIANT: u64 = VARIANT + 2;

async fn seeded(options: Options) -> Standin {
    let standin = Standin::start(options).await;
    standin
        .post(
            "/_standin/seed",
            json!({
                "reset": true,
                "items": [{"id": ITEM, "sku": "TEE", "variant_id": VARIANT},
                          {"id": OTHER_ITEM, "sku": "MUG", "variant_id": OTHER_VARIANT}],
                "locations": [{"id": 72_000_000_001u64, "name": "Warehouse"}],
                "levels": [],
            }),
        )
        .await;
    standin
}

fn write(variant: u64, key: &str, kind: &str, value: &str) -> MetafieldWrite {
    MetafieldWrite {
        owner: VariantId(variant),
        namespace: RESTOCK_NAMESPACE.into(),
        key: key.into(),
        kind: kind.into(),
        value: value.into(),
    }
}

fn reference(variant: u64, key: &str) -> MetafieldRef {
    MetafieldRef {
        owner: VariantId(variant),
        namespace: RESTOCK_NAMESPACE.into(),
        key: key.into(),
    }
}

fn restock(date: &str, quantity: &str) -> Vec<MetafieldWrite> {
    vec![
        write(VARIANT, RESTOCK_DATE_KEY, "date", date),
        write(VARIANT, RESTOCK_QUANTITY_KEY, "number_integer", quantity),
    ]
}

/// The stand-in's metafields of `variant` in the namespace, key -> (type, value).
async fn stored(standin: &Standin, variant: u64) -> BTreeMap<String, (String, String)> {
    let state = standin.get("/_standin/state").await;
    let owner = format!("gid://shopify/ProductVariant/{variant}");
    state["metafields"]
        .as_array()
        .expect("state lists metafields")
        .iter()
        .filter(|m| m["ownerId"] == owner.as_str() && m["namespace"] == RESTOCK_NAMESPACE)
        .map(|m| {
            let text = |v: &Value| v.as_str().expect("a string").to_string();
            (text(&m["key"]), (text(&m["type"]), text(&m["value"])))
        })
        .collect()
}

async fn graphql_requests(standin: &Standin) -> u64 {
    standin.get("/_standin/stats").await["graphql_requests"]
        .as_u64()
        .expect("graphql_requests")
}

fn pair(kind: &str, value: &str) -> (String, String) {
    (kind.to_string(), value.to_string())
}

#[tokio::test]
async fn the_restock_metafields_are_set_moved_and_deleted_on_the_variant() {
    let standin = seeded(Options::default()).await;
    let client = standin.client();

    client
        .set_metafields(&restock("2026-12-24", "40"))
        .await
        .expect("set");
    let got = stored(&standin, VARIANT).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[RESTOCK_DATE_KEY], pair("date", "2026-12-24"));
    assert_eq!(got[RESTOCK_QUANTITY_KEY], pair("number_integer", "40"));
    assert!(
        stored(&standin, OTHER_VARIANT).await.is_empty(),
        "only the variant named"
    );

    // The purchase moved: the same keys take the new values (an upsert, no second metafield).
    client
        .set_metafields(&restock("2027-01-15", "25"))
        .await
        .expect("move");
    let got = stored(&standin, VARIANT).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[RESTOCK_DATE_KEY], pair("date", "2027-01-15"));
    assert_eq!(got[RESTOCK_QUANTITY_KEY], pair("number_integer", "25"));

    // Received: both go; deleting again, and deleting one that never was, is no error.
    let refs = [
        reference(VARIANT, RESTOCK_DATE_KEY),
        reference(VARIANT, RESTOCK_QUANTITY_KEY),
    ];
    client.delete_metafields(&refs).await.expect("delete");
    assert!(stored(&standin, VARIANT).await.is_empty());
    client.delete_metafields(&refs).await.expect("delete again");
    client
        .delete_metafields(&[reference(OTHER_VARIANT, RESTOCK_DATE_KEY)])
        .await
        .expect("delete what never was");
    let before = graphql_requests(&standin).await;
    client.delete_metafields(&[]).await.expect("nothing");
    client.set_metafields(&[]).await.expect("nothing");
    assert_eq!(
        graphql_requests(&standin).await,
        before,
        "nothing to do sends nothing"
    );
}

#[tokio::test]
async fn a_value_that_does_not_fit_its_type_is_rejected_and_its_call_sets_nothing() {
    let standin = seeded(Options::default()).await;
    let client = standin.client();

    let error = client
        .set_metafields(&[
            write(VARIANT, RESTOCK_QUANTITY_KEY, "number_integer", "40"),
            write(VARIANT, RESTOCK_DATE_KEY, "date", "24/12/2026"),
        ])
        .await
        .expect_err("a date that is not YYYY-MM-DD");
    match &error {
        ShopifyError::Rejected(message) => {
            assert!(message.starts_with("metafieldsSet: "), "{message}");
            assert!(message.contains("metafields.1.value"), "{message}");
            assert!(message.contains("YYYY-MM-DD"), "{message}");
            assert!(message.contains("INVALID_VALUE"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(
        stored(&standin, VARIANT).await.is_empty(),
        "atomic: the good one was not set either"
    );

    let error = client
        .set_metafields(&[write(
            VARIANT,
            RESTOCK_QUANTITY_KEY,
            "number_integer",
            "4.5",
        )])
        .await
        .expect_err("not an integer");
    assert!(
        matches!(&error, ShopifyError::Rejected(m) if m.contains("integer")),
        "{error:?}"
    );

    // A variant the shop does not have is refused too, never silently dropped.
    let error = client
        .set_metafields(&[write(1, RESTOCK_DATE_KEY, "date", "2026-12-24")])
        .await
        .expect_err("an unknown variant");
    assert!(
        matches!(&error, ShopifyError::Rejected(m) if m.contains("ownerId")),
        "{error:?}"
    );
}

#[tokio::test]
async fn thirty_metafields_go_in_two_calls_each_of_at_most_25() {
    let standin = seeded(Options::default()).await;
    let client = standin.client();
    let writes: Vec<MetafieldWrite> = (0..30)
        .map(|i| {
            write(
                VARIANT,
                &format!("field_{i:02}"),
                "number_integer",
                &i.to_string(),
            )
        })
        .collect();
    assert!(writes.len() > MAX_METAFIELDS_PER_CALL);

    let before = graphql_requests(&standin).await;
    client.set_metafields(&writes).await.expect("set 30");
    assert_eq!(
        graphql_requests(&standin).await - before,
        2,
        "25 + 5 in two calls"
    );
    assert_eq!(client.points_spent(), 20.0, "two mutations, 10 points each");
    let got = stored(&standin, VARIANT).await;
    assert_eq!(got.len(), 30);
    for i in 0..30 {
        assert_eq!(
            got[&format!("field_{i:02}")],
            pair("number_integer", &i.to_string())
        );
    }

    // A refused second chunk leaves the first set (each chunk is atomic, the whole is not).
    let mut refused = writes.clone();
    for w in refused.iter_mut() {
        w.value = "7".into();
    }
    refused[27].value = "seven".into();
    let error = client.set_metafields(&refused).await.expect_err("chunk 2");
    assert!(
        matches!(&error, ShopifyError::Rejected(m) if m.contains("metafields.2.value")),
        "the second chunk's third: {error:?}"
    );
    let got = stored(&standin, VARIANT).await;
    assert_eq!(got["field_00"].1, "7", "the first chunk was set");
    assert_eq!(got["field_27"].1, "27", "the second chunk was not");
    assert_eq!(got["field_29"].1, "29", "the second chunk was not");

    // All 30 deleted in one call (Shopify's input array limit is 250).
    let refs: Vec<MetafieldRef> = writes.iter().map(|w| reference(VARIANT, &w.key)).collect();
    let before = graphql_requests(&standin).await;
    client.delete_metafields(&refs).await.expect("delete 30");
    assert_eq!(graphql_requests(&standin).await - before, 1);
    assert!(stored(&standin, VARIANT).await.is_empty());
}

#[tokio::test]
async fn metafield_calls_are_paced_to_a_small_bucket_instead_of_throttled() {
    // 15 points, 10 a second: a second mutation (10 points) right after the first must wait.
    let standin = seeded(Options {
        bucket: 15,
        restore: 10,
        webhook_url: None,
    })
    .await;
    let client = standin.client();
    let writes: Vec<MetafieldWrite> = (0..75)
        .map(|i| write(VARIANT, &format!("paced_{i:02}"), "number_integer", "1"))
        .collect();
    let started = std::time::Instant::now();
    client
        .set_metafields(&writes)
        .await
        .expect("three calls, paced");
    client
        .delete_metafields(&[reference(VARIANT, "paced_00")])
        .await
        .expect("a fourth, paced");
    let stats = standin.get("/_standin/stats").await;
    assert_eq!(stats["throttled"], 0, "never throttled: {stats}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1000),
        "waited for the bucket: {:?}",
        started.elapsed()
    );
    assert_eq!(stored(&standin, VARIANT).await.len(), 74);
}
