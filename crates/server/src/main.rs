//! `companion-server`: serve the API, apply migrations, and admin commands.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use companion_server::config::{DbConfig, Secret};
use companion_server::{admin, auth, db, queue, AppState, Config};
use uuid::Uuid;

#[derive(Parser)]
#[command(name = "companion-server", version, about = "The Companion backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        #[command(flatten)]
        config: Config,
        /// Apply pending migrations before serving.
        #[arg(long)]
        migrate: bool,
    },
    /// Apply pending migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbConfig,
    },
    /// Create a user (auth.users + profile + settings).
    CreateUser {
        #[command(flatten)]
        db: DbConfig,
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Create an MT5_AGENT broker connection for a user.
    CreateBrokerConnection {
        #[command(flatten)]
        db: DbConfig,
        /// User id or email.
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        out: Output,
    },
    /// Create an agent and print its pairing key (shown only this once).
    CreateAgent {
        #[command(flatten)]
        db: DbConfig,
        /// User id or email.
        #[arg(long)]
        user: String,
        /// Broker connection id; one is created when absent.
        #[arg(long)]
        broker_connection: Option<Uuid>,
        #[arg(long)]
        name: String,
        #[arg(long, env = "PAIRING_KEY_BCRYPT_COST", default_value_t = 10)]
        bcrypt_cost: u32,
        #[command(flatten)]
        out: Output,
    },
    /// Print a user access token signed with SUPABASE_JWT_SECRET (demo, scripts).
    Token {
        #[command(flatten)]
        db: DbConfig,
        /// User id or email.
        #[arg(long)]
        user: String,
        #[arg(long, env = "SUPABASE_JWT_SECRET", hide_env_values = true)]
        supabase_jwt_secret: Secret,
        #[arg(long, default_value_t = 3600)]
        ttl_secs: i64,
    },
    /// Run the stale-job sweeper once and print what it did.
    Sweep {
        #[command(flatten)]
        config: Config,
    },
}

#[derive(Args)]
struct Output {
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_tracing();
    if let Err(err) = run(cli.command).await {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn connect(db: &DbConfig) -> anyhow::Result<sqlx::PgPool> {
    db::connect(db).await.context(
        "cannot connect to the database: check DATABASE_URL and that PostgreSQL is running",
    )
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { config, migrate } => serve(config, migrate).await,
        Command::Migrate { db: dbc } => {
            let pool = connect(&dbc).await?;
            db::migrate(&pool).await.context("migrations failed")?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::CreateUser {
            db: dbc,
            email,
            display_name,
            out,
        } => {
            let pool = connect(&dbc).await?;
            let id = admin::create_user(&pool, &email, display_name.as_deref()).await?;
            print(
                &out,
                &serde_json::json!({ "user_id": id, "email": email }),
                &id.to_string(),
            );
            Ok(())
        }
        Command::CreateBrokerConnection {
            db: dbc,
            user,
            name,
            out,
        } => {
            let pool = connect(&dbc).await?;
            let user_id = admin::resolve_user(&pool, &user).await?;
            let id = admin::create_broker_connection(&pool, user_id, &name).await?;
            print(
                &out,
                &serde_json::json!({ "broker_connection_id": id, "user_id": user_id, "name": name }),
                &id.to_string(),
            );
            Ok(())
        }
        Command::CreateAgent {
            db: dbc,
            user,
            broker_connection,
            name,
            bcrypt_cost,
            out,
        } => {
            let pool = connect(&dbc).await?;
            let user_id = admin::resolve_user(&pool, &user).await?;
            let issued =
                admin::create_agent(&pool, user_id, broker_connection, &name, bcrypt_cost).await?;
            if out.json {
                println!("{}", serde_json::to_string(&issued)?);
            } else {
                println!("agent id:     {}", issued.agent_id);
                println!("pairing key:  {}", issued.pairing_key);
                eprintln!("Store the pairing key now: it is shown only once. Paste it into the Companion app.");
            }
            Ok(())
        }
        Command::Token {
            db: dbc,
            user,
            supabase_jwt_secret,
            ttl_secs,
        } => {
            companion_server::config::check_jwt_secret(supabase_jwt_secret.expose())?;
            let pool = connect(&dbc).await?;
            let user_id = admin::resolve_user(&pool, &user).await?;
            let token = auth::user::sign_jwt(user_id, supabase_jwt_secret.expose(), ttl_secs)?;
            println!("{token}");
            Ok(())
        }
        Command::Sweep { config } => {
            let pool = connect(&config.db).await?;
            let report =
                queue::sweeper::sweep(&pool, &queue::sweeper::SweepRules::from_config(&config))
                    .await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

fn print(out: &Output, json: &serde_json::Value, plain: &str) {
    if out.json {
        println!("{json}");
    } else {
        println!("{plain}");
    }
}

async fn serve(config: Config, migrate: bool) -> anyhow::Result<()> {
    config.validate()?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let pool = connect(&config.db).await?;
    if migrate {
        db::migrate(&pool).await.context("migrations failed")?;
        tracing::info!("migrations applied");
    }
    let bind = config.bind;
    let sweep_every = Duration::from_secs(config.sweep_interval_secs.max(1));
    let rules = queue::sweeper::SweepRules::from_config(&config);
    let state = AppState::new(config, pool.clone())
        .await
        .context("cannot LISTEN for notifications: check DATABASE_LISTEN_URL / DATABASE_URL (on Supabase use a direct or session-mode URL)")?;
    tokio::spawn(queue::sweeper::run(pool, rules, sweep_every));
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| {
        format!("cannot listen on {bind}: is another server running there? choose one with --bind")
    })?;
    tracing::info!(addr = %listener.local_addr()?, "companion-server listening");
    let app = companion_server::router(state);
    tokio::select! {
        r = companion_server::serve(listener, app) => r.context("server failed")?,
        _ = shutdown_signal() => tracing::info!("shutting down"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
