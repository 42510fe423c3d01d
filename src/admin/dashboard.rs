//! The dashboard's edge: its page and files (from the static assets, with
//! the security headers every page gets), and its session — sign-in,
//! sign-out, and the actor a session cookie stands for. The rules are in
//! [`keygate_core::admin::session`]; this file reads headers and env for them.

use serde::Deserialize;
use serde_json::json;
use worker::{web_sys, Env, Response};

use super::Handled;
use crate::api::entry::Presented;
use crate::objects::client;
use crate::runtime::{bindings, http, Edge};
use keygate_core::admin::session::{
    check_same_origin, clear_cookie, cookie_value, Provenance, Session, SessionKey, Subject,
};
use keygate_core::admin::{parse_body, Page, MIN_ADMIN_TOKEN_CHARS};
use keygate_core::credential::presented_key;
use keygate_core::error::Error;
use keygate_core::hash::KeyHash;
use keygate_core::keystate::{Access, Command};
use keygate_core::policy::actor::Actor;

/// Headers on every dashboard page and file: no script but the
/// dashboard's own files, no framing, no referrer, no sniffing.
const PAGE_HEADERS: [(&str, &str); 5] = [
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
];

/// Serves a dashboard `page` under `prefix`.
pub async fn page(env: &Env, prefix: &str, page: &Page) -> Handled {
    let Some(asset) = page.asset() else {
        let resp = Response::empty()
            .map(|r| r.with_status(308))
            .map_err(http::encoding_failed);
        return with_header(resp, "Location", &format!("{prefix}/"));
    };
    let found = bindings::asset(env, &format!("https://assets.invalid/{asset}")).await?;
    if found.status() != 200 {
        return Err(Error::NOT_FOUND);
    }
    // The asset's own headers are immutable: copy them into a new response.
    let headers =
        web_sys::Headers::new_with_headers(&found.headers()).map_err(|_| Error::INTERNAL)?;
    for (name, value) in PAGE_HEADERS {
        headers.set(name, value).map_err(|_| Error::INTERNAL)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(200);
    init.set_headers(&headers);
    let resp =
        web_sys::Response::new_with_opt_readable_stream_and_init(found.body().as_ref(), &init)
            .map_err(|_| Error::INTERNAL)?;
    Ok(Response::from(resp))
}

/// The key sessions are signed with, derived from `SESSION_SECRET` (when
/// it is long enough) and the admin token, whichever are set: changing
/// either ends every session, so a leaked token's sessions end when it is
/// replaced.
fn signing_key(env: &Env, token: Option<&str>) -> Result<SessionKey, Error> {
    let secret = env.secret("SESSION_SECRET").ok().map(|s| s.to_string());
    let secret = secret.filter(|s| {
        let long = s.chars().count() >= MIN_ADMIN_TOKEN_CHARS;
        if !long {
            worker::console_error!(
                "SESSION_SECRET is shorter than {MIN_ADMIN_TOKEN_CHARS} characters: ignored"
            );
        }
        long
    });
    if secret.is_none() && token.is_none() {
        return Err(Error::ADMIN_DISABLED);
    }
    let material = format!(
        "{}\n{}",
        secret.unwrap_or_default(),
        token.unwrap_or_default()
    );
    Ok(SessionKey::derive(&material))
}

/// The session cookie a request carries, if any.
pub fn cookie(presented: &Presented) -> Option<&str> {
    cookie_value(presented.cookie.as_deref())
}

/// Refuses a write that carries a session from anywhere but this origin
/// (`url` is the request's).
fn same_origin(url: &str, presented: &Presented, method: &str) -> Result<(), Error> {
    check_same_origin(Provenance {
        method,
        url,
        origin: presented.origin.as_deref(),
        fetch_site: presented.fetch_site.as_deref(),
    })
}

/// The actor a session `cookie` stands for. The admin token's session is
/// the admin token; a key's is judged again by the key's object, as its
/// secret would be (revoked, expired, IP, `admin`, limits).
pub async fn actor(
    url: &str,
    presented: &Presented,
    cookie: &str,
    access: Access,
    method: &str,
    edge: Edge<'_>,
    token: Option<&str>,
) -> Result<Actor, Error> {
    let session = opened(edge.env, cookie, token).await?;
    same_origin(url, presented, method)?;
    match session.subject {
        // Signed while the token was set, and it has since been removed
        // (the signing key is then SESSION_SECRET's alone).
        Subject::AdminToken if token.is_none() => Err(Error::UNAUTHORIZED),
        Subject::AdminToken => Ok(Actor::AdminToken),
        Subject::Key { id, secret } => {
            let command = Command::Resume { access, secret };
            let grant = client::resume(edge.env, edge.config, &id, &command).await?;
            Ok(Actor::key(&grant))
        }
    }
}

/// `POST {prefix}/session`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    /// The admin token, or an API key holding `admin`.
    token: String,
}

/// The credential a sign-in body presents, as an `Authorization` header
/// would present it (so it is checked, and its failures counted, exactly
/// as a bearer token's are). Only from this origin: a sign-in from another
/// site would sign the browser into someone else's session.
pub fn sign_in_credential(
    url: &str,
    presented: &Presented,
    body: &[u8],
) -> Result<Presented, Error> {
    same_origin(url, presented, "POST")?;
    let SignIn { token } = parse_body(body)?;
    Ok(Presented {
        authorization: Some(format!("Bearer {token}")),
        api_key: None,
        cookie: None,
        ..presented.clone()
    })
}

/// Starts a session for `actor`, who signed in with `credential` (see
/// [`sign_in_credential`]): the answer and its cookie.
pub fn start(
    edge: Edge<'_>,
    token: Option<&str>,
    actor: &Actor,
    credential: &Presented,
) -> Handled {
    let subject = match actor {
        Actor::AdminToken => Subject::AdminToken,
        Actor::Key { id, .. } => {
            let (key, _) = presented_key(credential.authorization.as_deref(), None)?;
            Subject::Key {
                id: id.clone(),
                secret: KeyHash::of(&key).fingerprint(),
            }
        }
    };
    let now = http::now();
    let session = Session::start(subject, now, edge.config.session_ttl_seconds).map_err(|e| {
        worker::console_error!("no randomness for a session id: {e}");
        Error::INTERNAL
    })?;
    let sealed = session.seal(&signing_key(edge.env, token)?);
    let set = session.set_cookie(&sealed, &edge.config.admin_prefix, now);
    with_header(described(&session), "Set-Cookie", &set)
}

/// `GET {prefix}/session`: who the cookie's session acts as, until when
/// (once [`actor`] has judged it).
pub async fn current(env: &Env, presented: &Presented, token: Option<&str>) -> Handled {
    let cookie = cookie(presented).ok_or(Error::UNAUTHORIZED)?;
    described(&opened(env, cookie, token).await?)
}

/// The session `cookie` holds, if it is genuine, unexpired and not signed out.
async fn opened(env: &Env, cookie: &str, token: Option<&str>) -> Result<Session, Error> {
    let session = Session::open(cookie, &signing_key(env, token)?, http::now())?;
    if bindings::session_ended(env, &session.id).await? {
        return Err(Error::UNAUTHORIZED);
    }
    Ok(session)
}

/// The session's answer: who it acts as, until when.
fn described(session: &Session) -> Handled {
    let resp = http::reply(
        200,
        &json!({ "data": { "actor": session.subject.actor(), "expires_at": session.expires_at } }),
    );
    with_header(resp, "Cache-Control", "no-store")
}

/// `resp` with header `name` set to `value`.
fn with_header(resp: Handled, name: &str, value: &str) -> Handled {
    let resp = resp?;
    resp.headers()
        .set(name, value)
        .map_err(http::encoding_failed)?;
    Ok(resp)
}

/// `DELETE {prefix}/session`: the session ended (its cookie no longer
/// works anywhere, even copied) and the browser's cookie cleared. Needs no
/// credential but the cookie itself: without a genuine one there is
/// nothing to end, and the answer only clears the browser's copy. From
/// this origin only, like every write a cookie carries.
pub async fn sign_out(
    env: &Env,
    url: &str,
    prefix: &str,
    presented: &Presented,
    token: Option<&str>,
) -> Handled {
    same_origin(url, presented, "DELETE")?;
    let now = http::now();
    if let (Some(cookie), Ok(key)) = (cookie(presented), signing_key(env, token)) {
        if let Ok(session) = Session::open(cookie, &key, now) {
            bindings::end_session(env, &session.id, session.expires_at, now).await?;
        }
    }
    let resp = Response::empty()
        .map(|r| r.with_status(204))
        .map_err(http::encoding_failed);
    with_header(resp, "Set-Cookie", &clear_cookie(prefix))
}
