//! Server configuration from the command line and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

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
    /// How often the stale-job sweeper runs.
    #[arg(long, env = "SWEEP_INTERVAL_SECS", default_value_t = 15)]
    pub sweep_interval_secs: u64,
    /// An agent with no heartbeat for this long is shown offline.
    #[arg(long, env = "AGENT_OFFLINE_SECS", default_value_t = 90)]
    pub agent_offline_secs: u64,
    /// bcrypt cost for pairing keys.
    #[arg(long, env = "PAIRING_KEY_BCRYPT_COST", default_value_t = 10)]
    pub bcrypt_cost: u32,
    /// Trust the last `X-Forwarded-For` entry as the client address (behind a proxy).
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
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
            sweep_interval_secs: 15,
            agent_offline_secs: 90,
            bcrypt_cost: 10,
            trust_forwarded_for: false,
        }
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
