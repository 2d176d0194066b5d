//! [`MemoryQueue`]: the event queue in memory. Every message sent is recorded with its delay
//! (capped at SQS's 15 minutes) and an id of its own (`m1`, `m2`, ...); the waiting ones are
//! handed out as `(message id, body)` pairs, the input of `StockConsumer::apply_messages`, and a
//! message the consumer failed can be put back under the same id, as SQS delivers it again.
//! A send enqueues all its events or none.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use stockbridge_core::ports::{EventQueue, PortError};
use stockbridge_domain::event::InventoryEvent;

/// The longest delay SQS takes.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// One message as it was sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub event: InventoryEvent,
    /// How long the sender asked for it to stay invisible.
    pub delay: Duration,
}

#[derive(Default)]
struct QueueState {
    next_id: u64,
    waiting: VecDeque<(String, String)>,
    sent: Vec<Message>,
    failures: usize,
    sends: usize,
}

/// The in-memory queue. `Clone` is a handle to the same queue.
#[derive(Clone, Default)]
pub struct MemoryQueue {
    state: Arc<Mutex<QueueState>>,
}

impl std::fmt::Debug for MemoryQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("MemoryQueue")
            .field("waiting", &s.waiting.len())
            .field("sent", &s.sent.len())
            .finish()
    }
}

impl MemoryQueue {
    pub fn new() -> Self {
        MemoryQueue::default()
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `n` sends fail with `Unavailable`, enqueuing nothing.
    pub fn fail_next_sends(&self, n: usize) {
        self.lock().failures += n;
    }

    /// How many sends were asked for (failed ones included).
    pub fn sends(&self) -> usize {
        self.lock().sends
    }

    /// Every message ever enqueued, in order.
    pub fn sent(&self) -> Vec<Message> {
        self.lock().sent.clone()
    }

    /// How many messages wait to be received.
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Takes every waiting message, delays ignored (a test's clock jumps to when all are due).
    pub fn drain(&self) -> Vec<(String, String)> {
        self.lock().waiting.drain(..).collect()
    }

    /// Takes at most `n` waiting messages, oldest first (one receive of a batch).
    pub fn receive(&self, n: usize) -> Vec<(String, String)> {
        let mut s = self.lock();
        let n = n.min(s.waiting.len());
        s.waiting.drain(..n).collect()
    }

    /// Puts messages back to be received again, ids kept (a failed message after its
    /// visibility timeout).
    pub fn redeliver(&self, messages: &[(String, String)]) {
        self.lock().waiting.extend(messages.iter().cloned());
    }

    /// Enqueues a raw body that is not an event (a poison message), returning its id.
    pub fn send_raw(&self, body: &str) -> String {
        let mut s = self.lock();
        s.next_id += 1;
        let id = format!("m{}", s.next_id);
        s.waiting.push_back((id.clone(), body.to_string()));
        id
    }
}

impl EventQueue for MemoryQueue {
    async fn send_after(
        &self,
        events: &[InventoryEvent],
        delay: Duration,
    ) -> Result<(), PortError> {
        tokio::task::yield_now().await;
        let mut s = self.lock();
        s.sends += 1;
        if s.failures > 0 {
            s.failures -= 1;
            return Err(PortError::Unavailable {
                service: "memory queue",
                detail: "injected send failure".into(),
            });
        }
        for event in events {
            s.next_id += 1;
            let message = Message {
                id: format!("m{}", s.next_id),
                body: event.to_json(),
                event: event.clone(),
                delay: delay.min(MAX_DELAY),
            };
            s.waiting
                .push_back((message.id.clone(), message.body.clone()));
            s.sent.push(message);
        }
        Ok(())
    }
}
