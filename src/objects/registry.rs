//! `RegistryObject`: one registry shard (see [`keygate_core::registry`]).
//! Each command about keys runs the pure [`apply`] over the shard's SQLite
//! tables ([`SqlStore`]), and the events it raises are passed on: into the
//! webhook outbox here when this shard is the hub, otherwise into a small
//! outbox of its own that is handed to the hub after the command (retried
//! by alarm), so no event is lost with a failed hand-over. SQLite and
//! synchronous: each command is one atomic step.

use std::cell::Cell;

use wasm_bindgen::JsValue;
use worker::{
    durable_object, BatchMessageBuilder, DurableObject, Env, QueueContentType, RawMessageBuilder,
    Request, Response, Result, SqlStorage, SqlStorageValue, State,
};

use super::client;
use super::registry_store::{self, SqlStore};
use super::rows::rows;
use super::usage_tables::{self, Whose};
use super::webhook_tables;
use crate::runtime::http;
use keygate_core::admin::parse_body;
use keygate_core::analytics::overall::{TopKey, UsagePart, TOP_KEYS};
use keygate_core::analytics::{Granularity, UsageQuery};
use keygate_core::error::Error;
use keygate_core::registry::apply::{apply, prune, PRUNE_BATCH};
use keygate_core::registry::command::{HubCommand, RegistryCommand, RegistryReply, WebhookAction};
use keygate_core::registry::shard::Shard;
use keygate_core::registry::store::RegistryStore;
use keygate_core::registry::store::StoreError;
use keygate_core::time::Timestamp;
use keygate_core::webhook::sign::WebhookSecret;
use keygate_core::webhook::{Event, NewWebhook, WebhookId};

/// The queue webhook deliveries go through (wrangler.toml).
pub const WEBHOOK_QUEUE: &str = "WEBHOOKS";
/// How soon a failed hand-over (to the queue, or to the hub) is tried again.
const OUTBOX_RETRY_MS: i64 = 60_000;
/// Events handed to the hub per call.
const FORWARD_BATCH: usize = 50;
/// How long a shard gathers its events before handing them to the hub: the
/// hub then takes at most one hand-over per shard per second, whatever the
/// rate of admin writes (webhooks arrive up to this much later).
const FORWARD_DELAY_MS: i64 = 1_000;
/// Batches of retention deletes one sweep runs per table, at most.
const PRUNE_ROUNDS: u32 = 10;

/// A non-hub shard's events waiting for the hub.
const FORWARD_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS forward (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL)";

/// One registry shard.
#[durable_object]
pub struct RegistryObject {
    state: State,
    env: Env,
    /// Whether this instance has created (or upgraded) its tables.
    ready: Cell<bool>,
    /// Which shard this is, from the name it is called by (see `fetch`).
    shard: Cell<Option<Shard>>,
    /// Whether deliveries may be waiting to go on the queue (true at
    /// start: a previous instance may have left some).
    outbox: Cell<bool>,
    /// Whether events may be waiting to go to the hub (likewise).
    forward: Cell<bool>,
}

fn text(s: impl Into<String>) -> SqlStorageValue {
    SqlStorageValue::String(s.into())
}

fn store_failed(e: StoreError) -> worker::Error {
    worker::Error::RustError(format!("registry store: {e}"))
}

/// This shard's keys with the most `column` (`requests` or `refused`) over
/// the query's days, most first; keys with none are left out.
fn top_keys(sql: &SqlStorage, query: &UsageQuery, column: &str) -> Result<Vec<TopKey>> {
    let found = rows(sql.exec(
        &format!(
            "SELECT u.key_id, json_extract(k.view, '$.name'), sum(u.requests), sum(u.refused) AS refused
             FROM usage_keys u LEFT JOIN keys k ON k.id = u.key_id
             WHERE u.day >= ? AND u.day <= ? GROUP BY u.key_id
             HAVING sum(u.{column}) > 0 ORDER BY sum(u.{column}) DESC, u.key_id LIMIT {TOP_KEYS}"
        ),
        vec![
            (Granularity::Day.floor(query.from).as_millis() as i64).into(),
            (query.to.as_millis() as i64).into(),
        ],
    )?)?;
    found
        .into_iter()
        .map(|row| {
            Ok(TopKey {
                key_id: row.text(0)?,
                name: row.opt_text(1)?,
                requests: row.int(2)?.max(0) as u64,
                refused: row.int(3)?.max(0) as u64,
            })
        })
        .collect()
}

impl RegistryObject {
    fn is_hub(&self) -> bool {
        self.shard.get().unwrap_or(Shard::HUB) == Shard::HUB
    }

    /// Creates or upgrades the tables, once per instance.
    fn prepare(&self, sql: &SqlStorage) -> Result<()> {
        if !self.ready.get() {
            registry_store::migrate(sql)?;
            // Which shard this is, kept for an alarm that wakes a fresh instance.
            match self.shard.get() {
                Some(shard) => {
                    sql.exec(
                        "INSERT OR IGNORE INTO meta (name, value) VALUES ('shard', ?)",
                        vec![i64::from(shard.index()).into()],
                    )?;
                }
                None => {
                    let found =
                        rows(sql.exec("SELECT value FROM meta WHERE name = 'shard'", None)?)?;
                    let index = found.first().map_or(Ok(0), |r| r.int(0))?;
                    self.shard
                        .set(Shard::new(index as u16).or(Some(Shard::HUB)));
                }
            }
            let tables = [
                webhook_tables::SCHEMA,
                usage_tables::SCHEMA,
                usage_tables::OWNER_SCHEMA,
                &[FORWARD_SCHEMA],
            ];
            for statement in tables.concat() {
                sql.exec(statement, None)?;
            }
            self.ready.set(true);
        }
        Ok(())
    }

    /// Passes `events` on: to the endpoints' deliveries on the hub, to the
    /// hub's hand-over outbox elsewhere.
    fn emit(&self, sql: &SqlStorage, events: Vec<Event>, now: Timestamp) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        if self.is_hub() {
            if webhook_tables::emit(sql, &events, None, now)?.is_some() {
                self.outbox.set(true);
            }
            return Ok(());
        }
        for event in &events {
            sql.exec(
                "INSERT INTO forward (event) VALUES (?)",
                vec![text(serde_json::to_string(event)?)],
            )?;
        }
        self.forward.set(true);
        Ok(())
    }

    fn run(&self, sql: &SqlStorage, command: RegistryCommand) -> Result<RegistryReply> {
        self.prepare(sql)?;
        let now = http::now();
        let command = match command {
            RegistryCommand::Index(command) => {
                let applied = apply(command, now, &mut SqlStore { sql }).map_err(store_failed)?;
                self.emit(sql, applied.events, now)?;
                return Ok(applied.reply);
            }
            RegistryCommand::Hub(command) => command,
        };
        match command {
            HubCommand::Report {
                touch,
                usage,
                alerts,
            } => {
                let store = SqlStore { sql };
                let mut events = Vec::new();
                for (id, alert) in &alerts {
                    if let Some(entry) = store.entry(id).map_err(store_failed)? {
                        let event = Event::alert(alert, &entry.view, now)
                            .map_err(|e| worker::Error::RustError(e.to_string()))?;
                        events.push(event);
                    }
                }
                self.emit(sql, events, now)?;
                for (id, last_used) in touch.iter().chain(&usage.touches) {
                    sql.exec(
                        "UPDATE keys SET last_used = max(coalesce(last_used, 0), ?) WHERE id = ?",
                        vec![(last_used.as_millis() as i64).into(), text(id.as_str())],
                    )?;
                }
                if !usage.is_empty() {
                    usage_tables::write_overall(sql, &usage, now)?;
                }
                Ok(RegistryReply::Done)
            }
            HubCommand::Webhooks { action, permit: _ } => self.webhooks(sql, action, now),
            HubCommand::Emit { events } => {
                self.emit(sql, events, now)?;
                Ok(RegistryReply::Done)
            }
            HubCommand::Claim { delivery } => Ok(RegistryReply::Claimed {
                outgoing: webhook_tables::claim(sql, delivery, now)?,
            }),
            HubCommand::Attempted {
                delivery,
                number,
                attempt,
                next,
            } => Ok(
                match webhook_tables::attempted(sql, delivery, number, &attempt, next, now)? {
                    true => RegistryReply::Done,
                    false => RegistryReply::Refused {
                        error: Error::NOT_FOUND,
                    },
                },
            ),
            HubCommand::Sweep => {
                let mut store = SqlStore { sql };
                for _ in 0..PRUNE_ROUNDS {
                    let audit = prune(now, &mut store).map_err(store_failed)?;
                    let deliveries = webhook_tables::prune(sql, now, PRUNE_BATCH)?;
                    if audit < PRUNE_BATCH && deliveries < PRUNE_BATCH {
                        break;
                    }
                }
                let requeued = match self.is_hub() {
                    true => webhook_tables::requeue_overdue(sql, now)?,
                    false => 0,
                };
                let events = webhook_tables::expiry_events(sql, now)?;
                let notices = events.len() as u64;
                self.emit(sql, events, now)?;
                // Rows a failed hand-over left unsent are sent now too.
                self.outbox.set(true);
                self.forward.set(true);
                Ok(RegistryReply::Swept { notices, requeued })
            }
            HubCommand::OwnerUsage { owner_id, query } => {
                let keys = rows(sql.exec(
                    "SELECT count(*) FROM keys WHERE owner_id = ? AND state = 'live'",
                    vec![text(owner_id.as_str())],
                )?)?;
                Ok(RegistryReply::OwnerUsage {
                    stored: usage_tables::read(sql, Whose::Owner(&owner_id), &query)?,
                    keys: keys.first().map_or(Ok(0), |r| r.int(0))? as u64,
                })
            }
            HubCommand::Usage { query, permit: _ } => Ok(RegistryReply::Usage(UsagePart {
                stored: usage_tables::read(sql, Whose::All, &query)?,
                by_requests: top_keys(sql, &query, "requests")?,
                by_refusals: top_keys(sql, &query, "refused")?,
            })),
        }
    }
}

impl RegistryObject {
    /// The webhook endpoints' admin commands, answered whole.
    fn webhooks(
        &self,
        sql: &SqlStorage,
        action: WebhookAction,
        now: Timestamp,
    ) -> Result<RegistryReply> {
        let answer = |status: u16, data: serde_json::Value| -> Result<RegistryReply> {
            Ok(RegistryReply::Answer {
                status,
                body: serde_json::json!({ "data": data }).to_string(),
            })
        };
        let refused = |error: Error| Ok(RegistryReply::Refused { error });
        let found =
            |id: &WebhookId| -> Result<bool> { Ok(webhook_tables::get(sql, id)?.is_some()) };
        let drawn = |e: getrandom::Error| worker::Error::RustError(e.to_string());
        match action {
            WebhookAction::Create { body } => {
                let new: NewWebhook = match parse_body(body.as_bytes()) {
                    Ok(new) => new,
                    Err(error) => return refused(error),
                };
                let webhook = match new.into_webhook(WebhookId::generate().map_err(drawn)?, now) {
                    Ok(webhook) => webhook,
                    Err(error) => return refused(error),
                };
                let secret = WebhookSecret::generate().map_err(drawn)?;
                if let Some(error) = webhook_tables::create(sql, &webhook, &secret.to_hex())? {
                    return refused(error);
                }
                let mut data = serde_json::to_value(&webhook)?;
                // The one answer that shows the secret.
                data["secret"] = secret.to_text().into();
                answer(201, data)
            }
            WebhookAction::List => answer(200, serde_json::to_value(webhook_tables::list(sql)?)?),
            WebhookAction::Get { id } => match webhook_tables::get(sql, &id)? {
                Some(webhook) => answer(200, serde_json::to_value(webhook)?),
                None => refused(Error::NOT_FOUND),
            },
            WebhookAction::Delete { id } => match webhook_tables::delete(sql, &id)? {
                true => answer(200, serde_json::json!({ "id": id, "deleted": true })),
                false => refused(Error::NOT_FOUND),
            },
            WebhookAction::Test { id } => {
                if !found(&id)? {
                    return refused(Error::NOT_FOUND);
                }
                let event = Event::test(id.as_str(), now).map_err(drawn)?;
                let event_id = event.id.clone();
                let delivery = webhook_tables::emit(sql, &[event], Some(&id), now)?;
                self.outbox.set(true);
                answer(
                    202,
                    serde_json::json!({ "event_id": event_id, "delivery_id": delivery }),
                )
            }
            WebhookAction::Deliveries { id } => {
                if !found(&id)? {
                    return refused(Error::NOT_FOUND);
                }
                answer(
                    200,
                    serde_json::to_value(webhook_tables::deliveries(sql, &id)?)?,
                )
            }
        }
    }

    /// Hands this shard's waiting events to the hub, oldest first; a
    /// failed hand-over keeps them and sets an alarm to try again.
    async fn forward(&self) {
        while self.forward.get() {
            let sql = self.state.storage().sql();
            let waiting = sql
                .exec(
                    &format!("SELECT seq, event FROM forward ORDER BY seq LIMIT {FORWARD_BATCH}"),
                    None,
                )
                .and_then(rows)
                .and_then(|found| {
                    found
                        .iter()
                        .map(|r| Ok((r.int(0)?, serde_json::from_str::<Event>(&r.text(1)?)?)))
                        .collect::<Result<Vec<_>>>()
                });
            let waiting = match waiting {
                Ok(waiting) => waiting,
                Err(e) => {
                    worker::console_error!("registry events unreadable: {e}");
                    return;
                }
            };
            if waiting.len() < FORWARD_BATCH {
                self.forward.set(false);
            }
            let Some(&(last, _)) = waiting.last() else {
                return;
            };
            let events = waiting.into_iter().map(|(_, e)| e).collect();
            let handed = match client::emit(&self.env, events).await {
                Ok(()) => sql
                    .exec("DELETE FROM forward WHERE seq <= ?", vec![last.into()])
                    .map(|_| ()),
                Err(e) => Err(worker::Error::RustError(format!("{e:?}"))),
            };
            if let Err(e) = handed {
                worker::console_error!(
                    "registry events not handed to the hub, retrying in a minute: {e}"
                );
                self.forward.set(false);
                if let Err(e) = self.state.storage().set_alarm(OUTBOX_RETRY_MS).await {
                    worker::console_error!("registry events alarm not set: {e}");
                }
                return;
            }
        }
    }

    /// Puts waiting deliveries on the queue (see [`keygate_core::webhook`]). A
    /// failed hand-over leaves them in the outbox and sets an alarm to try
    /// again; the request that made them is answered either way.
    async fn flush(&self) {
        while self.outbox.get() {
            let sql = self.state.storage().sql();
            let unsent = match webhook_tables::unsent(&sql, http::now()) {
                Ok(unsent) => unsent,
                Err(e) => {
                    worker::console_error!("webhook outbox unreadable: {e}");
                    return;
                }
            };
            if unsent.len() < webhook_tables::QUEUE_BATCH {
                self.outbox.set(false);
            }
            if unsent.is_empty() {
                return;
            }
            let messages = unsent.iter().map(|(id, wait)| {
                RawMessageBuilder::new(JsValue::from_f64(*id as f64))
                    .delay_seconds(*wait)
                    .build_with_content_type(QueueContentType::Json)
            });
            let batch = BatchMessageBuilder::new().messages(messages).build();
            // Marked before the send: a command that runs while it is on
            // its way must not send the same rows again.
            let ids: Vec<u64> = unsent.iter().map(|(id, _)| *id).collect();
            let sent = match webhook_tables::mark_queued(&sql, &ids, true) {
                Ok(()) => match self.env.queue(WEBHOOK_QUEUE) {
                    Ok(queue) => queue.send_raw_batch(batch).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                if let Err(e) = webhook_tables::mark_queued(&sql, &ids, false) {
                    worker::console_error!("webhook outbox not restored: {e}");
                }
                worker::console_error!("webhook deliveries not queued, retrying in a minute: {e}");
                self.outbox.set(false);
                if let Err(e) = self.state.storage().set_alarm(OUTBOX_RETRY_MS).await {
                    worker::console_error!("webhook outbox alarm not set: {e}");
                }
                return;
            }
        }
    }
}

impl RegistryObject {
    /// Whatever a command left waiting: deliveries on the hub are queued
    /// at once; events elsewhere go to the hub by the alarm, gathered for
    /// [`FORWARD_DELAY_MS`].
    async fn deliver(&self) {
        if self.is_hub() {
            self.flush().await;
        } else if self.forward.replace(false) {
            self.forward_soon().await;
        }
    }

    /// Sets the alarm to hand events over in [`FORWARD_DELAY_MS`], unless
    /// it is due sooner (moving it later each time would starve it under
    /// steady writes).
    async fn forward_soon(&self) {
        let storage = self.state.storage();
        let due = http::now().as_millis() + FORWARD_DELAY_MS.unsigned_abs();
        let result = match storage.get_alarm().await {
            Ok(Some(at)) if u64::try_from(at).is_ok_and(|at| at <= due) => Ok(()),
            Ok(_) => storage.set_alarm(FORWARD_DELAY_MS).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // Not lost: the next command or the cron sweep tries again.
            self.forward.set(true);
            worker::console_error!("registry events alarm not set: {e}");
        }
    }
}

impl DurableObject for RegistryObject {
    fn new(state: State, env: Env) -> Self {
        RegistryObject {
            state,
            env,
            ready: Cell::new(false),
            outbox: Cell::new(true),
            forward: Cell::new(true),
            shard: Cell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // The client calls a shard at its object's name (`/registry-3`).
        if self.shard.get().is_none() {
            self.shard.set(Some(Shard::from_object_name(
                req.path().trim_start_matches('/'),
            )));
        }
        let command: RegistryCommand = serde_json::from_str(&req.text().await?)?;
        let reply = self.run(&self.state.storage().sql(), command)?;
        self.deliver().await;
        http::json(200, &reply)
    }

    async fn alarm(&self) -> Result<Response> {
        // Tables first: a fresh instance may not have created them yet.
        self.prepare(&self.state.storage().sql())?;
        if self.is_hub() {
            self.outbox.set(true);
            self.flush().await;
        } else {
            self.forward.set(true);
            self.forward().await;
        }
        Response::empty()
    }
}
