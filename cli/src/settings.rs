//! Where the deployment's URL and the admin token come from, in order:
//! flags, environment (`KEYGATE_URL`, `KEYGATE_ADMIN_TOKEN`), `--token-file`,
//! then what `keygate login` stored. A token never comes from a file anyone
//! but its owner can read.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::args::Connection;
use crate::client::Failure;

/// The admin API's prefix when none is configured (the Worker's default).
const DEFAULT_PREFIX: &str = "/_keygate";

/// What `keygate login` stores.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Stored {
    /// The Worker's URL.
    pub url: Option<String>,
    /// The admin token.
    pub token: Option<String>,
    /// The admin API's prefix, if not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_prefix: Option<String>,
}

/// The settings one command runs with.
#[derive(Debug)]
pub struct Settings {
    /// Base URL, without a trailing `/`.
    pub url: String,
    /// The admin API's prefix, e.g. `/_keygate`.
    pub admin_prefix: String,
    /// The admin token, if one was given anywhere.
    pub token: Option<String>,
}

impl Settings {
    /// Resolves `conn` against the stored login.
    pub fn resolve(conn: &Connection) -> Result<Settings, Failure> {
        let stored = load()?;
        let url = conn.url.clone().or(stored.url).ok_or_else(|| {
            Failure::Usage("no URL: pass --url, set KEYGATE_URL, or run `keygate login`".into())
        })?;
        let token = match (&conn.token, &conn.token_file) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(path)) => Some(read_secret_file(path)?),
            (None, None) => stored.token,
        };
        let admin_prefix = conn
            .admin_prefix
            .clone()
            .or(stored.admin_prefix)
            .unwrap_or_else(|| DEFAULT_PREFIX.into());
        Ok(Settings {
            url: normalize_url(&url)?,
            admin_prefix: format!("/{}", admin_prefix.trim_matches('/')),
            token,
        })
    }

    /// The admin token, or the usage error saying how to give one.
    pub fn token(&self) -> Result<&str, Failure> {
        self.token.as_deref().ok_or_else(|| {
            Failure::Usage(
                "no admin token: pass --token-file, set KEYGATE_ADMIN_TOKEN, or run `keygate login`"
                    .into(),
            )
        })
    }
}

/// `url` without a trailing `/`, if it is an http(s) URL.
fn normalize_url(url: &str) -> Result<String, Failure> {
    let trimmed = url.trim().trim_end_matches('/');
    if trimmed.starts_with("https://") || trimmed.starts_with("http://") {
        Ok(trimmed.to_owned())
    } else {
        Err(Failure::Usage(format!(
            "--url must start with https:// (or http:// for a local Worker), got {url:?}"
        )))
    }
}

/// The first line of `path`, refused if group or others may read the file.
pub fn read_secret_file(path: &Path) -> Result<String, Failure> {
    let io = |e: std::io::Error| Failure::Usage(format!("cannot read {}: {e}", path.display()));
    check_private(path)?;
    let text = fs::read_to_string(path).map_err(io)?;
    let first = text.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return Err(Failure::Usage(format!("{} is empty", path.display())));
    }
    Ok(first.to_owned())
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::Usage(format!(
            "{} holds a secret but others can read it (mode {mode:o}); run: chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), Failure> {
    Ok(())
}

/// Where `keygate login` keeps its file: `$KEYGATE_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/keygate`, else `~/.config/keygate`.
fn config_dir() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("KEYGATE_CONFIG_DIR")
        .or_else(|| var("XDG_CONFIG_HOME").map(|d| d.join("keygate")))
        .or_else(|| var("HOME").map(|h| h.join(".config").join("keygate")))
}

/// The stored login's path.
pub fn config_file() -> Option<PathBuf> {
    config_dir().map(|d| d.join("config.json"))
}

/// The stored login, or nothing stored.
fn load() -> Result<Stored, Failure> {
    let Some(path) = config_file().filter(|p| p.exists()) else {
        return Ok(Stored::default());
    };
    check_private(&path)?;
    let text = fs::read_to_string(&path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::Usage(format!(
            "{} is not a keygate login ({e}); run `keygate logout`",
            path.display()
        ))
    })
}

/// Stores `stored` (0600, in a 0700 directory); returns where.
pub fn save(stored: &Stored) -> Result<PathBuf, Failure> {
    let path = config_file().ok_or_else(|| {
        Failure::Usage("no config directory: set HOME or KEYGATE_CONFIG_DIR".into())
    })?;
    let io = |e: std::io::Error| Failure::Usage(format!("cannot write {}: {e}", path.display()));
    let dir = path.parent().expect("a file in a directory");
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io)?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(io)?;
    // An older file keeps its mode on open: make sure it is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    let text = serde_json::to_string_pretty(stored).expect("plain strings serialize");
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(path)
}

/// Removes the stored login; whether there was one.
pub fn forget() -> Result<Option<PathBuf>, Failure> {
    match config_file() {
        Some(path) if path.exists() => {
            fs::remove_file(&path)
                .map_err(|e| Failure::Usage(format!("cannot remove {}: {e}", path.display())))?;
            Ok(Some(path))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_trailing_slash_and_need_a_scheme() {
        assert_eq!(
            normalize_url("https://api.example.com/").unwrap(),
            "https://api.example.com"
        );
        assert!(matches!(
            normalize_url("api.example.com"),
            Err(Failure::Usage(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("keygate-cli-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        fs::write(&path, "the-token\nignored\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let refused = read_secret_file(&path).unwrap_err().to_string();
        assert!(refused.contains("chmod 600"), "{refused}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret_file(&path).unwrap(), "the-token");
        fs::remove_dir_all(&dir).unwrap();
    }
}
