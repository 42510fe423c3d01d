//! A request's line (see [`crate::log`]): written to the log unless
//! `LOGS=off`, and as one data point of the Analytics Engine dataset bound
//! as `USAGE`, if any — both by `forward.js`'s `record`, which also
//! finishes admitted requests' lines, so the two stay one format.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::config::Config;
use crate::log::RequestLine;

#[wasm_bindgen(module = "/src/edge/forward.js")]
extern "C" {
    #[wasm_bindgen(js_name = recordText)]
    fn record_text(line: &str, env: &JsValue, logged: bool);
}

/// Whether request lines are wanted at all: logged, or counted in
/// Analytics Engine.
pub fn wanted(config: &Config) -> bool {
    config.request_logs || config.analytics_engine
}

/// Records `line`, a request answered without the origin.
pub fn refusal(env: &Env, config: &Config, line: &RequestLine) {
    record(env, config.request_logs, config.analytics_engine, line);
}

/// Writes `line` to Analytics Engine only (its log line comes in counts,
/// with the isolate's batch: see [`crate::log::RefusedLine`]).
pub fn data_point(env: &Env, config: &Config, line: &RequestLine) {
    record(env, false, config.analytics_engine, line);
}

fn record(env: &Env, logged: bool, counted: bool, line: &RequestLine) {
    if !(logged || counted) {
        return;
    }
    if let Ok(text) = serde_json::to_string(line) {
        record_text(&text, &env.clone().into(), logged);
    }
}
