//! Local stand-ins for what Lambda provides in the cloud, so the local stack runs the very same
//! handlers: an HTTP server for the webhook router (API Gateway's role) and an SQS poller with
//! the Lambda event source's semantics (batch size, batching window, partial batch failure,
//! visibility timeout, and so the queue's redrive to the dead-letter queue), handing the
//! handler a deadline as Lambda does (the function timeout after the batch arrived).

use std::future::Future;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use aws_sdk_sqs::Client;
use tokio::sync::watch;

/// Serves `router` on `listener` until `shutdown` turns true (or forever).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await
}

/// The event source mapping's settings.
#[derive(Clone, Debug)]
pub struct PollerSettings {
    pub queue_url: String,
    pub queue_arn: String,
    /// Messages per invocation (Lambda's `BatchSize`).
    pub batch_size: usize,
    /// How long to gather messages before invoking (Lambda's `MaximumBatchingWindowInSeconds`).
    pub batching_window: Duration,
    /// Long-poll wait of the first receive, in seconds (0: short polling with a 100 ms pause
    /// when the queue is empty; moto serialises a queue's calls during a long poll, which starves
    /// producers under load).
    pub wait_seconds: i32,
    /// How long one invocation may take (Lambda's function timeout): the handler's deadline is
    /// this long after the batch's first message arrived.
    pub timeout: Duration,
}

/// What one poll cycle did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollCycle {
    pub received: usize,
    pub failed: usize,
}

/// Receives one batch (up to `batch_size`, within the window), invokes `handler` with the
/// batch and its deadline (`timeout` after the first message arrived), and deletes every
/// message not reported as failed. Failed messages stay invisible for the queue's
/// visibility timeout, then return; the queue's redrive policy moves them to the dead-letter
/// queue after `maxReceiveCount` receives, exactly as with Lambda.
pub async fn poll_once<F, Fut>(
    sqs: &Client,
    settings: &PollerSettings,
    handler: &F,
) -> Result<PollCycle, String>
where
    F: Fn(SqsEvent, Instant) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let started = Instant::now();
    let mut first_arrived: Option<Instant> = None;
    let mut records: Vec<SqsMessage> = Vec::new();
    while records.len() < settings.batch_size {
        let left = settings.batching_window.saturating_sub(started.elapsed());
        // Long-poll for the first message; then only gather what is there within the window.
        let wait = if records.is_empty() {
            1
        } else {
            left.as_secs().min(1) as i32
        };
        let out = sqs
            .receive_message()
            .queue_url(&settings.queue_url)
            .max_number_of_messages((settings.batch_size - records.len()).min(10) as i32)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        let got = out.messages();
        if !got.is_empty() && first_arrived.is_none() {
            first_arrived = Some(Instant::now());
        }
        for m in got {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id().map(str::to_string);
            record.receipt_handle = m.receipt_handle().map(str::to_string);
            record.body = m.body().map(str::to_string);
            record.md5_of_body = m.md5_of_body().map(str::to_string);
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(settings.queue_arn.clone());
            if let Some(attrs) = m.attributes() {
                record.attributes = attrs
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                    .collect();
            }
            records.push(record);
        }
        if (got.is_empty() && !records.is_empty()) || started.elapsed() >= settings.batching_window
        {
            break;
        }
        if got.is_empty() {
            if settings.wait_seconds == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            return Ok(PollCycle::default());
        }
    }
    if records.is_empty() {
        return Ok(PollCycle::default());
    }
    let receipts: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r.message_id.clone().unwrap_or_default(),
                r.receipt_handle.clone().unwrap_or_default(),
            )
        })
        .collect();
    let mut event = SqsEvent::default();
    event.records = records;
    let deadline = first_arrived.unwrap_or_else(Instant::now) + settings.timeout;
    let response = handler(event, deadline).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let done: Vec<&(String, String)> = receipts
        .iter()
        .filter(|(id, _)| !failed.contains(&id.as_str()))
        .collect();
    for chunk in done.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        sqs.delete_message_batch()
            .queue_url(&settings.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
    }
    Ok(PollCycle {
        received: receipts.len(),
        failed: failed.len(),
    })
}

/// Polls until `shutdown` turns true.
pub async fn run_poller<F, Fut>(
    sqs: Client,
    settings: PollerSettings,
    handler: F,
    shutdown: watch::Receiver<bool>,
) where
    F: Fn(SqsEvent, Instant) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    tracing::info!(queue = %settings.queue_url, batch = settings.batch_size, "local event source polling");
    while !*shutdown.borrow() {
        match poll_once(&sqs, &settings, &handler).await {
            Ok(cycle) if cycle.received > 0 => {
                tracing::debug!(
                    received = cycle.received,
                    failed = cycle.failed,
                    "batch done"
                )
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("poll failed: {e}; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// A watch channel that turns true on Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        let _ = tx.send(true);
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        let _ = tx.send(true);
    });
    rx
}

impl PollerSettings {
    /// From `EVENTS_QUEUE_URL`, `CONSUMER_BATCH_SIZE` (default 100) and
    /// `CONSUMER_BATCH_WINDOW_SECONDS` (default 2), as the template configures the event source,
    /// and `CONSUMER_TIMEOUT_SECONDS`, the invocation's time (default: the queue's visibility
    /// timeout, after which a message not yet deleted is delivered again).
    pub async fn from_env(
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, stockbridge_core::config::ConfigError> {
        Self::from_env_for(sdk, "EVENTS_QUEUE_URL").await
    }

    /// The same, for the queue whose URL is in the variable `queue` (the ERP sync's
    /// `ERP_CHANGES_QUEUE_URL`).
    pub async fn from_env_for(
        sdk: &aws_config::SdkConfig,
        queue: &'static str,
    ) -> Result<Self, stockbridge_core::config::ConfigError> {
        use stockbridge_core::config::{required_env, ConfigError};
        let queue_url = required_env(queue)?;
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match std::env::var(name) {
                Ok(v) => v.parse().map_err(|_| ConfigError::Invalid {
                    name,
                    detail: format!("{v:?} is not a whole number"),
                }),
                Err(_) => Ok(default),
            }
        };
        use aws_sdk_sqs::types::QueueAttributeName;
        let attributes = Client::new(sdk)
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .ok()
            .and_then(|o| o.attributes().cloned())
            .unwrap_or_default();
        let arn = attributes
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .unwrap_or_default();
        let timeout = match std::env::var("CONSUMER_TIMEOUT_SECONDS") {
            Ok(_) => number("CONSUMER_TIMEOUT_SECONDS", 0)?,
            Err(_) => attributes
                .get(&QueueAttributeName::VisibilityTimeout)
                .ok_or(ConfigError::Invalid {
                    name: "CONSUMER_TIMEOUT_SECONDS",
                    detail: "not set, and the queue's visibility timeout could not be read; set it"
                        .into(),
                })?
                .parse()
                .map_err(|_| ConfigError::Invalid {
                    name: "CONSUMER_TIMEOUT_SECONDS",
                    detail: "not set, and the queue's visibility timeout is not a number; set it"
                        .into(),
                })?,
        };
        if timeout == 0 {
            return Err(ConfigError::Invalid {
                name: "CONSUMER_TIMEOUT_SECONDS",
                detail: "an invocation needs at least one second".into(),
            });
        }
        Ok(PollerSettings {
            queue_url,
            queue_arn: arn,
            batch_size: number("CONSUMER_BATCH_SIZE", 100)?.max(1) as usize,
            batching_window: Duration::from_secs(number("CONSUMER_BATCH_WINDOW_SECONDS", 2)?),
            wait_seconds: 1,
            timeout: Duration::from_secs(timeout),
        })
    }
}
