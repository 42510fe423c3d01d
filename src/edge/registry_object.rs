//! `RegistryObject`: the single Durable Object that indexes every key (see
//! [`crate::lifecycle::registry`] for its role and write order). SQLite, synchronous:
//! each command is one atomic step.

use std::cell::Cell;

use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

use super::rows::rows;
use super::{http, usage_tables};
use crate::analytics::overall::{overall_series, TopKey, TOP_KEYS};
use crate::analytics::{Granularity, UsageQuery};
use crate::hash::KeyHash;
use crate::key::KeyId;
use crate::lifecycle::list::SqlArg;
use crate::lifecycle::record::KeyView;
use crate::lifecycle::registry::{
    AuditEntry, PageMeta, RegistryCommand, RegistryReply, AUDIT_RETENTION_MS,
};
use crate::policy::actor::Actor;
use crate::time::Timestamp;

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
    /// Whether this instance has created its tables.
    ready: Cell<bool>,
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
            for statement in SCHEMA {
                sql.exec(statement, None)?;
            }
            self.ready.set(true);
        }
        let now = http::now();
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
                Ok(RegistryReply::Done)
            }
            RegistryCommand::Update {
                key,
                hashes,
                action,
                actor,
                detail,
            } => {
                let mut values = columns(&key)?;
                values.push(text(key.id.as_str()));
                sql.exec(
                    "UPDATE keys SET environment = ?, type = ?, owner_id = ?, search = ?, revoked = ?, expires_at = ?, view = ?
                     WHERE id = ?",
                    values,
                )?;
                add_secrets(sql, &key.id, &hashes)?;
                audit(&actor, &action, key.id.as_str(), detail)?;
                Ok(RegistryReply::Done)
            }
            RegistryCommand::Report { touch, usage } => {
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
                let select = |limit: &str, mut args: Vec<SqlStorageValue>, extra: Vec<i64>| {
                    args.extend(extra.into_iter().map(SqlStorageValue::from));
                    let found = rows(sql.exec(
                        &format!(
                            "SELECT view, last_used FROM keys WHERE {filter}
                             ORDER BY created_at DESC, rowid DESC {limit}"
                        ),
                        args,
                    )?)?;
                    found
                        .into_iter()
                        .map(|row| {
                            let mut view: KeyView = serde_json::from_str(&row.text(0)?)?;
                            view.refresh(
                                row.opt_int(1)?.map(|ms| Timestamp::from_millis(ms as u64)),
                                now,
                            );
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

impl DurableObject for RegistryObject {
    fn new(state: State, _env: Env) -> Self {
        RegistryObject {
            state,
            ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let command: RegistryCommand = serde_json::from_str(&req.text().await?)?;
        let reply = self.run(&self.state.storage().sql(), command)?;
        http::json(200, &reply)
    }
}
