//! A key's life as the admin API sees it: what is stored, how it is issued
//! and edited, and how it is listed and reported leaked (the index itself is [`crate::registry`]).
//!
//! # Layout
//!
//! - [`record`]: `KeyRecord` (stored, with its validation), `KeyView` (shown), `KvEntry`.
//! - [`request`]: `NewKey` (create) and `KeyPatch` (edit) and how they become a record.
//! - [`list`]: `GET /v1/keys` parameters and their SQL filter.
//! - [`leak`]: leaked-key reports (keygate's shape and GitHub's).

pub mod leak;
pub mod list;
pub mod record;
pub mod request;
