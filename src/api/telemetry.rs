//! A request's telemetry, as its record (see [`super::request_record`])
//! writes it: its line (see [`keygate_core::log`]), to the log unless
//! `LOGS=off` and as one data point of the Analytics Engine dataset bound
//! as `USAGE`, if any — both by `forward.js`'s `record`, which also
//! finishes admitted requests' lines, so the two stay one format; and this
//! isolate's batch of counts (see [`keygate_core::analytics::overall`]) for
//! every decision, sent at most once every [`FLUSH_MS`] after the
//! response, however many there were, with the refusals before any key
//! logged then as one [`RefusedLine`] of counts.

use std::time::Duration;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{BatchMessageBuilder, Context, Env, Queue, QueueContentType, RawMessageBuilder};

use crate::objects::client;
use crate::runtime::http;
use crate::runtime::isolate::{self, BATCH};
use keygate_core::analytics::overall::{Counted, UsageReport, FLUSH_MS};
use keygate_core::config::Config;
use keygate_core::log::{RefusedLine, RequestLine};

/// The queue usage batches go through (wrangler.toml).
pub const REPORTS_QUEUE: &str = "REPORTS";

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

/// Counts one decision; the first count since the last flush schedules
/// the next, [`FLUSH_MS`] later, off the response's path.
pub fn count(env: &Env, ctx: &Context, counted: Counted<'_>) {
    if BATCH.with(|b| b.borrow_mut().count(counted, http::now())) {
        ctx.wait_until(flush_later(env.clone()));
    }
}

/// Counts one decision from a future the runtime already keeps alive
/// (`forward.js`'s failure report): the flush, if this count is the
/// first, runs in it.
pub async fn count_within(env: &Env, counted: Counted<'_>) {
    if BATCH.with(|b| b.borrow_mut().count(counted, http::now())) {
        flush_later(env.clone()).await;
    }
}

/// Waits [`FLUSH_MS`], then sends the batch: on the `REPORTS` queue when
/// it is bound (its consumer adds a whole batch of reports into each shard
/// at once, see `jobs::report`), straight to the shards otherwise.
async fn flush_later(env: Env) {
    worker::Delay::from(Duration::from_millis(FLUSH_MS)).await;
    let usage = BATCH.with(|b| b.borrow_mut().take());
    if isolate::config(&env).is_ok_and(|c| c.request_logs) {
        if let Some(line) = RefusedLine::of(&usage, http::now()) {
            http::log(&line);
        }
    }
    // Lost, the batch's counts are missing from the overall and owner usage
    // and `last_used`; no key's limits or own usage depend on them.
    let Ok(queue) = env.queue(REPORTS_QUEUE) else {
        for (shard, usage) in usage.by_shard() {
            if let Err(e) = client::report(&env, shard, usage).await {
                worker::console_error!("usage batch failed: {e:?}");
            }
        }
        return;
    };
    if let Err(e) = queue_reports(&queue, vec![usage]).await {
        worker::console_error!("usage batch not queued: {e}");
    }
}

/// Puts `reports` on the `REPORTS` queue, in messages of bounded size, at
/// most 100 per send (the queue's limit).
pub async fn queue_reports(queue: &Queue, reports: Vec<UsageReport>) -> worker::Result<()> {
    let texts: Vec<String> = reports
        .into_iter()
        .flat_map(UsageReport::chunks)
        .filter_map(|chunk| serde_json::to_string(&chunk).ok())
        .collect();
    for texts in texts.chunks(100) {
        let messages = texts.iter().map(|text| {
            RawMessageBuilder::new(JsValue::from_str(text))
                .build_with_content_type(QueueContentType::Text)
        });
        queue
            .send_raw_batch(BatchMessageBuilder::new().messages(messages).build())
            .await?;
    }
    Ok(())
}
