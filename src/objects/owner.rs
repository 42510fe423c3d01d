//! `OwnerObject`: the Durable Object that holds one owner's limits and the
//! counters its keys share. It loads [`OwnerState`] from its SQLite storage
//! once, then for each command: apply (pure) → write what changed → answer.
//! Like a key's object, it awaits nothing between reading and writing, so
//! charges from all the owner's keys are decided one at a time.

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State};

use super::rows::{load_state, write_state};
use crate::runtime::http;
use keygate_core::owner::{OwnerCommand, OwnerState};

/// One owner's Durable Object.
#[durable_object]
pub struct OwnerObject {
    state: State,
    /// The loaded state, and whether its table exists; `None` until first
    /// use, and again after a failed write.
    cached: RefCell<Option<(OwnerState, bool)>>,
}

/// Rows: `owner` (the limits, set by `PUT`) and `activity` (every charge).
fn load(sql: &SqlStorage) -> Result<(OwnerState, bool)> {
    load_state(sql, |state: &mut OwnerState, name, value| {
        match name {
            "owner" => state.owner = Some(serde_json::from_str(&value)?),
            "activity" => state.activity = serde_json::from_str(&value)?,
            _ => {}
        }
        Ok(())
    })
}

impl DurableObject for OwnerObject {
    fn new(state: State, _env: Env) -> Self {
        OwnerObject {
            state,
            cached: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let command: OwnerCommand = serde_json::from_str(&req.text().await?)?;
        let sql = self.state.storage().sql();
        let mut cached = self.cached.borrow_mut();
        if cached.is_none() {
            *cached = Some(load(&sql)?);
        }
        let (state, table) = cached.as_mut().expect("loaded above");
        let (answer, writes) = state.apply(command, http::now());
        let saved = (|| {
            if writes.cleared && *table {
                sql.exec("DELETE FROM state", None)?;
            }
            if let (true, Some(owner)) = (writes.owner, &state.owner) {
                write_state(&sql, table, "owner", owner)?;
            }
            if writes.activity {
                write_state(&sql, table, "activity", &state.activity)?;
            }
            Ok::<(), worker::Error>(())
        })();
        if let Err(e) = saved {
            // Memory is ahead of storage now: forget it, and fail the call.
            *cached = None;
            return Err(e);
        }
        http::json(200, &answer)
    }
}
