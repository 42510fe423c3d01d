//! The registry: the strongly consistent index of every key, for listing,
//! lookup by hash and the audit trail, split over shards so that nothing
//! whose load grows with keys goes through one object. KV is the fast edge
//! read path and each key's own Durable Object is authoritative for
//! requests; the registry is what admins list and search.
//!
//! A key's shard is written in its id ([`shard`]); commands about one key
//! go to its shard, a listing asks every shard for its part and merges
//! them ([`cursor`]), a lookup by hash asks every shard once for all its
//! hashes. Shard 0 is also the hub: the one place for what is one per
//! deployment (the webhook endpoints, their deliveries and outbox).
//!
//! # Layout
//!
//! - [`shard`]: `Shard`, `ShardCount`: which object holds a key, how many there are.
//! - [`command`]: the commands and replies between the Worker and a shard; the write order.
//! - [`apply`]: every decision a shard makes about its keys, pure.
//! - [`store`]: what a shard stores, as a trait (SQLite at the edge).
//! - [`cursor`]: listing cursors, and the merge of the shards' pages.
//! - `memory`: the in-memory store the tests run `apply` on.

pub mod apply;
pub mod command;
pub mod cursor;
#[cfg(test)]
mod memory;
pub mod shard;
pub mod store;
#[cfg(test)]
mod tests;
