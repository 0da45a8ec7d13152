//! Self-update of the headless agent (`companion-agent update`, and the opt-in automatic
//! mode of `companion-agent run`).
//!
//! The agent asks the server it is paired with the same endpoint the desktop app's
//! updater asks, with installer kind `agent`:
//! `GET {server}/api/v1/updates/{linux|windows}/{arch}/agent/{version}` (204: current).
//! The artifact is the new `companion-agent` binary; it is verified exactly as the app's
//! updater verifies its artifacts — minisign with the updater public key, and the
//! version the signature names must be the announced one
//! ([`companion_protocol::updates::verify_artifact`]) — before anything on disk changes.
//! The binary is then replaced atomically: written next to the running one and renamed
//! over it (on Windows, where a running `.exe` cannot be overwritten but can be renamed,
//! the old one is first renamed to `companion-agent.exe.old`, removed on the next start).
//!
//! Restart:
//! - `companion-agent update` replaces the binary; on Windows with `--service NAME` it
//!   stops that service first and starts it again after. On Linux a separately running
//!   agent keeps its old code until restarted (its supervisor, or `run` with automatic
//!   updates on).
//! - automatic mode (`COMPANION_AUTO_UPDATE=1` for `run`): checks at start and every
//!   `COMPANION_AUTO_UPDATE_INTERVAL_SECS` (default 6 h); after a replacement the agent
//!   stops the way SIGTERM stops it (in-flight jobs finish), then on Unix re-executes
//!   itself in place (same PID, same arguments). If that exec fails, or on Windows, it
//!   exits with [`EXIT_RESTART`] (75) for its supervisor / the service manager's
//!   recovery action to start the new binary.
//!
//! The public key: built in at compile time from `COMPANION_UPDATER_PUBKEY` (what
//! `scripts/release` sets), or `COMPANION_UPDATE_PUBKEY` / `--pubkey` at run time. With
//! neither, the agent does not update.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use companion_protocol::updates::{verify_artifact, SignatureError, UpdateInfo};
use tokio_util::sync::CancellationToken;

/// The agent's version: the release's (`COMPANION_VERSION` at build time, set by
/// `scripts/release`), else the crate's.
pub const VERSION: &str = match option_env!("COMPANION_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

/// The updater public key built in by `scripts/release`, if any.
pub const BUILT_IN_PUBKEY: Option<&str> = option_env!("COMPANION_UPDATER_PUBKEY");

/// Exit code of an agent that replaced its binary and could not re-execute itself:
/// "start me again" (EX_TEMPFAIL) for a supervisor.
pub const EXIT_RESTART: u8 = 75;

/// The installer kind the agent asks for.
pub const BUNDLE_TYPE: &str = "agent";

/// Largest artifact accepted (the agent binary is ~30 MB).
const MAX_ARTIFACT_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("no updater public key: this build has none built in; pass --pubkey or set COMPANION_UPDATE_PUBKEY")]
    NoPublicKey,
    #[error("no server URL: pass --server URL (or set COMPANION_SERVER), or pair first")]
    NoServer,
    #[error("this platform ({0}) has no agent updates")]
    UnsupportedPlatform(String),
    #[error("update check failed: {0}")]
    Http(String),
    #[error("the server answered {status} to the update check: {body}")]
    Server { status: u16, body: String },
    #[error("the artifact is larger than {MAX_ARTIFACT_BYTES} bytes")]
    TooLarge,
    #[error("refusing the update: {0}")]
    Signature(#[from] SignatureError),
    #[error("the server offered version {0}, which is not a semver version")]
    BadVersion(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("service {name}: {message}")]
    Service { name: String, message: String },
    #[error("{0}")]
    Config(String),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> UpdateError + 'a {
    move |source| UpdateError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// `{target}` and `{arch}` as the updater names them.
pub fn platform() -> Result<(&'static str, &'static str), UpdateError> {
    let target = match std::env::consts::OS {
        "linux" => "linux",
        "windows" => "windows",
        "macos" => "darwin",
        other => return Err(UpdateError::UnsupportedPlatform(other.into())),
    };
    Ok((target, std::env::consts::ARCH))
}

/// The public key: an explicit one, else the built-in one.
pub fn resolve_pubkey(explicit: Option<String>) -> Result<String, UpdateError> {
    let key = explicit
        .filter(|k| !k.trim().is_empty())
        .or_else(|| BUILT_IN_PUBKEY.map(str::to_string))
        .filter(|k| !k.trim().is_empty())
        .ok_or(UpdateError::NoPublicKey)?;
    // A key given as a path to the .pub file.
    let path = Path::new(key.trim());
    if !key.contains('\n') && path.is_file() {
        return std::fs::read_to_string(path).map_err(io("reading", path));
    }
    Ok(key)
}

/// The update endpoint for this agent.
pub fn endpoint(server: &str, current: &str) -> Result<String, UpdateError> {
    let (target, arch) = platform()?;
    Ok(format!(
        "{}/api/v1/updates/{target}/{arch}/{BUNDLE_TYPE}/{current}",
        server.trim_end_matches('/')
    ))
}

fn http() -> Result<reqwest::Client, UpdateError> {
    reqwest::Client::builder()
        .user_agent(concat!("companion-agent/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| UpdateError::Http(e.to_string()))
}

/// Asks the server; `None` when this version is current.
pub async fn check(server: &str, current: &str) -> Result<Option<UpdateInfo>, UpdateError> {
    let r = http()?
        .get(endpoint(server, current)?)
        .send()
        .await
        .map_err(|e| UpdateError::Http(e.to_string()))?;
    match r.status().as_u16() {
        204 => Ok(None),
        200 => {
            let info: UpdateInfo = r
                .json()
                .await
                .map_err(|e| UpdateError::Http(format!("invalid answer: {e}")))?;
            let offered = semver::Version::parse(info.version.trim_start_matches('v'))
                .map_err(|_| UpdateError::BadVersion(info.version.clone()))?;
            let current = semver::Version::parse(current.trim_start_matches('v'))
                .map_err(|_| UpdateError::BadVersion(current.to_string()))?;
            Ok((offered > current).then_some(info))
        }
        status => Err(UpdateError::Server {
            status,
            body: r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(500)
                .collect(),
        }),
    }
}

/// Downloads the artifact and verifies it; nothing is written.
pub async fn download_verified(info: &UpdateInfo, pubkey: &str) -> Result<Vec<u8>, UpdateError> {
    let mut r = http()?
        .get(&info.url)
        .send()
        .await
        .map_err(|e| UpdateError::Http(e.to_string()))?;
    if !r.status().is_success() {
        return Err(UpdateError::Server {
            status: r.status().as_u16(),
            body: format!("downloading {}", info.url),
        });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = r
        .chunk()
        .await
        .map_err(|e| UpdateError::Http(e.to_string()))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > MAX_ARTIFACT_BYTES {
            return Err(UpdateError::TooLarge);
        }
    }
    verify_artifact(&bytes, &info.signature, pubkey, &info.version)?;
    Ok(bytes)
}

fn sibling(exe: &Path, suffix: &str) -> PathBuf {
    let mut s = exe.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Replaces `exe` with `bytes` atomically (a reader sees the old or the new file, never
/// a partial one).
pub fn replace_binary(exe: &Path, bytes: &[u8]) -> Result<(), UpdateError> {
    use std::io::Write as _;
    let staged = sibling(exe, ".new");
    {
        let mut f = std::fs::File::create(&staged).map_err(io("writing", &staged))?;
        f.write_all(bytes).map_err(io("writing", &staged))?;
        f.sync_all().map_err(io("writing", &staged))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(exe)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o755);
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode | 0o111))
            .map_err(io("setting permissions of", &staged))?;
    }
    swap_in(&staged, exe)
}

/// Moves the staged binary over `exe`: one rename (atomic on Unix).
#[cfg(not(windows))]
fn swap_in(staged: &Path, exe: &Path) -> Result<(), UpdateError> {
    std::fs::rename(staged, exe).map_err(io("replacing", exe))
}

/// Windows cannot overwrite a running `.exe` but can rename it: the old one moves aside
/// (removed on the next start) and the new one takes its name.
#[cfg(windows)]
fn swap_in(staged: &Path, exe: &Path) -> Result<(), UpdateError> {
    let old = sibling(exe, ".old");
    let _ = std::fs::remove_file(&old);
    std::fs::rename(exe, &old).map_err(io("moving aside", exe))?;
    if let Err(e) = std::fs::rename(staged, exe) {
        let _ = std::fs::rename(&old, exe);
        return Err(io("replacing", exe)(e));
    }
    Ok(())
}

/// Removes what a previous Windows update left (`companion-agent.exe.old`).
pub fn clean_previous(exe: &Path) {
    let _ = std::fs::remove_file(sibling(exe, ".old"));
}

/// Check, download, verify, replace. `Some(version)` when `exe` now is that version.
pub async fn update_once(
    server: &str,
    pubkey: &str,
    current: &str,
    exe: &Path,
) -> Result<Option<String>, UpdateError> {
    let Some(info) = check(server, current).await? else {
        return Ok(None);
    };
    tracing::info!(from = current, to = %info.version, url = %info.url, "update found");
    let bytes = download_verified(&info, pubkey).await?;
    replace_binary(exe, &bytes)?;
    tracing::info!(version = %info.version, exe = %exe.display(), "agent binary replaced");
    Ok(Some(info.version))
}

/// `companion-agent update`.
#[derive(clap::Args, Clone, Debug)]
pub struct UpdateArgs {
    #[arg(long, env = "COMPANION_SERVER")]
    pub server: Option<String>,
    /// The updater public key (its base64 `pubkey` form, the .pub text, or a path);
    /// default: the one built in by the release.
    #[arg(long, env = "COMPANION_UPDATE_PUBKEY")]
    pub pubkey: Option<String>,
    /// Only say whether an update exists.
    #[arg(long)]
    pub check: bool,
    /// Windows: the service to stop before replacing the binary and start after.
    #[arg(long)]
    pub service: Option<String>,
}

/// Runs `companion-agent update`: 0 = updated or current, 1 = failed (nothing changed).
pub async fn command(data_dir: &Path, args: UpdateArgs) -> anyhow::Result<ExitCode> {
    let server = match args.server.filter(|s| !s.is_empty()) {
        Some(s) => s,
        None => crate::config::AgentConfig::load(data_dir)?
            .server_url
            .ok_or(UpdateError::NoServer)?,
    };
    if args.check {
        return match check(&server, VERSION).await? {
            Some(info) => {
                println!("update available: {VERSION} -> {}", info.version);
                Ok(ExitCode::SUCCESS)
            }
            None => {
                println!("companion-agent {VERSION} is current");
                Ok(ExitCode::SUCCESS)
            }
        };
    }
    let pubkey = resolve_pubkey(args.pubkey)?;
    let exe = std::env::current_exe().map_err(|e| UpdateError::Config(e.to_string()))?;
    let Some(info) = check(&server, VERSION).await? else {
        println!("companion-agent {VERSION} is current");
        return Ok(ExitCode::SUCCESS);
    };
    let bytes = download_verified(&info, &pubkey).await?;
    if let Some(name) = &args.service {
        service_control("stop", name)?;
    }
    let replaced = replace_binary(&exe, &bytes);
    if let Some(name) = &args.service {
        // Start it again either way: the old binary when the replacement failed.
        service_control("start", name)?;
    }
    replaced?;
    println!("updated companion-agent {VERSION} -> {}", info.version);
    if args.service.is_none() {
        println!("a running agent keeps the old version until it restarts (automatic updates restart it themselves)");
    }
    Ok(ExitCode::SUCCESS)
}

/// `sc.exe stop|start NAME`, waiting for the state change.
fn service_control(action: &str, name: &str) -> Result<(), UpdateError> {
    if !cfg!(windows) {
        return Err(UpdateError::Service {
            name: name.into(),
            message: "services are managed by companion-agent on Windows only".into(),
        });
    }
    let err = |message: String| UpdateError::Service {
        name: name.into(),
        message,
    };
    let out = std::process::Command::new("sc.exe")
        .args([action, name])
        .output()
        .map_err(|e| err(format!("sc.exe {action}: {e}")))?;
    let want = if action == "stop" {
        "STOPPED"
    } else {
        "RUNNING"
    };
    // 1062: not started (stop of a stopped service); 1056: already running.
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && !text.contains("1062") && !text.contains("1056") {
        return Err(err(format!("sc.exe {action}: {}", text.trim())));
    }
    for _ in 0..120 {
        let q = std::process::Command::new("sc.exe")
            .args(["query", name])
            .output()
            .map_err(|e| err(format!("sc.exe query: {e}")))?;
        if String::from_utf8_lossy(&q.stdout).contains(want) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(err(format!("did not reach {want} in 60 s")))
}

/// The automatic mode of `run`: set when the binary was replaced and the agent should
/// restart into it.
#[derive(Clone, Default)]
pub struct AutoUpdate {
    updated: Arc<AtomicBool>,
    #[cfg_attr(not(unix), allow(dead_code))]
    exe: Option<PathBuf>,
}

impl AutoUpdate {
    /// Starts the background checks when `COMPANION_AUTO_UPDATE=1`; on a replacement,
    /// cancels `stop` so the agent shuts down cleanly, then [`AutoUpdate::restart`].
    pub fn spawn(server: &str, stop: CancellationToken) -> AutoUpdate {
        let on = std::env::var("COMPANION_AUTO_UPDATE").is_ok_and(|v| v == "1" || v == "true");
        if !on {
            return AutoUpdate::default();
        }
        let interval = std::env::var("COMPANION_AUTO_UPDATE_INTERVAL_SECS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(6 * 3600);
        let pubkey = match resolve_pubkey(std::env::var("COMPANION_UPDATE_PUBKEY").ok()) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "automatic updates are on but cannot run");
                return AutoUpdate::default();
            }
        };
        // Taken now: once replaced, /proc/self/exe names a deleted file.
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "automatic updates: cannot find the agent binary");
                return AutoUpdate::default();
            }
        };
        clean_previous(&exe);
        let auto = AutoUpdate {
            updated: Arc::default(),
            exe: Some(exe.clone()),
        };
        let updated = auto.updated.clone();
        let server = server.to_string();
        tracing::info!(interval_secs = interval, "automatic updates on");
        tokio::spawn(async move {
            loop {
                match update_once(&server, &pubkey, VERSION, &exe).await {
                    Ok(Some(v)) => {
                        tracing::info!(version = %v, "update installed: restarting");
                        updated.store(true, Ordering::SeqCst);
                        stop.cancel();
                        return;
                    }
                    Ok(None) => tracing::debug!("no agent update"),
                    Err(e) => tracing::warn!(error = %e, "automatic update failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(interval)) => {}
                    _ = stop.cancelled() => return,
                }
            }
        });
        auto
    }

    pub fn updated(&self) -> bool {
        self.updated.load(Ordering::SeqCst)
    }

    /// After the agent stopped for an update: re-execute the new binary in place (Unix;
    /// does not return on success), else the exit code for the supervisor.
    pub fn restart(&self) -> ExitCode {
        #[cfg(unix)]
        if let Some(exe) = &self.exe {
            use std::os::unix::process::CommandExt as _;
            let err = std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .exec();
            tracing::error!(error = %err, "re-exec after the update failed: exiting for the supervisor");
        }
        ExitCode::from(EXIT_RESTART)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_names_the_agent_installer_kind() {
        let url = endpoint("http://s:8080/", "0.1.0").unwrap();
        assert!(url.starts_with("http://s:8080/api/v1/updates/"));
        assert!(url.ends_with("/agent/0.1.0"), "{url}");
    }

    #[test]
    fn replace_is_atomic_and_keeps_the_binary_executable() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("companion-agent");
        std::fs::write(&exe, b"old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        replace_binary(&exe, b"new").unwrap();
        assert_eq!(std::fs::read(&exe).unwrap(), b"new");
        assert!(!sibling(&exe, ".new").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&exe).unwrap().permissions().mode() & 0o111,
                0o111
            );
        }
    }

    #[test]
    fn without_a_key_there_are_no_updates() {
        if BUILT_IN_PUBKEY.is_none() {
            assert!(matches!(
                resolve_pubkey(None),
                Err(UpdateError::NoPublicKey)
            ));
            assert!(matches!(
                resolve_pubkey(Some("  ".into())),
                Err(UpdateError::NoPublicKey)
            ));
        }
    }
}
