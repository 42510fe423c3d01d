//! This isolate's batch of overall-usage counts (see
//! [`crate::analytics::overall`]): refusals decided before any key's object
//! was asked, sent to the registry at most once every [`FLUSH_MS`], after
//! the response, however many there were — and logged then as one
//! [`RefusedLine`] of counts.

use std::cell::RefCell;
use std::time::Duration;

use worker::{Context, Env};

use super::{http, store};
use crate::analytics::overall::{Batch, FLUSH_MS};
use crate::analytics::Outcome;
use crate::error::Error;
use crate::key::KeyId;
use crate::lifecycle::registry::RegistryCommand;
use crate::log::RefusedLine;

thread_local! {
    static BATCH: RefCell<Batch> = RefCell::default();
}

/// Counts `error`, if it is a refusal the overall usage shows (no key, an
/// invalid one, an oversize request).
pub fn count_error(env: &Env, ctx: &Context, error: &Error) {
    if let Some(outcome) = Outcome::at_edge(error) {
        count(env, ctx, outcome, None);
    }
}

/// Counts one `outcome` (about `key`, if known); the first count since the
/// last flush schedules the next, [`FLUSH_MS`] later, off the response's path.
pub fn count(env: &Env, ctx: &Context, outcome: Outcome, key: Option<&KeyId>) {
    if !BATCH.with(|b| b.borrow_mut().count(outcome, key, http::now())) {
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move {
        worker::Delay::from(Duration::from_millis(FLUSH_MS)).await;
        let usage = BATCH.with(|b| b.borrow_mut().take());
        if super::config(&env).is_ok_and(|c| c.request_logs) {
            if let Some(line) = RefusedLine::of(&usage, http::now()) {
                http::log(&line);
            }
        }
        let report = RegistryCommand::Report {
            touch: None,
            usage,
            alerts: Vec::new(),
        };
        // Lost, the batch's counts are missing from the overall usage; no
        // key's limits or own usage depend on them.
        if let Err(e) = store::registry(&env, &report).await {
            worker::console_error!("usage batch failed: {e:?}");
        }
    });
}
