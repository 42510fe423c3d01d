//! Structured logs: one JSON line per API request and one per admin
//! action, written with `console.log` (Workers Logs, `wrangler tail`,
//! Logpush). A line names keys by id and owners by id only: never a key,
//! a hash, the admin token or any secret — the types here have no field
//! that could hold one.
//!
//! An admitted request's line is finished by the forwarding step when the
//! origin answers (its `status` and `latency_ms`); every other line is
//! written whole by the Worker. `LOGS=off` turns request lines off (admin
//! lines stay: they are the audit of who did what).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analytics::overall::UsageReport;
use crate::analytics::{Granularity, Outcome};
use crate::error::Error;
use crate::key::KeyId;
use crate::time::Timestamp;

/// One API request, as logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestLine {
    /// Always `"request"`.
    pub log: &'static str,
    /// When it arrived.
    pub at: Timestamp,
    /// The runtime's request id (`CF-Ray`), when present.
    pub request_id: Option<String>,
    /// The method, as judged.
    pub method: String,
    /// The canonical path, as judged (no query: it may carry user data).
    pub path: String,
    /// The key, once known.
    pub key_id: Option<KeyId>,
    /// The key's owner, if it has one.
    pub owner_id: Option<String>,
    /// `valid`, or the error code keygate answered with.
    pub outcome: &'static str,
    /// The status the client got; for an admitted request, the forwarding
    /// step adds the origin's (or keygate's 502/504) when it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Units spent (0 when refused).
    pub cost: u32,
    /// Milliseconds from arrival to the answer (for an admitted request,
    /// to the origin's response headers), added like `status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Whether the key's Durable Object was asked (not when a lease, KV or
    /// the request itself decided).
    pub object_called: bool,
    /// The client's country (`CF-IPCountry`, else `request.cf.country`), when known.
    pub country: Option<String>,
}

/// Where a request line starts: what the Worker read before deciding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Arrival {
    /// When.
    pub at: Timestamp,
    /// `CF-Ray`.
    pub request_id: Option<String>,
    /// The method.
    pub method: String,
    /// The canonical path.
    pub path: String,
    /// The client's country (see [`crate::request::headers::Presented::country`]).
    pub country: Option<String>,
}

impl RequestLine {
    /// The line of a request that arrived as `arrival` and was answered
    /// `error` at `now` (`object_called`: whether the key's object decided).
    pub fn refused(
        arrival: &Arrival,
        key: Option<(&KeyId, Option<&str>)>,
        error: &Error,
        object_called: bool,
        now: Timestamp,
    ) -> RequestLine {
        let mut line = RequestLine::new(arrival, key, error.code(), 0, object_called);
        line.status = Some(error.status());
        line.latency_ms = Some(now.as_millis().saturating_sub(arrival.at.as_millis()));
        line
    }

    /// The line of an admitted request costing `cost`, for the forwarding
    /// step to finish with the origin's status and the latency.
    pub fn admitted(
        arrival: &Arrival,
        key: (&KeyId, Option<&str>),
        cost: u32,
        object_called: bool,
    ) -> RequestLine {
        RequestLine::new(
            arrival,
            Some(key),
            Outcome::Valid.as_str(),
            cost,
            object_called,
        )
    }

    fn new(
        arrival: &Arrival,
        key: Option<(&KeyId, Option<&str>)>,
        outcome: &'static str,
        cost: u32,
        object_called: bool,
    ) -> RequestLine {
        RequestLine {
            log: "request",
            at: arrival.at,
            request_id: arrival.request_id.clone(),
            method: arrival.method.clone(),
            path: arrival.path.clone(),
            key_id: key.map(|(id, _)| id.clone()),
            owner_id: key.and_then(|(_, owner)| owner.map(str::to_owned)),
            outcome,
            status: None,
            cost,
            latency_ms: None,
            object_called,
            country: arrival.country.clone(),
        }
    }
}

/// What one isolate refused before judging any key (no key, an invalid
/// one, an oversize request) since its last batch: one line per batch
/// (at most one every [`crate::analytics::overall::FLUSH_MS`]), however
/// many requests — a flood of garbage keys makes a bounded number of log
/// lines, as it makes a bounded number of writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusedLine {
    /// Always `"refused_before_key"`.
    pub log: &'static str,
    /// When the batch was written.
    pub at: Timestamp,
    /// Requests by outcome.
    pub counts: BTreeMap<&'static str, u64>,
}

impl RefusedLine {
    /// The line for `batch`, if it refused anything before a key.
    pub fn of(batch: &UsageReport, at: Timestamp) -> Option<RefusedLine> {
        let mut counts = BTreeMap::new();
        for row in batch
            .closed
            .rows
            .iter()
            .filter(|r| r.granularity == Granularity::Minute && r.outcome.before_key())
        {
            *counts.entry(row.outcome.as_str()).or_default() += row.tally.count;
        }
        (!counts.is_empty()).then_some(RefusedLine {
            log: "refused_before_key",
            at,
            counts,
        })
    }
}

/// One admin API call, as logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdminLine {
    /// Always `"admin"`.
    pub log: &'static str,
    /// When it arrived.
    pub at: Timestamp,
    /// `CF-Ray`, when present.
    pub request_id: Option<String>,
    /// The route's operation, as the OpenAPI document names it (`createKey`, …).
    pub action: &'static str,
    /// Who: `admin_token`, an admin key's id, or `null` when authentication failed.
    pub actor: Option<String>,
    /// The key or owner acted on, when the route names one.
    pub target: Option<String>,
    /// `ok`, or the error code answered.
    pub outcome: &'static str,
    /// The status answered.
    pub status: u16,
    /// Milliseconds from arrival to the answer.
    pub latency_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival() -> Arrival {
        Arrival {
            at: Timestamp::from_millis(1_795_946_405_000),
            request_id: Some("8e1f2a3b4c5d6e7f-AMS".into()),
            method: "GET".into(),
            path: "/v1/orders".into(),
            country: Some("NL".into()),
        }
    }

    #[test]
    fn a_refusal_is_a_whole_line_with_status_and_latency() {
        let id: KeyId = "key_0000000000000001".parse().unwrap();
        let now = Timestamp::from_millis(1_795_946_405_012);
        let line = RequestLine::refused(
            &arrival(),
            Some((&id, Some("cus_1"))),
            &Error::IP_NOT_ALLOWED,
            true,
            now,
        );
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "log": "request", "at": "2026-11-29T10:00:05Z",
                "request_id": "8e1f2a3b4c5d6e7f-AMS", "method": "GET", "path": "/v1/orders",
                "key_id": "key_0000000000000001", "owner_id": "cus_1",
                "outcome": "ip_not_allowed", "status": 403, "cost": 0, "latency_ms": 12,
                "object_called": true, "country": "NL"
            })
        );
    }

    #[test]
    fn an_admitted_line_leaves_status_and_latency_to_the_forwarding_step() {
        let id: KeyId = "key_0000000000000001".parse().unwrap();
        let line = RequestLine::admitted(&arrival(), (&id, None), 5, false);
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["outcome"], "valid");
        assert_eq!(json["cost"], 5);
        assert!(json.get("status").is_none() && json.get("latency_ms").is_none());
        assert_eq!(json["owner_id"], serde_json::Value::Null);
    }

    #[test]
    fn a_batch_of_refusals_is_one_line_of_counts() {
        use crate::analytics::overall::{Batch, Counted};
        let mut batch = Batch::default();
        let t = Timestamp::from_millis(1_795_946_405_000);
        for i in 0..1_000 {
            batch.count(
                Counted::one(Outcome::InvalidApiKey, None),
                t.plus_millis(i * 100),
            );
        }
        batch.count(Counted::one(Outcome::MissingApiKey, None), t);
        let revoked: KeyId = "key_0000000000000001".parse().unwrap();
        batch.count(Counted::one(Outcome::KeyRevoked, Some(&revoked)), t);
        let line = RefusedLine::of(&batch.take(), t).unwrap();
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(
            json["counts"],
            serde_json::json!({"invalid_api_key": 1000, "missing_api_key": 1}),
            "a revoked key's refusal has its own line, with the key"
        );
        assert_eq!(RefusedLine::of(&Batch::default().take(), t), None);
    }

    #[test]
    fn a_line_without_a_key_names_none() {
        let line = RequestLine::refused(
            &Arrival::default(),
            None,
            &Error::invalid_api_key(),
            false,
            Timestamp::from_millis(0),
        );
        assert_eq!(line.outcome, "invalid_api_key");
        assert_eq!(line.status, Some(401));
        assert_eq!(line.key_id, None);
    }
}
