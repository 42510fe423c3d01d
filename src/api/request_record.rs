//! A request's record: created when it arrives, finished exactly once by
//! whichever path answers it. A refusal's line, count and data point are
//! written here (where it is counted is [`RefusedBy::accounting`]'s
//! rule); an admitted request's line goes to `forward.js`, which finishes
//! it when the origin answers; an admin call's line is the admin line
//! (see `admin::handle`).
//!
//! Every [`Answer`] the entry point returns is made by finishing a
//! record, and finishing consumes it: a path that answers without
//! finishing, or finishes twice, does not compile.

use std::future::Future;
use std::pin::Pin;

use wasm_bindgen::JsValue;
use worker::{js_sys, web_sys, Context, Env};

use super::entry::cf_country;
use super::{proxy, telemetry};
use crate::runtime::http::{self, HeaderEdits};
use crate::runtime::isolate;
use keygate_core::analytics::overall::Counted;
use keygate_core::analytics::refusal::RefusedBy;
use keygate_core::analytics::{Decision, Outcome, Tally};
use keygate_core::config::Config;
use keygate_core::error::Error;
use keygate_core::key::KeyId;
use keygate_core::log::{Arrival, RequestLine};
use keygate_core::time::Timestamp;

/// A request being answered: what its line will say, filled in as the
/// entry point and the gateway read the request.
pub(crate) struct RequestRecord {
    /// The line's start.
    pub arrival: Arrival,
    /// The request (a handle, not `Request.clone()`, which would tee the
    /// body), for its country when a refusal's line needs it.
    request: web_sys::Request,
}

impl RequestRecord {
    /// The record of `request`, arrived `at`.
    pub fn new(request: &web_sys::Request, at: Timestamp) -> RequestRecord {
        RequestRecord {
            arrival: Arrival {
                at,
                ..Arrival::default()
            },
            request: Clone::clone(request),
        }
    }

    /// Finishes a request refused with `error` by `by`: counted, logged and
    /// written as a data point as [`RefusedBy::accounting`] says, and
    /// answered with the error's JSON and `edits` (a key's CORS headers).
    pub fn refused(
        self,
        env: &Env,
        ctx: &Context,
        error: &Error,
        by: &RefusedBy,
        edits: HeaderEdits,
    ) -> Finished {
        let accounting = by.accounting(error);
        if let Some(mut counted) = accounting.batched {
            counted.decision.country = self.arrival.country.as_deref();
            telemetry::count(env, ctx, counted);
        }
        let now = http::now();
        let line = || RequestLine {
            // Read only for a line: a flood of garbage keys does not pay for it.
            country: self
                .arrival
                .country
                .clone()
                .or_else(|| cf_country(&self.request)),
            ..RequestLine::refused(&self.arrival, by.key(), error, by.object_called(), now)
        };
        match isolate::config(env) {
            Ok(config) => {
                let logged = accounting.logged && config.request_logs;
                if logged || config.analytics_engine {
                    telemetry::record(env, logged, config.analytics_engine, &line());
                }
            }
            // Unconfigured, the line is still logged: there is nothing else to go by.
            Err(_) => http::log(&line()),
        }
        Finished::of(http::error_response_with(error, now, edits))
    }

    /// Finishes an admitted request: its line so far (see
    /// [`RequestLine::admitted`]), for `forward.js` to finish with the
    /// status and latency when the origin answers; `None` when nothing
    /// records it. The [`Handed`] answers the request.
    pub fn admitted(
        self,
        (env, ctx): (&Env, &Context),
        key: (&KeyId, Option<&str>),
        cost: u32,
        object_called: bool,
        config: &Config,
    ) -> (Option<proxy::Logged>, Handed) {
        let decision = Decision {
            outcome: Outcome::Valid,
            tally: Tally {
                count: 1,
                cost: u64::from(cost),
            },
            country: self.arrival.country.as_deref(),
        };
        let counted = Counted {
            decision,
            key: Some(key.0),
            owner: key.1,
        };
        telemetry::count(env, ctx, counted);
        let log = telemetry::wanted(config)
            .then(|| RequestLine::admitted(&self.arrival, key, cost, object_called))
            .and_then(|line| serde_json::to_string(&line).ok())
            .map(|line| proxy::Logged {
                logged: config.request_logs,
                line,
                started: http::runtime_millis(self.arrival.at),
            });
        (log, Handed(()))
    }

    /// Finishes an admin API call: its line is the admin line, written by
    /// `admin::handle` from this start.
    pub fn admin(self) -> (Arrival, Handed) {
        (self.arrival, Handed(()))
    }

    /// Finishes a CORS preflight: it grants nothing and carries no key, so
    /// it is neither logged nor counted.
    pub fn preflight(self, resp: web_sys::Response) -> Finished {
        Finished(resp.into())
    }
}

/// A record handed to what finishes its line later (`forward.js`, the
/// admin line): its request is answered without another line or count.
pub(crate) struct Handed(());

impl Handed {
    /// The answer `result`, whose line is written elsewhere: an error
    /// becomes its JSON here, uncounted (a streamed body cut at the cap was
    /// logged 413 by `forward.js`, as the key's).
    pub fn answer(self, result: Result<web_sys::Response, Error>) -> Finished {
        match result {
            Ok(resp) => Finished(resp.into()),
            Err(error) => Finished::of(http::error_response(&error, http::now())),
        }
    }

    /// The runtime's promise of the answer (the origin's, or keygate's
    /// 502/504: it always resolves to a response).
    pub fn promised(self, sent: js_sys::Promise) -> Answer {
        Answer(Inner::Now(sent))
    }
}

/// A finished request's response.
pub(crate) struct Finished(JsValue);

impl Finished {
    /// A built response, or `null` if it could not be built (the runtime
    /// answers that with its own 500).
    fn of(built: worker::Result<worker::Response>) -> Finished {
        Finished(built.map_or(JsValue::NULL, |r| web_sys::Response::from(r).into()))
    }

    /// The answer, ready now.
    pub fn now(self) -> Answer {
        Answer(Inner::Now(js_sys::Promise::resolve(&self.0)))
    }
}

/// What the entry point returns to the runtime. Whatever can be decided
/// without I/O is decided synchronously: a request admitted from this
/// isolate's lease goes back as the origin fetch's own promise; only
/// requests that wait on storage run as a Rust future.
pub(crate) struct Answer(Inner);

enum Inner {
    Now(js_sys::Promise),
    Later(Pin<Box<dyn Future<Output = Finished>>>),
}

impl Answer {
    /// The rest waits on I/O; it ends by finishing the record.
    pub fn later(work: impl Future<Output = Finished> + 'static) -> Answer {
        Answer(Inner::Later(Box::pin(work)))
    }

    /// The promise the runtime gets.
    pub fn into_promise(self) -> js_sys::Promise {
        match self.0 {
            Inner::Now(promise) => promise,
            Inner::Later(work) => {
                worker::wasm_bindgen_futures::future_to_promise(async move { Ok(work.await.0) })
            }
        }
    }
}
