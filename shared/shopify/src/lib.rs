//! Everything that knows Shopify's webhook JSON and headers, and nothing else does.
//!
//! - [`signature`]: HMAC-SHA256 verification of the raw body, constant time, several secrets.
//! - [`topic`]: the topics Stockbridge subscribes to.
//! - [`payload`]: serde shapes of the payloads, reading only ids, quantities and times
//!   (personal data is never deserialised, so it cannot leak further); a declared field that is
//!   present but does not parse is refused, never read as absent.
//! - [`normalise`]: a verified delivery to internal events, or the reason it is unusable.
//! - [`redact`]: keeps, of a payload put in quarantine, only what replay needs (an allow-list
//!   derived from [`payload`]); everything personal goes.

pub mod normalise;
pub mod payload;
pub mod redact;
pub mod signature;
pub mod topic;
