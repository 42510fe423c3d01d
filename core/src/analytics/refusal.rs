//! Where a refused API request is counted and how its line goes out: the
//! one rule the Worker's request record applies when it is finished with
//! an error. Every refusal goes into the isolate's batch for the overall
//! and owner usage (see [`super::overall`]), with its key and owner when
//! known; a refusal before any key is logged in counts with the batch, any
//! other with a line of its own. (A key's lease or object also counts its
//! own refusals in the key's usage series.)

use super::overall::Counted;
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
    /// This isolate's lease for the key.
    Lease,
    /// The key's Durable Object.
    Object,
}

/// What finishing a refusal writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accounting<'a> {
    /// The count for this isolate's batch, about the key if known.
    pub batched: Option<Counted<'a>>,
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
                let batched = Outcome::at_edge(error).map(|o| Counted::one(o, None));
                Accounting {
                    logged: batched.is_none(),
                    batched,
                }
            }
            RefusedBy::Key { id, owner, judge } => {
                let outcome = match judge {
                    // KV's revoked entry says so before the object is asked.
                    Judge::Directory => Some(Outcome::KeyRevoked),
                    Judge::Lease | Judge::Object => Outcome::of(error),
                };
                Accounting {
                    batched: outcome.map(|o| Counted {
                        owner: owner.as_deref(),
                        ..Counted::one(o, Some(id))
                    }),
                    logged: true,
                }
            }
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

    /// The batched count's outcome, key and owner.
    fn batched(a: &Accounting<'_>) -> Option<(Outcome, Option<KeyId>, Option<String>)> {
        a.batched.as_ref().map(|c| {
            (
                c.decision.outcome,
                c.key.cloned(),
                c.owner.map(str::to_owned),
            )
        })
    }

    fn id() -> KeyId {
        "key_0000000000000001".parse().unwrap()
    }

    #[test]
    fn refusals_before_any_key_are_batched_and_logged_in_counts() {
        let accounting = RefusedBy::Edge.accounting(&Error::MISSING_API_KEY);
        assert_eq!(
            batched(&accounting),
            Some((Outcome::MissingApiKey, None, None))
        );
        assert!(!accounting.logged);
        let too_large = RefusedBy::Edge.accounting(&Error::uri_too_long(1));
        assert_eq!(
            batched(&too_large),
            Some((Outcome::RequestTooLarge, None, None))
        );
    }

    #[test]
    fn an_edge_failure_no_batch_counts_gets_its_own_line() {
        let accounting = RefusedBy::Edge.accounting(&Error::UNAVAILABLE);
        assert_eq!(batched(&accounting), None);
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
        assert_eq!(
            batched(&accounting),
            Some((Outcome::KeyRevoked, Some(id()), None))
        );
        assert!(accounting.logged);
        assert_eq!(by.key(), Some((&id(), None)));
        assert!(!by.object_called());
    }

    #[test]
    fn a_keys_own_refusal_is_batched_with_its_key_and_owner() {
        let by = RefusedBy::Key {
            id: id(),
            owner: Some("acme".into()),
            judge: Judge::Object,
        };
        let accounting = by.accounting(&Error::KEY_EXPIRED);
        assert_eq!(
            batched(&accounting),
            Some((Outcome::KeyExpired, Some(id()), Some("acme".to_owned())))
        );
        assert!(accounting.logged);
        assert_eq!(by.key(), Some((&id(), Some("acme"))));
        assert!(by.object_called());
        let leased = RefusedBy::Key {
            id: id(),
            owner: None,
            judge: Judge::Lease,
        };
        let refused = leased.accounting(&Error::IP_NOT_ALLOWED);
        assert_eq!(
            batched(&refused),
            Some((Outcome::IpNotAllowed, Some(id()), None))
        );
        assert!(!leased.object_called());
    }
}
