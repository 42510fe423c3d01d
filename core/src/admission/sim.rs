//! Many isolates against one key object, on a fake clock: the isolates run
//! [`Leases`] exactly as the gateway does, the object runs [`KeyState`],
//! and the messages between them are delayed, reordered and (returns) lost
//! at random, while isolates die with their leases, the limit is edited and
//! the key is revoked. Over every window it checks that nothing is ever
//! admitted above the limit and that a revocation is never seen later than
//! the lease TTL; at every refusal it checks that the units missing from
//! the limit are exactly units lent and not (yet) spent or handed back,
//! and it reports the worst such shortfall.
//!
//! `cargo test` runs 400,000 steps; `make fuzz` a million (`LEASE_SIM_STEPS`).

use std::collections::{BTreeMap, HashMap};

use super::lease::LeaseReturn;
use super::table::{Ask, Ended, Judged, Leases};
use crate::error::{Detail, Error};
use crate::hash::KeyHash;
use crate::keystate::testing::{issued, read_costing};
use crate::keystate::{Access, Command, KeyAction, KeyState, Reply};
use crate::limits::Tiers;
use crate::policy::actor::Actor;
use crate::time::Timestamp;

/// 2026-11-23T23:55:00Z: five minutes before a day boundary.
const T0: u64 = 1_795_478_100_000;
const MINUTE: u64 = 60_000;

/// SplitMix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    fn upto(&mut self, max: u64) -> u64 {
        self.next() % (max + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.upto(99) < percent
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.upto(from.len() as u64 - 1) as usize]
    }
}

#[allow(clippy::large_enum_variant)] // a test's event queue
enum Event {
    Arrive(usize),
    /// An authorize reaches the object.
    AtObject {
        isolate: usize,
        life: u32,
        ask: Ask,
        access: Access,
    },
    /// Its answer reaches the isolate.
    Answer {
        isolate: usize,
        life: u32,
        ask: Ask,
        answer: Result<Reply, Error>,
    },
    Expire {
        isolate: usize,
        life: u32,
        serial: u64,
    },
    /// A lease return reaches the object.
    Returned(LeaseReturn),
    Crash(usize),
    Edit(u32),
    Revoke,
}

/// What one run saw.
#[derive(Default)]
struct Tally {
    requests: u64,
    admitted: u64,
    local: u64,
    object_calls: u64,
    windows_checked: u64,
    /// Largest share of a limit refused while it sat unspent in leases.
    worst_under: f64,
    /// Largest delay between a revocation and a request admitted after it.
    worst_revocation_ms: u64,
    /// Requests admitted (by a lease) after the key was revoked.
    after_revocation: u64,
}

struct Sim {
    rng: Rng,
    now: u64,
    seq: u64,
    events: BTreeMap<(u64, u64), Event>,
    object: KeyState,
    hash: KeyHash,
    isolates: Vec<Leases>,
    /// Incremented when an isolate dies: messages to its old life are lost.
    lives: Vec<u32>,
    gaps: Vec<u64>,
    ttl_ms: u64,
    latency: u64,
    max_cost: u32,
    /// Per minute window, in units: admitted, the highest limit in force,
    /// lent, and credited back.
    admitted: HashMap<u64, u32>,
    limit_max: HashMap<u64, u32>,
    lent: HashMap<u64, u32>,
    spent: HashMap<u64, u32>,
    credited: HashMap<u64, u32>,
    admitted_today: HashMap<u64, u32>,
    per_minute: u32,
    per_day: u32,
    revoked_at: Option<u64>,
    tally: Tally,
}

/// `message` as the other side reads it: through the JSON the Worker and
/// the object exchange.
fn wire<T: serde::Serialize + serde::de::DeserializeOwned>(message: &T) -> T {
    serde_json::from_str(&serde_json::to_string(message).unwrap()).unwrap()
}

fn window(t: u64) -> u64 {
    t / MINUTE * MINUTE
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng(seed);
        let n = rng.pick(&[1usize, 2, 3, 8, 16, 64]);
        let per_minute = rng.pick(&[5u32, 40, 300, 2_000, 20_000]);
        let per_day = per_minute.saturating_mul(rng.pick(&[1u32, 5, 30, 30]));
        let ttl_ms = rng.pick(&[50u64, 250, 1_000, 2_000]);
        let body = format!(
            r#"{{"name":"sim","environment":"live","rate_limits":{{"per_minute":{per_minute},"per_day":{per_day}}}}}"#
        );
        let (object, hash) = issued(&body, Timestamp::from_millis(T0));
        // The key's total demand (requests/s), shared unevenly.
        let rate = rng.pick(&[5u64, 50, 500]);
        let gaps = (0..n)
            .map(|_| (n as u64 * 1_000 / rate * rng.pick(&[1u64, 3, 10]) / 3).max(1))
            .collect();
        let mut sim = Sim {
            now: T0,
            seq: 0,
            events: BTreeMap::new(),
            object,
            hash,
            isolates: (0..n).map(|_| Leases::new(ttl_ms)).collect(),
            lives: vec![0; n],
            gaps,
            ttl_ms,
            latency: rng.pick(&[0u64, 2, 20, 80]),
            max_cost: rng.pick(&[1u32, 3]),
            admitted: HashMap::new(),
            limit_max: HashMap::new(),
            lent: HashMap::new(),
            spent: HashMap::new(),
            credited: HashMap::new(),
            admitted_today: HashMap::new(),
            per_minute,
            per_day,
            revoked_at: None,
            tally: Tally::default(),
            rng,
        };
        for i in 0..n {
            let at = sim.rng.upto(1_000);
            sim.at(at, Event::Arrive(i));
        }
        for _ in 0..sim.rng.upto(3) {
            let at = sim.rng.upto(3 * MINUTE);
            let limit = sim.rng.pick(&[3u32, 50, 1_000, 30_000]);
            sim.at(at, Event::Edit(limit));
        }
        for _ in 0..sim.rng.upto(2) {
            let (at, who) = (sim.rng.upto(6 * MINUTE), sim.rng.upto(n as u64 - 1));
            sim.at(at, Event::Crash(who as usize));
        }
        if sim.rng.chance(50) {
            let at = sim.rng.upto(MINUTE);
            sim.at(at, Event::Revoke);
        }
        sim
    }

    /// Schedules `event` `delay` ms from now.
    fn at(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.events.insert((self.now + delay, self.seq), event);
    }

    fn lag(&mut self) -> u64 {
        self.rng.upto(self.latency)
    }

    fn ts(&self) -> Timestamp {
        Timestamp::from_millis(self.now)
    }

    fn admit(&mut self, units: u32) {
        let w = window(self.now);
        let limit = self.per_minute;
        let max = self.limit_max.entry(w).or_insert(limit);
        *max = (*max).max(limit);
        *self.admitted.entry(w).or_default() += units;
        *self
            .admitted_today
            .entry(self.now / 86_400_000)
            .or_default() += units;
        self.tally.admitted += 1;
        if let Some(r) = self.revoked_at {
            let late = self.now - r;
            assert!(late <= self.ttl_ms, "admitted {late} ms after revocation");
            self.tally.worst_revocation_ms = self.tally.worst_revocation_ms.max(late);
            self.tally.after_revocation += 1;
        }
    }

    /// An ended lease travels back to the object, unless it is lost.
    fn hand_back(&mut self, ended: Ended) {
        let returned = ended.returned;
        if !self.rng.chance(20) {
            let lag = self.lag();
            self.at(lag, Event::Returned(returned));
        }
    }

    fn run(&mut self, steps: u64) -> u64 {
        let mut taken = 0;
        while taken < steps {
            let Some(((t, _), event)) = self.events.pop_first() else {
                break;
            };
            self.now = t;
            taken += 1;
            self.step(event);
        }
        taken
    }

    fn step(&mut self, event: Event) {
        let hash = self.hash.clone();
        match event {
            Event::Arrive(i) => {
                self.tally.requests += 1;
                let cost = self.rng.upto(u64::from(self.max_cost) - 1) as u32 + 1;
                let access = read_costing(cost);
                let now = self.ts();
                let (judged, ended) = self.isolates[i].judge(&hash, &access, None, now);
                if let Some(returned) = ended {
                    self.hand_back(returned);
                }
                match judged {
                    Judged::Local(Ok(_)) => {
                        self.tally.local += 1;
                        *self.spent.entry(window(self.now)).or_default() += cost;
                        self.admit(cost);
                    }
                    Judged::Local(Err(refusal)) => {
                        assert_eq!(
                            refusal.error,
                            Error::KEY_REVOKED,
                            "only revocation refuses here"
                        );
                    }
                    Judged::Remote(ask) => {
                        let (life, lag) = (self.lives[i], self.lag());
                        self.at(
                            lag,
                            Event::AtObject {
                                isolate: i,
                                life,
                                ask,
                                access,
                            },
                        );
                    }
                }
                // Bursty arrivals: mostly the isolate's pace, sometimes a pause.
                let gap = if self.rng.chance(1) {
                    self.rng.upto(5_000)
                } else {
                    self.rng.upto(2 * self.gaps[i])
                };
                self.at(gap, Event::Arrive(i));
            }
            Event::AtObject {
                isolate,
                life,
                ask,
                access,
            } => {
                self.tally.object_calls += 1;
                let cost = access.cost();
                let command = Command::Authorize {
                    hash,
                    access,
                    verifier: None,
                    known: ask.known(),
                    lease: ask.lease,
                };
                let (answer, _) = self.object.apply(wire(&command), self.ts());
                let answer = wire(&answer);
                let w = window(self.now);
                match &answer {
                    Ok(Reply::Granted { lease, .. }) => {
                        self.admit(cost);
                        if let Some(lease) = lease {
                            *self.lent.entry(w).or_default() += lease.units;
                        }
                    }
                    // The minute refused (not the day, which may end with
                    // it): every unit missing from its limit must sit in a
                    // lease, unspent.
                    Err(e)
                        if matches!(e.detail(), Detail::RateLimit { quota, .. }
                            if quota.reset.as_millis() == w + MINUTE
                                && quota.limit == self.per_minute)
                            && !(w + MINUTE).is_multiple_of(86_400_000) =>
                    {
                        let used = self.admitted.get(&w).copied().unwrap_or(0);
                        let under = self.per_minute.saturating_sub(used);
                        let lent = self.lent.get(&w).copied().unwrap_or(0);
                        let credited = self.credited.get(&w).copied().unwrap_or(0);
                        let local = self.spent.get(&w).copied().unwrap_or(0);
                        let unspent = lent - credited - local;
                        assert!(
                            under < unspent + cost,
                            "window {w}: refused {under} units under the limit, {unspent} in leases"
                        );
                        // What leases cost here (the rest of `under` is a
                        // cost larger than what was left).
                        let held = f64::from(under.min(unspent));
                        self.tally.worst_under = self
                            .tally
                            .worst_under
                            .max(held / f64::from(self.per_minute));
                        self.tally.windows_checked += 1;
                    }
                    _ => {}
                }
                let lag = self.lag();
                self.at(
                    lag,
                    Event::Answer {
                        isolate,
                        life,
                        ask,
                        answer,
                    },
                );
            }
            Event::Answer {
                isolate,
                life,
                ask,
                answer,
            } => {
                if life != self.lives[isolate] {
                    // The isolate died: a lease in flight is lost with it.
                    return;
                }
                let settled = self.isolates[isolate].settle(&hash, ask, answer);
                if let Some(returned) = settled.ended {
                    self.hand_back(returned);
                }
                if let Some((serial, until)) = settled.held {
                    // waitUntil timers fire late, never early.
                    let delay = until.as_millis().saturating_sub(self.now)
                        + self.rng.upto(1_000 + self.ttl_ms);
                    self.at(
                        delay,
                        Event::Expire {
                            isolate,
                            life,
                            serial,
                        },
                    );
                }
            }
            Event::Expire {
                isolate,
                life,
                serial,
            } => {
                if life == self.lives[isolate] {
                    if let Some(returned) = self.isolates[isolate].expire(&hash, serial) {
                        self.hand_back(returned);
                    }
                }
            }
            Event::Returned(returned) => {
                let w = window(self.now);
                let before = self.object.activity.usage.minute;
                let unused = returned.unused;
                let (reply, _) = self
                    .object
                    .apply(wire(&Command::Return { returned }), self.ts());
                assert_eq!(reply, Ok(Reply::Returned));
                let after = self.object.activity.usage.minute;
                let credited = if after.start_ms == w && before.start_ms == w {
                    before.count - after.count
                } else {
                    0
                };
                assert!(credited <= unused, "credited more than was returned");
                *self.credited.entry(w).or_default() += credited;
            }
            Event::Crash(i) => {
                self.isolates[i] = Leases::new(self.ttl_ms);
                self.lives[i] += 1;
            }
            Event::Edit(per_minute) => {
                let patch = format!(
                    r#"{{"rate_limits":{{"per_minute":{per_minute},"per_day":{}}}}}"#,
                    self.per_day
                );
                let action = KeyAction::Update {
                    patch,
                    tiers: Tiers::default(),
                };
                let command = Command::Admin {
                    actor: Actor::AdminToken,
                    action,
                };
                if self.object.apply(command, self.ts()).0.is_ok() {
                    self.per_minute = per_minute;
                    let max = self.limit_max.entry(window(self.now)).or_insert(per_minute);
                    *max = (*max).max(per_minute);
                }
            }
            Event::Revoke => {
                let action = KeyAction::Revoke { reason: None };
                let command = Command::Admin {
                    actor: Actor::AdminToken,
                    action,
                };
                assert!(self.object.apply(command, self.ts()).0.is_ok());
                self.revoked_at = Some(self.now);
            }
        }
    }

    /// The limits over every window this run saw.
    fn check(&self) {
        for (&day, &n) in &self.admitted_today {
            assert!(
                n <= self.per_day,
                "day {day}: admitted {n} > {}",
                self.per_day
            );
        }
        for (&w, &n) in &self.admitted {
            let limit = self.limit_max[&w];
            assert!(n <= limit, "window {w}: admitted {n} units > limit {limit}");
        }
    }
}

#[test]
fn fuzz_leases_never_over_admit_and_revocation_is_never_late() {
    let budget: u64 = std::env::var("LEASE_SIM_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400_000);
    let (mut steps, mut seed) = (0, 0);
    let mut total = Tally::default();
    let mut isolates_seen = (usize::MAX, 0);
    while steps < budget {
        seed += 1;
        let mut sim = Sim::new(seed);
        isolates_seen = (
            isolates_seen.0.min(sim.isolates.len()),
            isolates_seen.1.max(sim.isolates.len()),
        );
        steps += sim.run(10_000.min(budget - steps));
        sim.check();
        let t = &sim.tally;
        total.requests += t.requests;
        total.admitted += t.admitted;
        total.local += t.local;
        total.object_calls += t.object_calls;
        total.windows_checked += t.windows_checked;
        total.worst_under = total.worst_under.max(t.worst_under);
        total.worst_revocation_ms = total.worst_revocation_ms.max(t.worst_revocation_ms);
        total.after_revocation += t.after_revocation;
    }
    println!(
        "lease simulation: {steps} steps, {seed} runs, {}–{} isolates: {} requests, {} admitted \
         ({} by lease, {} object calls), 0 over the limit; {} refusals by the minute limit, at worst {:.1}% of the \
         limit unspent in leases at a refusal; {} admitted by leases after a revocation, at most {} ms after it",
        isolates_seen.0,
        isolates_seen.1,
        total.requests,
        total.admitted,
        total.local,
        total.object_calls,
        total.windows_checked,
        total.worst_under * 100.0,
        total.after_revocation,
        total.worst_revocation_ms,
    );
    assert!(total.local > 0, "leases were used");
    assert!(total.windows_checked > 0, "some windows hit their limit");
}
