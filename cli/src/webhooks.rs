//! `keygate webhooks …`: the webhook endpoints (admin token only). The
//! signing secret is printed once, by `create`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use ureq::http::Method;

use crate::client::{percent_encode, Client, Failure};
use crate::render::{self, Mode};

/// `keygate webhooks …`.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Add an endpoint; prints its signing secret, this once.
    #[command(
        after_help = "Example:\n  keygate webhooks create https://hooks.example.com/keygate --event key.revoked --event key.leaked\n\n\
                      Event types: key.created, key.updated, key.rotated, key.revoked, key.leaked, key.expiring,\n\
                      key.expired, key.usage_threshold, key.rate_limited (none given: every type)."
    )]
    Create {
        /// Where events are POSTed (https://; http:// only to localhost).
        /// (`--url` is the deployment's.)
        endpoint: String,
        /// An event type to send (repeat for more); none: every type.
        #[arg(long = "event", value_name = "TYPE")]
        events: Vec<String>,
        /// What the endpoint is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the endpoints.
    #[command(after_help = "Example:\n  keygate webhooks list")]
    List,
    /// Show one endpoint.
    #[command(after_help = "Example:\n  keygate webhooks get wh_0123456789abcdef")]
    Get(WebhookIdArg),
    /// Remove an endpoint (its pending deliveries are not sent).
    #[command(after_help = "Example:\n  keygate webhooks delete wh_0123456789abcdef --yes")]
    Delete {
        /// The endpoint.
        #[command(flatten)]
        id: WebhookIdArg,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
    /// Send the endpoint a `webhook.test` event.
    #[command(after_help = "Example:\n  keygate webhooks test wh_0123456789abcdef")]
    Test(WebhookIdArg),
    /// The endpoint's latest deliveries and their attempts.
    #[command(after_help = "Example:\n  keygate webhooks deliveries wh_0123456789abcdef")]
    Deliveries(WebhookIdArg),
}

/// A webhook id argument.
#[derive(Debug, Args)]
pub struct WebhookIdArg {
    /// The endpoint's id (`wh_…`).
    pub webhook_id: String,
}

/// Runs a `webhooks` command; `confirm` asks before a deletion.
pub fn run(
    command: WebhooksCommand,
    client: &Client,
    mode: Mode,
    confirm: impl Fn(&str, bool) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let path = |id: &WebhookIdArg| format!("/v1/webhooks/{}", percent_encode(&id.webhook_id));
    let answer = match &command {
        WebhooksCommand::Create {
            endpoint,
            events,
            description,
        } => {
            let mut body = json!({ "url": endpoint });
            if !events.is_empty() {
                body["events"] = json!(events);
            }
            if let Some(description) = description {
                body["description"] = json!(description);
            }
            client.call(Method::POST, "/v1/webhooks", &[], Some(&body), &[])?
        }
        WebhooksCommand::List => client.call(Method::GET, "/v1/webhooks", &[], None, &[])?,
        WebhooksCommand::Get(id) => client.call(Method::GET, &path(id), &[], None, &[])?,
        WebhooksCommand::Delete { id, yes } => {
            confirm(&format!("Remove webhook {}?", id.webhook_id), *yes)?;
            client.call(Method::DELETE, &path(id), &[], None, &[])?
        }
        WebhooksCommand::Test(id) => {
            client.call(Method::POST, &format!("{}/test", path(id)), &[], None, &[])?
        }
        WebhooksCommand::Deliveries(id) => client.call(
            Method::GET,
            &format!("{}/deliveries", path(id)),
            &[],
            None,
            &[],
        )?,
    };
    let data = &answer.data;
    let text = |field: &str| {
        data.get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match (mode, &command) {
        (Mode::Json, _) => render::json(data),
        (Mode::Quiet, WebhooksCommand::Create { .. }) => println!("{}", text("secret")),
        (Mode::Quiet, WebhooksCommand::Test(_)) => println!("{}", text("event_id")),
        (Mode::Quiet, WebhooksCommand::List | WebhooksCommand::Deliveries(_)) => {
            for item in data.as_array().into_iter().flatten() {
                println!(
                    "{}",
                    item.get("id").map_or(String::new(), |v| v
                        .to_string()
                        .trim_matches('"')
                        .to_owned())
                );
            }
        }
        (Mode::Quiet, _) => println!("{}", text("id")),
        (Mode::Table, WebhooksCommand::Create { .. }) => {
            eprintln!("This is the only time the signing secret is shown: store it now.\n");
            render::object(&answer.text);
        }
        (Mode::Table, WebhooksCommand::List) => {
            render::rows(
                data.as_array().map_or(&[][..], Vec::as_slice),
                &["id", "url", "events", "description", "created_at"],
            );
        }
        (Mode::Table, WebhooksCommand::Deliveries(_)) => {
            let rows: Vec<Value> = data
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    let attempts = d["attempts"].as_array().map_or(&[][..], Vec::as_slice);
                    let last = attempts.last();
                    json!({
                        "id": d["id"],
                        "event_type": d["event_type"],
                        "state": d["state"],
                        "attempts": attempts.len(),
                        "last": last.map(|a| if a["error"].is_null() { a["status"].clone() } else { a["error"].clone() }),
                        "next_attempt_at": d["next_attempt_at"],
                        "created_at": d["created_at"],
                    })
                })
                .collect();
            render::rows(
                &rows,
                &[
                    "id",
                    "event_type",
                    "state",
                    "attempts",
                    "last",
                    "next_attempt_at",
                    "created_at",
                ],
            );
        }
        (Mode::Table, _) => render::object(&answer.text),
    }
    Ok(())
}
