//! Reading Durable Object SQL rows: each row is its columns' values in
//! `SELECT` order, converted by the binding directly. (The cursor's serde
//! path would add a second decoder, for JavaScript values, to the bundle.)

use worker::{Error, Result, SqlCursor, SqlStorageValue};

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
