//! Deployment configuration, read from Worker vars (`wrangler.toml`
//! `[vars]`, `.dev.vars`, or `--var`) through a lookup function so that it
//! parses and validates natively.
//!
//! Every variable is documented in one place, `docs/reference/configuration.md`;
//! a test here fails when a variable [`Config::from_vars`] reads is missing
//! from that table, or the table names one nothing reads.

use std::num::NonZeroU32;

use crate::admission::lease;
use crate::error::Error;
use crate::key::{ApiKey, Environment};
use crate::limits::{RateLimits, Tiers};
use crate::policy::route::{Requirement, RouteTable};
use crate::registry::shard::{ShardCount, MAX_SHARDS};
use crate::signature::SigningKey;
use crate::webhook::delivery::Schedule;

/// How long the origin may take to start answering, unless configured.
pub const DEFAULT_ORIGIN_TIMEOUT_MS: u64 = 30_000;

/// A validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Admin API prefix, e.g. `/_keygate`; never ends with `/`.
    pub admin_prefix: String,
    /// Environments keys may belong to, each with its origin if it has one.
    pub environments: Vec<(Environment, Option<String>)>,
    /// Limits of keys created without any.
    pub default_limits: RateLimits,
    /// The route table; `None` when `ROUTES` is unset.
    pub routes: Option<RouteTable>,
    /// Named limit presets.
    pub tiers: Tiers,
    /// Failure points switched on (tests and drills only).
    pub faults: Vec<Fault>,
    /// Added to the runtime's clock (tests only: to reach a refill boundary).
    pub clock_offset_ms: i64,
    /// Largest declared body forwarded to the origin.
    pub max_body_bytes: u64,
    /// Whether admin keys may use the admin API when no `ADMIN_TOKEN` is
    /// set. Off by default: no token means the admin API is closed.
    pub admin_keys_without_token: bool,
    /// Signs the identity headers sent to the origin, when set.
    pub origin_key: Option<SigningKey>,
    /// How long the origin may take to answer (headers) before 504.
    pub origin_timeout_ms: u64,
    /// The registry shards new keys are spread over (`REGISTRY_SHARDS`).
    pub registry_shards: ShardCount,
    /// How long an isolate may use a lease (`LEASE_TTL_MS`); 0 when
    /// `ADMISSION` is `exact`, which turns leasing off.
    pub lease_ttl_ms: u64,
    /// Whether every API request gets a log line (`LOGS`: `json`, the
    /// default, or `off`); admin actions are always logged.
    pub request_logs: bool,
    /// Whether an Analytics Engine dataset is bound as `USAGE`: not a var,
    /// set by the Worker from its bindings.
    pub analytics_engine: bool,
    /// The waits between a failed webhook delivery's attempts
    /// (`WEBHOOK_RETRY_SCHEDULE`, seconds, comma-separated).
    pub webhook_retries: Schedule,
    /// How long a dashboard session lasts (`SESSION_TTL_SECONDS`, default 12 h).
    pub session_ttl_seconds: u64,
}

/// A failure point that the `FAULTS` var switches on, so tests can prove
/// how keygate behaves when storage fails or a Worker dies mid-write. Never
/// set in production.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `crash_after_registry`: issuing stops after the registry insert.
    CrashAfterRegistry,
    /// `crash_after_key_object`: issuing and revoking stop after the key object write.
    CrashAfterKeyObject,
    /// `kv_read`: every KV read fails.
    KvRead,
    /// `key_object`: every call to a key's Durable Object fails.
    KeyObject,
    /// `slow_key_object`: a key's Durable Object answers only after the
    /// Worker has given up on it.
    SlowKeyObject,
    /// `owner_object`: every call to an owner's Durable Object fails.
    OwnerObject,
}

impl Fault {
    fn parse(name: &str) -> Option<Fault> {
        Some(match name {
            "crash_after_registry" => Fault::CrashAfterRegistry,
            "crash_after_key_object" => Fault::CrashAfterKeyObject,
            "kv_read" => Fault::KvRead,
            "key_object" => Fault::KeyObject,
            "slow_key_object" => Fault::SlowKeyObject,
            "owner_object" => Fault::OwnerObject,
            _ => return None,
        })
    }
}

impl Config {
    /// Reads and validates every var. The error names the bad var.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let admin_prefix = var("ADMIN_PREFIX").unwrap_or_else(|| "/_keygate".to_owned());
        let admin_prefix = admin_prefix.trim_end_matches('/').to_owned();
        if !admin_prefix.starts_with('/') || admin_prefix.len() < 2 {
            return Err("ADMIN_PREFIX must be a path such as /_keygate".to_owned());
        }
        let names = var("ENVIRONMENTS").unwrap_or_else(|| "live,test".to_owned());
        let mut environments = Vec::new();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let env: Environment = name.parse().map_err(|e| format!("ENVIRONMENTS: {e}"))?;
            let origin_var = format!("ORIGIN_{}", name.to_ascii_uppercase());
            let origin = match var(&origin_var).map(|o| o.trim().to_owned()) {
                None => None,
                Some(o) if o.is_empty() => None,
                Some(o) if o.starts_with("https://") || o.starts_with("http://") => {
                    Some(o.trim_end_matches('/').to_owned())
                }
                Some(_) => return Err(format!("{origin_var} must be an http(s) URL")),
            };
            environments.push((env, origin));
        }
        if environments.is_empty() {
            return Err("ENVIRONMENTS must name at least one environment".to_owned());
        }
        let limit = |name: &str, default: NonZeroU32| match var(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<NonZeroU32>()
                .map_err(|_| format!("{name} must be a positive integer")),
        };
        let default_limits = RateLimits {
            per_minute: limit("DEFAULT_PER_MINUTE", RateLimits::DEFAULT.per_minute)?,
            per_day: limit("DEFAULT_PER_DAY", RateLimits::DEFAULT.per_day)?,
        };
        let routes = var("ROUTES")
            .filter(|r| !r.trim().is_empty())
            .map(|r| RouteTable::parse(&r))
            .transpose()?;
        let tiers = match var("TIERS").filter(|t| !t.trim().is_empty()) {
            None => Tiers::default(),
            Some(t) => {
                let tiers: Tiers = serde_json::from_str(&t).map_err(|e| format!("TIERS: {e}"))?;
                for (name, tier) in &tiers.0 {
                    crate::limits::named::validate(&tier.limits, &format!("{name}.limits"))
                        .map_err(|e| {
                            format!(
                                "TIERS: {}",
                                e.body(crate::time::Timestamp::from_secs(0))["error"]["field"]
                            )
                        })?;
                }
                tiers
            }
        };
        let faults = var("FAULTS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| Fault::parse(f).ok_or_else(|| format!("FAULTS: unknown fault {f:?}")))
            .collect::<Result<_, _>>()?;
        let clock_offset_ms = match var("CLOCK_OFFSET_MS") {
            None => 0,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|ms| ms.unsigned_abs() <= 10 * 365 * 86_400_000)
                .ok_or("CLOCK_OFFSET_MS must be a number of milliseconds within 10 years")?,
        };
        let max_body_bytes = match var("MAX_BODY_BYTES") {
            None => crate::request::size::DEFAULT_MAX_BODY_BYTES,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| "MAX_BODY_BYTES must be a number of bytes".to_owned())?,
        };
        let admin_keys_without_token =
            match var("ADMIN_KEYS_WITHOUT_TOKEN").as_deref().map(str::trim) {
                None | Some("" | "false") => false,
                Some("true") => true,
                Some(_) => return Err("ADMIN_KEYS_WITHOUT_TOKEN must be true or false".to_owned()),
            };
        let origin_key = var("ORIGIN_SECRET").and_then(|s| SigningKey::new(&s));
        let origin_timeout_ms = match var("ORIGIN_TIMEOUT_MS") {
            None => DEFAULT_ORIGIN_TIMEOUT_MS,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=600_000).contains(ms))
                .ok_or("ORIGIN_TIMEOUT_MS must be a number of milliseconds from 1 to 600000")?,
        };
        let lease_ttl_ms = match var("LEASE_TTL_MS") {
            None => lease::DEFAULT_TTL_MS,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms <= lease::MAX_TTL_MS)
                .ok_or("LEASE_TTL_MS must be a number of milliseconds from 0 to 25000")?,
        };
        let lease_ttl_ms = match var("ADMISSION").as_deref().map(str::trim) {
            None | Some("" | "leased") => lease_ttl_ms,
            Some("exact") => 0,
            Some(_) => return Err("ADMISSION must be leased or exact".to_owned()),
        };
        let registry_shards = match var("REGISTRY_SHARDS") {
            None => ShardCount::default(),
            Some(v) => v
                .trim()
                .parse::<u16>()
                .ok()
                .and_then(ShardCount::new)
                .ok_or(format!(
                    "REGISTRY_SHARDS must be a number from 1 to {MAX_SHARDS}"
                ))?,
        };
        let request_logs = match var("LOGS").as_deref().map(str::trim) {
            None | Some("" | "json") => true,
            Some("off") => false,
            Some(_) => return Err("LOGS must be json or off".to_owned()),
        };
        let webhook_retries = match var("WEBHOOK_RETRY_SCHEDULE") {
            None => Schedule::default(),
            Some(text) => Schedule::parse(&text)?,
        };
        let session_ttl_seconds =
            crate::admin::session::ttl_seconds(var("SESSION_TTL_SECONDS").as_deref())?;
        Ok(Config {
            registry_shards,
            session_ttl_seconds,
            request_logs,
            analytics_engine: false,
            webhook_retries,
            clock_offset_ms,
            lease_ttl_ms,
            origin_timeout_ms,
            admin_keys_without_token,
            origin_key,
            admin_prefix,
            environments,
            default_limits,
            routes,
            tiers,
            faults,
            max_body_bytes,
        })
    }

    /// `Err(Unavailable)` if `fault` is switched on: the failure it stands for.
    pub fn fail_at(&self, fault: Fault) -> Result<(), Error> {
        if self.faults.contains(&fault) {
            Err(Error::UNAVAILABLE)
        } else {
            Ok(())
        }
    }

    /// What a request needs: from the route table if there is one, else
    /// nothing but a valid key.
    pub fn requirement(&self, method: &str, path: &str) -> Result<Requirement, Error> {
        match &self.routes {
            Some(table) => table.resolve(method, path),
            None => Ok(Requirement::OPEN),
        }
    }

    /// The environments keys may be issued for.
    pub fn environment_names(&self) -> Vec<Environment> {
        self.environments.iter().map(|(e, _)| e.clone()).collect()
    }

    /// The origin serving `key`'s environment. A key for an environment this
    /// deployment does not serve is invalid here, and the message says so,
    /// because that mistake (a test key against the live API) is common.
    pub fn origin_for(&self, key: &ApiKey) -> Result<&str, Error> {
        let env = key.environment();
        if let Some((_, Some(origin))) = self.environments.iter().find(|(e, _)| e == env) {
            return Ok(origin);
        }
        let served: Vec<&str> = self
            .environments
            .iter()
            .filter(|(_, o)| o.is_some())
            .map(|(e, _)| e.as_str())
            .collect();
        let served = if served.is_empty() {
            "no environment has an origin configured".to_owned()
        } else {
            format!("this API serves {} keys only", served.join(", "))
        };
        Err(Error::invalid_api_key_because(format!(
            "A {env} key cannot be used here: {served}."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Detail;
    use crate::key::KeyType;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.admin_prefix, "/_keygate");
        assert_eq!(c.default_limits, RateLimits::DEFAULT);
        assert_eq!(c.environment_names().len(), 2);
        assert_eq!(c.requirement("DELETE", "/anything"), Ok(Requirement::OPEN));
        assert!(c.request_logs, "request lines are on by default");
        assert!(!config(&[("LOGS", "off")]).unwrap().request_logs);
        let retries = config(&[("WEBHOOK_RETRY_SCHEDULE", "1,2")])
            .unwrap()
            .webhook_retries;
        assert_eq!(retries.span_secs(), 3);
        assert!(config(&[("WEBHOOK_RETRY_SCHEDULE", "soon")]).is_err());
    }

    #[test]
    fn tiers_and_faults() {
        let c = config(&[
            ("TIERS", r#"{"gold":{"per_minute":5,"per_day":50}}"#),
            ("FAULTS", "kv_read, key_object"),
        ])
        .unwrap();
        assert_eq!(c.tiers.get("gold").unwrap().per_minute.get(), 5);
        let rolling = config(&[(
            "TIERS",
            r#"{"gold":{"per_minute":5,"per_day":50,"window":"rolling","limits":[{"name":"burst","limit":2,"window_seconds":1}]}}"#,
        )])
        .unwrap();
        let gold = rolling.tiers.get("gold").unwrap();
        assert_eq!(gold.window, crate::limits::WindowKind::Rolling);
        assert_eq!(gold.limits[0].name.as_str(), "burst");
        assert!(c.tiers.get("standard").is_err());
        assert_eq!(c.fail_at(Fault::KvRead), Err(Error::UNAVAILABLE));
        assert_eq!(c.fail_at(Fault::CrashAfterRegistry), Ok(()));
        assert_eq!(
            config(&[])
                .unwrap()
                .tiers
                .get("premium")
                .unwrap()
                .per_minute
                .get(),
            1_000
        );
    }

    #[test]
    fn routes_var_loads_a_table() {
        let c = config(&[("ROUTES", include_str!("../../examples/routes-rest.json"))]).unwrap();
        assert_eq!(c.requirement("GET", "/nope"), Err(Error::ROUTE_NOT_ALLOWED));
        assert!(c
            .requirement("GET", "/v1/orders")
            .unwrap()
            .permission
            .is_some());
    }

    #[test]
    fn origins_route_by_key_environment() {
        let c = config(&[("ORIGIN_LIVE", "https://api.example.com/")]).unwrap();
        let live = ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap();
        let test = ApiKey::generate(KeyType::Secret, "test".parse().unwrap()).unwrap();
        assert_eq!(c.origin_for(&live), Ok("https://api.example.com"));
        match c.origin_for(&test).map_err(Error::into_detail) {
            Err(Detail::Text(message)) => {
                assert!(message.contains("test key"), "{message}");
                assert!(message.contains("live"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let dev = ApiKey::generate(KeyType::Secret, "dev".parse().unwrap()).unwrap();
        assert!(c.origin_for(&dev).is_err());
    }

    #[test]
    fn bad_vars_are_named() {
        for (pairs, var) in [
            (vec![("DEFAULT_PER_MINUTE", "0")], "DEFAULT_PER_MINUTE"),
            (vec![("DEFAULT_PER_DAY", "lots")], "DEFAULT_PER_DAY"),
            (vec![("ORIGIN_LIVE", "ftp://x")], "ORIGIN_LIVE"),
            (vec![("ENVIRONMENTS", "Prod")], "ENVIRONMENTS"),
            (vec![("ADMIN_PREFIX", "admin")], "ADMIN_PREFIX"),
            (vec![("ROUTES", "{}")], "ROUTES"),
            (
                vec![("TIERS", r#"{"gold":{"per_minute":0,"per_day":1}}"#)],
                "TIERS",
            ),
            (
                vec![(
                    "TIERS",
                    r#"{"gold":{"per_minute":5,"per_day":9,"limits":[{"name":"a","limit":1,"window_seconds":1},{"name":"a","limit":2,"window_seconds":9}]}}"#,
                )],
                "TIERS",
            ),
            (vec![("FAULTS", "meteor")], "FAULTS"),
            (vec![("MAX_BODY_BYTES", "big")], "MAX_BODY_BYTES"),
            (vec![("LOGS", "verbose")], "LOGS"),
        ] {
            let err = config(&pairs).unwrap_err();
            assert!(err.contains(var), "{err}");
        }
    }

    #[test]
    fn custom_environments_and_limits() {
        let c = config(&[
            ("ENVIRONMENTS", "live, dev"),
            ("ORIGIN_DEV", "http://127.0.0.1:9000"),
            ("DEFAULT_PER_MINUTE", "5"),
            ("ADMIN_PREFIX", "/admin/"),
        ])
        .unwrap();
        assert_eq!(c.admin_prefix, "/admin");
        assert_eq!(c.default_limits.per_minute.get(), 5);
        let dev = ApiKey::generate(KeyType::Secret, "dev".parse().unwrap()).unwrap();
        assert_eq!(c.origin_for(&dev), Ok("http://127.0.0.1:9000"));
    }

    #[test]
    fn the_configuration_reference_names_exactly_the_vars_read() {
        let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        Config::from_vars(|name| {
            asked.borrow_mut().insert(name.to_owned());
            None
        })
        .unwrap();
        let read = asked.into_inner();
        let doc = include_str!("../../docs/reference/configuration.md");
        let documented: std::collections::BTreeSet<String> = doc
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .map(str::to_owned)
            .collect();
        // Read by the Worker itself (as secrets), not through `from_vars`.
        let worker_secrets = ["ADMIN_TOKEN", "SESSION_SECRET"];
        for name in &read {
            let generic = name
                .strip_prefix("ORIGIN_")
                .is_some_and(|env| env != "SECRET" && env != "TIMEOUT_MS");
            let as_documented = if generic {
                "ORIGIN_<ENV>"
            } else {
                name.as_str()
            };
            assert!(
                documented.contains(as_documented),
                "{name} is read but not in docs/reference/configuration.md"
            );
        }
        for name in &documented {
            let known = read.contains(name)
                || worker_secrets.contains(&name.as_str())
                || (name == "ORIGIN_<ENV>" && read.iter().any(|r| r.starts_with("ORIGIN_LIVE")));
            assert!(known, "{name} is documented but nothing reads it");
        }
    }
}
