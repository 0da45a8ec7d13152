//! Server configuration from the command line and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

pub use crate::auth::proxy::Cidr;

/// A secret string whose `Debug` never prints the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// Database connection settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct DbConfig {
    /// PostgreSQL URL (a role that bypasses RLS, e.g. `postgres` or `service_role`).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Secret,
    /// Separate URL for the LISTEN connection (on Supabase: a direct or
    /// session-mode URL, because the transaction pooler cannot LISTEN).
    #[arg(long, env = "DATABASE_LISTEN_URL", hide_env_values = true)]
    pub database_listen_url: Option<Secret>,
    /// Maximum connections in the query pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub database_max_connections: u32,
    /// Seconds a request waits for a pooled connection before it is answered 503.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_SECS", default_value_t = 5.0)]
    pub database_acquire_timeout_secs: f64,
}

/// Everything `serve` needs.
#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten)]
    pub db: DbConfig,
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Public URL of this server (webhook URLs are built from it).
    #[arg(long, env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// Supabase JWT secret (HS256) that signs user access tokens.
    #[arg(long, env = "SUPABASE_JWT_SECRET", hide_env_values = true)]
    pub supabase_jwt_secret: Option<Secret>,
    /// Directory holding updater manifests and artifacts.
    #[arg(long, env = "RELEASES_DIR")]
    pub releases_dir: Option<PathBuf>,
    /// Where release artifacts are downloaded from when not from this server (a CDN or
    /// file host holding a copy of `RELEASES_DIR`): manifest URLs point there and
    /// `/api/v1/releases/...` redirects there.
    #[arg(long, env = "RELEASES_DOWNLOAD_URL")]
    pub releases_download_url: Option<String>,
    /// Lifetime of a trade job after its signal arrived, in seconds.
    #[arg(long, env = "TRADE_TTL_SECS", default_value_t = 60)]
    pub trade_ttl_secs: u64,
    /// A claim with no result and no heartbeat for this long is stale.
    #[arg(long, env = "STALE_CLAIM_SECS", default_value_t = 300)]
    pub stale_claim_secs: u64,
    /// A running trading job past its deadline and quiet this long is failed as lost.
    #[arg(long, env = "TRADING_STALE_CLAIM_SECS", default_value_t = 5)]
    pub trading_stale_claim_secs: u64,
    /// How often the stale-job sweeper runs.
    #[arg(long, env = "SWEEP_INTERVAL_SECS", default_value_t = 15)]
    pub sweep_interval_secs: u64,
    /// An agent with no heartbeat for this long is shown offline.
    #[arg(long, env = "AGENT_OFFLINE_SECS", default_value_t = 90)]
    pub agent_offline_secs: u64,
    /// bcrypt cost for pairing keys.
    #[arg(long, env = "PAIRING_KEY_BCRYPT_COST", default_value_t = 10)]
    pub bcrypt_cost: u32,
    /// Proxies whose `X-Forwarded-For` is believed: comma-separated addresses and
    /// CIDR blocks (e.g. `10.0.0.0/8,127.0.0.1`). Empty: the TCP peer is the client.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<Cidr>,
    /// Deprecated: use TRUSTED_PROXIES. Believes the last `X-Forwarded-For` entry
    /// of every request (ignored when TRUSTED_PROXIES is set).
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
}

/// Shortest `SUPABASE_JWT_SECRET` accepted (Supabase's are at least 32 characters).
pub const MIN_JWT_SECRET_LEN: usize = 32;

/// Refuses a blank or short JWT secret (tokens signed with it would be forgeable).
pub fn check_jwt_secret(secret: &str) -> Result<(), ConfigError> {
    if secret.trim().is_empty() {
        return Err(ConfigError::WeakJwtSecret("blank"));
    }
    if secret.chars().count() < MIN_JWT_SECRET_LEN {
        return Err(ConfigError::WeakJwtSecret("too short"));
    }
    Ok(())
}

/// A configuration `serve` refuses to start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("SUPABASE_JWT_SECRET is {0}: anyone could sign user tokens with such a secret. Set it to your Supabase project's JWT secret (at least {MIN_JWT_SECRET_LEN} characters), or unset it to accept no user tokens")]
    WeakJwtSecret(&'static str),
}

/// The longest a `jobs/next?wait=N` long-poll may wait.
pub const MAX_LONG_POLL: Duration = Duration::from_secs(30);

impl Config {
    /// A configuration for tests and tools: defaults everywhere but the database.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Config {
            db: DbConfig {
                database_url: Secret::new(database_url),
                database_listen_url: None,
                database_max_connections: 20,
                database_acquire_timeout_secs: 5.0,
            },
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_base_url: None,
            supabase_jwt_secret: None,
            releases_dir: None,
            releases_download_url: None,
            trade_ttl_secs: 60,
            stale_claim_secs: 300,
            trading_stale_claim_secs: 5,
            sweep_interval_secs: 15,
            agent_offline_secs: 90,
            bcrypt_cost: 10,
            trusted_proxies: Vec::new(),
            trust_forwarded_for: false,
        }
    }

    /// Refuses settings that would make the server unsafe: a blank or short JWT secret.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match &self.supabase_jwt_secret {
            Some(secret) => check_jwt_secret(secret.expose()),
            None => Ok(()),
        }
    }

    /// Deprecation and configuration warnings, logged at start.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.trust_forwarded_for {
            if self.trusted_proxies.is_empty() {
                out.push("TRUST_FORWARDED_FOR is deprecated: it believes X-Forwarded-For from any client. Set TRUSTED_PROXIES to your proxy's addresses instead".to_string());
            } else {
                out.push(
                    "TRUST_FORWARDED_FOR is deprecated and ignored because TRUSTED_PROXIES is set"
                        .to_string(),
                );
            }
        }
        out
    }

    /// The public base URL, defaulting to `http://<bind>`.
    pub fn public_base_url(&self) -> String {
        match &self.public_base_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        }
    }

    pub fn trade_ttl(&self) -> Duration {
        Duration::from_secs(self.trade_ttl_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    fn parse(args: &[&str]) -> Config {
        let mut all = vec!["serve", "--database-url", "postgres://x"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap().config
    }

    #[test]
    fn blank_and_short_jwt_secrets_are_refused() {
        for bad in ["", "   ", "x", &"s".repeat(MIN_JWT_SECRET_LEN - 1)] {
            let mut c = Config::for_database("postgres://x");
            c.supabase_jwt_secret = Some(Secret::new(bad));
            let err = c.validate().expect_err(bad).to_string();
            assert!(err.contains("SUPABASE_JWT_SECRET"), "{err}");
        }
        let mut c = Config::for_database("postgres://x");
        assert!(c.validate().is_ok(), "no secret: no user tokens, allowed");
        c.supabase_jwt_secret = Some(Secret::new("s".repeat(MIN_JWT_SECRET_LEN)));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn trusted_proxies_parse_as_a_list_and_the_old_flag_warns() {
        let c = parse(&["--trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1"]);
        assert_eq!(c.trusted_proxies.len(), 3);
        assert!(c.warnings().is_empty());
        assert!(
            Cli::try_parse_from(["serve", "--database-url", "x", "--trusted-proxies", "nope"])
                .is_err()
        );
        let legacy = parse(&["--trust-forwarded-for"]);
        assert!(legacy.trust_forwarded_for);
        assert!(legacy.warnings()[0].contains("deprecated"));
    }
}
