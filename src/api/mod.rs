//! The API path: every request that is not the admin API's, from the
//! runtime's `fetch` to the origin's answer.
//!
//! # Layout
//!
//! - `entry`: the header pass, size caps, canonical path; admin API or API path.
//! - `request_record`: a request's record, finished exactly once by the
//!   path that answers it (line, count, data point), and the [`request_record::Answer`]
//!   only finishing makes.
//! - `gateway`: key → this isolate's lease, or KV → the key's object → a verdict.
//! - `proxy` (with `forward.js`): forwarding an admitted request to its origin.
//! - `telemetry`: a request's line and data point, and the isolate's batch
//!   of refusals no key's object saw.

pub mod entry;
pub mod gateway;
pub mod proxy;
pub mod request_record;
pub mod telemetry;
