//! A request's telemetry, as its record (see [`super::request_record`])
//! writes it: its line (see [`keygate_core::log`]), to the log unless
//! `LOGS=off` and as one data point of the Analytics Engine dataset bound
//! as `USAGE`, if any — both by `forward.js`'s `record`, which also
//! finishes admitted requests' lines, so the two stay one format; and this
//! isolate's batch of overall-usage counts (see
//! [`keygate_core::analytics::overall`]) for refusals decided before any
//! key's object was asked, sent to the registry at most once every
//! [`FLUSH_MS`] after the response, however many there were, and logged
//! then as one [`RefusedLine`] of counts.

use std::time::Duration;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{Context, Env};

use crate::objects::client;
use crate::runtime::http;
use crate::runtime::isolate::{self, BATCH};
use keygate_core::analytics::overall::FLUSH_MS;
use keygate_core::analytics::Outcome;
use keygate_core::config::Config;
use keygate_core::key::KeyId;
use keygate_core::log::{RefusedLine, RequestLine};
use keygate_core::registry::command::HubCommand;

#[wasm_bindgen(module = "/src/api/forward.js")]
extern "C" {
    #[wasm_bindgen(js_name = recordText)]
    fn record_text(line: &str, env: &JsValue, logged: bool);
}

/// Whether request lines are wanted at all: logged, or counted in
/// Analytics Engine.
pub fn wanted(config: &Config) -> bool {
    config.request_logs || config.analytics_engine
}

/// Records `line`, a request answered without the origin: to the log
/// when `logged`, as a data point when `counted`.
pub fn record(env: &Env, logged: bool, counted: bool, line: &RequestLine) {
    if !(logged || counted) {
        return;
    }
    if let Ok(text) = serde_json::to_string(line) {
        record_text(&text, &env.clone().into(), logged);
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
        if isolate::config(&env).is_ok_and(|c| c.request_logs) {
            if let Some(line) = RefusedLine::of(&usage, http::now()) {
                http::log(&line);
            }
        }
        // Lost, the batch's counts are missing from the overall usage; no
        // key's limits or own usage depend on them.
        for (shard, usage) in usage.by_shard() {
            let report = HubCommand::Report {
                touch: None,
                usage,
                alerts: Vec::new(),
            };
            if let Err(e) = client::report(&env, shard, report).await {
                worker::console_error!("usage batch failed: {e:?}");
            }
        }
    });
}
