//! Work no request waits for, started by the platform: the Worker's
//! `queue` and `scheduled` exports (see `lib.rs`) hand over here.
//!
//! # Layout
//!
//! - `deliver` (with `deliver.js`): the `WEBHOOKS` queue's consumer, one
//!   signed delivery attempt per message.
//! - `sweep`: the Cron Trigger's sweep (expiry notices, lost deliveries).

pub mod deliver;
pub mod sweep;
