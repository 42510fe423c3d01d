//! Usage tables (see [`keygate_core::analytics`]), a key object's own and a
//! registry shard's share of the overall and of each owner's: closed
//! minutes added into minute, hour and day rows, countries per day, and the
//! rows a query reads; a shard also keeps its keys' day totals, for the
//! top-keys lists. Buckets past their retention are dropped as reports come.

use worker::{Result, SqlStorage, SqlStorageValue};

use super::rows::rows;
use keygate_core::analytics::overall::{KeyDay, UsageReport};
use keygate_core::analytics::{Closed, Granularity, Outcome, Row, Stored, Tally, UsageQuery};
use keygate_core::time::Timestamp;

/// The tables, created if missing (a key object's on its first write or
/// read; the registry's with the rest of its schema).
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS usage (granularity TEXT NOT NULL, start INTEGER NOT NULL, \
     outcome TEXT NOT NULL, count INTEGER NOT NULL, cost INTEGER NOT NULL, \
     PRIMARY KEY (granularity, start, outcome))",
    "CREATE TABLE IF NOT EXISTS usage_countries (day INTEGER NOT NULL, country TEXT NOT NULL, \
     count INTEGER NOT NULL, PRIMARY KEY (day, country))",
    "CREATE TABLE IF NOT EXISTS usage_keys (day INTEGER NOT NULL, key_id TEXT NOT NULL, \
     requests INTEGER NOT NULL, refused INTEGER NOT NULL, PRIMARY KEY (day, key_id))",
];

/// A registry shard's share of each owner's rows (the owner's usage is the
/// sum of every shard's), created with the shard's schema.
pub const OWNER_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS usage_owners (owner_id TEXT NOT NULL, granularity TEXT NOT NULL, \
     start INTEGER NOT NULL, outcome TEXT NOT NULL, count INTEGER NOT NULL, cost INTEGER NOT NULL, \
     PRIMARY KEY (owner_id, granularity, start, outcome))",
    "CREATE TABLE IF NOT EXISTS usage_owner_countries (owner_id TEXT NOT NULL, day INTEGER NOT NULL, \
     country TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (owner_id, day, country))",
    "CREATE INDEX IF NOT EXISTS usage_owners_age ON usage_owners (granularity, start)",
    "CREATE INDEX IF NOT EXISTS usage_owner_countries_age ON usage_owner_countries (day)",
];

/// Whose rows a write or read is about.
#[derive(Clone, Copy)]
pub enum Whose<'a> {
    /// The tables' own: a key object's, or a shard's overall share.
    All,
    /// One owner's share, in a shard.
    Owner(&'a str),
}

impl<'a> Whose<'a> {
    /// The rows and countries tables, and the owner column's SQL (before
    /// the others, as a column list, a `?` and a condition) with its value.
    fn sql(
        self,
    ) -> (
        &'static str,
        &'static str,
        [&'static str; 3],
        Vec<SqlStorageValue>,
    ) {
        match self {
            Whose::All => ("usage", "usage_countries", ["", "", ""], vec![]),
            Whose::Owner(owner) => (
                "usage_owners",
                "usage_owner_countries",
                ["owner_id, ", "?, ", "owner_id = ? AND "],
                vec![owner.into()],
            ),
        }
    }
}

fn ms(t: Timestamp) -> SqlStorageValue {
    SqlStorageValue::Integer(t.as_millis() as i64)
}

fn int(n: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(n.min(i64::MAX as u64) as i64)
}

fn create(sql: &SqlStorage) -> Result<()> {
    for statement in SCHEMA {
        sql.exec(statement, None)?;
    }
    Ok(())
}

/// Adds `closed` into the tables and drops buckets older than `now`
/// keeps.
pub fn write(sql: &SqlStorage, closed: &Closed, now: Timestamp) -> Result<()> {
    create(sql)?;
    add(sql, Whose::All, closed, now)
}

/// Adds a report into a registry shard's tables: [`write`]'s rows for the
/// overall usage and for each owner, and the keys' day totals for the
/// top-keys lists.
pub fn write_overall(sql: &SqlStorage, report: &UsageReport, now: Timestamp) -> Result<()> {
    create(sql)?;
    add(sql, Whose::All, &report.closed, now)?;
    for owner in &report.owners {
        add(sql, Whose::Owner(&owner.owner_id), &owner.closed, now)?;
    }
    add_key_days(sql, &report.keys, now)
}

/// [`write`], the tables existing, for `whose` rows.
fn add(sql: &SqlStorage, whose: Whose<'_>, closed: &Closed, now: Timestamp) -> Result<()> {
    let (rows_table, countries_table, [column, mark, _], owner) = whose.sql();
    let with = |values: Vec<SqlStorageValue>| [owner.clone(), values].concat();
    for row in &closed.rows {
        sql.exec(
            &format!(
                "INSERT INTO {rows_table} ({column}granularity, start, outcome, count, cost) \
                 VALUES ({mark}?, ?, ?, ?, ?) \
                 ON CONFLICT ({column}granularity, start, outcome) DO UPDATE SET \
                 count = count + excluded.count, cost = cost + excluded.cost"
            ),
            with(vec![
                row.granularity.as_str().into(),
                ms(row.start),
                row.outcome.as_str().into(),
                int(row.tally.count),
                int(row.tally.cost),
            ]),
        )?;
    }
    for (day, country, count) in &closed.countries {
        sql.exec(
            &format!(
                "INSERT INTO {countries_table} ({column}day, country, count) VALUES ({mark}?, ?, ?) \
                 ON CONFLICT ({column}day, country) DO UPDATE SET count = count + excluded.count"
            ),
            with(vec![ms(*day), country.as_str().into(), int(*count)]),
        )?;
    }
    // Retention for every owner at once: the rows past it are the same age.
    for g in Granularity::ALL {
        sql.exec(
            &format!("DELETE FROM {rows_table} WHERE granularity = ? AND start < ?"),
            vec![g.as_str().into(), ms(g.oldest_kept(now))],
        )?;
    }
    sql.exec(
        &format!("DELETE FROM {countries_table} WHERE day < ?"),
        vec![ms(Granularity::Day.oldest_kept(now))],
    )?;
    Ok(())
}

/// Adds keys' day totals (the registry's top-keys table), dropping days
/// past retention.
fn add_key_days(sql: &SqlStorage, days: &[KeyDay], now: Timestamp) -> Result<()> {
    for d in days {
        sql.exec(
            "INSERT INTO usage_keys (day, key_id, requests, refused) VALUES (?, ?, ?, ?) \
             ON CONFLICT (day, key_id) DO UPDATE SET \
             requests = requests + excluded.requests, refused = refused + excluded.refused",
            vec![
                ms(d.day),
                d.key_id.as_str().into(),
                int(d.requests),
                int(d.refused),
            ],
        )?;
    }
    sql.exec(
        "DELETE FROM usage_keys WHERE day < ?",
        vec![ms(Granularity::Day.oldest_kept(now))],
    )?;
    Ok(())
}

/// The stored rows of `whose` that `query` reaches.
pub fn read(sql: &SqlStorage, whose: Whose<'_>, query: &UsageQuery) -> Result<Stored> {
    create(sql)?;
    let (rows_table, countries_table, [_, _, condition], owner) = whose.sql();
    let with = |values: Vec<SqlStorageValue>| [owner.clone(), values].concat();
    let g = query.granularity;
    let mut stored = Stored::default();
    let found = rows(sql.exec(
        &format!(
            "SELECT start, outcome, count, cost FROM {rows_table} \
             WHERE {condition}granularity = ? AND start >= ? AND start <= ?"
        ),
        with(vec![g.as_str().into(), ms(query.from), ms(query.to)]),
    )?)?;
    for row in found {
        let Some(outcome) = Outcome::parse(&row.text(1)?) else {
            continue;
        };
        stored.rows.push(Row {
            granularity: g,
            start: Timestamp::from_millis(row.int(0)?.max(0) as u64),
            outcome,
            tally: Tally {
                count: row.int(2)?.max(0) as u64,
                cost: row.int(3)?.max(0) as u64,
            },
        });
    }
    let days = rows(sql.exec(
        &format!(
            "SELECT day, country, count FROM {countries_table} WHERE {condition}day >= ? AND day <= ?"
        ),
        with(vec![ms(Granularity::Day.floor(query.from)), ms(query.to)]),
    )?)?;
    for row in days {
        let day = Timestamp::from_millis(row.int(0)?.max(0) as u64);
        stored
            .countries
            .push((day, row.text(1)?, row.int(2)?.max(0) as u64));
    }
    Ok(stored)
}
