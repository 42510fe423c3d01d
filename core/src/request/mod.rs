//! A request's headers: what the entry point reads of them before anything
//! else, and what keygate changes of them on the way to the origin and back.
//!
//! # Layout
//!
//! - [`headers`]: the one pass over the request headers (done in
//!   JavaScript, read here): the headers keygate judges by, those it drops,
//!   and their size.
//! - [`size`]: the URL, header and body caps.
//! - [`edits`]: the header changes for the forwarded request and the
//!   answer (the key's identity, rate-limit and CORS headers).

pub mod edits;
pub mod headers;
pub mod size;
