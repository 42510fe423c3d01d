//! The dashboard's session: a right admin credential, presented once to
//! `POST {prefix}/session`, is exchanged for a short-lived signed cookie,
//! so the browser never keeps the token where JavaScript can read it.
//!
//! The cookie is `v1.<id>.<subject>.<expires ms>.<hex HMAC-SHA256>`,
//! signed with a key derived from `SESSION_SECRET` (or, without one, the
//! admin token — so changing the token ends every session). It needs no
//! storage to check; signing out records its random `id` as ended (in KV,
//! until the session would have expired), so a copied cookie dies with it. It is
//! `HttpOnly; Secure; SameSite=Strict` and scoped to the admin prefix.
//! A request that carries it and writes must also come from the Worker's
//! own origin ([`check_same_origin`]): SameSite keeps other sites' requests
//! from carrying the cookie, the origin check refuses any that still do.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::Error;
use crate::hash::SecretFingerprint;
use crate::key::KeyId;
use crate::time::Timestamp;

/// The cookie's name.
pub const COOKIE: &str = "keygate_session";

/// How long a session lasts unless `SESSION_TTL_SECONDS` says otherwise.
pub const DEFAULT_TTL_SECONDS: u64 = 12 * 60 * 60;

/// The longest `SESSION_TTL_SECONDS` may set: a session is short-lived.
pub const MAX_TTL_SECONDS: u64 = 24 * 60 * 60;

/// Version tag, so a future format can tell old cookies apart.
const VERSION: &str = "v1";

/// Who a session acts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// Signed in with the admin token.
    AdminToken,
    /// Signed in with an API key holding `admin`: each request is judged
    /// again by the key's object (revoked, expired, or the secret signed in
    /// with rotated away: the session ends).
    Key {
        /// The key.
        id: KeyId,
        /// The secret it was signed in with.
        secret: SecretFingerprint,
    },
}

impl Subject {
    /// How the session answer names who acts: `admin_token` or the key id.
    pub fn actor(&self) -> &str {
        match self {
            Subject::AdminToken => "admin_token",
            Subject::Key { id, .. } => id.as_str(),
        }
    }

    /// How the cookie names the subject.
    fn sealed(&self) -> String {
        match self {
            Subject::AdminToken => "admin_token".to_owned(),
            Subject::Key { id, secret } => format!("{id}:{}", secret.as_str()),
        }
    }

    fn parse(s: &str) -> Option<Subject> {
        if s == "admin_token" {
            return Some(Subject::AdminToken);
        }
        let (id, secret) = s.split_once(':')?;
        Some(Subject::Key {
            id: id.parse().ok()?,
            secret: SecretFingerprint::parse(secret)?,
        })
    }
}

/// The key sessions are signed with, derived from a deployment secret.
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// Derives the signing key from `secret` (domain-separated, so the
    /// key is never the secret itself).
    pub fn derive(secret: &str) -> SessionKey {
        let mut mac = Self::hmac(secret.as_bytes());
        mac.update(b"keygate dashboard session");
        SessionKey(mac.finalize().into_bytes().into())
    }

    fn hmac(key: &[u8]) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length")
    }

    fn mac(&self, signed: &str) -> Hmac<Sha256> {
        let mut mac = Self::hmac(&self.0);
        mac.update(signed.as_bytes());
        mac
    }
}

/// A signed-in session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Random, hex: how sign-out names the session it ends.
    pub id: String,
    /// Who acts.
    pub subject: Subject,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl Session {
    /// A new session for `subject` from `now`, lasting `ttl_seconds`.
    pub fn start(
        subject: Subject,
        now: Timestamp,
        ttl_seconds: u64,
    ) -> Result<Session, getrandom::Error> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)?;
        Ok(Session {
            id: hex::encode(id),
            subject,
            expires_at: Timestamp::from_millis(now.as_millis() + ttl_seconds * 1000),
        })
    }

    /// The cookie value: the session and its signature.
    pub fn seal(&self, key: &SessionKey) -> String {
        let signed = self.signed_part();
        let tag = hex::encode(key.mac(&signed).finalize().into_bytes());
        format!("{signed}.{tag}")
    }

    fn signed_part(&self) -> String {
        format!(
            "{VERSION}.{}.{}.{}",
            self.id,
            self.subject.sealed(),
            self.expires_at.as_millis()
        )
    }

    /// The session a cookie value holds, if `key` signed it and it has not
    /// expired at `now`. A forged, altered or malformed value is
    /// `unauthorized`; a genuine one past its time `session_expired`.
    pub fn open(value: &str, key: &SessionKey, now: Timestamp) -> Result<Session, Error> {
        let (signed, tag) = value.rsplit_once('.').ok_or(Error::UNAUTHORIZED)?;
        let tag = hex::decode(tag).map_err(|_| Error::UNAUTHORIZED)?;
        // Constant time: the tag is compared by the MAC, not byte by byte here.
        key.mac(signed)
            .verify_slice(&tag)
            .map_err(|_| Error::UNAUTHORIZED)?;
        let mut parts = signed.split('.');
        let (Some(VERSION), Some(id), Some(subject), Some(expires), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(Error::UNAUTHORIZED);
        };
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::UNAUTHORIZED);
        }
        let session = Session {
            id: id.to_owned(),
            subject: Subject::parse(subject).ok_or(Error::UNAUTHORIZED)?,
            expires_at: Timestamp::from_millis(expires.parse().map_err(|_| Error::UNAUTHORIZED)?),
        };
        if session.expires_at <= now {
            return Err(Error::SESSION_EXPIRED);
        }
        Ok(session)
    }

    /// The `Set-Cookie` value that stores `sealed` for the admin `path`
    /// until the session ends.
    pub fn set_cookie(&self, sealed: &str, path: &str, now: Timestamp) -> String {
        let max_age = self.expires_at.as_millis().saturating_sub(now.as_millis()) / 1000;
        cookie(sealed, path, max_age)
    }
}

/// The `Set-Cookie` value that deletes the session cookie.
pub fn clear_cookie(path: &str) -> String {
    cookie("", path, 0)
}

fn cookie(value: &str, path: &str, max_age: u64) -> String {
    format!("{COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict")
}

/// The session cookie's value in a `Cookie` request header, if it holds
/// exactly one. Two mean another site on a sibling domain planted one
/// (which a browser sends first when its path is longer): neither counts.
pub fn cookie_value(header: Option<&str>) -> Option<&str> {
    let mut found = header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim());
    match (found.next(), found.next()) {
        (Some(value), None) if !value.is_empty() => Some(value),
        _ => None,
    }
}

/// The `SESSION_TTL_SECONDS` setting: 1 s to a day.
pub fn ttl_seconds(var: Option<&str>) -> Result<u64, String> {
    match var {
        None => Ok(DEFAULT_TTL_SECONDS),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_TTL_SECONDS).contains(n))
            .ok_or_else(|| {
                format!("SESSION_TTL_SECONDS must be 1 to {MAX_TTL_SECONDS}, not {v:?}")
            }),
    }
}

/// The facts a cookie-carrying request is judged by: what a browser sends
/// about where a request comes from.
#[derive(Clone, Copy, Debug)]
pub struct Provenance<'a> {
    /// The request's method.
    pub method: &'a str,
    /// Its URL (the Worker's own origin is read from it).
    pub url: &'a str,
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Sec-Fetch-Site` header.
    pub fetch_site: Option<&'a str>,
}

/// Refuses a write that carries the session cookie unless it comes from
/// the Worker's own origin: `Origin` must equal it, or, when a browser
/// sends no `Origin`, `Sec-Fetch-Site` must be `same-origin`. A request
/// with neither is not from a browser page and is refused too: scripts
/// use bearer tokens. Reads pass: SameSite=Strict keeps the cookie off
/// other sites' requests, and a read changes nothing.
pub fn check_same_origin(p: Provenance<'_>) -> Result<(), Error> {
    if matches!(p.method, "GET" | "HEAD") {
        return Ok(());
    }
    let same = match (p.origin, p.fetch_site) {
        (Some(origin), _) => Some(origin) == own_origin(p.url),
        (None, Some(site)) => site.eq_ignore_ascii_case("same-origin"),
        (None, None) => false,
    };
    if same {
        Ok(())
    } else {
        Err(Error::CROSS_SITE_REQUEST)
    }
}

/// `scheme://host[:port]` of an absolute URL.
fn own_origin(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..scheme.len() + 3 + end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn key() -> SessionKey {
        SessionKey::derive("a-deployment-secret-of-some-length")
    }

    #[test]
    fn a_sealed_session_opens_with_its_key_until_it_expires() {
        let session = Session::start(Subject::AdminToken, NOW, 60).unwrap();
        let sealed = session.seal(&key());
        assert!(sealed.starts_with(&format!("v1.{}.admin_token.1800000060000.", session.id)));
        assert_eq!(session.id.len(), 32);
        let again = Session::start(Subject::AdminToken, NOW, 60).unwrap();
        assert_ne!(again.id, session.id, "each sign-in is its own session");
        assert_eq!(Session::open(&sealed, &key(), NOW), Ok(session.clone()));
        let later = Timestamp::from_millis(NOW.as_millis() + 60_000);
        assert_eq!(
            Session::open(&sealed, &key(), later),
            Err(Error::SESSION_EXPIRED)
        );
        let id: KeyId = "key_0123456789abcdef".parse().unwrap();
        let secret = SecretFingerprint::parse("0123456789abcdef").unwrap();
        let subject = Subject::Key {
            id: id.clone(),
            secret,
        };
        let keyed = Session::start(subject.clone(), NOW, 60).unwrap();
        assert!(keyed
            .seal(&key())
            .contains(&format!(".{id}:0123456789abcdef.")));
        assert_eq!(subject.actor(), id.as_str());
        assert_eq!(
            Session::open(&keyed.seal(&key()), &key(), NOW).map(|s| s.subject),
            Ok(subject)
        );
    }

    #[test]
    fn forged_altered_and_malformed_cookies_are_refused() {
        let sealed = Session::start(Subject::AdminToken, NOW, 60)
            .unwrap()
            .seal(&key());
        let other = SessionKey::derive("another-deployment-secret-entirely");
        assert_eq!(
            Session::open(&sealed, &other, NOW),
            Err(Error::UNAUTHORIZED)
        );
        // Extending the expiry breaks the signature.
        let extended = sealed.replace(".1800000060000.", ".1900000060000.");
        assert_eq!(
            Session::open(&extended, &key(), NOW),
            Err(Error::UNAUTHORIZED)
        );
        let mut flipped = sealed.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        for bad in [
            flipped.as_str(),
            "",
            "v1",
            "v1.admin_token.1.zz",
            "v1.00112233445566778899aabbccddeeff.admin_token.1800000060000.",
        ] {
            assert_eq!(
                Session::open(bad, &key(), NOW),
                Err(Error::UNAUTHORIZED),
                "{bad}"
            );
        }
        // Signed, but not a shape this version writes.
        let odd = |signed: &str| {
            let tag = hex::encode(key().mac(signed).finalize().into_bytes());
            Session::open(&format!("{signed}.{tag}"), &key(), NOW)
        };
        const ID: &str = "00112233445566778899aabbccddeeff";
        assert_eq!(
            odd(&format!("v2.{ID}.admin_token.1900000000000")),
            Err(Error::UNAUTHORIZED)
        );
        assert_eq!(
            odd(&format!("v1.{ID}.someone.1900000000000")),
            Err(Error::UNAUTHORIZED)
        );
        assert_eq!(
            odd(&format!("v1.{ID}.admin_token.soon")),
            Err(Error::UNAUTHORIZED)
        );
        assert_eq!(
            odd("v1.short.admin_token.1900000000000"),
            Err(Error::UNAUTHORIZED)
        );
        assert_eq!(
            odd("v1.admin_token.1900000000000"),
            Err(Error::UNAUTHORIZED)
        );
        assert_eq!(
            odd(&format!("v1.{ID}.admin_token.1900000000000")),
            Ok(Session {
                id: ID.to_owned(),
                subject: Subject::AdminToken,
                expires_at: Timestamp::from_millis(1_900_000_000_000),
            })
        );
    }

    #[test]
    fn the_cookie_is_http_only_secure_strict_and_scoped() {
        let session = Session::start(Subject::AdminToken, NOW, DEFAULT_TTL_SECONDS).unwrap();
        assert_eq!(
            session.set_cookie("v", "/_keygate", NOW),
            "keygate_session=v; Path=/_keygate; Max-Age=43200; HttpOnly; Secure; SameSite=Strict"
        );
        assert_eq!(
            clear_cookie("/_keygate"),
            "keygate_session=; Path=/_keygate; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
        );
        assert_eq!(
            cookie_value(Some("a=1; keygate_session=v1.x.2.ab ;b=2")),
            Some("v1.x.2.ab")
        );
        assert_eq!(cookie_value(Some("keygate_session=")), None);
        assert_eq!(
            cookie_value(Some("keygate_session=a; keygate_session=b")),
            None,
            "a planted second one"
        );
        assert_eq!(cookie_value(Some("other_keygate_session=x")), None);
        assert_eq!(cookie_value(None), None);
    }

    #[test]
    fn ttl_setting() {
        assert_eq!(ttl_seconds(None), Ok(DEFAULT_TTL_SECONDS));
        assert_eq!(ttl_seconds(Some("2")), Ok(2));
        for bad in ["0", "86401", "soon", "-1"] {
            assert!(ttl_seconds(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_carrying_the_cookie_must_come_from_the_workers_own_origin() {
        let at = |method, origin, fetch_site| {
            check_same_origin(Provenance {
                method,
                url: "https://api.example.com/_keygate/v1/keys?q=1",
                origin,
                fetch_site,
            })
        };
        assert_eq!(at("GET", Some("https://evil.example"), None), Ok(()));
        assert_eq!(at("POST", Some("https://api.example.com"), None), Ok(()));
        assert_eq!(at("DELETE", None, Some("same-origin")), Ok(()));
        for (origin, site) in [
            (Some("https://evil.example"), Some("same-origin")),
            (Some("https://api.example.com.evil.example"), None),
            (Some("http://api.example.com"), None),
            (Some("null"), None),
            (None, Some("same-site")),
            (None, Some("cross-site")),
            (None, None),
        ] {
            assert_eq!(
                at("PATCH", origin, site),
                Err(Error::CROSS_SITE_REQUEST),
                "{origin:?} {site:?}"
            );
        }
        assert_eq!(
            own_origin("http://127.0.0.1:8787/_keygate/"),
            Some("http://127.0.0.1:8787")
        );
        assert_eq!(
            own_origin("http://127.0.0.1:8787"),
            Some("http://127.0.0.1:8787")
        );
    }
}
