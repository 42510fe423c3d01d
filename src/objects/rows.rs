//! Reading Durable Object SQL rows: each row is its columns' values in
//! `SELECT` order, converted by the binding directly. (The cursor's serde
//! path would add a second decoder, for JavaScript values, to the bundle.)
//! And the `state` table the key and owner objects keep their JSON rows in.

use worker::{Error, Result, SqlCursor, SqlStorage, SqlStorageValue};

/// The `state` table: one JSON value per name (a record, its activity…),
/// so the hot path rewrites only the few bytes that change.
const STATE_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL)";

/// A state loaded from the `state` table, `fill` putting each row's value
/// in place, and whether the table exists. (An object asked about
/// something it never had reads nothing and writes nothing, so it leaves
/// no storage behind.)
pub fn load_state<S: Default>(
    sql: &SqlStorage,
    mut fill: impl FnMut(&mut S, &str, String) -> Result<()>,
) -> Result<(S, bool)> {
    let mut state = S::default();
    let exists = rows(sql.exec(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'state'",
        None,
    )?)?;
    if exists.is_empty() {
        return Ok((state, false));
    }
    for row in rows(sql.exec("SELECT name, value FROM state", None)?)? {
        fill(&mut state, &row.text(0)?, row.text(1)?)?;
    }
    Ok((state, true))
}

/// Writes `value` as JSON under `name`, creating the table first unless
/// `table` says it exists.
pub fn write_state(
    sql: &SqlStorage,
    table: &mut bool,
    name: &str,
    value: &impl serde::Serialize,
) -> Result<()> {
    let value = serde_json::to_string(value)?;
    if !*table {
        sql.exec(STATE_SCHEMA, None)?;
        *table = true;
    }
    sql.exec(
        "INSERT OR REPLACE INTO state (name, value) VALUES (?, ?)",
        vec![name.into(), value.into()],
    )?;
    Ok(())
}

/// One row's values.
pub struct Row(Vec<SqlStorageValue>);

/// Every row of `cursor`.
pub fn rows(cursor: SqlCursor) -> Result<Vec<Row>> {
    cursor.raw().map(|row| row.map(Row)).collect()
}

impl Row {
    fn at(&self, i: usize) -> &SqlStorageValue {
        self.0.get(i).unwrap_or(&SqlStorageValue::Null)
    }

    /// Column `i` as text, if it is not NULL.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i) {
            SqlStorageValue::Null => Ok(None),
            SqlStorageValue::String(s) => Ok(Some(s.clone())),
            _ => Err(Error::RustError(format!("column {i} is not text"))),
        }
    }

    /// Column `i` as text.
    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| Error::RustError(format!("column {i} is NULL")))
    }

    /// Column `i` as an integer, if it is not NULL.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i) {
            SqlStorageValue::Null => Ok(None),
            SqlStorageValue::Integer(n) => Ok(Some(*n)),
            SqlStorageValue::Float(f) => Ok(Some(*f as i64)),
            _ => Err(Error::RustError(format!("column {i} is not a number"))),
        }
    }

    /// Column `i` as an integer.
    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| Error::RustError(format!("column {i} is NULL")))
    }
}
