//! Registry shards: which registry object holds a key's index row, secret
//! hashes and audit trail. The shard is drawn at random when a key is
//! issued and written into its id (`key_<2 base62 shard><16 base62>`), so
//! raising the count later never moves a key; ids from before sharding
//! (`key_<16 base62>`) live in shard 0, the object that was the whole
//! registry, which keeps them where they are.

use std::fmt;
use std::num::NonZeroU16;

use serde::{Deserialize, Serialize};

/// The most shards a deployment may have: a listing asks every shard once,
/// and the Free plan allows 50 subrequests per invocation.
pub const MAX_SHARDS: u16 = 32;
/// The shard count when `REGISTRY_SHARDS` is not set (see the scale model
/// in ARCHITECTURE.md).
pub const DEFAULT_SHARDS: u16 = 8;

/// One registry shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Shard(u16);

impl Shard {
    /// Shard 0: the registry object of releases before sharding. Besides
    /// its share of keys it holds what is one per deployment (the webhook
    /// endpoints and their deliveries).
    pub const HUB: Shard = Shard(0);

    /// Shard `n`, if a deployment can have it.
    pub fn new(n: u16) -> Option<Shard> {
        (n < MAX_SHARDS).then_some(Shard(n))
    }

    /// Its number.
    pub fn index(self) -> u16 {
        self.0
    }

    /// The name of its Durable Object. Shard 0 keeps the name the single
    /// registry had, so an upgraded deployment finds its data there.
    pub fn object_name(self) -> String {
        match self.0 {
            0 => "registry".to_owned(),
            n => format!("registry-{n}"),
        }
    }

    /// The shard whose [`Shard::object_name`] is `name` (the hub for any
    /// other name: shard 0 is what a registry was before sharding). A
    /// request path's first segment is the name: `registry-3/report`.
    pub fn from_object_name(name: &str) -> Shard {
        let name = name.split('/').next().unwrap_or_default();
        name.strip_prefix("registry-")
            .and_then(|n| n.parse().ok())
            .and_then(Shard::new)
            .unwrap_or(Shard::HUB)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How many shards new keys are spread over (`REGISTRY_SHARDS`, 1 to
/// [`MAX_SHARDS`]). It may be raised later, never lowered: keys stay in the
/// shard their id names, and a listing asks shards `0..count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCount(NonZeroU16);

impl ShardCount {
    /// One shard: everything in one object, as before sharding.
    pub const ONE: ShardCount = ShardCount(NonZeroU16::MIN);

    /// `n` shards, if 1 ≤ n ≤ [`MAX_SHARDS`].
    pub fn new(n: u16) -> Option<ShardCount> {
        NonZeroU16::new(n)
            .filter(|n| n.get() <= MAX_SHARDS)
            .map(ShardCount)
    }

    /// The count.
    pub fn get(self) -> u16 {
        self.0.get()
    }

    /// Every shard, 0 first.
    pub fn all(self) -> impl Iterator<Item = Shard> {
        (0..self.0.get()).map(Shard)
    }

    /// The shard `random` (any number, e.g. from the CSPRNG) picks.
    pub fn pick(self, random: u32) -> Shard {
        Shard((random % u32::from(self.0.get())) as u16)
    }
}

impl Default for ShardCount {
    fn default() -> ShardCount {
        ShardCount::new(DEFAULT_SHARDS).expect("the default is in range")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_names() {
        assert!(ShardCount::new(0).is_none() && ShardCount::new(MAX_SHARDS + 1).is_none());
        let four = ShardCount::new(4).unwrap();
        assert_eq!(
            four.all().map(Shard::index).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(four.pick(7), Shard(3));
        assert_eq!(Shard::HUB.object_name(), "registry");
        assert_eq!(Shard(5).object_name(), "registry-5");
        assert!(Shard::new(MAX_SHARDS).is_none());
        for shard in four.all() {
            assert_eq!(Shard::from_object_name(&shard.object_name()), shard);
            let path = format!("{}/report", shard.object_name());
            assert_eq!(Shard::from_object_name(&path), shard);
        }
        assert_eq!(Shard::from_object_name("registry-99"), Shard::HUB);
    }
}
