//! The week's stored reconciliation reports for the weekly health report
//! ([`ReportHistory`]): the inbox's `REPORT#<shop>` partition from the run id of a time on,
//! oldest first, one DynamoDB page (at most 1 MB) at a time, so the reader holds a page, not a
//! week.

use aws_sdk_dynamodb::types::AttributeValue;

use stockbridge_core::ports::PortError;
use stockbridge_core::reconcile::run_id;
use stockbridge_core::weekly::{ReportHistory, ReportPage};
use stockbridge_domain::ids::{ShopDomain, Timestamp};

use super::codec::{self, s};
use super::keys;
use super::{sdk_unavailable, DynamoStore};

impl ReportHistory for DynamoStore {
    async fn reports_since(
        &self,
        shop: &ShopDomain,
        since: Timestamp,
        after: Option<String>,
    ) -> Result<ReportPage, PortError> {
        let pk = keys::report_pk(shop);
        let mut query = self
            .client
            .query()
            .table_name(&self.tables.inbox)
            .key_condition_expression("pk = :pk AND sk >= :from")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":from", s(&run_id(since)))
            .scan_index_forward(true);
        if let Some(sk) = after {
            query = query
                .exclusive_start_key("pk", s(&pk))
                .exclusive_start_key("sk", s(&sk));
        }
        let resp = query.send().await.map_err(sdk_unavailable)?;
        let reports = resp
            .items()
            .iter()
            .map(codec::read_report)
            .collect::<Result<_, _>>()?;
        let next = resp
            .last_evaluated_key()
            .and_then(|k| k.get("sk"))
            .and_then(|v| match v {
                AttributeValue::S(sk) => Some(sk.clone()),
                _ => None,
            });
        Ok(ReportPage { reports, next })
    }
}
