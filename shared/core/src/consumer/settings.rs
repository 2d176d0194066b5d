//! How the consumer spends an invocation (the margin it keeps before the deadline, the time
//! the ERP push needs) and pages a redaction, from the environment the template sets.

use std::time::Duration;

use crate::config::{env_or, ConfigError};
use crate::redact::RedactSettings;

/// How the consumer spends an invocation and pages a redaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// Nothing new (a chunk, a retry, a redaction step) starts with less than this left before
    /// the deadline; a store call still running a quarter of it before the deadline is
    /// abandoned, and that quarter is left for answering.
    pub deadline_margin: Duration,
    /// The ERP push starts only with this much more left; else the stock it would push keeps
    /// its debt and an `erp_retry` is scheduled.
    pub erp_reserve: Duration,
    pub redact: RedactSettings,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        ConsumerSettings {
            deadline_margin: Duration::from_secs(5),
            erp_reserve: Duration::from_secs(10),
            redact: RedactSettings::default(),
        }
    }
}

impl ConsumerSettings {
    /// `CONSUMER_DEADLINE_MARGIN_SECONDS` (default 5), `CONSUMER_ERP_RESERVE_SECONDS` (default
    /// 10) and the redaction's ([`RedactSettings::from_env`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        let default = ConsumerSettings::default();
        let seconds = |name, d: Duration| env_or::<u64>(name, d.as_secs()).map(Duration::from_secs);
        Ok(ConsumerSettings {
            deadline_margin: seconds("CONSUMER_DEADLINE_MARGIN_SECONDS", default.deadline_margin)?,
            erp_reserve: seconds("CONSUMER_ERP_RESERVE_SECONDS", default.erp_reserve)?,
            redact: RedactSettings::from_env()?,
        })
    }
}
