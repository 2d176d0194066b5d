//! [`LatencyDigest`] over the inbox table: per shop and hour one record (`LATENCY#<shop>` /
//! `<yyyy-mm-ddThh>`) of counts per latency bucket, `applied_b<k>` and `erp_b<k>` numbers, which
//! one `UpdateItem` `ADD`s to (so concurrent consumers add up, no read before the write), with
//! the shop (so a shop's redaction deletes it) and a TTL of [`DIGEST_DAYS`] after the hour
//! (`docs/DATA.md`). Read back by one `Query` over an hour range.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use stockbridge_core::ports::{
    Histogram, HourDigest, LatencyDigest, PortError, DIGEST_DAYS, LAST_BUCKET,
};
use stockbridge_domain::ids::{ShopDomain, Timestamp};

use super::codec::attr::days_from;
use super::codec::{corrupt, n, s, Item};
use super::{keys, sdk_unavailable, DynamoStore};

const KIND: &str = "latency_digest";
const APPLIED: &str = "applied_b";
const ERP: &str = "erp_b";

/// The start of `hour` (`yyyy-mm-ddThh`).
fn hour_start(hour: &str) -> Result<Timestamp, PortError> {
    Timestamp::parse(&format!("{hour}:00:00Z")).ok_or_else(|| PortError::Refused {
        service: "DynamoDB",
        detail: format!("latency digest hour {hour:?} is not yyyy-mm-ddThh"),
    })
}

/// The counts of one histogram under `prefix`, read from `item`.
fn read_counts(item: &Item, prefix: &str) -> Result<Histogram, PortError> {
    let mut h = Histogram::default();
    for (name, value) in item {
        let Some(k) = name.strip_prefix(prefix) else {
            continue;
        };
        let k: u16 = k
            .parse()
            .ok()
            .filter(|k| *k <= LAST_BUCKET)
            .ok_or_else(|| corrupt(item, format!("{name} is not a latency bucket")))?;
        let count: u64 = value
            .as_n()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| corrupt(item, format!("{name} is not a count")))?;
        if count > 0 {
            h.counts.insert(k, count);
        }
    }
    Ok(h)
}

impl LatencyDigest for DynamoStore {
    async fn add_latency(&self, shop: &ShopDomain, digest: &HourDigest) -> Result<(), PortError> {
        let expires = days_from(hour_start(&digest.hour)?, DIGEST_DAYS);
        let mut adds = Vec::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (":shop".to_string(), s(shop.as_str())),
            (":kind".to_string(), s(KIND)),
            (":exp".to_string(), expires),
        ]);
        for (prefix, h) in [(APPLIED, &digest.applied), (ERP, &digest.erp)] {
            for (k, count) in &h.counts {
                adds.push(format!("{prefix}{k} :{prefix}{k}"));
                values.insert(format!(":{prefix}{k}"), n(count));
            }
        }
        if adds.is_empty() {
            return Ok(());
        }
        self.client
            .update_item()
            .table_name(&self.tables.inbox)
            .set_key(Some(keys::key(&keys::latency_pk(shop), &digest.hour)))
            .update_expression(format!(
                "SET #shop = :shop, #kind = :kind, #exp = :exp ADD {}",
                adds.join(", ")
            ))
            .expression_attribute_names("#shop", "shop")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#exp", "expires_at")
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(sdk_unavailable)?;
        Ok(())
    }

    async fn read_latency(
        &self,
        shop: &ShopDomain,
        from_hour: &str,
        to_hour: &str,
    ) -> Result<Vec<HourDigest>, PortError> {
        let pk = keys::latency_pk(shop);
        let mut rows = Vec::new();
        let mut after: Option<Item> = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.tables.inbox)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":from", s(from_hour))
                .expression_attribute_values(":to", s(to_hour))
                .scan_index_forward(true)
                .set_exclusive_start_key(after.take())
                .send()
                .await
                .map_err(sdk_unavailable)?;
            for item in resp.items() {
                let hour = item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| corrupt(item, "no hour (sk)"))?;
                rows.push(HourDigest {
                    hour: hour.clone(),
                    applied: read_counts(item, APPLIED)?,
                    erp: read_counts(item, ERP)?,
                });
            }
            match resp.last_evaluated_key() {
                Some(k) if !k.is_empty() => after = Some(k.clone()),
                _ => break,
            }
        }
        Ok(rows)
    }
}
