//! Storage adapters: the KV read path (hash → key id, cached per isolate),
//! commands to a key's Durable Object, and commands to the registry. Every
//! storage failure becomes `Error::Unavailable`: keygate fails closed.

use std::cell::RefCell;
use std::time::Duration;

use futures_util::future::{select, Either};

use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys, Env};

use crate::cache::TtlCache;
use crate::config::{Config, Fault};
use crate::error::Error;
use crate::guard;
use crate::hash::KeyHash;
use crate::key::KeyId;
use crate::keystate::{Command, Reply};
use crate::lifecycle::record::KvEntry;
use crate::lifecycle::registry::{RegistryCommand, RegistryReply};
use crate::owner::{OwnerCommand, OwnerReply};
use crate::time::Timestamp;

/// KV namespace binding: `sha256(key)` → [`KvEntry`].
const KV_BINDING: &str = "KEYS";
/// Durable Object namespace binding: one `KeyObject` per key id.
const KEY_OBJECTS: &str = "KEY_OBJECTS";
/// Durable Object namespace binding: one `OwnerObject` per owner id.
const OWNER_OBJECTS: &str = "OWNER_OBJECTS";
/// Durable Object namespace binding of the registry, and its one instance.
const REGISTRY: (&str, &str) = ("REGISTRY", "registry");
/// Durable Object namespace binding: one `GuardObject` per admin client.
const ADMIN_GUARD: &str = "ADMIN_GUARD";
/// How long the Worker waits for a Durable Object before failing closed.
/// Calls take milliseconds; this only bounds a stuck one.
pub const OBJECT_TIMEOUT_MS: u64 = 5_000;
/// How long an isolate trusts a KV answer. Short, because KV itself is the
/// slow-to-converge part; safe, because the Durable Object re-checks.
const LOOKUP_TTL_MS: u64 = 5_000;
/// Entries per isolate (about 100 bytes each).
const LOOKUP_CAPACITY: usize = 10_000;

thread_local! {
    static LOOKUPS: RefCell<TtlCache<KeyHash, Option<KvEntry>>> =
        RefCell::new(TtlCache::new(LOOKUP_TTL_MS, LOOKUP_CAPACITY));
}

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
    .map_err(|_| Error::Internal)?;
    kv(
        env,
        "put",
        &[ended_session(id), JsValue::from_str("1"), options.into()],
    )
    .await
    .map(drop)
    .map_err(|e| {
        worker::console_error!("KV write of a sign-out failed: {e}");
        Error::Unavailable
    })
}

/// Whether dashboard session `id` was signed out.
pub async fn session_ended(env: &Env, id: &str) -> Result<bool, Error> {
    let found = kv(env, "get", &[ended_session(id)]).await.map_err(|e| {
        worker::console_error!("KV read of a session failed: {e}");
        Error::Unavailable
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
            Error::Misconfigured
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
            Error::Unavailable
        })?;
    let entry: Option<KvEntry> = match text.as_string() {
        None => None,
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
            worker::console_error!("KV entry unreadable: {e}");
            Error::Unavailable
        })?),
    };
    LOOKUPS.with(|c| c.borrow_mut().insert(hash.clone(), entry.clone(), now));
    Ok(entry)
}

/// Writes (or overwrites) the KV entry for `hash`.
pub async fn put_entry(env: &Env, hash: &KeyHash, entry: &KvEntry) -> Result<(), Error> {
    LOOKUPS.with(|c| c.borrow_mut().remove(hash));
    let value = serde_json::to_string(entry).map_err(|_| Error::Internal)?;
    kv(
        env,
        "put",
        &[JsValue::from_str(hash.as_str()), JsValue::from_str(&value)],
    )
    .await
    .map(drop)
    .map_err(|e| {
        worker::console_error!("KV write for {} failed: {e}", entry.id);
        Error::Unavailable
    })
}

/// Sends `command` to the Durable Object of key `id`. One call, no retry:
/// an authorize is not idempotent, so a failed one is reported (503)
/// rather than repeated.
pub async fn key_object(
    env: &Env,
    config: &Config,
    id: &KeyId,
    command: &Command,
) -> Result<Reply, Error> {
    config.fail_at(Fault::KeyObject)?;
    call_object::<_, Result<Reply, Error>>(env, KEY_OBJECTS, id.as_str(), command).await?
}

/// Sends `command` to the Durable Object of owner `owner_id`. One call,
/// no retry (a charge is not idempotent).
pub async fn owner_object(
    env: &Env,
    config: &Config,
    owner_id: &str,
    command: &OwnerCommand,
) -> Result<OwnerReply, Error> {
    config.fail_at(Fault::OwnerObject)?;
    call_object::<_, Result<OwnerReply, Error>>(env, OWNER_OBJECTS, owner_id, command).await?
}

/// Sends `command` to the registry.
pub async fn registry(env: &Env, command: &RegistryCommand) -> Result<RegistryReply, Error> {
    call_object(env, REGISTRY.0, REGISTRY.1, command).await
}

/// Reports a failed admin authentication from `client` to its guard
/// object and returns the guard's verdict (see [`crate::guard`] for the
/// plain-text answer, which keeps JSON code for this exchange out of the bundle).
pub async fn guard(env: &Env, client: &str) -> Result<Result<(), Error>, Error> {
    let text = call(env, ADMIN_GUARD, client, String::new()).await?;
    guard::verdict(&text).ok_or_else(|| {
        worker::console_error!("{ADMIN_GUARD} object {client}: unreadable verdict");
        Error::Unavailable
    })
}

/// POSTs `command` as JSON to the object `name` of `binding` and decodes
/// its JSON answer.
pub async fn call_object<C: Serialize, R: DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    command: &C,
) -> Result<R, Error> {
    let body = serde_json::to_string(command).map_err(|_| Error::Internal)?;
    let text = call(env, binding, name, body).await?;
    // The error is not logged: serde's message can quote the reply, and
    // replies may carry secret hashes.
    serde_json::from_str(&text).map_err(|_| {
        worker::console_error!("{binding} object {name}: its answer did not decode");
        Error::Unavailable
    })
}

/// POSTs `body` to the object `name` of `binding` and reads its answer;
/// anything but a 200 in time is `Unavailable`.
async fn call(env: &Env, binding: &str, name: &str, body: String) -> Result<String, Error> {
    let unavailable = |what: &str, e: worker::Error| {
        worker::console_error!("{binding} object {name}: {what} failed: {e}");
        Error::Unavailable
    };
    let namespace = env.durable_object(binding).map_err(|e| {
        worker::console_error!("Durable Object binding {binding} missing: {e}");
        Error::Misconfigured
    })?;
    // The runtime's own types throughout: worker's `Request` and
    // `Response` wrappers read each one's `cf` object and parse its URL,
    // which costs more than the call's own work.
    let stub: worker::worker_sys::DurableObject = namespace
        .get_by_name(name)
        .map_err(|e| unavailable("stub", e))?
        .into_rpc();
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&body.into());
    let req = web_sys::Request::new_with_str_and_init("https://object/", &init)
        .map_err(|e| unavailable("request", e.into()))?;
    let sent = stub
        .fetch_with_request(&req)
        .map_err(|e| unavailable("fetch", e.into()))?;
    // Not retried on timeout: an authorize may have counted already, and
    // counting twice is worse than one 503.
    let call = std::pin::pin!(JsFuture::from(sent));
    let timeout = std::pin::pin!(worker::Delay::from(Duration::from_millis(
        OBJECT_TIMEOUT_MS
    )));
    let resp: web_sys::Response = match select(call, timeout).await {
        Either::Left((result, _)) => result
            .map_err(|e| unavailable("fetch", e.into()))?
            .unchecked_into(),
        Either::Right(_) => {
            worker::console_error!("{binding} object {name}: no answer in {OBJECT_TIMEOUT_MS} ms");
            return Err(Error::Unavailable);
        }
    };
    if resp.status() != 200 {
        worker::console_error!("{binding} object {name} answered {}", resp.status());
        return Err(Error::Unavailable);
    }
    let text = resp.text().map_err(|e| unavailable("read", e.into()))?;
    let text = JsFuture::from(text)
        .await
        .map_err(|e| unavailable("read", e.into()))?;
    text.as_string()
        .ok_or_else(|| unavailable("read", worker::Error::RustError("not text".into())))
}
