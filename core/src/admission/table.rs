//! An isolate's side of edge admission. For each presented key hash it
//! keeps the record snapshot the key's object last sent (with its version),
//! the lease it holds, and the demand it has seen. Pure: the gateway asks
//! [`Leases::judge`] before any I/O, and gives [`Leases::settle`] the
//! object's answer when it had to ask.
//!
//! Requests are judged one at a time (an isolate runs one piece of code at
//! once and nothing here awaits), so concurrent requests never spend the
//! same unit twice.

use std::collections::HashMap;
use std::rc::Rc;

use super::lease::{LeaseAsk, LeaseReturn, DEFAULT_TTL_MS};
use crate::analytics::{tally_into, Countries, Counts};
use crate::error::{Error, ErrorKind};
use crate::hash::KeyHash;
use crate::key::KeyId;
use crate::keystate::{decision, screen, Access, Grant, Opener, Refusal, Reply};
use crate::lifecycle::record::KeyRecord;
use crate::limits::Quota;
use crate::policy::actor::Actor;
use crate::time::Timestamp;

/// Requests an isolate must see for a key within one lease TTL before it
/// asks for a lease: a key used less often is never leased, so for it
/// every edit and revocation is effective on the next request.
pub const MIN_DEMAND: u32 = 4;
/// Keys remembered per isolate.
const CAPACITY: usize = 1_024;
/// The largest record kept as a snapshot (JSON bytes): with [`CAPACITY`],
/// snapshots take at most 8 MiB of an isolate's 128 MB. A larger record
/// (keys may hold long lists) is never leased; its requests ask the object.
const MAX_SNAPSHOT_BYTES: usize = 8_192;
/// An ask with no answer after this long (the request was cancelled) no
/// longer keeps others from asking.
const ASK_EXPIRES_MS: u64 = 10_000;

/// One isolate's snapshots, leases and demand, by presented key hash.
#[derive(Debug)]
pub struct Leases {
    /// How long a lease may be used; 0: never ask for one.
    ttl_ms: u64,
    entries: HashMap<KeyHash, Entry>,
    /// Names leases, so a timer ends only the one it was set for.
    serial: u64,
}

#[derive(Debug, Default)]
struct Entry {
    snapshot: Option<Snapshot>,
    held: Option<Held>,
    demand: Demand,
    /// When a lease was asked for, if its answer is still due: meanwhile
    /// others do not ask too.
    asking: Option<Timestamp>,
}

/// A record as its object last sent it, with its version.
#[derive(Clone, Debug)]
pub struct Snapshot {
    version: u64,
    record: Rc<KeyRecord>,
}

impl Snapshot {
    fn fits(&self) -> bool {
        serde_json::to_vec(&*self.record).is_ok_and(|v| v.len() <= MAX_SNAPSHOT_BYTES)
    }
}

/// A lease being spent.
#[derive(Debug)]
struct Held {
    key: KeyId,
    serial: u64,
    version: u64,
    granted_at: Timestamp,
    until: Timestamp,
    left: u32,
    last_used: Option<Timestamp>,
    /// Every limit's state once the object had lent the lease.
    quotas: Vec<Quota>,
    /// The owner's units too (see [`super::lease::Lease::owner`]).
    owner: bool,
    /// What was decided here under the lease, for the key's usage.
    outcomes: Counts,
    /// Those decisions' countries.
    countries: Countries,
}

impl Held {
    /// Counts a decision made here: admitted (`refused` is `None`) or refused.
    fn tally(&mut self, access: &Access, refused: Option<&Error>) {
        if let Some(decided) = decision(access, refused) {
            tally_into(&mut self.outcomes, &mut self.countries, &decided);
        }
    }

    fn end(self) -> Ended {
        let returned = LeaseReturn {
            version: self.version,
            granted_at: self.granted_at,
            unused: self.left,
            last_used: self.last_used,
            owner: self.owner,
            outcomes: self.outcomes,
            countries: self.countries,
        };
        Ended {
            key: self.key,
            returned,
        }
    }
}

/// A lease that has ended, to hand back to its key's object.
#[derive(Debug)]
pub struct Ended {
    /// Whose object lent it.
    pub key: KeyId,
    /// What goes back.
    pub returned: LeaseReturn,
}

/// Requests seen for one key, in periods of one lease TTL.
#[derive(Debug, Default)]
struct Demand {
    since: Timestamp,
    seen: u32,
    /// The previous period's count, if it just ended.
    before: u32,
}

impl Demand {
    /// Counts `units` asked for at `now`, in periods of `period_ms`.
    fn see(&mut self, now: Timestamp, period_ms: u64, units: u32) {
        if now >= self.since.plus_millis(period_ms) {
            let just_ended = now < self.since.plus_millis(period_ms.saturating_mul(2));
            self.before = if just_ended { self.seen } else { 0 };
            self.since = now;
            self.seen = 0;
        }
        self.seen = self.seen.saturating_add(units);
    }

    /// Units to ask for: twice the demand of the last full or current
    /// period, so a lease grows with the demand it serves. (Counted in
    /// units, so routes that cost more get leases their requests fit in.)
    fn want(&self) -> Option<u32> {
        let shown = self.seen.max(self.before);
        (shown >= MIN_DEMAND).then(|| shown.saturating_mul(2))
    }
}

/// How [`Leases::judge`] decided. (Returned once per request and taken
/// apart at once: its size does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Judged {
    /// Here, with no I/O: admitted (the lease paid) or refused.
    Local(Result<Grant, Refusal>),
    /// The key's object must decide.
    Remote(Ask),
}

/// What to tell the key's object, kept until its answer.
#[derive(Debug)]
pub struct Ask {
    /// The snapshot held when asking.
    known: Option<Snapshot>,
    /// The lease to ask for, when demand earns one.
    pub lease: Option<LeaseAsk>,
    asked_at: Timestamp,
}

impl Ask {
    /// The record version to tell the object this isolate holds.
    pub fn known(&self) -> Option<u64> {
        self.known.as_ref().map(|s| s.version)
    }
}

/// What [`Leases::settle`] made of the object's answer.
#[derive(Debug)]
pub struct Settled {
    /// The request's verdict.
    pub verdict: Result<Result<Grant, Refusal>, Error>,
    /// A lease is now held: call [`Leases::expire`] with this serial at
    /// this time, to hand back what is left.
    pub held: Option<(u64, Timestamp)>,
    /// A lease ended (its record changed): hand it back.
    pub ended: Option<Ended>,
}

impl Leases {
    /// The key and owner `hash` opens, if this isolate holds its record.
    pub fn holder(&self, hash: &KeyHash) -> Option<(KeyId, Option<String>)> {
        let record = &self.entries.get(hash)?.snapshot.as_ref()?.record;
        Some((record.id.clone(), record.owner_id.clone()))
    }

    /// An empty table; `ttl_ms` 0 never asks for a lease (exact admission)
    /// and only keeps snapshots.
    pub fn new(ttl_ms: u64) -> Leases {
        Leases {
            ttl_ms,
            entries: HashMap::new(),
            serial: 0,
        }
    }

    fn entry(&mut self, hash: &KeyHash) -> &mut Entry {
        if !self.entries.contains_key(hash) && self.entries.len() >= CAPACITY {
            // Leases in use stay: their timers hand them back.
            self.entries.retain(|_, e| e.held.is_some());
        }
        self.entries.entry(hash.clone()).or_default()
    }

    /// Judges a request presenting `hash` at `now` here if a lease can pay
    /// for it; otherwise says what to ask the object. Also hands out a
    /// lease that has ended (expired, or too small for this request), to
    /// be returned off the request's path.
    pub fn judge(
        &mut self,
        hash: &KeyHash,
        access: &Access,
        verifier: Option<&Actor>,
        now: Timestamp,
    ) -> (Judged, Option<Ended>) {
        let ttl_ms = self.ttl_ms;
        let entry = self.entry(hash);
        let cost = access.cost();
        if access.consume {
            // Demand decides which snapshots are worth keeping, leased or not.
            let period = if ttl_ms > 0 { ttl_ms } else { DEFAULT_TTL_MS };
            entry.demand.see(now, period, cost);
        }
        let ended = entry
            .held
            .take_if(|h| now >= h.until || (access.consume && h.left < cost))
            .map(Held::end);
        if let (Some(held), Some(snapshot)) = (&mut entry.held, &entry.snapshot) {
            let record = &snapshot.record;
            // A key with credits is never leased: its snapshot has none.
            let judged = screen(record, None, Opener::Secret(hash), access, verifier, now);
            held.tally(access, judged.as_ref().err().map(|r| &r.error));
            let judged = judged.map(|()| {
                if access.consume {
                    held.left -= cost;
                    held.last_used = Some(now);
                }
                // The lease's units were taken from every limit: those not
                // spent yet are still this isolate's to spend.
                let quotas = held
                    .quotas
                    .iter()
                    .map(|q| Quota {
                        remaining: q.remaining.saturating_add(held.left).min(q.limit),
                        ..*q
                    })
                    .collect();
                // A key with credits is never leased.
                Grant::new(record, quotas, None)
            });
            return (Judged::Local(judged), ended);
        }
        let free = entry
            .asking
            .is_none_or(|t| now >= t.plus_millis(ASK_EXPIRES_MS));
        let lease = match entry.demand.want() {
            Some(want) if ttl_ms > 0 && access.consume && free => {
                entry.asking = Some(now);
                Some(LeaseAsk { want, ttl_ms })
            }
            _ => None,
        };
        let ask = Ask {
            known: entry.snapshot.clone(),
            lease,
            asked_at: now,
        };
        (Judged::Remote(ask), ended)
    }

    /// Takes the object's `answer` to `ask` about `hash`.
    pub fn settle(&mut self, hash: &KeyHash, ask: Ask, answer: Result<Reply, Error>) -> Settled {
        let ttl_ms = self.ttl_ms;
        self.serial += 1;
        let serial = self.serial;
        let entry = self.entry(hash);
        if ask.lease.is_some() {
            entry.asking = None;
        }
        let mut settled = Settled {
            verdict: Err(Error::INTERNAL),
            held: None,
            ended: None,
        };
        let ((quotas, credits, owner_credits), version, record, lease) = match answer {
            Ok(Reply::Granted {
                quotas,
                credits,
                owner_credits,
                version,
                record,
                lease,
            }) => ((quotas, credits, owner_credits), version, record, lease),
            Ok(Reply::Refused {
                error,
                allowed_origins,
                owner,
            }) => {
                if error.kind() == ErrorKind::KeyRevoked {
                    // No need to wait for the lease to run out.
                    settled.ended = entry.held.take().map(Held::end);
                }
                let refusal = Refusal {
                    error,
                    allowed_origins,
                    owner,
                };
                settled.verdict = Ok(Err(refusal));
                return settled;
            }
            Err(error) => {
                settled.verdict = Err(error);
                return settled;
            }
            // Any other reply to an authorize is a bug: fail closed.
            Ok(_) => return settled,
        };
        let (snapshot, known) = match (record, ask.known) {
            (Some(record), _) => {
                let record = Rc::new(*record);
                (Snapshot { version, record }, false)
            }
            (None, Some(known)) if known.version == version => (known, true),
            _ => return settled,
        };
        // Kept for keys with demand, if not too large; answers can overtake
        // each other: keep the newest record, and end a lease lent under an
        // older one.
        let keep = (lease.is_some() || entry.demand.want().is_some()) && (known || snapshot.fits());
        if keep && entry.snapshot.as_ref().is_none_or(|s| s.version <= version) {
            settled.ended = entry.held.take_if(|h| h.version != version).map(Held::end);
            entry.snapshot = Some(snapshot.clone());
        }
        if let Some(lease) = lease {
            let held = Held {
                key: snapshot.record.id.clone(),
                serial,
                version,
                granted_at: lease.granted_at,
                // Never later than the isolate's own clock allows either.
                until: lease.until.min(ask.asked_at.plus_millis(ttl_ms)),
                left: lease.units,
                last_used: None,
                quotas: quotas.clone(),
                owner: lease.owner,
                outcomes: Counts::new(),
                countries: Countries::new(),
            };
            let current = entry
                .snapshot
                .as_ref()
                .is_some_and(|s| s.version == version);
            if current && entry.held.is_none() {
                settled.held = Some((serial, held.until));
                entry.held = Some(held);
            } else {
                settled.ended = Some(held.end());
            }
        }
        settled.verdict = Ok(Ok(Grant {
            owner_credits,
            ..Grant::new(&snapshot.record, quotas, credits)
        }));
        settled
    }

    /// Ends lease `serial` of `hash` if it is still held: what to hand back.
    pub fn expire(&mut self, hash: &KeyHash, serial: u64) -> Option<Ended> {
        let entry = self.entries.get_mut(hash)?;
        entry.held.take_if(|h| h.serial == serial).map(Held::end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystate::testing::{issued, read_costing};
    use crate::keystate::{Command, KeyState};

    const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

    /// One request through the isolate, as the gateway runs it: the
    /// verdict, and whether it was judged here.
    fn request(
        object: &mut KeyState,
        leases: &mut Leases,
        hash: &KeyHash,
        access: &Access,
        verifier: Option<&Actor>,
    ) -> (Result<Grant, Refusal>, bool) {
        match leases.judge(hash, access, verifier, NOW).0 {
            Judged::Local(verdict) => (verdict, true),
            Judged::Remote(ask) => {
                let command = Command::Authorize {
                    hash: hash.clone(),
                    access: access.clone(),
                    verifier: verifier.cloned(),
                    known: ask.known(),
                    lease: ask.lease,
                };
                let answer = object.apply(command, NOW).0;
                let settled = leases.settle(hash, ask, answer);
                (settled.verdict.expect("no storage failure"), false)
            }
        }
    }

    #[test]
    fn verify_spends_lease_units_and_keeps_the_verifiers_reach() {
        let (mut object, hash) = issued(
            r#"{"name":"a","environment":"live","owner_id":"acme","rate_limits":{"per_minute":1000}}"#,
            NOW,
        );
        let mut leases = Leases::new(DEFAULT_TTL_MS);
        // Demand first: the fourth request asks for, and gets, a lease.
        let here: Vec<bool> = (0..6)
            .map(|_| request(&mut object, &mut leases, &hash, &read_costing(1), None).1)
            .collect();
        assert_eq!(here, [false, false, false, false, true, true]);
        let counted = object.activity.usage.minute.count;
        // A verify with cost 3 is judged here and paid from the lease.
        let admin = Some(&Actor::AdminToken);
        let (grant, here) = request(&mut object, &mut leases, &hash, &read_costing(3), admin);
        assert!(here && grant.is_ok());
        assert_eq!(
            object.activity.usage.minute.count, counted,
            "no new units counted"
        );
        // An admin key of another owner does not reach the key, here either.
        let (other, _) = issued(
            r#"{"name":"b","environment":"live","owner_id":"other","scopes":["admin"]}"#,
            NOW,
        );
        let quota = crate::limits::peek(
            &crate::limits::LimitSet::fixed(crate::limits::RateLimits::DEFAULT),
            &Default::default(),
            NOW,
        )
        .unwrap();
        let outsider = Actor::key(&Grant::new(
            other.record.as_ref().unwrap(),
            vec![quota],
            None,
        ));
        let (refused, here) = request(
            &mut object,
            &mut leases,
            &hash,
            &read_costing(1),
            Some(&outsider),
        );
        assert!(here, "judged with the lease's snapshot");
        assert_eq!(
            refused.unwrap_err().error.code(),
            "insufficient_permissions"
        );
    }
}
