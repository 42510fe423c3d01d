//! `GuardObject`: one small Durable Object per admin client (an IPv4
//! address or an IPv6 /64, see [`keygate_core::guard`]) holding its failed-login
//! count for the current minute. Sharding by client keeps a flood of bad
//! credentials off the registry, and an alarm deletes the count once its
//! window is over, so storage never grows with the number of attackers.

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State};

use super::rows::rows;
use crate::runtime::http;
use keygate_core::error::Error;
use keygate_core::guard::{answer, judge};
use keygate_core::limits::Usage;

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS guard (id INTEGER PRIMARY KEY, usage TEXT NOT NULL)";

/// One admin client's failure count.
#[durable_object]
pub struct GuardObject {
    state: State,
    /// The loaded count; `None` until first use and after a cleanup.
    usage: RefCell<Option<Usage>>,
}

fn load(sql: &SqlStorage) -> Result<Usage> {
    sql.exec(SCHEMA, None)?;
    match rows(sql.exec("SELECT usage FROM guard WHERE id = 0", None)?)?.first() {
        Some(row) => Ok(serde_json::from_str(&row.text(0)?)?),
        None => Ok(Usage::default()),
    }
}

impl GuardObject {
    /// Load → judge → save, with no await in between.
    fn run(&self) -> Result<(std::result::Result<(), Error>, Option<Usage>)> {
        let sql = self.state.storage().sql();
        let mut cached = self.usage.borrow_mut();
        let usage = match cached.take() {
            Some(u) => u,
            None => load(&sql)?,
        };
        let (verdict, next) = judge(&usage, http::now());
        let changed = next != usage;
        if changed {
            sql.exec(
                "INSERT OR REPLACE INTO guard (id, usage) VALUES (0, ?)",
                vec![serde_json::to_string(&next)?.into()],
            )?;
        }
        *cached = Some(next.clone());
        Ok((verdict, changed.then_some(next)))
    }
}

impl DurableObject for GuardObject {
    fn new(state: State, _env: Env) -> Self {
        GuardObject {
            state,
            usage: RefCell::new(None),
        }
    }

    /// Every request is one failed admin authentication by this client.
    async fn fetch(&self, _req: Request) -> Result<Response> {
        let (verdict, written) = self.run()?;
        if let Some(usage) = written {
            // The count is worthless once its minute is over: clean up then.
            let window_end = usage.minute.start_ms + 60_000;
            self.state.storage().set_alarm(window_end as i64).await?;
        }
        Response::ok(answer(&verdict))
    }

    async fn alarm(&self) -> Result<Response> {
        let sql = self.state.storage().sql();
        let cached = self.usage.borrow().clone();
        let usage = match cached {
            Some(u) => u,
            None => load(&sql)?,
        };
        // A failure in a later minute re-armed the alarm: keep its count.
        // Otherwise the object deletes everything it stored, table and all,
        // so a flood from many addresses leaves nothing behind.
        if usage.minute.start_ms + 60_000 <= http::now().as_millis() {
            self.state.storage().delete_all().await?;
            *self.usage.borrow_mut() = None;
        }
        Response::ok("")
    }
}
