//! Request bodies from flags. Flag values are parsed with the Worker's own
//! types (`typed`), so `--type restrcted` or `--allowed-ip 10.0.0.0/33`
//! fails on the command line with the Worker's message, and what is sent
//! is exactly those types' JSON.

use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::args::{Clearable, KeyFields};
use crate::client::Failure;

/// A clap value parser through `T`'s own deserializer (the API's rules).
pub fn typed<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(Value::String(text.to_owned())).map_err(|e| e.to_string())
}

pub fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).expect("the core's types serialize to JSON")
}

/// The text of `path`, or of stdin for `-`.
pub fn read_input(path: &Path) -> Result<String, Failure> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
    };
    read.map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    Ok(text)
}

/// The `--body` file's JSON object, or an empty one.
pub fn base(path: Option<&Path>) -> Result<Map<String, Value>, Failure> {
    let Some(path) = path else {
        return Ok(Map::new());
    };
    match serde_json::from_str(&read_input(path)?) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Failure::Usage(format!(
            "{}: the body must be a JSON object",
            path.display()
        ))),
        Err(e) => Err(Failure::Usage(format!("{}: not JSON: {e}", path.display()))),
    }
}

/// A create or edit body: `--body`'s fields, then each flag given.
pub fn key_body(fields: &KeyFields, clear: &[Clearable]) -> Result<Map<String, Value>, Failure> {
    let mut body = base(fields.body.as_deref())?;
    let mut set = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(name.to_owned(), value);
        }
    };
    set("name", fields.name.as_ref().map(to_json));
    set("description", fields.description.as_ref().map(to_json));
    set("window", fields.window.as_ref().map(to_json));
    set("tier", fields.tier.as_ref().map(to_json));
    set("owner_id", fields.owner_id.as_ref().map(to_json));
    set("metadata", fields.metadata.clone());
    set("expires_at", fields.expires_at.as_ref().map(to_json));
    set("admission", fields.admission.as_ref().map(to_json));
    set("credits", fields.credits.map(|n| json!({ "remaining": n })));
    let nonempty = |v: &Value| v.as_array().is_some_and(|a| !a.is_empty());
    set("scopes", Some(to_json(&fields.scopes)).filter(nonempty));
    set(
        "allowed_ips",
        Some(to_json(&fields.allowed_ips)).filter(nonempty),
    );
    set(
        "allowed_origins",
        Some(to_json(&fields.allowed_origins)).filter(nonempty),
    );
    if fields.per_minute.is_some() || fields.per_day.is_some() {
        // Merged into --body's rate_limits, so one flag changes one half.
        let mut limits = match body.remove("rate_limits") {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        if let Some(n) = fields.per_minute {
            limits.insert("per_minute".into(), n.into());
        }
        if let Some(n) = fields.per_day {
            limits.insert("per_day".into(), n.into());
        }
        body.insert("rate_limits".into(), Value::Object(limits));
    }
    for field in clear {
        body.insert(field.field().to_owned(), Value::Null);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn fields(args: &[&str]) -> KeyFields {
        #[derive(Parser)]
        struct Probe {
            #[command(flatten)]
            fields: KeyFields,
        }
        let argv = std::iter::once("probe").chain(args.iter().copied());
        Probe::try_parse_from(argv).expect("valid flags").fields
    }

    #[test]
    fn flags_become_the_api_fields() {
        let body = key_body(
            &fields(&[
                "--name",
                "acme",
                "--scope",
                "orders:read",
                "--scope",
                "orders:write",
                "--per-minute",
                "100",
                "--owner-id",
                "cus_1",
                "--expires-at",
                "2027-01-01T00:00:00Z",
                "--allowed-ip",
                "10.0.0.0/8",
                "--metadata",
                r#"{"plan":"pro"}"#,
                "--credits",
                "500",
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(
            Value::Object(body),
            json!({
                "name": "acme", "scopes": ["orders:read", "orders:write"], "rate_limits": {"per_minute": 100},
                "owner_id": "cus_1", "expires_at": "2027-01-01T00:00:00Z", "allowed_ips": ["10.0.0.0/8"],
                "metadata": {"plan": "pro"}, "credits": {"remaining": 500},
            })
        );
    }

    #[test]
    fn values_are_checked_by_the_workers_types() {
        assert!(typed::<keygate_core::key::KeyType>("restricted").is_ok());
        assert!(typed::<keygate_core::key::KeyType>("restrcted").is_err());
        assert!(typed::<keygate_core::policy::ip::IpRule>("10.0.0.0/33").is_err());
        assert!(typed::<keygate_core::time::Timestamp>("tomorrow").is_err());
    }

    #[test]
    fn clear_sends_null() {
        let body = key_body(&fields(&[]), &[Clearable::ExpiresAt, Clearable::OwnerId]).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"expires_at": null, "owner_id": null})
        );
    }
}
