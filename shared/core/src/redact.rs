//! `shop/redact` in steps, so a shop of any size is deleted however long it takes: each step
//! deletes what one page of the store holds for the shop ([`StockStore::redact_shop`]); after
//! every step the progress is recorded (`REDACT#<shop>`: the cursor, steps, records deleted,
//! started, finished); when the invocation's time or its step budget runs out, the consumer sends
//! itself the same event carrying the cursor, and the next invocation carries on.
//!
//! The recorded progress is the truth: a continuation, or the original request delivered again
//! after a crash, resumes from the recorded cursor (everything before it is deleted). A request
//! that arrives while a redaction is under way joins it; one that arrives after the shop's last
//! redaction finished starts a new one from the beginning; a delivery of a request or
//! continuation already finished does nothing.

use std::time::Duration;

use crate::config::{env_or, ConfigError};
use crate::deadline::Clock;
use crate::ports::{EventQueue, PortError, RedactProgress, StockStore};
use crate::telemetry::{Metrics, Unit};
use stockbridge_domain::event::{EventBody, InventoryEvent, RedactResume};
use stockbridge_domain::ids::Timestamp;

/// How a redaction pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedactSettings {
    /// Stored records one step reads (DynamoDB: a Scan page's `Limit`).
    pub page: usize,
    /// Steps one message may take before the rest is handed on, whatever time is left.
    pub max_steps: u32,
}

impl Default for RedactSettings {
    fn default() -> Self {
        RedactSettings {
            page: 500,
            max_steps: 10_000,
        }
    }
}

/// The largest page a step may read (a DynamoDB Scan page is at most 1 MB anyway).
const MAX_PAGE: usize = 10_000;

impl RedactSettings {
    /// `REDACT_PAGE_SIZE` (records one step reads, 1 to 10,000; default 500) and
    /// `REDACT_MAX_STEPS` (steps per message before handing on; default 10,000).
    pub fn from_env() -> Result<Self, ConfigError> {
        let default = RedactSettings::default();
        let page = env_or("REDACT_PAGE_SIZE", default.page)?;
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(ConfigError::Invalid {
                name: "REDACT_PAGE_SIZE",
                detail: format!("{page} is not between 1 and {MAX_PAGE}"),
            });
        }
        let max_steps = env_or("REDACT_MAX_STEPS", default.max_steps)?;
        if max_steps == 0 {
            return Err(ConfigError::Invalid {
                name: "REDACT_MAX_STEPS",
                detail: "0 steps would never delete anything".into(),
            });
        }
        Ok(RedactSettings { page, max_steps })
    }
}

/// What became of one `shop/redact` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Redaction {
    /// Every table read to its end: the shop's data is gone.
    Finished,
    /// Steps taken and recorded; the rest is on the queue as a continuation.
    HandedOn,
    /// This request or continuation was finished already.
    Duplicate,
    /// No time to take a step: the message fails and comes back; its next delivery resumes
    /// from the recorded progress.
    Deferred,
    /// Steps taken and recorded, but no queue to hand the rest on: the message fails and comes
    /// back, and its next delivery resumes from the recorded progress.
    Unfinished,
}

/// Runs `event` (a `shop/redact`, fresh or continued) as far as the clock and the step budget
/// allow. A store error is returned: the message fails and comes back, and resumes.
pub(crate) async fn redact<S: StockStore, Q: EventQueue>(
    store: &S,
    queue: Option<&Q>,
    metrics: &Metrics,
    settings: &RedactSettings,
    clock: &Clock,
    event: &InventoryEvent,
    resume: Option<&RedactResume>,
) -> Result<Redaction, PortError> {
    if !clock.may_start() {
        return Ok(Redaction::Deferred);
    }
    let shop = &event.shop;
    let now = Timestamp::now();
    let recorded = clock.within(store.redact_progress(shop)).await?;
    let fresh = |run: &str, cursor| RedactProgress {
        shop: shop.clone(),
        run: run.to_string(),
        cursor,
        steps: 0,
        deleted: 0,
        continuations: 0,
        started_at: now,
        updated_at: now,
        finished_at: None,
    };
    let mut progress = match (resume, recorded) {
        // Under way (a crash left it, or a second request): carry on from the record.
        (None, Some(p)) if p.finished_at.is_none() => p,
        (None, Some(p)) if p.run == event.key => return Ok(Redaction::Duplicate),
        (None, _) => fresh(&event.key, None),
        (Some(r), Some(p)) if p.run == r.run => match p.finished_at {
            Some(_) => return Ok(Redaction::Duplicate),
            None => p,
        },
        // A later redaction replaced this one's record only once this one had finished.
        (Some(r), Some(p)) => {
            tracing::info!(shop = %shop, run = %r.run, newer = %p.run, "stale redaction continuation dropped");
            return Ok(Redaction::Duplicate);
        }
        // The record is gone: carry on from the event's own cursor.
        (Some(r), None) => fresh(&r.run, Some(r.cursor.clone())),
    };

    let mut steps = 0;
    while steps < settings.max_steps && clock.may_start() {
        let step = clock
            .within(store.redact_shop(shop, progress.cursor.as_ref(), settings.page))
            .await?;
        steps += 1;
        progress.steps += 1;
        progress.deleted += step.deleted as u64;
        progress.cursor = step.next;
        progress.updated_at = Timestamp::now();
        if progress.cursor.is_none() {
            progress.finished_at = Some(progress.updated_at);
        }
        clock.within(store.put_redact_progress(&progress)).await?;
        metrics.put(
            "RedactRecordsDeleted",
            step.deleted as f64,
            Unit::Count,
            None,
        );
        if progress.finished_at.is_some() {
            metrics.count("ShopRedacted", None);
            tracing::info!(
                shop = %shop, run = %progress.run, records = progress.deleted,
                steps = progress.steps, "shop redacted"
            );
            return Ok(Redaction::Finished);
        }
    }
    if steps == 0 {
        return Ok(Redaction::Deferred);
    }
    let (Some(queue), Some(cursor)) = (queue, progress.cursor.clone()) else {
        tracing::warn!(shop = %shop, steps, "redaction not finished and no queue to hand it on; the message comes back");
        return Ok(Redaction::Unfinished);
    };
    progress.continuations += 1;
    clock.within(store.put_redact_progress(&progress)).await?;
    let next = InventoryEvent {
        key: format!("{}#redact-{}", progress.run, progress.continuations),
        body: EventBody::ShopRedact {
            resume: Some(RedactResume {
                run: progress.run.clone(),
                cursor,
            }),
        },
        ..event.clone()
    };
    clock
        .within(queue.send_after(&[next], Duration::ZERO))
        .await?;
    metrics.count("RedactHandedOn", None);
    tracing::info!(
        shop = %shop, run = %progress.run, steps, records = progress.deleted,
        continuation = progress.continuations, "redaction handed on to the next invocation"
    );
    Ok(Redaction::HandedOn)
}
