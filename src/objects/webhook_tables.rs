//! The registry's webhook tables (see [`keygate_core::webhook`]): the endpoints,
//! their deliveries — also the outbox the queue is fed from (`queued = 0`:
//! not on the queue yet) — with their latest attempts, and the expiry
//! notices already sent. Plain columns, not JSON: nothing here is decoded
//! with serde, which keeps those decoders out of the wasm.

use worker::{Result, SqlStorage, SqlStorageValue};

use super::rows::rows;
use keygate_core::error::Error;
use keygate_core::lifecycle::record::KeyView;
use keygate_core::time::Timestamp;
use keygate_core::webhook::delivery::{
    Attempt, DeliveryView, Next, Outgoing, DELIVERY_RETENTION_MS, KEPT_ATTEMPTS, OVERDUE_MS,
    SHOWN_DELIVERIES,
};
use keygate_core::webhook::endpoint::MAX_WEBHOOKS;
use keygate_core::webhook::expiry::{self, Stage};
use keygate_core::webhook::{Event, Webhook, WebhookId};

/// The tables, created with the registry's own.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS webhooks (
        id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, secret TEXT NOT NULL, url TEXT NOT NULL,
        events TEXT NOT NULL, description TEXT)",
    "CREATE TABLE IF NOT EXISTS deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT, webhook_id TEXT NOT NULL, event_id TEXT NOT NULL,
        event_type TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL,
        state TEXT NOT NULL, due_at INTEGER, queued INTEGER NOT NULL, tries INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS deliveries_by_webhook ON deliveries (webhook_id, id)",
    "CREATE TABLE IF NOT EXISTS attempts (
        delivery_id INTEGER NOT NULL, try INTEGER NOT NULL, at INTEGER NOT NULL, status INTEGER,
        error TEXT, duration_ms INTEGER NOT NULL, PRIMARY KEY (delivery_id, try))",
    "CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (queued, state)",
    "CREATE INDEX IF NOT EXISTS deliveries_age ON deliveries (created_at)",
    "CREATE TABLE IF NOT EXISTS notices (
        key_id TEXT NOT NULL, expires_at INTEGER NOT NULL, stage TEXT NOT NULL,
        PRIMARY KEY (key_id, expires_at, stage))",
];

/// States a delivery is still being attempted in.
const PENDING: &str = "state IN ('queued', 'retrying')";

fn text(s: impl Into<String>) -> SqlStorageValue {
    SqlStorageValue::String(s.into())
}

fn ms(t: Timestamp) -> SqlStorageValue {
    (t.as_millis() as i64).into()
}

/// Adds `webhook` with its `secret` (hex); refused past [`MAX_WEBHOOKS`].
pub fn create(sql: &SqlStorage, webhook: &Webhook, secret: &str) -> Result<Option<Error>> {
    let count = rows(sql.exec("SELECT count(*) FROM webhooks", None)?)?;
    if count.first().map_or(Ok(0), |r| r.int(0))? as u64 >= MAX_WEBHOOKS {
        return Ok(Some(Error::invalid(
            "url",
            format!(
                "this deployment has the most webhooks allowed ({MAX_WEBHOOKS}); delete one first"
            ),
        )));
    }
    sql.exec(
        "INSERT INTO webhooks (id, created_at, secret, url, events, description) VALUES (?, ?, ?, ?, ?, ?)",
        vec![
            text(webhook.id.as_str()),
            ms(webhook.created_at),
            text(secret),
            text(webhook.url.as_str()),
            text(webhook.events_text()),
            webhook
                .description
                .clone()
                .map_or(SqlStorageValue::Null, text),
        ],
    )?;
    Ok(None)
}

/// The endpoints matching `filter` (an SQL condition on `webhooks`, with
/// `args`), oldest first.
fn select(sql: &SqlStorage, filter: &str, args: Vec<SqlStorageValue>) -> Result<Vec<Webhook>> {
    rows(sql.exec(
        &format!(
            "SELECT id, url, events, description, created_at FROM webhooks WHERE {filter}
             ORDER BY created_at, id"
        ),
        args,
    )?)?
    .into_iter()
    .map(|row| {
        Ok(Webhook {
            id: row.text(0)?.parse().map_err(worker::Error::RustError)?,
            url: row.text(1)?,
            events: Webhook::events_from(&row.text(2)?),
            description: row.opt_text(3)?,
            created_at: Timestamp::from_millis(row.int(4)? as u64),
        })
    })
    .collect()
}

/// Every endpoint, oldest first.
pub fn list(sql: &SqlStorage) -> Result<Vec<Webhook>> {
    select(sql, "1", vec![])
}

/// One endpoint.
pub fn get(sql: &SqlStorage, id: &WebhookId) -> Result<Option<Webhook>> {
    Ok(select(sql, "id = ?", vec![text(id.as_str())])?.pop())
}

/// Removes an endpoint, its deliveries and their attempts; whether it existed.
pub fn delete(sql: &SqlStorage, id: &WebhookId) -> Result<bool> {
    let existed = get(sql, id)?.is_some();
    let id = || vec![text(id.as_str())];
    sql.exec("DELETE FROM webhooks WHERE id = ?", id())?;
    sql.exec(
        "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE webhook_id = ?)",
        id(),
    )?;
    sql.exec("DELETE FROM deliveries WHERE webhook_id = ?", id())?;
    Ok(existed)
}

/// Writes one delivery of each event per endpoint that wants it (only to
/// `only`, when given); the id of the last one written, if any.
pub fn emit(
    sql: &SqlStorage,
    events: &[Event],
    only: Option<&WebhookId>,
    now: Timestamp,
) -> Result<Option<u64>> {
    if events.is_empty() {
        return Ok(None);
    }
    let endpoints: Vec<Webhook> = list(sql)?
        .into_iter()
        .filter(|w| only.is_none_or(|id| *id == w.id))
        .collect();
    let mut last = None;
    for event in events {
        let payload = event.payload();
        for webhook in endpoints
            .iter()
            .filter(|w| only.is_some() || w.wants(event.kind))
        {
            sql.exec(
                "INSERT INTO deliveries (webhook_id, event_id, event_type, payload, created_at,
                    state, due_at, queued, tries)
                 VALUES (?, ?, ?, ?, ?, 'queued', ?, 0, 0)",
                vec![
                    text(webhook.id.as_str()),
                    text(event.id.as_str()),
                    text(event.kind.as_str()),
                    text(payload.as_str()),
                    ms(now),
                    ms(now),
                ],
            )?;
            let id = rows(sql.exec("SELECT last_insert_rowid()", None)?)?;
            last = id.first().map(|r| r.int(0)).transpose()?.map(|i| i as u64);
        }
    }
    Ok(last)
}

/// Deletes up to `limit` finished deliveries past retention, and their
/// attempts (the sweep's work, so no event pays for it): how many.
pub fn prune(sql: &SqlStorage, now: Timestamp, limit: u32) -> Result<u32> {
    let cutoff = || {
        vec![
            (now.as_millis().saturating_sub(DELIVERY_RETENTION_MS) as i64).into(),
            i64::from(limit).into(),
        ]
    };
    let old = format!(
        "SELECT id FROM deliveries WHERE created_at < ? AND NOT {PENDING} ORDER BY created_at LIMIT ?"
    );
    sql.exec(
        &format!("DELETE FROM attempts WHERE delivery_id IN ({old})"),
        cutoff(),
    )?;
    let gone = sql.exec(
        &format!("DELETE FROM deliveries WHERE id IN ({old})"),
        cutoff(),
    )?;
    Ok(gone.rows_written() as u32)
}

/// What the consumer needs to attempt `delivery`, while it is pending and
/// due (a second copy of a queue message may come early: it is dropped,
/// the copy sent with the delay comes on time, and the sweep re-queues a
/// delivery that goes overdue).
pub fn claim(sql: &SqlStorage, delivery: u64, now: Timestamp) -> Result<Option<Outgoing>> {
    let found = rows(sql.exec(
        &format!(
            "SELECT w.url, w.secret, d.event_id, d.payload, d.tries
             FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.id = ? AND d.{PENDING} AND coalesce(d.due_at, 0) <= ?"
        ),
        vec![(delivery as i64).into(), ms(now.plus_millis(1_000))],
    )?)?;
    let Some(row) = found.first() else {
        return Ok(None);
    };
    Ok(Some(Outgoing {
        url: row.text(0)?,
        secret: row.text(1)?,
        event_id: row.text(2)?,
        payload: row.text(3)?,
        attempt: row.int(4)? as u32 + 1,
    }))
}

/// Records attempt `number` at `delivery` and what follows it; `false`
/// (nothing written) unless the delivery is pending at that attempt.
pub fn attempted(
    sql: &SqlStorage,
    delivery: u64,
    number: u32,
    attempt: &Attempt,
    next: Next,
    now: Timestamp,
) -> Result<bool> {
    let tries = i64::from(number);
    let current = rows(sql.exec(
        &format!("SELECT 1 FROM deliveries WHERE id = ? AND tries = ? AND {PENDING}"),
        vec![(delivery as i64).into(), (tries - 1).into()],
    )?)?;
    if current.is_empty() {
        return Ok(false);
    }
    let id = || -> SqlStorageValue { (delivery as i64).into() };
    sql.exec(
        "INSERT OR REPLACE INTO attempts (delivery_id, try, at, status, error, duration_ms)
         VALUES (?, ?, ?, ?, ?, ?)",
        vec![
            id(),
            tries.into(),
            ms(attempt.at),
            attempt
                .status
                .map_or(SqlStorageValue::Null, |s| i64::from(s).into()),
            attempt.error.clone().map_or(SqlStorageValue::Null, text),
            (attempt.duration_ms as i64).into(),
        ],
    )?;
    sql.exec(
        "DELETE FROM attempts WHERE delivery_id = ? AND try <= ?",
        vec![id(), (tries - KEPT_ATTEMPTS as i64).into()],
    )?;
    let due_at = match next {
        Next::RetryIn(secs) => ms(now.plus_millis(u64::from(secs) * 1000)),
        Next::Delivered | Next::DeadLetter => SqlStorageValue::Null,
    };
    sql.exec(
        "UPDATE deliveries SET state = ?, due_at = ?, tries = ? WHERE id = ?",
        vec![text(next.state()), due_at, tries.into(), id()],
    )?;
    Ok(true)
}

/// An endpoint's latest deliveries, newest first.
pub fn deliveries(sql: &SqlStorage, id: &WebhookId) -> Result<Vec<DeliveryView>> {
    let at = |ms: i64| Timestamp::from_millis(ms as u64);
    rows(sql.exec(
        &format!(
            "SELECT id, event_id, event_type, state, created_at, due_at FROM deliveries
             WHERE webhook_id = ? ORDER BY id DESC LIMIT {SHOWN_DELIVERIES}"
        ),
        vec![text(id.as_str())],
    )?)?
    .into_iter()
    .map(|row| {
        let id = row.int(0)?;
        let attempts = rows(sql.exec(
            "SELECT at, status, error, duration_ms FROM attempts WHERE delivery_id = ? ORDER BY try",
            vec![id.into()],
        )?)?
        .into_iter()
        .map(|a| {
            Ok(Attempt {
                at: at(a.int(0)?),
                status: a.opt_int(1)?.map(|s| s as u16),
                error: a.opt_text(2)?,
                duration_ms: a.int(3)?.max(0) as u64,
            })
        })
        .collect::<Result<_>>()?;
        Ok(DeliveryView {
            id: id as u64,
            event_id: row.text(1)?,
            event_type: row.text(2)?,
            state: row.text(3)?,
            created_at: at(row.int(4)?),
            next_attempt_at: row.opt_int(5)?.map(at),
            attempts,
        })
    })
    .collect()
}

/// Most deliveries put on the queue in one batch (the queue's limit).
pub const QUEUE_BATCH: usize = 100;

/// Pending deliveries not on the queue yet, each with the seconds until
/// it is due (oldest first, at most [`QUEUE_BATCH`]).
pub fn unsent(sql: &SqlStorage, now: Timestamp) -> Result<Vec<(u64, u32)>> {
    rows(sql.exec(
        &format!(
            "SELECT id, due_at FROM deliveries WHERE queued = 0 AND {PENDING} ORDER BY id LIMIT {QUEUE_BATCH}"
        ),
        None,
    )?)?
    .into_iter()
    .map(|row| {
        let due = row.opt_int(1)?.unwrap_or(0).max(0) as u64;
        let wait = due.saturating_sub(now.as_millis()).div_ceil(1000);
        Ok((row.int(0)? as u64, wait.min(u64::from(u32::MAX)) as u32))
    })
    .collect()
}

/// Marks `ids` as on the queue (`queued`) or back in the outbox.
pub fn mark_queued(sql: &SqlStorage, ids: &[u64], queued: bool) -> Result<()> {
    for id in ids {
        sql.exec(
            "UPDATE deliveries SET queued = ? WHERE id = ?",
            vec![i64::from(queued).into(), (*id as i64).into()],
        )?;
    }
    Ok(())
}

/// Takes pending deliveries long overdue off the queue's books, so they
/// are queued again; how many.
pub fn requeue_overdue(sql: &SqlStorage, now: Timestamp) -> Result<u64> {
    let cutoff = now.as_millis().saturating_sub(OVERDUE_MS) as i64;
    let overdue = rows(sql.exec(
        &format!("SELECT count(*) FROM deliveries WHERE queued = 1 AND {PENDING} AND due_at < ?"),
        vec![cutoff.into()],
    )?)?;
    sql.exec(
        &format!("UPDATE deliveries SET queued = 0 WHERE queued = 1 AND {PENDING} AND due_at < ?"),
        vec![cutoff.into()],
    )?;
    Ok(overdue.first().map_or(Ok(0), |r| r.int(0))? as u64)
}

/// The expiry notices due at `now` (see [`keygate_core::webhook::expiry`]),
/// recorded as sent.
pub fn expiry_events(sql: &SqlStorage, now: Timestamp) -> Result<Vec<Event>> {
    let keys = rows(sql.exec(
        "SELECT id, view, expires_at FROM keys
         WHERE state = 'live' AND revoked = 0 AND expires_at IS NOT NULL
           AND expires_at <= ? AND expires_at >= ?",
        vec![
            ms(now.plus_millis(expiry::AHEAD_MS)),
            (now.as_millis().saturating_sub(expiry::BEHIND_MS) as i64).into(),
        ],
    )?)?;
    // Notices for times long past are never asked about again.
    sql.exec(
        "DELETE FROM notices WHERE expires_at < ?",
        vec![(now.as_millis().saturating_sub(2 * expiry::BEHIND_MS) as i64).into()],
    )?;
    let mut events = Vec::new();
    for key in keys {
        let (id, expires_at) = (key.text(0)?, key.int(2)?);
        let sent: Vec<Stage> = rows(sql.exec(
            "SELECT stage FROM notices WHERE key_id = ? AND expires_at = ?",
            vec![text(id.as_str()), expires_at.into()],
        )?)?
        .iter()
        .filter_map(|row| Stage::parse(&row.text(0).ok()?))
        .collect();
        let expires = Timestamp::from_millis(expires_at as u64);
        let Some(stage) = expiry::due(expires, now, &sent) else {
            continue;
        };
        let view: KeyView = serde_json::from_str(&key.text(1)?)?;
        let (kind, fields) = stage.event(expires);
        events.push(
            Event::about_key(kind, &view, fields, now)
                .map_err(|e| worker::Error::RustError(e.to_string()))?,
        );
        sql.exec(
            "INSERT OR IGNORE INTO notices (key_id, expires_at, stage) VALUES (?, ?, ?)",
            vec![text(id.as_str()), expires_at.into(), text(stage.as_str())],
        )?;
    }
    Ok(events)
}
