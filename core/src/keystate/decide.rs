//! Deciding on a request: screening the presented key against the record,
//! then counting it against every limit and the credits, and lending a
//! lease when one is earned.

use super::{leasable, Access, KeyState, Opener, Refusal, Reply, Writes};
use crate::admission::lease::{self, LeaseAsk};
use crate::error::Error;
use crate::limits::{self, Outcome};
use crate::policy::actor::Actor;
use crate::time::Timestamp;

impl KeyState {
    /// The answer to a request that `opener` identifies (for `verifier`, when the
    /// admin API's verify asks), counted if admitted and `access` consumes.
    pub(super) fn authorize(
        &mut self,
        opener: Opener<'_>,
        access: &Access,
        verifier: Option<Actor>,
        known: Option<u64>,
        lease: Option<LeaseAsk>,
        now: Timestamp,
    ) -> (Result<Reply, Error>, Writes) {
        let none = Writes::default();
        let Some(record) = self.record.as_ref() else {
            return (Err(Error::invalid_api_key()), none);
        };
        let credits = self.activity.credits.map(|b| b.at(now).credits);
        let checked = super::screen(record, credits, opener, access, verifier.as_ref(), now);
        let refusal = match checked {
            Err(refusal) => refusal,
            Ok(()) => match self.admit(access, known, lease, now) {
                (Ok(reply), writes) => return (Ok(reply), writes),
                // A limit refuses too: with the key's origins and owner, like the rest.
                (Err(error), _) => Refusal::of(error, self.record.as_ref().expect("screened")),
            },
        };
        (refusal.into_reply(), none)
    }

    /// Counts an admitted request (when it consumes), lends what `ask`
    /// earns, and answers with the record unless the Worker `known`s it.
    fn admit(
        &mut self,
        access: &Access,
        known: Option<u64>,
        ask: Option<LeaseAsk>,
        now: Timestamp,
    ) -> (Result<Reply, Error>, Writes) {
        let record = self.record.as_ref().expect("screened");
        let limits = record.limit_set();
        let activity = &mut self.activity;
        // Credits first: a key that cannot pay is told so, not to wait for
        // a window. Spent only if every limit admits the request too.
        let credits = match activity.credits {
            Some(balance) if access.consume => match balance.spend(access.cost(), now) {
                Ok(spent) => Some(spent),
                Err(exhausted) => return (Err(exhausted), Writes::default()),
            },
            other => other.map(|b| b.at(now)),
        };
        let (lease, writes) = if !access.consume {
            (None, Writes::default())
        } else {
            match limits::consume(&limits, &activity.usage, &access.charge(), now) {
                (Outcome::Limited { quota, retry_at }, _) => {
                    let limited = Error::rate_limited(
                        quota,
                        retry_at,
                        limits::quotas(&limits, &activity.usage, now),
                    );
                    return (Err(limited), Writes::default());
                }
                (Outcome::Admitted(quota), usage) => {
                    activity.usage = usage.clone();
                    activity.credits = credits;
                    let plain = credits.is_none() && leasable(record);
                    let offer = ask.filter(|_| plain).and_then(|ask| {
                        let units = lease::size(&ask, quota?.remaining, access.cost())?;
                        lease::lend(units, ask.ttl_ms, now)
                    });
                    if let Some(lent) = offer {
                        activity.usage = usage.plus(lent.units, now);
                        activity.lent = activity.lent.plus(lent.units, now);
                    }
                    activity.used(now);
                    (offer, Writes::ACTIVITY)
                }
            }
        };
        let granted = Reply::Granted {
            quotas: limits::quotas(&limits, &activity.usage, now),
            credits: credits.map(|b| b.credits),
            owner_credits: None,
            version: record.version,
            record: (known != Some(record.version)).then(|| Box::new(record.clone())),
            lease,
        };
        (Ok(granted), writes)
    }
}
