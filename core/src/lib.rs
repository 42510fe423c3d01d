//! keygate's pure core. keygate is an API-key authorizer that runs as a Cloudflare Worker in front
//! of an API. It checks each request's key (stored only as a SHA-256 hash in
//! Workers KV), its status and rate limits (one Durable Object per key), and
//! forwards admitted requests to the origin of the key's environment.
//!
//! # Layout
//!
//! The pure core has no Workers types and is tested natively with
//! `cargo test`. A request flows: header → [`credential`] → [`key::ApiKey`]
//! (checksum-verified) → [`hash::KeyHash`] → KV → the key's Durable Object,
//! which runs [`keystate::KeyState::apply`] → grant or [`error::Error`].
//!
//! - [`key`]: key format, generation, parsing and checksum; `KeyId`, types, environments.
//! - [`hash`]: `KeyHash`, the only stored form of a key.
//! - [`credential`]: which header holds the key.
//! - [`lifecycle`]: what is stored about a key (`KeyRecord`, `KeyView`), the
//!   create and edit requests, listing and leak reports.
//! - [`registry`]: the sharded key index (listing, lookup by hash, audit): its pure `apply`.
//! - [`limits`]: minute/day, named and rolling limits, and the one all-or-nothing `consume`.
//! - [`keystate`]: the per-key state machine the Durable Object runs.
//! - [`owner`]: limits and credits shared by an owner's keys, and the
//!   state machine of each owner's Durable Object.
//! - [`analytics`]: usage by outcome in minute, hour and day buckets, and by country.
//! - [`admission`]: leases: how an isolate admits a hot key's requests
//!   with no I/O and still never over-admits.
//! - [`policy`]: access rules: permissions, the route table, canonical
//!   paths, IP allowlists, CORS, and the admin-actor rule.
//! - [`signature`]: the HMAC identity header origins can verify (`ORIGIN_SECRET`).
//! - [`request`]: what the entry reads of every request (its headers in one
//!   pass; the URL, header and body caps), and the header edits on the way
//!   to the origin and back.
//! - [`admin`]: admin route table, body decoding, constant-time token check.
//! - [`json_text`]: finding a field in JSON text (names what a body gets wrong).
//! - [`guard`]: the admin guessing guard: per-client failure counts and lock-out policy.
//! - [`verify`]: the `POST /v1/verify` request and answer.
//! - [`log`]: the structured log lines (one per request, one per admin action).
//! - [`config`]: deployment vars, validated.
//! - [`cache`]: per-isolate TTL cache for KV lookups.
//! - [`time`]: `Timestamp`, RFC 3339, the `Clock` trait.
//! - [`error`]: every failure and its one mapping to status, code and JSON.
//!
//! The Worker (the `keygate` crate at the workspace root) adapts HTTP, KV
//! and Durable Objects to these modules; this crate has no Workers types,
//! and Cargo keeps it that way (it depends on none).

#![deny(missing_docs)]

pub mod admin;
pub mod admission;
pub mod analytics;
pub mod cache;
pub mod config;
pub mod credential;
pub mod error;
pub mod guard;
pub mod hash;
pub mod json_text;
pub mod key;
pub mod keystate;
pub mod lifecycle;
pub mod limits;
pub mod log;
pub mod owner;
pub mod policy;
pub mod registry;
pub mod request;
pub mod signature;
pub mod time;
pub mod verify;
pub mod webhook;
