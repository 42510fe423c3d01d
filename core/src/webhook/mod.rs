//! Webhooks: telling an API owner's systems when something happens to a
//! key, as the Standard Webhooks specification describes
//! (<https://www.standardwebhooks.com>): a signed JSON `POST` per event and
//! endpoint, retried with backoff for more than a day, then kept as a dead
//! letter. Pure: the edge stores, queues and sends.
//!
//! # Layout
//!
//! - [`event`]: the event types and their payloads. A key is named by id,
//!   name, display and owner, never by its secret or hash.
//! - [`endpoint`]: a webhook endpoint: the create request, the URL rule,
//!   what is stored and shown.
//! - [`sign`]: `whsec_` secrets and the `webhook-signature` header.
//! - [`delivery`]: attempts, the retry schedule, what a delivery shows.
//! - [`alert`]: the usage alerts a key's decisions raise, once per window.
//! - [`expiry`]: which expiry notice a key is due.
//!
//! # How an event travels
//!
//! Every event passes through the registry object: admin changes as they
//! are recorded there, a key object's alerts with its usage report, expiry
//! notices from the scheduled sweep. In the same storage step the registry
//! writes one delivery row per subscribed endpoint (an outbox: the event
//! and the change it reports are stored together), then puts the row's id
//! on the `WEBHOOKS` queue. The queue's consumer (this same Worker) claims
//! the row, signs and sends it, and reports the attempt; the registry
//! decides from [`delivery::Schedule`] whether to retry, and when. Nothing
//! of this is on an API request's path (an admin change waits for its
//! events to be in the outbox and handed to the queue). A key object's
//! alerts ride its usage report, sent off the path: a lost report loses
//! them.

pub mod alert;
pub mod delivery;
pub mod endpoint;
pub mod event;
pub mod expiry;
pub mod sign;

pub use endpoint::{NewWebhook, Webhook, WebhookId};
pub use event::{Event, EventType, KeyAlert};
