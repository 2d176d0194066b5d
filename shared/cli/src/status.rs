//! `stockbridge status`: one screen with the health of the deployment the environment names,
//! and a verdict line `healthy` / `degraded` / `failing` with its reasons (`--json` for
//! scripts; exit code 0 / 1 / 2 by verdict, 2 also when it could not run at all). This module
//! gathers what is seen through the same adapters as the other commands and prints it; the
//! rules are [`stockbridge_ops::status`]'s (thresholds and why there).
//!
//! What each line is made of (read only: `status` changes nothing but the receive count of up
//! to 10 dead letters):
//! - events queue and dead letters: SQS `GetQueueAttributes` (`ApproximateNumberOfMessages`,
//!   `...NotVisible`, `...Delayed`). The oldest dead letter's age: a peek (`ReceiveMessage` of
//!   up to 10 with `VisibilityTimeout` 0, their `SentTimestamp`; a sample, so "oldest seen").
//!   The events queue is not peeked, since a receive there counts toward the redrive limit and
//!   could dead-letter an event: its oldest age is CloudWatch's `ApproximateAgeOfOldestMessage`
//!   (the queue-age alarm), shown as n/a here.
//! - ERP: one read of the on-hand of the first mapped item at the first mapped warehouse, with
//!   a [`ERP_READ_DEADLINE`].
//! - ERP debt, parked writes and unsettled records: the shop's stock records (the listing
//!   `stockbridge erp parked` reads: one scan of the stock table, so its cost grows with the
//!   catalogue).
//! - parked events and quarantined deliveries: the inbox lists of the shop.
//! - reconcile: the newest stored report (`REPORT#` in the inbox table).
//! - webhook subscriptions: `webhook_health::check` (the shop's subscriptions and granted
//!   access scopes against what Stockbridge needs at `WEBHOOK_URL`), through the reconcile
//!   function's Admin API client (`SHOPIFY_ADMIN_URL` and its token).

use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use stockbridge_core::config::required_env;
use stockbridge_core::ports::{Erp, ErpError, Inbox};
use stockbridge_core::reconcile::ReconcileReport;
use stockbridge_core::webhook_health::{self, Needs};
use stockbridge_domain::ids::{ShopDomain, Timestamp};
use stockbridge_ops::erp_parked::parked_writes;
use stockbridge_ops::status::{
    age_secs, assess, human_age, Checked, ErpReach, Health, InboxCount, LastReport,
    LocationVariance, Observations, QueueGauge, Reason, StockDebt, SubscriptionFindings,
    Thresholds, Verdict,
};

use crate::deployment::Deployment;
use crate::error::Result;

/// How long the ERP may take to answer the one read before it counts as unreachable.
pub const ERP_READ_DEADLINE: Duration = Duration::from_secs(15);

/// How long reading the webhook subscriptions and scopes may take.
pub const SHOPIFY_READ_DEADLINE: Duration = Duration::from_secs(15);

/// Dead letters peeked for their send time (SQS returns at most 10 per receive).
const DLQ_PEEK: i32 = 10;

const EVENTS_QUEUE_AGE_UNKNOWN: &str = "n/a: not peeked (a receive counts toward the redrive \
     limit); CloudWatch ApproximateAgeOfOldestMessage has it";

/// What `--json` prints.
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    verdict: Verdict,
    reasons: &'a [Reason],
    observations: &'a Observations,
    thresholds: &'a Thresholds,
}

/// Gathers, judges, prints; the exit code is the verdict's.
pub async fn status(at: &Deployment, shop: &str, json: bool) -> Result<ExitCode> {
    let limits = Thresholds::default();
    let seen = observe(at, &ShopDomain::new(shop), &limits).await?;
    let health = assess(&seen, &limits);
    if json {
        let out = StatusJson {
            verdict: health.verdict,
            reasons: &health.reasons,
            observations: &seen,
            thresholds: &limits,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", screen(&seen, &health, &limits));
    }
    Ok(ExitCode::from(health.verdict.exit_code()))
}

/// Everything the verdict needs; only a missing store or events queue stops it (every other
/// failure is recorded in its check).
async fn observe(at: &Deployment, shop: &ShopDomain, limits: &Thresholds) -> Result<Observations> {
    let store = at.store()?;
    let queue = at.queue()?;
    let sqs = queue.client().clone();
    let events_queue = gauge(&sqs, queue.url(), false).await;
    let dead_letters = match required_env("EVENTS_DLQ_URL") {
        Ok(url) => gauge(&sqs, &url, true).await,
        Err(e) => Checked::Failed {
            error: e.to_string(),
        },
    };
    let now = Timestamp::now();
    let recent_since = Timestamp(now.0 - limits.recent * 1_000_000_000);
    let levels = store.levels(shop).await;
    let stock = match &levels {
        Ok(levels) => Checked::Seen(debt(levels)),
        Err(e) => failed(e),
    };
    let parked_events = match store.list_parked(shop).await {
        Ok(list) => Checked::Seen(count(list.iter().map(|p| p.parked_at), recent_since)),
        Err(e) => failed(&e),
    };
    let quarantined = match store.list_quarantine(shop).await {
        Ok(list) => Checked::Seen(count(list.iter().map(|q| q.received_at), recent_since)),
        Err(e) => failed(&e),
    };
    let last_report = match store.reports(shop, 1).await {
        Ok(reports) => match reports.first().map(|r| serde_json::from_str(r)) {
            None => Checked::Seen(None),
            Some(Ok(report)) => Checked::Seen(Some(last(&report))),
            Some(Err(e)) => Checked::Failed {
                error: format!("newest report does not parse: {e}"),
            },
        },
        Err(e) => failed(&e),
    };
    Ok(Observations {
        at: now,
        shop: shop.to_string(),
        events_queue,
        dead_letters,
        erp: erp_reach(at, &store, shop).await,
        stock,
        parked_events,
        quarantined,
        last_report,
        subscriptions: subscriptions(at).await,
    })
}

/// The shop's webhook subscriptions and access scopes against what Stockbridge needs
/// ([`webhook_health::check`]), read with the reconcile function's Admin API client.
async fn subscriptions(at: &Deployment) -> Checked<SubscriptionFindings> {
    let needs = match required_env("WEBHOOK_URL") {
        Ok(url) => match Needs::stockbridge(&url) {
            Ok(needs) => needs,
            Err(e) => return failed(&e),
        },
        Err(e) => return failed(&e),
    };
    let admin = match at.reconciler().await {
        Ok(reconciler) => reconciler.shopify,
        Err(e) => return failed(&e),
    };
    let health =
        match tokio::time::timeout(SHOPIFY_READ_DEADLINE, webhook_health::check(&admin, &needs))
            .await
        {
            Ok(Ok(health)) => health,
            Ok(Err(e)) => return failed(&e),
            Err(_) => {
                return Checked::Failed {
                    error: format!(
                        "Shopify gave no answer within {} s",
                        SHOPIFY_READ_DEADLINE.as_secs()
                    ),
                }
            }
        };
    let mut found = SubscriptionFindings::default();
    for t in &health.missing {
        found
            .missing
            .push(format!("missing: {t} ({})", webhook_health::api_topic(*t)));
    }
    for w in &health.wrong_address {
        found.missing.push(format!(
            "{} delivers to {} instead of {}",
            w.topic,
            w.uris.join(", "),
            health.address
        ));
    }
    for scope in &health.missing_scopes {
        found
            .missing
            .push(format!("access scope {scope} not granted"));
    }
    for e in &health.extra {
        found
            .other
            .push(format!("extra: {} to {} ({})", e.topic, e.uri, e.id));
    }
    for o in &health.other_version {
        found.other.push(format!(
            "{} to {} is API version {} (wanted {})",
            o.topic,
            o.uri,
            o.api_version,
            webhook_health::API_VERSION
        ));
    }
    found
        .missing
        .iter_mut()
        .chain(found.other.iter_mut())
        .for_each(|line| line.push_str("; `stockbridge webhooks ensure`"));
    Checked::Seen(found)
}

fn failed<T>(e: &impl std::fmt::Display) -> Checked<T> {
    Checked::Failed {
        error: e.to_string(),
    }
}

/// The queue's counts; with `peek`, the oldest send time among up to 10 received messages.
async fn gauge(sqs: &aws_sdk_sqs::Client, url: &str, peek: bool) -> Checked<QueueGauge> {
    let attrs = match sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
    {
        Ok(out) => out.attributes.unwrap_or_default(),
        Err(e) => return failed(&aws_sdk_sqs::error::DisplayErrorContext(e)),
    };
    let number = |name: QueueAttributeName| -> std::result::Result<u64, String> {
        attrs
            .get(&name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("SQS returned no number for {name} of {url}"))
    };
    let counts = (|| {
        Ok::<_, String>(QueueGauge {
            visible: number(QueueAttributeName::ApproximateNumberOfMessages)?,
            in_flight: number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
            delayed: number(QueueAttributeName::ApproximateNumberOfMessagesDelayed)?,
            ..QueueGauge::default()
        })
    })();
    let mut gauge = match counts {
        Ok(g) => g,
        Err(error) => return Checked::Failed { error },
    };
    if !peek {
        gauge.oldest_unknown = Some(EVENTS_QUEUE_AGE_UNKNOWN.into());
    } else if gauge.total() > 0 {
        match oldest_sent(sqs, url).await {
            Ok(Some(t)) => gauge.oldest_sent = Some(t),
            Ok(None) => gauge.oldest_unknown = Some("none visible to a peek".into()),
            Err(e) => gauge.oldest_unknown = Some(format!("peek failed: {e}")),
        }
    }
    Checked::Seen(gauge)
}

/// The earliest `SentTimestamp` among up to [`DLQ_PEEK`] messages, left visible at once.
async fn oldest_sent(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> std::result::Result<Option<Timestamp>, String> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(DLQ_PEEK)
        .visibility_timeout(0)
        .wait_time_seconds(0)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    Ok(out
        .messages()
        .iter()
        .filter_map(|m| {
            m.attributes()?
                .get(&MessageSystemAttributeName::SentTimestamp)?
                .parse::<i64>()
                .ok()
        })
        .min()
        .map(Timestamp::from_millis))
}

/// One read of the first mapped item at the first mapped warehouse.
async fn erp_reach(
    at: &Deployment,
    store: &stockbridge_aws::dynamodb::DynamoStore,
    shop: &ShopDomain,
) -> Checked<ErpReach> {
    let erp = match at.erp().await {
        Ok(erp) if erp.is_none() => {
            return Checked::NotChecked {
                why: "ERP_KIND is none".into(),
            }
        }
        Ok(erp) => erp,
        Err(e) => return failed(&e),
    };
    let map = match store.full_map(shop).await {
        Ok(map) => map,
        Err(e) => return failed(&e),
    };
    let warehouse = map.locations.values().min_by_key(|l| l.location);
    let item = map.items.values().map(|i| &i.erp_item).min();
    let (Some(warehouse), Some(item)) = (warehouse, item) else {
        return Checked::NotChecked {
            why: "no mapped item and location to read".into(),
        };
    };
    let read = erp.levels(&warehouse.erp_warehouse, std::slice::from_ref(item));
    Checked::Seen(match tokio::time::timeout(ERP_READ_DEADLINE, read).await {
        Ok(Ok(_)) => ErpReach::Reachable {
            warehouse: warehouse.erp_warehouse.clone(),
            item: item.clone(),
        },
        Ok(Err(e @ ErpError::Rejected(_))) => ErpReach::Refused {
            error: e.to_string(),
        },
        Ok(Err(e)) => ErpReach::Unreachable {
            error: e.to_string(),
        },
        Err(_) => ErpReach::Unreachable {
            error: format!("no answer within {} s", ERP_READ_DEADLINE.as_secs()),
        },
    })
}

fn debt(
    levels: &[(
        stockbridge_domain::stock::StockKey,
        stockbridge_domain::stock::StockLevel,
    )],
) -> StockDebt {
    let mut d = StockDebt {
        records: levels.len() as u64,
        parked_writes: parked_writes(levels).len() as u64,
        ..StockDebt::default()
    };
    for (_, level) in levels {
        if level.erp_owed != 0 {
            d.owing += 1;
            d.units_owed += level.erp_owed.abs();
            d.oldest_debt_since = earliest(d.oldest_debt_since, level.erp_owed_since);
        }
        if level.unsettled_since.is_some() {
            d.unsettled += 1;
            d.oldest_unsettled_since = earliest(d.oldest_unsettled_since, level.unsettled_since);
        }
    }
    d
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn count(times: impl Iterator<Item = Timestamp>, recent_since: Timestamp) -> InboxCount {
    let mut n = InboxCount::default();
    for t in times {
        n.total += 1;
        n.recent += u64::from(t >= recent_since);
    }
    n
}

fn last(report: &ReconcileReport) -> LastReport {
    LastReport {
        run: report.run.clone(),
        finished_at: Timestamp::parse(&report.finished_at),
        alert: report.alert,
        alert_reasons: report.alert_reasons.clone(),
        locations: report
            .locations
            .iter()
            .map(|t| LocationVariance {
                location: t.location.0,
                warehouse: t.warehouse.clone(),
                units_off: t.units_off,
                variance_pct: t.variance_pct(),
            })
            .collect(),
        total_variance_pct: report.total_variance_pct,
        corrections_failed: report.corrections_failed,
    }
}

/// The screen: one line per check, then the verdict and its reasons.
fn screen(seen: &Observations, health: &Health, limits: &Thresholds) -> String {
    let now = seen.at;
    let ago = |t: Timestamp| format!("{} ago", human_age(age_secs(now, t)));
    let mut out = format!(
        "stockbridge status  shop {}  at {}\n",
        seen.shop,
        now.to_rfc3339()
    );
    let mut line = |name: &str, text: String| out.push_str(&format!("  {name:<15}{text}\n"));
    line(
        "events queue",
        shown(&seen.events_queue, |q| {
            format!(
                "{} waiting, {} in flight, {} delayed; oldest {}",
                q.visible,
                q.in_flight,
                q.delayed,
                q.oldest_sent
                    .map(ago)
                    .or(q.oldest_unknown.clone())
                    .unwrap_or_else(|| "-".into())
            )
        }),
    );
    line(
        "dead letters",
        shown(&seen.dead_letters, |q| match (q.total(), q.oldest_sent) {
            (0, _) => "0".into(),
            (n, Some(t)) => format!("{n}, oldest sent {}", ago(t)),
            (n, None) => format!("{n}, age {}", q.oldest_unknown.as_deref().unwrap_or("-")),
        }),
    );
    line(
        "ERP",
        shown(&seen.erp, |r| match r {
            ErpReach::Reachable { warehouse, item } => {
                format!("reachable (read {item} at {warehouse})")
            }
            ErpReach::Unreachable { error } => format!("UNREACHABLE: {error}"),
            ErpReach::Refused { error } => format!("REFUSED a read: {error}"),
        }),
    );
    line(
        "ERP debt",
        shown(&seen.stock, |s| {
            format!(
                "{} records owe {} units, oldest {}; {} writes parked",
                s.owing,
                s.units_owed,
                s.oldest_debt_since.map_or("-".into(), ago),
                s.parked_writes
            )
        }),
    );
    line(
        "stock records",
        shown(&seen.stock, |s| {
            format!(
                "{} records, {} unsettled, oldest {}",
                s.records,
                s.unsettled,
                s.oldest_unsettled_since.map_or("-".into(), ago)
            )
        }),
    );
    let window = human_age(limits.recent);
    let inbox = |n: &InboxCount| format!("{} ({} new in the last {window})", n.total, n.recent);
    line("parked events", shown(&seen.parked_events, inbox));
    line("quarantine", shown(&seen.quarantined, inbox));
    line(
        "reconcile",
        shown(&seen.last_report, |r| match r {
            None => "no report yet".into(),
            Some(r) => report_line(r, r.finished_at.map_or("at an unknown time".into(), ago)),
        }),
    );
    line(
        "subscriptions",
        shown(&seen.subscriptions, |f| {
            if f.missing.is_empty() && f.other.is_empty() {
                "as needed (topics, address, API version, access scopes)".into()
            } else {
                format!(
                    "{} missing, {} other differences",
                    f.missing.len(),
                    f.other.len()
                )
            }
        }),
    );
    out.push_str(&format!("verdict: {}\n", health.verdict.as_str()));
    for r in &health.reasons {
        let mark = match r.severity {
            Verdict::Failing => "FAILING",
            _ => "degraded",
        };
        out.push_str(&format!("  - {mark} {}: {}\n", r.check, r.text));
    }
    out
}

fn report_line(r: &LastReport, when: String) -> String {
    let mut text = format!(
        "run {} finished {when}; total {:.2} %{}",
        r.run,
        r.total_variance_pct,
        if r.alert { "; ALERT" } else { "" }
    );
    for l in &r.locations {
        text.push_str(&format!(
            "; {} {:.2} % ({} off)",
            l.warehouse.as_deref().unwrap_or("-"),
            l.variance_pct,
            l.units_off
        ));
    }
    text
}

fn shown<T>(c: &Checked<T>, text: impl FnOnce(&T) -> String) -> String {
    match c {
        Checked::Seen(v) => text(v),
        Checked::NotChecked { why } => format!("not checked: {why}"),
        Checked::Failed { error } => format!("could not check: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_entries_count_as_new_within_the_window() {
        let n = count(
            [Timestamp(10), Timestamp(20), Timestamp(30)].into_iter(),
            Timestamp(20),
        );
        assert_eq!(
            n,
            InboxCount {
                total: 3,
                recent: 2
            }
        );
    }

    #[test]
    fn the_oldest_debt_and_unsettled_record_are_found() {
        use stockbridge_domain::ids::{InventoryItemId, LocationId};
        use stockbridge_domain::stock::{StockKey, StockLevel};
        let key = |item| StockKey {
            shop: ShopDomain::new("a.myshopify.com"),
            item: InventoryItemId(item),
            location: LocationId(1),
        };
        let levels = vec![
            (
                key(1),
                StockLevel {
                    erp_owed: -3,
                    erp_owed_since: Some(Timestamp(50)),
                    ..StockLevel::default()
                },
            ),
            (
                key(2),
                StockLevel {
                    erp_owed: 2,
                    erp_owed_since: Some(Timestamp(40)),
                    unsettled_since: Some(Timestamp(70)),
                    ..StockLevel::default()
                },
            ),
            (key(3), StockLevel::default()),
        ];
        let d = debt(&levels);
        assert_eq!(
            d,
            StockDebt {
                records: 3,
                owing: 2,
                units_owed: 5,
                oldest_debt_since: Some(Timestamp(40)),
                parked_writes: 0,
                unsettled: 1,
                oldest_unsettled_since: Some(Timestamp(70)),
            }
        );
    }
}
