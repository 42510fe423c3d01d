//! Printing results: a table for people, `--json` (exactly the API's
//! `data`) for scripts, `--quiet` for the one value a script needs next.
//! No key is ever printed except the one a create or rotate returns.

use comfy_table::{presets, Table};
use keygate::lifecycle::record::KeyView;
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

/// An object as two columns, field and value, in the API's order.
pub fn object(data: &Value) {
    let mut out = table(None);
    if let Value::Object(map) = data {
        for (name, value) in map {
            out.add_row(vec![name.clone(), cell(value)]);
        }
    }
    println!("{out}");
}

/// One key, every field; `usage` (on `keys get`) one line per limit.
pub fn key(view: &KeyView) {
    let mut data = serde_json::to_value(view).expect("a key view serializes");
    let usage = data.as_object_mut().and_then(|m| m.remove("usage"));
    object(&data);
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
}
