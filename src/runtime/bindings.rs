//! The runtime's bindings other than Durable Objects: the KV namespace
//! (hash → key entry, cached per isolate in [`super::isolate`]; dashboard
//! sign-outs) and the static assets. Every storage failure becomes
//! `Error::UNAVAILABLE`: keygate fails closed.

use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys, Env};

use super::isolate::LOOKUPS;
use keygate_core::config::{Config, Fault};
use keygate_core::error::Error;
use keygate_core::hash::KeyHash;
use keygate_core::lifecycle::record::KvEntry;
use keygate_core::time::Timestamp;

/// KV namespace binding: `sha256(key)` → [`KvEntry`].
const KV_BINDING: &str = "KEYS";

/// Calls the KV namespace's `method` (`get` or `put`) with `args`.
async fn kv(env: &Env, method: &str, args: &[JsValue]) -> Result<JsValue, String> {
    call_binding(env, KV_BINDING, method, args).await
}

/// Where KV records a dashboard session as signed out (never a key hash:
/// those are bare hex).
fn ended_session(id: &str) -> JsValue {
    JsValue::from_str(&format!("session-ended:{id}"))
}

/// Records dashboard session `id` as signed out, until `expires_at` (when
/// its cookie stops working anyway; KV refuses an entry that would live
/// less than a minute, so one that short lives a little longer).
pub async fn end_session(
    env: &Env,
    id: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<(), Error> {
    let left = expires_at
        .as_millis()
        .saturating_sub(now.as_millis())
        .div_ceil(1000);
    let options = js_sys::Object::new();
    js_sys::Reflect::set(
        &options,
        &"expirationTtl".into(),
        &JsValue::from_f64(left.max(61) as f64),
    )
    .map_err(|_| Error::INTERNAL)?;
    kv(
        env,
        "put",
        &[ended_session(id), JsValue::from_str("1"), options.into()],
    )
    .await
    .map(drop)
    .map_err(|e| {
        worker::console_error!("KV write of a sign-out failed: {e}");
        Error::UNAVAILABLE
    })
}

/// Whether dashboard session `id` was signed out.
pub async fn session_ended(env: &Env, id: &str) -> Result<bool, Error> {
    let found = kv(env, "get", &[ended_session(id)]).await.map_err(|e| {
        worker::console_error!("KV read of a session failed: {e}");
        Error::UNAVAILABLE
    })?;
    Ok(!found.is_null() && !found.is_undefined())
}

/// The static asset at `url` (see wrangler.toml's `[assets]`).
pub async fn asset(env: &Env, url: &str) -> Result<web_sys::Response, Error> {
    let answer = call_binding(env, "ASSETS", "fetch", &[JsValue::from_str(url)]).await;
    answer
        .and_then(|resp| resp.dyn_into().map_err(|_| "not a Response".to_owned()))
        .map_err(|e| {
            worker::console_error!("static asset {url}: {e} (is [assets] in wrangler.toml?)");
            Error::MISCONFIGURED
        })
}

/// Calls binding `name`'s `method` with `args`, on the runtime's own
/// object: worker's `KvStore` builds every call's options with
/// serde-wasm-bindgen, and its `Fetcher` wraps every answer, which cost
/// the bundle more than these lines. The error is a description for the
/// log (never a key: keys are hashes).
async fn call_binding(
    env: &Env,
    name: &str,
    method: &str,
    args: &[JsValue],
) -> Result<JsValue, String> {
    let namespace = js_sys::Reflect::get(env, &name.into())
        .ok()
        .filter(JsValue::is_object)
        .ok_or_else(|| format!("binding {name} missing"))?;
    let call: js_sys::Function = js_sys::Reflect::get(&namespace, &method.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| format!("binding {name} has no {method}"))?;
    let args: js_sys::Array = args.iter().collect();
    let described = |e: JsValue| {
        e.dyn_ref::<js_sys::Error>()
            .map_or_else(|| "not an Error".to_owned(), |e| String::from(e.message()))
    };
    let promise = call.apply(&namespace, &args).map_err(described)?;
    JsFuture::from(js_sys::Promise::from(promise))
        .await
        .map_err(described)
}

/// Finds the key a hash belongs to: at most one KV read, none on a cache hit.
pub async fn lookup(
    env: &Env,
    config: &Config,
    hash: &KeyHash,
    now: Timestamp,
) -> Result<Option<KvEntry>, Error> {
    if let Some(hit) = LOOKUPS.with(|c| c.borrow_mut().get(hash, now)) {
        return Ok(hit);
    }
    config.fail_at(Fault::KvRead)?;
    // As text, decoded by serde_json: the runtime's JSON would need a
    // second decoder for JS values in the bundle.
    let text = kv(env, "get", &[JsValue::from_str(hash.as_str())])
        .await
        .map_err(|e| {
            worker::console_error!("KV read failed: {e}");
            Error::UNAVAILABLE
        })?;
    let entry: Option<KvEntry> = match text.as_string() {
        None => None,
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
            worker::console_error!("KV entry unreadable: {e}");
            Error::UNAVAILABLE
        })?),
    };
    LOOKUPS.with(|c| c.borrow_mut().insert(hash.clone(), entry.clone(), now));
    Ok(entry)
}

/// Writes (or overwrites) the KV entry for `hash`.
pub async fn put_entry(env: &Env, hash: &KeyHash, entry: &KvEntry) -> Result<(), Error> {
    LOOKUPS.with(|c| c.borrow_mut().remove(hash));
    let value = serde_json::to_string(entry).map_err(|_| Error::INTERNAL)?;
    kv(
        env,
        "put",
        &[JsValue::from_str(hash.as_str()), JsValue::from_str(&value)],
    )
    .await
    .map(drop)
    .map_err(|e| {
        worker::console_error!("KV write for {} failed: {e}", entry.id);
        Error::UNAVAILABLE
    })
}
