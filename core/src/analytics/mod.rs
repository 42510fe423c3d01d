//! Usage analytics: every decision about a key, counted by outcome with
//! the cost it spent, in minute, hour and day buckets, and per country per
//! day. Pure: the key's Durable Object keeps the open minute in its hot
//! row ([`Open`]), writes a closed minute as [`Row`]s into its SQL tables,
//! and answers a [`UsageQuery`] with [`series`].
//!
//! Only the open minute is rewritten per request (a few bytes in the row
//! the object writes anyway); a minute's counts reach the minute, hour and
//! day tables once, when the next minute's first decision closes it.

pub mod overall;
pub mod refusal;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, ErrorKind};
use crate::time::Timestamp;

/// What became of a request with a known key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Admitted.
    Valid,
    /// Refused by a rate limit.
    RateLimited,
    /// Refused for want of credits.
    CreditsExhausted,
    /// The key lacks the route's permission.
    InsufficientPermissions,
    /// The route table has no route for the request.
    RouteNotAllowed,
    /// The client's address is not on the key's list.
    IpNotAllowed,
    /// The key has expired.
    KeyExpired,
    /// The key is revoked.
    KeyRevoked,
    /// Admitted, and then the origin failed (5xx or no answer): counted
    /// besides `valid`, not instead of it.
    OriginError,
    /// No key was presented (overall usage only).
    MissingApiKey,
    /// The key was malformed, failed its checksum, is unknown, or belongs
    /// to an environment this API does not serve (overall usage only).
    InvalidApiKey,
    /// The URL, headers or body exceeded keygate's caps (overall usage only).
    RequestTooLarge,
}

impl Outcome {
    /// Every outcome, in the order the API lists them.
    pub const ALL: [Outcome; 12] = [
        Outcome::Valid,
        Outcome::RateLimited,
        Outcome::CreditsExhausted,
        Outcome::InsufficientPermissions,
        Outcome::RouteNotAllowed,
        Outcome::IpNotAllowed,
        Outcome::KeyExpired,
        Outcome::KeyRevoked,
        Outcome::OriginError,
        Outcome::MissingApiKey,
        Outcome::InvalidApiKey,
        Outcome::RequestTooLarge,
    ];

    /// The outcome a refusal of a known key counts as; `None` for errors
    /// that are not a decision about the key (storage, bad input).
    pub fn of(error: &Error) -> Option<Outcome> {
        Some(match error.kind() {
            ErrorKind::RateLimited | ErrorKind::CostExceedsLimit => Outcome::RateLimited,
            ErrorKind::CreditsExhausted => Outcome::CreditsExhausted,
            ErrorKind::InsufficientPermissions => Outcome::InsufficientPermissions,
            ErrorKind::RouteNotAllowed | ErrorKind::MethodNotSupported => Outcome::RouteNotAllowed,
            ErrorKind::IpNotAllowed => Outcome::IpNotAllowed,
            ErrorKind::KeyExpired => Outcome::KeyExpired,
            ErrorKind::KeyRevoked => Outcome::KeyRevoked,
            _ => return None,
        })
    }

    /// The outcome's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Valid => "valid",
            Outcome::RateLimited => "rate_limited",
            Outcome::CreditsExhausted => "credits_exhausted",
            Outcome::InsufficientPermissions => "insufficient_permissions",
            Outcome::RouteNotAllowed => "route_not_allowed",
            Outcome::IpNotAllowed => "ip_not_allowed",
            Outcome::KeyExpired => "key_expired",
            Outcome::KeyRevoked => "key_revoked",
            Outcome::OriginError => "origin_error",
            Outcome::MissingApiKey => "missing_api_key",
            Outcome::InvalidApiKey => "invalid_api_key",
            Outcome::RequestTooLarge => "request_too_large",
        }
    }

    /// The outcome an error answered before any key was judged counts as
    /// in the overall usage; `None` for the rest (admin, storage, input).
    pub fn at_edge(error: &Error) -> Option<Outcome> {
        Some(match error.kind() {
            ErrorKind::MissingApiKey => Outcome::MissingApiKey,
            ErrorKind::InvalidApiKey => Outcome::InvalidApiKey,
            ErrorKind::PayloadTooLarge | ErrorKind::UriTooLong | ErrorKind::HeadersTooLarge => {
                Outcome::RequestTooLarge
            }
            _ => return None,
        })
    }

    /// Whether this outcome is decided before any key (no key, an invalid
    /// one, an oversize request): those are counted per isolate, in batches.
    pub fn before_key(self) -> bool {
        matches!(
            self,
            Outcome::MissingApiKey | Outcome::InvalidApiKey | Outcome::RequestTooLarge
        )
    }

    /// Whether this outcome is a refusal (not `valid`, not `origin_error`).
    pub fn is_refusal(self) -> bool {
        !matches!(self, Outcome::Valid | Outcome::OriginError)
    }

    /// The outcome named `name` in the API.
    pub fn parse(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// How many decisions, and the units they spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Decisions.
    pub count: u64,
    /// Units spent (route cost; 0 for refusals).
    pub cost: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.count = self.count.saturating_add(other.count);
        self.cost = self.cost.saturating_add(other.cost);
    }
}

/// Counts by outcome.
pub type Counts = BTreeMap<Outcome, Tally>;

/// Decisions by country (ISO 3166 alpha-2, as `request.cf.country` gives it).
pub type Countries = BTreeMap<String, u64>;

/// One decision (or, from a lease return, several of one outcome).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision<'a> {
    /// What became of it.
    pub outcome: Outcome,
    /// How many, and what they spent.
    pub tally: Tally,
    /// Where the client was, if known.
    pub country: Option<&'a str>,
}

/// The minute being counted, not yet written to the tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open {
    /// Start of the minute (`None`: nothing counted yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    /// Counts so far.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: Counts,
    /// Countries so far.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub countries: Countries,
}

/// A closed minute's counts, to add to the tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    /// One per granularity and outcome.
    pub rows: Vec<Row>,
    /// The minute's countries, under its day.
    pub countries: Vec<(Timestamp, String, u64)>,
}

impl Closed {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.countries.is_empty()
    }
}

impl Open {
    /// Counts `decision` at `now`; the minute it closes, if `now` is in a
    /// later one.
    pub fn record(&mut self, decision: &Decision<'_>, now: Timestamp) -> Closed {
        let closed = self.close_before(now);
        self.start = Some(Granularity::Minute.floor(now));
        tally_into(&mut self.counts, &mut self.countries, decision);
        closed
    }

    /// Counts what an isolate decided under a lease, reported when the
    /// lease went back (at `now`, in the minute of its return).
    pub fn absorb(&mut self, counts: &Counts, countries: &Countries, now: Timestamp) -> Closed {
        let closed = self.close_before(now);
        if counts.is_empty() && countries.is_empty() {
            return closed;
        }
        self.start = Some(Granularity::Minute.floor(now));
        for (&outcome, &tally) in counts {
            self.counts.entry(outcome).or_default().add(tally);
        }
        for (country, &n) in countries.iter().filter(|(c, _)| valid_country(c)) {
            let total = self.countries.entry(country.clone()).or_default();
            *total = total.saturating_add(n);
        }
        closed
    }

    /// Takes back a decision counted at `at` that did not stand (a key's
    /// admission its owner then refused), if its minute is still open.
    pub fn take_back(&mut self, decision: &Decision<'_>, at: Timestamp) {
        if self.start != Some(Granularity::Minute.floor(at)) {
            return;
        }
        if let Some(t) = self.counts.get_mut(&decision.outcome) {
            t.count = t.count.saturating_sub(decision.tally.count);
            t.cost = t.cost.saturating_sub(decision.tally.cost);
        }
        if let Some(n) = decision.country.and_then(|c| self.countries.get_mut(c)) {
            *n = n.saturating_sub(decision.tally.count);
        }
    }

    /// Closes the open minute if `now` is past it.
    pub fn close_before(&mut self, now: Timestamp) -> Closed {
        match self.start {
            Some(start) if start < Granularity::Minute.floor(now) => {
                std::mem::take(self).close(start)
            }
            _ => Closed::default(),
        }
    }

    fn close(self, start: Timestamp) -> Closed {
        let rows = rows_of(start, &self.counts).collect();
        let day = Granularity::Day.floor(start);
        let countries = self
            .countries
            .into_iter()
            .map(|(c, n)| (day, c, n))
            .collect();
        Closed { rows, countries }
    }
}

/// The rows a minute starting at `start` with `counts` adds to: one per
/// granularity and outcome.
fn rows_of(start: Timestamp, counts: &Counts) -> impl Iterator<Item = Row> + '_ {
    Granularity::ALL.into_iter().flat_map(move |g| {
        counts.iter().map(move |(&outcome, &tally)| Row {
            granularity: g,
            start: g.floor(start),
            outcome,
            tally,
        })
    })
}

/// Adds `decision` to `counts` and, if its country is a real one, to
/// `countries`: how an open minute, and an isolate holding a lease, count.
pub fn tally_into(counts: &mut Counts, countries: &mut Countries, decision: &Decision<'_>) {
    counts
        .entry(decision.outcome)
        .or_default()
        .add(decision.tally);
    if let Some(country) = decision.country.filter(|c| valid_country(c)) {
        let n = countries.entry(country.to_owned()).or_default();
        *n = n.saturating_add(decision.tally.count);
    }
}

/// Country codes as `request.cf.country` gives them: two letters (or `T1`
/// for Tor); anything else is not counted (it would be a client's text).
fn valid_country(code: &str) -> bool {
    code.len() == 2
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A bucket size, and how long its buckets are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// Minute buckets, kept 48 hours.
    Minute,
    /// Hour buckets, kept 90 days.
    Hour,
    /// UTC-day buckets, kept 400 days.
    Day,
}

impl Granularity {
    /// Every granularity.
    pub const ALL: [Granularity; 3] = [Granularity::Minute, Granularity::Hour, Granularity::Day];

    /// A bucket's length.
    pub fn seconds(self) -> u64 {
        match self {
            Granularity::Minute => 60,
            Granularity::Hour => 3_600,
            Granularity::Day => 86_400,
        }
    }

    /// How long buckets are kept.
    pub fn retention_secs(self) -> u64 {
        match self {
            Granularity::Minute => 48 * 3_600,
            Granularity::Hour => 90 * 86_400,
            Granularity::Day => 400 * 86_400,
        }
    }

    /// The start of the bucket holding `t`.
    pub fn floor(self, t: Timestamp) -> Timestamp {
        let ms = self.seconds() * 1_000;
        Timestamp::from_millis(t.as_millis() / ms * ms)
    }

    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }

    /// The oldest bucket start still kept at `now`.
    pub fn oldest_kept(self, now: Timestamp) -> Timestamp {
        let back = now
            .as_millis()
            .saturating_sub(self.retention_secs() * 1_000);
        self.floor(Timestamp::from_millis(back))
    }
}

/// One stored bucket of one outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// Bucket size.
    pub granularity: Granularity,
    /// Bucket start.
    pub start: Timestamp,
    /// Outcome.
    pub outcome: Outcome,
    /// Its counts.
    pub tally: Tally,
}

/// What a key's object (or a registry shard) read from its tables for one query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The query's buckets.
    pub rows: Vec<Row>,
    /// Countries per day, over the query's days.
    pub countries: Vec<(Timestamp, String, u64)>,
}

/// A validated `?granularity=&from=&to=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageQuery {
    /// Bucket size (default `hour`).
    pub granularity: Granularity,
    /// First bucket (floored to the granularity).
    pub from: Timestamp,
    /// Last instant included.
    pub to: Timestamp,
}

impl UsageQuery {
    /// Reads the query string's `granularity` (default `hour`), `from`
    /// (default: `to` minus 24 buckets) and `to` (default `now`). `from`
    /// after `to`, or before what the granularity keeps, is 422 naming it.
    pub fn parse(pairs: &[(String, String)], now: Timestamp) -> Result<UsageQuery, Error> {
        let mut granularity = Granularity::Hour;
        let (mut from, mut to) = (None, None);
        for (name, value) in pairs {
            let time = |field: &str| {
                Timestamp::parse_rfc3339(value).ok_or_else(|| {
                    Error::invalid(field, "must be an RFC 3339 time, e.g. 2026-11-24T00:00:00Z")
                })
            };
            match name.as_str() {
                "granularity" => {
                    granularity = Granularity::ALL
                        .into_iter()
                        .find(|g| g.as_str() == value)
                        .ok_or_else(|| {
                            Error::invalid("granularity", "must be minute, hour or day")
                        })?;
                }
                "from" => from = Some(time("from")?),
                "to" => to = Some(time("to")?),
                _ => {
                    return Err(Error::invalid(
                        name,
                        "unknown parameter (granularity, from, to)",
                    ))
                }
            }
        }
        let to = to.unwrap_or(now);
        let default_from = || {
            let back = granularity.seconds() * 1_000 * 23;
            Timestamp::from_millis(to.as_millis().saturating_sub(back))
        };
        let from = granularity.floor(from.unwrap_or_else(default_from));
        if from > to {
            return Err(Error::invalid("from", "must not be after `to`"));
        }
        if from < granularity.oldest_kept(now) {
            return Err(Error::invalid(
                "from",
                format!(
                    "{} buckets are kept for {} days: `from` must be at most that far back",
                    granularity.as_str(),
                    granularity.retention_secs().div_ceil(86_400)
                ),
            ));
        }
        Ok(UsageQuery {
            granularity,
            from,
            to,
        })
    }
}

/// Counts by bucket start and by country: what a series shows.
#[derive(Default)]
struct Sums {
    buckets: BTreeMap<Timestamp, Counts>,
    countries: Countries,
}

impl Sums {
    fn add(&mut self, start: Timestamp, outcome: Outcome, tally: Tally) {
        self.buckets
            .entry(start)
            .or_default()
            .entry(outcome)
            .or_default()
            .add(tally);
    }

    fn add_country(&mut self, country: &str, n: u64) {
        let total = self.countries.entry(country.to_owned()).or_default();
        *total = total.saturating_add(n);
    }

    /// Adds a series [`Sums::to_json`] wrote (another key's, for an owner).
    fn add_json(&mut self, series: &Value) {
        let list = |name: &str| {
            series
                .get(name)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        for bucket in list("buckets") {
            let start = bucket
                .get("start")
                .and_then(Value::as_str)
                .and_then(Timestamp::parse_rfc3339);
            let outcomes = bucket.get("outcomes").and_then(Value::as_object);
            let (Some(start), Some(outcomes)) = (start, outcomes) else {
                continue;
            };
            for (name, tally) in outcomes {
                let n = |f: &str| tally.get(f).and_then(Value::as_u64).unwrap_or(0);
                if let Some(outcome) = Outcome::parse(name) {
                    self.add(
                        start,
                        outcome,
                        Tally {
                            count: n("count"),
                            cost: n("cost"),
                        },
                    );
                }
            }
        }
        for entry in list("countries") {
            if let (Some(country), Some(n)) = (
                entry.get("country").and_then(Value::as_str),
                entry.get("count").and_then(Value::as_u64),
            ) {
                self.add_country(country, n);
            }
        }
    }

    fn to_json(&self, query: &UsageQuery) -> Value {
        let mut totals = Counts::new();
        for counts in self.buckets.values() {
            for (&outcome, &tally) in counts {
                totals.entry(outcome).or_default().add(tally);
            }
        }
        let counts_json = |counts: &Counts| {
            Value::Object(
                counts
                    .iter()
                    .map(|(o, t)| (o.as_str().to_owned(), json!(t)))
                    .collect(),
            )
        };
        let mut countries: Vec<(&String, &u64)> = self.countries.iter().collect();
        countries.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        json!({
            "granularity": query.granularity.as_str(),
            "from": query.from,
            "to": query.to,
            "totals": counts_json(&totals),
            "buckets": self.buckets
                .iter()
                .map(|(start, counts)| json!({ "start": start, "outcomes": counts_json(counts) }))
                .collect::<Vec<_>>(),
            "countries": countries
                .into_iter()
                .map(|(country, count)| json!({ "country": country, "count": count }))
                .collect::<Vec<_>>(),
        })
    }
}

/// The series a query asks for, from what the key's object `stored` (any
/// rows that don't belong are skipped) and its `open` minute.
pub fn series(query: &UsageQuery, stored: &Stored, open: &Open) -> Value {
    let g = query.granularity;
    let within = |start: Timestamp| start >= query.from && start <= query.to;
    let mut sums = Sums::default();
    for row in stored
        .rows
        .iter()
        .filter(|r| r.granularity == g && within(r.start))
    {
        sums.add(row.start, row.outcome, row.tally);
    }
    for (day, country, n) in &stored.countries {
        if *day >= Granularity::Day.floor(query.from) && *day <= query.to {
            sums.add_country(country, *n);
        }
    }
    if let Some(start) = open.start.filter(|s| within(g.floor(*s))) {
        for (&outcome, &tally) in &open.counts {
            sums.add(g.floor(start), outcome, tally);
        }
        for (country, n) in &open.countries {
            sums.add_country(country, *n);
        }
    }
    sums.to_json(query)
}

/// The sum of several keys' `series` for the same query (an owner's keys).
pub fn sum(query: &UsageQuery, series: &[Value]) -> Value {
    let mut sums = Sums::default();
    for one in series {
        sums.add_json(one);
    }
    sums.to_json(query)
}
