//! Work no request waits for, started by the platform: the Worker's
//! `queue` and `scheduled` exports (see `lib.rs`) hand over here.
//!
//! # Layout
//!
//! - `deliver` (with `deliver.js`): the `WEBHOOKS` queue's consumer, one
//!   signed delivery attempt per message.
//! - `report`: the `REPORTS` queue's consumer, isolates' usage batches
//!   added into the registry shards, one call per shard per queue batch.
//! - `sweep`: the Cron Trigger's sweep (retention, expiry notices, lost deliveries).

pub mod deliver;
pub mod report;
pub mod sweep;
