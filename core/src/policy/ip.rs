//! IP allowlists: addresses and CIDR ranges, IPv4 and IPv6, parsed with
//! `ipnet` at the edge of the system so that stored rules are always valid.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// One allowlist entry, kept as the user wrote it (`203.0.113.7`,
/// `198.51.100.0/24`, `2001:db8::/32`) alongside its parsed network.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpRule {
    text: String,
    net: IpNet,
}

impl TryFrom<String> for IpRule {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let trimmed = text.trim();
        let net = trimmed
            .parse::<IpNet>()
            .map(|n| n.trunc())
            .or_else(|_| trimmed.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("{text:?} is not an IP address or CIDR range"))?;
        Ok(IpRule { text, net })
    }
}

impl From<IpRule> for String {
    fn from(rule: IpRule) -> String {
        rule.text
    }
}

impl fmt::Debug for IpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl IpRule {
    /// Whether every address this rule admits, `outer` admits too.
    pub fn within(&self, outer: &IpRule) -> bool {
        outer.net.contains(&self.net)
    }
}

/// Parses a client address as `CF-Connecting-IP` gives it. IPv4-mapped
/// IPv6 addresses are read as the IPv4 address they carry.
pub fn client_ip(header: Option<&str>) -> Option<IpAddr> {
    let ip: IpAddr = header?.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    })
}

/// Whether `client` may use a key with these rules. No rules: anyone. With
/// rules, an unknown client address is refused (fail closed).
pub fn allows(rules: &[IpRule], client: Option<IpAddr>) -> bool {
    rules.is_empty() || client.is_some_and(|ip| rules.iter().any(|r| r.net.contains(&ip)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[&str]) -> Vec<IpRule> {
        list.iter()
            .map(|s| IpRule::try_from(s.to_string()).unwrap())
            .collect()
    }

    #[test]
    fn v4_and_v6_ranges_and_addresses() {
        let r = rules(&[
            "203.0.113.7",
            "198.51.100.0/24",
            "2001:db8::/32",
            "10.1.2.3/8",
        ]);
        for ok in [
            "203.0.113.7",
            "198.51.100.200",
            "2001:db8:1::5",
            "10.200.0.1",
            "::ffff:198.51.100.1",
        ] {
            assert!(allows(&r, client_ip(Some(ok))), "{ok}");
        }
        for no in ["203.0.113.8", "198.51.101.1", "2001:db9::1", "11.0.0.1"] {
            assert!(!allows(&r, client_ip(Some(no))), "{no}");
        }
        assert!(
            !allows(&r, None),
            "unknown client with rules must be refused"
        );
        assert!(allows(&[], None));
    }

    #[test]
    fn invalid_entries_are_named_and_entries_kept_as_written() {
        for bad in [
            "",
            "300.1.1.1",
            "10.0.0.0/33",
            "example.com",
            "2001:db8::/129",
        ] {
            let err = IpRule::try_from(bad.to_owned()).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        let json = serde_json::to_string(&rules(&["10.1.2.3/8"])).unwrap();
        assert_eq!(json, r#"["10.1.2.3/8"]"#);
    }

    #[test]
    fn garbage_client_headers_are_no_address() {
        assert_eq!(client_ip(Some("not-an-ip")), None);
        assert_eq!(client_ip(Some("1.2.3.4, 5.6.7.8")), None);
        assert_eq!(client_ip(None), None);
    }
}
