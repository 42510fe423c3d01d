//! `KeyObject`: the Durable Object that owns one key's authoritative record
//! and counters. It loads [`KeyState`] from its SQLite storage once, then
//! for each command: apply (pure) → write what changed → answer.
//!
//! Nothing between reading the state and writing it awaits: SQLite storage
//! in a Durable Object is synchronous, so concurrent requests cannot
//! interleave inside a decision, and the output gate holds each answer until
//! its write is durable. That is what makes "a limit of L admits exactly L"
//! hold under any concurrency.

use std::cell::RefCell;
use std::time::Duration;

use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State};

use super::rows::rows;
use super::{http, store};
use crate::config::Fault;
use crate::keystate::{Activity, Command, KeyAction, KeyState, Reply};
use crate::lifecycle::record::salvage;
use crate::lifecycle::registry::RegistryCommand;

/// Storage rows: `record` (rarely written) and `activity` (every admitted
/// request), so the hot path rewrites only a few bytes.
const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL)";

/// What the object answers: the command's reply, or why it was refused.
type Answer = std::result::Result<Reply, crate::error::Error>;

/// One key's Durable Object.
#[durable_object]
pub struct KeyObject {
    state: State,
    env: Env,
    /// The loaded state, and whether its table exists; `None` until first
    /// use, and again after a failed write so the next command starts from
    /// what storage really holds.
    cached: RefCell<Option<(KeyState, bool)>>,
}

/// The stored state, and whether its table exists yet.
fn load(sql: &SqlStorage) -> Result<(KeyState, bool)> {
    // An object asked about a key it never had (an unknown id) reads
    // nothing and writes nothing, so it leaves no storage behind.
    let exists = rows(sql.exec(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'state'",
        None,
    )?)?;
    if exists.is_empty() {
        return Ok((KeyState::default(), false));
    }
    let mut state = KeyState::default();
    for row in rows(sql.exec("SELECT name, value FROM state", None)?)? {
        let value = row.text(1)?;
        match row.text(0)?.as_str() {
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
    }
    Ok((state, true))
}

fn save(sql: &SqlStorage, name: &str, value: String) -> Result<()> {
    sql.exec(
        "INSERT OR REPLACE INTO state (name, value) VALUES (?, ?)",
        vec![name.into(), value.into()],
    )?;
    Ok(())
}

impl KeyObject {
    /// Applies one command to the state, synchronously. Returns the answer
    /// and, when due, the registry update to send after answering.
    fn run(&self, command: Command) -> Result<(Answer, Option<RegistryCommand>)> {
        let sql = self.state.storage().sql();
        let mut cached = self.cached.borrow_mut();
        if cached.is_none() {
            *cached = Some(load(&sql)?);
        }
        let (state, table) = cached.as_mut().expect("loaded above");
        let (answer, writes) = state.apply(command, http::now());
        let saved = (|| {
            if (writes.record || writes.activity || writes.idempotency) && !*table {
                sql.exec(SCHEMA, None)?;
                *table = true;
            }
            if writes.record {
                let record = state.record.as_ref().expect("a written record exists");
                save(&sql, "record", serde_json::to_string(record)?)?;
            }
            if writes.activity {
                save(&sql, "activity", serde_json::to_string(&state.activity)?)?;
            }
            if writes.idempotency {
                save(
                    &sql,
                    "idempotency",
                    serde_json::to_string(&state.idempotency)?,
                )?;
            }
            Ok::<(), worker::Error>(())
        })();
        if let Err(e) = saved {
            // Memory is ahead of storage now: forget it, and fail the call.
            *cached = None;
            return Err(e);
        }
        let touch = match (&state.record, writes.report, state.activity.last_used) {
            (Some(record), true, Some(last_used)) => Some(RegistryCommand::Touch {
                id: record.id.clone(),
                last_used,
            }),
            _ => None,
        };
        Ok((answer, touch))
    }
}

impl DurableObject for KeyObject {
    fn new(state: State, env: Env) -> Self {
        KeyObject {
            state,
            env,
            cached: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // serde_json on the text: the runtime's `json()` would hand over a JS
        // object, decoded by a second copy of every decoder (and JS numbers).
        let mut command: Command = serde_json::from_str(&req.text().await?)?;
        let config = super::config(&self.env).ok();
        match (&mut command, &config) {
            (Command::Authorize { lease, .. }, Some(config)) => {
                // This deployment's own settings bound what any isolate asks
                // for (one that still runs an older configuration included).
                *lease = lease.and_then(|ask| ask.within(config.lease_ttl_ms));
            }
            (
                Command::Admin {
                    action: KeyAction::Update { tiers, .. },
                    ..
                },
                Some(config),
            ) => *tiers = config.tiers.clone(),
            _ => {}
        }
        if config.is_some_and(|c| c.faults.contains(&Fault::SlowKeyObject)) {
            let stall = Duration::from_millis(store::OBJECT_TIMEOUT_MS + 2_000);
            worker::Delay::from(stall).await;
        }
        let (answer, touch) = self.run(command)?;
        if let Some(touch) = touch {
            // Off the request's path: the answer does not wait for it, and a
            // lost report only makes a listing's `last_used` a minute staler.
            let env = self.env.clone();
            self.state.wait_until(async move {
                if let Err(e) = store::registry(&env, &touch).await {
                    worker::console_error!("last-use report failed: {e:?}");
                }
            });
        }
        http::json(200, &answer)
    }
}
