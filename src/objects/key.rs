//! `KeyObject`: the Durable Object that owns one key's authoritative record
//! and counters. It loads [`KeyState`] from its SQLite storage once, then
//! for each command: apply (pure) → write what changed → answer.
//!
//! Nothing between reading the state and writing it awaits: SQLite storage
//! in a Durable Object is synchronous, so concurrent requests cannot
//! interleave inside a decision, and the output gate holds each answer until
//! its write is durable. That is what makes "a limit of L admits exactly L"
//! hold under any concurrency.
//!
//! A key whose owner has limits is the one exception: once its own limits
//! admitted a request, the object asks the owner's object, and other
//! requests may be decided meanwhile. They cannot spend the same units —
//! those are already counted — and an owner's refusal takes them back (see
//! [`keygate_core::owner`]).

use std::cell::{Cell, RefCell, RefMut};
use std::time::Duration;

use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State};

use super::client;
use super::rows::{load_state, write_state};
use super::usage_tables::{self, Whose};
use crate::runtime::{http, isolate};
use keygate_core::config::Fault;
use keygate_core::keystate::{Access, Activity, Command, KeyAction, KeyState, Reply, Writes};
use keygate_core::lifecycle::record::salvage;
use keygate_core::owner::{OwnerCommand, OwnerReply, UNBOUND_RECHECK_MS};
use keygate_core::time::Timestamp;
use keygate_core::webhook::Event;

/// What the object answers: the command's reply, or why it was refused.
type Answer = std::result::Result<Reply, keygate_core::error::Error>;

/// One key's Durable Object.
#[durable_object]
pub struct KeyObject {
    state: State,
    env: Env,
    /// The loaded state, and whether its table exists; `None` until first
    /// use, and again after a failed write so the next command starts from
    /// what storage really holds.
    cached: RefCell<Option<(KeyState, bool)>>,
    /// An owner that answered it has no limits, and until when that is
    /// trusted (see [`UNBOUND_RECHECK_MS`]).
    unbound: RefCell<Option<(String, Timestamp)>>,
    /// The usage minute the alarm is set to close.
    alarm_at: Cell<Option<Timestamp>>,
}

/// The stored state, and whether its table exists yet.
/// Rows: `record` (rarely written), `activity` (every admitted request),
/// `idempotency` (credit changes under an `Idempotency-Key`).
fn load(sql: &SqlStorage) -> Result<(KeyState, bool)> {
    load_state(sql, |state: &mut KeyState, name, value| {
        match name {
            "record" => match serde_json::from_str(&value) {
                Ok(record) => state.record = Some(record),
                Err(e) => {
                    // Reported as exactly that; the key stays revocable.
                    // Where, not what: serde's message can quote a stored
                    // value, and the record holds secret hashes.
                    worker::console_error!(
                        "stored key record does not decode (column {})",
                        e.column()
                    );
                    state.record = Some(salvage(&value).ok_or(e)?);
                    state.damaged = true;
                }
            },
            "activity" => state.activity = serde_json::from_str::<Activity>(&value)?,
            "idempotency" => state.idempotency = serde_json::from_str(&value)?,
            _ => {}
        }
        Ok(())
    })
}

impl KeyObject {
    /// The state and whether its table exists, loaded on first use.
    fn loaded(&self) -> Result<RefMut<'_, (KeyState, bool)>> {
        let mut cached = self.cached.borrow_mut();
        if cached.is_none() {
            *cached = Some(load(&self.state.storage().sql())?);
        }
        Ok(RefMut::map(cached, |c| c.as_mut().expect("loaded above")))
    }

    /// Runs `step` on the state (loaded on first use) at `now`,
    /// synchronously, and writes what it changed; when due, reports to the
    /// registry off the path (see [`KeyObject::report`]). Returns the answer.
    fn run<A>(
        &self,
        now: Timestamp,
        step: impl FnOnce(&mut KeyState, Timestamp) -> (A, Writes),
    ) -> Result<A> {
        let sql = self.state.storage().sql();
        let mut loaded = self.loaded()?;
        let (state, table) = &mut *loaded;
        let (answer, writes) = step(state, now);
        let closed = state.take_closed();
        let saved = (|| {
            if !closed.is_empty() {
                usage_tables::write(&sql, &closed, now)?;
            }
            if writes.record {
                let record = state.record.as_ref().expect("a written record exists");
                write_state(&sql, table, "record", record)?;
            }
            if writes.activity {
                write_state(&sql, table, "activity", &state.activity)?;
            }
            if writes.idempotency {
                write_state(&sql, table, "idempotency", &state.idempotency)?;
            }
            Ok::<(), worker::Error>(())
        })();
        if let Err(e) = saved {
            // Memory is ahead of storage now: forget it, and fail the call.
            drop(loaded);
            *self.cached.borrow_mut() = None;
            return Err(e);
        }
        let raised = state.take_raised();
        let Some(record) = &state.record else {
            return Ok(answer);
        };
        if !raised.is_empty() {
            let view = record.view(state.activity.last_used, None, now);
            let events = raised
                .iter()
                .filter_map(|alert| Event::alert(alert, &view, now).ok())
                .collect();
            self.alert(events);
        }
        Ok(answer)
    }

    /// Sets the alarm that closes the open usage minute at its end, unless
    /// one is set for it already.
    async fn alarm_for_open_minute(&self) -> Result<()> {
        let open = self.loaded()?.0.activity.traffic.start;
        let Some(start) = open.filter(|s| self.alarm_at.get() != Some(*s)) else {
            return Ok(());
        };
        // A second after the minute ends, so the alarm finds it past.
        let due = start.as_millis() + 61_000;
        let wait = due.saturating_sub(http::now().as_millis());
        self.state.storage().set_alarm(wait as i64).await?;
        self.alarm_at.set(Some(start));
        Ok(())
    }

    /// [`KeyObject::alarm_for_open_minute`], logging a failure: the answer
    /// is decided and stored already (the minute then closes with the
    /// key's next decision instead).
    async fn arm_alarm(&self) {
        if let Err(e) = self.alarm_for_open_minute().await {
            worker::console_error!("usage alarm not set: {e:?}");
        }
    }

    /// Hands the usage alerts the key raised to the registry's hub, for the
    /// webhook endpoints, off the request's path (a lost one is one
    /// notification less; the key's limits do not depend on it).
    fn alert(&self, events: Vec<Event>) {
        let env = self.env.clone();
        self.state.wait_until(async move {
            if let Err(e) = client::emit(&env, events).await {
                worker::console_error!("usage alert not handed to the hub: {e:?}");
            }
        });
    }

    /// The owner an authorize must also be charged to: the key's owner,
    /// unless that owner said it has no limits less than
    /// [`UNBOUND_RECHECK_MS`] ago.
    fn owner_to_charge(&self, now: Timestamp) -> Result<Option<String>> {
        let (owner, _) = self.record_owner()?;
        let unbound = self.unbound.borrow();
        Ok(owner.filter(|owner| {
            !unbound
                .as_ref()
                .is_some_and(|(o, until)| o == owner && now < *until)
        }))
    }

    /// The key's owner, and its record's version.
    fn record_owner(&self) -> Result<(Option<String>, Option<u64>)> {
        let record = &self.loaded()?.0.record;
        Ok((
            record.as_ref().and_then(|r| r.owner_id.clone()),
            record.as_ref().map(|r| r.version),
        ))
    }

    /// Charges the key's owner for a request this object just admitted,
    /// and settles the answer: a refusal (or no answer) takes the key's
    /// count back (see [`keygate_core::owner`]).
    async fn charge_owner(
        &self,
        owner_id: String,
        access: &Access,
        granted: Reply,
        at: Timestamp,
    ) -> Result<Answer> {
        let charge = OwnerCommand::Charge {
            charge: access.owner_charge(&granted),
        };
        let answer = match isolate::config(&self.env) {
            Ok(config) => client::owner_object(&self.env, &config, &owner_id, &charge).await,
            Err(_) => Err(keygate_core::error::Error::MISCONFIGURED),
        };
        if answer == Ok(OwnerReply::Unbound) {
            let until = http::now().plus_millis(UNBOUND_RECHECK_MS);
            *self.unbound.borrow_mut() = Some((owner_id, until));
        }
        // A settlement never reports a use (the admission already did), but
        // a refusal may close a usage minute.
        self.run(http::now(), |state, now| {
            state.settle(granted, answer, access, at, now)
        })
    }
}

impl DurableObject for KeyObject {
    fn new(state: State, env: Env) -> Self {
        KeyObject {
            state,
            env,
            cached: RefCell::new(None),
            unbound: RefCell::new(None),
            alarm_at: Cell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // serde_json on the text: the runtime's `json()` would hand over a JS
        // object, decoded by a second copy of every decoder (and JS numbers).
        let mut command: Command = serde_json::from_str(&req.text().await?)?;
        let config = isolate::config(&self.env).ok();
        let now = http::now();
        // A request this object admits (by its secret or by a session) is
        // charged to the key's owner too.
        let owner = match &command {
            Command::Authorize { access, .. } | Command::Resume { access, .. } => {
                self.owner_to_charge(now)?.map(|o| (o, access.clone()))
            }
            _ => None,
        };
        let mut give_back = None;
        match (&mut command, &config) {
            (Command::Authorize { lease, .. }, config) => {
                // This deployment's own settings bound what any isolate asks
                // for (one that still runs an older configuration included);
                // without readable settings, nothing is lent.
                *lease = lease.and_then(|ask| ask.within(config.as_ref()?.lease_ttl_ms));
            }
            (Command::Return { returned }, Some(config)) if returned.owner => {
                // The owner's share of an owner-backed lease goes back to the
                // owner, for the record version it was lent under only (as the
                // key's own share does).
                let (owner_id, version) = self.record_owner()?;
                give_back =
                    owner_id
                        .filter(|_| version == Some(returned.version))
                        .map(|owner_id| {
                            let command = OwnerCommand::Return {
                                unused: returned.unused,
                                granted_at: returned.granted_at,
                            };
                            (owner_id, command, config.clone())
                        });
            }
            (
                Command::Admin {
                    action: KeyAction::Update { tiers, .. },
                    ..
                },
                Some(config),
            ) => *tiers = config.tiers.clone(),
            (
                Command::Admin {
                    action: KeyAction::Usage { query, stored },
                    ..
                },
                _,
            ) => *stored = usage_tables::read(&self.state.storage().sql(), Whose::All, query)?,
            // An edit may name a tier: without the configured tiers it
            // cannot be judged, so it is refused rather than misjudged.
            (
                Command::Admin {
                    action: KeyAction::Update { .. },
                    ..
                },
                None,
            ) => {
                let refused: Answer = Err(keygate_core::error::Error::MISCONFIGURED);
                return http::json(200, &refused);
            }
            _ => {}
        }
        if config.is_some_and(|c| c.faults.contains(&Fault::SlowKeyObject)) {
            let stall = Duration::from_millis(client::OBJECT_TIMEOUT_MS + 2_000);
            worker::Delay::from(stall).await;
        }
        let mut answer = self.run(now, |state, now| state.apply(command, now))?;
        if let (Some((owner_id, access)), Ok(granted @ Reply::Granted { .. })) = (owner, &answer) {
            answer = self
                .charge_owner(owner_id, &access, granted.clone(), now)
                .await?;
        }
        if let Some((owner_id, command, config)) = give_back {
            // Off the path, like the return itself: a lost one leaves the
            // owner's window a few units short (never over).
            let env = self.env.clone();
            self.state.wait_until(async move {
                if let Err(e) = client::owner_object(&env, &config, &owner_id, &command).await {
                    worker::console_error!("owner lease return failed: {e:?}");
                }
            });
        }
        self.arm_alarm().await;
        http::json(200, &answer)
    }

    async fn alarm(&self) -> Result<Response> {
        // A fresh isolate: the configuration sets the clock's test offset.
        isolate::config(&self.env).ok();
        self.alarm_at.set(None);
        self.run(http::now(), |state, now| ((), state.close_minute(now)))?;
        // A decision may have opened a new minute since.
        self.arm_alarm().await;
        Response::empty()
    }
}
