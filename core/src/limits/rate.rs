//! The minute and day limits every key has, tiers (named presets of
//! limits), the counters a key's Durable Object stores (`Usage`), and what
//! clients are told about a limit (`Quota`). The decision itself is
//! [`crate::limits::consume`].

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use super::named::{NamedLimit, PolicyName, WindowKind};
use crate::time::Timestamp;

/// A key's limits. `NonZeroU32` makes a zero limit unrepresentable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Requests admitted per wall-clock minute.
    pub per_minute: NonZeroU32,
    /// Requests admitted per UTC day.
    pub per_day: NonZeroU32,
}

impl RateLimits {
    /// Built-in defaults when configuration says nothing: 60/min, 10,000/day.
    pub const DEFAULT: RateLimits = RateLimits {
        per_minute: NonZeroU32::new(60).unwrap(),
        per_day: NonZeroU32::new(10_000).unwrap(),
    };
}

/// One tier: minute and day limits, and optionally rolling windows and
/// named limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Requests admitted per minute.
    pub per_minute: NonZeroU32,
    /// Requests admitted per UTC day.
    pub per_day: NonZeroU32,
    /// Fixed or rolling windows (for windows of an hour or less).
    #[serde(default)]
    pub window: WindowKind,
    /// Named limits.
    #[serde(default)]
    pub limits: Vec<NamedLimit>,
}

impl Tier {
    /// The tier's minute and day limits.
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits {
            per_minute: self.per_minute,
            per_day: self.per_day,
        }
    }
}

/// Named limit presets ("tiers") from configuration: a key with a `tier`
/// gets its limits unless it overrides them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tiers(pub BTreeMap<String, Tier>);

impl Default for Tiers {
    /// standard 100/min, premium 1,000/min, enterprise 10,000/min, each
    /// with a daily quota.
    fn default() -> Self {
        let preset = |m: u32, d: u32| Tier {
            per_minute: NonZeroU32::new(m).expect("nonzero"),
            per_day: NonZeroU32::new(d).expect("nonzero"),
            window: WindowKind::Fixed,
            limits: Vec::new(),
        };
        Tiers(
            [
                ("standard".to_owned(), preset(100, 50_000)),
                ("premium".to_owned(), preset(1_000, 1_000_000)),
                ("enterprise".to_owned(), preset(10_000, 20_000_000)),
            ]
            .into(),
        )
    }
}

impl Tiers {
    /// The preset named `name`, or a 422 listing the names that exist.
    pub fn get(&self, name: &str) -> Result<&Tier, crate::error::Error> {
        self.0.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.0.keys().map(String::as_str).collect();
            crate::error::Error::invalid("tier", format!("must be one of: {}", known.join(", ")))
        })
    }
}

/// A fixed window. Windows are aligned to the Unix epoch, so day windows
/// start at UTC midnight and every isolate agrees on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// 60 seconds starting on a whole minute.
    Minute,
    /// 24 hours starting at 00:00 UTC.
    Day,
}

impl Window {
    const ALL: [Window; 2] = [Window::Minute, Window::Day];

    fn length_ms(self) -> u64 {
        match self {
            Window::Minute => 60_000,
            Window::Day => 86_400_000,
        }
    }

    fn start_of(self, now: Timestamp) -> Timestamp {
        let len = self.length_ms();
        Timestamp::from_millis(now.as_millis() / len * len)
    }
}

/// Requests counted in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Start of the window these counts belong to (Unix ms).
    pub start_ms: u64,
    /// Units consumed in that window.
    pub count: u32,
}

/// A key's counters: what its Durable Object persists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// The current (or last used) fixed minute window.
    pub minute: Counter,
    /// The current (or last used) day window.
    pub day: Counter,
    /// Every other limit's buckets (named limits, a rolling minute).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tallies: Vec<Tally>,
}

/// One limit's buckets, by the limit's name. (A list rather than a map: a
/// key has at most 17 of them, and a map's code costs the wasm more.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// The limit.
    pub policy: PolicyName,
    /// Its buckets, oldest first.
    pub buckets: Vec<Counter>,
}

impl Usage {
    fn counter(&self, window: Window) -> Counter {
        match window {
            Window::Minute => self.minute,
            Window::Day => self.day,
        }
    }

    fn counter_mut(&mut self, window: Window) -> &mut Counter {
        match window {
            Window::Minute => &mut self.minute,
            Window::Day => &mut self.day,
        }
    }

    /// These counts with `units` more in every window current at `now`.
    pub fn plus(&self, units: u32, now: Timestamp) -> Usage {
        let mut next = self.clone();
        for w in Window::ALL {
            *next.counter_mut(w) = Counter {
                start_ms: w.start_of(now).as_millis(),
                count: self.used(w, now).saturating_add(units),
            };
        }
        next
    }

    /// Takes back up to `units` counted at `at` from every window that is
    /// still the one `at` fell in, but never more than `lent` (the units
    /// lent out in that window) holds; `lent` shrinks by the same amount.
    /// A window that has ended keeps its counts: its units are spent.
    pub fn credit(&mut self, lent: &mut Usage, units: u32, at: Timestamp) {
        for w in Window::ALL {
            let start_ms = w.start_of(at).as_millis();
            let (mine, theirs) = (self.counter_mut(w), lent.counter_mut(w));
            if mine.start_ms == start_ms && theirs.start_ms == start_ms {
                let back = units.min(theirs.count).min(mine.count);
                mine.count -= back;
                theirs.count -= back;
            }
        }
    }

    /// Units used in `window` as of `now`: a counter from an older window
    /// counts as zero.
    fn used(&self, window: Window, now: Timestamp) -> u32 {
        let c = self.counter(window);
        if c.start_ms == window.start_of(now).as_millis() {
            c.count
        } else {
            0
        }
    }
}

/// The state of one window as reported to clients in `X-RateLimit-*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// The window's limit.
    pub limit: u32,
    /// Units left in the window after this request.
    pub remaining: u32,
    /// When the window resets (Unix seconds in headers).
    pub reset: Timestamp,
    /// Which limit this is.
    #[serde(default)]
    pub policy: PolicyName,
    /// The limit's window, in seconds.
    #[serde(default)]
    pub window_seconds: u32,
    /// Whose limit it is: the key's own, or its owner's.
    #[serde(default, skip_serializing_if = "Holder::is_key")]
    pub holder: Holder,
}

/// Whose limit a [`Quota`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Holder {
    /// The key's own limit.
    #[default]
    Key,
    /// A limit its owner shares among all its keys (see [`crate::owner`]).
    Owner,
}

impl Holder {
    /// Whether the limit is the key's own.
    pub fn is_key(&self) -> bool {
        *self == Holder::Key
    }

    /// What this holder's limit names start with: `owner.` for an owner's,
    /// so `"owner.minute"` and the key's own `"minute"` never collide.
    pub fn prefix(self) -> &'static str {
        match self {
            Holder::Key => "",
            Holder::Owner => "owner.",
        }
    }
}

impl Quota {
    /// The name clients see: the limit's name, `owner.`-prefixed when it
    /// is the owner's.
    pub fn label(&self) -> String {
        format!("{}{}", self.holder.prefix(), self.policy)
    }

    /// The API's `ratelimit` object: `{policy, limit, remaining, reset}`
    /// with `reset` in Unix seconds, as in the `X-RateLimit-*` headers.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "policy": self.label(),
            "window_seconds": self.window_seconds,
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": self.reset.as_secs_ceil(),
        })
    }
}

/// The API's `limits` array: every limit's `ratelimit` object.
pub fn quotas_json(quotas: &[Quota]) -> serde_json::Value {
    quotas.iter().map(Quota::to_json).collect()
}

/// When the shortest window (the minute) that `now` falls in ends: no
/// lease outlives it, so a lease's units all belong to one window of each kind.
pub fn shortest_window_end(now: Timestamp) -> Timestamp {
    Window::Minute
        .start_of(now)
        .plus_millis(Window::Minute.length_ms())
}
