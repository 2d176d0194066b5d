//! The event queue on Amazon SQS: batches of up to 10 messages, each failed entry retried, the
//! whole send failing only if an entry still cannot be enqueued.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;

use stockbridge_core::ports::{EventQueue, PortError};
use stockbridge_domain::event::InventoryEvent;

/// SQS caps a batch at 10 messages and 256 KB; parts are far below 25 KB each.
const BATCH: usize = 10;

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

fn unavailable(e: impl std::fmt::Display) -> PortError {
    PortError::Unavailable {
        service: "SQS",
        detail: e.to_string(),
    }
}

impl EventQueue for SqsQueue {
    async fn send_after(
        &self,
        events: &[InventoryEvent],
        delay: std::time::Duration,
    ) -> Result<(), PortError> {
        let delay = delay.as_secs().min(900) as i32;
        for chunk in events.chunks(BATCH) {
            let mut pending: Vec<(String, String)> = chunk
                .iter()
                .enumerate()
                .map(|(i, e)| (i.to_string(), e.to_json()))
                .collect();
            for attempt in 0..3 {
                let entries = pending
                    .iter()
                    .map(|(id, body)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(id)
                            .message_body(body)
                            .delay_seconds(delay)
                            .build()
                            .map_err(unavailable)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| unavailable(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
                let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
                pending.retain(|(id, _)| failed.contains(&id.as_str()));
                if pending.is_empty() {
                    break;
                }
                if attempt == 2 {
                    return Err(unavailable(format!(
                        "{} message(s) refused: {:?}",
                        pending.len(),
                        out.failed().iter().map(|f| f.message()).collect::<Vec<_>>()
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }
}
