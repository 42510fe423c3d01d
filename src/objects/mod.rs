//! The Durable Object classes and the typed calls to them. Each object
//! loads its state, runs a pure `apply` from `keygate_core`, writes only
//! what changed and answers; the concurrency argument is in each file's
//! header.
//!
//! # Layout
//!
//! - `key`: one per key — its record, counters, leases (`KeyObject`).
//! - `owner`: one per owner with limits — the limits and credits its keys share.
//! - `guard`: one per admin client — failed admin logins this minute.
//! - `registry`: one registry shard — its keys' index, hashes, audit and usage; on shard 0 the webhooks.
//! - `registry_store`: a shard's SQLite tables as the core's `RegistryStore`, and their migrations.
//! - `client`: one typed function per object command, for the rest of the Worker.
//! - `rows`: reading SQL rows and the versioned state documents.
//! - `usage_tables`: the usage tables (a key object's, the registry's overall ones).
//! - `webhook_tables`: the registry's webhook endpoints, deliveries and notices.

pub mod client;
pub mod guard;
pub mod key;
pub mod owner;
pub mod registry;
mod registry_store;
mod rows;
mod usage_tables;
mod webhook_tables;
