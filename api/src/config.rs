//! Configuration (SPEC §11): an optional TOML file (`roster.toml`, or the path in
//! `ROSTER_CONFIG`) and `ROSTER_*` environment variables, the latter winning.

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use domain::{outbox::RetryPolicy, roles::Role};
use serde::Deserialize;

use crate::client::TrustedProxies;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything Roster is told at start-up. `Default` is the zero-set-up SQLite configuration.
/// The token goes after `#`: a browser never sends a URL's fragment to a server, so no server's
/// log holds it.
pub const DEFAULT_LINK_TEMPLATE: &str = "{public_url}/{purpose}#token={token}";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; `None` means `sqlite://<data_dir>/roster.db`.
    pub database_url: Option<String>,
    /// `None` means generated into `<data_dir>/secret.key` (SQLite only).
    pub secret_key: Option<String>,
    pub public_url: Option<String>,
    /// The frontend link for a one-time token: `{public_url}`, `{purpose}` (`activation`,
    /// `invitation`, `reset`) and `{token}` are filled in.
    pub link_template: String,
    pub log: String,
    pub log_format: LogFormat,
    /// Extra catalog roles (from the file named by `ROSTER_ROLES`, or `[[roles]]` in roster.toml).
    pub roles: Vec<Role>,
    pub database_pool_size: Option<u32>,
    pub database_timeout: Duration,
    /// How many database steps may wait for a database thread; past it, 503.
    pub database_queue: usize,
    /// How many password hashes may wait for a hashing thread; past it, 429.
    pub hashing_queue: usize,
    /// HTTP worker threads; `None` is one per core.
    pub workers: Option<usize>,
    /// Largest JSON body accepted, in bytes (`ROSTER_MAX_BODY_BYTES`, `max_body_bytes` in the file;
    /// default 64 KiB, at least 1 KiB); larger bodies answer 413 `payload_too_large`.
    pub max_body_bytes: usize,
    /// The most bytes a request's target (path and query) and headers may take together
    /// (`ROSTER_MAX_HEADER_BYTES`, default 16 KiB, at least 1 KiB); more answers 431
    /// `headers_too_large`.
    pub max_header_bytes: usize,
    /// Largest CSV file `POST /api/v1/users/import` accepts, in bytes (`import.max_bytes` in the
    /// file, `ROSTER_IMPORT_MAX_BYTES`; default 100 KB, about 1,000 rows). Larger files are for
    /// `roster import`.
    pub import_max_bytes: usize,
    pub access_token_ttl: Duration,
    /// Requests a minute to `/api/v1/auth/*` per client address (`ROSTER_AUTH_RATE_LIMIT`,
    /// default 60, 0 = no limit).
    pub auth_rate_limit: u32,
    /// Proxies whose `X-Forwarded-For` names the client (`ROSTER_TRUSTED_PROXIES`); none by
    /// default, so the client is the socket peer.
    pub trusted_proxies: TrustedProxies,
    /// Browser origins allowed to call the API from another origin (`ROSTER_CORS_ORIGINS`:
    /// comma-separated `scheme://host[:port]`, or `*` for any); none by default (CORS off).
    pub cors_origins: crate::browser::CorsOrigins,
    /// How long a stop (SIGTERM or SIGINT) waits for requests in flight before closing their
    /// connections (`ROSTER_SHUTDOWN_TIMEOUT_SECS`, default 30).
    pub shutdown_timeout: Duration,
    /// How long a client may take to send a request's line and headers before it is answered 408
    /// and disconnected: a slow sender holds no connection longer (`ROSTER_REQUEST_HEADER_TIMEOUT_SECS`,
    /// default 5).
    pub request_header_timeout: Duration,
    /// How long a request's body may take to arrive after its head before it is answered 408
    /// `request_timeout` (`ROSTER_REQUEST_BODY_TIMEOUT_SECS`, default 60).
    pub request_body_timeout: Duration,
    /// How often the dormant-account sweep runs (`ROSTER_SWEEP_MINUTES`, default 60; 0 = never).
    pub sweep_interval: Duration,
    /// Where email goes (`ROSTER_SMTP_URL`: `smtp://host:port`, `smtps://user:pass@host`, lettre's
    /// URL form); `None`: the outbox worker logs messages instead of sending them.
    pub smtp_url: Option<String>,
    /// The sender of every email (`ROSTER_EMAIL_FROM`).
    pub email_from: String,
    /// Attempts per message (`ROSTER_OUTBOX_MAX_ATTEMPTS`, default 10) and the wait after the
    /// first failed one (`ROSTER_OUTBOX_RETRY_MS`, default 30 s), doubling up to an hour.
    pub outbox_retry: RetryPolicy,
    /// How often the outbox worker looks for due messages when it found none
    /// (`ROSTER_OUTBOX_POLL_MS`, default 1 s).
    pub outbox_poll: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            secret_key: None,
            public_url: None,
            link_template: DEFAULT_LINK_TEMPLATE.into(),
            log: "info".into(),
            log_format: LogFormat::Text,
            roles: Vec::new(),
            database_pool_size: None,
            database_timeout: Duration::from_secs(3),
            database_queue: 1024,
            hashing_queue: 64,
            workers: None,
            max_body_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            import_max_bytes: 100 * 1024,
            access_token_ttl: Duration::from_secs(15 * 60),
            auth_rate_limit: 60,
            trusted_proxies: TrustedProxies::default(),
            cors_origins: crate::browser::CorsOrigins::default(),
            shutdown_timeout: Duration::from_secs(30),
            request_header_timeout: Duration::from_secs(5),
            request_body_timeout: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(60 * 60),
            smtp_url: None,
            email_from: "roster@localhost".into(),
            outbox_retry: RetryPolicy::default(),
            outbox_poll: Duration::from_secs(1),
        }
    }
}

/// The file's shape; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    secret_key: Option<String>,
    public_url: Option<String>,
    link_template: Option<String>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    roles_file: Option<PathBuf>,
    #[serde(default)]
    roles: Vec<Role>,
    database_pool_size: Option<u32>,
    database_timeout_secs: Option<u64>,
    shutdown_timeout_secs: Option<u64>,
    request_header_timeout_secs: Option<u64>,
    request_body_timeout_secs: Option<u64>,
    database_queue: Option<usize>,
    hashing_queue: Option<usize>,
    workers: Option<usize>,
    max_body_bytes: Option<usize>,
    max_header_bytes: Option<usize>,
    #[serde(default)]
    import: ImportConfig,
    access_token_minutes: Option<u64>,
    auth_rate_limit: Option<u32>,
    trusted_proxies: Option<String>,
    cors_origins: Option<String>,
    sweep_minutes: Option<u64>,
    smtp_url: Option<String>,
    email_from: Option<String>,
    outbox_max_attempts: Option<u32>,
    outbox_retry_ms: Option<u64>,
    outbox_poll_ms: Option<u64>,
}

/// `[import]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportConfig {
    max_bytes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesFile {
    #[serde(default)]
    roles: Vec<Role>,
}

impl Config {
    /// Reads the file (if any) and the process environment.
    pub fn load() -> Result<Self, String> {
        Self::load_with(|name| std::env::var(name).ok())
    }

    /// Reads the file (if any) and the variables `lookup` gives; empty values count as unset.
    pub fn load_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let env = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let (path, required) = match env("ROSTER_CONFIG") {
            Some(p) => (PathBuf::from(p), true),
            None => (PathBuf::from("roster.toml"), false),
        };
        let file: FileConfig = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if required || e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("cannot read {}: {e}", path.display()))
            }
            Err(_) => FileConfig::default(),
        };
        let mut c = Config::default();
        let parse_num = |name: &str, v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{name} must be a whole number"))
        };
        c.listen = env("ROSTER_LISTEN").or(file.listen).unwrap_or(c.listen);
        c.data_dir = env("ROSTER_DATA_DIR")
            .map(PathBuf::from)
            .or(file.data_dir)
            .unwrap_or(c.data_dir);
        c.database_url = env("ROSTER_DATABASE_URL").or(file.database_url);
        c.secret_key = env("ROSTER_SECRET_KEY").or(file.secret_key);
        c.public_url = env("ROSTER_PUBLIC_URL").or(file.public_url);
        c.link_template = env("ROSTER_LINK_TEMPLATE")
            .or(file.link_template)
            .unwrap_or(c.link_template);
        if !c.link_template.contains("{token}") {
            return Err("ROSTER_LINK_TEMPLATE must contain {token}".into());
        }
        c.log = env("ROSTER_LOG").or(file.log).unwrap_or(c.log);
        c.log_format = match env("ROSTER_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                return Err(format!(
                    "ROSTER_LOG_FORMAT must be text or json, not {other:?}"
                ))
            }
            None => file.log_format.unwrap_or(c.log_format),
        };
        c.roles = file.roles;
        if let Some(roles_file) = env("ROSTER_ROLES").map(PathBuf::from).or(file.roles_file) {
            let text = std::fs::read_to_string(&roles_file)
                .map_err(|e| format!("cannot read {}: {e}", roles_file.display()))?;
            let parsed: RolesFile =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", roles_file.display()))?;
            c.roles.extend(parsed.roles);
        }
        // A whole number from the environment, else from the file.
        let num = |name: &str, from_file: Option<u64>| -> Result<Option<u64>, String> {
            Ok(env(name)
                .map(|v| parse_num(name, v))
                .transpose()?
                .or(from_file))
        };
        c.database_pool_size = num(
            "ROSTER_DATABASE_POOL_SIZE",
            file.database_pool_size.map(u64::from),
        )?
        .map(|n| n as u32);
        if let Some(secs) = num("ROSTER_DATABASE_TIMEOUT_SECS", file.database_timeout_secs)? {
            c.database_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = num("ROSTER_SHUTDOWN_TIMEOUT_SECS", file.shutdown_timeout_secs)? {
            c.shutdown_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = num(
            "ROSTER_REQUEST_HEADER_TIMEOUT_SECS",
            file.request_header_timeout_secs,
        )? {
            c.request_header_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(secs) = num(
            "ROSTER_REQUEST_BODY_TIMEOUT_SECS",
            file.request_body_timeout_secs,
        )? {
            c.request_body_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(n) = num(
            "ROSTER_DATABASE_QUEUE",
            file.database_queue.map(|n| n as u64),
        )? {
            c.database_queue = (n as usize).max(1);
        }
        if let Some(n) = num("ROSTER_HASHING_QUEUE", file.hashing_queue.map(|n| n as u64))? {
            c.hashing_queue = (n as usize).max(1);
        }
        c.workers = num("ROSTER_WORKERS", file.workers.map(|n| n as u64))?.map(|n| n as usize);
        if let Some(n) = num(
            "ROSTER_MAX_BODY_BYTES",
            file.max_body_bytes.map(|n| n as u64),
        )? {
            // Below a kilobyte not even a sign-in fits.
            c.max_body_bytes = usize::try_from(n).unwrap_or(usize::MAX).max(1024);
        }
        if let Some(n) = num(
            "ROSTER_MAX_HEADER_BYTES",
            file.max_header_bytes.map(|n| n as u64),
        )? {
            c.max_header_bytes = usize::try_from(n).unwrap_or(usize::MAX).max(1024);
        }
        if let Some(n) = num(
            "ROSTER_IMPORT_MAX_BYTES",
            file.import.max_bytes.map(|n| n as u64),
        )? {
            c.import_max_bytes = n as usize;
        }
        if let Some(n) = num(
            "ROSTER_AUTH_RATE_LIMIT",
            file.auth_rate_limit.map(u64::from),
        )? {
            c.auth_rate_limit = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(m) = num("ROSTER_SWEEP_MINUTES", file.sweep_minutes)? {
            c.sweep_interval = Duration::from_secs(m * 60);
        }
        c.smtp_url = env("ROSTER_SMTP_URL").or(file.smtp_url);
        c.email_from = env("ROSTER_EMAIL_FROM")
            .or(file.email_from)
            .unwrap_or(c.email_from);
        if c.email_from.parse::<lettre::Address>().is_err() {
            return Err(format!(
                "ROSTER_EMAIL_FROM {:?} is not an email address",
                c.email_from
            ));
        }
        if let Some(n) = num(
            "ROSTER_OUTBOX_MAX_ATTEMPTS",
            file.outbox_max_attempts.map(u64::from),
        )? {
            c.outbox_retry.max_attempts = u32::try_from(n).unwrap_or(u32::MAX).max(1);
        }
        if let Some(ms) = num("ROSTER_OUTBOX_RETRY_MS", file.outbox_retry_ms)? {
            c.outbox_retry.first_delay =
                chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX));
        }
        if let Some(ms) = num("ROSTER_OUTBOX_POLL_MS", file.outbox_poll_ms)? {
            c.outbox_poll = Duration::from_millis(ms.max(10));
        }
        if let Some(list) = env("ROSTER_TRUSTED_PROXIES").or(file.trusted_proxies) {
            c.trusted_proxies = TrustedProxies::parse(&list)?;
        }
        if let Some(list) = env("ROSTER_CORS_ORIGINS").or(file.cors_origins) {
            c.cors_origins = crate::browser::CorsOrigins::parse(&list)?;
        }
        if let Some(m) = file.access_token_minutes {
            c.access_token_ttl = Duration::from_secs(m * 60);
        }
        Ok(c)
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen
            .parse()
            .map_err(|_| format!("ROSTER_LISTEN {:?} is not an address:port", self.listen))
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("roster.db").display()))
    }

    /// The secret key: configured, or read from / generated into `<data_dir>/secret.key` with
    /// mode 0600. On PostgreSQL it must be configured, since replicas must share it (SPEC §12).
    pub fn resolve_secret(&self, postgres: bool) -> Result<String, String> {
        if let Some(k) = &self.secret_key {
            if k.len() < 32 {
                return Err("ROSTER_SECRET_KEY must be at least 32 characters".into());
            }
            return Ok(k.clone());
        }
        if postgres {
            return Err("ROSTER_SECRET_KEY must be set when the database is PostgreSQL (every replica needs the same key); \
                        generate one with: head -c 32 /dev/urandom | base64"
                .into());
        }
        secret_from_file(&self.data_dir.join("secret.key"))
    }
}

fn secret_from_file(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().to_owned()),
        Ok(_) => {
            return Err(format!(
                "{} is too short to be a secret key",
                path.display()
            ))
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot read {}: {e}", path.display()))
        }
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let key = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let mut file =
        open_private(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(key.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new secret key");
    Ok(key)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_with(|name| vars.get(name).cloned())
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    #[test]
    fn defaults_need_no_setup() {
        let c = Config::default();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.database_url(), "sqlite://./data/roster.db");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = std::env::temp_dir().join(format!("roster-config-{}", uuid::Uuid::now_v7()));
        let roles = write(
            &dir,
            "roles.toml",
            "[[roles]]\nname = \"auditor\"\npermissions = [\"audit:read\"]\nseats = 2\n",
        );
        let file = write(
            &dir,
            "roster.toml",
            "listen = \"0.0.0.0:9000\"\nlog = \"debug\"\nworkers = 3\n[[roles]]\nname = \"clerk\"\npermissions = [\"users:read\"]\n",
        );
        let c = load(&[
            ("ROSTER_CONFIG", &file),
            ("ROSTER_LOG", "warn"),
            ("ROSTER_ROLES", &roles),
            ("ROSTER_DATA_DIR", "/srv/roster"),
        ])
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000", "from the file");
        assert_eq!(c.log, "warn", "the environment wins");
        assert_eq!(c.workers, Some(3));
        assert_eq!(c.database_url(), "sqlite:///srv/roster/roster.db");
        let names: Vec<&str> = c.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["clerk", "auditor"]);
        assert_eq!(c.roles[1].seats, Some(2));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mistakes_are_reported_not_ignored() {
        assert!(load(&[("ROSTER_CONFIG", "/nonexistent/roster.toml")])
            .unwrap_err()
            .contains("cannot read"));
        assert!(load(&[("ROSTER_LOG_FORMAT", "xml")]).is_err());
        assert!(load(&[("ROSTER_WORKERS", "many")]).is_err());
        let dir = std::env::temp_dir().join(format!("roster-config-{}", uuid::Uuid::now_v7()));
        let file = write(&dir, "roster.toml", "listne = \"typo\"\n");
        assert!(load(&[("ROSTER_CONFIG", &file)])
            .unwrap_err()
            .contains("listne"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn postgres_needs_a_configured_secret_and_short_ones_are_refused() {
        assert!(Config::default()
            .resolve_secret(true)
            .unwrap_err()
            .contains("ROSTER_SECRET_KEY"));
        let short = Config {
            secret_key: Some("short".into()),
            ..Config::default()
        };
        assert!(short.resolve_secret(false).is_err());
    }
}
