//! A key bound by its owner's limits: the key's object settles a request it
//! admitted with what the owner's object answered (the protocol is
//! described in [`crate::owner`]).

use super::{Access, KeyState, Refusal, Reply, Writes};
use crate::error::Error;
use crate::limits;
use crate::owner::OwnerReply;
use crate::time::Timestamp;

impl KeyState {
    /// Settles `granted`, this key's admission of a request at `at`, with
    /// its owner's `answer`. When the owner admits it too (or has no
    /// limits) the answer carries the owner's limits as well; when the
    /// owner refuses it, or could not be asked, the key's count is taken
    /// back — so a refused request counts nowhere — and the owner's
    /// refusal (or `unavailable`) is the answer.
    pub fn settle(
        &mut self,
        granted: Reply,
        answer: Result<OwnerReply, Error>,
        access: &Access,
        at: Timestamp,
        now: Timestamp,
    ) -> (Result<Reply, Error>, Writes) {
        let none = Writes::default();
        let Reply::Granted {
            mut quotas,
            credits,
            version,
            record,
            lease,
            ..
        } = granted
        else {
            return (Ok(granted), none);
        };
        let error = match answer {
            Ok(OwnerReply::Charged {
                quotas: owner_quotas,
                credits: owner_credits,
            }) => {
                quotas.extend(owner_quotas);
                let merged = Reply::Granted {
                    quotas,
                    credits,
                    owner_credits,
                    version,
                    record,
                    lease,
                };
                return (Ok(merged), none);
            }
            Ok(OwnerReply::Unbound) => {
                let unchanged = Reply::Granted {
                    quotas,
                    credits,
                    owner_credits: None,
                    version,
                    record,
                    lease,
                };
                return (Ok(unchanged), none);
            }
            // Not an answer to a charge: a bug, so fail closed.
            Ok(_) => Error::Unavailable,
            Err(error) => error,
        };
        let Some(record) = self.record.as_ref() else {
            return (Err(Error::Internal), none);
        };
        let set = record.limit_set();
        let mut writes = none;
        if access.consume {
            let activity = &mut self.activity;
            activity.usage = limits::refund(&set, &activity.usage, &access.charge(), at);
            activity.credits = activity.credits.map(|b| b.refund(access.cost(), at, now));
            writes.activity = true;
        }
        let error = match error {
            Error::RateLimited {
                quota,
                retry_at,
                quotas: owner_quotas,
            } => {
                let mut all = limits::quotas(&set, &self.activity.usage, now);
                all.extend(owner_quotas);
                Error::RateLimited {
                    quota,
                    retry_at,
                    quotas: all,
                }
            }
            other => other,
        };
        let refusal = Refusal {
            error,
            allowed_origins: record.allowed_origins.clone(),
        };
        (refusal.into_reply(), writes)
    }
}
