//! The command line: every command, its flags (named like the API's
//! fields) and an example for `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use keygate_core::admission::Admission;
use keygate_core::analytics::Granularity;
use keygate_core::key::{Environment, KeyType};
use keygate_core::lifecycle::record::Status;
use keygate_core::limits::named::WindowKind;
use keygate_core::policy::cors::WebOrigin;
use keygate_core::policy::ip::IpRule;
use keygate_core::policy::permission::Scope;
use keygate_core::time::Timestamp;

use crate::body::typed;

/// Manage the keys of a keygate deployment.
#[derive(Debug, Parser)]
#[command(
    name = "keygate",
    version,
    after_help = "Examples:\n  keygate login --url https://api.example.com\n  keygate keys list\n  keygate keys create --name acme --environment live --per-minute 100\n\n\
                  Exit codes: 0 success, 1 the API refused (its code and message on stderr), 2 usage error, 3 could not connect."
)]
pub struct Cli {
    /// Where the connection settings come from.
    #[command(flatten)]
    pub conn: Connection,
    /// How to print results.
    #[command(flatten)]
    pub output: OutputArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The deployment and the admin credential.
#[derive(Debug, Args)]
pub struct Connection {
    /// The Worker's URL, e.g. https://api.example.com (default: from `keygate login`).
    #[arg(long, env = "KEYGATE_URL", global = true)]
    pub url: Option<String>,
    /// The admin token, or an API key holding `admin` (prefer --token-file: a
    /// flag shows in the process list).
    #[arg(
        long,
        env = "KEYGATE_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// A file holding the admin token (first line); must not be readable by
    /// group or others.
    #[arg(long, global = true, conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// The admin API's path prefix (the Worker's ADMIN_PREFIX).
    #[arg(long, env = "KEYGATE_ADMIN_PREFIX", global = true)]
    pub admin_prefix: Option<String>,
}

/// Output format.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print exactly the API's `data` as JSON.
    #[arg(long, global = true, conflicts_with = "quiet")]
    pub json: bool,
    /// Print only the id (or, on create and rotate, only the new key).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store the URL and admin token for later commands (0600, in your config directory).
    #[command(
        after_help = "Example:\n  keygate login --url https://api.example.com --token-file ~/.keygate-token\n  \
                            echo \"$TOKEN\" | keygate login --url https://api.example.com"
    )]
    Login,
    /// Forget the stored URL and token.
    #[command(after_help = "Example:\n  keygate logout")]
    Logout,
    /// Issue, list, edit, rotate and revoke keys.
    #[command(subcommand)]
    Keys(Box<KeysCommand>),
    /// Ask keygate whether a key may make a request (as the proxy would judge it).
    #[command(
        after_help = "Example:\n  keygate verify - --permission orders:read < key.txt\n  \
                            KEYGATE_API_KEY=sk_live_... keygate verify --cost 5\n\n\
                            Exits 1, printing the refusal's code, when the key is not valid."
    )]
    Verify(VerifyArgs),
    /// Describe an API key, asking as that key.
    #[command(
        after_help = "Example:\n  keygate whoami - < key.txt\n  KEYGATE_API_KEY=sk_live_... keygate whoami"
    )]
    Whoami(ApiKeyArg),
    /// Limits and credits an owner's keys share.
    #[command(subcommand)]
    Owners(OwnersCommand),
    /// Usage across every key, refusals before any key, and the top keys (admin token only).
    #[command(
        after_help = "Example:\n  keygate usage --granularity day --from 2026-11-01T00:00:00Z"
    )]
    Usage(UsageArgs),
    /// Webhook endpoints: where keygate POSTs signed events (admin token only).
    #[command(subcommand)]
    Webhooks(crate::webhooks::WebhooksCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  keygate completions bash > ~/.local/share/bash-completion/completions/keygate"
    )]
    Completions {
        /// The shell.
        shell: Shell,
    },
}

/// Shells completions are generated for.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

/// `keygate keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a key; the key itself is shown this once.
    #[command(
        after_help = "Example:\n  keygate keys create --name acme --environment live --type restricted \\\n    \
                            --scope orders:read --per-minute 100 --owner-id cus_1 --expires-at 2027-01-01T00:00:00Z"
    )]
    Create {
        /// The key's fields.
        #[command(flatten)]
        fields: KeyFields,
        /// Where the key works (one of the deployment's environments).
        #[arg(long, value_parser = typed::<Environment>)]
        environment: Option<Environment>,
        /// secret (default), restricted or publishable.
        #[arg(long = "type", value_parser = typed::<KeyType>)]
        key_type: Option<KeyType>,
        /// Sent as the Idempotency-Key header: a retry with the same value
        /// returns the first result instead of issuing a second key.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// List keys, a page at a time (or all with --all).
    #[command(
        after_help = "Example:\n  keygate keys list --environment live --status active --all\n  keygate keys list -q acme --json"
    )]
    List(ListArgs),
    /// Show one key, with its current usage.
    #[command(after_help = "Example:\n  keygate keys get key_0123456789abcdef")]
    Get(KeyIdArg),
    /// Edit a key (only the fields given change).
    #[command(
        after_help = "Example:\n  keygate keys update key_0123456789abcdef --per-minute 500 --clear expires_at"
    )]
    Update {
        /// The key.
        #[command(flatten)]
        id: KeyIdArg,
        /// The fields to change.
        #[command(flatten)]
        fields: KeyFields,
        /// Remove a field's value (description, credits, tier, owner_id, metadata, expires_at).
        #[arg(long, value_enum)]
        clear: Vec<Clearable>,
    },
    /// Give a key a new secret; the old one keeps working for the grace period.
    #[command(
        after_help = "Example:\n  keygate keys rotate key_0123456789abcdef --grace-seconds 3600"
    )]
    Rotate {
        /// The key.
        #[command(flatten)]
        id: KeyIdArg,
        /// How long the previous secret keeps working (default 86400; 0: not at all).
        #[arg(long)]
        grace_seconds: Option<u64>,
    },
    /// Revoke a key (asks first on a terminal; --yes otherwise).
    #[command(after_help = "Example:\n  keygate keys revoke key_0123456789abcdef --yes")]
    Revoke {
        /// The key.
        #[command(flatten)]
        id: KeyIdArg,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
    /// A key's decisions by outcome over time, and by country.
    #[command(
        after_help = "Example:\n  keygate keys usage key_0123456789abcdef --granularity day --from 2026-11-01T00:00:00Z"
    )]
    Usage {
        /// The key.
        #[command(flatten)]
        id: KeyIdArg,
        /// Which buckets.
        #[command(flatten)]
        range: UsageArgs,
    },
    /// A key's admin actions of the last 30 days.
    #[command(after_help = "Example:\n  keygate keys audit key_0123456789abcdef")]
    Audit(KeyIdArg),
    /// Revoke keys found in the wild, read one per line from a file or stdin.
    #[command(
        after_help = "Example:\n  keygate keys revoke-leaked leaked.txt --source https://github.com/acme/app/commit/abc --yes\n  \
                            pbpaste | keygate keys revoke-leaked - --yes"
    )]
    RevokeLeaked {
        /// A file of keys, one per line, or - for stdin.
        #[arg(default_value = "-")]
        file: PathBuf,
        /// Where they leaked (recorded as the revocation's reason).
        #[arg(long)]
        source: Option<String>,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
    /// Set, add to or take from a key's credits.
    #[command(after_help = "Example:\n  keygate keys credits key_0123456789abcdef --add 1000")]
    Credits {
        /// The key.
        #[command(flatten)]
        id: KeyIdArg,
        /// What to do.
        #[command(flatten)]
        change: CreditChange,
    },
}

/// A usage query: bucket size and range.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Bucket size: minute (kept 48 h), hour (90 days, the default) or day (400 days).
    #[arg(long, value_parser = typed::<Granularity>)]
    pub granularity: Option<Granularity>,
    /// First bucket, RFC 3339 (default: 23 buckets before --to).
    #[arg(long, value_parser = typed::<Timestamp>)]
    pub from: Option<Timestamp>,
    /// Last instant, RFC 3339 (default: now).
    #[arg(long, value_parser = typed::<Timestamp>)]
    pub to: Option<Timestamp>,
}

/// One credits operation.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct CreditChange {
    /// Set the balance.
    #[arg(long)]
    pub set: Option<u64>,
    /// Add to it.
    #[arg(long)]
    pub add: Option<u64>,
    /// Take from it (below zero is refused and changes nothing).
    #[arg(long)]
    pub take: Option<u64>,
}

/// A key id argument.
#[derive(Debug, Args)]
pub struct KeyIdArg {
    /// The key's id (key_…).
    pub key_id: String,
}

/// Fields a key is created or edited with; each flag is the API field of
/// the same name.
#[derive(Debug, Args)]
pub struct KeyFields {
    /// Human name (1-200 characters).
    #[arg(long)]
    pub name: Option<String>,
    /// Free text.
    #[arg(long)]
    pub description: Option<String>,
    /// Requests per minute.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_minute: Option<u32>,
    /// Requests per UTC day.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_day: Option<u32>,
    /// fixed or rolling windows (for limits of an hour or less).
    #[arg(long, value_parser = typed::<WindowKind>)]
    pub window: Option<WindowKind>,
    /// A credits balance every admitted request spends from (refills: use --body).
    #[arg(long)]
    pub credits: Option<u64>,
    /// A configured tier whose limits apply.
    #[arg(long)]
    pub tier: Option<String>,
    /// Your customer's or tenant's id.
    #[arg(long)]
    pub owner_id: Option<String>,
    /// Free-form JSON object (at most 4 KiB).
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<serde_json::Value>,
    /// A flat scope such as orders:read (repeat for more; replaces the list on update).
    #[arg(long = "scope", value_parser = typed::<Scope>)]
    pub scopes: Vec<Scope>,
    /// An address or CIDR range allowed to use the key (repeat for more).
    #[arg(long = "allowed-ip", value_parser = typed::<IpRule>)]
    pub allowed_ips: Vec<IpRule>,
    /// A browser origin allowed to use the key (repeat for more).
    #[arg(long = "allowed-origin", value_parser = typed::<WebOrigin>)]
    pub allowed_origins: Vec<WebOrigin>,
    /// Expiry, RFC 3339 (e.g. 2027-01-01T00:00:00Z).
    #[arg(long, value_parser = typed::<Timestamp>)]
    pub expires_at: Option<Timestamp>,
    /// leased (hot keys admitted at the edge) or exact (every request asks the key's object).
    #[arg(long, value_parser = typed::<Admission>)]
    pub admission: Option<Admission>,
    /// A JSON body file (or - for stdin) for anything the flags don't cover;
    /// flags given as well override its fields.
    #[arg(long, value_name = "FILE|-")]
    pub body: Option<PathBuf>,
}

/// Fields `keys update --clear` can remove.
#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Clearable {
    /// The description.
    Description,
    /// Credits (stop metering).
    Credits,
    /// The tier.
    Tier,
    /// The owner.
    OwnerId,
    /// The metadata.
    Metadata,
    /// The expiry (never expires).
    ExpiresAt,
}

impl Clearable {
    /// The API field it clears.
    pub fn field(self) -> &'static str {
        match self {
            Clearable::Description => "description",
            Clearable::Credits => "credits",
            Clearable::Tier => "tier",
            Clearable::OwnerId => "owner_id",
            Clearable::Metadata => "metadata",
            Clearable::ExpiresAt => "expires_at",
        }
    }
}

/// `keys list` filters, as the API offers them.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only keys of this environment.
    #[arg(long, value_parser = typed::<Environment>)]
    pub environment: Option<Environment>,
    /// Only keys of this type.
    #[arg(long = "type", value_parser = typed::<KeyType>)]
    pub key_type: Option<KeyType>,
    /// Only keys with this status (active, expired, revoked).
    #[arg(long, value_parser = typed::<Status>)]
    pub status: Option<Status>,
    /// Only this owner's keys.
    #[arg(long)]
    pub owner_id: Option<String>,
    /// Case-insensitive search in name, description and id.
    #[arg(long, short = 's', visible_alias = "q")]
    pub search: Option<String>,
    /// Start after this position (the cursor a previous page printed).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Keys per page (1-100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub per_page: Option<u32>,
    /// Every page.
    #[arg(long, conflicts_with = "cursor")]
    pub all: bool,
}

/// `keygate verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The key to verify
    #[command(flatten)]
    pub key: ApiKeyArg,
    /// A scope or resource permission the request needs.
    #[arg(long)]
    pub permission: Option<String>,
    /// Units the request costs (spends them when valid).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub cost: Option<u32>,
    /// The end client's address, for the key's IP rules.
    #[arg(long)]
    pub ip: Option<String>,
    /// The request's method (publishable keys: GET, HEAD and OPTIONS only).
    #[arg(long)]
    pub method: Option<String>,
}

/// An API key given to a command: `-` reads it from stdin, so it need not
/// be on the command line.
#[derive(Debug, Args)]
pub struct ApiKeyArg {
    /// The API key, or - to read it from stdin.
    #[arg(env = "KEYGATE_API_KEY", hide_env_values = true)]
    pub api_key: String,
}

/// `keygate owners …`.
#[derive(Debug, Subcommand)]
pub enum OwnersCommand {
    /// Show an owner's limits and what is left of them.
    #[command(after_help = "Example:\n  keygate owners get cus_1")]
    Get(OwnerIdArg),
    /// Set (replace) an owner's shared limits.
    #[command(
        after_help = "Example:\n  keygate owners set cus_1 --per-minute 600 --per-day 100000 --credits 50000"
    )]
    Set {
        /// The owner.
        #[command(flatten)]
        owner: OwnerIdArg,
        /// Requests per minute across the owner's keys (with --per-day).
        #[arg(long, requires = "per_day", value_parser = clap::value_parser!(u32).range(1..))]
        per_minute: Option<u32>,
        /// Requests per UTC day across the owner's keys (with --per-minute).
        #[arg(long, requires = "per_minute", value_parser = clap::value_parser!(u32).range(1..))]
        per_day: Option<u32>,
        /// A shared credits balance.
        #[arg(long)]
        credits: Option<u64>,
        /// A JSON body file (or - for stdin); flags override its fields.
        #[arg(long, value_name = "FILE|-")]
        body: Option<PathBuf>,
    },
    /// The usage of an owner's keys, summed (e.g. a month's totals for billing).
    #[command(
        after_help = "Example:\n  keygate owners usage cus_1 --granularity day --from 2026-11-01T00:00:00Z --to 2026-11-30T23:59:59Z"
    )]
    Usage {
        /// The owner.
        #[command(flatten)]
        owner: OwnerIdArg,
        /// Which buckets.
        #[command(flatten)]
        range: UsageArgs,
    },
    /// Remove an owner's limits and counters.
    #[command(after_help = "Example:\n  keygate owners delete cus_1 --yes")]
    Delete {
        /// The owner.
        #[command(flatten)]
        owner: OwnerIdArg,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
}

/// An owner id argument.
#[derive(Debug, Args)]
pub struct OwnerIdArg {
    /// The owner's id.
    pub owner_id: String,
}

fn json_object(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str(text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        Ok(_) => Err("must be a JSON object".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}
