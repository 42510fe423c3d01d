//! A wasm Worker that only forwards each request to `ORIGIN` + its path,
//! entered the way keygate is (a synchronous export handing the runtime the
//! fetch's own promise), so the benchmark can tell the cost of running Rust
//! at all from the cost of keygate's checks.

use wasm_bindgen::prelude::*;
use worker::{js_sys, web_sys, Env};

/// The fetch entry point `worker-build`'s shim calls.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, _ctx: worker::worker_sys::Context) -> js_sys::Promise {
    let url = req.url();
    // "http://host:port/path": the path starts at the first '/' after "//".
    let path = url[8..].find('/').map_or("/", |i| &url[8 + i..]);
    let origin = env.var("ORIGIN").map(|v| v.to_string()).unwrap_or_default();
    let init = web_sys::RequestInit::new();
    init.set_method(&req.method());
    init.set_headers(&req.headers());
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    global.fetch_with_str_and_init(&format!("{origin}{path}"), &init)
}
