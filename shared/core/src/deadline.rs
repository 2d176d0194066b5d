//! An invocation's deadline, as the consumer spends it: Lambda ends an invocation at its
//! deadline and keeps no partial answer, so every message of the batch would come back. The
//! consumer therefore starts nothing (a chunk, a retry, a redaction step, the ERP push) within a
//! margin of the deadline, cuts a store call still running close to it, and reports what it did
//! not get to as failed, so only that comes back.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::ports::PortError;

/// When the invocation ends (`None`: no deadline, e.g. a test or a tool) and how much time
/// before it the consumer keeps for finishing and answering.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    pub deadline: Option<Instant>,
    pub margin: Duration,
}

impl Clock {
    /// Whether work that takes `more` may still start: it would end before the margin.
    pub fn time_for(&self, more: Duration) -> bool {
        self.deadline
            .is_none_or(|d| Instant::now() + self.margin + more < d)
    }

    /// Whether anything new may start.
    pub fn may_start(&self) -> bool {
        self.time_for(Duration::ZERO)
    }

    /// When a call still running is abandoned: a quarter of the margin before the deadline,
    /// which is left for answering.
    fn cut_off(&self) -> Option<Instant> {
        self.deadline
            .map(|d| d.checked_sub(self.margin / 4).unwrap_or(d))
    }

    /// Runs `call`, abandoning it at the cut-off (its effect, if it had one, is idempotent: an
    /// event's key, a page deleted again). An abandoned call is [`PortError::Unavailable`].
    pub async fn within<T>(
        &self,
        call: impl Future<Output = Result<T, PortError>>,
    ) -> Result<T, PortError> {
        let Some(at) = self.cut_off() else {
            return call.await;
        };
        match tokio::time::timeout_at(tokio::time::Instant::from_std(at), call).await {
            Ok(result) => result,
            Err(_) => Err(PortError::Unavailable {
                service: "store",
                detail: "the invocation's deadline came first; the call was abandoned".into(),
            }),
        }
    }

    /// Runs any call, abandoned (`None`) if it is still running at the same cut-off.
    pub async fn within_opt<T>(&self, call: impl Future<Output = T>) -> Option<T> {
        let Some(at) = self.cut_off() else {
            return Some(call.await);
        };
        tokio::time::timeout_at(tokio::time::Instant::from_std(at), call)
            .await
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_starts_within_the_margin() {
        let now = Instant::now();
        let clock = Clock {
            deadline: Some(now + Duration::from_secs(10)),
            margin: Duration::from_secs(5),
        };
        assert!(clock.may_start());
        assert!(clock.time_for(Duration::from_secs(4)));
        assert!(!clock.time_for(Duration::from_secs(6)));
        let late = Clock {
            deadline: Some(now + Duration::from_secs(4)),
            ..clock
        };
        assert!(!late.may_start());
        let unbounded = Clock {
            deadline: None,
            ..clock
        };
        assert!(unbounded.time_for(Duration::from_secs(86_400)));
    }

    #[tokio::test]
    async fn a_call_running_into_the_deadline_is_abandoned_before_it() {
        let deadline = Instant::now() + Duration::from_millis(200);
        let clock = Clock {
            deadline: Some(deadline),
            margin: Duration::from_millis(100),
        };
        let slow = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        };
        let result = clock.within(slow).await;
        assert!(matches!(result, Err(PortError::Unavailable { .. })));
        assert!(Instant::now() < deadline);
    }
}
