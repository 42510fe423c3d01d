//! Printing results: a table for people, `--json` (exactly the API's
//! `data`) for scripts, `--quiet` for the one value a script needs next.
//! No key is ever printed except the one a create or rotate returns.

use std::fmt;

use comfy_table::{presets, Table};
use keygate_core::lifecycle::record::KeyView;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::args::OutputArgs;

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Tables.
    Table,
    /// The API's `data`, pretty-printed JSON.
    Json,
    /// Only ids (or the new key).
    Quiet,
}

impl From<&OutputArgs> for Mode {
    fn from(args: &OutputArgs) -> Mode {
        match (args.json, args.quiet) {
            (true, _) => Mode::Json,
            (_, true) => Mode::Quiet,
            _ => Mode::Table,
        }
    }
}

/// Prints `data` as JSON.
pub fn json(data: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(data).expect("JSON values print")
    );
}

/// A cell's text: strings as they are, `null` as `-`, the rest as compact JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".into(),
        other => other.to_string(),
    }
}

fn table(header: Option<&[&str]>) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    if let Some(header) = header {
        table.set_header(header.to_vec());
    }
    table
}

/// An object's fields in the order they were written (`Value` sorts them).
#[derive(Default)]
struct Fields(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry()? {
                    fields.push(field);
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(InOrder)
    }
}

/// An answer's `data` object, in the API's order.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Fields,
}

fn two_columns(fields: &[(String, Value)]) {
    let mut out = table(None);
    for (name, value) in fields {
        out.add_row(vec![name.clone(), cell(value)]);
    }
    println!("{out}");
}

/// The `data` object of `answer_text` as two columns, field and value, in
/// the API's order.
pub fn object(answer_text: &str) {
    let fields =
        serde_json::from_str::<Envelope>(answer_text).map_or_else(|_| Vec::new(), |e| e.data.0);
    two_columns(&fields);
}

/// One key, every field in the API's order; `usage` (on `keys get`) one
/// line per limit.
pub fn key(view: &KeyView) {
    let text = serde_json::to_string(view).expect("a key view serializes");
    let Fields(mut fields) = serde_json::from_str(&text).expect("a key view is an object");
    let usage = fields
        .iter()
        .position(|(name, _)| name == "usage")
        .map(|i| fields.remove(i).1);
    two_columns(&fields);
    if let Some(Value::Array(quotas)) = usage {
        println!("\nusage now:");
        rows(
            &quotas,
            &["policy", "remaining", "limit", "window_seconds", "reset"],
        );
    }
}

/// Keys, one row each.
pub fn key_list(views: &[KeyView]) {
    let mut out = table(Some(&[
        "ID",
        "NAME",
        "DISPLAY",
        "ENV",
        "TYPE",
        "STATUS",
        "OWNER",
        "CREATED",
        "LAST USED",
    ]));
    for v in views {
        out.add_row(vec![
            v.id.to_string(),
            v.name.clone(),
            v.display.clone(),
            v.environment.to_string(),
            v.key_type.as_str().to_owned(),
            cell(&serde_json::to_value(v.status).expect("a status serializes")),
            v.owner_id.clone().unwrap_or_else(|| "-".into()),
            v.created_at.to_rfc3339(),
            v.last_used.map_or_else(|| "-".into(), |t| t.to_rfc3339()),
        ]);
    }
    println!("{out}");
}

/// A usage series: one row per bucket and outcome, then the totals and
/// the countries.
pub fn usage(data: &Value) {
    let mut out = table(Some(&["BUCKET", "OUTCOME", "COUNT", "COST"]));
    let mut add = |bucket: &str, outcomes: Option<&Value>| {
        for (outcome, tally) in outcomes.and_then(Value::as_object).into_iter().flatten() {
            let field = |f: &str| tally.get(f).map(cell).unwrap_or_else(|| "-".into());
            out.add_row(vec![
                bucket.to_owned(),
                outcome.clone(),
                field("count"),
                field("cost"),
            ]);
        }
    };
    for bucket in data
        .get("buckets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add(
            bucket.get("start").and_then(Value::as_str).unwrap_or("-"),
            bucket.get("outcomes"),
        );
    }
    add("total", data.get("totals"));
    println!("{out}");
    if let Some(countries) = data
        .get("countries")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    {
        println!();
        rows(countries, &["country", "count"]);
    }
    for list in ["by_requests", "by_refusals"] {
        if let Some(top) = data
            .pointer(&format!("/top_keys/{list}"))
            .and_then(Value::as_array)
            .filter(|t| !t.is_empty())
        {
            println!("\ntop keys {}:", list.replace('_', " "));
            rows(top, &["key_id", "name", "requests", "refused"]);
        }
    }
}

/// Rows of objects under `columns` (each a field name), e.g. the audit trail.
pub fn rows(items: &[Value], columns: &[&str]) {
    let header: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = table(Some(&header));
    for item in items {
        out.add_row(
            columns
                .iter()
                .map(|c| item.get(*c).map(cell).unwrap_or_else(|| "-".into()))
                .collect::<Vec<_>>(),
        );
    }
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_read_plainly() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!("x")), "x");
        assert_eq!(cell(&json!([])), "-");
        assert_eq!(cell(&json!(["a", "b"])), r#"["a","b"]"#);
        assert_eq!(cell(&json!(5)), "5");
    }

    #[test]
    fn fields_keep_the_order_they_were_written_in() {
        let Envelope { data } =
            serde_json::from_str(r#"{"data":{"zeta":1,"alpha":null}}"#).unwrap();
        let names: Vec<&str> = data.0.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
    }
}
