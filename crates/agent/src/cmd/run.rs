//! `run`: launches the agent (bridge, journal, runtime) and runs it until
//! SIGINT/SIGTERM or a stop; the Windows service runs the same function.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use companion_agent::config::AgentConfig;
use companion_agent::launch::{launch, LaunchError, LaunchOptions};
use companion_agent::{runtime, RuntimeOptions};
use tokio_util::sync::CancellationToken;

use super::{resolve_key, resolve_server};
use crate::RunArgs;

pub async fn run(
    dir: &Path,
    args: RunArgs,
    short_poll_secs: Option<u64>,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let RunArgs {
        server,
        bridge_port,
        bridge_token,
        poll_wait,
    } = args;
    let cfg = AgentConfig::load(dir)?;
    let server = resolve_server(server, &cfg)?;
    let (key, source) = resolve_key(&cfg).await?;
    tracing::info!(%server, key = %key, key_source = source, data_dir = %dir.display(), "starting");
    let auto_update = companion_agent::update::AutoUpdate::spawn(&server, stop.clone());
    let opts = LaunchOptions {
        bridge_port,
        bridge_token,
        runtime: RuntimeOptions {
            poll_wait_secs: poll_wait,
            short_poll_interval: short_poll_secs.map(Duration::from_secs),
            ..Default::default()
        },
        identity: None,
    };
    // Launching retries while the server is unreachable: a stop ends that wait too.
    let launched = tokio::select! {
        r = launch(dir, &server, key, opts) => r,
        _ = stop.cancelled() => return Ok(ExitCode::SUCCESS),
    };
    let launched = match launched {
        Ok(l) => l,
        Err(LaunchError::BadKey(e)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    let cancel = launched.handle.cancel_token();
    tokio::spawn(async move {
        stop.cancelled().await;
        tracing::info!("shutdown requested: finishing in-flight jobs");
        cancel.cancel();
    });
    match launched.wait().await {
        Ok(()) if auto_update.updated() => Ok(auto_update.restart()),
        Ok(()) => {
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(runtime::RuntimeError::BadKey(e)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
