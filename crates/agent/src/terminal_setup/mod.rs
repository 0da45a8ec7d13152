//! Terminal setup, shared by `companion-agent terminal list|setup|doctor` and the
//! desktop app: find MT5 installations, install the bundled bridge EA into a data
//! folder (`MQL5/Experts/Companion/`), compile it with that installation's
//! MetaEditor, write the startup configuration (port and token in a private
//! `.set`, never in a command line), remember the terminal in `config.json`, and
//! reinstall a newer bundled EA at the next agent start. [`doctor`] checks it all.

pub mod doctor;

use std::path::{Path, PathBuf};

use companion_protocol::Diagnostic;
use companion_terminal::discovery::{discover, DiscoveryRoots, Installation};
use companion_terminal::ea::BRIDGE_EA_SOURCE;
use companion_terminal::startup::{self, BridgeFiles};
use companion_terminal::toolchain::{Launcher, MetaEditor, ToolchainError};
use serde::Serialize;

use crate::config::{AgentConfig, ConfigError, SetUpTerminal};

/// Chart the startup configuration opens for the bridge (any symbol will do).
pub const DEFAULT_SYMBOL: &str = "EURUSD";
pub const DEFAULT_PERIOD: &str = "H1";

/// Why a setup step failed; each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("no MetaTrader 5 installation matches {0}: run `companion-agent terminal list` and pass one of the data folders it shows (the folder with MQL5/ and origin.txt), or the folder with terminal64.exe")]
    NotFound(PathBuf),
    #[error("no MetaEditor (metaeditor64.exe) beside {terminal}: reinstall MetaTrader 5 from your broker (MetaEditor comes with it), then run setup again")]
    NoMetaEditor { terminal: PathBuf },
    #[error("the bridge EA did not compile ({} error(s)); MetaEditor's log:\n{log}", errors.len())]
    Compile {
        errors: Vec<Diagnostic>,
        log: String,
    },
    #[error("compiling the bridge EA failed: {0}")]
    Toolchain(#[from] ToolchainError),
    #[error("cannot write {path}: {source}; check that the data folder is writable by this user")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// How to set a terminal up.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    pub port: u16,
    pub token: String,
    pub symbol: String,
    pub period: String,
    /// The EA source to install (the bundled bridge; tests pass a broken one).
    pub source: String,
}

impl SetupOptions {
    pub fn new(port: u16, token: impl Into<String>) -> Self {
        SetupOptions {
            port,
            token: token.into(),
            symbol: DEFAULT_SYMBOL.into(),
            period: DEFAULT_PERIOD.into(),
            source: BRIDGE_EA_SOURCE.to_string(),
        }
    }
}

/// An installation as the CLI and the app show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InstallationView {
    pub data_dir: PathBuf,
    pub terminal_exe: PathBuf,
    pub metaeditor_exe: Option<PathBuf>,
    pub portable: bool,
    pub wine_prefix: Option<PathBuf>,
    /// Recorded in `config.json` by an earlier setup.
    pub set_up: bool,
    /// `#property version` of the bridge EA in its data folder, if any.
    pub bridge_version: Option<String>,
}

/// What setup did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SetupReport {
    pub data_dir: PathBuf,
    pub source: PathBuf,
    pub ex5: PathBuf,
    pub set_file: PathBuf,
    pub startup_ini: PathBuf,
    pub bridge_version: String,
    pub warnings: usize,
    /// How to start the terminal so it runs the bridge (no token in it).
    pub start_command: String,
}

/// Installations found under `roots`, marked when `cfg` records them as set up.
pub fn list(roots: &DiscoveryRoots, cfg: &AgentConfig) -> Vec<InstallationView> {
    discover(roots)
        .into_iter()
        .map(|i| InstallationView {
            set_up: cfg
                .set_up_terminals
                .iter()
                .any(|t| same_path(&t.data_dir, &i.data_dir)),
            bridge_version: startup::inspect(&i.data_dir).source_version,
            data_dir: i.data_dir,
            terminal_exe: i.terminal_exe,
            metaeditor_exe: i.metaeditor_exe,
            portable: i.portable,
            wine_prefix: i.wine_prefix,
        })
        .collect()
}

fn same_path(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(a) == canon(b)
}

/// The installation `arg` names: its data folder, its install folder (with
/// `terminal64.exe`) or its data-folder id; searched under `roots` and, for a
/// data folder outside them, from the folder itself.
pub fn resolve(arg: &Path, roots: &DiscoveryRoots) -> Result<Installation, SetupError> {
    let mut roots = roots.clone();
    // `<APPDATA>/MetaQuotes/Terminal/<id>`: its APPDATA is three levels up.
    if arg.join("origin.txt").is_file() {
        if let Some(appdata) = arg.parent().and_then(Path::parent).and_then(Path::parent) {
            roots.appdata.push(appdata.to_path_buf());
        }
    }
    if arg.join("terminal64.exe").is_file() {
        if let Some(parent) = arg.parent() {
            roots.program_dirs.push(parent.to_path_buf());
        }
    }
    let name = arg.to_string_lossy();
    discover(&roots)
        .into_iter()
        .find(|i| {
            same_path(&i.data_dir, arg)
                || same_path(&i.install_dir, arg)
                || i.id
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(&name))
        })
        .ok_or_else(|| SetupError::NotFound(arg.to_path_buf()))
}

/// A recorded terminal as an [`Installation`] again.
pub fn installation_of(t: &SetUpTerminal) -> Installation {
    Installation {
        install_dir: t
            .terminal_exe
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        terminal_exe: t.terminal_exe.clone(),
        metaeditor_exe: t.metaeditor_exe.clone(),
        data_dir: t.data_dir.clone(),
        portable: t.portable,
        wine_prefix: t.wine_prefix.clone(),
        id: None,
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SetupError + '_ {
    move |source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The command line that starts the terminal with the bridge (no secret in it).
pub fn start_command(i: &Installation, ini: &Path) -> String {
    let launcher = launcher_for(&i.terminal_exe, i);
    let mut cmd = String::new();
    if let Some(w) = &launcher.wine {
        cmd.push_str(&format!("{} ", w.display()));
    }
    cmd.push_str(&format!("\"{}\"", launcher.exe.display()));
    if i.portable {
        cmd.push_str(" /portable");
    }
    cmd.push_str(&format!(" /config:\"{}\"", launcher.program_path(ini)));
    cmd
}

fn launcher_for(exe: &Path, i: &Installation) -> Launcher {
    let mut l = Launcher::for_exe(exe);
    l.wine_prefix = i.wine_prefix.clone();
    l
}

/// Installs and compiles the bridge EA in `i` and writes its startup files.
pub async fn setup(i: &Installation, opts: &SetupOptions) -> Result<SetupReport, SetupError> {
    let files = BridgeFiles::in_data_dir(&i.data_dir);
    // The source, where MetaEditor and the terminal expect it.
    let dir = files.source.parent().unwrap_or(&i.data_dir).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    if std::fs::read(&files.source).ok().as_deref() != Some(opts.source.as_bytes()) {
        std::fs::write(&files.source, &opts.source).map_err(io(&files.source))?;
    }
    let me = i.metaeditor_exe.as_ref().ok_or(SetupError::NoMetaEditor {
        terminal: i.terminal_exe.clone(),
    })?;
    let editor = MetaEditor::new(launcher_for(me, i));
    let compiled = editor
        .compile_file(&files.source, Some(&i.mql5_dir()), Some(&dir))
        .await?;
    if !compiled.output.compiled {
        return Err(SetupError::Compile {
            errors: compiled.output.errors,
            log: compiled.log,
        });
    }
    let written = startup::write_startup(
        &i.data_dir,
        opts.port,
        &opts.token,
        &opts.symbol,
        &opts.period,
    )
    .map_err(io(&files.ini))?;
    Ok(SetupReport {
        data_dir: i.data_dir.clone(),
        source: files.source,
        ex5: compiled.ex5.unwrap_or(files.ex5),
        start_command: start_command(i, &written.ini),
        set_file: written.set,
        startup_ini: written.ini,
        bridge_version: startup::ea_version(&opts.source).unwrap_or_else(|| "unknown".into()),
        warnings: compiled.output.warnings.len(),
    })
}

/// Runs [`setup`] and records the terminal in `config.json` (in `config_dir`).
pub async fn setup_and_record(
    config_dir: &Path,
    i: &Installation,
    opts: &SetupOptions,
) -> Result<SetupReport, SetupError> {
    let report = setup(i, opts).await?;
    let mut cfg = AgentConfig::load(config_dir)?;
    cfg.set_up_terminals
        .retain(|t| !same_path(&t.data_dir, &i.data_dir));
    cfg.set_up_terminals.push(SetUpTerminal {
        data_dir: i.data_dir.clone(),
        terminal_exe: i.terminal_exe.clone(),
        metaeditor_exe: i.metaeditor_exe.clone(),
        portable: i.portable,
        wine_prefix: i.wine_prefix.clone(),
        bridge_version: report.bridge_version.clone(),
        symbol: opts.symbol.clone(),
        period: opts.period.clone(),
        bridge_port: cfg
            .terminals
            .iter()
            .any(|t| t.port == opts.port)
            .then_some(opts.port),
    });
    cfg.save(config_dir)?;
    Ok(report)
}

/// What [`refresh_set_up_terminals`] did for one terminal.
#[derive(Debug)]
pub struct Refreshed {
    pub data_dir: PathBuf,
    pub from_version: String,
    pub result: Result<SetupReport, SetupError>,
}

/// At agent start: every recorded terminal whose bridge EA is older than the
/// bundled one (by version string, or whose source differs) gets the bundled EA
/// installed and compiled again, with the current port and token.
pub async fn refresh_set_up_terminals(
    config_dir: &Path,
    port: u16,
    token: &str,
) -> Result<Vec<Refreshed>, SetupError> {
    let mut cfg = AgentConfig::load(config_dir)?;
    let bundled = startup::bundled_bridge_version();
    let set_up = cfg.set_up_terminals.clone();
    let mut out = Vec::new();
    for t in &set_up {
        let state = startup::inspect(&t.data_dir);
        if t.bridge_version == bundled && state.source_current && state.compiled {
            continue;
        }
        // A further terminal (another account) keeps its own port and token.
        let (port, token) = t
            .bridge_port
            .and_then(|p| cfg.further_terminal(p))
            .unwrap_or_else(|| (port, token.to_string()));
        let opts = SetupOptions {
            symbol: t.symbol.clone(),
            period: t.period.clone(),
            ..SetupOptions::new(port, token)
        };
        let result = setup_and_record(config_dir, &installation_of(t), &opts).await;
        out.push(Refreshed {
            data_dir: t.data_dir.clone(),
            from_version: t.bridge_version.clone(),
            result,
        });
    }
    Ok(out)
}
