//! `GET /v1/keys` query parameters, validated, and the filter they become:
//! SQL for a registry shard's object, and the same filter over a view for
//! the in-memory store the registry's tests use.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::key::{Environment, KeyType};
use crate::lifecycle::record::{KeyView, Status};
use crate::policy::actor::Bounds;
use crate::registry::cursor::Cursor;
use crate::time::Timestamp;

/// Largest page.
pub const MAX_PER_PAGE: u32 = 100;
/// Default page size.
pub const DEFAULT_PER_PAGE: u32 = 20;

/// A validated list request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    /// List keys after this position (the previous page's `next_cursor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
    /// Items per page, 1–100.
    pub per_page: u32,
    /// Only keys of this environment.
    pub environment: Option<Environment>,
    /// Only keys of this type.
    pub key_type: Option<KeyType>,
    /// Only keys with this status.
    pub status: Option<Status>,
    /// Only keys of this owner.
    pub owner_id: Option<String>,
    /// Case-insensitive substring of name, description or id.
    pub q: Option<String>,
    /// Set by [`ListQuery::within`]: exactly this owner (`Some(None)`: keys
    /// without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Option<String>>,
    /// Set by [`ListQuery::within`] when the filters ask for what is out of reach.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nothing: bool,
    /// Set by [`ListQuery::within`]: no key holding `admin`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_admin: bool,
}

/// A value bound to a `?` in the generated SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlArg {
    /// TEXT.
    Text(String),
    /// INTEGER.
    Int(i64),
}

fn parse<T: serde::de::DeserializeOwned>(name: &str, value: &str) -> Result<T, Error> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| Error::invalid(name, format!("{value:?} is not a valid value")))
}

fn number(name: &str, value: &str, max: u32) -> Result<u32, Error> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| Error::invalid(name, format!("must be an integer from 1 to {max}")))
}

/// Decodes a URL query string (`a=1&q=acme%20corp`) into pairs, with `+`
/// as space and `%XX` escapes; a malformed escape is kept as written.
/// (Hand-written so the wasm bundle needs no URL parser.)
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// `s` with `%XX` escapes decoded (and, in a query, `+` as a space).
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            (b'+', _, _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ListQuery {
    /// Reads the query string's pairs. Unknown parameters are 422, so a
    /// typo (`?enviroment=live`) never silently lists everything.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ListQuery, Error> {
        let mut q = ListQuery {
            cursor: None,
            per_page: DEFAULT_PER_PAGE,
            environment: None,
            key_type: None,
            status: None,
            owner_id: None,
            q: None,
            owner: None,
            nothing: false,
            no_admin: false,
        };
        for (name, value) in pairs {
            match name {
                "cursor" => {
                    q.cursor = Some(value.parse().map_err(|e: String| Error::invalid(name, e))?)
                }
                // Page numbers cost every row before the page on every shard.
                "page" => {
                    return Err(Error::invalid(
                        name,
                        "is retired: pass the previous page's meta.next_cursor as cursor",
                    ))
                }
                "per_page" => q.per_page = number(name, value, MAX_PER_PAGE)?,
                "environment" => {
                    q.environment =
                        Some(value.parse().map_err(|e: String| Error::invalid(name, e))?)
                }
                "type" => q.key_type = Some(parse(name, value)?),
                "status" => q.status = Some(parse(name, value)?),
                "owner_id" => q.owner_id = Some(value.to_owned()),
                "q" => q.q = Some(value.to_ascii_lowercase()).filter(|s| !s.is_empty()),
                other => return Err(Error::invalid(other, "is not a known parameter")),
            }
        }
        Ok(q)
    }

    /// The `WHERE` clause (over a shard's `keys` table) and its
    /// arguments, with status judged at `now`; [`ListQuery::matches`] is the
    /// same filter over a view.
    pub fn filter(&self, now: Timestamp) -> (String, Vec<SqlArg>) {
        let mut clauses = vec!["state = 'live'".to_owned()];
        let mut args = Vec::new();
        if let Some(env) = &self.environment {
            clauses.push("environment = ?".into());
            args.push(SqlArg::Text(env.as_str().to_owned()));
        }
        if let Some(t) = self.key_type {
            clauses.push("type = ?".into());
            args.push(SqlArg::Text(t.as_str().to_owned()));
        }
        if let Some(owner) = &self.owner_id {
            clauses.push("owner_id = ?".into());
            args.push(SqlArg::Text(owner.clone()));
        }
        if let Some(q) = &self.q {
            clauses.push("instr(search, ?) > 0".into());
            args.push(SqlArg::Text(q.clone()));
        }
        match &self.owner {
            None => {}
            Some(None) => clauses.push("owner_id IS NULL".into()),
            Some(Some(owner)) => {
                clauses.push("owner_id = ?".into());
                args.push(SqlArg::Text(owner.clone()));
            }
        }
        if self.nothing {
            clauses.push("0".into());
        }
        // NULL: a row from before the column, judged by the rule alone.
        if self.no_admin {
            clauses.push("admin IS NOT 1".into());
        }
        let now = SqlArg::Int(now.as_millis() as i64);
        match self.status {
            None => {}
            Some(Status::Revoked) => clauses.push("revoked = 1".into()),
            Some(Status::Expired) => {
                clauses.push("revoked = 0 AND expires_at IS NOT NULL AND expires_at <= ?".into());
                args.push(now);
            }
            Some(Status::Active) => {
                clauses.push("revoked = 0 AND (expires_at IS NULL OR expires_at > ?)".into());
                args.push(now);
            }
        }
        (clauses.join(" AND "), args)
    }

    /// This query narrowed to one environment and owner (`None`: keys
    /// without an owner). A filter asking for another one matches nothing.
    pub fn within(mut self, environment: &Environment, owner_id: Option<&str>) -> ListQuery {
        self.nothing |= self.environment.as_ref().is_some_and(|e| e != environment)
            || self
                .owner_id
                .as_deref()
                .is_some_and(|o| Some(o) != owner_id);
        self.environment = Some(environment.clone());
        self.owner = Some(owner_id.map(str::to_owned));
        self.no_admin = true;
        self
    }

    /// Whether the live key `key` passes the filter at `now`: what
    /// [`ListQuery::filter`] selects in SQL.
    pub fn matches(&self, key: &KeyView, now: Timestamp) -> bool {
        let search = search_text(key);
        let status = match self.status {
            None => true,
            Some(Status::Revoked) => key.revoked_at.is_some(),
            Some(Status::Expired) => {
                key.revoked_at.is_none() && key.expires_at.is_some_and(|t| t <= now)
            }
            Some(Status::Active) => {
                key.revoked_at.is_none() && key.expires_at.is_none_or(|t| t > now)
            }
        };
        status
            && !self.nothing
            && self
                .environment
                .as_ref()
                .is_none_or(|e| *e == key.environment)
            && self.key_type.is_none_or(|t| t == key.key_type)
            && self
                .owner_id
                .as_ref()
                .is_none_or(|o| key.owner_id.as_ref() == Some(o))
            && self.owner.as_ref().is_none_or(|o| *o == key.owner_id)
            && self.q.as_ref().is_none_or(|q| search.contains(q.as_str()))
            && !(self.no_admin && holds_admin(key))
    }
}

/// The text `q` searches: name, description and id, lowercased.
pub fn search_text(key: &KeyView) -> String {
    format!(
        "{} {} {}",
        key.name,
        key.description.as_deref().unwrap_or(""),
        key.id
    )
    // ASCII only, as the query is: Unicode case tables cost ~8 KiB of wasm.
    .to_ascii_lowercase()
}

/// Whether `key` holds `admin` (a key actor never lists those).
pub fn holds_admin(key: &KeyView) -> bool {
    Bounds::from(key).grants.is_admin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Detail;

    fn q(s: &str) -> Result<ListQuery, Error> {
        ListQuery::parse(
            s.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap_or((p, ""))),
        )
    }

    #[test]
    fn defaults_and_filters() {
        let d = q("").unwrap();
        assert_eq!((d.cursor.as_ref(), d.per_page), (None, 20));
        assert_eq!(
            d.filter(Timestamp::from_secs(0)),
            ("state = 'live'".to_owned(), vec![])
        );
        let f =
            q("per_page=5&environment=live&type=restricted&status=active&owner_id=cus_1&q=ACME")
                .unwrap();
        let (sql, args) = f.filter(Timestamp::from_millis(42));
        assert!(
            sql.contains("environment = ?")
                && sql.contains("type = ?")
                && sql.contains("instr(search, ?)")
        );
        assert_eq!(
            args,
            vec![
                SqlArg::Text("live".into()),
                SqlArg::Text("restricted".into()),
                SqlArg::Text("cus_1".into()),
                SqlArg::Text("acme".into()),
                SqlArg::Int(42),
            ]
        );
    }

    #[test]
    fn a_key_actor_lists_only_its_environment_and_owner() {
        let live: Environment = "live".parse().unwrap();
        let (sql, args) = q("")
            .unwrap()
            .within(&live, None)
            .filter(Timestamp::from_millis(1));
        assert!(sql.contains("environment = ?") && sql.contains("owner_id IS NULL"));
        assert_eq!(args, vec![SqlArg::Text("live".into())]);
        let (sql, args) = q("owner_id=acme")
            .unwrap()
            .within(&live, Some("acme"))
            .filter(Timestamp::from_millis(1));
        let clauses = |sql: &str| sql.split(" AND ").map(str::to_owned).collect::<Vec<_>>();
        assert!(!clauses(&sql).contains(&"0".to_owned()));
        assert!(
            clauses(&sql).contains(&"admin IS NOT 1".to_owned()),
            "{sql}"
        );
        assert!(args.contains(&SqlArg::Text("acme".into())));
        for asked in ["environment=test", "owner_id=globex"] {
            let (sql, _) = q(asked)
                .unwrap()
                .within(&live, Some("acme"))
                .filter(Timestamp::from_millis(1));
            assert!(clauses(&sql).contains(&"0".to_owned()), "{asked}: {sql}");
        }
    }

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            query_pairs("q=acme%20corp&owner_id=a+b&x&&bad=%zz%4"),
            vec![
                ("q".into(), "acme corp".into()),
                ("owner_id".into(), "a b".into()),
                ("x".into(), "".into()),
                ("bad".into(), "%zz%4".into()),
            ]
        );
        assert_eq!(query_pairs("q=%C3%A9"), vec![("q".into(), "é".into())]);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (s, field) in [
            ("page=2", "page"),
            ("cursor=12", "cursor"),
            ("cursor=12.key_nope", "cursor"),
            ("per_page=101", "per_page"),
            ("per_page=x", "per_page"),
            ("status=gone", "status"),
            ("type=admin", "type"),
            ("environment=LIVE", "environment"),
            ("enviroment=live", "enviroment"),
        ] {
            match q(s).map_err(Error::into_detail) {
                Err(Detail::Field { field: f, .. }) => assert_eq!(f, field, "{s}"),
                other => panic!("{s}: {other:?}"),
            }
        }
    }
}
