//! Usage across every key (`GET /v1/usage`): what reaches the registry,
//! which keeps the overall tables.
//!
//! Two sources report, neither on a request's path:
//! - each key's object, when a minute of its usage closes (by its next
//!   decision, or by the alarm it sets for the minute's end): that
//!   minute's rows, and the key's day totals for the top-keys lists;
//! - each isolate, for what it refused before any key was judged (no key,
//!   a malformed or unknown one, oversize requests) and for keys KV already
//!   knows are revoked: counted in memory in a [`Batch`] and sent at most
//!   once every [`FLUSH_MS`], so a flood of garbage keys costs a bounded
//!   number of writes, however large.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    rows_of, series, Closed, Counts, Granularity, Open, Outcome, Stored, Tally, UsageQuery,
};
use crate::key::KeyId;
use crate::registry::shard::Shard;
use crate::time::Timestamp;

/// How long an isolate gathers edge counts before writing them.
pub const FLUSH_MS: u64 = 5_000;

/// How many keys each top list shows.
pub const TOP_KEYS: usize = 10;

/// One key's decisions on one UTC day, for the top-keys lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDay {
    /// The day's start.
    pub day: Timestamp,
    /// The key.
    pub key_id: KeyId,
    /// Decisions (every outcome but `origin_error`, which follows a `valid`).
    pub requests: u64,
    /// Of those, refusals.
    pub refused: u64,
}

/// Counts for the overall tables: a key's closed minute, or an isolate's batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// Rows and countries, added as a key's own tables add them.
    pub closed: Closed,
    /// Per-key day totals.
    pub keys: Vec<KeyDay>,
}

impl UsageReport {
    /// What key `id`'s closed minute adds to the overall usage.
    pub fn of_key(id: &KeyId, closed: Closed) -> UsageReport {
        let mut days: BTreeMap<Timestamp, KeyDay> = BTreeMap::new();
        for row in closed
            .rows
            .iter()
            .filter(|r| r.granularity == Granularity::Day)
        {
            let day = days.entry(row.start).or_insert_with(|| KeyDay {
                day: row.start,
                key_id: id.clone(),
                requests: 0,
                refused: 0,
            });
            add_to(day, row.outcome, row.tally.count);
        }
        UsageReport {
            closed,
            keys: days.into_values().collect(),
        }
    }

    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        self.closed.is_empty() && self.keys.is_empty()
    }

    /// This report split for the registry shards: each key's day totals
    /// for the key's shard (the top-keys lists need a key's totals in one
    /// place), the rows and countries with the first part (any shard may
    /// hold a share of the overall counts: reads add every shard's).
    pub fn by_shard(self) -> Vec<(Shard, UsageReport)> {
        let mut parts: BTreeMap<Shard, Vec<KeyDay>> = BTreeMap::new();
        for day in self.keys {
            parts.entry(day.key_id.shard()).or_default().push(day);
        }
        let mut split: Vec<(Shard, UsageReport)> = parts
            .into_iter()
            .map(|(shard, keys)| {
                let report = UsageReport {
                    closed: Closed::default(),
                    keys,
                };
                (shard, report)
            })
            .collect();
        match split.first_mut() {
            Some((_, first)) => first.closed = self.closed,
            None if !self.closed.is_empty() => split.push((
                Shard::HUB,
                UsageReport {
                    closed: self.closed,
                    keys: Vec::new(),
                },
            )),
            None => {}
        }
        split
    }
}

fn add_to(day: &mut KeyDay, outcome: Outcome, n: u64) {
    if outcome != Outcome::OriginError {
        day.requests = day.requests.saturating_add(n);
    }
    if outcome.is_refusal() {
        day.refused = day.refused.saturating_add(n);
    }
}

/// An isolate's edge counts not yet written.
#[derive(Debug, Default)]
pub struct Batch {
    minutes: BTreeMap<Timestamp, Counts>,
    keys: BTreeMap<(Timestamp, KeyId), KeyDay>,
    /// A flush is due: the caller scheduled it.
    scheduled: bool,
}

impl Batch {
    /// Counts one `outcome` decided in this isolate at `now` (about `key`,
    /// when known). `true` when the caller must schedule the flush, to run
    /// [`FLUSH_MS`] from now: the first count since the last flush.
    pub fn count(&mut self, outcome: Outcome, key: Option<&KeyId>, now: Timestamp) -> bool {
        self.minutes
            .entry(Granularity::Minute.floor(now))
            .or_default()
            .entry(outcome)
            .or_default()
            .add(Tally { count: 1, cost: 0 });
        if let Some(id) = key {
            let day = Granularity::Day.floor(now);
            let entry = self
                .keys
                .entry((day, id.clone()))
                .or_insert_with(|| KeyDay {
                    day,
                    key_id: id.clone(),
                    requests: 0,
                    refused: 0,
                });
            add_to(entry, outcome, 1);
        }
        !std::mem::replace(&mut self.scheduled, true)
    }

    /// Everything counted so far, to write; the batch starts empty.
    pub fn take(&mut self) -> UsageReport {
        let taken = std::mem::take(self);
        let rows = taken
            .minutes
            .iter()
            .flat_map(|(&start, counts)| rows_of(start, counts))
            .collect();
        UsageReport {
            closed: Closed {
                rows,
                countries: Vec::new(),
            },
            keys: taken.keys.into_values().collect(),
        }
    }
}

/// One key in a top list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopKey {
    /// The key.
    pub key_id: String,
    /// Its name, if the registry still lists it.
    pub name: Option<String>,
    /// Decisions over the query's days.
    pub requests: u64,
    /// Of those, refusals.
    pub refused: u64,
}

/// One registry shard's part of the overall usage: the rows it keeps (each
/// report is added into one shard) and its top keys (a key's day totals are
/// all in its own shard, so the top keys of all are among the shards' tops).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsagePart {
    /// Its rows and countries for the query.
    pub stored: Stored,
    /// Its [`TOP_KEYS`] keys with the most requests.
    pub by_requests: Vec<TopKey>,
    /// Its [`TOP_KEYS`] keys with the most refusals.
    pub by_refusals: Vec<TopKey>,
}

/// The overall series: [`series`] over every shard's rows, with the top
/// keys by requests and by refusals (over the query's whole days).
pub fn overall_series(query: &UsageQuery, parts: Vec<UsagePart>) -> Value {
    let mut stored = Stored::default();
    let (mut by_requests, mut by_refusals) = (Vec::new(), Vec::new());
    for part in parts {
        stored.rows.extend(part.stored.rows);
        stored.countries.extend(part.stored.countries);
        by_requests.extend(part.by_requests);
        by_refusals.extend(part.by_refusals);
    }
    let top = |mut keys: Vec<TopKey>, count: fn(&TopKey) -> u64| {
        keys.sort_by(|a, b| {
            count(b)
                .cmp(&count(a))
                .then_with(|| a.key_id.cmp(&b.key_id))
        });
        keys.truncate(TOP_KEYS);
        keys
    };
    let mut usage = series(query, &stored, &Open::default());
    usage["top_keys"] = json!({
        "by_requests": top(by_requests, |k| k.requests),
        "by_refusals": top(by_refusals, |k| k.refused),
    });
    usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::{Decision, Row};

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_millis(secs * 1_000)
    }

    const T0: u64 = 1_795_946_405; // 2026-11-29T10:00:05Z

    fn key(n: u8) -> KeyId {
        format!("key_{n:0>16}").parse().expect("a valid id")
    }

    #[test]
    fn a_flood_schedules_one_flush_and_loses_no_count() {
        let mut batch = Batch::default();
        let scheduled = (0..10_000u64)
            .filter(|i| batch.count(Outcome::InvalidApiKey, None, at(T0 + i / 1_000)))
            .count();
        assert_eq!(scheduled, 1, "one flush for the whole flood");
        let report = batch.take();
        let minute_total: u64 = report
            .closed
            .rows
            .iter()
            .filter(|r| r.granularity == Granularity::Minute)
            .map(|r| r.tally.count)
            .sum();
        assert_eq!(minute_total, 10_000);
        let day: Vec<&Row> = report
            .closed
            .rows
            .iter()
            .filter(|r| r.granularity == Granularity::Day)
            .collect();
        assert_eq!(day.len(), 1, "one day row per outcome");
        assert_eq!(day[0].tally.count, 10_000);
        assert!(report.keys.is_empty(), "garbage names no key");
        // Taken: the next count schedules the next flush.
        assert!(batch.take().is_empty());
        assert!(batch.count(Outcome::MissingApiKey, None, at(T0)));
    }

    #[test]
    fn minutes_stay_apart_and_keys_are_totalled_by_day() {
        let mut batch = Batch::default();
        let revoked = key(1);
        batch.count(Outcome::KeyRevoked, Some(&revoked), at(T0));
        batch.count(Outcome::KeyRevoked, Some(&revoked), at(T0 + 60));
        batch.count(Outcome::RequestTooLarge, None, at(T0 + 60));
        let report = batch.take();
        let minutes: Vec<(Timestamp, Outcome, u64)> = report
            .closed
            .rows
            .iter()
            .filter(|r| r.granularity == Granularity::Minute)
            .map(|r| (r.start, r.outcome, r.tally.count))
            .collect();
        assert_eq!(
            minutes,
            vec![
                (at(T0 - 5), Outcome::KeyRevoked, 1),
                (at(T0 + 55), Outcome::KeyRevoked, 1),
                (at(T0 + 55), Outcome::RequestTooLarge, 1),
            ]
        );
        assert_eq!(
            report.keys,
            vec![KeyDay {
                day: Granularity::Day.floor(at(T0)),
                key_id: revoked,
                requests: 2,
                refused: 2,
            }]
        );
    }

    #[test]
    fn a_keys_closed_minute_reports_its_day_totals() {
        let mut open = Open::default();
        let one = |outcome, cost| Decision {
            outcome,
            tally: Tally { count: 1, cost },
            country: Some("DE"),
        };
        open.record(&one(Outcome::Valid, 3), at(T0));
        open.record(&one(Outcome::Valid, 1), at(T0 + 1));
        open.record(&one(Outcome::OriginError, 0), at(T0 + 2));
        open.record(&one(Outcome::RateLimited, 0), at(T0 + 3));
        let closed = open.close_before(at(T0 + 60));
        let id = key(2);
        let report = UsageReport::of_key(&id, closed.clone());
        assert_eq!(report.closed, closed, "the minute's rows, unchanged");
        assert_eq!(
            report.keys,
            vec![KeyDay {
                day: Granularity::Day.floor(at(T0)),
                key_id: id,
                requests: 3,
                refused: 1,
            }],
            "an origin error follows its valid: not a second request"
        );
        assert!(UsageReport::of_key(&key(3), Closed::default()).is_empty());
    }

    #[test]
    fn a_batch_splits_by_the_keys_shards_and_loses_no_count() {
        let mut batch = Batch::default();
        let ids: Vec<KeyId> = (0..3)
            .map(|n| KeyId::generate_in(Shard::new(n).unwrap()).unwrap())
            .collect();
        for (i, id) in ids.iter().chain(&ids[..1]).enumerate() {
            batch.count(Outcome::KeyRevoked, Some(id), at(T0 + i as u64));
        }
        batch.count(Outcome::InvalidApiKey, None, at(T0));
        let report = batch.take();
        let rows = report.closed.rows.len();
        let parts = report.by_shard();
        assert_eq!(
            parts.iter().map(|(s, _)| s.index()).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(parts[0].1.keys[0].refused, 2);
        assert_eq!(parts[0].1.closed.rows.len(), rows);
        assert!(parts[1..]
            .iter()
            .all(|(_, p)| p.closed.is_empty() && p.keys.len() == 1));
        let mut garbage = Batch::default();
        garbage.count(Outcome::InvalidApiKey, None, at(T0));
        let parts = garbage.take().by_shard();
        assert_eq!((parts.len(), parts[0].0), (1, Shard::HUB));
        assert!(UsageReport::default().by_shard().is_empty());
    }

    #[test]
    fn the_overall_series_sums_the_shards_and_keeps_the_top_keys_of_all() {
        let query = UsageQuery::parse(&[], at(T0)).unwrap();
        let part = |count: u64, tops: &[(&str, u64)]| UsagePart {
            stored: Stored {
                rows: vec![Row {
                    granularity: Granularity::Hour,
                    start: Granularity::Hour.floor(at(T0)),
                    outcome: Outcome::InvalidApiKey,
                    tally: Tally { count, cost: 0 },
                }],
                countries: Vec::new(),
            },
            by_requests: tops
                .iter()
                .map(|(id, requests)| TopKey {
                    key_id: (*id).to_owned(),
                    name: Some(format!("name of {id}")),
                    requests: *requests,
                    refused: 0,
                })
                .collect(),
            by_refusals: Vec::new(),
        };
        let many: Vec<(String, u64)> = (0..TOP_KEYS as u64)
            .map(|i| (format!("key_a{i}"), 10 + i))
            .collect();
        let many: Vec<(&str, u64)> = many.iter().map(|(id, n)| (id.as_str(), *n)).collect();
        let usage = overall_series(&query, vec![part(7, &many), part(5, &[("key_b", 100)])]);
        assert_eq!(usage["totals"]["invalid_api_key"]["count"], 12);
        let tops = usage["top_keys"]["by_requests"].as_array().unwrap();
        assert_eq!(tops.len(), TOP_KEYS);
        assert_eq!(tops[0]["key_id"], "key_b");
        assert_eq!(tops[1]["requests"], 10 + TOP_KEYS as u64 - 1);
        assert_eq!(
            tops[TOP_KEYS - 1]["requests"],
            11,
            "the smallest of the first shard is out"
        );
        assert_eq!(usage["top_keys"]["by_refusals"], json!([]));
    }
}
