//! The events dead-letter queue on Amazon SQS, for operators (`stockbridge dlq`): read every
//! message with its id, sent time and receive count, and move messages back to the events queue.
//!
//! Reading hides each message for [`HOLD`] so that every one is seen once, then makes them all
//! visible again. A redrive of everything starts SQS's own move task (`StartMessageMoveTask`)
//! where the service offers it; otherwise, and for a selection, each chosen message is sent to
//! the events queue first and deleted from the dead-letter queue after, so none is lost (a
//! delete that fails leaves a copy behind, which the consumer's idempotency makes harmless and
//! the report names).

use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;

use stockbridge_core::ports::PortError;

/// How long a read keeps the messages it received hidden (it releases them when done).
const HOLD: Duration = Duration::from_secs(60);

/// One message in the dead-letter queue.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    /// `SentTimestamp`: when it was first sent (to the events queue), in milliseconds since the
    /// epoch.
    pub sent_at_ms: Option<i64>,
    /// `ApproximateReceiveCount`, this read included.
    pub receive_count: Option<u32>,
    receipt: String,
}

/// What a redrive moved, or would move with `dry_run`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redriven {
    /// Message ids sent back to the events queue (or that would be).
    pub moved: Vec<String>,
    /// Ids sent back but still in the dead-letter queue: the delete failed (with why).
    pub not_deleted: Vec<(String, String)>,
    /// SQS's move task handle when the service moved them itself.
    pub move_task: Option<String>,
}

/// The dead-letter queue and the queue its messages came from.
#[derive(Clone, Debug)]
pub struct SqsDeadLetters {
    client: Client,
    dlq_url: String,
    source_url: String,
}

fn unavailable(e: impl std::fmt::Display) -> PortError {
    PortError::Unavailable {
        service: "SQS",
        detail: e.to_string(),
    }
}

impl SqsDeadLetters {
    pub fn new(client: Client, dlq_url: impl Into<String>, source_url: impl Into<String>) -> Self {
        SqsDeadLetters {
            client,
            dlq_url: dlq_url.into(),
            source_url: source_url.into(),
        }
    }

    /// Every message, each once, in the order received; all visible again afterwards.
    pub async fn read_all(&self) -> Result<Vec<DeadLetter>, PortError> {
        let held = self.hold_all().await?;
        self.release(&held).await?;
        Ok(held)
    }

    /// One message by id, if it is there.
    pub async fn find(&self, message_id: &str) -> Result<Option<DeadLetter>, PortError> {
        Ok(self
            .read_all()
            .await?
            .into_iter()
            .find(|m| m.message_id == message_id))
    }

    /// Moves the messages `chosen` selects back to the events queue, each once; with
    /// `dry_run` only says which. `everything`: the caller chose all of them, so SQS's move task
    /// is tried first.
    pub async fn redrive(
        &self,
        chosen: impl Fn(&str) -> bool,
        everything: bool,
        dry_run: bool,
    ) -> Result<Redriven, PortError> {
        if everything && !dry_run {
            if let Some(done) = self.move_task().await? {
                return Ok(done);
            }
        }
        let held = self.hold_all().await?;
        let (picked, others): (Vec<_>, Vec<_>) =
            held.into_iter().partition(|m| chosen(&m.message_id));
        self.release(&others).await?;
        let mut report = Redriven::default();
        if dry_run {
            self.release(&picked).await?;
            report.moved = picked.into_iter().map(|m| m.message_id).collect();
            return Ok(report);
        }
        for (i, m) in picked.iter().enumerate() {
            let sent = self
                .client
                .send_message()
                .queue_url(&self.source_url)
                .message_body(&m.body)
                .send()
                .await;
            if let Err(e) = sent {
                // Not sent: it stays in the dead-letter queue, visible again.
                self.release(&picked[i..]).await?;
                return Err(unavailable(DisplayErrorContext(e)));
            }
            report.moved.push(m.message_id.clone());
            let deleted = self
                .client
                .delete_message()
                .queue_url(&self.dlq_url)
                .receipt_handle(&m.receipt)
                .send()
                .await;
            if let Err(e) = deleted {
                let why = DisplayErrorContext(e).to_string();
                report.not_deleted.push((m.message_id.clone(), why));
            }
        }
        Ok(report)
    }

    /// SQS's own move task back to the source queue; `None` where the service does not offer
    /// it (the local moto), so the caller moves the messages itself.
    async fn move_task(&self) -> Result<Option<Redriven>, PortError> {
        let arn = self
            .client
            .get_queue_attributes()
            .queue_url(&self.dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(e)))?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| unavailable("the dead-letter queue has no QueueArn attribute"))?;
        let started = self
            .client
            .start_message_move_task()
            .source_arn(arn)
            .send()
            .await;
        match started {
            Ok(out) => Ok(Some(Redriven {
                move_task: out.task_handle().map(str::to_string),
                ..Redriven::default()
            })),
            Err(e) => {
                let code = aws_sdk_sqs::error::ProvideErrorMetadata::code(&e).map(str::to_string);
                let detail = DisplayErrorContext(e).to_string();
                // Refused for want of permission: the operator must fix that (moving by hand
                // would need the same rights). Anything else: the endpoint does not offer the
                // move task (moto answers it as an unknown action), so move each message.
                if code
                    .as_deref()
                    .is_some_and(|c| c.starts_with("AccessDenied"))
                {
                    return Err(unavailable(detail));
                }
                tracing::warn!(
                    "StartMessageMoveTask not available ({detail}); moving each message"
                );
                Ok(None)
            }
        }
    }

    /// Receives until the queue gives nothing more, each message hidden for [`HOLD`].
    async fn hold_all(&self) -> Result<Vec<DeadLetter>, PortError> {
        let mut held: Vec<DeadLetter> = Vec::new();
        loop {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(HOLD.as_secs() as i32)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(e)))?;
            let before = held.len();
            for m in out.messages() {
                let (Some(id), Some(receipt)) = (m.message_id(), m.receipt_handle()) else {
                    continue;
                };
                // Seen again (a long read outlasted the hold): only the newest receipt deletes it.
                if let Some(seen) = held.iter_mut().find(|h| h.message_id == id) {
                    seen.receipt = receipt.to_string();
                    continue;
                }
                let attr = |name| m.attributes().and_then(|a| a.get(&name)).cloned();
                held.push(DeadLetter {
                    message_id: id.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    sent_at_ms: attr(MessageSystemAttributeName::SentTimestamp)
                        .and_then(|v| v.parse().ok()),
                    receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|v| v.parse().ok()),
                    receipt: receipt.to_string(),
                });
            }
            if held.len() == before {
                return Ok(held);
            }
        }
    }

    /// Makes held messages visible again at once.
    async fn release(&self, held: &[DeadLetter]) -> Result<(), PortError> {
        for m in held {
            self.client
                .change_message_visibility()
                .queue_url(&self.dlq_url)
                .receipt_handle(&m.receipt)
                .visibility_timeout(0)
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(e)))?;
        }
        Ok(())
    }
}
