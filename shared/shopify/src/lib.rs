//! Everything that knows Shopify's webhook JSON and headers, and nothing else does.
//!
//! - [`signature`]: HMAC-SHA256 verification of the raw body, constant time, several secrets.
//! - [`topic`]: the topics Stockbridge subscribes to.
//! - [`payload`]: lenient serde shapes of the payloads, reading only ids, quantities and times
//!   (personal data is never deserialised, so it cannot leak further).
//! - [`normalise`]: a verified delivery to internal events, or the reason it is unusable.
//! - [`redact`]: strips personal data from a payload kept in quarantine.

pub mod normalise;
pub mod payload;
pub mod redact;
pub mod signature;
pub mod topic;
