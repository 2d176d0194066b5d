//! [`MemoryAlerts`]: an alert sink that keeps every alert published, in order, and can be told
//! to refuse the next ones (as EventBridge refusing `PutEvents`).

use std::sync::{Arc, Mutex, MutexGuard};

use stockbridge_core::ports::{AlertSink, PortError};

#[derive(Default)]
struct AlertState {
    published: Vec<(String, serde_json::Value)>,
    failures: usize,
}

/// The in-memory alert sink. `Clone` is a handle to the same record.
#[derive(Clone, Default)]
pub struct MemoryAlerts {
    state: Arc<Mutex<AlertState>>,
}

impl std::fmt::Debug for MemoryAlerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryAlerts")
            .field("published", &self.lock().published.len())
            .finish()
    }
}

impl MemoryAlerts {
    pub fn new() -> Self {
        MemoryAlerts::default()
    }

    fn lock(&self) -> MutexGuard<'_, AlertState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every alert published so far: `(detail type, detail)`.
    pub fn published(&self) -> Vec<(String, serde_json::Value)> {
        self.lock().published.clone()
    }

    /// The next `n` publishes fail with `Unavailable` and keep nothing.
    pub fn fail_next(&self, n: usize) {
        self.lock().failures += n;
    }
}

impl AlertSink for MemoryAlerts {
    async fn publish(
        &self,
        detail_type: &str,
        detail: &serde_json::Value,
    ) -> Result<(), PortError> {
        tokio::task::yield_now().await;
        let mut s = self.lock();
        if s.failures > 0 {
            s.failures -= 1;
            return Err(PortError::Unavailable {
                service: "memory alerts",
                detail: "injected publish failure".into(),
            });
        }
        s.published.push((detail_type.to_string(), detail.clone()));
        Ok(())
    }
}
