//! Usage across every key (`GET /v1/usage`), per owner
//! (`GET /v1/owners/{id}/usage`), the top keys and each key's `last_used`
//! in listings: what reaches the registry shards, off every request's path.
//!
//! Each isolate counts every decision it makes or is told (a lease's, a key
//! object's verdict, a refusal before any key) in memory in a [`Batch`],
//! and sends it at most once every [`FLUSH_MS`] as a [`UsageReport`] — on
//! the `REPORTS` queue, whose consumer adds a whole batch of reports into
//! each shard in one call. So the registry's load grows with isolates and
//! time, not with keys or requests: a flood of garbage keys, or a million
//! keys active in a minute, costs a bounded number of shard writes. (Each
//! key's own usage series is its object's, exact, and unaffected.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    rows_of, series, tally_into, Closed, Countries, Counts, Decision, Granularity, Open, Outcome,
    Stored, Tally, UsageQuery,
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

/// One owner's share of a report: its rows and countries, as the overall
/// ones (the owner's usage is read from these, not from its keys).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerUsage {
    /// The owner.
    pub owner_id: String,
    /// Its counts.
    pub closed: Closed,
}

/// An isolate's counts for the registry: every decision it made or was
/// told, by outcome and minute, and what each key and owner adds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// Rows and countries for the overall usage.
    pub closed: Closed,
    /// Per-key day totals.
    pub keys: Vec<KeyDay>,
    /// Each key's latest admitted request.
    #[serde(default)]
    pub touches: Vec<(KeyId, Timestamp)>,
    /// Per-owner rows.
    #[serde(default)]
    pub owners: Vec<OwnerUsage>,
}

/// Items (key days, touches, owners) per queue message: well under the
/// queue's 128 KB per message.
pub const ITEMS_PER_MESSAGE: usize = 150;

impl UsageReport {
    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        self.closed.is_empty()
            && self.keys.is_empty()
            && self.touches.is_empty()
            && self.owners.is_empty()
    }

    /// This report split for the registry shards: each key's day totals
    /// and latest use for the key's shard (the top-keys lists need a key's
    /// totals in one place), the overall and owner rows with the first part
    /// (any shard may hold a share of those: reads add every shard's).
    pub fn by_shard(self) -> Vec<(Shard, UsageReport)> {
        let mut parts: BTreeMap<Shard, UsageReport> = BTreeMap::new();
        for day in self.keys {
            parts.entry(day.key_id.shard()).or_default().keys.push(day);
        }
        for touch in self.touches {
            parts
                .entry(touch.0.shard())
                .or_default()
                .touches
                .push(touch);
        }
        let shared = UsageReport {
            closed: self.closed,
            owners: self.owners,
            ..UsageReport::default()
        };
        if !shared.is_empty() {
            let first = parts.keys().next().copied().unwrap_or(Shard::HUB);
            let part = parts.entry(first).or_default();
            part.closed = shared.closed;
            part.owners = shared.owners;
        }
        parts.into_iter().collect()
    }

    /// Adds `other`'s counts to this report's (the shards add duplicate rows up).
    pub fn absorb(&mut self, other: UsageReport) {
        self.closed.rows.extend(other.closed.rows);
        self.closed.countries.extend(other.closed.countries);
        self.keys.extend(other.keys);
        self.touches.extend(other.touches);
        self.owners.extend(other.owners);
    }

    /// This report in pieces of at most [`ITEMS_PER_MESSAGE`] items, the
    /// overall rows with the first.
    pub fn chunks(self) -> Vec<UsageReport> {
        let mut first = UsageReport {
            closed: self.closed,
            ..UsageReport::default()
        };
        let mut out: Vec<UsageReport> = Vec::new();
        let mut fill = |add: &mut dyn FnMut(&mut UsageReport)| {
            let size = |r: &UsageReport| r.keys.len() + r.touches.len() + r.owners.len();
            if out.last().is_none_or(|r| size(r) >= ITEMS_PER_MESSAGE) {
                out.push(std::mem::take(&mut first));
            }
            add(out.last_mut().expect("just pushed"));
        };
        for day in self.keys {
            fill(&mut |r| r.keys.push(day.clone()));
        }
        for touch in self.touches {
            fill(&mut |r| r.touches.push(touch.clone()));
        }
        for owner in self.owners {
            fill(&mut |r| r.owners.push(owner.clone()));
        }
        if out.is_empty() && !first.is_empty() {
            out.push(first);
        }
        out
    }
}

/// Adds `n` decisions of `outcome` to a key's day: `(requests, refused)`.
fn add_to((requests, refused): &mut (u64, u64), outcome: Outcome, n: u64) {
    // An origin error follows its `valid`: not a second request.
    if outcome != Outcome::OriginError {
        *requests = requests.saturating_add(n);
    }
    if outcome.is_refusal() {
        *refused = refused.saturating_add(n);
    }
}

/// A decision an isolate counts, and whose it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted<'a> {
    /// The decision.
    pub decision: Decision<'a>,
    /// The key, when known.
    pub key: Option<&'a KeyId>,
    /// The key's owner, when it has one.
    pub owner: Option<&'a str>,
}

impl<'a> Counted<'a> {
    /// One `outcome` (about `key`, if known), costing nothing, from no
    /// known country or owner.
    pub fn one(outcome: Outcome, key: Option<&'a KeyId>) -> Counted<'a> {
        Counted {
            decision: Decision {
                outcome,
                tally: Tally { count: 1, cost: 0 },
                country: None,
            },
            key,
            owner: None,
        }
    }
}

/// Minutes of counts, with their countries.
type Minutes = BTreeMap<Timestamp, (Counts, Countries)>;

fn closed_of(minutes: &Minutes) -> Closed {
    Closed {
        rows: minutes
            .iter()
            .flat_map(|(&start, (counts, _))| rows_of(start, counts))
            .collect(),
        countries: minutes
            .iter()
            .flat_map(|(&start, (_, countries))| {
                let day = Granularity::Day.floor(start);
                countries.iter().map(move |(c, &n)| (day, c.clone(), n))
            })
            .collect(),
    }
}

/// One key's counts in a batch.
#[derive(Debug, Default)]
struct KeyCounts {
    /// Requests and refusals by day.
    days: BTreeMap<Timestamp, (u64, u64)>,
    /// Its latest admitted request.
    last_used: Option<Timestamp>,
}

/// An isolate's counts not yet written: every decision it made or was told
/// (a lease's, a key object's, a refusal before any key). Looked up by
/// borrowed id and owner, so counting a key or owner already in the batch
/// allocates nothing.
#[derive(Debug, Default)]
pub struct Batch {
    minutes: Minutes,
    keys: BTreeMap<KeyId, KeyCounts>,
    owners: BTreeMap<String, Minutes>,
    /// A flush is due: the caller scheduled it.
    scheduled: bool,
}

impl Batch {
    /// Counts one decision made at `now`. `true` when the caller must
    /// schedule the flush, to run [`FLUSH_MS`] from now: the first count
    /// since the last flush.
    pub fn count(&mut self, counted: Counted<'_>, now: Timestamp) -> bool {
        let minute = Granularity::Minute.floor(now);
        let Counted {
            decision,
            key,
            owner,
        } = counted;
        let (counts, countries) = self.minutes.entry(minute).or_default();
        tally_into(counts, countries, &decision);
        if let Some(id) = key {
            if !self.keys.contains_key(id) {
                self.keys.insert(id.clone(), KeyCounts::default());
            }
            let counts = self.keys.get_mut(id).expect("inserted above");
            let day = counts.days.entry(Granularity::Day.floor(now)).or_default();
            add_to(day, decision.outcome, decision.tally.count);
            if decision.outcome == Outcome::Valid {
                counts.last_used = counts.last_used.max(Some(now));
            }
        }
        if let Some(owner) = owner {
            if !self.owners.contains_key(owner) {
                self.owners.insert(owner.to_owned(), Minutes::default());
            }
            let minutes = self.owners.get_mut(owner).expect("inserted above");
            let (counts, countries) = minutes.entry(minute).or_default();
            tally_into(counts, countries, &decision);
        }
        !std::mem::replace(&mut self.scheduled, true)
    }

    /// Everything counted so far, to write; the batch starts empty.
    pub fn take(&mut self) -> UsageReport {
        let taken = std::mem::take(self);
        let mut report = UsageReport {
            closed: closed_of(&taken.minutes),
            ..UsageReport::default()
        };
        for (id, counts) in taken.keys {
            report.keys.extend(
                counts
                    .days
                    .into_iter()
                    .map(|(day, (requests, refused))| KeyDay {
                        day,
                        key_id: id.clone(),
                        requests,
                        refused,
                    }),
            );
            if let Some(at) = counts.last_used {
                report.touches.push((id, at));
            }
        }
        report.owners = taken
            .owners
            .iter()
            .map(|(owner_id, minutes)| OwnerUsage {
                owner_id: owner_id.clone(),
                closed: closed_of(minutes),
            })
            .collect();
        report
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
            .filter(|i| {
                batch.count(
                    Counted::one(Outcome::InvalidApiKey, None),
                    at(T0 + i / 1_000),
                )
            })
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
        assert!(batch.count(Counted::one(Outcome::MissingApiKey, None), at(T0)));
    }

    #[test]
    fn minutes_stay_apart_and_keys_are_totalled_by_day() {
        let mut batch = Batch::default();
        let revoked = key(1);
        batch.count(Counted::one(Outcome::KeyRevoked, Some(&revoked)), at(T0));
        batch.count(
            Counted::one(Outcome::KeyRevoked, Some(&revoked)),
            at(T0 + 60),
        );
        batch.count(Counted::one(Outcome::RequestTooLarge, None), at(T0 + 60));
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
    fn a_batch_splits_by_the_keys_shards_and_loses_no_count() {
        let mut batch = Batch::default();
        let ids: Vec<KeyId> = (0..3)
            .map(|n| KeyId::generate_in(Shard::new(n).unwrap()).unwrap())
            .collect();
        for (i, id) in ids.iter().chain(&ids[..1]).enumerate() {
            batch.count(
                Counted::one(Outcome::KeyRevoked, Some(id)),
                at(T0 + i as u64),
            );
        }
        let admitted = Counted {
            decision: Decision {
                outcome: Outcome::Valid,
                tally: Tally { count: 1, cost: 3 },
                country: Some("SE"),
            },
            key: Some(&ids[1]),
            owner: Some("acme"),
        };
        batch.count(admitted.clone(), at(T0 + 9));
        batch.count(admitted, at(T0 + 7));
        batch.count(Counted::one(Outcome::InvalidApiKey, None), at(T0));
        let report = batch.take();
        assert_eq!(
            report.touches,
            vec![(ids[1].clone(), at(T0 + 9))],
            "the latest admitted use"
        );
        assert_eq!(report.owners.len(), 1);
        assert_eq!(
            report.closed.countries,
            vec![(Granularity::Day.floor(at(T0)), "SE".to_owned(), 2)]
        );
        let rows = report.closed.rows.len();
        let parts = report.by_shard();
        assert_eq!(
            parts.iter().map(|(s, _)| s.index()).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(parts[0].1.keys[0].refused, 2);
        assert_eq!(parts[0].1.closed.rows.len(), rows);
        assert_eq!(parts[0].1.owners[0].owner_id, "acme");
        assert_eq!(parts[1].1.touches.len(), 1);
        assert_eq!(parts[1].1.keys[0].requests, 3);
        assert!(parts[1..]
            .iter()
            .all(|(_, p)| p.closed.is_empty() && p.owners.is_empty()));
        let mut garbage = Batch::default();
        garbage.count(Counted::one(Outcome::InvalidApiKey, None), at(T0));
        let parts = garbage.take().by_shard();
        assert_eq!((parts.len(), parts[0].0), (1, Shard::HUB));
        assert!(UsageReport::default().by_shard().is_empty());
    }

    #[test]
    fn a_large_report_goes_in_messages_of_bounded_size_with_nothing_lost() {
        let mut batch = Batch::default();
        for n in 0..1_000u64 {
            let id: KeyId = format!("key_{n:0>16}").parse().unwrap();
            let owner = format!("owner{}", n % 300);
            let counted = Counted {
                decision: Decision {
                    outcome: Outcome::Valid,
                    tally: Tally { count: 1, cost: 1 },
                    country: None,
                },
                key: Some(&id),
                owner: Some(&owner),
            };
            batch.count(counted, at(T0));
        }
        let report = batch.take();
        let (keys, touches, owners) =
            (report.keys.len(), report.touches.len(), report.owners.len());
        let chunks = report.clone().chunks();
        assert!(chunks
            .iter()
            .all(|c| serde_json::to_string(c).unwrap().len() < 100_000));
        assert_eq!(chunks.iter().map(|c| c.keys.len()).sum::<usize>(), keys);
        assert_eq!(
            chunks.iter().map(|c| c.touches.len()).sum::<usize>(),
            touches
        );
        assert_eq!(chunks.iter().map(|c| c.owners.len()).sum::<usize>(), owners);
        assert_eq!(chunks[0].closed, report.closed);
        assert!(chunks[1..].iter().all(|c| c.closed.is_empty()));
        assert_eq!(UsageReport::default().chunks(), vec![]);
        let mut joined = UsageReport::default();
        for chunk in chunks {
            joined.absorb(chunk);
        }
        assert_eq!(joined, report, "the pieces add up to the whole");
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
