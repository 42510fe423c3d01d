//! Access policy: who may do what, from where. Pure rules, no I/O.
//!
//! # Layout
//!
//! - [`permission`]: flat scopes and hierarchical grants; coverage, the
//!   no-escalation rule, and what counts as full access.
//! - [`route`]: the configured route table: `METHOD /path` → permission and cost.
//! - [`method`]: the raw request method: what reads, what can be forwarded.
//! - [`path`]: the one canonical form of a request path, judged and forwarded.
//! - [`ip`]: IP allowlists (IPv4/IPv6 CIDR).
//! - [`cors`]: allowed browser origins and preflight answers.
//! - [`actor`]: who acts on the admin API, and the rule for which keys a
//!   key actor may touch (enforced through a `Permit`).

pub mod actor;
pub mod cors;
pub mod ip;
pub mod method;
pub mod path;
pub mod permission;
pub mod route;
