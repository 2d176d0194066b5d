//! In-memory adapters (placeholder).
