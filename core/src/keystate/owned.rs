//! A key bound by its owner's limits: what the key's object charges the
//! owner's, and settling a request it admitted with the owner's answer
//! (the protocol is described in [`crate::owner`]).

use super::{Access, KeyState, Refusal, Reply, Writes};
use crate::admission::lease::Lease;
use crate::error::{Detail, Error};
use crate::limits::{self, Draw};
use crate::owner::{OwnerCharge, OwnerReply};
use crate::time::Timestamp;

impl Access {
    /// What this request, answered with `granted` by the key's object,
    /// asks of the key's owner: its charge, and the units of the lease the
    /// key lent with it (the owner backs them, or the lease shrinks).
    pub fn owner_charge(&self, granted: &Reply) -> OwnerCharge {
        let charge = self.charge();
        let lease = match granted {
            Reply::Granted {
                lease: Some(lease), ..
            } => lease.units,
            _ => 0,
        };
        OwnerCharge {
            cost: charge.cost,
            draws: charge.draws.map(<[Draw]>::to_vec),
            consume: self.consume,
            lease,
        }
    }
}

impl KeyState {
    /// Settles `granted`, this key's admission of a request at `at`, with
    /// its owner's `answer`.
    ///
    /// - The owner admits it too: the answer carries the owner's limits as
    ///   well, and a lease the key lent keeps only the units the owner lent
    ///   with it (the rest go back to the key's windows at once).
    /// - The owner has no limits: the answer stands as it is.
    /// - The owner refuses it, or could not be asked: the key's count and
    ///   any lease are taken back — so a refused request counts nowhere —
    ///   and the owner's refusal (or `unavailable`) is the answer.
    pub fn settle(
        &mut self,
        mut granted: Reply,
        answer: Result<OwnerReply, Error>,
        access: &Access,
        at: Timestamp,
        now: Timestamp,
    ) -> (Result<Reply, Error>, Writes) {
        let mut writes = Writes::default();
        let (
            Some(key),
            Reply::Granted {
                quotas,
                owner_credits,
                lease,
                ..
            },
        ) = (self.record.as_ref(), &mut granted)
        else {
            return (Ok(granted), writes);
        };
        let set = key.limit_set();
        let activity = &mut self.activity;
        // Units the key lent and no longer lends: back into its windows.
        let mut take_back = |units: u32, writes: &mut Writes| {
            if let (Some(l), true) = (*lease, units > 0) {
                activity
                    .usage
                    .credit(&mut activity.lent, units, l.granted_at);
                writes.activity = true;
            }
        };
        let error = match answer {
            Ok(OwnerReply::Charged {
                quotas: owner_quotas,
                credits,
                lent,
            }) => {
                if let Some(l) = *lease {
                    take_back(l.units.saturating_sub(lent), &mut writes);
                    *lease = (lent > 0).then_some(Lease {
                        units: lent.min(l.units),
                        owner: true,
                        ..l
                    });
                    *quotas = limits::quotas(&set, &activity.usage, now);
                }
                quotas.extend(owner_quotas);
                *owner_credits = credits;
                return (Ok(granted), writes);
            }
            Ok(OwnerReply::Unbound) => return (Ok(granted), writes),
            // Not an answer to a charge: a bug, so fail closed.
            Ok(_) => Error::UNAVAILABLE,
            Err(error) => error,
        };
        if let Some(l) = *lease {
            take_back(l.units, &mut writes);
        }
        if access.consume {
            activity.usage = limits::refund(&set, &activity.usage, &access.charge(), at);
            activity.credits = activity.credits.map(|b| b.refund(access.cost(), at, now));
            writes.activity = true;
        }
        let error = match error.detail() {
            Detail::RateLimit {
                quota,
                retry_at,
                quotas: owner_quotas,
            } => {
                let mut all = limits::quotas(&set, &activity.usage, now);
                all.extend(owner_quotas.iter().cloned());
                Error::rate_limited(*quota, *retry_at, all)
            }
            _ => error,
        };
        let refusal = Refusal::of(error, key).into_reply();
        // The key's object counted an admission; the owner's answer is
        // what the request came to.
        self.uncount_admission(access, at);
        self.count(access, &refusal, now);
        writes.activity = true;
        (refusal, writes)
    }
}
