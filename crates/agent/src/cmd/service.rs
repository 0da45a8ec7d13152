//! `service install|uninstall` and the process the Windows Service Control Manager
//! starts (`service run`); elsewhere `service` explains that it is Windows-only.

use std::path::Path;
use std::process::ExitCode;

#[cfg(windows)]
use companion_agent::config::{self, AgentConfig};

#[cfg(windows)]
use super::{resolve_key, resolve_server, run::run};
use crate::ServiceCmd;
#[cfg(windows)]
use crate::{log_filter, ServiceRunArgs, KEY_ENV};

#[cfg(not(windows))]
pub async fn service(_dir: &Path, _cmd: ServiceCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "Windows services exist only on Windows; on Linux run `companion-agent run` under systemd (docs/agent.md)"
    )
}

#[cfg(windows)]
pub async fn service(dir: &Path, cmd: ServiceCmd) -> anyhow::Result<ExitCode> {
    use companion_agent::winservice;
    match cmd {
        ServiceCmd::Install { run, account } => {
            // Install only what can run: paired, with a server, and a key this user can read.
            let cfg = AgentConfig::load(dir)?;
            let server = resolve_server(run.agent.server.clone(), &cfg)?;
            if std::env::var_os(KEY_ENV).is_some() {
                anyhow::bail!("unset {KEY_ENV} first: a service reads its key from the Credential Manager of its account, run `companion-agent pair --server URL` as that user");
            }
            resolve_key(&cfg).await.map_err(|e| {
                anyhow::anyhow!("{e:#}\n(pair first, as the account the service will run as: companion-agent pair --server URL)")
            })?;
            let password = match std::env::var("COMPANION_SERVICE_PASSWORD") {
                Ok(p) => p,
                Err(_) => tokio::task::spawn_blocking({
                    let account = account.clone();
                    move || rpassword::prompt_password(format!("Windows password of {account}: "))
                })
                .await??,
            };
            let mut args: Vec<std::ffi::OsString> = vec![
                "service".into(),
                "run".into(),
                "--name".into(),
                run.name.clone().into(),
                "--data-dir".into(),
                dir.as_os_str().to_owned(),
                "--server".into(),
                server.into(),
                "--poll-wait".into(),
                run.agent.poll_wait.to_string().into(),
            ];
            if let Some(p) = run.agent.bridge_port {
                args.extend(["--bridge-port".into(), p.to_string().into()]);
            }
            if let Some(t) = &run.agent.bridge_token {
                args.extend(["--bridge-token".into(), t.into()]);
            }
            let spec = winservice::InstallSpec {
                name: run.name.clone(),
                exe: std::env::current_exe()?,
                args,
                account: Some(account.clone()),
                password: Some(password),
            };
            tokio::task::spawn_blocking(move || winservice::install(&spec)).await??;
            println!(
                "Installed the service {name}: it starts at boot as {account}. Start it now with `sc start {name}`; logs: {}",
                dir.join("logs").display(),
                name = run.name,
            );
            Ok(ExitCode::SUCCESS)
        }
        ServiceCmd::Uninstall { name } => {
            let n = name.clone();
            tokio::task::spawn_blocking(move || winservice::uninstall(&n)).await??;
            println!("Removed the service {name}.");
            Ok(ExitCode::SUCCESS)
        }
        ServiceCmd::Run { .. } => anyhow::bail!(
            "`service run` is started by the Service Control Manager: use `companion-agent run` in a console"
        ),
    }
}

/// The process the Service Control Manager starts: logs go to `<data dir>/logs`
/// (a service has no console), the agent runs until the SCM stops it.
#[cfg(windows)]
pub fn service_main(data_dir: Option<&Path>, args: ServiceRunArgs) -> ExitCode {
    use companion_agent::winservice;
    let dir = match config::data_dir(data_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("agent")
        .filename_suffix("log")
        .max_log_files(14)
        .build(dir.join("logs"));
    match appender {
        Ok(a) => tracing_subscriber::fmt()
            .with_env_filter(log_filter())
            .with_ansi(false)
            .with_writer(a)
            .init(),
        Err(e) => {
            eprintln!(
                "error: cannot open the log folder {}: {e}",
                dir.join("logs").display()
            );
            return ExitCode::FAILURE;
        }
    }
    let name = args.name.clone();
    let body: winservice::ServiceBody = Box::new(move |stop| {
        let rt = match tokio::runtime::Runtime::new() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the async runtime");
                return 1;
            }
        };
        let r = rt.block_on(run(&dir, args.agent, None, stop));
        match r {
            Ok(code) if code == ExitCode::SUCCESS => 0,
            Ok(_) => 2,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the agent stopped with an error");
                1
            }
        }
    });
    match winservice::run(&name, body) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "service dispatcher");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
