//! Counting the key's decisions into the open minute of its usage (see
//! [`crate::analytics`]): those this object makes, and those an isolate
//! made under a lease, reported when the lease goes back; and the usage
//! alerts the object's own decisions raise (see [`crate::webhook::alert`]).

use super::{Access, KeyState, Reply, Writes};
use crate::admission::lease::LeaseReturn;
use crate::analytics::{Closed, Decision, Outcome, Tally};
use crate::error::Error;
use crate::time::Timestamp;
use crate::webhook::KeyAlert;

impl Closed {
    /// Adds `other`'s rows and countries.
    fn merge(&mut self, other: Closed) {
        self.rows.extend(other.rows);
        self.countries.extend(other.countries);
    }
}

/// What a request with `access` counts as, if anything: admitted
/// (`refused` is `None`) with its cost, or refused by its outcome. The one
/// rule for the key's object and for an isolate deciding under a lease.
pub fn decision<'a>(access: &'a Access, refused: Option<&Error>) -> Option<Decision<'a>> {
    if !access.consume {
        return None;
    }
    let (outcome, cost) = match refused {
        None => (Outcome::Valid, u64::from(access.cost())),
        Some(error) => (Outcome::of(error)?, 0),
    };
    Some(Decision {
        outcome,
        tally: Tally { count: 1, cost },
        country: access.country.as_deref(),
    })
}

impl KeyState {
    /// Counts `answer` to a request with `access`; whether the activity
    /// (which holds the open minute) changed.
    pub(super) fn count(
        &mut self,
        access: &Access,
        answer: &Result<Reply, Error>,
        now: Timestamp,
    ) -> bool {
        let refused = match answer {
            Ok(Reply::Granted { .. }) => None,
            Ok(Reply::Refused { error, .. }) | Err(error) => Some(error),
            Ok(_) => return false,
        };
        let Some(decision) = decision(access, refused) else {
            return false;
        };
        self.record(&decision, now);
        let alerts = &mut self.activity.alerts;
        match (answer, refused) {
            (
                Ok(Reply::Granted {
                    quotas, credits, ..
                }),
                _,
            ) => {
                self.raised
                    .extend(alerts.admitted(quotas, credits.as_ref()));
            }
            (_, Some(error)) => self.raised.extend(alerts.refused(error, now)),
            _ => {}
        }
        true
    }

    fn record(&mut self, decision: &Decision<'_>, now: Timestamp) {
        let closed = self.activity.traffic.record(decision, now);
        self.closed.merge(closed);
    }

    /// Takes back the admission of a request with `access` counted at
    /// `at`, which did not stand.
    pub(super) fn uncount_admission(&mut self, access: &Access, at: Timestamp) {
        if let Some(admitted) = decision(access, None) {
            self.activity.traffic.take_back(&admitted, at);
        }
    }

    /// Counts what an isolate decided under the lease `returned` ends.
    pub(super) fn count_returned(&mut self, returned: &LeaseReturn, now: Timestamp) -> bool {
        if returned.outcomes.is_empty() {
            return false;
        }
        let closed = self
            .activity
            .traffic
            .absorb(&returned.outcomes, &returned.countries, now);
        self.closed.merge(closed);
        true
    }

    /// Counts one `outcome` reported after the decision (an origin failure).
    pub(super) fn count_report(&mut self, outcome: Outcome, now: Timestamp) {
        let reported = Decision {
            outcome,
            tally: Tally { count: 1, cost: 0 },
            country: None,
        };
        self.record(&reported, now);
    }

    /// Closes the open minute if `now` is past it: the object's alarm at the
    /// minute's end, so a key that goes quiet still reports its last minute.
    pub fn close_minute(&mut self, now: Timestamp) -> Writes {
        let closed = self.activity.traffic.close_before(now);
        if closed.is_empty() {
            return Writes::default();
        }
        self.closed.merge(closed);
        Writes::ACTIVITY
    }

    /// The usage minutes closed since the last call, for the object to write.
    pub fn take_closed(&mut self) -> Closed {
        std::mem::take(&mut self.closed)
    }

    /// The usage alerts raised since the last call, for the object to report.
    pub fn take_raised(&mut self) -> Vec<KeyAlert> {
        std::mem::take(&mut self.raised)
    }
}
