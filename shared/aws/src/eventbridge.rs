//! Alerts on the project's Amazon EventBridge bus: [`EventBridgeAlerts`] implements
//! [`AlertSink`]. Events carry source `stockbridge.reconcile`; a rule in `template.yaml` sends
//! `InventoryVarianceDetected` to the alarm SNS topic (e-mail or chat subscriptions).

use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use stockbridge_core::ports::{AlertSink, PortError};

/// The `source` of every event Stockbridge puts on its bus.
pub const SOURCE: &str = "stockbridge.reconcile";

#[derive(Clone, Debug)]
pub struct EventBridgeAlerts {
    client: Client,
    bus: String,
}

impl EventBridgeAlerts {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        EventBridgeAlerts {
            client,
            bus: bus.into(),
        }
    }
}

fn unavailable(detail: String) -> PortError {
    PortError::Unavailable {
        service: "EventBridge",
        detail,
    }
}

impl AlertSink for EventBridgeAlerts {
    async fn publish(
        &self,
        detail_type: &str,
        detail: &serde_json::Value,
    ) -> Result<(), PortError> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .build();
        let resp = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(e).to_string()))?;
        if resp.failed_entry_count() > 0 {
            let why = resp
                .entries()
                .iter()
                .filter_map(|e| e.error_message())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(unavailable(format!("PutEvents refused the alert: {why}")));
        }
        Ok(())
    }
}
