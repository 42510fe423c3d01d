//! Everything an isolate remembers between requests, in one place. An
//! isolate serves many requests one at a time on one thread, so each piece
//! is a `thread_local!`; none of it is authoritative (the Durable Objects
//! are), and losing any of it (a new isolate) costs I/O, never correctness.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use worker::wasm_bindgen::JsValue;
use worker::{js_sys, Env};

use super::http;
use keygate_core::admission::table::Leases;
use keygate_core::analytics::overall::Batch;
use keygate_core::cache::TtlCache;
use keygate_core::config::Config;
use keygate_core::error::Error;
use keygate_core::hash::KeyHash;
use keygate_core::lifecycle::record::KvEntry;

/// How long an isolate trusts a KV answer. Short, because KV itself is the
/// slow-to-converge part; safe, because the Durable Object re-checks.
const LOOKUP_TTL_MS: u64 = 5_000;
/// KV answers kept per isolate (about 100 bytes each).
const LOOKUP_CAPACITY: usize = 10_000;
/// How long a throttled admin client is remembered: the guard's window.
const THROTTLE_TTL_MS: u64 = 60_000;
/// Throttled admin clients kept per isolate.
const THROTTLE_CAPACITY: usize = 1_000;

thread_local! {
    /// Vars are fixed for the life of an isolate: parsed once, by [`config`].
    static CONFIG: OnceCell<Rc<Config>> = const { OnceCell::new() };
    /// `CLOCK_OFFSET_MS` (tests only), set when the configuration is read.
    pub(crate) static CLOCK_OFFSET_MS: Cell<i64> = const { Cell::new(0) };
    /// KV answers (hash → entry, or none), see [`super::bindings::lookup`].
    pub(crate) static LOOKUPS: RefCell<TtlCache<KeyHash, Option<KvEntry>>> =
        RefCell::new(TtlCache::new(LOOKUP_TTL_MS, LOOKUP_CAPACITY));
    /// Record snapshots and leases (see [`keygate_core::admission`]).
    pub(crate) static LEASES: RefCell<Option<Leases>> = const { RefCell::new(None) };
    /// Overall-usage counts of refusals no key's object saw, until flushed
    /// (see `api::batch`).
    pub(crate) static BATCH: RefCell<Batch> = RefCell::default();
    /// Whether `forward.js` has this isolate's origin-failure handler.
    pub(crate) static FAILURE_SET: Cell<bool> = const { Cell::new(false) };
    /// Clients the guard has throttled, remembered until their window ends
    /// so that their failures cost no I/O meanwhile.
    pub(crate) static THROTTLED: RefCell<TtlCache<String, Error>> =
        RefCell::new(TtlCache::new(THROTTLE_TTL_MS, THROTTLE_CAPACITY));
}

/// This isolate's configuration, parsed on first use.
pub fn config(env: &Env) -> Result<Rc<Config>, Error> {
    if let Some(config) = CONFIG.with(|c| c.get().cloned()) {
        return Ok(config);
    }
    let config =
        Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string())).map_err(|e| {
            worker::console_error!("keygate configuration error: {e}");
            Error::MISCONFIGURED
        })?;
    http::set_clock_offset(config.clock_offset_ms);
    let config = Rc::new(Config {
        analytics_engine: js_sys::Reflect::get(&env.clone().into(), &JsValue::from_str("USAGE"))
            .is_ok_and(|usage| !usage.is_undefined()),
        ..config
    });
    CONFIG.with(|c| c.set(config.clone()).ok());
    Ok(config)
}
