//! One function per command: settings → body → call → print.

use std::io::{BufRead, IsTerminal, Write};

use clap::CommandFactory;
use keygate_core::lifecycle::record::KeyView;
use serde_json::{json, Map, Value};
use ureq::http::Method;

use crate::args::{
    ApiKeyArg, Cli, Command, KeysCommand, ListArgs, OwnersCommand, Shell, UsageArgs, VerifyArgs,
};
use crate::body::{self, to_json};
use crate::client::{percent_encode, Answer, Client, Failure};
use crate::render::{self, Mode};
use crate::settings::{self, Settings, Stored};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    let mode = Mode::from(&cli.output);
    match cli.command {
        Command::Completions { shell } => {
            completions(shell);
            Ok(())
        }
        Command::Logout => {
            match settings::forget()? {
                Some(path) => eprintln!("removed {}", path.display()),
                None => eprintln!("no stored login"),
            }
            Ok(())
        }
        Command::Login => login(&cli),
        Command::Keys(command) => keys(*command, &Settings::resolve(&cli.conn)?, mode),
        Command::Verify(args) => verify(args, &Settings::resolve(&cli.conn)?, mode),
        Command::Whoami(key) => {
            let settings = Settings::resolve(&cli.conn)?;
            let answer = Client::with(&settings, &api_key(&key)?).call(
                Method::GET,
                "/v1/whoami",
                &[],
                None,
                &[],
            )?;
            print_object(&answer, mode, "id");
            Ok(())
        }
        Command::Owners(command) => owners(command, &Settings::resolve(&cli.conn)?, mode),
        Command::Usage(range) => {
            let client = Client::admin(&Settings::resolve(&cli.conn)?)?;
            usage(&client, "/v1/usage", &range, mode)
        }
        Command::Webhooks(command) => {
            let client = Client::admin(&Settings::resolve(&cli.conn)?)?;
            crate::webhooks::run(command, &client, mode, confirm)
        }
    }
}

fn completions(shell: Shell) {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "keygate",
        &mut std::io::stdout(),
    );
}

/// Checks the token against the API, then stores URL and token.
fn login(cli: &Cli) -> Result<(), Failure> {
    let mut settings = Settings::resolve(&cli.conn)?;
    if settings.token.is_none() {
        settings.token = Some(read_token()?);
    }
    // Proves the URL is keygate and the token is accepted before saving.
    Client::admin(&settings)?.call(
        Method::GET,
        "/v1/keys",
        &[("per_page", "1".into())],
        None,
        &[],
    )?;
    let path = settings::save(&Stored {
        url: Some(settings.url.clone()),
        token: settings.token.clone(),
        admin_prefix: cli.conn.admin_prefix.clone(),
    })?;
    eprintln!(
        "logged in to {}; saved to {} (mode 600)",
        settings.url,
        path.display()
    );
    Ok(())
}

/// The admin token from a hidden prompt, or stdin's first line when piped.
fn read_token() -> Result<String, Failure> {
    let token = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Admin token: ")
            .map_err(|e| Failure::Usage(format!("cannot read the token: {e}")))?
    } else {
        first_line_of_stdin()?
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(Failure::Usage("no token given".into()));
    }
    Ok(token)
}

fn first_line_of_stdin() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Usage(format!("cannot read stdin: {e}")))?;
    Ok(line.trim().to_owned())
}

/// The API key an argument names: itself, or stdin's first line for `-`.
fn api_key(arg: &ApiKeyArg) -> Result<String, Failure> {
    let key = if arg.api_key == "-" {
        first_line_of_stdin()?
    } else {
        arg.api_key.clone()
    };
    if key.is_empty() {
        return Err(Failure::Usage("no API key given".into()));
    }
    Ok(key)
}

/// Goes on only if the user agreed: `--yes`, or "y" typed at a terminal.
fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "{question} Not on a terminal: pass --yes to confirm."
        )));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let answer = first_line_of_stdin()?;
    if matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Failure::Refused("cancelled".into()))
    }
}

fn key_path(id: &str) -> String {
    format!("/v1/keys/{}", percent_encode(id))
}

/// Reads a key (or a key with its secret) from `data`.
fn key_view(data: &Value) -> Result<KeyView, Failure> {
    serde_json::from_value(data.clone()).map_err(|e| Failure::Api {
        status: 200,
        code: "unexpected_response".into(),
        message: format!("the key in the answer does not read as this CLI's version expects: {e}"),
        field: None,
    })
}

/// Prints one key: its fields, its id (quiet), or the data (JSON).
fn print_key(data: &Value, mode: Mode) -> Result<(), Failure> {
    match mode {
        Mode::Json => render::json(data),
        Mode::Quiet => println!("{}", key_view(data)?.id),
        Mode::Table => render::key(&key_view(data)?),
    }
    Ok(())
}

/// Prints a new key's result (create, rotate): the key, shown this once.
fn print_new_key(data: &Value, mode: Mode) -> Result<(), Failure> {
    let secret = data.get("key").and_then(Value::as_str).unwrap_or_default();
    match mode {
        Mode::Json => render::json(data),
        Mode::Quiet => println!("{secret}"),
        Mode::Table => {
            println!("key: {secret}");
            eprintln!("This is the only time the key is shown: store it now.\n");
            let mut view = data.clone();
            if let Some(map) = view.as_object_mut() {
                map.remove("key");
            }
            render::key(&key_view(&view)?);
        }
    }
    Ok(())
}

/// Prints an answer's object; `quiet_field` is what `--quiet` prints.
fn print_object(answer: &Answer, mode: Mode, quiet_field: &str) {
    match mode {
        Mode::Json => render::json(&answer.data),
        Mode::Quiet => println!(
            "{}",
            answer
                .data
                .get(quiet_field)
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
        Mode::Table => render::object(&answer.text),
    }
}

fn keys(command: KeysCommand, settings: &Settings, mode: Mode) -> Result<(), Failure> {
    let client = Client::admin(settings)?;
    match command {
        KeysCommand::Create {
            fields,
            environment,
            key_type,
            idempotency_key,
        } => {
            let mut body = body::key_body(&fields, &[])?;
            if let Some(environment) = environment {
                body.insert("environment".into(), to_json(&environment));
            }
            if let Some(key_type) = key_type {
                body.insert("type".into(), to_json(&key_type));
            }
            let headers: Vec<(&str, &str)> = idempotency_key
                .iter()
                .map(|k| ("Idempotency-Key", k.as_str()))
                .collect();
            let answer = client.call(
                Method::POST,
                "/v1/keys",
                &[],
                Some(&Value::Object(body)),
                &headers,
            )?;
            print_new_key(&answer.data, mode)
        }
        KeysCommand::List(args) => list(&client, &args, mode),
        KeysCommand::Get(id) => print_key(
            &client
                .call(Method::GET, &key_path(&id.key_id), &[], None, &[])?
                .data,
            mode,
        ),
        KeysCommand::Update { id, fields, clear } => {
            let body = body::key_body(&fields, &clear)?;
            if body.is_empty() {
                return Err(Failure::Usage(
                    "nothing to change: give at least one field (see --help)".into(),
                ));
            }
            let answer = client.call(
                Method::PATCH,
                &key_path(&id.key_id),
                &[],
                Some(&Value::Object(body)),
                &[],
            )?;
            print_key(&answer.data, mode)
        }
        KeysCommand::Rotate { id, grace_seconds } => {
            let body = match grace_seconds {
                Some(s) => json!({ "expire_previous_in_seconds": s }),
                None => json!({}),
            };
            let path = format!("{}/rotate", key_path(&id.key_id));
            print_new_key(
                &client
                    .call(Method::POST, &path, &[], Some(&body), &[])?
                    .data,
                mode,
            )
        }
        KeysCommand::Revoke { id, yes } => {
            confirm(
                &format!(
                    "Revoke {}? It stops working and cannot be restored.",
                    id.key_id
                ),
                yes,
            )?;
            print_key(
                &client
                    .call(Method::DELETE, &key_path(&id.key_id), &[], None, &[])?
                    .data,
                mode,
            )
        }
        KeysCommand::Audit(id) => {
            let answer = client.call(
                Method::GET,
                &format!("{}/audit", key_path(&id.key_id)),
                &[],
                None,
                &[],
            )?;
            match mode {
                Mode::Json => render::json(&answer.data),
                Mode::Quiet => {}
                Mode::Table => render::rows(
                    answer.data.as_array().map_or(&[][..], Vec::as_slice),
                    &["at", "actor", "action", "detail"],
                ),
            }
            Ok(())
        }
        KeysCommand::Usage { id, range } => usage(
            &client,
            &format!("{}/usage", key_path(&id.key_id)),
            &range,
            mode,
        ),
        KeysCommand::RevokeLeaked { file, source, yes } => {
            let report = leak_report(&body::read_input(&file)?, source)?;
            let count = report
                .get("keys")
                .and_then(Value::as_array)
                .map_or(1, Vec::len);
            confirm(
                &format!("Revoke every key among these {count} values?"),
                yes,
            )?;
            let answer = client.call(
                Method::POST,
                "/v1/keys/revoke-leaked",
                &[],
                Some(&report),
                &[],
            )?;
            print_leak_result(&answer.data, mode)
        }
        KeysCommand::Credits { id, change } => {
            let (op, amount) = match (change.set, change.add, change.take) {
                (Some(n), _, _) => ("set", n),
                (_, Some(n), _) => ("increment", n),
                (_, _, Some(n)) => ("decrement", n),
                _ => unreachable!("clap requires exactly one of --set, --add, --take"),
            };
            let path = format!("{}/credits", key_path(&id.key_id));
            let body = json!({ "op": op, "amount": amount });
            print_key(
                &client
                    .call(Method::POST, &path, &[], Some(&body), &[])?
                    .data,
                mode,
            )
        }
    }
}

/// A usage series (of a key, an owner, or every key) at `path`.
fn usage(client: &Client, path: &str, range: &UsageArgs, mode: Mode) -> Result<(), Failure> {
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(g) = range.granularity {
        query.push(("granularity", g.as_str().to_owned()));
    }
    for (name, at) in [("from", range.from), ("to", range.to)] {
        if let Some(at) = at {
            query.push((name, at.to_rfc3339()));
        }
    }
    let answer = client.call(Method::GET, path, &query, None, &[])?;
    match mode {
        Mode::Json => render::json(&answer.data),
        Mode::Quiet => {}
        Mode::Table => render::usage(&answer.data),
    }
    Ok(())
}

/// `keys list`: one page, or every page with `--all`.
fn list(client: &Client, args: &ListArgs, mode: Mode) -> Result<(), Failure> {
    let mut query: Vec<(&str, String)> = Vec::new();
    let mut filter = |name, value: Option<Value>| {
        if let Some(Value::String(s)) = value {
            query.push((name, s));
        }
    };
    filter("environment", args.environment.as_ref().map(to_json));
    filter("type", args.key_type.as_ref().map(to_json));
    filter("status", args.status.as_ref().map(to_json));
    filter("owner_id", args.owner_id.clone().map(Value::String));
    filter("q", args.search.clone().map(Value::String));
    let per_page = args.per_page.unwrap_or(if args.all { 100 } else { 20 });
    query.push(("per_page", per_page.to_string()));
    let mut cursor = args.cursor.clone();
    let mut keys: Vec<Value> = Vec::new();
    let next = loop {
        let mut paged = query.clone();
        if let Some(cursor) = &cursor {
            paged.push(("cursor", cursor.clone()));
        }
        let Answer { data, meta, .. } = client.call(Method::GET, "/v1/keys", &paged, None, &[])?;
        keys.extend(data.as_array().cloned().unwrap_or_default());
        let next = meta
            .as_ref()
            .and_then(|m| m.get("next_cursor"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match next {
            Some(next) if args.all => cursor = Some(next),
            next => break next,
        }
    };
    match mode {
        Mode::Json => render::json(&Value::Array(keys)),
        Mode::Quiet => keys
            .iter()
            .filter_map(|k| k.get("id").and_then(Value::as_str))
            .for_each(|id| println!("{id}")),
        Mode::Table => {
            let views = keys.iter().map(key_view).collect::<Result<Vec<_>, _>>()?;
            if views.is_empty() && next.is_none() && args.cursor.is_none() {
                eprintln!("no keys match; create one with `keygate keys create --name NAME --environment ENV`");
                return Ok(());
            }
            render::key_list(&views);
            match next {
                None if args.all => eprintln!("{} keys", views.len()),
                None => {}
                Some(next) => {
                    eprintln!(
                        "more after this page: --cursor {next} for the next, --all for every page"
                    )
                }
            }
        }
    }
    Ok(())
}

/// A leak report: a JSON body as given (keygate's or GitHub's shape), or
/// one key per line with `source`.
fn leak_report(text: &str, source: Option<String>) -> Result<Value, Failure> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str(trimmed)
            .map_err(|e| Failure::Usage(format!("the report is not JSON: {e}")));
    }
    let keys: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(Failure::Usage("no keys given (one per line)".into()));
    }
    let mut report = Map::new();
    report.insert("keys".into(), json!(keys));
    if let Some(source) = source {
        report.insert("source".into(), Value::String(source));
    }
    Ok(Value::Object(report))
}

fn print_leak_result(data: &Value, mode: Mode) -> Result<(), Failure> {
    let list = |name: &str| {
        data.get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (revoked, failed) = (list("revoked"), list("failed"));
    match mode {
        Mode::Json => render::json(data),
        Mode::Quiet => revoked
            .iter()
            .filter_map(|r| r.get("key_id").and_then(Value::as_str))
            .for_each(|id| println!("{id}")),
        Mode::Table => {
            let received = data.get("received").and_then(Value::as_u64).unwrap_or(0);
            eprintln!(
                "received {received}, revoked {}, failed {}",
                revoked.len(),
                failed.len()
            );
            if !revoked.is_empty() {
                render::rows(&revoked, &["index", "key_id", "display"]);
            }
            if !failed.is_empty() {
                render::rows(&failed, &["index", "code", "message"]);
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Refused(format!(
            "{} matched keys were not revoked (see above)",
            failed.len()
        )))
    }
}

/// `keygate verify`: exits 1 with the refusal's code when the key is not valid.
fn verify(args: VerifyArgs, settings: &Settings, mode: Mode) -> Result<(), Failure> {
    let mut body = Map::new();
    body.insert("key".into(), Value::String(api_key(&args.key)?));
    let optional = [
        ("permission", args.permission.map(Value::String)),
        ("cost", args.cost.map(Value::from)),
        ("ip", args.ip.map(Value::String)),
        (
            "method",
            args.method.map(|m| Value::String(m.to_ascii_uppercase())),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            body.insert(name.into(), value);
        }
    }
    let answer = Client::admin(settings)?.call(
        Method::POST,
        "/v1/verify",
        &[],
        Some(&Value::Object(body)),
        &[],
    )?;
    print_object(&answer, mode, "code");
    if answer.data.get("valid") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    let field = |name: &str| {
        answer
            .data
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Err(Failure::Refused(format!(
        "the key is not valid: {}: {}",
        field("code"),
        field("message")
    )))
}

fn owners(command: OwnersCommand, settings: &Settings, mode: Mode) -> Result<(), Failure> {
    let client = Client::admin(settings)?;
    let path = |owner: &str| format!("/v1/owners/{}", percent_encode(owner));
    let answer = match command {
        OwnersCommand::Get(owner) => {
            client.call(Method::GET, &path(&owner.owner_id), &[], None, &[])?
        }
        OwnersCommand::Set {
            owner,
            per_minute,
            per_day,
            credits,
            body,
        } => {
            let mut body = body::base(body.as_deref())?;
            if let (Some(per_minute), Some(per_day)) = (per_minute, per_day) {
                body.insert(
                    "rate_limits".into(),
                    json!({ "per_minute": per_minute, "per_day": per_day }),
                );
            }
            if let Some(credits) = credits {
                body.insert("credits".into(), json!({ "remaining": credits }));
            }
            client.call(
                Method::PUT,
                &path(&owner.owner_id),
                &[],
                Some(&Value::Object(body)),
                &[],
            )?
        }
        OwnersCommand::Usage { owner, range } => {
            return usage(
                &client,
                &format!("{}/usage", path(&owner.owner_id)),
                &range,
                mode,
            );
        }
        OwnersCommand::Delete { owner, yes } => {
            confirm(
                &format!("Remove {}'s shared limits and counters?", owner.owner_id),
                yes,
            )?;
            client.call(Method::DELETE, &path(&owner.owner_id), &[], None, &[])?
        }
    };
    print_object(&answer, mode, "owner_id");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leak_file_is_one_key_per_line_or_a_json_report() {
        let report = leak_report("sk_live_a\n\n  sk_live_b  \n", Some("https://x".into())).unwrap();
        assert_eq!(
            report,
            json!({"keys": ["sk_live_a", "sk_live_b"], "source": "https://x"})
        );
        let github =
            r#"[{"token":"sk_live_a","type":"keygate","url":"https://x","source":"content"}]"#;
        assert_eq!(leak_report(github, None).unwrap()[0]["token"], "sk_live_a");
        assert!(matches!(leak_report(" \n", None), Err(Failure::Usage(_))));
    }
}
