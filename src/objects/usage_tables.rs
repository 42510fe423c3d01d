//! Usage tables (see [`keygate_core::analytics`]), a key object's own and the
//! registry's overall ones: closed minutes added into minute, hour and day
//! rows, countries per day, and the rows a query reads; the registry also
//! keeps each key's day totals, for the top-keys lists. Buckets past their
//! retention are dropped as minutes close.

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
    add(sql, closed, now)
}

/// Adds a report into the registry's overall tables: [`write`]'s rows,
/// and the keys' day totals for the top-keys lists.
pub fn write_overall(sql: &SqlStorage, report: &UsageReport, now: Timestamp) -> Result<()> {
    create(sql)?;
    add(sql, &report.closed, now)?;
    add_key_days(sql, &report.keys, now)
}

/// [`write`], the tables existing.
fn add(sql: &SqlStorage, closed: &Closed, now: Timestamp) -> Result<()> {
    for row in &closed.rows {
        sql.exec(
            "INSERT INTO usage (granularity, start, outcome, count, cost) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (granularity, start, outcome) DO UPDATE SET \
             count = count + excluded.count, cost = cost + excluded.cost",
            vec![
                row.granularity.as_str().into(),
                ms(row.start),
                row.outcome.as_str().into(),
                int(row.tally.count),
                int(row.tally.cost),
            ],
        )?;
    }
    for (day, country, count) in &closed.countries {
        sql.exec(
            "INSERT INTO usage_countries (day, country, count) VALUES (?, ?, ?) \
             ON CONFLICT (day, country) DO UPDATE SET count = count + excluded.count",
            vec![ms(*day), country.as_str().into(), int(*count)],
        )?;
    }
    for g in Granularity::ALL {
        sql.exec(
            "DELETE FROM usage WHERE granularity = ? AND start < ?",
            vec![g.as_str().into(), ms(g.oldest_kept(now))],
        )?;
    }
    sql.exec(
        "DELETE FROM usage_countries WHERE day < ?",
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

/// The stored rows `query` reaches.
pub fn read(sql: &SqlStorage, query: &UsageQuery) -> Result<Stored> {
    create(sql)?;
    let g = query.granularity;
    let mut stored = Stored::default();
    let found = rows(sql.exec(
        "SELECT start, outcome, count, cost FROM usage WHERE granularity = ? AND start >= ? AND start <= ?",
        vec![g.as_str().into(), ms(query.from), ms(query.to)],
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
        "SELECT day, country, count FROM usage_countries WHERE day >= ? AND day <= ?",
        vec![ms(Granularity::Day.floor(query.from)), ms(query.to)],
    )?)?;
    for row in days {
        let day = Timestamp::from_millis(row.int(0)?.max(0) as u64);
        stored
            .countries
            .push((day, row.text(1)?, row.int(2)?.max(0) as u64));
    }
    Ok(stored)
}
