//! `RegistryObject`: the single Durable Object that indexes every key (see
//! [`keygate_core::lifecycle::registry`] for its role and write order). SQLite, synchronous:
//! each command is one atomic step.

use std::cell::Cell;

use wasm_bindgen::JsValue;
use worker::{
    durable_object, BatchMessageBuilder, DurableObject, Env, QueueContentType, RawMessageBuilder,
    Request, Response, Result, SqlStorage, SqlStorageValue, State,
};

use super::rows::rows;
use super::{usage_tables, webhook_tables};
use crate::runtime::http;
use keygate_core::admin::parse_body;
use keygate_core::analytics::overall::{overall_series, TopKey, TOP_KEYS};
use keygate_core::analytics::{Granularity, UsageQuery};
use keygate_core::error::Error;
use keygate_core::hash::KeyHash;
use keygate_core::key::KeyId;
use keygate_core::lifecycle::list::SqlArg;
use keygate_core::lifecycle::record::KeyView;
use keygate_core::lifecycle::registry::Change;
use keygate_core::lifecycle::registry::{
    AuditEntry, PageMeta, RegistryCommand, RegistryReply, WebhookAction, AUDIT_RETENTION_MS,
};
use keygate_core::policy::actor::Actor;
use keygate_core::time::Timestamp;
use keygate_core::webhook::sign::WebhookSecret;
use keygate_core::webhook::{Event, EventType, NewWebhook, WebhookId};

/// The queue webhook deliveries go through (wrangler.toml).
pub const WEBHOOK_QUEUE: &str = "WEBHOOKS";
/// How soon a failed hand-over to the queue is tried again.
const OUTBOX_RETRY_MS: i64 = 60_000;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS keys (
        id TEXT PRIMARY KEY, state TEXT NOT NULL, created_at INTEGER NOT NULL,
        environment TEXT NOT NULL, type TEXT NOT NULL, owner_id TEXT, search TEXT NOT NULL,
        revoked INTEGER NOT NULL, expires_at INTEGER, last_used INTEGER, view TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS keys_newest ON keys (created_at DESC)",
    "CREATE TABLE IF NOT EXISTS secrets (hash TEXT PRIMARY KEY, key_id TEXT NOT NULL)",
    // Earlier versions kept the admin guard here; it has its own objects now.
    "DROP TABLE IF EXISTS guard",
    "CREATE TABLE IF NOT EXISTS audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, key_id TEXT NOT NULL, detail TEXT)",
];

/// The key registry.
#[durable_object]
pub struct RegistryObject {
    state: State,
    env: Env,
    /// Whether this instance has created its tables.
    ready: Cell<bool>,
    /// Whether deliveries may be waiting to go on the queue (true at
    /// start: a previous instance may have left some).
    outbox: Cell<bool>,
}

/// An event about the key `id` as the registry has it, if it is there.
fn key_event(
    sql: &SqlStorage,
    id: &str,
    make: impl FnOnce(&KeyView) -> std::result::Result<Event, getrandom::Error>,
) -> Result<Option<Event>> {
    let found = rows(sql.exec("SELECT view FROM keys WHERE id = ?", vec![text(id)])?)?;
    let Some(row) = found.first() else {
        return Ok(None);
    };
    let view: KeyView = serde_json::from_str(&row.text(0)?)?;
    make(&view)
        .map(Some)
        .map_err(|e| worker::Error::RustError(e.to_string()))
}

fn arg(a: SqlArg) -> SqlStorageValue {
    match a {
        SqlArg::Text(t) => t.into(),
        SqlArg::Int(i) => i.into(),
    }
}

fn text(s: impl Into<String>) -> SqlStorageValue {
    SqlStorageValue::String(s.into())
}

fn opt_int(v: Option<u64>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, |n| (n as i64).into())
}

/// Maps each hash to `id`, for lookups by leaked value.
fn add_secrets(sql: &SqlStorage, id: &KeyId, hashes: &[KeyHash]) -> Result<()> {
    for hash in hashes {
        sql.exec(
            "INSERT OR IGNORE INTO secrets (hash, key_id) VALUES (?, ?)",
            vec![text(hash.as_str()), text(id.as_str())],
        )?;
    }
    Ok(())
}

/// The row columns derived from a view, in `SET`/`INSERT` order.
fn columns(key: &KeyView) -> Result<Vec<SqlStorageValue>> {
    let search = format!(
        "{} {} {}",
        key.name,
        key.description.as_deref().unwrap_or(""),
        key.id
    )
    // ASCII only, as the query is: Unicode case tables cost ~8 KiB of wasm.
    .to_ascii_lowercase();
    Ok(vec![
        text(key.environment.as_str()),
        text(key.key_type.as_str()),
        key.owner_id.clone().map_or(SqlStorageValue::Null, text),
        text(search),
        i64::from(key.revoked_at.is_some()).into(),
        opt_int(key.expires_at.map(|t| t.as_millis())),
        text(serde_json::to_string(key)?),
    ])
}

/// The keys with the most `column` (`requests` or `refused`) over the
/// query's days, most first; keys with none are left out.
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
    fn run(&self, sql: &SqlStorage, command: RegistryCommand) -> Result<RegistryReply> {
        if !self.ready.get() {
            let tables = [SCHEMA, webhook_tables::SCHEMA, usage_tables::SCHEMA];
            for statement in tables.concat() {
                sql.exec(statement, None)?;
            }
            self.ready.set(true);
        }
        let now = http::now();
        // Events are made only when an endpoint would receive them.
        let emit = |events: Vec<Option<Event>>| -> Result<()> {
            let events: Vec<Event> = events.into_iter().flatten().collect();
            if webhook_tables::emit(sql, &events, None, now)?.is_some() {
                self.outbox.set(true);
            }
            Ok(())
        };
        let hooked = || webhook_tables::any(sql);
        let audit = |actor: &str, action: &str, id: &str, detail: Option<String>| -> Result<()> {
            sql.exec(
                "INSERT INTO audit (at, actor, action, key_id, detail) VALUES (?, ?, ?, ?, ?)",
                vec![
                    (now.as_millis() as i64).into(),
                    text(actor),
                    text(action),
                    text(id),
                    detail.map_or(SqlStorageValue::Null, text),
                ],
            )?;
            sql.exec(
                "DELETE FROM audit WHERE at < ?",
                vec![(now.as_millis().saturating_sub(AUDIT_RETENTION_MS) as i64).into()],
            )?;
            Ok(())
        };
        match command {
            RegistryCommand::Insert { key, hashes, actor } => {
                let mut values = vec![
                    text(key.id.as_str()),
                    (key.created_at.as_millis() as i64).into(),
                ];
                values.extend(columns(&key)?);
                sql.exec(
                    "INSERT INTO keys (id, created_at, environment, type, owner_id, search, revoked, expires_at, view, state)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                    values,
                )?;
                add_secrets(sql, &key.id, &hashes)?;
                audit(&actor, "create", key.id.as_str(), None)?;
                Ok(RegistryReply::Done)
            }
            RegistryCommand::Confirm { id } => {
                sql.exec(
                    "UPDATE keys SET state = 'live' WHERE id = ?",
                    vec![text(id.as_str())],
                )?;
                if hooked()? {
                    emit(vec![key_event(sql, id.as_str(), |view| {
                        Event::about_key(EventType::KeyCreated, view, serde_json::json!({}), now)
                    })?])?;
                }
                Ok(RegistryReply::Done)
            }
            RegistryCommand::Update {
                key,
                hashes,
                action,
                actor,
                detail,
            } => {
                // Revoking is idempotent: a repeat changes nothing to tell.
                let revoked_before = !rows(sql.exec(
                    "SELECT 1 FROM keys WHERE id = ? AND revoked = 1",
                    vec![text(key.id.as_str())],
                )?)?
                .is_empty();
                let repeated =
                    revoked_before && matches!(action, Change::Revoke | Change::RevokeLeaked);
                let mut values = columns(&key)?;
                values.push(text(key.id.as_str()));
                sql.exec(
                    "UPDATE keys SET environment = ?, type = ?, owner_id = ?, search = ?, revoked = ?, expires_at = ?, view = ?
                     WHERE id = ?",
                    values,
                )?;
                add_secrets(sql, &key.id, &hashes)?;
                if !repeated && hooked()? {
                    let fields = match (action, &detail) {
                        (Change::RevokeLeaked, Some(found)) => {
                            serde_json::json!({ "where": found })
                        }
                        (Change::Revoke, _) => serde_json::json!({ "reason": key.revoked_reason }),
                        (change, _) => serde_json::json!({ "change": change.as_str() }),
                    };
                    let event = Event::about_key(action.event(), &key, fields, now)
                        .map_err(|e| worker::Error::RustError(e.to_string()))?;
                    emit(vec![Some(event)])?;
                }
                audit(&actor, action.as_str(), key.id.as_str(), detail)?;
                Ok(RegistryReply::Done)
            }
            RegistryCommand::Report {
                touch,
                usage,
                alerts,
            } => {
                if !alerts.is_empty() && hooked()? {
                    let events = alerts
                        .iter()
                        .map(|(id, alert)| {
                            key_event(sql, id.as_str(), |view| Event::alert(alert, view, now))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    emit(events)?;
                }
                if let Some((id, last_used)) = touch {
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
            RegistryCommand::Webhooks { action, permit: _ } => self.webhooks(sql, action, now),
            RegistryCommand::Claim { delivery } => Ok(RegistryReply::Claimed {
                outgoing: webhook_tables::claim(sql, delivery, now)?,
            }),
            RegistryCommand::Attempted {
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
            RegistryCommand::Sweep => {
                let requeued = webhook_tables::requeue_overdue(sql, now)?;
                let mut notices = 0;
                if hooked()? {
                    let events = webhook_tables::expiry_events(sql, now)?;
                    notices = events.len() as u64;
                    emit(events.into_iter().map(Some).collect())?;
                }
                // Rows a failed hand-over left unsent are sent now too.
                self.outbox.set(true);
                Ok(RegistryReply::Swept { notices, requeued })
            }
            RegistryCommand::Usage { query, permit: _ } => {
                let stored = usage_tables::read(sql, &query)?;
                let by_requests = top_keys(sql, &query, "requests")?;
                let by_refusals = top_keys(sql, &query, "refused")?;
                let usage = overall_series(&query, &stored, &by_requests, &by_refusals);
                Ok(RegistryReply::Usage { usage })
            }
            RegistryCommand::List { mut query, actor } => {
                // A key actor only ever sees its own environment and owner:
                // narrow in SQL before the rule runs on each row.
                if let Actor::Key { bounds, .. } = &actor {
                    query = query.within(&bounds.environment, bounds.owner_id.as_deref());
                }
                let (filter, args) = query.filter(now);
                let args: Vec<SqlStorageValue> = args.into_iter().map(arg).collect();
                let today = Granularity::Day.floor(now).as_millis() as i64;
                let select = |limit: &str, args: Vec<SqlStorageValue>, extra: Vec<i64>| {
                    // Today's requests as the key objects have reported them
                    // (each reports a minute's counts once the minute ends).
                    let mut bound = vec![SqlStorageValue::from(today)];
                    bound.extend(args);
                    bound.extend(extra.into_iter().map(SqlStorageValue::from));
                    let found = rows(sql.exec(
                        &format!(
                            "SELECT view, last_used, (SELECT requests FROM usage_keys u
                                 WHERE u.key_id = keys.id AND u.day = ?)
                             FROM keys WHERE {filter}
                             ORDER BY created_at DESC, rowid DESC {limit}"
                        ),
                        bound,
                    )?)?;
                    found
                        .into_iter()
                        .map(|row| {
                            let mut view: KeyView = serde_json::from_str(&row.text(0)?)?;
                            view.refresh(
                                row.opt_int(1)?.map(|ms| Timestamp::from_millis(ms as u64)),
                                now,
                            );
                            view.requests_today = Some(row.opt_int(2)?.unwrap_or(0) as u64);
                            Ok(view)
                        })
                        .collect::<Result<Vec<KeyView>>>()
                };
                let (total, data) = match &actor {
                    // The admin token sees every key: count and page in SQL.
                    Actor::AdminToken => {
                        let counted = rows(sql.exec(
                            &format!("SELECT count(*) FROM keys WHERE {filter}"),
                            args.clone(),
                        )?)?;
                        let total = counted.first().map_or(Ok(0), |row| row.int(0))? as u64;
                        let page = vec![i64::from(query.per_page), query.offset() as i64];
                        (total, select("LIMIT ? OFFSET ?", args, page)?)
                    }
                    // A key actor sees only keys within it: the rule runs
                    // on each row, then the page is cut from what is left.
                    Actor::Key { .. } => {
                        let visible: Vec<KeyView> = select("", args, vec![])?
                            .into_iter()
                            .filter(|v| actor.sees(v))
                            .collect();
                        (visible.len() as u64, query.page_of(visible))
                    }
                };
                let meta = PageMeta {
                    total,
                    page: query.page,
                    per_page: query.per_page,
                };
                Ok(RegistryReply::Page { data, meta })
            }
            RegistryCommand::Audit { id } => {
                let trail = rows(sql.exec(
                    "SELECT at, actor, action, detail FROM audit WHERE key_id = ? AND at >= ? ORDER BY seq DESC",
                    vec![
                        text(id.as_str()),
                        (now.as_millis().saturating_sub(AUDIT_RETENTION_MS) as i64).into(),
                    ],
                )?)?;
                let entries = trail
                    .into_iter()
                    .map(|r| {
                        Ok(AuditEntry {
                            at: Timestamp::from_millis(r.int(0)? as u64),
                            actor: r.text(1)?,
                            action: r.text(2)?,
                            detail: r.opt_text(3)?,
                        })
                    })
                    .collect::<Result<_>>()?;
                Ok(RegistryReply::Trail { entries })
            }
            RegistryCommand::FindByHash { hash } => {
                let found = rows(sql.exec(
                    "SELECT s.key_id FROM secrets s JOIN keys k ON k.id = s.key_id
                     WHERE s.hash = ? AND k.state = 'live'",
                    vec![text(hash.as_str())],
                )?)?;
                let id = found
                    .first()
                    .map(|r| r.text(0)?.parse().map_err(worker::Error::RustError))
                    .transpose()?;
                Ok(RegistryReply::Found { id })
            }
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

impl DurableObject for RegistryObject {
    fn new(state: State, env: Env) -> Self {
        RegistryObject {
            state,
            env,
            ready: Cell::new(false),
            outbox: Cell::new(true),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let command: RegistryCommand = serde_json::from_str(&req.text().await?)?;
        let reply = self.run(&self.state.storage().sql(), command)?;
        self.flush().await;
        http::json(200, &reply)
    }

    async fn alarm(&self) -> Result<Response> {
        // Tables first: a fresh instance may not have created them yet.
        self.run(&self.state.storage().sql(), RegistryCommand::Sweep)?;
        self.outbox.set(true);
        self.flush().await;
        Response::empty()
    }
}
