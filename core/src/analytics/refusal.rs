//! Where a refused API request is counted and how its line goes out: the
//! one rule the Worker's request record applies when it is finished with
//! an error. Who refused decides it: a key's lease or Durable Object
//! counts its own refusals; KV's revoked entry and everything decided
//! before any key are counted in the isolate's batch (see [`super::overall`]).

use super::Outcome;
use crate::error::Error;
use crate::key::KeyId;

/// Who refused an API request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefusedBy {
    /// The request itself, before any key was found: no key, an invalid or
    /// unknown one, an oversize request, or storage failing on the way.
    Edge,
    /// Something that knew the key.
    Key {
        /// The key.
        id: KeyId,
        /// Its owner, when this isolate holds the key's record.
        owner: Option<String>,
        /// What decided.
        judge: Judge,
    },
}

/// What knew the key and refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judge {
    /// KV's entry for the key, which names it revoked: its object never
    /// hears of the request, so the isolate counts it, with the key.
    Directory,
    /// This isolate's lease for the key, which counts its own decisions
    /// (reported when it is handed back).
    Lease,
    /// The key's Durable Object, which counts its own refusals.
    Object,
}

/// What finishing a refusal writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accounting<'a> {
    /// The count for this isolate's batch, about the key if known.
    pub batched: Option<(Outcome, Option<&'a KeyId>)>,
    /// Whether the line is logged; it is always a data point. A refusal
    /// the batch counts before any key is logged in counts with the batch
    /// instead, so a flood of garbage keys makes no line per request.
    pub logged: bool,
}

impl RefusedBy {
    /// Where `error`, refused here, is counted and whether its line is logged.
    pub fn accounting(&self, error: &Error) -> Accounting<'_> {
        match self {
            RefusedBy::Edge => {
                let batched = Outcome::at_edge(error).map(|outcome| (outcome, None));
                Accounting {
                    logged: batched.is_none(),
                    batched,
                }
            }
            RefusedBy::Key {
                id,
                judge: Judge::Directory,
                ..
            } => Accounting {
                batched: Some((Outcome::KeyRevoked, Some(id))),
                logged: true,
            },
            RefusedBy::Key { .. } => Accounting {
                batched: None,
                logged: true,
            },
        }
    }

    /// The key (and owner) the line names, if one was found.
    pub fn key(&self) -> Option<(&KeyId, Option<&str>)> {
        match self {
            RefusedBy::Edge => None,
            RefusedBy::Key { id, owner, .. } => Some((id, owner.as_deref())),
        }
    }

    /// Whether the key's object decided.
    pub fn object_called(&self) -> bool {
        matches!(
            self,
            RefusedBy::Key {
                judge: Judge::Object,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> KeyId {
        "key_0000000000000001".parse().unwrap()
    }

    #[test]
    fn refusals_before_any_key_are_batched_and_logged_in_counts() {
        let accounting = RefusedBy::Edge.accounting(&Error::MISSING_API_KEY);
        assert_eq!(accounting.batched, Some((Outcome::MissingApiKey, None)));
        assert!(!accounting.logged);
        let too_large = RefusedBy::Edge.accounting(&Error::uri_too_long(1));
        assert_eq!(too_large.batched, Some((Outcome::RequestTooLarge, None)));
    }

    #[test]
    fn an_edge_failure_no_batch_counts_gets_its_own_line() {
        let accounting = RefusedBy::Edge.accounting(&Error::UNAVAILABLE);
        assert_eq!(accounting.batched, None);
        assert!(accounting.logged);
    }

    #[test]
    fn a_revoked_entry_is_batched_with_its_key() {
        let by = RefusedBy::Key {
            id: id(),
            owner: None,
            judge: Judge::Directory,
        };
        let accounting = by.accounting(&Error::KEY_REVOKED);
        assert_eq!(accounting.batched, Some((Outcome::KeyRevoked, Some(&id()))));
        assert!(accounting.logged);
        assert_eq!(by.key(), Some((&id(), None)));
        assert!(!by.object_called());
    }

    #[test]
    fn a_keys_own_refusal_is_not_counted_again() {
        let by = RefusedBy::Key {
            id: id(),
            owner: Some("acme".into()),
            judge: Judge::Object,
        };
        let accounting = by.accounting(&Error::KEY_EXPIRED);
        assert_eq!(accounting.batched, None);
        assert!(accounting.logged);
        assert_eq!(by.key(), Some((&id(), Some("acme"))));
        assert!(by.object_called());
        let leased = RefusedBy::Key {
            id: id(),
            owner: None,
            judge: Judge::Lease,
        };
        assert_eq!(leased.accounting(&Error::KEY_EXPIRED).batched, None);
        assert!(!leased.object_called());
    }
}
