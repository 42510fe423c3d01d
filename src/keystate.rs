//! The per-key state machine that each key's Durable Object runs: the
//! authoritative record (status, secrets, limits) and the counters, and the
//! commands the Worker sends it. Pure: the Durable Object only loads this
//! state, calls [`KeyState::apply`] with the time, and saves what changed.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::hash::KeyHash;
use crate::key::{Environment, KeyId, KeyType};
use crate::limit::{self, Outcome, Quota, RateLimits, Usage};
use crate::record::{KeyRecord, KeyView, Status};
use crate::time::Timestamp;

/// A request from the Worker to a key's Durable Object.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Store a freshly issued record. Refused if the object already has one.
    Create {
        /// The new key's record.
        record: KeyRecord,
    },
    /// Decide on an API request presenting `hash`, consuming `cost` units
    /// if and only if it is admitted.
    Authorize {
        /// Hash of the presented key.
        hash: KeyHash,
        /// Units this request costs.
        cost: u32,
    },
    /// Like `Authorize` but consumes nothing (for `whoami`).
    Inspect {
        /// Hash of the presented key.
        hash: KeyHash,
    },
    /// Read the record.
    Get,
    /// Revoke the key. Idempotent: revoking a revoked key changes nothing.
    Revoke,
}

/// A successful answer from a key's Durable Object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The key's public view.
    Key {
        /// The view.
        key: KeyView,
    },
    /// The request is admitted (or, for `Inspect`, would be).
    Granted {
        /// What the Worker needs to forward or describe the request.
        grant: Grant,
    },
    /// The key is revoked; the Worker removes `hashes` from KV.
    Revoked {
        /// The revoked key's view.
        key: KeyView,
        /// Its secrets' hashes, to delete from the edge read path.
        hashes: Vec<KeyHash>,
    },
}

/// What an admitted request is allowed, as the proxy and `whoami` need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The key's id.
    pub key_id: KeyId,
    /// The key's name.
    pub name: String,
    /// The key's environment.
    pub environment: Environment,
    /// The key's type.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// The key's limits.
    pub rate_limits: RateLimits,
    /// The binding window after this request.
    pub quota: Quota,
    /// When the key expires, if ever.
    pub expires_at: Option<Timestamp>,
}

/// A key's usage that changes on every admitted request, stored apart from
/// the record so the hot path rewrites only a few bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Window counters.
    pub usage: Usage,
    /// Last admitted request.
    pub last_used: Option<Timestamp>,
}

/// Which parts of the state a command changed, so the object writes only
/// those, and only when needed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Writes {
    /// The record changed.
    pub record: bool,
    /// The activity changed.
    pub activity: bool,
}

/// Everything a key's Durable Object holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyState {
    /// `None` until `Create`; an object without a record knows no key.
    pub record: Option<KeyRecord>,
    /// Counters and last use.
    pub activity: Activity,
}

impl KeyState {
    /// Applies `command` at `now`. On error nothing has changed.
    pub fn apply(&mut self, command: Command, now: Timestamp) -> (Result<Reply, Error>, Writes) {
        match command {
            Command::Create { record } => {
                if self.record.is_some() {
                    return (Err(Error::Internal), Writes::default());
                }
                let key = record.view(None, now);
                self.record = Some(record);
                let writes = Writes { record: true, activity: false };
                (Ok(Reply::Key { key }), writes)
            }
            Command::Authorize { hash, cost } => self.authorize(&hash, Some(cost), now),
            Command::Inspect { hash } => self.authorize(&hash, None, now),
            Command::Get => (self.view(now).map(|key| Reply::Key { key }), Writes::default()),
            Command::Revoke => {
                let Some(record) = self.record.as_mut() else {
                    return (Err(Error::NotFound), Writes::default());
                };
                let newly = record.revoked_at.is_none();
                record.revoked_at.get_or_insert(now);
                let hashes = record.secrets.iter().map(|s| s.hash.clone()).collect();
                let key = record.view(self.activity.last_used, now);
                let writes = Writes { record: newly, activity: false };
                (Ok(Reply::Revoked { key, hashes }), writes)
            }
        }
    }

    fn view(&self, now: Timestamp) -> Result<KeyView, Error> {
        let record = self.record.as_ref().ok_or(Error::NotFound)?;
        Ok(record.view(self.activity.last_used, now))
    }

    /// The request-time checks, in order: the secret opens this key, the key
    /// is not revoked or expired, then the limiter (only if consuming).
    fn authorize(&mut self, hash: &KeyHash, cost: Option<u32>, now: Timestamp) -> (Result<Reply, Error>, Writes) {
        let none = Writes::default();
        let Some(record) = self.record.as_ref() else {
            return (Err(Error::invalid_api_key()), none);
        };
        if !record.opens_with(hash) {
            return (Err(Error::invalid_api_key()), none);
        }
        match record.status(now) {
            Status::Revoked => return (Err(Error::KeyRevoked), none),
            Status::Expired => return (Err(Error::KeyExpired), none),
            Status::Active => {}
        }
        let limits = record.rate_limits;
        let (quota, writes) = match cost {
            None => (limit::peek(&limits, &self.activity.usage, now), none),
            Some(cost) => match limit::consume(&limits, &self.activity.usage, cost, now) {
                (Outcome::Limited { quota, retry_at }, _) => {
                    return (Err(Error::RateLimited { quota, retry_at }), none)
                }
                (Outcome::Admitted(quota), usage) => {
                    self.activity = Activity { usage, last_used: Some(now) };
                    (quota, Writes { record: false, activity: true })
                }
            },
        };
        let grant = Grant {
            key_id: record.id.clone(),
            name: record.name.clone(),
            environment: record.environment.clone(),
            key_type: record.key_type,
            rate_limits: limits,
            quota,
            expires_at: record.expires_at,
        };
        (Ok(Reply::Granted { grant }), writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::ApiKey;
    use crate::record::{IssueContext, NewKey};

    const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

    fn issued(json: &str) -> (KeyState, KeyHash) {
        let envs = vec!["live".parse().unwrap()];
        let ctx = IssueContext {
            environments: &envs,
            default_limits: RateLimits::DEFAULT,
            now: NOW,
        };
        let new: NewKey = serde_json::from_str(json).unwrap();
        let (record, key) = new.issue(&ctx).unwrap();
        let mut state = KeyState::default();
        let (reply, writes) = state.apply(Command::Create { record }, NOW);
        assert!(matches!(reply, Ok(Reply::Key { .. })));
        assert!(writes.record);
        (state, KeyHash::of(&key))
    }

    fn authorize(state: &mut KeyState, hash: &KeyHash, now: Timestamp) -> Result<Reply, Error> {
        state.apply(Command::Authorize { hash: hash.clone(), cost: 1 }, now).0
    }

    #[test]
    fn create_twice_is_refused() {
        let (mut state, _) = issued(r#"{"name":"a","environment":"live"}"#);
        let again = state.record.clone().unwrap();
        let before = state.clone();
        let (reply, writes) = state.apply(Command::Create { record: again }, NOW);
        assert!(reply.is_err());
        assert_eq!(writes, Writes::default());
        assert_eq!(state, before);
    }

    #[test]
    fn authorize_counts_and_records_last_use() {
        let (mut state, hash) = issued(
            r#"{"name":"a","environment":"live","rate_limits":{"per_minute":2}}"#,
        );
        for remaining in [1, 0] {
            match authorize(&mut state, &hash, NOW) {
                Ok(Reply::Granted { grant }) => assert_eq!(grant.quota.remaining, remaining),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(state.activity.last_used, Some(NOW));
        let before = state.clone();
        assert!(matches!(authorize(&mut state, &hash, NOW), Err(Error::RateLimited { .. })));
        assert_eq!(state, before, "a refusal changes nothing");
    }

    #[test]
    fn inspect_consumes_nothing() {
        let (mut state, hash) = issued(r#"{"name":"a","environment":"live"}"#);
        let (reply, writes) = state.apply(Command::Inspect { hash }, NOW);
        match reply {
            Ok(Reply::Granted { grant }) => assert_eq!(grant.quota.remaining, 60),
            other => panic!("{other:?}"),
        }
        assert_eq!(writes, Writes::default());
        assert_eq!(state.activity, Activity::default());
    }

    #[test]
    fn a_foreign_secret_does_not_open_the_key() {
        let (mut state, _) = issued(r#"{"name":"a","environment":"live"}"#);
        let other = ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap();
        assert_eq!(
            authorize(&mut state, &KeyHash::of(&other), NOW),
            Err(Error::invalid_api_key())
        );
        let mut empty = KeyState::default();
        assert_eq!(
            authorize(&mut empty, &KeyHash::of(&other), NOW),
            Err(Error::invalid_api_key())
        );
    }

    #[test]
    fn revocation_applies_to_the_next_request_and_is_idempotent() {
        let (mut state, hash) = issued(r#"{"name":"a","environment":"live"}"#);
        assert!(authorize(&mut state, &hash, NOW).is_ok());
        let (reply, writes) = state.apply(Command::Revoke, NOW);
        assert!(writes.record);
        match reply {
            Ok(Reply::Revoked { key, hashes }) => {
                assert_eq!(key.status, Status::Revoked);
                assert_eq!(hashes, vec![hash.clone()]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(authorize(&mut state, &hash, NOW), Err(Error::KeyRevoked));
        let first = state.record.as_ref().unwrap().revoked_at;
        let (again, writes) = state.apply(Command::Revoke, NOW.plus_millis(5_000));
        assert!(again.is_ok());
        assert!(!writes.record);
        assert_eq!(state.record.as_ref().unwrap().revoked_at, first);
    }

    #[test]
    fn expiry_is_enforced_at_the_instant() {
        let (mut state, hash) = issued(
            r#"{"name":"a","environment":"live","expires_at":"2027-01-16T00:00:00Z"}"#,
        );
        let at = Timestamp::parse_rfc3339("2027-01-16T00:00:00Z").unwrap();
        assert!(authorize(&mut state, &hash, Timestamp::from_millis(at.as_millis() - 1)).is_ok());
        assert_eq!(authorize(&mut state, &hash, at), Err(Error::KeyExpired));
    }

    #[test]
    fn unknown_ids_are_not_found() {
        let mut empty = KeyState::default();
        assert_eq!(empty.apply(Command::Get, NOW).0, Err(Error::NotFound));
        assert_eq!(empty.apply(Command::Revoke, NOW).0, Err(Error::NotFound));
    }
}
